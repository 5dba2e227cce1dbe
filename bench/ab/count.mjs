// Counting entry module of the A/B benchmark (bench/ab.mjs), used only in the short run that
// counts subrequests, never in a timed one. It is copied next to the built Worker's
// index.js and wraps it without changing it: each request gets an `env` whose KV namespace
// and Durable Object namespace bindings count their calls (KV: get, put, delete, list, ...;
// Durable Object: every call on a stub, `fetch` or RPC), then goes to the Worker's own
// entrypoint. `GET /__bench/counts` answers the counts so far and zeroes them (work the
// Worker leaves to waitUntil is counted too, once it has run). Origin and facilitator calls
// are counted at the stubs.
import * as edge from "./index.js";

export * from "./index.js"; // the Durable Object classes, as the Worker exports them

const Edge = edge.default;
let counts = {};
const bump = (name) => (counts[name] = (counts[name] ?? 0) + 1);

/** A proxy of `target` whose methods count `${label}.${method}` and run on `target`. */
function counting(target, label, wrapResult = (v) => v) {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop);
      if (typeof value !== "function" || prop === "constructor" || typeof prop === "symbol") return value;
      return (...args) => {
        bump(`${label}.${prop}`);
        return wrapResult(Reflect.apply(value, t, args), prop);
      };
    },
  });
}

/** A Durable Object namespace whose stubs count their calls (ids and `get` are not calls). */
function countingNamespace(ns) {
  return new Proxy(ns, {
    get(t, prop) {
      const value = Reflect.get(t, prop);
      if (typeof value !== "function" || prop === "constructor" || typeof prop === "symbol") return value;
      if (prop === "get" || prop === "getByName") return (...args) => counting(Reflect.apply(value, t, args), "do");
      return value.bind(t);
    },
  });
}

function isKv(v) {
  return v && typeof v === "object" && typeof v.get === "function" && typeof v.put === "function" && typeof v.list === "function";
}
function isNamespace(v) {
  return v && typeof v === "object" && typeof v.idFromName === "function" && typeof v.get === "function";
}

function countingEnv(env) {
  const out = {};
  for (const [name, value] of Object.entries(env)) {
    out[name] = isNamespace(value) ? countingNamespace(value) : isKv(value) ? counting(value, "kv") : value;
  }
  return out;
}

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__bench/counts") {
      const body = JSON.stringify(counts);
      counts = {};
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    const wrapped = countingEnv(env);
    if (typeof Edge === "function") return new Edge(ctx, wrapped).fetch(request);
    return Edge.fetch(request, wrapped, ctx);
  },
};
