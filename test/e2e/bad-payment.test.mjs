// Malformed payment headers are the client's fault (400, stable reason); well-formed payments
// that do not match the offer get a fresh 402. Neither reaches the origin or the stack.facilitator.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startFacilitator } from "../support/servers.mjs";
import { decodePaymentRequired, encodeHeader } from "../support/pay.mjs";
import { assertError, REASON, signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const PATH = "/premium/hello";
const stack = useStack({ facilitator: startFacilitator });

function assertUntouched(what) {
  assert.equal(stack.origin.calls.length, 0, `${what}: origin called`);
  assert.equal(stack.facilitator.count.verify + stack.facilitator.count.settle, 0, `${what}: facilitator called`);
}

const malformed = [
  ["not base64", "%%%not-base64%%%"],
  ["base64 of non-JSON", Buffer.from("hello, not json").toString("base64")],
  ["JSON of the wrong shape", encodeHeader({ x402Version: 2, hello: "world" })],
  ["JSON array", encodeHeader([1, 2, 3])],
  ["oversized (20 KB)", Buffer.from("x".repeat(20 * 1024)).toString("base64")],
];

for (const [name, value] of malformed) {
  for (const header of ["PAYMENT-SIGNATURE", "X-PAYMENT"]) {
    test(`malformed ${header}: ${name} -> 400`, TEST, async () => {
      const res = await stack.worker.fetch(PATH, { headers: { [header]: value } });
      const body = await assertError(res, 400, REASON);
      assert.ok(!JSON.stringify(body).includes("hello"), "no echo of client input");
      assertUntouched(`${header} ${name}`);
    });
  }
}

async function assertRechallenged(res, what) {
  const text = await res.text();
  assert.equal(res.status, 402, `${what}: want 402, got ${res.status}: ${text}`);
  const required = decodePaymentRequired(res);
  assert.equal(required.x402Version, 2);
  assert.equal(required.accepts[0].amount, "10000");
  assert.match(JSON.parse(text).error, REASON);
  assertUntouched(what);
}

test("wrong amount -> 402 with a fresh challenge", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, PATH, account, { value: "1" });
  const res = await stack.worker.fetch(PATH, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  await assertRechallenged(res, "wrong amount");
});

test("wrong payTo -> 402 with a fresh challenge", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const thief = privateKeyToAccount(generatePrivateKey()).address;
  const pay = await signFor(stack.worker, PATH, account, { to: thief });
  const res = await stack.worker.fetch(PATH, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  await assertRechallenged(res, "wrong payTo");
});

test("expired authorization (validBefore in the past) -> 402", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const now = Math.floor(Date.now() / 1000);
  const pay = await signFor(stack.worker, PATH, account, { validAfter: now - 3600, validBefore: now - 60 });
  const res = await stack.worker.fetch(PATH, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  await assertRechallenged(res, "expired");
});

test("v1 X-PAYMENT with the wrong amount -> 402", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, PATH, account, { value: "9999" });
  const res = await stack.worker.fetch(PATH, { headers: { "X-PAYMENT": pay.v1Header } });
  await assertRechallenged(res, "v1 wrong amount");
});
