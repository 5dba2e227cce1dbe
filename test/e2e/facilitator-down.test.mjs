// Facilitator trouble is an upstream error (502, stable reason, no upstream text) or a payment
// refusal (402); paid content is never served without a successful settlement.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { answers, closedPort, startFacilitator } from "../support/servers.mjs";
import { assertError, REASON, signFor, TEST } from "../support/flow.mjs";
import { startWorker } from "../support/worker.mjs";
import { useStack } from "../support/stack.mjs";

const PATH = "/premium/hello";
const SECRET = "origin-secret-article-body";
const stack = useStack({ facilitator: startFacilitator, vars: { FACILITATOR_TIMEOUT_MS: "1000" } });

async function paidRequest(w = stack.worker) {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(w, PATH, account);
  return w.fetch(PATH, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
}

function resetAll() {
  stack.facilitator.reset();
  stack.origin.reset();
  stack.origin.calls.length = 0;
  stack.facilitator.count.verify = stack.facilitator.count.settle = 0;
}

test("facilitator unreachable (closed port) -> 502 facilitator_unavailable", TEST, async () => {
  const port = await closedPort();
  const w = await startWorker({ vars: { ORIGIN_URL: stack.origin.url, FACILITATOR_URL: `http://127.0.0.1:${port}` } });
  try {
    resetAll();
    await assertError(await paidRequest(w), 502, "facilitator_unavailable");
    assert.equal(stack.origin.calls.length, 0);
  } finally {
    await w.close();
  }
});

test("verify {isValid:false, invalidReason:insufficient_funds} with HTTP 400 -> 402", TEST, async () => {
  resetAll();
  stack.facilitator.verifyWith(answers.invalid("insufficient_funds", 400));
  const res = await paidRequest();
  const body = await res.text();
  assert.equal(res.status, 402, body);
  assert.equal(JSON.parse(body).error, "insufficient_funds");
  assert.ok(res.headers.get("payment-required"), "a fresh challenge");
  assert.equal(stack.origin.calls.length, 0);
  assert.equal(stack.facilitator.count.settle, 0);
});

test("verify answers garbage (500, HTML) -> 502 without upstream text", TEST, async () => {
  resetAll();
  stack.facilitator.verifyWith(answers.garbage());
  const res = await paidRequest();
  const body = await assertError(res, 502, REASON);
  assert.ok(!JSON.stringify(body).includes("secret-internal-detail"), "upstream text leaked");
  assert.equal(stack.origin.calls.length, 0);
});

test("verify 200 without a boolean isValid -> 502, not served", TEST, async () => {
  resetAll();
  stack.facilitator.verifyWith(() => ({ status: 200, body: { isValid: "yes" } }));
  const res = await paidRequest();
  const text = await res.text();
  assert.notEqual(res.status, 200, text);
  assert.ok([402, 502].includes(res.status), `status ${res.status}`);
  assert.equal(stack.origin.calls.length, 0);
});

test("verify hangs past FACILITATOR_TIMEOUT_MS -> 5xx, origin not called", TEST, async () => {
  resetAll();
  stack.facilitator.verifyWith(answers.hang());
  const started = Date.now();
  const res = await paidRequest();
  const body = await res.json();
  assert.ok([502, 503, 504].includes(res.status), `status ${res.status}`);
  assert.match(body.error, REASON);
  assert.ok(Date.now() - started < 8000, "the timeout is honoured");
  assert.equal(stack.origin.calls.length, 0);
});

test("settle {success:false} -> 402 and the origin's body is withheld", TEST, async () => {
  resetAll();
  stack.origin.respondWith(200, SECRET);
  stack.facilitator.settleWith(answers.fail("insufficient_funds"));
  const res = await paidRequest();
  const text = await res.text();
  assert.equal(res.status, 402, text);
  assert.ok(!text.includes(SECRET), "paid content served after a failed settlement");
  assert.equal(stack.facilitator.count.verify, 1);
  assert.equal(stack.facilitator.count.settle, 1);
});

test("settle answers garbage -> 502 and the origin's body is withheld", TEST, async () => {
  resetAll();
  stack.origin.respondWith(200, SECRET);
  stack.facilitator.settleWith(answers.garbage());
  const res = await paidRequest();
  const text = await res.text();
  assert.equal(res.status, 502, text);
  assert.ok(!text.includes(SECRET), "paid content served after a failed settlement");
  assert.ok(!text.includes("secret-internal-detail"), "upstream text leaked");
});
