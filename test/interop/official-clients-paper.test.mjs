// The official x402 clients pay x402-edge in paper mode (no chain): `@x402/fetch` (v2) and the
// legacy `x402-fetch` (v1) each get a 402, pay, and get the origin's 200 with a settlement
// whose transaction is a paper one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodePaymentResponseHeader } from "@x402/fetch";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeXPaymentResponse } from "x402-fetch";
import { officialV1Client, officialV2Client } from "../support/clients.mjs";
import { TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ vars: { FACILITATOR_URL: "paper" } });

const PAPER_TX = /^paper:0x[0-9a-f]{64}$/i;

test("@x402/fetch (v2) pays in paper mode: 402, then 200 with a paper settlement", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const client = officialV2Client(stack.worker, account);
  const res = await client.fetch("/premium/official-v2");
  const text = await res.text();
  assert.deepEqual(client.seen.map((s) => s.status), [402, 200], text);
  assert.ok(client.seen[1].headers["payment-signature"], "the retry carries PAYMENT-SIGNATURE");
  assert.deepEqual(JSON.parse(text), { ok: true, path: "/premium/official-v2", method: "GET" });
  const settle = decodePaymentResponseHeader(res.headers.get("payment-response"));
  assert.equal(settle.success, true);
  assert.match(settle.transaction, PAPER_TX);
  assert.equal(settle.payer.toLowerCase(), account.address.toLowerCase());
});

async function payV1(client, path) {
  const res = await client.fetch(path);
  const text = await res.text();
  assert.deepEqual(client.seen.map((s) => s.status), [402, 200], text);
  assert.ok(client.seen[1].headers["x-payment"], "the retry carries X-PAYMENT");
  assert.equal(JSON.parse(text).path, path);
  const settle = decodeXPaymentResponse(res.headers.get("x-payment-response"));
  assert.equal(settle.success, true);
  assert.match(settle.transaction, PAPER_TX);
  assert.equal(settle.network, "base-sepolia");
}

test("x402-fetch (v1) pays in paper mode: 402, then 200 with a paper settlement", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  await payV1(officialV1Client(stack.worker, account), "/reports/official-v1");
});
