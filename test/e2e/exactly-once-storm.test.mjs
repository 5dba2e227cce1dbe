// Exactly once under concurrency: 50 identical paid requests at once settle once and run the
// origin once; every caller gets the paid answer, or 409 payment_in_progress and then the
// paid answer on retry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodePaymentResponse } from "../support/pay.mjs";
import { assertSameAnswer, snapshot, startChainFacilitator, storm } from "../support/chain.mjs";
import { signFor } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const N = 50;
const STORM = { timeout: 30_000 };

const stack = useStack({ facilitator: startChainFacilitator });

async function runStorm(t, method, path, body, { minBusy = 0 } = {}) {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, path, account, {}, { method });
  const nonce = pay.authorization.nonce;
  const originCalls = stack.origin.calls.length;
  const init = () => ({ method, body, headers: { "PAYMENT-SIGNATURE": pay.v2Header, "content-type": "application/json" } });

  const answers = await storm(N, () => stack.worker.fetch(path, init()).then(snapshot));

  const paid = answers.filter((a) => a.status === 200);
  const busy = answers.filter((a) => a.status === 409);
  t.diagnostic(`${method} ${path}: ${paid.length} × 200, ${busy.length} × 409 of ${N}`);
  assert.equal(paid.length + busy.length, N, `only 200 or 409: ${answers.map((a) => a.status).join(",")}`);
  assert.ok(paid.length >= 1, "the first request is paid");
  assert.ok(busy.length >= minBusy, `at least ${minBusy} × 409`);
  for (const b of busy) {
    assert.deepEqual(JSON.parse(b.body), { error: "payment_in_progress" });
    assert.match(b.headers["retry-after"] ?? "", /^[1-9][0-9]*$/, "409 has Retry-After");
  }
  const first = paid[0];
  const settle = decodePaymentResponse({ headers: new Headers(first.headers) });
  assert.equal(settle.success, true);
  assert.equal(settle.transaction, stack.facilitator.transaction(nonce), "the one charge's transaction");
  assert.ok(first.headers["payment-receipt"], "a receipt");
  paid.forEach((a, i) => assertSameAnswer(a, first, `200 #${i}`));

  // Those told to wait retry (sequentially) and get the same paid answer.
  for (const [i] of busy.entries()) {
    assertSameAnswer(await snapshot(await stack.worker.fetch(path, init())), first, `retry of 409 #${i}`);
  }
  assert.deepEqual(stack.facilitator.nonce(nonce), { verify: 1, settle: 1, charged: true }, "one verify, one settle");
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
}

test(`${N} concurrent identical paid POSTs: one settle, one origin call`, STORM, async (t) => {
  await runStorm(t, "POST", "/api/score", JSON.stringify({ doc: "hello" }));
});

test(`${N} concurrent identical paid GETs: one settle, one origin call`, STORM, async (t) => {
  await runStorm(t, "GET", "/premium/storm?x=1", undefined);
});

test(`${N} concurrent POSTs while /settle takes 6 s: the waiters get 409, then the paid answer`, STORM, async (t) => {
  // Longer than the ~5 s a duplicate waits, shorter than FACILITATOR_TIMEOUT_MS (10 s).
  stack.facilitator.nextSettle({ delayMs: 6_000 });
  await runStorm(t, "POST", "/api/score", JSON.stringify({ doc: "slow" }), { minBusy: 1 });
});
