// A bad config fails closed: priced routes answer 500 paywall_misconfigured and never reach the
// origin; free routes still pass through.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "../support/servers.mjs";
import { startWorker } from "../support/worker.mjs";
import { assertError, HOOK, TEST } from "../support/flow.mjs";

let origin;
before(async () => {
  origin = await startOrigin();
}, HOOK);
after(async () => {
  await origin?.close();
}, HOOK);

const bad = [
  ["PAY_TO is not an address", { PAY_TO: "0xnot-an-address" }],
  ["NETWORK is not CAIP-2", { NETWORK: "base sepolia" }],
  ["MAX_TIMEOUT_SECONDS is not a number", { MAX_TIMEOUT_SECONDS: "soon" }],
];

for (const [name, vars] of bad) {
  test(`${name}: priced route 500 paywall_misconfigured, free route passes`, TEST, async () => {
    const worker = await startWorker({ vars: { ORIGIN_URL: origin.url, ...vars } });
    try {
      origin.calls.length = 0;
      await assertError(await worker.fetch("/premium/hello"), 500, "paywall_misconfigured");
      assert.equal(origin.calls.length, 0, "the origin is never called for a priced route");

      const free = await worker.fetch("/free/still-works");
      assert.equal(free.status, 200);
      assert.deepEqual(await free.json(), { ok: true, path: "/free/still-works", method: "GET" });
      assert.equal(origin.calls.length, 1);
    } finally {
      await worker.close();
    }
  });
}
