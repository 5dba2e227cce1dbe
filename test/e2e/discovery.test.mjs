// Discovery in workerd, generated from one route table with path parameters, a query, a
// body schema, a wildcard and a route kept out of discovery:
// - the 402's bazaar extension, read back by the official @x402/extensions helpers
//   (validated against its own schema, the resource URL from its route template);
// - /.well-known/x402, /openapi.json (validated against the OpenAPI 3.1 schema), /llms.txt;
// - ETag revalidation, HEAD, 405, never priced (even under a priced "/*"), never the origin's;
// - DISCOVERY = false and moved paths: the origin then receives those paths untouched;
// - the v2 header's size with the bazaar, and the limit Node's HTTP client sets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Validator } from "@seriousme/openapi-schema-validator";
import {
  extractDiscoveryInfo,
  validateDiscoveryExtension,
  validateDiscoveryExtensionSpec,
} from "@x402/extensions/bazaar";
import { decodeHeader } from "../support/pay.mjs";
import { TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";
import { BASE } from "../support/worker.mjs";

const ROUTES = {
  "GET /reports/:id": {
    price: "$0.05",
    description: "A market report",
    mimeType: "application/json",
    input: {
      pathParams: { id: { type: "string", description: "report id" } },
      queryParams: { lang: { type: "string", enum: ["en", "de"] } },
    },
    output: {
      example: { id: "42", summary: "Markets rose." },
      schema: { type: "object", properties: { id: { type: "string" }, summary: { type: "string" } } },
    },
  },
  "POST /api/score": {
    price: "2500",
    description: "Score a document",
    mimeType: "application/json",
    input: {
      bodyType: "json",
      body: { type: "object", required: ["text"], properties: { text: { type: "string", example: "hello" } } },
    },
    output: { example: { score: 0.5 } },
  },
  "GET /premium/*": { price: "$0.01", description: "Premium articles", mimeType: "text/html" },
  "/internal/:key": { price: "$1", discoverable: false, input: { queryParams: { q: { type: "string" } } } },
};

const stack = useStack({ vars: { FACILITATOR_URL: "paper", ROUTES } });
const priced = useStack({ vars: { FACILITATOR_URL: "paper", ROUTES: { ...ROUTES, "/*": { price: "$2" } } } });
const off = useStack({ vars: { FACILITATOR_URL: "paper", ROUTES, DISCOVERY: false } });
const moved = useStack({
  vars: { FACILITATOR_URL: "paper", ROUTES, DISCOVERY: { openapi: "/api/openapi.json", llmsTxt: false, title: "Quotes" } },
});

async function required(worker, path, init) {
  const res = await worker.fetch(path, init);
  await res.arrayBuffer();
  assert.equal(res.status, 402, path);
  const header = res.headers.get("payment-required");
  return { header, required: decodeHeader(header) };
}

/** What a client puts in its payment: the challenge's resource, extensions and choice. */
function payloadOf(required) {
  return { x402Version: 2, resource: required.resource, accepted: required.accepts[0], extensions: required.extensions, payload: {} };
}

test("the bazaar extension of a route with a parameter is read back by the official helpers", TEST, async () => {
  const { required: r } = await required(stack.worker, "/reports/42?lang=en");
  const bazaar = r.extensions.bazaar;
  assert.ok(bazaar, "a described route declares bazaar");
  assert.deepEqual(validateDiscoveryExtension(bazaar), { valid: true }, "info validates against its own schema");
  assert.deepEqual(validateDiscoveryExtensionSpec(bazaar), { valid: true });
  assert.equal(bazaar.routeTemplate, "/reports/:id");
  assert.deepEqual(bazaar.info.input, { type: "http", method: "GET", queryParams: { lang: "en" }, pathParams: { id: "42" } });
  const found = extractDiscoveryInfo(payloadOf(r), r.accepts[0]);
  assert.ok(found, "the catalog helper reads it");
  assert.equal(found.resourceUrl, `${BASE}/reports/:id`, "one catalog entry for every id");
  assert.equal(found.method, "GET");
  assert.equal(found.routeTemplate, "/reports/:id");
  assert.equal(found.description, "A market report");
  assert.deepEqual(found.discoveryInfo.output, { type: "json", example: { id: "42", summary: "Markets rose." } });
  const other = (await required(stack.worker, "/reports/7")).required.extensions.bazaar;
  assert.deepEqual(other.info.input.pathParams, { id: "7" }, "each URL its own parameters");
});

test("a body route declares its body schema and an example that validates", TEST, async () => {
  const { required: r } = await required(stack.worker, "/api/score", { method: "POST", body: "{}" });
  const bazaar = r.extensions.bazaar;
  assert.deepEqual(validateDiscoveryExtension(bazaar), { valid: true });
  assert.deepEqual(validateDiscoveryExtensionSpec(bazaar), { valid: true });
  assert.deepEqual(bazaar.info.input, { type: "http", method: "POST", bodyType: "json", body: { text: "hello" } });
  assert.deepEqual(bazaar.schema.properties.input.properties.body.required, ["text"]);
  const found = extractDiscoveryInfo(payloadOf(r), r.accepts[0]);
  assert.equal(found.resourceUrl, `${BASE}/api/score`);
  assert.equal(found.method, "POST");
});

test("undescribed and non-discoverable routes declare no bazaar; DISCOVERY = false none at all", TEST, async () => {
  assert.equal((await required(stack.worker, "/premium/a")).required.extensions.bazaar, undefined);
  assert.equal((await required(stack.worker, "/internal/k?q=1")).required.extensions.bazaar, undefined);
  assert.equal((await required(off.worker, "/reports/42")).required.extensions.bazaar, undefined);
  assert.ok((await required(off.worker, "/reports/42")).required.extensions["payment-identifier"], "the rest stays");
});

test("/.well-known/x402 lists the discoverable resources with what each accepts", TEST, async () => {
  const res = await stack.worker.fetch("/.well-known/x402");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const doc = await res.json();
  assert.equal(doc.version, 1);
  assert.deepEqual(doc.resources, ["GET /reports/:id", "POST /api/score", "GET /premium/*"]);
  assert.match(doc.instructions, /PAYMENT-SIGNATURE/);
  const reports = doc.items.find((i) => i.resource === "GET /reports/:id");
  assert.equal(reports.urlTemplate, `${BASE}/reports/{id}`);
  assert.deepEqual(reports.accepts.map((a) => [a.scheme, a.network, a.asset, a.amount, a.price]), [
    ["exact", "eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "50000", "$0.05"],
  ]);
  assert.ok(!JSON.stringify(doc).includes("internal"), "a non-discoverable route is not listed");
});

test("/openapi.json is valid OpenAPI 3.1 with x-payment-info and the schemas", TEST, async () => {
  const res = await stack.worker.fetch("/openapi.json");
  assert.equal(res.status, 200);
  const doc = await res.json();
  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.deepEqual(result.errors ?? [], [], "no schema errors");
  assert.equal(result.valid, true);
  assert.equal(validator.version, "3.1");
  assert.deepEqual(Object.keys(doc.paths).sort(), ["/api/score", "/premium/{rest}", "/reports/{id}"]);
  const get = doc.paths["/reports/{id}"].get;
  assert.deepEqual(get.parameters.map((p) => [p.name, p.in, p.required]), [["id", "path", true], ["lang", "query", false]]);
  const info = get["x-payment-info"];
  // Each accepted option is the one the route's 402 offers.
  const offered = (await required(stack.worker, "/reports/42")).required.accepts[0];
  assert.deepEqual(
    [info.accepts[0].amount, info.accepts[0].asset, info.accepts[0].network, info.accepts[0].payTo],
    [offered.amount, offered.asset, offered.network, offered.payTo],
  );
  assert.deepEqual([info.scheme, info.price, info.amount, info.asset, info.network, info.payTo], [
    "exact", "$0.05", "50000", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
  ]);
  assert.deepEqual(get.responses["200"].content["application/json"].example, { id: "42", summary: "Markets rose." });
  const post = doc.paths["/api/score"].post;
  assert.deepEqual(post.requestBody.content["application/json"].schema.required, ["text"]);
  assert.equal(post["x-payment-info"].amount, "2500");
  assert.ok(!JSON.stringify(doc).includes("internal"));

  // The validator refuses a broken document (the check can fail).
  const broken = structuredClone(doc);
  delete broken.info;
  assert.equal((await new Validator().validate(broken)).valid, false);
});

test("/llms.txt tells an agent what is sold and how to pay", TEST, async () => {
  const res = await stack.worker.fetch("/llms.txt");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/markdown/);
  const text = await res.text();
  assert.match(text, /^# /);
  assert.match(text, /`GET \/reports\/:id`: A market report\. \$0\.05 USDC \(50000 atomic units\)/);
  assert.match(text, /`POST \/api\/score`: Score a document\. \$0\.0025 USDC/);
  assert.match(text, /PAYMENT-SIGNATURE/);
  assert.ok(text.includes(`(${BASE}/openapi.json)`) && text.includes(`(${BASE}/.well-known/x402)`), text);
  assert.ok(!text.includes("internal"));
});

test("documents revalidate by ETag, answer HEAD, refuse writes, and never reach the origin", TEST, async () => {
  const calls = stack.origin.calls.length;
  for (const path of ["/.well-known/x402", "/openapi.json", "/llms.txt"]) {
    const first = await stack.worker.fetch(path);
    const body = await first.text();
    const etag = first.headers.get("etag");
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/, path);
    assert.match(first.headers.get("cache-control"), /max-age=/);
    const again = await stack.worker.fetch(path);
    assert.equal(await again.text(), body, "the same document");
    assert.equal(again.headers.get("etag"), etag);
    const cached = await stack.worker.fetch(path, { headers: { "If-None-Match": `W/${etag}` } });
    assert.equal(cached.status, 304, path);
    assert.equal(await cached.text(), "");
    const stale = await stack.worker.fetch(path, { headers: { "If-None-Match": '"not-it"' } });
    assert.equal(stale.status, 200);
    await stale.arrayBuffer();
    const head = await stack.worker.fetch(path, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const post = await stack.worker.fetch(path, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.arrayBuffer();
  }
  assert.equal(stack.origin.calls.length, calls, "the paywall answers the documents itself");
});

test("documents are never priced, even under a priced catch-all route", TEST, async () => {
  for (const path of ["/.well-known/x402", "/openapi.json", "/llms.txt", "/OpenAPI.json", "/x/../llms.txt"]) {
    const res = await priced.worker.fetch(path);
    await res.arrayBuffer();
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("payment-required"), null, path);
  }
  const doc = await (await priced.worker.fetch("/.well-known/x402")).json();
  assert.ok(doc.resources.includes("GET /*"), "the catch-all is listed as what it is");
  assert.equal((await required(priced.worker, "/llms.txt/more")).required.accepts[0].amount, "2000000", "only the path itself is free");
});

test("switched off, or moved, the origin receives those paths untouched", TEST, async () => {
  for (const path of ["/.well-known/x402", "/openapi.json", "/llms.txt"]) {
    const before = off.origin.calls.length;
    const res = await off.worker.fetch(`${path}?q=1`);
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), { ok: true, path: `${path}?q=1`, method: "GET" }, "the origin's answer");
    assert.equal(off.origin.calls.length, before + 1);
    assert.equal(off.origin.calls.at(-1).path, `${path}?q=1`);
  }
  const api = await moved.worker.fetch("/api/openapi.json");
  assert.equal((await api.json()).info.title, "Quotes");
  for (const path of ["/openapi.json", "/llms.txt"]) {
    const before = moved.origin.calls.length;
    await (await moved.worker.fetch(path)).arrayBuffer();
    assert.equal(moved.origin.calls.length, before + 1, path);
  }
  const wk = await (await moved.worker.fetch("/.well-known/x402")).json();
  assert.equal(wk.openapi, `${BASE}/api/openapi.json`, "links follow the move");
});

test("the v2 header stays well under what Node's HTTP client accepts", TEST, async () => {
  // Measured: the largest header our configuration allows (8 KiB + the URL), and the limit
  // of Node's client (16 KiB for the whole header section by default): past it, fetch fails.
  const { header } = await required(stack.worker, "/reports/42?lang=en");
  assert.ok(header.length < 8192, `${header.length} bytes`);
  const server = createServer((req, res) => {
    const size = Number(new URL(req.url, "http://x").searchParams.get("n"));
    res.writeHead(402, { "PAYMENT-REQUIRED": "A".repeat(size) });
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  try {
    const ok = await fetch(`${url}?n=${8192 + 2048}`);
    assert.equal(ok.headers.get("payment-required").length, 8192 + 2048, "our limit plus a long URL passes");
    await assert.rejects(fetch(`${url}?n=${16 * 1024 + 1}`), "past 16 KiB Node's client gives up");
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("an invalid schema makes the configuration invalid (priced routes answer 500)", TEST, async () => {
  const { startWorker } = await import("../support/worker.mjs");
  for (const input of [{ queryParams: { q: { type: "text" } } }, { pathParams: { nope: {} } }, { body: { $ref: "#/x" } }]) {
    const worker = await startWorker({
      vars: { FACILITATOR_URL: "paper", ORIGIN_URL: stack.origin.url, ROUTES: { "POST /r/:id": { price: "1", input } } },
    });
    try {
      const res = await worker.fetch("/r/1", { method: "POST" });
      assert.equal(res.status, 500, JSON.stringify(input));
      assert.deepEqual(await res.json(), { error: "paywall_misconfigured" });
    } finally {
      await worker.close();
    }
  }
});
