// Runs the built Worker (build/ from `bash .ci/build`, or the directory named by the env
// var X402_BUILD_DIR, relative to the repo root or absolute) in real workerd through
// Miniflare, configured from the repo's wrangler.toml with per-test overrides.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { parse } from "smol-toml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** RFC 8032 test vector 1 secret key: a fixed receipt signing key for the tests. */
export const TEST_RECEIPT_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/** Its Ed25519 public key, base64url (the JWKS `x` the Worker should publish). */
export const TEST_RECEIPT_PUBLIC_X = Buffer.from(
  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  "hex",
).toString("base64url");

/**
 * The base URL that `worker.fetch(path)` requests go to: a loopback host, as in a local run
 * (paper mode serves priced routes only there).
 */
export const BASE = "http://127.0.0.1:8787";

/** The directory of the built Worker (X402_BUILD_DIR, default `build`). */
export const BUILD_DIR = resolve(ROOT, process.env.X402_BUILD_DIR || "build");

/** The parsed wrangler.toml of the repo. */
export function wranglerConfig() {
  return parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
}

/**
 * Starts the built Worker. `vars` override wrangler.toml's [vars] (a value of `undefined`
 * removes the var); `secrets` are added as bindings (RECEIPT_SIGNING_KEY defaults to
 * TEST_RECEIPT_KEY). `omit` names KV namespaces or Durable Object bindings of wrangler.toml to
 * leave out (e.g. `["X402_KV"]`); `miniflare`: more Miniflare options (e.g. a persist directory). Returns `{ mf, bindings, fetch(path, init),
 * fetchUrl(url, init), kv, close() }`.
 */
export async function startWorker({ vars = {}, secrets = {}, omit = [], miniflare = {} } = {}) {
  const scriptPath = join(BUILD_DIR, "index.js");
  if (!existsSync(scriptPath)) {
    throw new Error(`${scriptPath} is missing: run \`bash .ci/build\` first (or set X402_BUILD_DIR)`);
  }
  const config = wranglerConfig();
  const bindings = { ...(config.vars ?? {}), RECEIPT_SIGNING_KEY: TEST_RECEIPT_KEY };
  for (const [name, value] of Object.entries({ ...vars, ...secrets })) {
    if (value === undefined) delete bindings[name];
    else bindings[name] = value;
  }
  const kept = (name) => !omit.includes(name);
  const kvNamespaces = (config.kv_namespaces ?? []).map((ns) => ns.binding).filter(kept);
  // Durable Objects from wrangler.toml; SQLite storage as its migrations declare.
  const sqliteClasses = new Set((config.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    (config.durable_objects?.bindings ?? []).filter((b) => kept(b.name)).map((b) => [
      b.name,
      { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) },
    ]),
  );
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: BUILD_DIR,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    kvNamespaces,
    durableObjects,
    bindings,
    cf: false,
    ...miniflare,
  });
  await mf.ready;
  const kv = kvNamespaces.includes("X402_KV") ? await mf.getKVNamespace("X402_KV") : undefined;
  return {
    mf,
    bindings,
    kv,
    /** `dispatchFetch` against BASE + path (path starts with "/"). */
    fetch(path, init = {}) {
      return mf.dispatchFetch(BASE + path, { redirect: "manual", ...init });
    },
    /** `dispatchFetch` of a full URL: the Worker sees its host (nothing leaves Miniflare). */
    fetchUrl(url, init = {}) {
      return mf.dispatchFetch(url, { redirect: "manual", ...init });
    },
    close() {
      return mf.dispose();
    },
  };
}

/** Runs `fn(worker)` on a Worker started with `options` (as startWorker), then stops it. */
export async function withWorker(options, fn) {
  const worker = await startWorker(options);
  try {
    return await fn(worker);
  } finally {
    await worker.close();
  }
}
