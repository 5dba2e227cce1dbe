// Runs the built Worker (build/ from `bash .ci/build`) in real workerd through Miniflare,
// configured from the repo's wrangler.toml with per-test overrides.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
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

/** The base URL that `worker.fetch(path)` requests go to. */
export const BASE = "http://paywall.test";

/** The parsed wrangler.toml of the repo. */
export function wranglerConfig() {
  return parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
}

/**
 * Starts the built Worker. `vars` override wrangler.toml's [vars] (a value of `undefined`
 * removes the var); `secrets` are added as bindings (RECEIPT_SIGNING_KEY defaults to
 * TEST_RECEIPT_KEY). Returns `{ mf, bindings, fetch(path, init), kv, close() }`.
 */
export async function startWorker({ vars = {}, secrets = {} } = {}) {
  const scriptPath = join(ROOT, "build", "index.js");
  if (!existsSync(scriptPath)) {
    throw new Error("build/index.js is missing: run `bash .ci/build` first");
  }
  const config = wranglerConfig();
  const bindings = { ...(config.vars ?? {}), RECEIPT_SIGNING_KEY: TEST_RECEIPT_KEY };
  for (const [name, value] of Object.entries({ ...vars, ...secrets })) {
    if (value === undefined) delete bindings[name];
    else bindings[name] = value;
  }
  const kvNamespaces = (config.kv_namespaces ?? []).map((ns) => ns.binding);
  // Durable Objects from wrangler.toml; SQLite storage as its migrations declare.
  const sqliteClasses = new Set((config.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    (config.durable_objects?.bindings ?? []).map((b) => [
      b.name,
      { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) },
    ]),
  );
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: join(ROOT, "build"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    kvNamespaces,
    durableObjects,
    bindings,
    cf: false,
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
    close() {
      return mf.dispose();
    },
  };
}
