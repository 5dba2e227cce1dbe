// The few steps of a request that are cheaper in JavaScript than across the wasm
// boundary one call at a time (see src/reply.rs and src/origin.rs).

/** Headers from "name\nvalue\n…". */
export function headersOf(joined) {
  const h = new Headers();
  const parts = joined.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) h.append(parts[i], parts[i + 1]);
  return h;
}

/** A response from a status, its body bytes (copied) and its headers as "name\nvalue\n…". */
export function respond(status, body, headers) {
  return new Response(body.length === 0 ? null : body.slice(), { status, headers: headersOf(headers) });
}

/** A response from JavaScript-held parts (the runtime copies the body and the headers). */
export function respondWith(status, body, headers) {
  return new Response(body, { status, headers });
}

/**
 * `answer` settled through `judge(response, true)` or `judge(error, false)`. A status of
 * 200-599 other than 101 is one `http::is_passable` always passes: such a response is
 * handed back without the call (the judge decides every other answer).
 */
export function passOrigin(answer, judge) {
  return answer.then(
    (response) => {
      const status = response.status;
      return status >= 200 && status <= 599 && status !== 101 ? response : judge(response, true);
    },
    (error) => judge(error, false),
  );
}

const field = (v) => (v === null ? "-" : `+${v}`);

/**
 * What every request needs, in one string: method, URL, then `PAYMENT-SIGNATURE`,
 * `X-PAYMENT` and (OPTIONS only) `Access-Control-Request-Method`, each "+value" or "-"
 * when absent, one per line (none of them can hold a line break).
 */
export function inbound(req) {
  const h = req.headers;
  const method = req.method;
  const acrm = method.toUpperCase() === "OPTIONS" ? h.get("access-control-request-method") : null;
  return `${method}\n${req.url}\n${field(h.get("payment-signature"))}\n${field(h.get("x-payment"))}\n${field(acrm)}`;
}

/** The header names of `headers`, one per line. */
export function headerNames(headers) {
  let names = "";
  for (const name of headers.keys()) names += `${name}\n`;
  return names;
}

/**
 * The request sent to the origin: `req`'s headers without the `doomed` ones (one per
 * line), with `X402-Origin-Secret: secret` when `secret` is not empty, the method as
 * given, redirects not followed, `body` when not undefined.
 */
export function outbound(req, url, method, doomed, secret, body, signal) {
  // The Request constructor copies the headers; the doomed ones go from that copy.
  const init = { method, headers: req.headers, redirect: "manual" };
  if (body !== undefined) init.body = body;
  if (signal !== undefined) init.signal = signal;
  const request = new Request(url, init);
  if (doomed) for (const name of doomed.split("\n")) if (name) request.headers.delete(name);
  if (secret) request.headers.set("X402-Origin-Secret", secret); // config::ORIGIN_SECRET_HEADER
  // The operator's admin session (admin::SESSION_COOKIE) is ours, never the origin's.
  const cookie = request.headers.get("cookie");
  if (cookie !== null && cookie.includes("x402_admin")) {
    const kept = cookie.split(";").filter((pair) => pair.split("=")[0].trim() !== "x402_admin");
    if (kept.join("").trim()) request.headers.set("cookie", kept.join(";").trim());
    else request.headers.delete("cookie");
  }
  return request;
}

/** One RPC call `method(...args)` to the Durable Object `name` of `namespace`. */
export function shardCall(namespace, name, method, args) {
  return namespace.getByName(name)[method](...args);
}

/** `outbound(...)` sent, its answer settled through `passOrigin`; throws if unbuildable. */
export function passFree(req, url, method, doomed, secret, body, judge) {
  return passOrigin(fetch(outbound(req, url, method, doomed, secret, body, undefined)), judge);
}

/** A KV value as text, null when absent. */
export function kvGet(namespace, key) {
  return namespace.get(key);
}

/** A KV write; `ttl` seconds until it expires, none when 0. */
export function kvPut(namespace, key, value, ttl) {
  return namespace.put(key, value, ttl > 0 ? { expirationTtl: ttl } : undefined);
}

/** A JSON POST under `signal`: `[status, body text]`. */
export function postJson(url, body, signal) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  return fetch(url, { method: "POST", headers, body, signal }).then((r) => r.text().then((text) => [r.status, text]));
}

// The arbiter's tables: one row per payment key or request binding, with its expiry; and
// the ledger, one row per event (its id unique: the first event of an id is kept).

/** Creates the arbiter's tables and their indexes if they are missing. */
export function rowsCreate(sql) {
  sql.exec("CREATE TABLE IF NOT EXISTS rows (k TEXT PRIMARY KEY, v TEXT NOT NULL, expires_at INTEGER NOT NULL)");
  sql.exec("CREATE INDEX IF NOT EXISTS rows_expiry ON rows (expires_at)");
  sql.exec(
    "CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, " +
      "time_ms INTEGER NOT NULL, event TEXT NOT NULL, payer TEXT NOT NULL, route TEXT NOT NULL, line TEXT NOT NULL)",
  );
  sql.exec("CREATE INDEX IF NOT EXISTS ledger_time ON ledger (time_ms)");
  sql.exec("CREATE INDEX IF NOT EXISTS ledger_payer ON ledger (payer, time_ms)");
  sql.exec("CREATE INDEX IF NOT EXISTS ledger_route ON ledger (route, time_ms)");
  sql.exec("CREATE TABLE IF NOT EXISTS receipts (id TEXT PRIMARY KEY, time_ms INTEGER NOT NULL, body TEXT NOT NULL)");
  sql.exec("CREATE INDEX IF NOT EXISTS receipts_time ON receipts (time_ms)");
  sql.exec("CREATE TABLE IF NOT EXISTS nonces (n TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)");
  // The `payers` object's: who paid in each minute (maxPayersPerMinute).
  sql.exec(
    "CREATE TABLE IF NOT EXISTS minute_payers (scope TEXT NOT NULL, minute INTEGER NOT NULL, payer TEXT NOT NULL, " +
      "PRIMARY KEY (scope, minute, payer))",
  );
}

/**
 * Admits `payer` among the distinct payers of `scope` in `minute` (unix minutes), at most
 * `max` of them: whether it is (one already admitted in the minute is again). Minutes
 * before the last are forgotten.
 */
export function payerAdmit(sql, scope, minute, payer, max) {
  sql.exec("DELETE FROM minute_payers WHERE minute < ?", minute - 1);
  if (sql.exec("SELECT 1 FROM minute_payers WHERE scope = ? AND minute = ? AND payer = ?", scope, minute, payer).toArray().length > 0) return true;
  if (sql.exec("SELECT COUNT(*) AS n FROM minute_payers WHERE scope = ? AND minute = ?", scope, minute).one().n >= max) return false;
  sql.exec("INSERT INTO minute_payers (scope, minute, payer) VALUES (?, ?, ?)", scope, minute, payer);
  return true;
}

/** Spends the nonce `n` (kept until `expiresAt`, unix s): whether it was still unspent. */
export function nonceSpend(sql, n, expiresAt) {
  // One synchronous step of the object: nothing runs between the look and the write.
  if (sql.exec("SELECT 1 FROM nonces WHERE n = ?", n).toArray().length > 0) return false;
  sql.exec("INSERT INTO nonces (n, expires_at) VALUES (?, ?)", n, expiresAt);
  return true;
}


function append(sql, events) {
  for (const e of events) {
    sql.exec(
      "INSERT INTO ledger (id, time_ms, event, payer, route, line) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      ...e,
    );
  }
}

/**
 * Writes `rows` (JSON `[[key, value, expiresAt], …]`, or empty: a payment's record, its
 * payer's tally), appends `events` (JSON: `[[id, timeMs, event, payer, route, line], …]`, or
 * empty) and keeps `receipts` (JSON: `[[id, timeMs, body], …]`, or empty), in one
 * transaction.
 */
export function commit(storage, rows, events, receipts) {
  storage.transactionSync(() => {
    for (const r of rows ? JSON.parse(rows) : []) {
      storage.sql.exec("INSERT OR REPLACE INTO rows (k, v, expires_at) VALUES (?, ?, ?)", ...r);
    }
    if (events) append(storage.sql, JSON.parse(events));
    for (const r of receipts ? JSON.parse(receipts) : []) {
      storage.sql.exec("INSERT INTO receipts (id, time_ms, body) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", ...r);
    }
  });
}

/** The stored receipt `id` (its JSON), undefined when there is none. */
export function receiptRead(sql, id) {
  for (const row of sql.exec("SELECT body FROM receipts WHERE id = ?", id)) return row.body;
  return undefined;
}


/**
 * Up to `limit` ledger lines (JSON) with `from` < time < `until` (unix ms), or time =
 * `from` and seq > `afterSeq`, oldest first (time, seq), filtered by payer (lower case),
 * route and event when not empty; as JSON `[[seq, timeMs, line], …]`.
 */
export function ledgerRead(sql, from, afterSeq, until, payer, route, event, limit, keys) {
  const line = keys ? "'' AS line" : "line";
  let q = `SELECT seq, time_ms, ${line} FROM ledger WHERE (time_ms > ? OR (time_ms = ? AND seq > ?)) AND time_ms < ?`;
  const args = [from, from, afterSeq, until];
  if (payer) (q += " AND payer = ?"), args.push(payer);
  if (route) (q += " AND route = ?"), args.push(route);
  if (event) (q += " AND event = ?"), args.push(event);
  q += " ORDER BY time_ms, seq LIMIT ?";
  args.push(limit);
  return JSON.stringify(sql.exec(q, ...args).toArray().map((r) => [r.seq, r.time_ms, r.line]));
}

/**
 * A response body written a piece at a time: `[readable, write(text) → promise, close() →
 * promise, abort(reason)]`.
 */
export function bodyStream() {
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  return [readable, (text) => writer.write(encoder.encode(text)), () => writer.close(), (why) => writer.abort(why)];
}

/**
 * Deletes up to `batch` ledger events older than `before` (unix ms), oldest first:
 * `[whether older ones are left, whether any event is left]`.
 */
export function ledgerPrune(sql, before, batch) {
  sql.exec("DELETE FROM ledger WHERE seq IN (SELECT seq FROM ledger WHERE time_ms < ? ORDER BY time_ms LIMIT ?)", before, batch);
  sql.exec("DELETE FROM receipts WHERE id IN (SELECT id FROM receipts WHERE time_ms < ? ORDER BY time_ms LIMIT ?)", before, batch);
  const older = sql.exec("SELECT EXISTS (SELECT 1 FROM ledger WHERE time_ms < ?) AS x", before).one().x === 1;
  const any = sql.exec("SELECT EXISTS (SELECT 1 FROM ledger) AS x").one().x === 1;
  return [older, any];
}

/** Sets the object's alarm `inMs` from now unless one is set (`force`: in any case). */
export function alarmAt(storage, inMs, force) {
  const set = force
    ? storage.setAlarm(Date.now() + inMs)
    : storage.getAlarm().then((at) => (at === null ? storage.setAlarm(Date.now() + inMs) : undefined));
  return set.catch((error) => console.error("x402-edge arbiter: the ledger alarm could not be set", error));
}

/** The row `key` as stored, undefined when absent or expired before `now` (unix s). */
export function rowRead(sql, key, now) {
  for (const row of sql.exec("SELECT v, expires_at FROM rows WHERE k = ?", key)) {
    return row.expires_at >= now ? row.v : undefined;
  }
  return undefined;
}

/** Deletes the rows that expired before `now` (unix s). */
export function rowsSweep(sql, now) {
  sql.exec("DELETE FROM rows WHERE expires_at < ?", now);
  sql.exec("DELETE FROM nonces WHERE expires_at < ?", now);
}
