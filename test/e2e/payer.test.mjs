// A payer audits its own spending with no account: a nonce from the paywall, a message
// signed with its wallet (EIP-191 personal_sign, viem), its own ledger events back. A wrong
// signer, another host, an expired message or a reused nonce is 401.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const CASE = { timeout: 20_000 };
const HOST = "127.0.0.1:8787";
const stack = useStack({ vars: { FACILITATOR_URL: "paper" } });
const alice = privateKeyToAccount(generatePrivateKey());
const bob = privateKeyToAccount(generatePrivateKey());

async function pay(path, account) {
  const p = await signFor(stack.worker, path, account);
  const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": p.v2Header } });
  assert.equal(res.status, 200, await res.text());
}

async function nonce() {
  const res = await stack.worker.fetch("/.well-known/x402/nonce");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const body = await res.json();
  assert.match(body.nonce, /^\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/);
  assert.ok(Date.parse(body.expiresAt) > Date.now());
  return body.nonce;
}

/** The message the README tells a payer to sign. */
function message({ host = HOST, payer, nonce, expiresMs }) {
  const expires = new Date(Math.floor(expiresMs / 1000) * 1000).toISOString();
  return `x402-edge: read my payments\nHost: ${host}\nPayer: ${payer}\nNonce: ${nonce}\nExpires: ${expires}`;
}

async function ask(signer, fields, extra = {}) {
  const text = message(fields);
  const signature = await signer.signMessage({ message: text });
  return stack.worker.fetch("/.well-known/x402/payments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: text, signature, ...extra }),
  });
}

let paid = false;
async function payments() {
  if (paid) return;
  paid = true;
  await pay("/premium/payer-a", alice);
  await pay("/premium/payer-b", alice);
  await pay("/premium/payer-c", bob);
}

test("a payer's signed request answers its own events, and only its own", CASE, async () => {
  await payments();
  const res = await ask(alice, { payer: alice.address, nonce: await nonce(), expiresMs: Date.now() + 120_000 });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const events = (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => `${e.event} ${e.path}`), [
    "locked /premium/payer-a",
    "released /premium/payer-a",
    "locked /premium/payer-b",
    "released /premium/payer-b",
  ]);
  assert.ok(events.every((e) => e.payer.toLowerCase() === alice.address.toLowerCase()));
});

test("a nonce is spent once: the same signed request again is 401", CASE, async () => {
  await payments();
  const fields = { payer: bob.address, nonce: await nonce(), expiresMs: Date.now() + 120_000 };
  const text = message(fields);
  const signature = await bob.signMessage({ message: text });
  const send = () => stack.worker.fetch("/.well-known/x402/payments", { method: "POST", body: JSON.stringify({ message: text, signature }) });
  const first = await send();
  assert.equal(first.status, 200);
  await first.arrayBuffer();
  const again = await send();
  assert.equal(again.status, 401);
  assert.deepEqual(await again.json(), { error: "payer_unauthorized", reason: "the nonce was used already" });
});

test("another signer, another host, an expired or far-off message, a forged nonce: 401", CASE, async () => {
  const cases = [
    [bob, { payer: alice.address }, "signed by another address than Payer"],
    [alice, { payer: alice.address, host: "evil.example" }, "signed for another host"],
    [alice, { payer: alice.address, expiresMs: Date.now() - 1_000 }, "the message has expired"],
    [alice, { payer: alice.address, expiresMs: Date.now() + 3_600_000 }, "the message expires more than 5 minutes ahead"],
    [alice, { payer: alice.address, nonce: "9999999999.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA" }, "the nonce is not ours or has expired"],
  ];
  for (const [signer, fields, reason] of cases) {
    const res = await ask(signer, { nonce: await nonce(), expiresMs: Date.now() + 120_000, ...fields });
    assert.equal(res.status, 401, reason);
    assert.deepEqual(await res.json(), { error: "payer_unauthorized", reason });
  }
  const bad = await stack.worker.fetch("/.well-known/x402/payments", { method: "POST", body: "not json" });
  assert.equal(bad.status, 400);
  await bad.arrayBuffer();
  const get = await stack.worker.fetch("/.well-known/x402/payments");
  assert.equal(get.status, 405);
  await get.arrayBuffer();
});

test("a payer pages through its events with limit and the next cursor", TEST, async () => {
  await payments();
  const res = await ask(alice, { payer: alice.address, nonce: await nonce(), expiresMs: Date.now() + 120_000 }, { limit: 3 });
  assert.equal(res.status, 200);
  assert.equal((await res.text()).split("\n").filter(Boolean).length, 3);
  const cursor = res.headers.get("x402-next-cursor");
  assert.match(cursor, /^\d+\.\d+\.\d+$/);
  const rest = await ask(alice, { payer: alice.address, nonce: await nonce(), expiresMs: Date.now() + 120_000 }, { cursor });
  assert.deepEqual((await rest.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l).event), ["released"]);
});
