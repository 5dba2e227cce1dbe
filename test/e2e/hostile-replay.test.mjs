// Hostile replays: a stored answer belongs to the exact signed payload (editing a signed
// field of a settled header gets a fresh 402, not the stored 200); late retries of a paid
// or unresolved payment never cost a second payment, even after validBefore; a payment
// whose 65-byte signature does not recover to `from` costs nothing: no facilitator call, no
// origin call, nothing stored. The facilitator keeps a chain (a nonce is charged once).
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  assertSameAnswer,
  assertSettlementUnknown,
  NONCE_USED,
  snapshot,
  startChainFacilitator,
} from "../support/chain.mjs";
import { assertRechallenged, signFor, sleepUntil, TEST } from "../support/flow.mjs";
import { assertNoFreePremium, assertPaidPremium, startHostileOrigin } from "../support/hostile-origin.mjs";
import { editHeader } from "../support/pay.mjs";
import { useStack } from "../support/stack.mjs";

const INVALID_SIGNATURE = "invalid_exact_evm_payload_signature";
/** Cases that wait for a validBefore 8 s ahead to pass (the paywall wants ≥ now + 6 s). */
const LATE = { timeout: 25_000 };
const WINDOW_S = 8;

const stack = useStack({
  origin: startHostileOrigin,
  facilitator: startChainFacilitator,
  vars: { FACILITATOR_TIMEOUT_MS: "500" },
});

/** `send(header)` → a snapshot of GET `path` paid with `header` (v2, or v1 when `v1`). */
function sender(path, { v1 = false } = {}) {
  const name = v1 ? "X-PAYMENT" : "PAYMENT-SIGNATURE";
  return (header) => stack.worker.fetch(path, { headers: { [name]: header } }).then(snapshot);
}

/** Counters to compare before and after: origin calls and the facilitator's totals. */
function counters() {
  return { origin: stack.origin.calls.length, ...stack.facilitator.count };
}

/** A stand-in account that signs with `signer`'s key but names `claimed` as `from`. */
function impostor(signer, claimed) {
  return { address: claimed.address, signTypedData: (args) => signer.signTypedData(args) };
}

const fresh = () => privateKeyToAccount(generatePrivateKey());
const now = () => Math.floor(Date.now() / 1000);

test("a settled header with validBefore or validAfter edited: 402 invalid signature, nothing called; the unedited header replays", TEST, async () => {
  // main: the edited header has the same payment key and signature, so it gets the stored
  // 200 with the premium content (the fingerprint ignores the validity window).
  const path = "/premium/edited";
  const send = sender(path);
  const pay = await signFor(stack.worker, path, fresh());
  const paid = await send(pay.v2Header);
  assertPaidPremium(paid);
  const before = counters();
  const edits = {
    validBefore: (a) => (a.validBefore = String(Number(a.validBefore) + 1)),
    validAfter: (a) => (a.validAfter = String(Number(a.validAfter) - 1)),
  };
  for (const [field, edit] of Object.entries(edits)) {
    const edited = await send(editHeader(pay.v2Header, (p) => edit(p.payload.authorization)));
    assertNoFreePremium(edited, field);
    assertRechallenged(edited, INVALID_SIGNATURE, field);
  }
  assert.deepEqual(counters(), before, "no origin or facilitator call for an edited header");
  assertSameAnswer(await send(pay.v2Header), paid, "the unedited header");
});

test("a paid request retried after validBefore gets the same stored answer, no new verify or settle", LATE, async () => {
  // main: the retry is checked against the validity window before the stored answer is
  // looked up: 402 invalid_exact_evm_payload_authorization_valid_before.
  const path = "/premium/late-retry";
  const send = sender(path);
  const validBefore = now() + WINDOW_S;
  const pay = await signFor(stack.worker, path, fresh(), { validBefore });
  const paid = await send(pay.v2Header);
  assertPaidPremium(paid);
  await sleepUntil(validBefore + 1);
  assertSameAnswer(await send(pay.v2Header), paid, "retry after validBefore");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
});

test("settlement_unknown, then a retry after validBefore: 200 with the content, charged exactly once", LATE, async () => {
  // main: the retry after validBefore is refused by the window check (402
  // invalid_exact_evm_payload_authorization_valid_before) although the first /settle
  // charged the payer: paid, nothing served.
  const path = "/premium/late-unknown";
  const send = sender(path);
  const validBefore = now() + WINDOW_S;
  const pay = await signFor(stack.worker, path, fresh(), { validBefore });
  const originCalls = stack.origin.calls.length;
  await assertSettlementUnknown(stack.facilitator, () => send(pay.v2Header), { delayMs: 1_500, charge: true });
  await sleepUntil(validBefore + 1);
  const resolved = await send(pay.v2Header);
  assertPaidPremium(resolved, "retry after validBefore");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 2, charged: true });
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});

test("an \"already settled\" answer is known by its x402 reason code, not one string", { timeout: 20_000 }, async () => {
  // main: only invalid_exact_evm_nonce_already_used counts; a resubmitted /settle answered
  // {success:false, errorReason:"duplicate_settlement"} gets 402 duplicate_settlement, the
  // content is withheld although the facilitator says the payment is settled.
  for (const reason of ["duplicate_settlement", NONCE_USED]) {
    const path = `/premium/already-${reason}`;
    const send = sender(path);
    const pay = await signFor(stack.worker, path, fresh());
    await assertSettlementUnknown(stack.facilitator, () => send(pay.v2Header), { delayMs: 1_500, charge: false });
    stack.facilitator.nextSettle({
      charge: false,
      answer: () => ({ status: 200, body: { success: false, errorReason: reason, transaction: "" } }),
    });
    const resolved = await send(pay.v2Header);
    assertPaidPremium(resolved, reason);
    const nonce = stack.facilitator.nonce(pay.authorization.nonce);
    assert.deepEqual(nonce, { verify: 1, settle: 2, charged: false }, `${reason}: one resubmission, no charge of ours`);
  }
});

test("a signature by another key than `from` costs nothing: 402, no facilitator or origin call, nothing stored", TEST, async () => {
  // main: the fake facilitator is asked, says valid, and the forged payment gets 200 with
  // the premium content (settled in the payer's name); B's own payment with that nonce
  // would then be 409 payment_conflict.
  const path = "/premium/forged";
  const [signer, payer] = [fresh(), fresh()];
  const forged = await signFor(stack.worker, path, impostor(signer, payer));
  const before = counters();
  for (const [version, header] of [["v2", forged.v2Header], ["v1", forged.v1Header]]) {
    const answer = await sender(path, { v1: version === "v1" })(header);
    assertNoFreePremium(answer, version);
    assertRechallenged(answer, INVALID_SIGNATURE, version);
  }
  assert.deepEqual(counters(), before, "no origin or facilitator call for a forged payment");

  const real = await signFor(stack.worker, path, payer, { nonce: forged.authorization.nonce });
  assertPaidPremium(await sender(path)(real.v2Header), "the payer's own payment with the same nonce");
  assert.deepEqual(stack.facilitator.nonce(real.authorization.nonce), { verify: 1, settle: 1, charged: true });
});

test("a 65-byte signature with a flipped byte is refused locally; a 100-byte one is the facilitator's call", TEST, async () => {
  // main: the flipped signature goes to the facilitator (verify count 1), which says valid:
  // 200 with the premium content; the unflipped payment is then 409 payment_conflict.
  const path = "/premium/flipped";
  const send = sender(path);
  const pay = await signFor(stack.worker, path, fresh());
  const flipped = editHeader(pay.v2Header, (p) => {
    const sig = Buffer.from(p.payload.signature.slice(2), "hex");
    sig[5] ^= 0x01; // inside r
    p.payload.signature = `0x${sig.toString("hex")}`;
  });
  const before = counters();
  const refused = await send(flipped);
  assertNoFreePremium(refused);
  assertRechallenged(refused, INVALID_SIGNATURE);
  assert.deepEqual(counters(), before, "no origin or facilitator call");
  assertPaidPremium(await send(pay.v2Header), "the unflipped payment");

  // A smart-wallet style signature cannot be checked locally: the facilitator decides.
  const wallet = await signFor(stack.worker, "/premium/smart-wallet", fresh());
  const long = editHeader(wallet.v2Header, (p) => (p.payload.signature = `0x${"ab".repeat(100)}`));
  const verifies = stack.facilitator.count.verify;
  assertPaidPremium(await sender("/premium/smart-wallet")(long), "a 100-byte signature");
  assert.equal(stack.facilitator.count.verify - verifies, 1, "the facilitator verified it");
});
