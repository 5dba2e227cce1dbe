// When the origin fails after a valid payment, the client gets the origin's answer and is not
// charged: verify runs once, settle never.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startFacilitator, startOrigin } from "../support/servers.mjs";
import { startWorker } from "../support/worker.mjs";
import { HOOK, signFor, TEST } from "../support/flow.mjs";

let origin;
let facilitator;
let worker;
before(async () => {
  origin = await startOrigin();
  facilitator = await startFacilitator();
  worker = await startWorker({ vars: { ORIGIN_URL: origin.url, FACILITATOR_URL: facilitator.url } });
}, HOOK);
after(async () => {
  await worker?.close();
  await facilitator?.close();
  await origin?.close();
}, HOOK);

test("origin 500 after a valid payment: 500 passed through, nothing settled", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(worker, "/premium/broken", account);
  origin.respondWith(500, "boom");
  try {
    const res = await worker.fetch("/premium/broken", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "boom");
    assert.equal(res.headers.get("payment-response"), null, "no settlement to report");
    assert.equal(facilitator.count.verify, 1, "verify is called once");
    assert.equal(facilitator.count.settle, 0, "settle is never called when the origin fails");
    assert.equal(origin.calls.length, 1);
  } finally {
    origin.reset();
  }
});

test("the facilitator gets {x402Version, paymentPayload, paymentRequirements}", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(worker, "/premium/ok", account);
  const res = await worker.fetch("/premium/ok", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  for (const endpoint of ["verify", "settle"]) {
    const request = facilitator.requests[endpoint].at(-1);
    assert.equal(request.x402Version, 2, endpoint);
    assert.equal(request.paymentPayload.payload.signature, pay.signature, endpoint);
    assert.deepEqual(request.paymentPayload.payload.authorization, pay.authorization, endpoint);
    assert.equal(request.paymentRequirements.amount, "10000", endpoint);
    assert.equal(request.paymentRequirements.network, "eip155:84532", endpoint);
  }
});
