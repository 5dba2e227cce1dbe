// When the origin fails after a valid payment, the client gets the origin's answer and is not
// charged: verify runs once, settle never.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startFacilitator } from "../support/servers.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ facilitator: startFacilitator });

test("origin 500 after a valid payment: 500 passed through, nothing settled", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/premium/broken", account);
  stack.origin.respondWith(500, "boom");
  try {
    const res = await stack.worker.fetch("/premium/broken", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "boom");
    assert.equal(res.headers.get("payment-response"), null, "no settlement to report");
    assert.equal(stack.facilitator.count.verify, 1, "verify is called once");
    assert.equal(stack.facilitator.count.settle, 0, "settle is never called when the origin fails");
    assert.equal(stack.origin.calls.length, 1);
  } finally {
    stack.origin.reset();
  }
});

test("the facilitator gets {x402Version, paymentPayload, paymentRequirements}", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/premium/ok", account);
  const res = await stack.worker.fetch("/premium/ok", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  for (const endpoint of ["verify", "settle"]) {
    const request = stack.facilitator.requests[endpoint].at(-1);
    assert.equal(request.x402Version, 2, endpoint);
    assert.equal(request.paymentPayload.payload.signature, pay.signature, endpoint);
    assert.deepEqual(request.paymentPayload.payload.authorization, pay.authorization, endpoint);
    assert.equal(request.paymentRequirements.amount, "10000", endpoint);
    assert.equal(request.paymentRequirements.network, "eip155:84532", endpoint);
  }
});
