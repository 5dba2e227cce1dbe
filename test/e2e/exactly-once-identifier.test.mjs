// The x402 v2 `payment-identifier` extension: the 402 advertises it (optional); an id is
// bound to the first payload it came with: the same id and payload get the same answer,
// the same id with another payload is 409, a malformed id is 400. No facilitator call for
// either refusal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { assertSameAnswer, snapshot, startChainFacilitator, storm, withPaymentId } from "../support/chain.mjs";
import { assertError, challenge, signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ facilitator: startChainFacilitator });

const freshId = () => `pay_${randomBytes(16).toString("hex")}`;
const pay = (path, header) => stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": header } });

test("the 402 advertises payment-identifier, not required", TEST, async () => {
  const { required } = await challenge(stack.worker, "/premium/id");
  const ext = required.extensions?.["payment-identifier"];
  assert.ok(ext, `extensions: ${JSON.stringify(required.extensions)}`);
  assert.equal(ext.info?.required, false);
});

test("same id, same payload: the same answer, one settle", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/id-same";
  const p = await signFor(stack.worker, path, account);
  const header = withPaymentId(p.v2Header, freshId());
  const originCalls = stack.origin.calls.length;
  const first = await snapshot(await pay(path, header));
  assert.equal(first.status, 200, first.body);
  assertSameAnswer(await snapshot(await pay(path, header)), first);
  assert.deepEqual(stack.facilitator.nonce(p.authorization.nonce), { verify: 1, settle: 1, charged: true });
  assert.equal(stack.origin.calls.length - originCalls, 1);
});

test("same id, another payload (new nonce): 409 payment_identifier_conflict, facilitator not called", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/id-conflict";
  const id = freshId();
  const a = await signFor(stack.worker, path, account);
  const b = await signFor(stack.worker, path, account);
  assert.notEqual(a.authorization.nonce, b.authorization.nonce);
  const first = await pay(path, withPaymentId(a.v2Header, id));
  assert.equal(first.status, 200, await first.text());
  const before = { ...stack.facilitator.count };
  await assertError(await pay(path, withPaymentId(b.v2Header, id)), 409, "payment_identifier_conflict");
  assert.deepEqual(stack.facilitator.nonce(b.authorization.nonce), { verify: 0, settle: 0, charged: false });
  assert.deepEqual(stack.facilitator.count, before, "no facilitator call");
});

test("malformed ids: 400 invalid_payment_identifier, facilitator not called", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/id-bad";
  const p = await signFor(stack.worker, path, account);
  const before = { ...stack.facilitator.count };
  for (const bad of ["short_id_15char", "x".repeat(129), "has space in the id 123", "dots.are.not.allowed.here", 1234567890123456789, ""]) {
    await assertError(await pay(path, withPaymentId(p.v2Header, bad)), 400, "invalid_payment_identifier");
  }
  assert.deepEqual(stack.facilitator.count, before, "no facilitator call");
  assert.deepEqual(stack.facilitator.nonce(p.authorization.nonce), { verify: 0, settle: 0, charged: false });
});

test("one id, 20 different payloads at once: one wins and is settled once, the rest get 409", { timeout: 30_000 }, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/id-race";
  const id = freshId();
  const payments = [];
  for (let i = 0; i < 20; i++) payments.push(await signFor(stack.worker, path, account));
  const answers = await storm(20, (i) => pay(path, withPaymentId(payments[i].v2Header, id)).then(snapshot));
  const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
  const lost = answers.filter((a) => a.status === 409);
  assert.equal(won.length, 1, answers.map((a) => `${a.status} ${a.body}`).join("\n"));
  assert.equal(lost.length, 19);
  for (const a of lost) assert.deepEqual(JSON.parse(a.body), { error: "payment_identifier_conflict" });
  payments.forEach((p, i) => {
    const want = i === won[0] ? { verify: 1, settle: 1, charged: true } : { verify: 0, settle: 0, charged: false };
    assert.deepEqual(stack.facilitator.nonce(p.authorization.nonce), want, `payload ${i}`);
  });
});
