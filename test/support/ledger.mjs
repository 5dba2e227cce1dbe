// Reads the ledger straight from the arbiter's shards (Durable Object RPC through
// Miniflare): every event of every shard, oldest first (time, then shard, then seq).
const SHARDS = 16;

/** All ledger events of the Worker `worker` (startWorker), parsed, oldest first. */
export async function readLedger(worker) {
  const ns = await worker.mf.getDurableObjectNamespace("X402_ARBITER");
  const all = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    const stub = ns.get(ns.idFromName(`shard-${shard}`));
    const rows = JSON.parse(await stub.ledger(JSON.stringify({ from_ms: 0, after_seq: -1, until_ms: 1e15, limit: 100000 })));
    for (const [seq, timeMs, line] of rows) all.push({ shard, seq, timeMs, event: JSON.parse(line) });
  }
  all.sort((a, b) => a.timeMs - b.timeMs || a.shard - b.shard || a.seq - b.seq);
  return all.map((r) => r.event);
}

/** The events of one payment key, as `event` or `event:reason` words, oldest first. */
export function wordsOf(events, paymentKey) {
  return events.filter((e) => e.paymentKey === paymentKey).map((e) => (e.reason ? `${e.event}:${e.reason}` : e.event));
}

/** The ledger's fields, in order (the CSV columns). */
export const FIELDS = [
  "time", "event", "paymentKey", "payer", "payTo", "amount", "asset", "network", "x402Version",
  "route", "method", "path", "facilitator", "transaction", "reason", "receiptId",
];
