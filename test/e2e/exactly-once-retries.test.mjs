// Exactly once under retries: a settled payment sent again 100 times gets the first answer
// each time (same body, PAYMENT-RESPONSE and receipt) with one /settle and one origin call;
// a refused payment gets the same refusal without the facilitator; an origin failure
// charges nothing and the same payment may be retried and then pays.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodePaymentRequired, decodePaymentResponse } from "../support/pay.mjs";
import { assertSameAnswer, snapshot, startChainFacilitator } from "../support/chain.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const RETRIES = 100;

const stack = useStack({ facilitator: startChainFacilitator });

test(`${RETRIES} sequential retries of a settled POST: one settle, one origin call, identical answers`, { timeout: 30_000 }, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/api/score?lang=en";
  const pay = await signFor(stack.worker, path, account, {}, { method: "POST" });
  const originCalls = stack.origin.calls.length;
  const send = () =>
    stack.worker.fetch(path, { method: "POST", body: '{"doc":"x"}', headers: { "PAYMENT-SIGNATURE": pay.v2Header } }).then(snapshot);

  const first = await send();
  assert.equal(first.status, 200, first.body);
  const settle = decodePaymentResponse({ headers: new Headers(first.headers) });
  assert.equal(settle.transaction, stack.facilitator.transaction(pay.authorization.nonce));
  for (let i = 0; i < RETRIES; i++) assertSameAnswer(await send(), first, `retry ${i + 1}`);
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 1, charged: true });
  assert.equal(stack.origin.calls.length - originCalls, 1, "the origin ran once");
});

test("a refused payment: the retry gets the same 402 without calling the facilitator", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/refused";
  const pay = await signFor(stack.worker, path, account);
  stack.facilitator.verifyWith(() => ({ status: 400, body: { isValid: false, invalidReason: "insufficient_funds" } }));
  const originCalls = stack.origin.calls.length;
  try {
    for (const attempt of ["first", "retry"]) {
      const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
      const body = await res.json();
      assert.equal(res.status, 402, attempt);
      assert.equal(body.error, "insufficient_funds", attempt);
      assert.equal(decodePaymentRequired(res).error, "insufficient_funds", attempt);
    }
  } finally {
    stack.facilitator.verifyWith(null);
  }
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 0, charged: false });
  assert.equal(stack.origin.calls.length, originCalls, "the origin never ran");
});

test("origin 503: passed through, nothing settled; the same payment retried then pays once", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/flaky";
  const pay = await signFor(stack.worker, path, account);
  const send = () => stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } }).then(snapshot);
  stack.origin.respondWith(503, "down for a moment");
  let failed;
  try {
    failed = await send();
  } finally {
    stack.origin.reset();
  }
  assert.equal(failed.status, 503);
  assert.equal(failed.body, "down for a moment");
  assert.equal(failed.headers["payment-response"], undefined, "nothing settled");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 1, settle: 0, charged: false });

  const paid = await send();
  assert.equal(paid.status, 200, paid.body);
  assert.deepEqual(JSON.parse(paid.body), { ok: true, path, method: "GET" });
  assertSameAnswer(await send(), paid, "retry after paying");
  assert.deepEqual(stack.facilitator.nonce(pay.authorization.nonce), { verify: 2, settle: 1, charged: true });
});

test("the first answer has every origin header; a replay has the content headers, no cookie", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/headers";
  const pay = await signFor(stack.worker, path, account);
  stack.origin.respondWith(200, "article", { etag: '"v7"', "set-cookie": "session=abc; Path=/", "x-origin": "yes" });
  try {
    const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
    const first = await stack.worker.fetch(path, { headers });
    assert.equal(await first.text(), "article");
    assert.equal(first.headers.get("set-cookie"), "session=abc; Path=/");
    const again = await stack.worker.fetch(path, { headers });
    assert.equal(await again.text(), "article");
    assert.equal(again.headers.get("set-cookie"), null, "a replay never hands out the first payer's cookie");
    for (const name of ["etag", "x-origin", "content-type", "payment-response", "payment-receipt"]) {
      assert.equal(again.headers.get(name), first.headers.get(name), name);
    }
  } finally {
    stack.origin.reset();
  }
});
