// Per-payer policy in workerd (the part this build enforces): blocked payers and allow
// lists, global and per route, judged on the recovered signer before any claim or
// facilitator call, with a rejected ledger event; caps and rates it cannot enforce yet make
// the configuration invalid rather than pretend.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { signFor } from "../support/flow.mjs";
import { readLedger, wordsOf } from "../support/ledger.mjs";
import { startOrigin } from "../support/servers.mjs";
import { withWorker, wranglerConfig } from "../support/worker.mjs";

const CASE = { timeout: 30_000 };
const alice = privateKeyToAccount(generatePrivateKey());
const bob = privateKeyToAccount(generatePrivateKey());

async function pay(worker, path, account) {
  const p = await signFor(worker, path, account);
  const res = await worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": p.v2Header } });
  return { status: res.status, body: await res.text() };
}

test("a blocked payer is refused with 403 before any claim; others pay; per-route allow lists", CASE, async () => {
  const origin = await startOrigin();
  const routes = structuredClone(wranglerConfig().vars.ROUTES);
  routes["/reports/:id"].policy = { allowedPayers: [alice.address.toUpperCase().replace("0X", "0x")] };
  const vars = {
    ORIGIN_URL: origin.url,
    FACILITATOR_URL: "paper",
    POLICY: { blockedPayers: [bob.address.toLowerCase()] },
    ROUTES: routes,
  };
  try {
    await withWorker({ vars }, async (worker) => {
      const calls = origin.calls.length;
      for (let i = 0; i < 2; i++) {
        const refused = await pay(worker, "/premium/blocked", bob);
        assert.equal(refused.status, 403);
        assert.deepEqual(JSON.parse(refused.body), { error: "payer_blocked" });
      }
      assert.equal(origin.calls.length, calls, "the origin never saw the blocked payer");
      assert.equal((await pay(worker, "/premium/open", alice)).status, 200);
      // The allow-listed route: alice yes; a third payer no.
      assert.equal((await pay(worker, "/reports/1", alice)).status, 200);
      const carol = privateKeyToAccount(generatePrivateKey());
      assert.equal((await pay(worker, "/reports/2", carol)).status, 403);
      const ledger = await readLedger(worker);
      const bobs = ledger.filter((e) => e.payer.toLowerCase() === bob.address.toLowerCase());
      assert.deepEqual(wordsOf(bobs, bobs[0].paymentKey), ["rejected:payer_blocked"], "one event however often");
    });
  } finally {
    await origin.close();
  }
});

test("a cap this build cannot enforce makes the configuration invalid", CASE, async () => {
  const origin = await startOrigin();
  try {
    await withWorker({ vars: { ORIGIN_URL: origin.url, FACILITATOR_URL: "paper", POLICY: { payerDailyCap: "$5" } } }, async (worker) => {
      const res = await worker.fetch("/premium/x");
      assert.equal(res.status, 500);
      assert.deepEqual(await res.json(), { error: "paywall_misconfigured" });
      const free = await worker.fetch("/free/x");
      assert.equal(free.status, 200, "free routes still pass");
      await free.arrayBuffer();
    });
  } finally {
    await origin.close();
  }
});
