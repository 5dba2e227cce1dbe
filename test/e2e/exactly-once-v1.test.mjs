// x402 v1 (X-PAYMENT): a retry of a settled payment gets the stored answer, including the
// same X-PAYMENT-RESPONSE, PAYMENT-RESPONSE and receipt; one /settle, one origin call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader } from "../support/pay.mjs";
import { assertSameAnswer, snapshot, startChainFacilitator } from "../support/chain.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ facilitator: startChainFacilitator });

test("v1 retry: the same stored answer with the same X-PAYMENT-RESPONSE", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/reports/v1";
  const pay = await signFor(stack.worker, path, account);
  const send = () => stack.worker.fetch(path, { headers: { "X-PAYMENT": pay.v1Header } }).then(snapshot);
  const originCalls = stack.origin.calls.length;

  const first = await send();
  assert.equal(first.status, 200, first.body);
  const settle = decodeHeader(first.headers["x-payment-response"], "X-PAYMENT-RESPONSE");
  assert.equal(settle.success, true);
  assert.equal(settle.transaction, stack.facilitator.transaction(pay.authorization.nonce));
  assert.ok(first.headers["payment-receipt"], "a receipt");
  for (let i = 0; i < 3; i++) {
    const again = await send();
    assertSameAnswer(again, first, `v1 retry ${i + 1}`);
    assert.ok(again.headers["x-payment-response"], "X-PAYMENT-RESPONSE on the retry");
  }
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});
