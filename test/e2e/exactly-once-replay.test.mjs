// A payment is bound to the resource it first paid for (method, path and query): sent for
// another path, another query or another method it is a replay, 402 payment_already_used,
// before any facilitator call; the original resource still gets its stored answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodePaymentRequired } from "../support/pay.mjs";
import { assertSameAnswer, snapshot, startChainFacilitator, storm } from "../support/chain.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ facilitator: startChainFacilitator });

async function assertReplay(res, what) {
  const text = await res.text();
  assert.equal(res.status, 402, `${what}: ${text}`);
  assert.equal(JSON.parse(text).error, "payment_already_used", what);
  assert.equal(decodePaymentRequired(res).error, "payment_already_used", what);
  assert.equal(res.headers.get("payment-response"), null, what);
}

test("a settled payment replayed on another path or query: 402 payment_already_used, no facilitator call", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/premium/a?page=1", account);
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  const paid = await snapshot(await stack.worker.fetch("/premium/a?page=1", { headers }));
  assert.equal(paid.status, 200, paid.body);
  const counts = { ...stack.facilitator.count };
  const originCalls = stack.origin.calls.length;

  for (const other of ["/premium/b?page=1", "/premium/a?page=2", "/premium/a", "/premium/a/x?page=1"]) {
    await assertReplay(await stack.worker.fetch(other, { headers }), other);
  }
  assert.deepEqual(stack.facilitator.count, counts, "no facilitator call");
  assert.equal(stack.origin.calls.length, originCalls, "no origin call");
  assertSameAnswer(await snapshot(await stack.worker.fetch("/premium/a?page=1", { headers })), paid, "the paid resource");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
});

test("a settled payment replayed with another method on an any-method route: 402 payment_already_used", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/reports/9", account);
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  const paid = await snapshot(await stack.worker.fetch("/reports/9", { headers }));
  assert.equal(paid.status, 200, paid.body);
  const counts = { ...stack.facilitator.count };
  for (const method of ["POST", "PUT", "DELETE"]) {
    await assertReplay(await stack.worker.fetch("/reports/9", { method, headers, body: method === "DELETE" ? undefined : "{}" }), method);
  }
  assert.deepEqual(stack.facilitator.count, counts, "no facilitator call");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
});

test("a refused payment replayed elsewhere is also payment_already_used", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/premium/r1", account);
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  stack.facilitator.verifyWith(() => ({ status: 200, body: { isValid: false, invalidReason: "insufficient_funds" } }));
  try {
    assert.equal((await stack.worker.fetch("/premium/r1", { headers })).status, 402);
  } finally {
    stack.facilitator.verifyWith(null);
  }
  const counts = { ...stack.facilitator.count };
  await assertReplay(await stack.worker.fetch("/premium/r2", { headers }), "/premium/r2");
  assert.deepEqual(stack.facilitator.count, counts, "no facilitator call");
});

test("one payment sent to 2 paths at once (10 each): one path is paid once, the other is a replay", { timeout: 30_000 }, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/premium/race-a", account);
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  const paths = Array.from({ length: 20 }, (_, i) => (i % 2 ? "/premium/race-b" : "/premium/race-a"));
  const answers = await storm(20, (i) => stack.worker.fetch(paths[i], { headers }).then(snapshot));
  const byPath = (p, status) => answers.filter((a, i) => paths[i] === p && a.status === status).length;
  const winner = paths[answers.findIndex((a) => a.status === 200)] ?? "none";
  const loser = winner === "/premium/race-a" ? "/premium/race-b" : "/premium/race-a";
  const seen = answers.map((a, i) => `${paths[i]} ${a.status} ${a.body.slice(0, 60)}`).join("\n");
  assert.equal(byPath(winner, 200) + byPath(winner, 409), 10, seen);
  assert.ok(byPath(winner, 200) >= 1);
  assert.equal(byPath(loser, 402), 10, "the other path: all replays");
  answers.forEach((a, i) => {
    if (paths[i] === loser) assert.equal(JSON.parse(a.body).error, "payment_already_used");
  });
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
});
