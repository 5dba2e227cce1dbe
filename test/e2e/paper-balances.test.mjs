// Paper balances (GET /.well-known/x402/paper/balances/{address}): what the browser
// paywall's paper wallet shows. The starting balance until a payment, then less by exactly
// the price; one entry per token the routes accept; a bad address or method is refused;
// with a real facilitator the path is the origin's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";
import { startFacilitator } from "../support/servers.mjs";

const ASSET = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
const paper = useStack({ vars: { FACILITATOR_URL: "paper", PAPER_BALANCE: "$1" } });
const live = useStack({ facilitator: startFacilitator });

async function balances(worker, address, init) {
  const res = await worker.fetch(`/.well-known/x402/paper/balances/${address}`, init);
  return { status: res.status, body: await res.json().catch(() => null) };
}

test("a fresh payer holds the starting balance; a payment takes exactly the price", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const before = await balances(paper.worker, account.address.toLowerCase());
  assert.equal(before.status, 200);
  assert.deepEqual(before.body, {
    payer: account.address,
    balances: [{ network: "eip155:84532", asset: ASSET, name: "USDC", decimals: 6, amount: "1000000" }],
  });
  const pay = await signFor(paper.worker, "/premium/a", account);
  const res = await paper.worker.fetch("/premium/a", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  assert.equal(res.status, 200, await res.text());
  const after = await balances(paper.worker, account.address);
  assert.equal(after.body.balances[0].amount, String(1_000_000 - Number(pay.requirements.amount)));
});

test("a bad address is 400, a write is 405, and nothing is priced or passed on", TEST, async () => {
  const calls = paper.origin.calls.length;
  for (const bad of ["nobody", "0x1234", "0x0x" + "ab".repeat(19), "0x" + "aB".repeat(20)]) {
    const got = await balances(paper.worker, bad);
    assert.deepEqual(got, { status: 400, body: { error: "invalid_address" } }, bad);
  }
  const post = await balances(paper.worker, "0x" + "00".repeat(20), { method: "POST", body: "{}" });
  assert.deepEqual(post, { status: 405, body: { error: "method_not_allowed" } });
  assert.equal(paper.origin.calls.length, calls, "the origin never sees these paths");
});

test("with a real facilitator there is no paper ledger: the path goes to the origin", TEST, async () => {
  const calls = live.origin.calls.length;
  const res = await live.worker.fetch(`/.well-known/x402/paper/balances/0x${"00".repeat(20)}`);
  await res.arrayBuffer();
  assert.equal(live.origin.calls.length, calls + 1);
});

// Concurrent distinct payments of one payer (an outside probe's find): each paper settle
// checks the balance and then debits it, so two at once could spend one balance twice.
const scarce = useStack({ vars: { FACILITATOR_URL: "paper", PAPER_BALANCE: "$0.03" } });

test("paper: 8 concurrent payments of one payer holding 3 prices: 3 served, each debited, the rest 402 (settle refused, content withheld)", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pays = [];
  for (let i = 0; i < 8; i++) pays.push(await signFor(scarce.worker, `/premium/race-${i}`, account));
  const answers = await Promise.all(pays.map((p, i) =>
    scarce.worker.fetch(`/premium/race-${i}`, { headers: { "PAYMENT-SIGNATURE": p.v2Header } }).then(async (r) => ({ status: r.status, body: await r.text() }))));
  const served = answers.filter((a) => a.status === 200).length;
  const res = await scarce.worker.fetch(`/.well-known/x402/paper/balances/${account.address}`);
  const left = BigInt((await res.json()).balances[0].amount);
  const price = BigInt(pays[0].requirements.amount);
  const statuses = answers.map((a) => a.status).join(",");
  assert.equal(served, 3, `served ${served} with a balance of 3 prices, balance left ${left}: ${statuses}`);
  assert.ok(answers.every((a) => a.status === 200 || a.status === 402), statuses);
  assert.equal(left, 30_000n - price * BigInt(served), `served ${served}, balance left ${left}`);
});
