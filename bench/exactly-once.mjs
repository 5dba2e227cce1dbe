// Benchmark of the exactly-once machinery (issue 3 item 9): per-request latency of the
// paywall's paths in workerd via Miniflare, against an instant fake facilitator and origin
// on 127.0.0.1. A benchmark, not a test: it prints figures and asserts only that each case
// answered what it should (else the figures would measure something else).
//
//   node bench/exactly-once.mjs [iterations]      (default 300; needs `bash .ci/build`)
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { availableParallelism } from "node:os";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startOrigin } from "../test/support/servers.mjs";
import { BASE, startWorker } from "../test/support/worker.mjs";
import { signExactPayment } from "../test/support/pay.mjs";
import { startChainFacilitator } from "../test/support/chain.mjs";
import { challenge } from "../test/support/flow.mjs";

const N = Number(process.argv[2] ?? 300);
const WARMUP = 20;
const WAITERS = Math.min(N, 40); // case (e) costs ~the fresh path + one poll step each
const PATH = "/premium/bench";

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function timed(fn) {
  const t0 = performance.now();
  const res = await fn();
  await res.arrayBuffer();
  return { ms: performance.now() - t0, res };
}

/** Runs `fn(i)` WARMUP + n times sequentially; returns the stats of the last n (ms). */
async function measure(n, fn, { prepare = async () => {}, warmup = WARMUP } = {}) {
  const samples = [];
  for (let i = 0; i < warmup + n; i++) {
    await prepare(i);
    const { ms } = await fn(i);
    if (i >= warmup) samples.push(ms);
  }
  return stats(samples);
}

const origin = await startOrigin();
const facilitator = await startChainFacilitator();
const worker = await startWorker({ vars: { ORIGIN_URL: origin.url, FACILITATOR_URL: facilitator.url } });
const started = Date.now();
try {
  const account = privateKeyToAccount(generatePrivateKey());
  const { requirements, required } = await challenge(worker, PATH);
  const resourceUrl = required.resource?.url ?? BASE + PATH;
  // Every payment is signed before any timing starts.
  const sign = () => signExactPayment({ account, requirements, resourceUrl }).then((p) => p.v2Header);
  const fresh = [];
  for (let i = 0; i < WARMUP + N + 2 * (WARMUP + WAITERS) + 2; i++) fresh.push(await sign());
  const paying = (header) => () => worker.fetch(PATH, { headers: { "PAYMENT-SIGNATURE": header } });
  const expect = (status, fn) => async (i) => {
    const r = await timed(fn(i));
    assert.equal(r.res.status, status, `case answered ${r.res.status}, want ${status}`);
    return r;
  };

  const rows = [];
  const free = await measure(N, expect(200, () => () => worker.fetch("/free/bench")));
  const a = await measure(N, expect(402, () => () => worker.fetch(PATH)));
  rows.push(["(a) 402 challenge, no claim (floor)", a]);
  const settles = facilitator.count.settle;
  const b = await measure(N, expect(200, (i) => paying(fresh.pop())));
  assert.equal(facilitator.count.settle - settles, WARMUP + N, "one settle per fresh payment");
  rows.push(["(b) fresh paid request", b]);

  const kept = fresh.pop();
  assert.equal((await timed(paying(kept))).res.status, 200);
  const settlesBeforeC = facilitator.count.settle;
  const c = await measure(N, expect(200, () => paying(kept)));
  assert.equal(facilitator.count.settle, settlesBeforeC, "retries never settle");
  rows.push(["(c) retry, answered by the arbiter (one claim)", c]);

  // (e) a duplicate sent right after a fresh request, while the first is in flight.
  const waitSamples = [];
  const lagSamples = [];
  for (let i = 0; i < WARMUP + WAITERS; i++) {
    const header = fresh.pop();
    let firstDone = 0;
    const first = paying(header)().then(async (r) => (await r.arrayBuffer(), (firstDone = performance.now()), r));
    await new Promise((r) => setTimeout(r, 1)); // let the first claim go out first
    const t1 = performance.now();
    const dup = await paying(header)();
    await dup.arrayBuffer();
    const t2 = performance.now();
    assert.equal((await first).status, 200);
    assert.equal(dup.status, 200, `duplicate answered ${dup.status}`);
    if (i >= WARMUP) {
      waitSamples.push(t2 - t1);
      lagSamples.push(Math.max(0, t2 - firstDone));
    }
  }
  rows.push(["(d) duplicate sent 1 ms after a fresh request", stats(waitSamples)]);
  rows.push(["    (d) its answer after the first's answer", stats(lagSamples)]);
  rows.push(["(e) free route, passed to the origin", free]);

  const fmt = (x) => x.toFixed(2).padStart(7);
  console.log(`\nx402-edge exactly-once bench: ${new Date().toISOString().slice(0, 10)}, node ${process.version},`);
  console.log(`${availableParallelism()} CPUs, workerd via Miniflare, fake facilitator + origin on 127.0.0.1, ms per request\n`);
  console.log(`${"case".padEnd(52)}${"n".padStart(5)}${"p50".padStart(8)}${"p95".padStart(8)}${"mean".padStart(8)}`);
  for (const [name, s] of rows) console.log(`${name.padEnd(52)}${String(s.n).padStart(5)}${fmt(s.p50)} ${fmt(s.p95)} ${fmt(s.mean)}`);

  // Derivation of what the claim adds on the paid path (p50s).
  const hop = free.p50 - a.p50; // one workerd → 127.0.0.1 round trip, proxied
  const topDown = b.p50 - a.p50 - 3 * hop;
  const arbiterHop = c.p50 - a.p50; // one arbiter claim answered "finished", and the replay
  const bottomUp = 2 * arbiterHop;
  console.log(`
Added cost of the claim on the paid path (p50):
  one upstream round trip from the Worker  u = (e) - (a) = ${hop.toFixed(2)} ms
  top-down:  (b) - (a) - 3u (verify, origin, settle)     = ${topDown.toFixed(2)} ms
             = the paid path minus the floor and its three upstream calls: the arbiter
               (claim; settle order: settling write, settled write), and the CPU of
               decoding, recovering the signer, storing the response and signing the receipt.
  bottom-up: one arbiter call ≈ (c) - (a)                  = ${arbiterHop.toFixed(2)} ms
             (a claim answered "finished", with the stored answer rebuilt); the paid path
             makes two arbiter calls: 2 × ((c) - (a))      = ${bottomUp.toFixed(2)} ms
  The claim costs about ${Math.min(topDown, bottomUp).toFixed(1)}–${Math.max(topDown, bottomUp).toFixed(1)} ms per paid request here.
  A waiting duplicate answers ${stats(lagSamples).p50.toFixed(1)} ms (p50) after the first.
`);
  console.log(`(${N} iterations per case after ${WARMUP} warm-up, ${WAITERS} for (e); ${((Date.now() - started) / 1000).toFixed(1)} s)`);
} finally {
  await worker.close();
  await facilitator.close();
  await origin.close();
}
