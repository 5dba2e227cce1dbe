// A client that goes away mid-payment cannot strand it. A request with a payment runs to
// its end inside waitUntil: the settlement under way finishes and is recorded, and a retry
// of the same header gets the paid answer from the record, charged once. On Cloudflare a
// client disconnect cancels the invocation (and, without waitUntil, a settle half-way);
// Miniflare's entry socket does not pass the disconnect on to the Worker, so here this is
// a guard that the finished settlement is what a retry is answered from, not a
// reproduction of the cancellation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodePaymentResponse } from "../support/pay.mjs";
import { snapshot, startChainFacilitator } from "../support/chain.mjs";
import { signFor } from "../support/flow.mjs";
import { rawRequest } from "../support/raw.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ facilitator: startChainFacilitator });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("a client that disconnects during /settle: the settlement finishes, a retry gets the paid answer", { timeout: 20_000 }, async () => {
  const path = "/premium/disconnect";
  const pay = await signFor(stack.worker, path, privateKeyToAccount(generatePrivateKey()));
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  stack.facilitator.nextSettle({ delayMs: 3_000, charge: true });
  // The client hangs up after 1.5 s: verify and the origin are done, /settle is under way.
  await assert.rejects(rawRequest(stack.worker, { path, headers, timeoutMs: 1_500 }), /no answer within/);
  assert.equal(stack.facilitator.nonce(pay.authorization.nonce).settle, 1, "settle was under way");
  await sleep(2_500); // the settle answers 3 s after it arrived; the record is written then
  const originCalls = stack.origin.calls.length;
  const retry = await stack.worker.fetch(path, { headers }).then(snapshot);
  assert.equal(retry.status, 200, retry.body);
  assert.deepEqual(JSON.parse(retry.body), { ok: true, path, method: "GET" });
  const settled = decodePaymentResponse({ headers: new Headers(retry.headers) });
  assert.equal(settled.success, true);
  assert.equal(settled.transaction, stack.facilitator.transaction(pay.authorization.nonce), "the first settle's transaction");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
  assert.equal(stack.origin.calls.length, originCalls, "the retry is answered from the record");
});
