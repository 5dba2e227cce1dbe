// Hostile review of discovery and the paper balances in workerd:
// - legal route descriptions whose 402 bazaar extension the official
//   `validateDiscoveryExtension` refuses (examples made from a schema that do not satisfy
//   it, a property named `$id`, a `pattern` that is no regular expression);
// - spellings of the document paths under a priced catch-all (case, escapes, dot
//   segments, `//`, `;`, trailing slash, NUL): each is the document or a 402, never the
//   origin's;
// - HTTP semantics of the documents (HEAD, 304 with If-None-Match on HEAD, OPTIONS);
// - Host headers: what workerd lets through, and ALLOWED_HOSTS;
// - a `<script>` in a path parameter on the browser page;
// - the paper balances address segment;
// - the browser page the README describes ("What a person sees").
// A failing test here names a finding of the review.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateDiscoveryExtension } from "@x402/extensions/bazaar";
import { decodeHeader } from "../support/pay.mjs";
import { TEST } from "../support/flow.mjs";
import { rawRequest } from "../support/raw.mjs";
import { useStack } from "../support/stack.mjs";

const PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

/** Legal descriptions (the configuration loads) that name no example of their own. */
const DESCRIBED = {
  "GET /count": { price: "1", input: { queryParams: { n: { type: "integer", exclusiveMinimum: 0 } } } },
  "GET /code": { price: "1", input: { queryParams: { code: { type: "string", minLength: 100 } } } },
  "POST /tags": {
    price: "1",
    input: { body: { type: "object", required: ["tags"], properties: { tags: { type: "array", items: { type: "string" }, minItems: 1 } } } },
  },
  "POST /digits": { price: "1", input: { bodyType: "text", body: { type: "string", pattern: "^[0-9]+$", example: "42" } } },
  "POST /num": { price: "1", input: { body: { type: "object", required: ["n"], properties: { n: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 } } } } },
  "GET /out": { price: "1", input: {}, output: { schema: { type: "string", minLength: 100 } } },
  // A control: a plain description, as the README's example.
  "GET /fine/:id": { price: "1", input: { pathParams: { id: { type: "string" } }, queryParams: { lang: { type: "string", enum: ["en"] } } } },
};

/** Descriptions a catalog could not take: refused when the configuration loads. */
const REFUSED = {
  "a body no example can be made for": { "POST /either": { price: "1", input: { body: { anyOf: [{ type: "string" }, { type: "integer" }] } } } },
  "a pattern without an example": { "POST /digits": { price: "1", input: { bodyType: "text", body: { type: "string", pattern: "^[0-9]+$" } } } },
  "a property named $id": { "POST /ld": { price: "1", input: { body: { type: "object", properties: { $id: { type: "string", example: "urn:x" } } } } } },
  "a pattern that is no regular expression": { "GET /re/:id": { price: "1", input: { pathParams: { id: { type: "string", pattern: "(" } } } } },
};

const described = useStack({ vars: { FACILITATOR_URL: "paper", ROUTES: DESCRIBED } });
const priced = useStack({
  vars: { FACILITATOR_URL: "paper", ROUTES: { "GET /r/:id": { price: "$1", input: {} }, "/*": { price: "$2" } } },
});
const hosts = useStack({ vars: { FACILITATOR_URL: "paper", PAPER_PUBLIC: "true", ALLOWED_HOSTS: "api.example.com" } });
const paper = useStack({ vars: { FACILITATOR_URL: "paper" } });

async function bazaarOf(worker, path, init) {
  const res = await worker.fetch(path, init);
  await res.arrayBuffer();
  assert.equal(res.status, 402, path);
  return decodeHeader(res.headers.get("payment-required")).extensions.bazaar;
}

test("every legal description's bazaar validates against its own schema (official validator)", TEST, async () => {
  const refused = [];
  for (const [pattern, route] of Object.entries(DESCRIBED)) {
    const [method, path] = pattern.includes(" ") ? pattern.split(" ") : ["GET", pattern];
    const url = path.replace(":id", "7");
    const bazaar = await bazaarOf(described.worker, url, { method, body: method === "POST" ? "{}" : undefined });
    assert.ok(bazaar, `${pattern} declares bazaar`);
    const result = validateDiscoveryExtension(bazaar);
    if (!result.valid) refused.push(`${pattern} ${JSON.stringify(route.input)}: ${result.errors.join("; ")}`);
  }
  assert.ok(!refused.some((r) => r.startsWith("GET /fine/:id")), "the control validates");
  assert.deepEqual(refused, [], `refused by the official validator:\n${refused.join("\n")}`);
});

test("descriptions a catalog could not take make the configuration invalid", TEST, async () => {
  const { startWorker } = await import("../support/worker.mjs");
  for (const [what, routes] of Object.entries(REFUSED)) {
    const worker = await startWorker({ vars: { FACILITATOR_URL: "paper", ORIGIN_URL: paper.origin.url, ROUTES: routes } });
    try {
      const [pattern] = Object.keys(routes);
      const [method, path] = pattern.split(" ");
      const res = await worker.fetch(path.replace(":id", "7"), { method, body: method === "POST" ? "{}" : undefined });
      assert.equal(res.status, 500, what);
      assert.deepEqual(await res.json(), { error: "paywall_misconfigured" }, what);
    } finally {
      await worker.close();
    }
  }
});

test("spellings of a document path under a priced catch-all are the document or a 402, never the origin's", TEST, async () => {
  const calls = priced.origin.calls.length;
  const seen = {};
  for (const path of [
    "/openapi.json", "/OPENAPI.JSON", "//openapi.json", "/%2Fopenapi.json", "/openapi.json/", "/./openapi.json",
    "/.%2fopenapi.json", "/openapi%2ejson", "/%6Fpenapi.json", "/openapi.json;x", "/openapi.json%3Fx", "/openapi.json%23",
    "/llms.txt//", "/x/%2e%2e/llms.txt", "/.well-known/x402/", "/.well-known//x402", "/.WELL-KNOWN/X402",
  ]) {
    const res = await rawRequest(priced.worker, { path });
    seen[path] = res.status;
    assert.ok([200, 402].includes(res.status), `${path}: ${res.status}`);
    if (res.status === 200) {
      assert.equal(res.headers["payment-required"], undefined, path);
      assert.match(res.headers["content-type"], /^(application\/json|text\/markdown)/, path);
      assert.ok(res.headers.etag, path);
    }
  }
  assert.equal(seen["/openapi.json;x"], 402, "a ;parameter is another path: priced");
  assert.equal(priced.origin.calls.length, calls, "no spelling reaches the origin unpaid");
  assert.equal((await rawRequest(priced.worker, { path: "/openapi.json%00" })).status, 400);
});

test("document HTTP semantics: HEAD revalidates, OPTIONS is 405 or a preflight, 304 keeps the validators", TEST, async () => {
  const get = await rawRequest(priced.worker, { path: "/llms.txt" });
  const etag = get.headers.etag;
  const head304 = await rawRequest(priced.worker, { method: "HEAD", path: "/llms.txt", headers: { "if-none-match": etag } });
  assert.equal(head304.status, 304);
  const got304 = await rawRequest(priced.worker, { path: "/llms.txt", headers: { "if-none-match": `"nope", ${etag}` } });
  assert.equal(got304.status, 304);
  assert.equal(got304.body, "");
  assert.equal(got304.headers.etag, etag);
  assert.match(got304.headers["cache-control"], /max-age=300/);
  const options = await rawRequest(priced.worker, { method: "OPTIONS", path: "/llms.txt" });
  assert.equal(options.status, 405);
  assert.equal(options.headers.allow, "GET, HEAD");
  const preflight = await rawRequest(priced.worker, {
    method: "OPTIONS", path: "/llms.txt", headers: { origin: "https://x.test", "access-control-request-method": "GET" },
  });
  assert.ok(preflight.status < 300, `preflight ${preflight.status}`);
  for (const method of ["PUT", "DELETE", "PATCH", "get"]) {
    const res = await rawRequest(priced.worker, { method, path: "/openapi.json", body: method === "get" ? undefined : "x" });
    assert.ok([200, 405].includes(res.status), `${method}: ${res.status}`);
    assert.equal(res.headers["payment-required"], undefined, method);
  }
});

test("Host headers: workerd refuses odd host text before the Worker, ALLOWED_HOSTS refuses others", TEST, async () => {
  for (const host of ['a"b.test', "x).test", "x(y).test", "a`b.test"]) {
    const res = await rawRequest(described.worker, { path: "/llms.txt", headers: { host } });
    if (res.status === 200) {
      // Had it been let through: the page's links must stay links.
      assert.ok(!/\]\([^)]*[()"` ][^)]*\)/.test(res.body), `${host}: ${res.body}`);
    } else {
      assert.equal(res.status, 500, `${host}: refused by workerd itself`);
    }
  }
  const other = await rawRequest(hosts.worker, { path: "/openapi.json", headers: { host: "evil.test" } });
  assert.equal(other.status, 421);
  const own = await rawRequest(hosts.worker, { path: "/openapi.json", headers: { host: "api.example.com" } });
  assert.equal(own.status, 200);
  assert.equal(JSON.parse(own.body).servers[0].url, "http://api.example.com");
});

test("a <script> in a path parameter stays inside the browser page's JSON", TEST, async () => {
  const res = await priced.worker.fetch("/r/%3Cscript%3Ealert(1)%3C!--", { headers: { accept: "text/html" } });
  const body = await res.text();
  assert.equal(res.status, 402);
  assert.ok(!body.includes("<script>alert") && !body.includes("<!--"), body);
  const bazaar = decodeHeader(res.headers.get("payment-required")).extensions.bazaar;
  assert.deepEqual(bazaar.info.input.pathParams, { id: "<script>alert(1)<!--" });
  assert.deepEqual(validateDiscoveryExtension(bazaar), { valid: true });
});

test("paper balances answer only at /paper/balances/{address}, not under more segments", TEST, async () => {
  const address = `0x${"00".repeat(20)}`;
  const own = await rawRequest(paper.worker, { path: `/.well-known/x402/paper/balances/${address}` });
  assert.equal(own.status, 200);
  const huge = await rawRequest(paper.worker, { path: `/.well-known/x402/paper/balances/${"a".repeat(4000)}` });
  assert.equal(huge.status, 400);
  for (const path of [
    `/.well-known/x402/paper/balances/anything/${address}`,
    `/.well-known/x402/paper/balances/${address}/${address}`,
  ]) {
    const res = await rawRequest(paper.worker, { path });
    assert.ok(!res.body.includes('"balances"'), `${path} answered as ${address}: ${res.body}`);
  }
});

test("the browser page is what the README's \"What a person sees\" describes", TEST, async () => {
  const res = await paper.worker.fetch("/premium/a", { headers: { accept: "text/html" } });
  const page = await res.text();
  assert.equal(res.status, 402);
  const missing = [
    ["the price in atomic units", page.includes("10000")],
    ["the recipient", page.includes(PAY_TO) || page.toLowerCase().includes(PAY_TO.toLowerCase())],
    ["a browser wallet (eth_signTypedData_v4)", page.includes("eth_signTypedData_v4")],
    ["the paper wallet's balances", page.includes("/.well-known/x402/paper/balances/")],
    ["the mode (paper)", /paper/i.test(page)],
  ].filter(([, ok]) => !ok).map(([what]) => what);
  assert.deepEqual(missing, [], "the page lacks what the README says it shows");
});
