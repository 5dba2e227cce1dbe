// A priced route without payment answers 402 with an x402 v2 PAYMENT-REQUIRED header and a
// v1 JSON body, never touching the origin; CORS lets browsers send and read payment headers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, wranglerConfig } from "../support/worker.mjs";
import { challenge, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const vars = wranglerConfig().vars;
const stack = useStack();

const headerList = (res, name) =>
  (res.headers.get(name) ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);

test("GET /premium/hello without payment: 402 with a v2 PAYMENT-REQUIRED header", TEST, async () => {
  const { res, required } = await challenge(stack.worker, "/premium/hello?lang=en");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(required.x402Version, 2);
  assert.equal(required.resource.url, `${BASE}/premium/hello?lang=en`);
  assert.ok(Array.isArray(required.accepts) && required.accepts.length >= 1);
  const [req] = required.accepts;
  assert.equal(req.scheme, "exact");
  assert.equal(req.network, "eip155:84532");
  assert.equal(req.amount, "10000");
  assert.equal(req.asset.toLowerCase(), vars.ASSET.toLowerCase());
  assert.equal(req.payTo.toLowerCase(), vars.PAY_TO.toLowerCase());
  assert.equal(req.maxTimeoutSeconds, 60);
  assert.deepEqual(req.extra, { name: "USDC", version: "2" });
  assert.equal(stack.origin.calls.length, 0, "the origin must not be called for an unpaid request");
});

test("the 402 JSON body is a v1 PaymentRequired", TEST, async () => {
  const res = await stack.worker.fetch("/premium/hello", { headers: { accept: "application/json" } });
  assert.equal(res.status, 402);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.equal(body.x402Version, 1);
  assert.equal(typeof body.error, "string");
  assert.ok(body.error.length > 0);
  const [req] = body.accepts;
  assert.equal(req.scheme, "exact");
  assert.equal(req.network, "base-sepolia");
  assert.equal(req.maxAmountRequired, "10000");
  assert.equal(req.resource, `${BASE}/premium/hello`);
  assert.equal(req.description, "Premium articles");
  assert.equal(req.mimeType, "text/html");
  assert.equal(req.payTo.toLowerCase(), vars.PAY_TO.toLowerCase());
  assert.equal(req.asset.toLowerCase(), vars.ASSET.toLowerCase());
  assert.equal(req.maxTimeoutSeconds, 60);
  assert.deepEqual(req.extra, { name: "USDC", version: "2" });
  assert.equal(stack.origin.calls.length, 0);
});

test("other priced routes: /reports/:id (any method) and POST /api/score with their prices", TEST, async () => {
  const report = await challenge(stack.worker, "/reports/42");
  assert.equal(report.requirements.amount, "50000"); // $0.05 at 6 decimals
  assert.equal(report.required.resource.url, `${BASE}/reports/42`);
  const score = await challenge(stack.worker, "/api/score", { method: "POST", body: "{}" });
  assert.equal(score.requirements.amount, "2500");
  assert.equal(stack.origin.calls.length, 0);
});

test("CORS preflight allows the payment request headers", TEST, async () => {
  const res = await stack.worker.fetch("/premium/hello", {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "payment-signature,x-payment",
    },
  });
  await res.arrayBuffer();
  assert.equal(res.status, 204);
  const allowed = headerList(res, "access-control-allow-headers");
  assert.ok(allowed.includes("payment-signature"), `allow-headers: ${allowed}`);
  assert.ok(allowed.includes("x-payment"), `allow-headers: ${allowed}`);
  assert.ok(res.headers.get("access-control-allow-origin"), "allow-origin is set");
  assert.equal(stack.origin.calls.length, 0);
});

test("the 402 exposes the payment response headers to browsers", TEST, async () => {
  const res = await stack.worker.fetch("/premium/hello", { headers: { origin: "https://app.example" } });
  await res.arrayBuffer();
  assert.equal(res.status, 402);
  const exposed = headerList(res, "access-control-expose-headers");
  for (const name of ["payment-required", "payment-response", "x-payment-response"]) {
    assert.ok(exposed.includes(name), `expose-headers lacks ${name}: ${exposed}`);
  }
});

test("a browser (Accept: text/html) gets a 402 HTML page and the PAYMENT-REQUIRED header", TEST, async () => {
  const { res, required, body } = await challenge(stack.worker, "/premium/hello", {
    headers: { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" },
  });
  assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  assert.match(body, /<html|<!doctype html/i);
  assert.equal(required.x402Version, 2);
  assert.equal(required.accepts[0].amount, "10000");
  assert.equal(stack.origin.calls.length, 0);
});
