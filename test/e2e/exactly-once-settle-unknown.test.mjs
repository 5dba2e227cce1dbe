// /settle without an answer in time (FACILITATOR_TIMEOUT_MS = 500): 502 settlement_unknown
// with Retry-After, the record stays `settling`; a retry of the same request resubmits the
// same signed payload, and the payer is charged at most once (the fake facilitator keeps a
// chain: a charged nonce answers "nonce already used").
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodePaymentResponse } from "../support/pay.mjs";
import { verifyReceipt } from "../support/jws.mjs";
import { assertSameAnswer, snapshot, startChainFacilitator, storm } from "../support/chain.mjs";
import { signFor } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const TIMEOUT_MS = 500;
const HANG_MS = 1_500; // the facilitator answers this late: the worker has given up
const CASE = { timeout: 15_000 };

const stack = useStack({ facilitator: startChainFacilitator, vars: { FACILITATOR_TIMEOUT_MS: String(TIMEOUT_MS) } });

/** Pays `path`, with the first /settle hanging per `plan`; asserts the 502 and returns the payment. */
async function payIntoTimeout(path, plan) {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, path, account);
  const send = () => stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } }).then(snapshot);
  const originCalls = stack.origin.calls.length;
  stack.facilitator.nextSettle({ delayMs: HANG_MS, ...plan });
  const unknown = await send();
  assert.equal(unknown.status, 502, unknown.body);
  assert.deepEqual(JSON.parse(unknown.body), { error: "settlement_unknown" });
  assert.match(unknown.headers["retry-after"] ?? "", /^[1-9][0-9]*$/, "502 has Retry-After");
  assert.equal(unknown.headers["payment-response"], undefined);
  return { pay, send, account, originCalls };
}

test("the hung settle landed: the retry gets the content, transaction \"\", one charge", CASE, async () => {
  const path = "/premium/unknown-landed";
  const { pay, send, account, originCalls } = await payIntoTimeout(path, { charge: true });
  const nonce = pay.authorization.nonce;
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 1, charged: true });

  const resolved = await send();
  assert.equal(resolved.status, 200, resolved.body);
  assert.deepEqual(JSON.parse(resolved.body), { ok: true, path, method: "GET" });
  const settle = decodePaymentResponse({ headers: new Headers(resolved.headers) });
  assert.equal(settle.success, true);
  assert.equal(settle.transaction, "", "the landing transaction is unknown");
  assert.equal(settle.payer.toLowerCase(), account.address.toLowerCase());
  const jwks = await (await stack.worker.fetch("/.well-known/jwks.json")).json();
  const claims = verifyReceipt(resolved.headers["payment-receipt"], jwks);
  assert.equal(claims.transaction, "");

  assertSameAnswer(await send(), resolved, "a later retry");
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 2, charged: true }, "resubmitted once, charged once");
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});

test("the hung settle never reached the chain: the retry settles it, one charge", CASE, async () => {
  const path = "/premium/unknown-lost";
  const { pay, send, originCalls } = await payIntoTimeout(path, { charge: false });
  const nonce = pay.authorization.nonce;
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 1, charged: false });

  const resolved = await send();
  assert.equal(resolved.status, 200, resolved.body);
  assert.deepEqual(JSON.parse(resolved.body), { ok: true, path, method: "GET" });
  const settle = decodePaymentResponse({ headers: new Headers(resolved.headers) });
  assert.equal(settle.transaction, stack.facilitator.transaction(nonce));
  assert.match(settle.transaction, /^0x[0-9a-f]{64}$/);

  assertSameAnswer(await send(), resolved, "a later retry");
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 2, charged: true });
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});

test("the resubmitted settle is refused for another reason: still settlement_unknown, content withheld, no charge", CASE, async () => {
  const path = "/premium/unknown-refused";
  const { pay, send, originCalls } = await payIntoTimeout(path, { charge: false });
  const nonce = pay.authorization.nonce;
  stack.facilitator.nextSettle({
    charge: false,
    answer: () => ({ status: 200, body: { success: false, errorReason: "insufficient_funds", transaction: "" } }),
  });
  // After an unknown outcome, a refusal proves nothing about the first attempt: the payment
  // is not released (that would say "not charged"), nothing is served.
  const refused = await send();
  assert.equal(refused.status, 502, refused.body);
  assert.deepEqual(JSON.parse(refused.body), { error: "settlement_unknown" });
  assert.equal(refused.headers["payment-required"], undefined, "no fresh challenge: the payment is not released");
  assert.doesNotMatch(refused.body, /"ok":true/, "content withheld");
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 2, charged: false });
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});

test("20 concurrent retries after settlement_unknown: one resubmission, one charge, one answer", CASE, async () => {
  const path = "/premium/unknown-storm";
  const { pay, send, originCalls } = await payIntoTimeout(path, { charge: true });
  const nonce = pay.authorization.nonce;
  const answers = await storm(20, () => send());
  const paid = answers.filter((a) => a.status === 200);
  const busy = answers.filter((a) => a.status === 409);
  assert.equal(paid.length + busy.length, 20, answers.map((a) => `${a.status} ${a.body}`).join("\n"));
  assert.ok(paid.length >= 1);
  paid.forEach((a, i) => assertSameAnswer(a, paid[0], `200 #${i}`));
  for (const b of busy) assert.deepEqual(JSON.parse(b.body), { error: "payment_in_progress" });
  assert.equal(decodePaymentResponse({ headers: new Headers(paid[0].headers) }).transaction, "");
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 2, charged: true }, "one resubmission");
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});
