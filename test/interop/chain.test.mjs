// Real clients, real facilitator, real chain: the official x402 clients pay x402-edge (workerd
// via Miniflare), which asks the official TypeScript facilitator, which settles our TestUSDC
// on a local anvil. Every paid check reads the chain: exactly one Transfer of the price from
// the payer to PAY_TO in the settlement's transaction, and a receipt naming that transaction.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { decodePaymentResponseHeader } from "@x402/fetch";
import { getAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeXPaymentResponse } from "x402-fetch";
import { officialV1Client, officialV2Client } from "../support/clients.mjs";
import { signFor } from "../support/flow.mjs";
import { verifyReceipt } from "../support/jws.mjs";
import { decodePaymentRequired, decodePaymentResponse } from "../support/pay.mjs";
import { startOrigin } from "../support/servers.mjs";
import { BASE, startWorker } from "../support/worker.mjs";
import { anvilAccount, startChain } from "./chain.mjs";
import { startOfficialFacilitator } from "./facilitator.mjs";

/** Per-test bound: a settlement on anvil takes well under a second. */
const CHAIN_TEST = { timeout: 20_000 };
const SETUP = { timeout: 60_000 };
/** Route prices in atomic units (wrangler.toml). */
const PRICE = { premium: 10_000n, reports: 50_000n, score: 2_500n };
const TX_HASH = /^0x[0-9a-f]{64}$/i;

const payers = {
  v2: anvilAccount(3),
  v2post: anvilAccount(4),
  v1: anvilAccount(5),
  expired: anvilAccount(7),
  twice: anvilAccount(8),
  burst: anvilAccount(9),
};
const PAY_TO = getAddress(anvilAccount(2).address);

let chain;
let facilitator;
let origin;
let worker;
before(async () => {
  chain = await startChain({ payers: Object.values(payers).map((a) => a.address), fund: 1_000_000n });
  facilitator = await startOfficialFacilitator({ chain: chain.chain, account: anvilAccount(1) });
  origin = await startOrigin();
  worker = await startWorker({
    vars: {
      ORIGIN_URL: origin.url,
      FACILITATOR_URL: facilitator.url,
      NETWORK: "eip155:84532",
      ASSET: getAddress(chain.token.address),
      PAY_TO,
    },
  });
}, SETUP);
after(async () => {
  await worker?.close();
  await origin?.close();
  await facilitator?.close();
  await chain?.stop();
}, SETUP);

async function jwks() {
  const res = await worker.fetch("/.well-known/jwks.json");
  assert.equal(res.status, 200);
  return res.json();
}

/** Opts the v2 client in to paying with our TestUSDC (it is not a well-known asset). */
function testUsdc() {
  return [{ network: "eip155:84532", asset: getAddress(chain.token.address), maxAmountPerPayment: "1000000" }];
}

const same = (a, b) => a.toLowerCase() === b.toLowerCase();

/** Balances of `payer` and PAY_TO, for before/after comparisons. */
async function balances(payer) {
  return { payer: await chain.balanceOf(payer), payTo: await chain.balanceOf(PAY_TO) };
}

/**
 * Asserts a paid response on chain: `settle` (decoded payment response) names a mined
 * transaction with exactly one Transfer of `price` from `payer` to PAY_TO, the balances moved
 * by `price` since `before`, and the PAYMENT-RECEIPT verifies and names the same transaction.
 */
async function assertPaidOnChain(res, settle, { payer, price, path, before: was }) {
  assert.equal(settle.success, true, JSON.stringify(settle));
  assert.match(settle.transaction, TX_HASH);
  assert.ok(same(settle.payer, payer), `settlement payer ${settle.payer}, want ${payer}`);

  const transfers = await chain.transfersIn(settle.transaction);
  assert.equal(transfers.length, 1, `one Transfer in ${settle.transaction}, got ${transfers.length}`);
  const [t] = transfers;
  assert.ok(same(t.from, payer), `Transfer from ${t.from}, want ${payer}`);
  assert.ok(same(t.to, PAY_TO), `Transfer to ${t.to}, want ${PAY_TO}`);
  assert.equal(t.value, price);
  const now = await balances(payer);
  assert.equal(was.payer - now.payer, price, "payer balance moved by the price");
  assert.equal(now.payTo - was.payTo, price, "PAY_TO balance moved by the price");

  const claims = verifyReceipt(res.headers.get("payment-receipt"), await jwks());
  assert.equal(claims.transaction, settle.transaction);
  assert.equal(claims.amount, String(price));
  assert.equal(claims.resourceUrl, BASE + path);
  assert.ok(same(claims.payer, payer));
  assert.ok(same(claims.payTo, PAY_TO));
  assert.ok(same(claims.asset, chain.token.address));
}

test("@x402/fetch (v2) pays a GET route on chain", CHAIN_TEST, async () => {
  const path = "/premium/chain-v2";
  const account = payers.v2;
  const was = await balances(account.address);
  const client = officialV2Client(worker, account, { allowedAssets: testUsdc() });
  const res = await client.fetch(path);
  const text = await res.text();
  assert.deepEqual(client.seen.map((s) => s.status), [402, 200], text);
  assert.deepEqual(JSON.parse(text), { ok: true, path, method: "GET" });
  const settle = decodePaymentResponseHeader(res.headers.get("payment-response"));
  assert.equal(settle.network, "eip155:84532");
  await assertPaidOnChain(res, settle, { payer: account.address, price: PRICE.premium, path, before: was });
});

test("@x402/fetch (v2) pays a POST route with a body on chain", CHAIN_TEST, async () => {
  const path = "/api/score";
  const account = payers.v2post;
  const was = await balances(account.address);
  const client = officialV2Client(worker, account, { allowedAssets: testUsdc() });
  const calls = origin.calls.length;
  const res = await client.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ doc: "hello" }),
  });
  const text = await res.text();
  assert.deepEqual(client.seen.map((s) => s.status), [402, 200], text);
  assert.equal(JSON.parse(text).method, "POST");
  const paid = origin.calls.slice(calls);
  assert.equal(paid.length, 1, "the origin is called once, for the paid request");
  assert.equal(paid[0].body, JSON.stringify({ doc: "hello" }), "the origin gets the body");
  const settle = decodePaymentResponseHeader(res.headers.get("payment-response"));
  await assertPaidOnChain(res, settle, { payer: account.address, price: PRICE.score, path, before: was });
});

async function payV1OnChain(account, path) {
  const was = await balances(account.address);
  const client = officialV1Client(worker, account);
  const res = await client.fetch(path);
  const text = await res.text();
  assert.deepEqual(client.seen.map((s) => s.status), [402, 200], text);
  assert.equal(JSON.parse(text).path, path);
  const v1 = decodeXPaymentResponse(res.headers.get("x-payment-response"));
  assert.equal(v1.network, "base-sepolia");
  const v2 = decodePaymentResponse(res);
  assert.equal(v2.transaction, v1.transaction);
  await assertPaidOnChain(res, v1, { payer: account.address, price: PRICE.reports, path, before: was });
}

test("x402-fetch (v1) pays on chain", CHAIN_TEST, async () => {
  await payV1OnChain(payers.v1, "/reports/chain-v1");
});

test("a payer without funds gets 402 with the facilitator's reason; nothing is served", CHAIN_TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const client = officialV2Client(worker, account, { allowedAssets: testUsdc() });
  const calls = origin.calls.length;
  const settles = facilitator.count.settle;
  const res = await client.fetch("/premium/broke");
  const text = await res.text();
  assert.deepEqual(client.seen.map((s) => s.status), [402, 402], text);
  assert.equal(JSON.parse(text).error, "invalid_exact_evm_insufficient_balance");
  assert.equal(decodePaymentRequired(res).error, "invalid_exact_evm_insufficient_balance");
  assert.equal(res.headers.get("payment-response"), null);
  assert.equal(origin.calls.length, calls, "the origin is not called");
  assert.equal(facilitator.count.settle, settles, "nothing is settled");
  assert.deepEqual(await chain.transfersFrom(account.address), []);
});

test("an expired authorization gets 402; nothing is served or moved", CHAIN_TEST, async () => {
  const account = payers.expired;
  const path = "/premium/expired";
  const now = Math.floor(Date.now() / 1000);
  const pay = await signFor(worker, path, account, { validAfter: now - 600, validBefore: now - 5 });
  const calls = origin.calls.length;
  const res = await worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  const text = await res.text();
  assert.equal(res.status, 402, text);
  assert.match(JSON.parse(text).error, /valid_before|expired/);
  assert.equal(origin.calls.length, calls, "the origin is not called");
  assert.deepEqual(await chain.transfersFrom(account.address), []);
});

test("a not-yet-valid authorization passes the Worker's skew; the facilitator refuses it", CHAIN_TEST, async () => {
  const account = payers.expired;
  const path = "/premium/early";
  const now = Math.floor(Date.now() / 1000);
  const pay = await signFor(worker, path, account, { validAfter: now + 30, validBefore: now + 55 });
  const calls = origin.calls.length;
  const verifies = facilitator.count.verify;
  const res = await worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  const text = await res.text();
  assert.equal(res.status, 402, text);
  assert.equal(facilitator.count.verify, verifies + 1, "the facilitator was asked");
  assert.equal(JSON.parse(text).error, "invalid_exact_evm_payload_authorization_valid_after");
  assert.equal(origin.calls.length, calls, "the origin is not called");
  assert.deepEqual(await chain.transfersFrom(account.address), []);
});

/** Asserts a response to a duplicate is not a success with a transaction other than `tx`. */
function assertNoSecondSettlement(status, headers, text, tx) {
  if (status >= 200 && status < 300) {
    const settle = decodePaymentResponseHeader(headers.get("payment-response"));
    assert.equal(settle.transaction, tx, "a duplicate got a success with a different transaction");
  } else {
    assert.ok(!text.includes('"ok":true'), `a ${status} answer carries the origin's content: ${text}`);
  }
}

test("the same signed payment sent twice moves money once", CHAIN_TEST, async (t) => {
  const account = payers.twice;
  const path = "/premium/twice";
  const was = await balances(account.address);
  const pay = await signFor(worker, path, account);
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  const first = await worker.fetch(path, { headers });
  const firstText = await first.text();
  assert.equal(first.status, 200, firstText);
  const settle = decodePaymentResponse(first);
  await assertPaidOnChain(first, settle, { payer: account.address, price: PRICE.premium, path, before: was });

  const second = await worker.fetch(path, { headers });
  const secondText = await second.text();
  t.diagnostic(`second answer: ${second.status} ${secondText.slice(0, 120)}`);
  assertNoSecondSettlement(second.status, second.headers, secondText, settle.transaction);
  const moved = await chain.transfersFrom(account.address);
  assert.equal(moved.length, 1, "one Transfer from the payer in total");
  assert.equal(was.payer - (await chain.balanceOf(account.address)), PRICE.premium);
});

test("the same signed payment sent 10x concurrently moves money once", CHAIN_TEST, async (t) => {
  const account = payers.burst;
  const path = "/premium/burst";
  const was = await balances(account.address);
  const pay = await signFor(worker, path, account);
  const calls = origin.calls.length;
  const answers = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const res = await worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
      return { status: res.status, headers: res.headers, text: await res.text() };
    }),
  );
  const reason = (a) => (a.status === 200 ? "" : `:${a.text.match(/"error":"([^"]*)"/)?.[1] ?? "?"}`);
  t.diagnostic(`answers: ${answers.map((a) => a.status + reason(a)).join(" ")}`);
  t.diagnostic(`origin calls: ${origin.calls.length - calls}`);
  const ok = answers.filter((a) => a.status >= 200 && a.status < 300);
  const txs = new Set(ok.map((a) => decodePaymentResponseHeader(a.headers.get("payment-response")).transaction));
  const statuses = answers.map((a) => a.status);
  assert.equal(txs.size, 1, `one distinct settled transaction, got ${[...txs]} (statuses ${statuses})`);
  const [tx] = txs;
  for (const a of answers) assertNoSecondSettlement(a.status, a.headers, a.text, tx);

  const moved = await chain.transfersFrom(account.address);
  assert.equal(moved.length, 1, "one Transfer from the payer in total");
  assert.equal(moved[0].transactionHash, tx);
  assert.equal(moved[0].value, PRICE.premium);
  const now = await balances(account.address);
  assert.equal(was.payer - now.payer, PRICE.premium, "the payer paid once");
  assert.equal(now.payTo - was.payTo, PRICE.premium, "PAY_TO was paid once");
});
