// Unpriced routes go to the origin untouched: same method, path, query and body; the origin's
// status and body come back as they are, with no payment headers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack();

function assertNoPaymentHeaders(res) {
  for (const name of ["payment-required", "payment-response", "x-payment-response", "payment-receipt"]) {
    assert.equal(res.headers.get(name), null, `free response carries ${name}`);
  }
}

test("GET /free/x?a=1&b=two reaches the origin as sent", TEST, async () => {
  stack.origin.reset();
  const before = stack.origin.calls.length;
  const res = await stack.worker.fetch("/free/x?a=1&b=two");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, path: "/free/x?a=1&b=two", method: "GET" });
  assertNoPaymentHeaders(res);
  assert.equal(stack.origin.calls.length, before + 1);
  const call = stack.origin.calls.at(-1);
  assert.equal(call.method, "GET");
  assert.equal(call.path, "/free/x?a=1&b=two");
});

test("GET / (home page) is free", TEST, async () => {
  stack.origin.reset();
  const res = await stack.worker.fetch("/");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, path: "/", method: "GET" });
  assertNoPaymentHeaders(res);
  assert.equal(stack.origin.calls.at(-1).path, "/");
});

test("POST /free/echo passes method, body and content-type through", TEST, async () => {
  stack.origin.reset();
  const payload = JSON.stringify({ hello: "world", n: 42 });
  const res = await stack.worker.fetch("/free/echo?q=1", {
    method: "POST",
    headers: { "content-type": "application/json", "x-custom": "kept" },
    body: payload,
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const call = stack.origin.calls.at(-1);
  assert.equal(call.method, "POST");
  assert.equal(call.path, "/free/echo?q=1");
  assert.equal(call.body, payload);
  assert.equal(call.headers["content-type"], "application/json");
  assert.equal(call.headers["x-custom"], "kept");
});

test("the origin's status, body and headers pass through", TEST, async () => {
  stack.origin.respondWith(404, "nothing here", { "x-origin": "yes" });
  try {
    const res = await stack.worker.fetch("/free/missing");
    assert.equal(res.status, 404);
    assert.equal(await res.text(), "nothing here");
    assert.equal(res.headers.get("x-origin"), "yes");
    assertNoPaymentHeaders(res);
  } finally {
    stack.origin.reset();
  }
});

test("a priced route with another method is free (GET-only pattern, POST request)", TEST, async () => {
  stack.origin.reset();
  const res = await stack.worker.fetch("/premium/hello", { method: "POST", body: "x" });
  assert.equal(res.status, 200, "wrangler.toml prices only GET /premium/*");
  await res.arrayBuffer();
  assert.equal(stack.origin.calls.at(-1).method, "POST");
});
