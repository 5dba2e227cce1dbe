// The escrow ledger in workerd: one event per step of every payment (locked, released,
// refunded, rejected), written by the arbiter with the record change, never twice under a
// storm of duplicates, and none lost when the settlement's answer does not come back in time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { wranglerConfig } from "../support/worker.mjs";
import { decodePaymentResponse } from "../support/pay.mjs";
import { verifyReceipt } from "../support/jws.mjs";
import { snapshot, startChainFacilitator, storm } from "../support/chain.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { readLedger, wordsOf } from "../support/ledger.mjs";
import { useStack } from "../support/stack.mjs";

const vars = wranglerConfig().vars;
const CASE = { timeout: 20_000 };
const stack = useStack({ facilitator: startChainFacilitator, vars: { FACILITATOR_TIMEOUT_MS: "500" } });

async function pay(path, account = privateKeyToAccount(generatePrivateKey())) {
  const payment = await signFor(stack.worker, path, account);
  const send = () => stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": payment.v2Header } }).then(snapshot);
  return { payment, send, account };
}

/** The payment key of the events written for `account` (one payment per test). */
async function keyOf(account) {
  const mine = (await readLedger(stack.worker)).filter((e) => e.payer.toLowerCase() === account.address.toLowerCase());
  const keys = [...new Set(mine.map((e) => e.paymentKey))];
  assert.equal(keys.length, 1, `one payment key for the payer, got ${keys}`);
  return { key: keys[0], events: mine };
}

test("a paid request is locked, then released, with its transaction and receipt id", CASE, async () => {
  const path = "/premium/ledger-paid";
  const { send, account } = await pay(path);
  const res = await send();
  assert.equal(res.status, 200, res.body);
  const { key, events } = await keyOf(account);
  assert.deepEqual(wordsOf(events, key), ["locked", "released"]);
  const settle = decodePaymentResponse({ headers: new Headers(res.headers) });
  const jwks = await (await stack.worker.fetch("/.well-known/jwks.json")).json();
  const receipt = verifyReceipt(res.headers["payment-receipt"], jwks);
  const [locked, released] = events;
  for (const e of events) {
    assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 60_000);
    assert.equal(e.payer.toLowerCase(), account.address.toLowerCase());
    assert.equal(e.payTo.toLowerCase(), vars.PAY_TO.toLowerCase());
    assert.equal(e.asset.toLowerCase(), vars.ASSET.toLowerCase());
    assert.deepEqual([e.amount, e.network, e.x402Version], ["10000", "eip155:84532", 2]);
    assert.deepEqual([e.route, e.method, e.path], ["GET /premium/*", "GET", path]);
    assert.equal(e.facilitator, new URL(stack.facilitator.url).host);
    assert.match(e.paymentKey, /^[0-9a-f]{64}$/);
  }
  assert.deepEqual([locked.transaction, locked.receiptId, locked.reason], [null, null, null]);
  assert.equal(released.transaction, settle.transaction);
  assert.equal(released.receiptId, receipt.jti, "the receipt's jti is the ledger's receiptId");
  assert.equal(released.reason, null);
  assert.ok(Date.parse(locked.time) <= Date.parse(released.time));
});

test("a payer reads its receipt back by its id, the receipt's jti", CASE, async () => {
  const { send } = await pay("/premium/ledger-receipt");
  const res = await send();
  assert.equal(res.status, 200, res.body);
  const jwks = await (await stack.worker.fetch("/.well-known/jwks.json")).json();
  const jws = res.headers["payment-receipt"];
  const { jti } = verifyReceipt(jws, jwks);
  assert.match(jti, /^[0-9a-f][A-Za-z0-9_-]{22}$/);
  const got = await stack.worker.fetch(`/.well-known/x402/receipts/${jti}`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("access-control-allow-origin"), "*");
  const stored = await got.json();
  assert.equal(stored.receiptId, jti);
  assert.equal(stored.receipt, jws, "the signed receipt itself");
  assert.equal(stored.status, "settled");
  assert.equal(stored.transaction, decodePaymentResponse({ headers: new Headers(res.headers) }).transaction);
  assert.equal(stored.path, "/premium/ledger-receipt");
  // Another id of the same shape, a changed letter, a malformed one: 404.
  const other = jti.slice(0, 5) + (jti[5] === "A" ? "B" : "A") + jti.slice(6);
  for (const id of [other, jti.toLowerCase() === jti ? jti.toUpperCase() : jti.toLowerCase(), "nope", `${jti}x`]) {
    const miss = await stack.worker.fetch(`/.well-known/x402/receipts/${id}`);
    assert.equal(miss.status, 404, id);
    assert.deepEqual(await miss.json(), { error: "receipt_not_found" });
  }
});

test("50 concurrent duplicates and retries of one payment write each event once", CASE, async () => {
  const { send, account } = await pay("/premium/ledger-storm");
  const answers = await storm(50, send);
  assert.ok(answers.some((a) => a.status === 200));
  for (let i = 0; i < 3; i++) await send();
  const { key, events } = await keyOf(account);
  assert.deepEqual(wordsOf(events, key), ["locked", "released"]);
});

test("an origin failure is locked then refunded; a replay elsewhere is rejected once", CASE, async () => {
  const { payment, send, account } = await pay("/premium/ledger-refund");
  stack.origin.respondWith(500, "broken");
  try {
    assert.equal((await send()).status, 500);
  } finally {
    stack.origin.reset();
  }
  assert.equal((await send()).status, 200, "the same payment, retried once the origin is back");
  for (let i = 0; i < 3; i++) {
    const replay = await stack.worker.fetch("/premium/ledger-elsewhere", { headers: { "PAYMENT-SIGNATURE": payment.v2Header } });
    await replay.arrayBuffer();
    assert.equal(replay.status, 402);
  }
  const { key, events } = await keyOf(account);
  assert.deepEqual(wordsOf(events, key), ["locked", "refunded:origin_failed", "locked", "released", "rejected:payment_already_used"]);
  assert.equal(events.at(-1).path, "/premium/ledger-elsewhere", "the refused request's own path");
});

test("a settle that hangs past the deadline loses no event: the retry writes the release", CASE, async () => {
  const { send, account } = await pay("/premium/ledger-hang");
  stack.facilitator.nextSettle({ delayMs: 1_500, charge: true });
  const unknown = await send();
  assert.equal(unknown.status, 502, unknown.body);
  let { key, events } = await keyOf(account);
  assert.deepEqual(wordsOf(events, key), ["locked"], "locked; the outcome is not known yet");
  await new Promise((r) => setTimeout(r, 1_600));
  const resolved = await send();
  assert.equal(resolved.status, 200, resolved.body);
  ({ key, events } = await keyOf(account));
  assert.deepEqual(wordsOf(events, key), ["locked", "released"]);
});

test("a verify refusal is rejected, once, with the facilitator's reason", TEST, async () => {
  const { send, account } = await pay("/premium/ledger-rejected");
  stack.facilitator.verifyWith(() => ({ status: 200, body: { isValid: false, invalidReason: "insufficient_funds" } }));
  try {
    const first = await send();
    assert.equal(first.status, 402, first.body);
    assert.equal((await send()).status, 402, "the stored refusal");
  } finally {
    stack.facilitator.verifyWith(null);
  }
  const { key, events } = await keyOf(account);
  assert.deepEqual(wordsOf(events, key), ["rejected:insufficient_funds"]);
});
