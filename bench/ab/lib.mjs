// Helpers of the A/B benchmark (bench/ab.mjs): child processes that are always stopped,
// free ports on 127.0.0.1, plain `workerd serve` configs, CPU time from /proc, wrk runs.
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const AB_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(AB_DIR, "..", "..");

/** The workerd binary that Miniflare and wrangler use (the `workerd` npm package). */
export function workerdBinary() {
  return createRequire(join(ROOT, "package.json"))("workerd").default;
}

/** Its version (the npm package's). */
export function workerdVersion() {
  return createRequire(join(ROOT, "package.json"))("workerd").version;
}

// ---------------------------------------------------------------------------------------
// Everything started here is stopped: on the normal path by `stopAll()`, on an exception
// by the caller's `finally`, and on a signal or a crash by the handlers below (SIGKILL of
// every pid still known, synchronously, in the "exit" handler).

const cleanups = [];
const pids = new Set();

/** Registers `fn` (sync or async) to run at `stopAll()`, last registered first. */
export function onStop(fn) {
  cleanups.push(fn);
}

/** Remembers a pid that must not outlive the benchmark (killed at exit if still alive). */
export function trackPid(pid) {
  pids.add(pid);
}

let stopping = null;

/**
 * Runs every registered cleanup once, in order (errors are printed, not thrown); a second
 * call (a signal during a failure, say) waits for the same run.
 */
export function stopAll() {
  stopping ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${err?.message ?? err}`);
      }
    }
    killTracked("SIGTERM");
  })();
  return stopping;
}

function killTracked(signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

process.on("exit", () => killTracked("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping everything the benchmark started`);
    stopAll().finally(() => process.exit(130));
  });
}

/**
 * Spawns a long-running child (its stdin a pipe, so that children which watch stdin exit with
 * us); it is killed by `stopAll()`. Returns the ChildProcess; `output()` is what it printed.
 */
export function startChild(command, args, { env = process.env, cwd = ROOT, name = command } = {}) {
  const child = spawn(command, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out = (out + d).slice(-20000)));
  child.stderr.on("data", (d) => (out = (out + d).slice(-20000)));
  child.output = () => out;
  child.name = name;
  trackPid(child.pid);
  onStop(
    () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => {
          child.kill("SIGKILL");
          resolve();
        }, 3000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.stdin.end();
        child.kill("SIGTERM");
      }),
  );
  return child;
}

/** Runs a command to its end (bounded by `timeoutMs`); resolves `{ code, out }`. */
export function run(command, args, { env = process.env, cwd = ROOT, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    trackPid(child.pid);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      pids.delete(child.pid);
      resolve({ code: code ?? (signal ? 128 : 1), signal, out });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers anything (or rejects after `timeoutMs`). */
export async function waitForHttp(url, timeoutMs = 15_000, alive = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return;
    } catch (err) {
      if (!alive() || Date.now() > deadline) throw new Error(`${url} did not answer: ${err?.message ?? err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Plain `workerd serve`.

const capnpString = (s) => JSON.stringify(String(s)); // capnp text strings use C escapes, as JSON

/**
 * Writes a `workerd serve` config to `file`: one worker (`modules`: `{ name, type, path }`
 * with type "esModule" | "wasm"), its bindings (`{ name: string | object }`: a string is a
 * `text` binding, anything else a `json` one), served on 127.0.0.1:`port`, with outbound
 * fetches allowed to loopback (the stubs) through the "internet" service.
 */
export function writeWorkerdConfig(file, { modules, bindings, compatibilityDate, compatibilityFlags = [], port }) {
  // capnp reads an absolute embed path from its import path: embed paths are relative.
  const mods = modules
    .map((m) => `    (name = ${capnpString(m.name)}, ${m.type} = embed ${capnpString(relative(dirname(file), m.path))}),`)
    .join("\n");
  const binds = Object.entries(bindings)
    .map(([name, value]) =>
      typeof value === "string"
        ? `    (name = ${capnpString(name)}, text = ${capnpString(value)}),`
        : `    (name = ${capnpString(name)}, json = ${capnpString(JSON.stringify(value))}),`,
    )
    .join("\n");
  const flags = compatibilityFlags.map(capnpString).join(", ");
  writeFileSync(
    file,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = ${capnpString(`127.0.0.1:${port}`)}, http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
${mods}
  ],
  compatibilityDate = ${capnpString(compatibilityDate)},
  compatibilityFlags = [${flags}],
  bindings = [
${binds}
  ],
);
`,
  );
}

// ---------------------------------------------------------------------------------------
// CPU time from /proc.

let clockTicks = null;
function ticksPerSecond() {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const close = text.lastIndexOf(")");
  return { comm: text.slice(text.indexOf("(") + 1, close), rest: text.slice(close + 2).split(" ") };
}

/**
 * CPU seconds used so far by process `pid`: utime + stime + cutime + cstime of
 * /proc/<pid>/stat (all its threads, and its children that have ended).
 */
export function cpuSeconds(pid) {
  const { rest } = statFields(pid);
  // rest[0] is field 3 (state); utime, stime, cutime, cstime are fields 14..17.
  const ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
  return ticks / ticksPerSecond();
}

/** The pids of the live children of `parent` whose command name is `comm`. */
export function childPids(parent, comm) {
  const found = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { comm: c, rest } = statFields(entry);
      if (Number(rest[1]) === parent && c === comm) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// wrk.

/**
 * One bounded wrk run (`-t threads -c connections -d seconds`, always against 127.0.0.1)
 * with bench/ab/load.lua. `check`: `{ path, status, header, file, mode }` (see load.lua).
 * Resolves the parsed `AB-RESULT` line plus the raw output.
 */
export async function runWrk(url, { threads = 2, connections = 20, seconds, path, status, header = "-", file = "-", mode = "once", method = "GET", body = "-" }) {
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`wrk target must be http://127.0.0.1:PORT, not ${url}`);
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "5s",
    "-s",
    join(AB_DIR, "load.lua"),
    url,
    "--",
    path,
    String(status),
    header,
    file,
    mode,
    String(threads),
    method,
    body,
  ];
  const { code, out } = await run("wrk", args, { timeoutMs: (seconds + 20) * 1000 });
  const line = out.split("\n").find((l) => l.startsWith("AB-RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}`);
  return { ...JSON.parse(line.slice("AB-RESULT ".length)), raw: out };
}
