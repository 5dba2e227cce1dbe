// Per-payer policy in workerd: blocked payers and allow lists; daily caps (reached exactly,
// a 50-way storm of distinct payments at the cap, a route's own cap); rates with
// Retry-After; maxPayersPerMinute; a forged `from`; the operator's block, unblock and cap
// through the admin API; alerts to a webhook; bad policies make the configuration invalid.
// Every payer is judged on the recovered signer, before any facilitator call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { flattenedVerify, importJWK } from "jose";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader } from "../support/pay.mjs";
import { signFor } from "../support/flow.mjs";
import { readLedger, wordsOf } from "../support/ledger.mjs";
import { startOrigin, startServer } from "../support/servers.mjs";
import { TEST_RECEIPT_PUBLIC_X, withWorker, wranglerConfig } from "../support/worker.mjs";

const CASE = { timeout: 60_000 };
const TOKEN = "an-admin-token-for-the-policy-tests";
const bearer = { authorization: `Bearer ${TOKEN}` };
const newPayer = () => privateKeyToAccount(generatePrivateKey());
const alice = newPayer();
const bob = newPayer();

async function pay(worker, path, account, init = {}) {
  const p = await signFor(worker, path, account);
  const res = await worker.fetch(path, { ...init, headers: { ...(init.headers ?? {}), "PAYMENT-SIGNATURE": p.v2Header } });
  return { status: res.status, headers: res.headers, body: await res.text(), payment: p };
}

/** Runs `fn(worker, origin)` on a paper-mode Worker in front of a fresh origin. */
async function withPolicy(vars, fn, secrets = {}) {
  const origin = await startOrigin();
  try {
    return await withWorker({ vars: { ORIGIN_URL: origin.url, FACILITATOR_URL: "paper", ...vars }, secrets }, (w) => fn(w, origin));
  } finally {
    await origin.close();
  }
}

/** Seconds from now to the next UTC midnight. */
const toMidnight = () => 86_400 - (Math.floor(Date.now() / 1000) % 86_400);

function assertCapRefusal(answer) {
  assert.equal(answer.status, 402, answer.body);
  assert.equal(JSON.parse(answer.body).error, "payer_daily_cap_exceeded", "the v1 body");
  assert.equal(decodeHeader(answer.headers.get("payment-required")).error, "payer_daily_cap_exceeded", "the v2 header");
  const wait = Number(answer.headers.get("retry-after"));
  assert.ok(Math.abs(wait - toMidnight()) <= 5, `Retry-After ${wait} until the next UTC day (${toMidnight()})`);
}

test("a blocked payer is refused with 403 before any claim; others pay; per-route allow lists", CASE, async () => {
  const routes = structuredClone(wranglerConfig().vars.ROUTES);
  routes["/reports/:id"].policy = { allowedPayers: [alice.address.toUpperCase().replace("0X", "0x")] };
  await withPolicy({ POLICY: { blockedPayers: [bob.address.toLowerCase()] }, ROUTES: routes }, async (worker, origin) => {
    const calls = origin.calls.length;
    for (let i = 0; i < 2; i++) {
      const refused = await pay(worker, "/premium/blocked", bob);
      assert.equal(refused.status, 403);
      assert.deepEqual(JSON.parse(refused.body), { error: "payer_blocked" });
    }
    assert.equal(origin.calls.length, calls, "the origin never saw the blocked payer");
    assert.equal((await pay(worker, "/premium/open", alice)).status, 200);
    assert.equal((await pay(worker, "/reports/1", alice)).status, 200);
    assert.equal((await pay(worker, "/reports/2", newPayer())).status, 403, "not on the allow list");
    const ledger = await readLedger(worker);
    const bobs = ledger.filter((e) => e.payer.toLowerCase() === bob.address.toLowerCase());
    assert.deepEqual(wordsOf(bobs, bobs[0].paymentKey), ["rejected:payer_blocked"], "one event however often");
  });
});

test("the daily cap is reached exactly: the last payment that fits is served, the next refused with a 402", CASE, async () => {
  const payer = newPayer();
  await withPolicy({ POLICY: { payerDailyCap: "$0.03" } }, async (worker, origin) => {
    for (let i = 0; i < 3; i++) assert.equal((await pay(worker, `/premium/cap-${i}`, payer)).status, 200, `payment ${i}`);
    const served = origin.calls.length;
    const refused = await pay(worker, "/premium/cap-3", payer);
    assertCapRefusal(refused);
    assert.equal(origin.calls.length, served, "the origin was not called");
    // A retry of a settled payment is its stored answer, not a new charge.
    const again = await worker.fetch("/premium/cap-3", { headers: { "PAYMENT-SIGNATURE": refused.payment.v2Header } });
    assert.equal(again.status, 402);
    await again.arrayBuffer();
    assert.equal((await pay(worker, "/premium/other", newPayer())).status, 200, "another payer has its own cap");
    const ledger = await readLedger(worker);
    const rejected = ledger.filter((e) => e.reason === "payer_daily_cap_exceeded");
    assert.equal(rejected.length, 1, "one rejected event for the refused payment");
    assert.equal(rejected[0].payer, payer.address);
  });
});

test("an origin failure refunds the reservation: the payer can spend it again", CASE, async () => {
  const payer = newPayer();
  await withPolicy({ POLICY: { payerDailyCap: "$0.02" } }, async (worker, origin) => {
    assert.equal((await pay(worker, "/premium/r-0", payer)).status, 200);
    origin.respondWith(500, "down");
    assert.equal((await pay(worker, "/premium/r-1", payer)).status, 500, "the origin's failure, not charged");
    origin.reset();
    assert.equal((await pay(worker, "/premium/r-2", payer)).status, 200, "the refund freed its room");
    assertCapRefusal(await pay(worker, "/premium/r-3", payer));
  });
});

test("50 concurrent distinct payments from one payer at the cap: settled total never over it", CASE, async () => {
  const payer = newPayer();
  await withPolicy({ POLICY: { payerDailyCap: "$0.10" } }, async (worker, origin) => {
    const signed = [];
    for (let i = 0; i < 50; i++) signed.push(await signFor(worker, `/premium/storm-${i}`, payer));
    const answers = await Promise.all(
      signed.map(async (p, i) => {
        const res = await worker.fetch(`/premium/storm-${i}`, { headers: { "PAYMENT-SIGNATURE": p.v2Header } });
        return { status: res.status, headers: res.headers, body: await res.text() };
      }),
    );
    const paid = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 402);
    assert.equal(paid.length, 10, `exactly the cap's worth settles (${answers.map((a) => a.status).join(",")})`);
    assert.equal(refused.length, 40);
    for (const r of refused) assertCapRefusal(r);
    const ledger = await readLedger(worker);
    const settled = ledger.filter((e) => e.event === "released" && e.payer === payer.address);
    const total = settled.reduce((sum, e) => sum + BigInt(e.amount), 0n);
    assert.equal(total, 100_000n, "settled total = the cap");
    assert.equal(origin.calls.filter((c) => c.path.startsWith("/premium/storm-")).length, 10);
  });
});

test("a route's own cap counts that route apart; the global one still counts the others", CASE, async () => {
  const payer = newPayer();
  const routes = structuredClone(wranglerConfig().vars.ROUTES);
  routes["POST /api/score"].policy = { payerDailyCap: "$0.005" }; // two calls at 2500
  await withPolicy({ POLICY: { payerDailyCap: "$0.02" }, ROUTES: routes }, async (worker) => {
    const score = { method: "POST", body: "{}", headers: { "content-type": "application/json" } };
    const paid = async (path, init) => {
      const p = await signFor(worker, path, payer, {}, init);
      const res = await worker.fetch(path, { ...init, headers: { ...init.headers, "PAYMENT-SIGNATURE": p.v2Header } });
      return { status: res.status, headers: res.headers, body: await res.text() };
    };
    assert.equal((await paid("/api/score", score)).status, 200);
    assert.equal((await paid("/api/score", score)).status, 200);
    assertCapRefusal(await paid("/api/score", score));
    assert.equal((await pay(worker, "/premium/g-0", payer)).status, 200, "the global scope is untouched");
    assert.equal((await pay(worker, "/premium/g-1", payer)).status, 200);
    assertCapRefusal(await pay(worker, "/premium/g-2", payer));
  });
});

test("over the rate: 429 payer_rate_limited with Retry-After, nothing verified", CASE, async () => {
  const payer = newPayer();
  await withPolicy({ POLICY: { payerRate: "3/minute" } }, async (worker, origin) => {
    for (let i = 0; i < 3; i++) assert.equal((await pay(worker, `/premium/rate-${i}`, payer)).status, 200);
    const served = origin.calls.length;
    const limited = await pay(worker, "/premium/rate-3", payer);
    assert.equal(limited.status, 429, limited.body);
    assert.deepEqual(JSON.parse(limited.body), { error: "payer_rate_limited" });
    const wait = Number(limited.headers.get("retry-after"));
    assert.ok(wait >= 1 && wait <= 20, `Retry-After ${wait}: one request every 20 s`);
    assert.equal(origin.calls.length, served);
    assert.equal((await pay(worker, "/premium/rate-x", newPayer())).status, 200, "another payer has its own rate");
    const ledger = await readLedger(worker);
    assert.equal(ledger.filter((e) => e.reason === "payer_rate_limited").length, 1);
  });
});

test("maxPayersPerMinute: past it a new payer gets 429 too_many_payers, admitted ones go on", CASE, async () => {
  const [first, second] = [newPayer(), newPayer()];
  await withPolicy({ POLICY: { maxPayersPerMinute: 1 } }, async (worker) => {
    // Both payers in one minute: start with at least 15 s of it left.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50));
    const a = await pay(worker, "/premium/m-0", first);
    assert.equal(a.status, 200, a.body);
    const b = await pay(worker, "/premium/m-1", second);
    assert.equal(b.status, 429, b.body);
    assert.deepEqual(JSON.parse(b.body), { error: "too_many_payers" });
    assert.ok(Number(b.headers.get("retry-after")) <= 60);
    assert.equal((await pay(worker, "/premium/m-2", first)).status, 200, "an admitted payer goes on");
    const ledger = await readLedger(worker);
    assert.ok(ledger.some((e) => e.reason === "too_many_payers" && e.payer === second.address));
  });
});

test("a forged `from` neither spends another payer's cap nor dodges a block", CASE, async () => {
  const mallory = newPayer();
  const victim = newPayer();
  // Claims to be the victim, signs with mallory's key.
  const forger = { address: victim.address, signTypedData: (data) => mallory.signTypedData(data) };
  await withPolicy({ POLICY: { payerDailyCap: "$0.01", blockedPayers: [mallory.address] } }, async (worker, origin) => {
    const served = origin.calls.length;
    const forged = await pay(worker, "/premium/forged", forger);
    assert.equal(forged.status, 402, "the signature is not the victim's");
    assert.notEqual(JSON.parse(forged.body).error, "payer_daily_cap_exceeded");
    assert.equal(origin.calls.length, served);
    assert.equal((await pay(worker, "/premium/victim", victim)).status, 200, "the victim's cap is untouched");
    assert.equal((await pay(worker, "/premium/own", mallory)).status, 403, "signing as herself, mallory is blocked");
  });
});

test("the operator blocks, unblocks and caps a payer at run time through the admin API", CASE, async () => {
  const payer = newPayer();
  const base = `/_x402/payers/${payer.address.toLowerCase()}`;
  await withPolicy({}, async (worker) => {
    assert.equal((await worker.fetch(base)).status, 401, "credentials needed");
    assert.equal((await worker.fetch("/_x402/payers/0x123", { headers: bearer })).status, 400);
    assert.equal((await worker.fetch(`${base}/block`, { headers: bearer })).status, 405, "a change is a POST");
    assert.equal((await pay(worker, "/premium/op-0", payer)).status, 200);
    let view = await (await worker.fetch(base, { headers: bearer })).json();
    assert.equal(view.payer, payer.address);
    assert.equal(view.blocked, false);
    assert.deepEqual(view.spend, [{ scope: "*", settled: "10000", inFlight: "0", cap: null }]);

    const blocked = await worker.fetch(`${base}/block`, { method: "POST", headers: bearer });
    assert.equal(blocked.status, 200);
    assert.equal((await blocked.json()).blocked, true);
    const refused = await pay(worker, "/premium/op-1", payer);
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body), { error: "payer_blocked" });
    const unblocked = await worker.fetch(`${base.toUpperCase().replace("/_X402/PAYERS/0X", "/_x402/payers/0x")}/unblock`, { method: "POST", headers: bearer });
    assert.equal(unblocked.status, 200, "any letter case of the address");
    assert.equal((await pay(worker, "/premium/op-2", payer)).status, 200);

    const capped = await worker.fetch(`${base}/cap`, { method: "PUT", headers: bearer, body: JSON.stringify({ cap: "$0.03" }) });
    assert.equal(capped.status, 200);
    view = await capped.json();
    assert.equal(view.cap, "30000");
    assert.equal((await pay(worker, "/premium/op-3", payer)).status, 200, "the third cent fits");
    assertCapRefusal(await pay(worker, "/premium/op-4", payer));
    for (const bad of ['{"cap":"$0.0000001"}', '{"cap":5}', '{"limit":"$1"}', "nope"]) {
      const res = await worker.fetch(`${base}/cap`, { method: "PUT", headers: bearer, body: bad });
      assert.equal(res.status, 400, bad);
      await res.arrayBuffer();
    }
    const lifted = await worker.fetch(`${base}/cap`, { method: "PUT", headers: bearer, body: '{"cap":null}' });
    assert.equal((await lifted.json()).cap, null);
    assert.equal((await pay(worker, "/premium/op-5", payer)).status, 200, "no cap again");

    const ledger = await readLedger(worker);
    const policy = ledger.filter((e) => e.event === "policy" && e.payer === payer.address).map((e) => e.reason);
    assert.deepEqual(policy, ["operator_block", "operator_unblock", "operator_cap", "operator_cap"]);
    const summary = await (await worker.fetch("/_x402/summary", { headers: bearer })).json();
    assert.equal(summary.policy.length, 4, "the dashboard's summary lists the changes");
  }, { ADMIN_TOKEN: TOKEN });
});

test("alerts reach the webhook signed with the receipt key, once per payer and reason a minute, retried once", CASE, async () => {
  let failFirst = true;
  const hook = await startServer((_req, res) => {
    if (failFirst) {
      failFirst = false;
      res.writeHead(500).end();
    } else res.writeHead(204).end();
  });
  const payer = newPayer();
  try {
    const vars = { POLICY: { payerDailyCap: "$0.01", payerRate: "2/minute" }, ALERT_WEBHOOK_URL: `${hook.url}/alerts?token=t`, ALERT_RATE_LIMITED_PER_MINUTE: 1 };
    await withPolicy(vars, async (worker) => {
      assert.equal((await pay(worker, "/premium/al-0", payer)).status, 200);
      for (let i = 1; i <= 3; i++) assertCapRefusal(await pay(worker, `/premium/al-${i}`, payer));
      const deadline = Date.now() + 5_000;
      while (hook.calls.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(hook.calls.length, 2, "one alert, sent twice (the first attempt failed)");
      assert.equal(hook.calls[0].path, "/alerts?token=t");
      const key = await importJWK({ kty: "OKP", crv: "Ed25519", x: TEST_RECEIPT_PUBLIC_X }, "EdDSA");
      const bodies = [];
      for (const call of hook.calls) {
        const { payload, protectedHeader } = await flattenedVerify(JSON.parse(call.body), key);
        assert.equal(protectedHeader.typ, "x402-alert+jwt");
        bodies.push(JSON.parse(new TextDecoder().decode(payload)));
      }
      assert.equal(bodies[0].alert, "payer_daily_cap_exceeded");
      assert.equal(bodies[0].payer, payer.address);
      assert.equal(bodies[0].jti, bodies[1].jti, "the retry is the same alert");
    });
  } finally {
    await hook.close();
  }
});

test("a payer rate limited past the threshold raises one alert", CASE, async () => {
  const hook = await startServer((_req, res) => res.writeHead(200).end());
  const payer = newPayer();
  try {
    const vars = { POLICY: { payerRate: "1/minute" }, ALERT_WEBHOOK_URL: hook.url, ALERT_RATE_LIMITED_PER_MINUTE: 2 };
    await withPolicy(vars, async (worker) => {
      assert.equal((await pay(worker, "/premium/rl-0", payer)).status, 200);
      for (let i = 1; i <= 2; i++) assert.equal((await pay(worker, `/premium/rl-${i}`, payer)).status, 429);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(hook.calls.length, 0, "not past the threshold yet");
      for (let i = 3; i <= 5; i++) assert.equal((await pay(worker, `/premium/rl-${i}`, payer)).status, 429);
      const deadline = Date.now() + 5_000;
      while (hook.calls.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(hook.calls.length, 1);
    });
  } finally {
    await hook.close();
  }
});

test("bad policies make the configuration invalid: priced routes 500, free routes pass", CASE, async () => {
  for (const POLICY of [
    { payerCap: "$5" },
    { payerDailyCap: "$0.0000001" },
    { payerRate: "60/fortnight" },
    { blockedPayers: ["0x123"] },
    { maxPayersPerMinute: -1 },
  ]) {
    await withPolicy({ POLICY, ALERT_WEBHOOK_URL: undefined }, async (worker) => {
      const res = await worker.fetch("/premium/x");
      assert.equal(res.status, 500, JSON.stringify(POLICY));
      assert.deepEqual(await res.json(), { error: "paywall_misconfigured" });
      const free = await worker.fetch("/free/x");
      assert.equal(free.status, 200, "free routes still pass");
      await free.arrayBuffer();
    });
  }
  await withPolicy({ ALERT_WEBHOOK_URL: "http://alerts.example/hook" }, async (worker) => {
    assert.equal((await worker.fetch("/premium/x")).status, 500, "plain http off loopback");
  });
});
