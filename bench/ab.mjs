// A/B benchmark (issue 8): the official x402 middleware (`@x402/hono` 2.27 as a Worker) against
// x402-edge (the release build in build/), with a trivial proxy Worker and a trivial direct
// Worker as floors, all in the same workerd binary, loaded with wrk on 127.0.0.1. A benchmark,
// not a test: it prints figures (and exits non-zero only when it could not measure, e.g. a
// server answered something else than the case expects).
//
//   npm run bench:ab                       (bash bench/setup && node bench/ab.mjs)
//   node bench/ab.mjs --rounds 3 --duration 8
//
// Needs the release build (`bash .ci/setup && bash .ci/build`; or pass --build to run them
// first). See bench/README.md for what it measures and how.
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader, editHeader, signExactPayment } from "../test/support/pay.mjs";
import {
  AB_DIR,
  ROOT,
  childPids,
  cpuSeconds,
  freePort,
  onStop,
  run,
  runWrk,
  startChild,
  stopAll,
  trackPid,
  waitForHttp,
  workerdBinary,
  workerdVersion,
  writeWorkerdConfig,
} from "./ab/lib.mjs";
import { profileWorkers, summarize } from "./ab/profile.mjs";

const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
    connections: { type: "string", default: "20" },
    build: { type: "boolean", default: false },
    "mw-origin": { type: "boolean", default: false },
    breakdown: { type: "boolean", default: false },
    json: { type: "string" },
    keep: { type: "boolean", default: false },
    cases: { type: "string" },
    profile: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (opt.help) {
  console.log(`node bench/ab.mjs [--rounds N=2] [--duration S=5] [--warmup S=2] [--threads 2] [--connections 20]
  [--build]       run bash .ci/setup && bash .ci/build first (else build/ must hold a release build;
                  X402_BUILD_DIR names another directory)
  [--mw-origin]   the middleware's paid answer comes from the stub origin (3 subrequests) instead
                  of in-process (2 subrequests, the default, as in issue 8)
  [--breakdown]   also x402-edge's paid path in parts (Miniflare): the 402, a payment with a forged
                  signature (decoded and recovered, nothing stored), a retry answered by the arbiter;
                  and MCP at /mcp: a priced tool called without payment, an unpriced tool's call
  [--json FILE]   also write every figure as JSON
  [--keep]        keep the temporary directory (configs, bundles, payment files)
  [--cases LIST]  only these cases, comma-separated: challenge,free,post,paid (default: all)
  [--profile CASE] after the rounds, one more run of a Miniflare case (paid, mf-free: x402-edge's
                  free route, or with --breakdown mf-challenge, mf-forged, mf-retry, mf-mcp-*) with the V8
                  profiler on in every worker of
                  each server's Miniflare: busy time per worker and the top functions by self
                  time (build with X402_WASM_NAMES=1 bash .ci/build to see wasm function names)`);
  process.exit(0);
}
const ROUNDS = Math.max(1, Number(opt.rounds));
const SECONDS = Math.max(1, Number(opt.duration));
const WARMUP = Math.max(1, Number(opt.warmup));
const WRK = { threads: Number(opt.threads), connections: Number(opt.connections) };

const PRICED_PATTERN = "GET /premium/*";
const PAID_PATH = "/premium/bench";
const FREE_PATH = "/free/bench";
/** A form body of the POST case: a few fields, ~1 KiB, no method override. */
const POST_BODY = `name=widget&qty=3&tags=a%2Cb%2Cc&note=${"lorem+ipsum+".repeat(80)}`;
/** RFC 8032 test vector 1: a public, fixed receipt signing key (not the .dev.vars one). */
const RECEIPT_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const MW_MAX_POOL = 1000; // the middleware keeps no state: its payments may repeat (cycle)
const EDGE_MAX_POOL = 30_000; // ~25 s of signing at most per run

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
const log = (msg) => console.error(`[ab ${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T0 = Date.now();

// The whole run is bounded: warm-ups, runs, signing, builds and start-ups, with a margin.
const RUNS_PER_ROUND = 11 + (opt.breakdown ? 5 : 0);
const BUDGET_S = 240 + ROUNDS * RUNS_PER_ROUND * (SECONDS + 6) + RUNS_PER_ROUND * WARMUP + (opt.build ? 1800 : 0);
const watchdog = setTimeout(() => {
  console.error(`bench:ab: over its time budget (${BUDGET_S} s): stopping`);
  stopAll().finally(() => process.exit(2));
}, BUDGET_S * 1000);

// ---------------------------------------------------------------------------------------

const config = parseToml(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
const vars = config.vars ?? {};
const route = vars.ROUTES?.[PRICED_PATTERN];
if (!route) throw new Error(`wrangler.toml has no [vars.ROUTES."${PRICED_PATTERN}"]`);

/** "$0.01" with 6 decimals → "10000"; an atomic amount stays as it is. */
function atomic(price, decimals) {
  const p = String(price);
  if (!p.startsWith("$")) return p;
  const [whole, frac = ""] = p.slice(1).split(".");
  if (frac.length > decimals) throw new Error(`price ${p} has more than ${decimals} decimals`);
  return (BigInt(whole || "0") * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0")).toString();
}

/**
 * x402-edge as an operator runs it: the admin API on (every request is checked against its
 * path) and an origin secret (on every origin request), besides the repo's vars.
 */
function edgeBindings(stubs) {
  return {
    ...vars,
    FACILITATOR_URL: stubs.facilitator,
    ORIGIN_URL: stubs.origin,
    RECEIPT_SIGNING_KEY: RECEIPT_KEY,
    ADMIN_TOKEN: "a-bench-admin-token-0123456789",
    ORIGIN_SECRET: "a-bench-origin-secret-0123456789",
    // An MCP endpoint with a priced tool (issue 12): every request is checked against it.
    MCP: { [MCP_PATH]: { tools: { [MCP_TOOL]: { price: route.price } } } },
  };
}

/** The MCP endpoint of x402-edge's bench configuration, its priced tool, and two calls. */
const MCP_PATH = "/mcp";
const MCP_TOOL = "bench_analysis";
const mcpCall = (name) => JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name, arguments: { ticker: "BENCH" } } });

function mwBindings(stubs) {
  return {
    PAY_TO: String(vars.PAY_TO),
    NETWORK: String(vars.NETWORK),
    ASSET: String(vars.ASSET),
    ASSET_NAME: String(vars.ASSET_NAME),
    ASSET_VERSION: String(vars.ASSET_VERSION),
    MAX_TIMEOUT_SECONDS: String(vars.MAX_TIMEOUT_SECONDS ?? 60),
    PRICE_ATOMIC: atomic(route.price, Number(vars.ASSET_DECIMALS)),
    DESCRIPTION: String(route.description ?? ""),
    MIME_TYPE: String(route.mimeType ?? ""),
    FACILITATOR_URL: stubs.facilitator,
    ORIGIN_URL: stubs.origin,
    MW_PAID_FROM_ORIGIN: opt["mw-origin"] ? "true" : "false",
  };
}

/**
 * Copies build/index.js + index_bg.wasm: a pair that did not change during the copy, written
 * within a few seconds of each other (.ci/build writes both at its end) and not in the
 * last 5 s (no build is writing). A mixed pair would fail the checks before any load.
 */
async function snapshotBuild(dest) {
  const dir = resolve(ROOT, process.env.X402_BUILD_DIR || "build");
  const files = ["index.js", "index_bg.wasm"];
  for (let attempt = 1; attempt <= 40; attempt++) {
    const stamp = () => files.map((f) => (existsSync(join(dir, f)) ? `${statSync(join(dir, f)).size}:${statSync(join(dir, f)).mtimeMs}` : "none")).join(",");
    const before = stamp();
    const times = files.map((f) => (existsSync(join(dir, f)) ? statSync(join(dir, f)).mtimeMs : NaN));
    const settled = Math.max(...times) - Math.min(...times) < 5000 && Date.now() - Math.max(...times) > 5000;
    if (!before.includes("none") && settled) {
      for (const f of files) copyFileSync(join(dir, f), join(dest, f));
      if (stamp() === before && files.every((f) => statSync(join(dest, f)).size === statSync(join(dir, f)).size)) {
        const mtime = new Date(Math.max(...files.map((f) => statSync(join(dir, f)).mtimeMs)));
        return { dir, wasmBytes: statSync(join(dest, "index_bg.wasm")).size, mtime };
      }
    } else if (attempt === 1 && before.includes("none")) {
      throw new Error(`${dir} holds no build: run \`bash .ci/setup && bash .ci/build\` (or pass --build)`);
    }
    log(`build/ is changing (a build is running?); retrying the copy in 3 s`);
    await sleep(3000);
  }
  throw new Error(`build/ kept changing; could not take a consistent copy`);
}

/** `wrangler deploy --dry-run --outdir out -c configFile`: the bundle and its upload size. */
async function dryRun(configFile, out) {
  const wrangler = join(ROOT, "node_modules", ".bin", "wrangler");
  const r = await run(wrangler, ["deploy", "--dry-run", "--outdir", out, "-c", configFile], {
    env: { ...env, WRANGLER_LOG_PATH: join(out, "..", "wrangler-logs") },
    timeoutMs: 180_000,
  });
  const m = r.out.match(/Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/);
  if (r.code !== 0 || !m) throw new Error(`wrangler deploy --dry-run -c ${configFile} failed:\n${r.out}`);
  const main = readdirSync(out).find((f) => f.endsWith(".js"));
  return { uploadKiB: Number(m[1]), gzipKiB: Number(m[2]), bundle: join(out, main) };
}

async function startStubs() {
  const child = startChild(process.execPath, [join(AB_DIR, "stubs.mjs")], { env: { ...env, STUB_NETWORK: String(vars.NETWORK) }, name: "stubs" });
  const urls = await new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`stubs did not start:\n${child.output()}`)), 15_000);
    child.stdout.on("data", (d) => {
      buf += d;
      const line = buf.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(t);
        resolve(JSON.parse(line));
      }
    });
    child.once("exit", () => reject(new Error(`stubs exited:\n${child.output()}`)));
  });
  const control = async (method, path) => (await fetch(urls.facilitator + path, { method })).json();
  return { ...urls, pid: child.pid, counts: () => control("GET", "/__counts"), reset: () => control("POST", "/__reset") };
}

/** A plain `workerd serve` process for one worker; resolves `{ url, pid }` once it answers. */
async function startWorkerd(name, dir, spec) {
  const port = await freePort();
  const file = join(dir, `${name}.capnp`);
  writeWorkerdConfig(file, { ...spec, port });
  const child = startChild(workerdBinary(), ["serve", file], { name: `workerd ${name}` });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/__ab_ready`, 20_000, () => child.exitCode === null).catch((err) => {
    throw new Error(`workerd ${name}: ${err.message}\n${child.output()}`);
  });
  return { name, url, pid: child.pid, runtime: "workerd serve" };
}

/** A Miniflare instance; resolves `{ url, pid, mf }` (pid: its workerd process). */
async function startMiniflare(name, options) {
  const before = new Set(childPids(process.pid, "workerd"));
  const inspectorPort = opt.profile ? await freePort() : undefined;
  const mf = new Miniflare({ host: "127.0.0.1", port: await freePort(), cf: false, inspectorPort, ...options });
  onStop(() => mf.dispose().catch(() => {}));
  const url = (await mf.ready).origin;
  const pids = childPids(process.pid, "workerd").filter((p) => !before.has(p));
  if (pids.length !== 1) throw new Error(`Miniflare ${name}: expected one new workerd process, found ${pids.length}`);
  trackPid(pids[0]);
  return { name, url, pid: pids[0], mf, runtime: "Miniflare", inspectorPort };
}

function edgeMiniflareOptions(dir, entry, stubs) {
  const sqlite = new Set((config.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return {
    modules: true,
    scriptPath: join(dir, entry),
    modulesRoot: dir,
    modulesRules: [
      { type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true },
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }, // count.mjs imports index.js
    ],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    kvNamespaces: (config.kv_namespaces ?? []).map((ns) => ns.binding),
    durableObjects: Object.fromEntries(
      (config.durable_objects?.bindings ?? []).map((b) => [b.name, { className: b.class_name, useSQLite: sqlite.has(b.class_name) }]),
    ),
    bindings: edgeBindings(stubs),
  };
}

// ---------------------------------------------------------------------------------------
// Payments.

const account = privateKeyToAccount(generatePrivateKey());

/** The decoded PAYMENT-REQUIRED of `url + PAID_PATH` (asserting a 402). */
async function challengeOf(url) {
  const res = await fetch(url + PAID_PATH);
  await res.arrayBuffer();
  if (res.status !== 402) throw new Error(`${url}${PAID_PATH}: want 402, got ${res.status}`);
  return decodeHeader(res.headers.get("payment-required"), "PAYMENT-REQUIRED");
}

/** `n` distinct signed v2 payment headers for the server's challenge, written one a line. */
async function signPool(required, n, file) {
  const requirements = required.accepts[0];
  const lines = [];
  for (let i = 0; i < n; i++) {
    const p = await signExactPayment({ account, requirements, resourceUrl: required.resource?.url });
    lines.push(p.v2Header);
  }
  writeFileSync(file, `${lines.join("\n")}\n`);
  return lines;
}

// ---------------------------------------------------------------------------------------
// Measuring.

/**
 * One wrk run against `server` for `seconds`, with its CPU time from /proc. With `stubs`,
 * also the /settle calls the facilitator stub received meanwhile (a paid answer that was
 * not settled would be a replay, not a fresh payment).
 */
async function load(server, kase, seconds, stubs = null) {
  const s0 = stubs ? await stubs.counts() : null;
  const c0 = cpuSeconds(server.pid);
  const h0 = process.cpuUsage();
  const r = await runWrk(server.url, { ...WRK, seconds, ...kase });
  const c1 = cpuSeconds(server.pid);
  const h = process.cpuUsage(h0);
  const s1 = stubs ? await stubs.counts() : null;
  const secs = r.duration_us / 1e6;
  return {
    settles: stubs ? s1.settle - s0.settle : undefined,
    requests: r.requests,
    ok: r.ok,
    unexpected: r.unexpected,
    exhausted: r.exhausted > 0,
    statuses: r.statuses,
    errors: r.errors,
    rps: r.ok / secs,
    cpuUs: r.requests > 0 ? ((c1 - c0) * 1e6) / r.requests : NaN,
    // this process (Miniflare's Node side) meanwhile: should stay near 0
    harnessCpuUs: r.requests > 0 ? (h.user + h.system) / r.requests : NaN,
    p50: r.p50_us / 1000,
    p99: r.p99_us / 1000,
  };
}

/** Counts of the stubs and (for the counting wrapper) of KV / Durable Object calls. */
async function countRequest(stubs, server, send, { wrapper = false } = {}) {
  const readWrapper = async () => (wrapper ? (await fetch(`${server.url}/__bench/counts`)).json() : {});
  await sleep(150);
  await readWrapper(); // zero
  await stubs.reset();
  const res = await send();
  const body = await res.text();
  const total = {};
  let last = "";
  const t0 = Date.now();
  // Work left to waitUntil is counted too: read until nothing moves for 300 ms (at most 3 s).
  for (let stable = 0; stable < 3 && Date.now() - t0 < 3000; ) {
    await sleep(100);
    for (const [k, v] of Object.entries(await readWrapper())) total[k] = (total[k] ?? 0) + v;
    const now = JSON.stringify([total, await stubs.counts()]);
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  const s = await stubs.counts();
  const calls = { ...total };
  if (s.verify) calls["facilitator /verify"] = s.verify;
  if (s.settle) calls["facilitator /settle"] = s.settle;
  if (s.supported) calls["facilitator /supported"] = s.supported;
  if (s.origin) calls.origin = s.origin;
  const n = Object.values(calls).reduce((a, b) => a + b, 0);
  return { status: res.status, paid: res.headers.has("payment-response"), body, n, calls };
}

const fmtInt = (x) => Math.round(x).toLocaleString("en-US").replace(/,/g, " ");
const fmt = (x, digits) => (Number.isFinite(x) ? (digits === 0 ? fmtInt(x) : x.toFixed(digits)) : "—");
function range(values, digits) {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return "—";
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return fmt(lo, digits) === fmt(hi, digits) ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
}
const callsText = (c) =>
  `${c.n}${c.n ? ` (${Object.entries(c.calls).map(([k, v]) => (v > 1 ? `${k} ×${v}` : k)).join(", ")})` : ""}`;

// ---------------------------------------------------------------------------------------

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "x402-ab-"));
  // Removed at exit, synchronously: Miniflare's own signal handler may end the process
  // before our asynchronous cleanups have run (lib.mjs kills every child at exit too).
  if (!opt.keep) process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
  const load0 = loadavg();

  if (opt.build) {
    log("building: bash .ci/setup && bash .ci/build");
    for (const script of [".ci/setup", ".ci/build"]) {
      const r = await run("bash", [script], { env, timeoutMs: 1_800_000 });
      if (r.code !== 0) throw new Error(`bash ${script} failed:\n${r.out.slice(-4000)}`);
    }
  }
  const wrkCheck = await run("bash", [join(AB_DIR, "..", "setup")], { env, timeoutMs: 300_000 });
  if (wrkCheck.code !== 0) throw new Error(`bench/setup (wrk) failed:\n${wrkCheck.out}`);

  // Our Worker: a copy of the release build, so that a rebuild during the run changes nothing.
  const edgeDir = join(tmp, "edge");
  mkdirSync(edgeDir);
  const snap = await snapshotBuild(edgeDir);
  copyFileSync(join(AB_DIR, "count.mjs"), join(edgeDir, "count.mjs"));
  log(`x402-edge: copied ${snap.dir} (wasm ${fmtInt(snap.wasmBytes)} bytes, built ${snap.mtime.toISOString()})`);
  writeFileSync(
    join(edgeDir, "wrangler.toml"),
    `name = "x402-edge"\nmain = "index.js"\ncompatibility_date = ${JSON.stringify(config.compatibility_date)}\n`,
  );

  log("bundling both with wrangler deploy --dry-run");
  const mwSize = await dryRun(join(AB_DIR, "wrangler.toml"), join(tmp, "mw-bundle"));
  const edgeSize = await dryRun(join(edgeDir, "wrangler.toml"), join(tmp, "edge-bundle"));
  const mwConfig = parseToml(readFileSync(join(AB_DIR, "wrangler.toml"), "utf8"));

  const stubs = await startStubs();
  log(`stubs: origin ${stubs.origin}, facilitator ${stubs.facilitator}`);

  // Plain workerd: challenge and free route (no KV, no Durable Object).
  const textBindings = (b) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, typeof v === "object" ? v : String(v)]));
  const wd = {
    mw: await startWorkerd("mw", tmp, {
      modules: [{ name: "middleware.js", type: "esModule", path: mwSize.bundle }],
      bindings: mwBindings(stubs),
      compatibilityDate: mwConfig.compatibility_date,
      compatibilityFlags: mwConfig.compatibility_flags ?? [],
    }),
    edge: await startWorkerd("edge", tmp, {
      modules: [
        { name: "index.js", type: "esModule", path: join(edgeDir, "index.js") },
        { name: "index_bg.wasm", type: "wasm", path: join(edgeDir, "index_bg.wasm") },
      ],
      bindings: textBindings(edgeBindings(stubs)),
      compatibilityDate: config.compatibility_date,
      compatibilityFlags: config.compatibility_flags ?? [],
    }),
    proxy: await startWorkerd("proxy", tmp, {
      modules: [{ name: "proxy.mjs", type: "esModule", path: join(AB_DIR, "proxy.mjs") }],
      bindings: { ORIGIN_URL: stubs.origin },
      compatibilityDate: config.compatibility_date,
    }),
    direct: await startWorkerd("direct", tmp, {
      modules: [{ name: "direct.mjs", type: "esModule", path: join(AB_DIR, "direct.mjs") }],
      bindings: {},
      compatibilityDate: config.compatibility_date,
    }),
  };
  log("workerd serve: middleware, x402-edge, proxy, direct");

  // Miniflare: the paid path (x402-edge with its KV namespace and Durable Object).
  const mfMw = await startMiniflare("mw", {
    modules: true,
    scriptPath: mwSize.bundle,
    modulesRoot: dirname(mwSize.bundle),
    compatibilityDate: mwConfig.compatibility_date,
    compatibilityFlags: mwConfig.compatibility_flags ?? [],
    bindings: mwBindings(stubs),
  });
  const mfEdge = await startMiniflare("edge", edgeMiniflareOptions(edgeDir, "index.js", stubs));
  // The paid-path floor: x402-edge's subrequests and durable writes, none of its work.
  const mfFloor = await startMiniflare("floor", {
    modules: true,
    scriptPath: join(AB_DIR, "floor-paid.mjs"),
    compatibilityDate: config.compatibility_date,
    durableObjects: { FLOOR: { className: "FloorArbiter", useSQLite: true } },
    bindings: { FACILITATOR_URL: stubs.facilitator, ORIGIN_URL: stubs.origin },
  });
  log("Miniflare: middleware, x402-edge (KV + Durable Object), paid-path floor (Durable Object)");

  // Every server answers what its cases expect (the middleware's first priced request, sent
  // alone, initialises it), before any load.
  const notes = [];
  for (const s of [wd.mw, wd.edge, mfMw, mfEdge]) {
    const required = await challengeOf(s.url);
    const accepted = required.accepts[0];
    for (const [k, want] of [["payTo", vars.PAY_TO], ["network", vars.NETWORK], ["asset", vars.ASSET], ["amount", mwBindings(stubs).PRICE_ATOMIC]]) {
      if (String(accepted[k]).toLowerCase() !== String(want).toLowerCase()) throw new Error(`${s.runtime} ${s.name}: challenge ${k} ${accepted[k]}, want ${want}`);
    }
  }
  for (const s of [wd.mw, wd.edge, wd.proxy]) {
    const res = await fetch(s.url + FREE_PATH);
    const body = await res.text();
    if (res.status !== 200 || !body.includes(FREE_PATH)) throw new Error(`${s.name} ${FREE_PATH}: want the origin's 200, got ${res.status} ${body}`);
  }
  for (const s of [wd.mw, wd.edge, wd.proxy]) {
    const res = await fetch(s.url + PAID_PATH, { method: "POST", body: POST_BODY, headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    const body = await res.text();
    if (res.status !== 200 || !body.includes('"method":"POST"')) throw new Error(`${s.name} POST ${PAID_PATH}: want the origin's 200, got ${res.status} ${body}`);
  }
  if ((await fetch(wd.direct.url)).status !== 200) throw new Error("direct worker: not 200");
  {
    // What x402-edge does with a payment where it has no KV / Durable Object (plain workerd).
    const required = await challengeOf(wd.edge.url);
    const h = await signExactPayment({ account, requirements: required.accepts[0], resourceUrl: required.resource?.url });
    const res = await fetch(wd.edge.url + PAID_PATH, { headers: { "PAYMENT-SIGNATURE": h.v2Header } });
    notes.push(
      `x402-edge in plain workerd (no KV, no Durable Object): the 402 challenge and the free route answer as in Miniflare; ` +
        `a paid request there gets ${res.status} ${(await res.text()).slice(0, 80)}`,
    );
  }
  for (const s of [mfMw, mfEdge, mfFloor]) {
    const required = await challengeOf(s === mfFloor ? mfEdge.url : s.url);
    const [h] = await signPool(required, 1, join(tmp, `check-${s.name}.txt`));
    const res = await fetch(s.url + PAID_PATH, { headers: { "PAYMENT-SIGNATURE": h } });
    const body = await res.text();
    if (res.status !== 200 || !res.headers.has("payment-response")) throw new Error(`${s.name} paid: want 200 + PAYMENT-RESPONSE, got ${res.status} ${body}`);
  }
  log("every server answers its cases");

  // The cases. `servers`: [label, server] in A/B/floor order; the order alternates per round.
  const cases = [
    {
      key: "challenge",
      title: "402 challenge",
      servers: [["mw", wd.mw], ["edge", wd.edge], ["floor", wd.direct]],
      kase: (who) => (who === "floor" ? { path: "/", status: 200 } : { path: PAID_PATH, status: 402, header: "payment-required" }),
    },
    {
      key: "free",
      title: "free route",
      servers: [["mw", wd.mw], ["edge", wd.edge], ["floor", wd.proxy]],
      kase: () => ({ path: FREE_PATH, status: 200 }),
    },
    {
      // POST to a GET-priced path: x402-edge reads the form body to look for a method
      // override before it forwards (free); the middleware and the proxy forward at once.
      key: "post",
      title: "POST form to a GET-priced path (override look, free)",
      servers: [["mw", wd.mw], ["edge", wd.edge], ["floor", wd.proxy]],
      kase: () => ({ path: PAID_PATH, method: "POST", body: POST_BODY, status: 200 }),
    },
    {
      key: "paid",
      title: "paid (verify → origin → settle)",
      servers: [["mw", mfMw], ["edge", mfEdge], ["floor", mfFloor]],
      kase: () => ({ path: PAID_PATH, status: 200, header: "payment-response" }),
    },
  ];
  if (opt.breakdown) {
    // x402-edge's paid path in parts, in the same Miniflare instance: what a priced request
    // costs before any payment, with a payment whose signature does not recover (decoded,
    // checked, refused: no storage, no facilitator), and as a retry answered by the
    // arbiter. 20 payments, each paid once first, are retried in turn.
    const req = await challengeOf(mfEdge.url);
    const forged = (await signPool(req, 20, join(tmp, "unused.txt"))).map((h) =>
      editHeader(h, (p) => {
        const sig = p.payload.signature;
        p.payload.signature = sig.slice(0, 10) + (sig[10] === "a" ? "b" : "a") + sig.slice(11);
      }),
    );
    writeFileSync(join(tmp, "forged.txt"), `${forged.join("\n")}\n`);
    const retried = await signPool(req, 20, join(tmp, "retried.txt"));
    for (const h of retried) {
      const res = await fetch(mfEdge.url + PAID_PATH, { headers: { "PAYMENT-SIGNATURE": h } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`breakdown: paying a payment to retry answered ${res.status}`);
    }
    const res = await fetch(mfEdge.url + PAID_PATH, { headers: { "PAYMENT-SIGNATURE": forged[0] } });
    const body = await res.text();
    if (res.status !== 402 || !body.includes("invalid_exact_evm_payload_signature")) throw new Error(`breakdown: a forged signature answered ${res.status} ${body}`);
    const edgeOnly = (key, title, kase) => ({ key, title, breakdown: true, servers: [["edge", mfEdge]], kase: () => kase });
    cases.push(
      edgeOnly("mf-challenge", "402 challenge", { path: PAID_PATH, status: 402, header: "payment-required" }),
      edgeOnly("mf-forged", "payment with a forged signature (402)", { path: PAID_PATH, status: 402, header: "payment-required", file: join(tmp, "forged.txt"), mode: "cycle" }),
      edgeOnly("mf-retry", "retry of a settled payment (arbiter)", { path: PAID_PATH, status: 200, header: "payment-response", file: join(tmp, "retried.txt"), mode: "cycle" }),
    );
    // MCP at the edge: a priced tool called without payment (the body read and judged, the
    // payment-required result made; the server not called), and an unpriced tool's call
    // (judged, then forwarded to the origin stub).
    for (const [name, wants] of [[MCP_TOOL, "payment required"], ["echo", '"ok":true']]) {
      const res = await fetch(mfEdge.url + MCP_PATH, { method: "POST", body: mcpCall(name), headers: { "Content-Type": "application/json" } });
      const text = await res.text();
      if (res.status !== 200 || !text.includes(wants)) throw new Error(`breakdown: MCP ${name} answered ${res.status} ${text.slice(0, 200)}`);
    }
    const mcpOnly = (key, title, name) => ({ ...edgeOnly(key, title, { path: MCP_PATH, method: "POST", body: mcpCall(name), status: 200 }), mcp: true });
    cases.push(
      mcpOnly("mf-mcp-challenge", "MCP: priced tool without payment (payment-required result)", MCP_TOOL),
      mcpOnly("mf-mcp-pass", "MCP: unpriced tool call (judged, forwarded)", "echo"),
    );
  }

  if (opt.cases) {
    const only = new Set(opt.cases.split(","));
    for (let i = cases.length - 1; i >= 0; i--) if (!only.has(cases[i].key) && !cases[i].breakdown) cases.splice(i, 1);
  }

  const required = { mw: await challengeOf(mfMw.url), edge: await challengeOf(mfEdge.url) };
  // Fresh paid requests per second x402-edge and the floor reached so far (sizes their pools:
  // both refuse a payment sent twice).
  const onceRate = { edge: 0, floor: 0 };
  let poolNo = 0;
  async function paidKase(who, seconds) {
    const file = join(tmp, `pay-${who}-${poolNo++}.txt`);
    const n = who === "mw" ? MW_MAX_POOL : Math.min(EDGE_MAX_POOL, Math.ceil(Math.max(onceRate[who], 100) * seconds * 1.5) + 200);
    await signPool(required[who === "mw" ? "mw" : "edge"], n, file);
    return { path: PAID_PATH, status: 200, header: "payment-response", file, mode: who === "mw" ? "cycle" : "once" };
  }

  if (opt.profile === "mf-free") {
    cases.push({ key: "mf-free", profileOnly: true, servers: [["edge", mfEdge]], kase: () => ({ path: FREE_PATH, status: 200 }) });
  }
  const profiled = opt.profile && cases.find((c) => c.key === opt.profile);
  if (opt.profile && (!profiled || !profiled.servers.every(([, s]) => s.inspectorPort))) {
    throw new Error(`--profile ${opt.profile}: not a Miniflare case of this run (paid, mf-free; with --breakdown mf-challenge, mf-forged, mf-retry, mf-mcp-challenge, mf-mcp-pass)`);
  }

  log(`warm-up: ${WARMUP} s per server`);
  for (const c of cases.filter((c) => !c.profileOnly)) {
    for (const [who, server] of c.servers) {
      const kase = c.key === "paid" ? await paidKase(who, WARMUP) : c.kase(who);
      const r = await load(server, kase, WARMUP);
      if (c.key === "paid" && who !== "mw") onceRate[who] = r.exhausted ? (2 * r.requests) / WARMUP : r.rps;
    }
  }

  const results = {}; // results[case][who] = [run, ...]
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases.filter((c) => !c.profileOnly)) {
      const order = round % 2 === 0 ? c.servers : [...c.servers].reverse();
      for (const [who, server] of order) {
        const kase = c.key === "paid" ? await paidKase(who, SECONDS) : c.kase(who);
        const r = await load(server, kase, SECONDS, c.key === "paid" ? stubs : null);
        if (c.key === "paid" && who !== "mw") onceRate[who] = Math.max(onceRate[who], r.exhausted ? 2 * r.rps : r.rps);
        ((results[c.key] ??= {})[who] ??= []).push(r);
        log(
          `round ${round + 1}/${ROUNDS} ${c.key.padEnd(9)} ${who.padEnd(5)} ${fmt(r.rps, 0).padStart(7)} req/s ` +
            `${fmt(r.cpuUs, 0).padStart(5)} µs CPU/req  p50 ${fmt(r.p50, 2)} ms  (harness ${fmt(r.harnessCpuUs, 1)} µs/req)` +
            (r.unexpected ? `  UNEXPECTED ${r.unexpected} ${JSON.stringify(r.statuses)}` : "") +
            (r.exhausted ? "  (payments ran out)" : ""),
        );
      }
    }
  }

  if (profiled) {
    const c = profiled;
    for (const [who, server] of c.servers) {
      const kase = c.key === "paid" ? await paidKase(who, SECONDS) : c.kase(who);
      let r;
      const profiles = await profileWorkers(server.inspectorPort, async () => (r = await load(server, kase, SECONDS)));
      console.log(`\nprofile: ${c.key} on ${who}, ${fmt(r.rps, 0)} req/s with the profiler on, ${r.requests} responses; µs per response:`);
      for (const { id, profile } of profiles) {
        const s = summarize(profile);
        if (s.busyUs / r.requests < 1) continue;
        console.log(`  ${id}: busy ${fmt(s.busyUs / r.requests, 0)} (GC ${fmt(s.gcUs / r.requests, 0)})`);
        for (const f of s.top.slice(0, id.startsWith("core:user:") ? 25 : 5)) console.log(`    ${fmt(f.selfUs / r.requests, 1).padStart(7)}  ${f.name}`);
      }
    }
  }

  // Subrequests per case (not timed): the stubs count origin and facilitator calls; a
  // wrapper entry module around the same build counts KV and Durable Object calls.
  log("counting subrequests");
  const mfCount = await startMiniflare("count", edgeMiniflareOptions(edgeDir, "count.mjs", stubs));
  const countReq = await challengeOf(mfCount.url);
  const [fresh] = await signPool(countReq, 1, join(tmp, "count-edge.txt"));
  const pay = (server, h) => () => fetch(server.url + PAID_PATH, { headers: { "PAYMENT-SIGNATURE": h } });
  const kv = await mfCount.mf.getKVNamespace((config.kv_namespaces ?? [])[0]?.binding ?? "X402_KV");
  const sub = { edge: {}, mw: {} };
  sub.edge.challenge = await countRequest(stubs, mfCount, () => fetch(mfCount.url + PAID_PATH), { wrapper: true });
  sub.edge.free = await countRequest(stubs, mfCount, () => fetch(mfCount.url + FREE_PATH), { wrapper: true });
  sub.edge.fresh = await countRequest(stubs, mfCount, pay(mfCount, fresh), { wrapper: true });
  sub.edge.retry = await countRequest(stubs, mfCount, pay(mfCount, fresh), { wrapper: true });
  for (const k of (await kv.list()).keys) await kv.delete(k.name);
  sub.edge.retryNoKv = await countRequest(stubs, mfCount, pay(mfCount, fresh), { wrapper: true });
  const [mwPay] = await signPool(required.mw, 1, join(tmp, "count-mw.txt"));
  sub.mw.challenge = await countRequest(stubs, mfMw, () => fetch(mfMw.url + PAID_PATH));
  sub.mw.free = await countRequest(stubs, mfMw, () => fetch(mfMw.url + FREE_PATH));
  sub.mw.fresh = await countRequest(stubs, mfMw, pay(mfMw, mwPay));
  sub.mw.retry = await countRequest(stubs, mfMw, pay(mfMw, mwPay));
  for (const [who, cs] of Object.entries(sub)) {
    for (const [k, c] of Object.entries(cs)) {
      const want = k === "challenge" ? 402 : 200;
      if (c.status !== want) throw new Error(`subrequest count, ${who} ${k}: want ${want}, got ${c.status} ${c.body.slice(0, 200)}`);
    }
  }

  // ---- the table --------------------------------------------------------------------
  const load1 = loadavg();
  const pick = (k, who, f) => (results[k]?.[who] ?? []).map(f);
  const ratios = (k, f, a = "edge", b = "mw") => (results[k]?.[a] ?? []).map((r, i) => f(r) / f(results[k][b][i]));
  const verdict = (values, ok) => (values.length && values.every(ok) ? "met" : values.some(ok) ? "met in some rounds" : "not met");
  const rows = [];
  const row = (...cells) => rows.push(`| ${cells.join(" | ")} |`);
  const floorName = { challenge: "direct", free: "proxy", post: "proxy", paid: "I/O floor" };
  for (const c of cases.filter((c) => !c.breakdown && !c.profileOnly)) {
    const runtime = c.servers[0][1].runtime;
    const metrics = [
      ["req/s", (r) => r.rps, 0],
      ["CPU µs/req", (r) => r.cpuUs, 0],
      ["p50 ms", (r) => r.p50, 2],
    ];
    metrics.forEach(([name, f, d], i) => {
      let ratio = "";
      let target = "";
      if (c.key === "challenge" && name === "CPU µs/req") {
        const v = ratios("challenge", f);
        ratio = `${range(v, 2)} (x402-edge / middleware)`;
        target = `≤ 0.6: ${verdict(v, (x) => x <= 0.6)}`;
      }
      if (c.key === "free" && name === "CPU µs/req") {
        const v = ratios("free", f, "edge", "floor");
        ratio = `${range(v, 2)} (x402-edge / proxy)`;
        target = `≤ 1.1: ${verdict(v, (x) => x <= 1.1)}`;
      }
      if (c.key === "post" && name === "CPU µs/req") {
        const v = ratios("post", f, "edge", "floor");
        ratio = `${range(v, 2)} (x402-edge / proxy)`;
      }
      if (c.key === "paid" && name === "req/s") {
        const v = ratios("paid", f);
        ratio = `${range(v, 2)} (x402-edge / middleware); I/O floor / middleware ${range(ratios("paid", f, "floor", "mw"), 2)}`;
        target = `≥ 0.5: ${verdict(v, (x) => x >= 0.5)}`;
      }
      if (c.key === "paid" && name === "p50 ms") {
        const v = ratios("paid", f);
        ratio = `${range(v, 2)} (x402-edge / middleware); I/O floor / middleware ${range(ratios("paid", f, "floor", "mw"), 2)}`;
        target = `≤ 2: ${verdict(v, (x) => x <= 2)}`;
      }
      const floor = c.servers.find(([w]) => w === "floor") ? `${range(pick(c.key, "floor", f), d)} (${floorName[c.key]})` : "—";
      row(i === 0 ? c.title : "", i === 0 ? runtime : "", name, range(pick(c.key, "mw", f), d), range(pick(c.key, "edge", f), d), floor, ratio, target);
    });
  }
  const freshN = sub.edge.fresh.n;
  const retryN = sub.edge.retry.n;
  row("subrequests", "Miniflare", "402 challenge", callsText(sub.mw.challenge), callsText(sub.edge.challenge), "0 (direct)", "", "");
  row("", "", "free route", callsText(sub.mw.free), callsText(sub.edge.free), "1 (proxy)", "", "");
  row("", "", "fresh paid request", callsText(sub.mw.fresh), callsText(sub.edge.fresh), "—", "", `≤ 5: ${freshN <= 5 ? "met" : "not met"}`);
  row("", "", "retry (same payment)", callsText(sub.mw.retry), callsText(sub.edge.retry), "—", "", `≤ 1: ${retryN <= 1 ? "met" : "not met"}`);
  row("", "", "retry, KV namespace emptied", "—", callsText(sub.edge.retryNoKv), "—", "", "");
  row(
    "deployable bundle",
    "wrangler deploy --dry-run",
    "KiB gzip (upload)",
    `${mwSize.gzipKiB} (${mwSize.uploadKiB})`,
    `${edgeSize.gzipKiB} (${edgeSize.uploadKiB}; wasm ${fmtInt(snap.wasmBytes)} B)`,
    "—",
    `${(edgeSize.gzipKiB / mwSize.gzipKiB).toFixed(2)} (x402-edge / middleware)`,
    `≤ 150: ${edgeSize.gzipKiB <= 150 ? "met" : "not met"}; stretch < ${mwSize.gzipKiB}: ${edgeSize.gzipKiB < mwSize.gzipKiB ? "met" : "not met"}`,
  );

  function breakdownTable() {
    const parts = [...cases.filter((c) => c.breakdown && !c.mcp).map((c) => [c.title, results[c.key]?.edge ?? []]), ["fresh paid request", results.paid?.edge ?? []]];
    const median = (rs) => {
      const v = rs.map((r) => r.cpuUs).sort((a, b) => a - b);
      return v.length ? (v[Math.floor((v.length - 1) / 2)] + v[Math.ceil((v.length - 1) / 2)]) / 2 : NaN;
    };
    const out = [
      "x402-edge's paid path in parts (Miniflare, same instance; Δ: median CPU over the row above):",
      "",
      "| case | req/s | CPU µs/req | Δ CPU µs | p50 ms |",
      "| --- | ---: | ---: | ---: | ---: |",
    ];
    parts.forEach(([title, rs], i) => {
      const d = i === 0 ? "" : fmt(median(rs) - median(parts[i - 1][1]), 0);
      out.push(`| ${title} | ${range(rs.map((r) => r.rps), 0)} | ${range(rs.map((r) => r.cpuUs), 0)} | ${d} | ${range(rs.map((r) => r.p50), 2)} |`);
    });
    const http = parts[0][1];
    const mcp = cases.filter((c) => c.mcp).map((c) => [c.title, results[c.key]?.edge ?? []]);
    out.push("", "MCP at the edge (same instance; Δ: median CPU over the HTTP 402 challenge):", "", "| case | req/s | CPU µs/req | Δ CPU µs | p50 ms |", "| --- | ---: | ---: | ---: | ---: |");
    for (const [title, rs] of mcp) {
      out.push(`| ${title} | ${range(rs.map((r) => r.rps), 0)} | ${range(rs.map((r) => r.cpuUs), 0)} | ${fmt(median(rs) - median(http), 0)} | ${range(rs.map((r) => r.p50), 2)} |`);
    }
    return [...out, ""];
  }

  const anomalies = [];
  for (const c of cases) {
    for (const [who] of c.servers) {
      for (const [i, r] of (results[c.key]?.[who] ?? []).entries()) {
        // wrk's "status" errors are its count of non-2xx/3xx answers (every 402 of the
        // challenge case): load.lua checks each status itself.
        const errs = Object.entries(r.errors).filter(([k, v]) => k !== "status" && v > 0);
        if (r.settles !== undefined && r.settles < r.ok) anomalies.push(`${c.key} ${who} round ${i + 1}: ${r.ok} paid answers but only ${r.settles} settlements (replays?)`);
        if (r.unexpected) anomalies.push(`${c.key} ${who} round ${i + 1}: ${r.unexpected} of ${r.requests} answers were not the expected one (statuses ${JSON.stringify(r.statuses)})`);
        if (errs.length) anomalies.push(`${c.key} ${who} round ${i + 1}: socket errors ${JSON.stringify(Object.fromEntries(errs))}`);
        if (r.exhausted) anomalies.push(`${c.key} ${who} round ${i + 1}: the signed payments ran out before the end (req/s is a lower bound)`);
      }
    }
  }

  const wrkVersion = (await run("wrk", ["--version"])).out.split("\n")[0].replace(/\s*Copyright.*$/, "");
  const head = (await run("git", ["rev-parse", "--short", "HEAD"])).out.trim() || "?";
  const date = new Date().toISOString().slice(0, 10);
  const lines = [
    "",
    `x402 A/B benchmark, ${date}: ${availableParallelism()} CPUs, load average ${load0.map((x) => x.toFixed(2)).join(" ")} → ${load1
      .map((x) => x.toFixed(2))
      .join(" ")}; node ${process.version}, workerd ${workerdVersion()}, ${wrkVersion}`,
    `x402-edge: the build in ${snap.dir.startsWith(ROOT) ? `${snap.dir.slice(ROOT.length + 1)}/` : snap.dir}, written ${snap.mtime.toISOString().slice(0, 16)}Z (repo at ${head}; the build may hold uncommitted work)`,
    `wrk -t${WRK.threads} -c${WRK.connections}, ${ROUNDS} round(s) of ${SECONDS} s per server (order alternating), after ${WARMUP} s of warm-up; ` +
      `figures are min–max over the rounds, ratios per round (A and B measured back to back).`,
    `middleware's paid answer: ${opt["mw-origin"] ? "from the stub origin" : "in-process (no origin call)"}. CPU: utime+stime of the server's workerd process (/proc), per completed response.`,
    "",
    "| path | runtime | metric | official @x402/hono 2.27 | x402-edge | trivial worker | ratio | target |",
    "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ...rows,
    "",
    ...(opt.breakdown ? breakdownTable() : []),
    ...notes.map((n) => `- ${n}`),
    `- The middleware fetches the facilitator's /supported once per isolate, at its first priced request (not counted above).`,
    ...(anomalies.length ? ["", "Anomalies (the figures of these runs measure something else in part):", ...anomalies.map((a) => `- ${a}`)] : ["- Every answer counted was the expected one (402 with PAYMENT-REQUIRED; 200; paid: 200 with PAYMENT-RESPONSE); no socket errors."]),
    "",
    `(${((Date.now() - T0) / 1000).toFixed(0)} s in all)`,
  ];
  console.log(lines.join("\n"));
  if (opt.json) {
    writeFileSync(
      opt.json,
      JSON.stringify({ date, options: { ROUNDS, SECONDS, WARMUP, WRK, mwOrigin: opt["mw-origin"], breakdown: opt.breakdown }, load: [load0, load1], results, subrequests: sub, bundles: { mw: mwSize, edge: { ...edgeSize, wasmBytes: snap.wasmBytes } }, notes, anomalies }, null, 2),
    );
  }
  if (opt.keep) console.error(`kept ${tmp}`);
  return anomalies.some((a) => a.includes("not the expected")) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`bench:ab failed: ${err?.stack ?? err}`);
  code = 1;
} finally {
  await stopAll();
  clearTimeout(watchdog);
}
process.exit(code);
