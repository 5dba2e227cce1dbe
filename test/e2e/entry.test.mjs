// The Worker's entry (src/js/entry.js) over a fake wasm-bindgen glue that traps on cue:
// a trap fails its own call and the instance is made afresh; a call that finds the
// instance terminated (the trap was in a later task, or another exception left the wasm)
// is made again on the fresh one; an arbiter shard made before a reset is made again
// after it; any other error goes through as it is.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const FAKE_GLUE = `
export const state = { resets: 0, terminated: false, script: [], shards: 0 };
export function __wbg_reset_state() { state.resets++; state.terminated = false; }
function step() {
  if (state.terminated) throw new Error("Module terminated");
  const next = state.script.shift();
  if (next === "trap") { state.terminated = true; throw new WebAssembly.RuntimeError("unreachable"); }
  if (next === "trap later") state.terminated = true;
  // As the real glue does: any exception out of the wasm marks the instance terminated.
  if (next === "throw") { state.terminated = true; throw new TypeError("not a trap"); }
}
export function fetch(request, env, ctx) { step(); return "answer " + request; }
export class PaymentArbiter {
  constructor(s, e) { this.made = state.resets; state.shards++; }
  call(request) {
    step();
    if (this.made !== state.resets) throw new Error("Invalid stale object from previous Wasm instance");
    return "shard " + request;
  }
}
`;
// cloudflare:workers as far as the entry uses it.
const FAKE_WORKERS = `export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }`;

async function load() {
  const dir = mkdtempSync(join(tmpdir(), "x402-entry-"));
  const source = readFileSync(new URL("../../src/js/entry.js", import.meta.url), "utf8");
  const local = source.replace('from "cloudflare:workers"', 'from "./workers.js"');
  assert.notEqual(local, source, "the entry imports cloudflare:workers");
  writeFileSync(join(dir, "entry.js"), local);
  writeFileSync(join(dir, "workers.js"), FAKE_WORKERS);
  writeFileSync(join(dir, "index.js"), FAKE_GLUE);
  const entry = await import(pathToFileURL(join(dir, "entry.js")).href);
  const glue = await import(pathToFileURL(join(dir, "index.js")).href);
  return { entry, state: glue.state };
}

const quiet = (t) => t.mock.method(console, "error", () => {});

test("entry: a trap fails its call, the instance is made afresh and the next call is answered", async (t) => {
  quiet(t);
  const { entry, state } = await load();
  state.script.push("trap");
  assert.throws(() => entry.default.fetch("a", {}, {}), WebAssembly.RuntimeError);
  assert.equal(state.resets, 1);
  assert.equal(entry.default.fetch("b", {}, {}), "answer b");
  assert.equal(state.resets, 1);
});

test("entry: a call that finds the instance terminated by a later task is made again after a reset", async () => {
  const { entry, state } = await load();
  state.script.push("trap later");
  assert.equal(entry.default.fetch("a", {}, {}), "answer a");
  assert.equal(state.terminated, true);
  assert.equal(entry.default.fetch("b", {}, {}), "answer b");
  assert.equal(state.resets, 1);
});

test("entry: an arbiter shard made before a reset is made again after it", async (t) => {
  quiet(t);
  const { entry, state } = await load();
  const shard = new entry.PaymentArbiter({ storage: {} }, {});
  assert.equal(state.shards, 0, "made on first use");
  assert.equal(shard.call("r1"), "shard r1");
  assert.equal(shard.call("r2"), "shard r2");
  assert.equal(state.shards, 1);
  state.script.push("trap");
  assert.throws(() => entry.default.fetch("x", {}, {}), WebAssembly.RuntimeError);
  assert.equal(shard.call("r3"), "shard r3");
  assert.equal(state.shards, 2);
});

test("entry: an error that is not a trap goes through as it is; the next call finds the instance terminated and is answered after a reset", async () => {
  const { entry, state } = await load();
  state.script.push("throw");
  assert.throws(() => entry.default.fetch("a", {}, {}), TypeError);
  assert.equal(state.resets, 0, "not retried, not reset on the spot");
  assert.equal(entry.default.fetch("b", {}, {}), "answer b");
  assert.equal(state.resets, 1);
});
