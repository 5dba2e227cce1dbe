// Hostile methods: request methods the `worker` crate has no name for (WebDAV and other
// extension methods) are forwarded as themselves or refused cleanly, never turned into GET
// and never a 500; a route may price them. Headers and `_method` fields that change the
// method or path on common frameworks (see hostile-origin.mjs) never reach the origin.
// Requests go raw to the Worker's socket (undici refuses some methods).
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { assertErrorAnswer, assertEvery, TEST } from "../support/flow.mjs";
import { assertNoFreePremium, OVERRIDE_HEADERS, startHostileOrigin } from "../support/hostile-origin.mjs";
import { decodeHeader } from "../support/pay.mjs";
import { rawPaymentRequired, rawRequest, rawSignFor } from "../support/raw.mjs";
import { assertSettledOnce, startFacilitator } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";
import { wranglerConfig } from "../support/worker.mjs";

/** wrangler.toml's routes behind one that prices PROPFIND on /dav/*. */
const ROUTES = {
  "PROPFIND /dav/*": { price: "$0.01", description: "WebDAV listing", mimeType: "application/xml" },
  ...wranglerConfig().vars.ROUTES,
};
const stack = useStack({ origin: startHostileOrigin, facilitator: startFacilitator, vars: { ROUTES } });
afterEach(() => assertSettledOnce(stack.facilitator));

/** Methods workerd accepts that the `worker` crate's Method enum does not name (or names oddly). */
const EXTENSION_METHODS = [
  ...["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT", "ACL"],
  ...["QUERY", "PURGE", "MERGE", "CHECKOUT", "MKACTIVITY", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE"],
];
const XML = { "content-type": "application/xml" };
const BODY = '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>';

/** Sends `req` raw; returns the answer and the origin calls it caused. */
async function send(req) {
  const before = stack.origin.calls.length;
  const answer = await rawRequest(stack.worker, req);
  return { answer, calls: stack.origin.calls.slice(before) };
}

/** Asserts that `req` reached the origin once, as sent (method and body), and its answer came back. */
async function assertForwarded(req) {
  const { answer, calls } = await send(req);
  assertNoFreePremium(answer);
  const seen = `origin calls (answer ${answer.status} ${answer.body.slice(0, 80)})`;
  assert.deepEqual(calls.map((c) => c.method), [req.method], seen);
  assert.equal(calls[0].body, req.body ?? "", "the origin gets the body");
  assert.equal(answer.status, 200, answer.body);
  assert.equal(JSON.parse(answer.body).method, req.method, "the client gets the origin's answer");
  return { answer, calls };
}

test("PROPFIND /free/x with a body reaches the origin as PROPFIND, body and answer intact", TEST, async () => {
  // main: 500 "INTERNAL SERVER ERROR" (the crate cannot build a PROPFIND Request: "invalid
  // URL or options for Request"); the origin is never called.
  await assertForwarded({ method: "PROPFIND", path: "/free/x", headers: { ...XML, depth: "1" }, body: BODY });
});

test("PROPFIND /premium/x (the route is GET-only) is free and reaches the origin as PROPFIND, never GET", TEST, async () => {
  // main: 500 "INTERNAL SERVER ERROR", origin not called.
  const { answer } = await assertForwarded({ method: "PROPFIND", path: "/premium/x", headers: XML, body: BODY });
  assert.equal(JSON.parse(answer.body).premium, false);
});

test("every extension method is forwarded as itself or refused as method_not_supported, never a 500", { timeout: 30_000 }, async () => {
  // main: PROPFIND, SEARCH, QUERY, PURGE, LOCK, MKCOL, COPY, MOVE, PROPPATCH, UNLOCK, ACL,
  // MERGE, CHECKOUT, MKACTIVITY, NOTIFY, SUBSCRIBE, UNSUBSCRIBE answer a plain-text 500 on
  // free paths; REPORT is forwarded.
  const cases = EXTENSION_METHODS.flatMap((method) => ["/free/x", "/premium/x"].map((path) => `${method} ${path}`));
  await assertEvery(cases, async (line) => {
    const [method, path] = line.split(" ");
    const { answer, calls } = await send({ method, path, headers: XML, body: BODY });
    assertNoFreePremium(answer);
    if (calls.length === 0) {
      assert.ok([405, 501].includes(answer.status), `status ${answer.status}: ${answer.body.slice(0, 80)}`);
      assertErrorAnswer(answer, answer.status, "method_not_supported");
      return;
    }
    assert.deepEqual(calls.map((c) => c.method), [method], "the origin gets the method as sent");
    assert.equal(answer.status, 200, answer.body);
  });
});

test("a priced PROPFIND (route PROPFIND /dav/*): 402 challenge, then paid: the origin gets PROPFIND, settled once", TEST, async () => {
  // main: the 402 comes, but the paid PROPFIND answers a plain-text 500 (the origin request
  // cannot be built) after /verify was called; nothing is served.
  const req = { method: "PROPFIND", path: "/dav/a", headers: { ...XML, depth: "0" }, body: BODY };
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await rawSignFor(stack.worker, req, account);
  assert.equal(pay.requirements.amount, "10000");
  const settles = stack.facilitator.count.settle;
  const { answer, calls } = await send({ ...req, headers: { ...req.headers, "PAYMENT-SIGNATURE": pay.v2Header } });
  assert.equal(answer.status, 200, answer.body);
  assert.deepEqual(calls.map((c) => `${c.method} ${c.path}`), ["PROPFIND /dav/a"]);
  assert.equal(calls[0].body, BODY);
  assert.equal(decodeHeader(answer.headers["payment-response"], "PAYMENT-RESPONSE").success, true);
  assert.equal(stack.facilitator.count.settle - settles, 1, "settled once");
});

test("a PROPFIND on the any-method route /reports/:id is priced, and paid it reaches the origin as PROPFIND", TEST, async () => {
  // main: 402 with PAYMENT-REQUIRED, then the paid PROPFIND answers a plain-text 500.
  const req = { method: "PROPFIND", path: "/reports/7", headers: XML, body: BODY };
  const unpaid = await send(req);
  assert.equal(unpaid.answer.status, 402, unpaid.answer.body);
  assert.equal(rawPaymentRequired(unpaid.answer).accepts[0].amount, "50000");
  assert.equal(unpaid.calls.length, 0);
  const pay = await rawSignFor(stack.worker, req, privateKeyToAccount(generatePrivateKey()));
  const paid = await send({ ...req, headers: { ...req.headers, "PAYMENT-SIGNATURE": pay.v2Header } });
  assert.equal(paid.answer.status, 200, paid.answer.body);
  assert.deepEqual(paid.calls.map((c) => c.method), ["PROPFIND"]);
  assert.equal(decodeHeader(paid.answer.headers["payment-response"], "PAYMENT-RESPONSE").success, true);
});

/** Asserts that the origin got none of the override headers, and no premium content came back. */
function assertStripped({ answer, calls }) {
  assertNoFreePremium(answer);
  assert.equal(calls.length, 1, `one origin call (answer ${answer.status} ${answer.body.slice(0, 80)})`);
  const leaked = OVERRIDE_HEADERS.filter((h) => h in calls[0].headers);
  assert.deepEqual(leaked, [], "override headers reached the origin");
}

test("method-override headers (any letter case) are stripped before the origin", TEST, async () => {
  // main: POST /premium/x is free (GET-only route) and the header is forwarded; the hostile
  // origin acts on GET /premium/x and serves 200 {"premium":true} without payment.
  const names = ["X-HTTP-Method-Override", "x-http-method-override", "X-HTTP-Method", "X-METHOD-OVERRIDE"];
  await assertEvery([...names, "x-Method-Override"], async (name) => {
    assertStripped(await send({ method: "POST", path: "/premium/x", headers: { [name]: "GET" }, body: "" }));
  });
});

test("path-override headers (X-Original-URL, X-Rewrite-URL) are stripped before the origin", TEST, async () => {
  // main: GET /free/x is free and the header is forwarded; the hostile origin serves
  // /premium/x: 200 {"premium":true} without payment.
  const names = ["X-Original-URL", "x-original-url", "X-Rewrite-URL", "X-REWRITE-URL"];
  await assertEvery(names, async (name) => {
    assertStripped(await send({ method: "GET", path: "/free/x", headers: { [name]: "/premium/x" } }));
  });
});

test("override headers are stripped from a paid request too", TEST, async () => {
  // main: the paid GET /premium/x reaches the origin with X-HTTP-Method-Override: DELETE and
  // X-Original-URL: /reports/9 (the origin then acts on another resource than the one paid for).
  const account = privateKeyToAccount(generatePrivateKey());
  const req = { method: "GET", path: "/premium/paid-override" };
  const pay = await rawSignFor(stack.worker, req, account);
  const headers = {
    "PAYMENT-SIGNATURE": pay.v2Header,
    "X-HTTP-Method-Override": "DELETE",
    "X-Method-Override": "DELETE",
    "X-HTTP-Method": "DELETE",
    "X-Original-URL": "/reports/9",
    "X-Rewrite-URL": "/reports/9",
  };
  const paid = await send({ ...req, headers });
  assert.equal(paid.answer.status, 200, paid.answer.body);
  assertStripped(paid);
});

test("_method in the query of a POST that would change the price: 400 method_override_refused, origin not called", TEST, async () => {
  // main: POST /premium/x?_method=GET is free and forwarded; the hostile origin acts on
  // GET /premium/x and serves 200 {"premium":true} without payment.
  const paths = ["/premium/x?_method=GET", "/premium/x?a=1&_method=get", "/PREMIUM/x?_method=HEAD"];
  await assertEvery(paths, async (path) => {
    const { answer, calls } = await send({ method: "POST", path, body: "" });
    assertNoFreePremium(answer);
    assertErrorAnswer(answer, 400, "method_override_refused");
    assert.equal(calls.length, 0, "the origin was called");
  });
});

test("_method in a form body of a POST: 400 method_override_refused; a form POST without _method passes", TEST, async () => {
  // main: the form POST is free and forwarded; the hostile origin reads _method=GET and
  // serves 200 {"premium":true} without payment.
  const form = { "content-type": "application/x-www-form-urlencoded" };
  const refused = await send({ method: "POST", path: "/premium/x", headers: form, body: "_method=GET&a=1" });
  assertNoFreePremium(refused.answer);
  assertErrorAnswer(refused.answer, 400, "method_override_refused");
  assert.equal(refused.calls.length, 0, "the origin was called");

  const plain = await send({ method: "POST", path: "/premium/x", headers: form, body: "a=1&b=two" });
  assert.equal(plain.answer.status, 200, plain.answer.body);
  assert.equal(plain.calls.length, 1);
  assert.equal(plain.calls[0].body, "a=1&b=two", "the form body reaches the origin unchanged");
  assert.equal(JSON.parse(plain.answer.body).premium, false);
});
