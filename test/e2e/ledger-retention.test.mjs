// The ledger's retention alarm in workerd: events and receipts older than
// LEDGER_RETENTION_DAYS are deleted, newer ones kept, and nothing at all while the
// configuration is broken. The arbiter's SQLite files are kept on disk between two
// Miniflare instances; between them the test ages some rows in place (node:sqlite), then
// runs each shard's alarm.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { signFor, HOOK } from "../support/flow.mjs";
import { readLedger } from "../support/ledger.mjs";
import { startOrigin } from "../support/servers.mjs";
import { startWorker } from "../support/worker.mjs";

const CASE = { timeout: 60_000 };
const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), "x402-retention-"));
after(() => rmSync(dir, { recursive: true, force: true }), HOOK);

function sqliteFiles(root) {
  const out = [];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    if (statSync(p).isDirectory()) out.push(...sqliteFiles(p));
    else if (name.endsWith(".sqlite")) out.push(p);
  }
  return out;
}

/** Runs `sql` on every arbiter database that has a ledger. */
function onDisk(sql) {
  for (const file of sqliteFiles(dir)) {
    const db = new DatabaseSync(file);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ledger'").all();
    if (tables.length) db.exec(sql);
    db.close();
  }
}

async function alarms(worker) {
  const ns = await worker.mf.getDurableObjectNamespace("X402_ARBITER");
  // `alarm` itself cannot be called over RPC: `prune` is what it runs.
  for (let shard = 0; shard < 16; shard++) await ns.get(ns.idFromName(`shard-${shard}`)).prune();
}

async function receipt(worker, id) {
  const res = await worker.fetch(`/.well-known/x402/receipts/${id}`);
  await res.arrayBuffer();
  return res.status;
}

test("the alarm deletes events and receipts past the retention, keeps the rest, and waits out a broken configuration", CASE, async () => {
  const origin = await startOrigin();
  const options = (vars) => ({
    vars: { ORIGIN_URL: origin.url, FACILITATOR_URL: "paper", LEDGER_RETENTION_DAYS: "30", ...vars },
    miniflare: { durableObjectsPersist: dir, kvPersist: join(dir, "kv") },
  });
  try {
    let worker = await startWorker(options({}));
    const ids = [];
    for (const path of ["/premium/old", "/premium/new"]) {
      const account = privateKeyToAccount(generatePrivateKey());
      const p = await signFor(worker, path, account);
      const res = await worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": p.v2Header } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const jws = res.headers.get("payment-receipt");
      ids.push(JSON.parse(Buffer.from(jws.split(".")[1], "base64url")).jti);
    }
    await worker.close();
    // The first payment's events and receipt are made 31 days old; the second's 29.
    onDisk(`UPDATE ledger SET time_ms = time_ms - ${31 * DAY} WHERE line LIKE '%/premium/old%';
            UPDATE ledger SET time_ms = time_ms - ${29 * DAY} WHERE line LIKE '%/premium/new%';
            UPDATE receipts SET time_ms = time_ms - ${31 * DAY} WHERE id = '${ids[0]}';`);

    // A broken configuration: the retention it would use is not known, nothing goes.
    worker = await startWorker(options({ PAY_TO: "not an address" }));
    await alarms(worker);
    assert.equal((await readLedger(worker)).length, 4, "nothing pruned while misconfigured");
    await worker.close();

    worker = await startWorker(options({}));
    await alarms(worker);
    const left = await readLedger(worker);
    assert.deepEqual(left.map((e) => `${e.event} ${e.path}`), ["locked /premium/new", "released /premium/new"]);
    assert.equal(await receipt(worker, ids[0]), 404, "the old receipt is gone");
    assert.equal(await receipt(worker, ids[1]), 200, "the newer one is kept");
    await worker.close();
  } finally {
    await origin.close();
  }
});
