// Outside probe 2 (a review after issue 12): an attacker's sweep against real origin
// frameworks (Express 5, Hono on @hono/node-server; test/support/framework-origins.mjs),
// the per-payer policy under forged smart-wallet signatures, and a priced OPTIONS route.
// Every test asserts the safe behaviour: a failing test is a hole. Bounded in time and
// count; everything talks to 127.0.0.1 only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startExpressOrigin, startHonoOrigin } from "../support/framework-origins.mjs";
import { rawRequest } from "../support/raw.mjs";
import { useStack } from "../support/stack.mjs";
import { assertRechallenged, signFor, TEST } from "../support/flow.mjs";
import { editHeader } from "../support/pay.mjs";
import { startFacilitator } from "../support/servers.mjs";
import { startHostileOrigin, assertNoFreePremium } from "../support/hostile-origin.mjs";
import { snapshot } from "../support/chain.mjs";
import { wranglerConfig } from "../support/worker.mjs";
import expressLib from "express";
import { createServer } from "node:http";

const SWEEP = { timeout: 120_000 };
const express = useStack({ origin: startExpressOrigin });
const hono = useStack({ origin: startHonoOrigin });
const fresh = () => privateKeyToAccount(generatePrivateKey());

const PATHS = [
  "/premium/x", "/Premium/x/", "/premium/x/", "/premium", "/premium/", "/PREMIUM", "/premium%2Fx", "/premium%2fx",
  "/premium;a/x", "/premium/x;a", "/free/../premium/x", "/free/%2e%2e/premium/x", "/free/%2E%2E%2Fpremium%2Fx",
  "/%70remium/x", "/pre%6Dium/x", "/premium%C0%AF/x", "/%EF%BC%8Fpremium/x", "/%EF%BD%90remium/x", "/premium+/x",
  "/premium./x", "/premium%20/x", "/premium%09/x", "//premium/x", "/./premium/x", "/premium/./x", "/premium::$DATA/x",
  "/premium%3A%3A$DATA/x", "/pr%C4%B1mium/x", "/index.php/premium/x", "/(S(x))/premium/x", "/premium%23/x", "/premium%3F/x",
  "/reports/1", "/reports/1/", "/reports/1%2F2", "/reports/%2e", "/reports/%2e%2e", "/reports/1/..", "/reports/1/x/..",
  "/Reports/1", "/reports/1;x", "/reports;x/1", "/reports/1%3B", "/reports/", "/reports", "/reports/1.json",
  "/api/score", "/API/score/", "/api/score/.", "/api//score", "/api/score%3F", "/api/score;", "/api/score.json",
  "/api/score?x=1", "/premium/x?_method=POST", "/reports/1?_method=GET", "/api/score?_method=GET", "/free?/premium/x",
  "/premium/x?%5Fmethod=GET", "/premium/x?_method[]=GET", "/premium/x?a[_method]=GET", "/premium/x?_METHOD=GET",
];
const FORM = { "content-type": "application/x-www-form-urlencoded" };
const JSON_T = { "content-type": "application/json" };
const BODIES = [
  { name: "none" },
  { name: "form _method=GET", headers: FORM, body: "_method=GET" },
  { name: "form _method=POST", headers: FORM, body: "_method=POST" },
  { name: "json _method", headers: JSON_T, body: '{"_method":"GET"}' },
  { name: "qs nested", headers: FORM, body: "a[b]=1&_method=GET" },
  { name: "override header", headers: { "X-HTTP-Method-Override": "GET" } },
  { name: "override header POST", headers: { "X-HTTP-Method-Override": "POST" } },
];
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OPTIONS+ACRM"];

/** Sends every (method, path, body) unpaid; lists each premium handler run and each 5xx. */
async function sweep(stack) {
  const holes = [];
  for (const path of PATHS) {
    for (const m of METHODS) {
      for (const b of m === "GET" || m === "HEAD" ? BODIES.slice(0, 1).concat(BODIES.slice(5)) : BODIES) {
        const method = m === "OPTIONS+ACRM" ? "OPTIONS" : m;
        const headers = { ...(b.headers ?? {}), ...(m === "OPTIONS+ACRM" ? { "access-control-request-method": "POST", origin: "http://x" } : {}) };
        const runs = stack.origin.premiumRuns.length;
        let answer;
        try {
          answer = await rawRequest(stack.worker, { method, path, headers, body: b.body, timeoutMs: 5_000 });
        } catch (e) {
          holes.push(`${m} ${path} [${b.name}]: no answer (${e.message})`);
          continue;
        }
        const ran = stack.origin.premiumRuns.slice(runs).filter((r) => !r.paid);
        if (ran.length > 0) holes.push(`${m} ${path} [${b.name}]: origin ran ${ran.map((r) => `${r.method} ${r.route}`).join(", ")} unpaid; answer ${answer.status}`);
        if (answer.status >= 500 && !(answer.status === 501 && /method_not_supported/.test(answer.body))) {
          holes.push(`${m} ${path} [${b.name}]: ${answer.status} ${answer.body.slice(0, 100)}`);
        }
      }
    }
  }
  return holes;
}

test("holds: Express 5 (case-insensitive, qs, method-override) never runs a priced handler unpaid", SWEEP, async () => {
  const holes = await sweep(express);
  assert.deepEqual(holes, [], `${holes.length} holes:\n${holes.join("\n")}`);
});

test("holds: Hono (methodOverride form/query/header) never runs a priced handler unpaid", SWEEP, async () => {
  const holes = await sweep(hono);
  assert.deepEqual(holes, [], `${holes.length} holes:\n${holes.join("\n")}`);
});

// ---------------------------------------------------------------------------------------
// Flow: a smart-wallet-length signature is not checked locally, so `from` is a claimed
// field until verify: a stranger must not spend a victim's rate, nor fill maxPayersPerMinute.

/** A facilitator that, like a real one, refuses a signature that is not `from`'s: here any non-65-byte one. */
async function startStrictFacilitator() {
  const f = await startFacilitator();
  f.verifyWith((request) => {
    const sig = String(request?.paymentPayload?.payload?.signature ?? "");
    const ok = sig.length === 2 + 65 * 2;
    return { status: 200, body: ok ? { isValid: true, payer: request.paymentPayload.payload.authorization.from } : { isValid: false, invalidReason: "invalid_exact_evm_payload_signature" } };
  });
  return f;
}

const ROUTES = wranglerConfig().vars.ROUTES;
const rated = useStack({
  origin: startHostileOrigin,
  facilitator: startStrictFacilitator,
  vars: { POLICY: { payerRate: "2/minute" }, ROUTES },
});

/** A payment in `victim`'s name that the attacker made: signed by another key, then given a 100-byte signature. */
async function forgedInTheNameOf(stack, path, victim) {
  const attacker = fresh();
  const impostor = { address: victim.address, signTypedData: (args) => attacker.signTypedData(args) };
  const pay = await signFor(stack.worker, path, impostor);
  return editHeader(pay.v2Header, (p) => (p.payload.signature = `0x${"ab".repeat(100)}`));
}

test("a stranger cannot spend a victim's payer rate with smart-wallet-length forgeries in its name", TEST, async () => {
  const victim = fresh();
  for (let i = 0; i < 3; i += 1) {
    const forged = await forgedInTheNameOf(rated, `/premium/rate-${i}`, victim);
    const a = await rated.worker.fetch(`/premium/rate-${i}`, { headers: { "PAYMENT-SIGNATURE": forged } }).then(snapshot);
    assertNoFreePremium(a, `forgery ${i}`);
    assert.ok([402, 429].includes(a.status), `forgery ${i}: ${a.status} ${a.body.slice(0, 100)}`);
  }
  const own = await signFor(rated.worker, "/premium/rate-own", victim);
  const paid = await rated.worker.fetch("/premium/rate-own", { headers: { "PAYMENT-SIGNATURE": own.v2Header } }).then(snapshot);
  assert.equal(paid.status, 200, `the victim's own first payment of the minute: ${paid.status} ${paid.body.slice(0, 160)}`);
});

const crowded = useStack({
  origin: startHostileOrigin,
  facilitator: startStrictFacilitator,
  vars: { POLICY: { maxPayersPerMinute: 3 }, ROUTES },
});

test("strangers' forgeries in made-up names do not fill maxPayersPerMinute against real payers", TEST, async () => {
  // Wait for a fresh minute if the current one is about to end (the counter is per minute).
  const msLeft = 60_000 - (Date.now() % 60_000);
  if (msLeft < 5_000) await new Promise((r) => setTimeout(r, msLeft + 50));
  for (let i = 0; i < 4; i += 1) {
    const forged = await forgedInTheNameOf(crowded, `/premium/crowd-${i}`, fresh());
    const a = await crowded.worker.fetch(`/premium/crowd-${i}`, { headers: { "PAYMENT-SIGNATURE": forged } }).then(snapshot);
    assertNoFreePremium(a, `forgery ${i}`);
  }
  const real = fresh();
  const own = await signFor(crowded.worker, "/premium/crowd-real", real);
  const paid = await crowded.worker.fetch("/premium/crowd-real", { headers: { "PAYMENT-SIGNATURE": own.v2Header } }).then(snapshot);
  assert.equal(paid.status, 200, `a real payer's payment: ${paid.status} ${paid.body.slice(0, 160)}`);
});

// ---------------------------------------------------------------------------------------
// A priced OPTIONS route, in front of a real Express app whose OPTIONS handler is the
// priced work: a request carrying Access-Control-Request-Method was matched as that method
// (a preflight) and, that method being free, forwarded to the origin as the OPTIONS it is,
// unpaid.

async function startExpressOptionsOrigin() {
  const premiumRuns = [];
  const app = expressLib();
  app.options("/opt/{*rest}", (req, res) => {
    premiumRuns.push({ method: req.method, url: req.originalUrl, paid: Boolean(req.get("payment-context")) });
    res.json({ premium: true, method: req.method });
  });
  app.use((req, res) => res.json({ premium: false, method: req.method }));
  const server = createServer(app);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    premiumRuns,
    calls: [],
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}
const optionsStack = useStack({ origin: startExpressOptionsOrigin, vars: { ROUTES: { "OPTIONS /opt/*": { price: "$0.01" }, ...ROUTES } } });

test("a priced OPTIONS route is not run unpaid by adding Access-Control-Request-Method", TEST, async () => {
  const unpaid = await rawRequest(optionsStack.worker, { method: "OPTIONS", path: "/opt/x" });
  assert.equal(unpaid.status, 402, "plain OPTIONS is priced");
  const runs = optionsStack.origin.premiumRuns.length;
  const sneaky = await rawRequest(optionsStack.worker, {
    method: "OPTIONS",
    path: "/opt/x",
    headers: { "access-control-request-method": "GET", origin: "http://attacker.example" },
  });
  const ran = optionsStack.origin.premiumRuns.slice(runs).filter((r) => !r.paid);
  assert.deepEqual(ran, [], `the priced OPTIONS handler ran unpaid (answer ${sneaky.status} ${sneaky.body.slice(0, 80)})`);
});

// ---------------------------------------------------------------------------------------
// Holds: amount spellings, the same payment on other spellings of the path, both headers.
const flowStack = useStack({ origin: startHostileOrigin, facilitator: startFacilitator });

test("holds: other spellings of the amount are refused or equal; a payment replays only for its own forwarded path and query", TEST, async () => {
  const { worker, origin } = flowStack;
  for (const value of ["0x2710", "1e4", " 10000", "+10000", "10000.0"]) {
    const p = await signFor(worker, "/premium/amt", fresh());
    const h = editHeader(p.v2Header, (j) => (j.payload.authorization.value = value));
    const a = await rawRequest(worker, { path: "/premium/amt", headers: { "PAYMENT-SIGNATURE": h } });
    assertNoFreePremium(a, value);
    assert.ok(a.status >= 400 && a.status < 500, `${value}: ${a.status}`);
  }
  const p = await signFor(worker, "/premium/b", fresh());
  const send = (path, headers = {}, method = "GET") => rawRequest(worker, { method, path, headers: { "PAYMENT-SIGNATURE": p.v2Header, ...headers } });
  const first = await send("/premium/b");
  assert.equal(first.status, 200);
  const calls = origin.calls.length;
  for (const path of ["/premium/B", "/premium/b/", "/premium/b?", "/premium/b?x"]) {
    const a = await send(path);
    assertNoFreePremium(a, path);
    assertRechallenged(a, "payment_already_used", path);
  }
  const head = await send("/premium/b", {}, "HEAD");
  assert.equal(head.status, 402, "HEAD with a GET's payment");
  const both = await rawRequest(worker, { path: "/premium/b", headers: { "PAYMENT-SIGNATURE": p.v2Header, "X-PAYMENT": p.v1Header } });
  assert.equal(both.status, 400);
  assert.equal(origin.calls.length, calls, "no origin call for any of them");
});
