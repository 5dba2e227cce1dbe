// Paper mode (FACILITATOR_URL = "paper"): real signatures, no chain. A paid retry gets the
// origin's answer, a PAYMENT-RESPONSE and a signed receipt that verifies against the JWKS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { BASE, TEST_RECEIPT_PUBLIC_X, wranglerConfig } from "../support/worker.mjs";
import { decodeHeader, decodePaymentResponse } from "../support/pay.mjs";
import { verifyReceipt } from "../support/jws.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const vars = wranglerConfig().vars;
const stack = useStack({ vars: { FACILITATOR_URL: "paper" } });

async function jwks() {
  const res = await stack.worker.fetch("/.well-known/jwks.json");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(Array.isArray(body.keys) && body.keys.length >= 1, "JWKS has keys");
  return body;
}

function assertSettled(settle, account, networks = ["eip155:84532"]) {
  assert.equal(settle.success, true);
  // Paper transactions may be marked as such ("paper:0x…") so nobody mistakes them for real ones.
  assert.match(settle.transaction, /^(paper:)?0x[0-9a-f]{64}$/i);
  assert.ok(networks.includes(settle.network), `network ${settle.network}, want one of ${networks}`);
  assert.equal(settle.payer.toLowerCase(), account.address.toLowerCase());
}

test("v2: PAYMENT-SIGNATURE pays, the origin answers, a signed receipt comes back", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/hello";
  const pay = await signFor(stack.worker, path, account);
  const calls = stack.origin.calls.length;
  const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.deepEqual(JSON.parse(text), { ok: true, path, method: "GET" });
  assert.equal(stack.origin.calls.length, calls + 1, "the origin is called once for a paid request");

  const settle = decodePaymentResponse(res);
  assertSettled(settle, account);
  const receipt = settle.extensions?.["offer-receipt"]?.info?.receipt;
  assert.equal(receipt?.format, "jws");
  assert.equal(typeof receipt.signature, "string");
  assert.equal(res.headers.get("payment-receipt"), receipt.signature);

  const keys = await jwks();
  assert.ok(keys.keys.some((k) => k.x === TEST_RECEIPT_PUBLIC_X), "JWKS publishes the signing key");
  const claims = verifyReceipt(receipt.signature, keys);
  assert.equal(claims.network, "eip155:84532");
  assert.equal(claims.resourceUrl, BASE + path);
  assert.equal(claims.payer.toLowerCase(), account.address.toLowerCase());
  assert.equal(claims.transaction, settle.transaction);
  assert.equal(claims.amount, "10000");
  assert.equal(claims.payTo.toLowerCase(), vars.PAY_TO.toLowerCase());
  assert.equal(claims.asset.toLowerCase(), vars.ASSET.toLowerCase());
});

test("a tampered receipt does not verify", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const pay = await signFor(stack.worker, "/premium/tamper", account);
  const res = await stack.worker.fetch("/premium/tamper", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  const [h, p, s] = res.headers.get("payment-receipt").split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  const forged = Buffer.from(JSON.stringify({ ...claims, amount: "1" })).toString("base64url");
  const keys = await jwks();
  assert.throws(() => verifyReceipt(`${h}.${forged}.${s}`, keys), /does not verify/);
});

test("v1: X-PAYMENT pays and gets PAYMENT-RESPONSE and X-PAYMENT-RESPONSE", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/reports/7";
  const pay = await signFor(stack.worker, path, account);
  const res = await stack.worker.fetch(path, { headers: { "X-PAYMENT": pay.v1Header } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(JSON.parse(text).path, path);
  // A v1 payment's settlement may name the network either way in the v2 header; the v1
  // header uses v1 names, as v1 clients expect.
  const v2 = decodePaymentResponse(res);
  assertSettled(v2, account, ["eip155:84532", "base-sepolia"]);
  const v1 = decodeHeader(res.headers.get("x-payment-response"), "X-PAYMENT-RESPONSE");
  assertSettled(v1, account, ["base-sepolia"]);
  assert.equal(v1.transaction, v2.transaction);
  assert.equal(verifyReceipt(res.headers.get("payment-receipt"), await jwks()).amount, "50000");
});

test("the same payment header twice is settled once and answered the same", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/twice";
  const pay = await signFor(stack.worker, path, account);
  const headers = { "PAYMENT-SIGNATURE": pay.v2Header };
  const first = await stack.worker.fetch(path, { headers });
  const firstBody = await first.text();
  assert.equal(first.status, 200, firstBody);
  const second = await stack.worker.fetch(path, { headers });
  assert.equal(second.status, 200);
  assert.equal(await second.text(), firstBody);
  for (const name of ["payment-response", "payment-receipt"]) {
    assert.equal(second.headers.get(name), first.headers.get(name), name);
  }
  // The paper ledger was debited once: $10 start, one $0.01 payment.
  const key = `paper:balance:84532:${vars.ASSET.toLowerCase()}:${account.address.toLowerCase()}`;
  assert.equal(await stack.worker.kv.get(key), "9990000");
});
