//! The payment arbiter: a Durable Object class with SQLite storage, one instance per
//! shard. Each request loads one row, runs the core's `once::apply`, writes what it
//! returns and answers, with no `await` between the read and the write, so a claim is
//! atomic (the object is single-threaded and SQL calls are synchronous). Rows past
//! their expiry are treated as absent and swept.
//!
//! A settle order is carried out here (`flow::settle_order`): the `settling` write, the
//! facilitator's `/settle` (from this object, with the same configuration as the
//! Worker's) and the outcome's write, each write one such atomic step. Other requests to
//! the shard are served while `/settle` is under way; the claim's lease keeps them off
//! this payment.
//!
//! [`EdgeArbiter`] is the core's `Arbiter` port: an RPC call (`call`, JSON in and out) to
//! the shard's stub. Rows are JSON as every build stored them; the wire between Worker and
//! object changed at 2026-12-02 (externally tagged, RPC), so while a deploy replaces one
//! build with the other, a paid request that crosses builds fails closed (503
//! `storage_unavailable`, nothing settled).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;
use x402_edge_core::codec::to_json;
use x402_edge_core::config::Setup;
use x402_edge_core::error::{Failure, UpstreamError};
use x402_edge_core::facilitator::Either;
use x402_edge_core::flow::{settle_order, STORE_TIMEOUT_MS};
use x402_edge_core::ledger::{EventKind, Query};
use x402_edge_core::once::tally::Tally;
use x402_edge_core::once::{apply, ArbiterReply, ArbiterRequest, Record, Row, SettleOrder};
use x402_edge_core::ports::{Arbiter, Clock, StoreError};
use x402_edge_core::turns::KeyedTurns;

use crate::bindings::{self, Env};
use crate::net::{log_error, settled, store_call, EdgeClock};

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    /// One RPC call `method(...args)` to the Durable Object `name` of `namespace`.
    #[wasm_bindgen(catch, js_name = shardCall)]
    fn shard_call(namespace: &JsValue, name: &str, method: &str, args: &Array) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = rowsCreate)]
    fn rows_create(sql: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = rowRead)]
    fn row_read(sql: &JsValue, key: &str, now: f64) -> Result<Option<String>, JsValue>;
    /// The rows (JSON `[[key, value, expiresAt], …]`, or empty), the ledger events and the
    /// receipts (JSON rows) in one transaction.
    #[wasm_bindgen(catch)]
    fn commit(storage: &JsValue, rows: &str, events: &str, receipts: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = payerAdmit)]
    fn payer_admit(sql: &JsValue, scope: &str, minute: f64, payer: &str, max: u32) -> Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_name = receiptRead)]
    fn receipt_read(sql: &JsValue, id: &str) -> Result<Option<String>, JsValue>;
    #[wasm_bindgen(catch, js_name = nonceSpend)]
    fn nonce_spend(sql: &JsValue, nonce: &str, expires_at: f64) -> Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_name = rowsSweep)]
    fn rows_sweep(sql: &JsValue, now: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = ledgerRead)]
    #[allow(clippy::too_many_arguments)]
    fn ledger_read(
        sql: &JsValue,
        from: f64,
        after_seq: f64,
        until: f64,
        payer: &str,
        route: &str,
        event: &str,
        limit: u32,
        keys: bool,
    ) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = ledgerPrune)]
    fn ledger_prune(sql: &JsValue, before: f64, batch: u32) -> Result<Array, JsValue>;
    #[wasm_bindgen(catch, js_name = alarmAt)]
    fn alarm_at(storage: &JsValue, in_ms: f64, force: bool) -> Result<JsValue, JsValue>;
}

/// The retention alarm runs once a day…
const DAY_MS: f64 = 86_400_000.0;

/// …and deletes this many events at a time (the shard's payments wait meanwhile), again a
/// minute later while older ones are left.
const PRUNE_BATCH: u32 = 5_000;
const PRUNE_AGAIN_MS: f64 = 60_000.0;

/// At most this many ledger lines per read (a page).
const MAX_PAGE: u32 = 1_000;

/// The Durable Object binding name in `wrangler.toml`.
pub const BINDING: &str = "X402_ARBITER";

/// One shard of payment records: the Durable Object class (`new PaymentArbiter(state,
/// env)`, then `call(request)`; src/js/entry.js wraps it).
#[wasm_bindgen]
pub struct PaymentArbiter {
    shard: Rc<Shard>,
}

struct Shard {
    /// `state.storage`.
    storage: JsValue,
    /// `state.storage.sql`.
    sql: JsValue,
    /// Whether the retention alarm is known to be set.
    alarm_set: Cell<bool>,
    env: Env,
    /// When expired rows were last swept (unix s).
    swept_at: Cell<i64>,
    /// The rows this object wrote last (key, JSON, expiry), the newest last. The object
    /// is its storage's only writer and runs one step at a time, so a row it holds is what
    /// a read would return: a payment's later steps (the `settling` write, the outcome)
    /// and its retries make no SQL read. At most [`CACHED_ROWS`] rows and
    /// [`CACHED_BYTES`] of JSON; a row over [`CACHED_ROW_BYTES`] (a large stored body) is
    /// not held.
    rows: RefCell<Vec<(String, String, i64)>>,
    /// Paper settles of one balance, one at a time: the paper facilitator checks a payer's
    /// balance in KV, then debits it, with awaits between; a shard holds all of a payer's
    /// payments, so taking turns here keeps concurrent payments of one payer from spending
    /// one balance twice.
    paper_turns: KeyedTurns,
}

/// Expired rows are swept with a write at most this often (they are ignored when read).
const SWEEP_EVERY_SECONDS: i64 = 60;

/// At most this many rows are held in memory…
const CACHED_ROWS: usize = 64;

/// …holding at most this much JSON in all…
const CACHED_BYTES: usize = 512 * 1024;

/// …none of them longer than this.
const CACHED_ROW_BYTES: usize = 32 * 1024;

#[wasm_bindgen]
impl PaymentArbiter {
    /// The object of `state` (its storage) in the environment `env`; its table is made
    /// if missing.
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, env: JsValue) -> PaymentArbiter {
        let storage = Reflect::get(&state, &JsValue::from_str("storage")).unwrap_or(JsValue::UNDEFINED);
        let sql = Reflect::get(&storage, &JsValue::from_str("sql")).unwrap_or(JsValue::UNDEFINED);
        if let Err(e) = rows_create(&sql) {
            log_error(&format!("x402-edge arbiter: cannot create its table: {e:?}"));
        }
        let shard = Shard {
            storage,
            sql,
            alarm_set: Cell::new(false),
            env: Env::new(env),
            swept_at: Cell::new(0),
            rows: RefCell::new(Vec::new()),
            paper_turns: KeyedTurns::default(),
        };
        PaymentArbiter { shard: Rc::new(shard) }
    }

    /// The retention alarm: deletes ledger events older than `LEDGER_RETENTION_DAYS`
    /// (never on the request path), a batch at a time, and runs again in a day while any
    /// are left. With a broken configuration it deletes nothing (the retention it would
    /// use is not known) and tries again tomorrow.
    pub fn prune(&self) -> Result<(), JsValue> {
        let setup = bindings::setup(&self.shard.env);
        let Setup::Ready(config) = &*setup else {
            log_error("x402-edge arbiter: the configuration is broken; the ledger is not pruned today");
            alarm_at(&self.shard.storage, DAY_MS, true)?;
            return Ok(());
        };
        let before = EdgeClock.now_ms().saturating_sub(config.ledger_retention_days * 86_400_000);
        let left = ledger_prune(&self.shard.sql, before as f64, PRUNE_BATCH)?;
        let (older, any) = (left.get(0).is_truthy(), left.get(1).is_truthy());
        if older {
            alarm_at(&self.shard.storage, PRUNE_AGAIN_MS, true)?;
        } else if any {
            alarm_at(&self.shard.storage, DAY_MS, true)?;
        }
        self.shard.alarm_set.set(older || any);
        Ok(())
    }

    /// Admits `payer` among the distinct payers of `scope` in `minute` (unix minutes), at
    /// most `max`: whether it is (`maxPayersPerMinute`; one object, `payers`, for all).
    pub fn admit(&self, scope: String, minute: f64, payer: String, max: u32) -> Result<bool, JsValue> {
        payer_admit(&self.shard.sql, &scope, minute, &payer, max)
    }

    /// Spends a payer's nonce (kept until `expires_at`, unix s): whether it was unspent.
    pub fn spend(&self, nonce: String, expires_at: f64) -> Result<bool, JsValue> {
        nonce_spend(&self.shard.sql, &nonce, expires_at)
    }

    /// A stored receipt (its JSON), if this shard holds it.
    pub fn receipt(&self, id: String) -> Result<Option<String>, JsValue> {
        receipt_read(&self.shard.sql, &id)
    }

    /// One page of this shard's ledger: JSON [`Query`] in, `[[seq, timeMs, line], …]` out.
    pub fn ledger(&self, query: String) -> Result<String, JsValue> {
        let q = Query::from_json(&query).map_err(|e| js_sys::Error::new(&format!("bad ledger query: {e}")))?;
        ledger_read(
            &self.shard.sql,
            q.from_ms as f64,
            q.after_seq as f64,
            q.until_ms as f64,
            q.payer.as_deref().unwrap_or_default(),
            q.route.as_deref().unwrap_or_default(),
            q.event.map(EventKind::as_str).unwrap_or_default(),
            q.limit.min(MAX_PAGE),
            q.keys,
        )
    }

    /// One arbiter request, JSON [`ArbiterRequest`] in, JSON [`ArbiterReply`] out (a
    /// Durable Object RPC call: no HTTP request or response is built on either side). A
    /// request it cannot read or a storage failure rejects, with the cause.
    pub fn call(&self, request: String) -> Promise {
        let shard = self.shard.clone();
        future_to_promise(async move {
            match shard.answer(&request).await {
                Ok(reply) => Ok(JsValue::from(reply)),
                Err(why) => Err(js_sys::Error::new(&why).into()),
            }
        })
    }
}

impl Shard {
    fn now_s() -> i64 {
        EdgeClock.now_unix() as i64
    }

    /// The JSON reply to one JSON request, or why there is none.
    async fn answer(&self, json: &str) -> Result<String, String> {
        let request = ArbiterRequest::from_json(json).map_err(|e| format!("bad arbiter request: {e}"))?;
        let reply = match request {
            ArbiterRequest::Settle { row, record, order } => self.settle(&row, record, &order).await,
            request => self.handle(request).map_err(|e| format!("arbiter: {e}"))?,
        };
        Ok(to_json(&reply))
    }

    /// Carries a settle order out with this isolate's configuration.
    async fn settle(&self, row: &str, record: Record, order: &SettleOrder) -> ArbiterReply {
        let setup = bindings::setup(&self.env);
        let Setup::Ready(config) = &*setup else {
            return ArbiterReply::Unsettleable { why: "the paywall is misconfigured".into() };
        };
        let facilitator = match bindings::facilitator(config, &self.env) {
            Ok(Either::Left(paper)) => Either::Left(paper.with_turns(self.paper_turns.clone())),
            Ok(f) => f,
            Err(e) => return ArbiterReply::Unsettleable { why: format!("{e:?}") },
        };
        let route = |pattern: &str| config.route_named(pattern);
        let write = |step| self.handle(step).map_err(StoreError);
        settle_order(row, record, order, route, &facilitator, &EdgeClock, &config.signer, write).await
    }

    /// The row `key` as held or stored (JSON), if not expired at `now` (unix s).
    fn read(&self, key: &str, now: i64) -> Result<Option<String>, String> {
        let held =
            self.rows.borrow().iter().find(|(k, _, expires_at)| *k == key && *expires_at >= now).map(|r| r.1.clone());
        match held {
            Some(v) => Ok(Some(v)),
            None => row_read(&self.sql, key, now as f64).map_err(|e| format!("storage: {e:?}")),
        }
    }

    /// Load, apply, write: synchronous, hence atomic within the object. The payer's tally
    /// the request names is loaded with the row and written with it when it changed.
    fn handle(&self, request: ArbiterRequest) -> Result<ArbiterReply, String> {
        let sql = &self.sql;
        let now = Self::now_s();
        let key = request.row().to_string();
        let failed = |e: JsValue| format!("storage: {e:?}");
        let json = match request.record_row() {
            Some(row) => self.read(row, now)?,
            None => None,
        };
        let stored = json.as_deref().map(Row::parse).transpose().map_err(|e| format!("corrupt arbiter row: {e}"))?;
        let tally_key = request.tally_row(stored.as_ref());
        let before = match &tally_key {
            Some(k) => match self.read(k, now)? {
                Some(json) => Tally::parse(&json).map_err(|e| format!("corrupt payer tally: {e}"))?,
                None => Tally::default(),
            },
            None => Tally::default(),
        };
        let mut tally = before.clone();
        let (write, reply, mut events) = apply(stored, &mut tally, request);
        let now_ms = EdgeClock.now_ms();
        let tally_write = tally_key.filter(|_| tally != before).map(|k| {
            let expires_at = tally.expires_at(now_ms) as i64;
            (k, to_json(&tally), expires_at)
        });
        // An event is dated when it is written, by this object's clock: within a shard, time
        // follows the write order, so a reader paging by time misses nothing written later.
        let written_at = EdgeClock.now_ms();
        for e in &mut events {
            e.time_ms = written_at;
        }
        let receipts: Vec<(String, u64, String)> =
            events.iter().filter_map(|e| e.receipt_json().map(|(id, body)| (id, e.time_ms, body))).collect();
        let receipts = if receipts.is_empty() { String::new() } else { to_json(&receipts) };
        let events = if events.is_empty() {
            String::new()
        } else {
            let rows: Vec<_> = events
                .iter()
                .map(|e| (e.id(), e.time_ms, e.event.as_str(), e.payer_key(), &e.payment.route, e.to_json_line()))
                .collect();
            to_json(&rows)
        };
        let record_write = write.map(|row| (key, to_json(&row), row.expires_at() as i64));
        let rows: Vec<&(String, String, i64)> = record_write.iter().chain(tally_write.iter()).collect();
        if rows.is_empty() && !events.is_empty() {
            // A refusal at the claim: its event alone.
            commit(&self.storage, "", &events, &receipts).map_err(failed)?;
            self.mind_the_alarm();
        }
        if !rows.is_empty() {
            let written = commit(&self.storage, &to_json(&rows), &events, &receipts);
            for (k, json, expires_at) in &rows {
                self.hold(k.clone(), written.is_ok().then(|| (json.clone(), *expires_at)));
            }
            written.map_err(failed)?;
            if !events.is_empty() {
                self.mind_the_alarm();
            }
            // Sweep expired rows with a write now and then, never with a read (polls are
            // reads): a statement less on most writes.
            // The change is committed: a failed sweep is only logged (it is tried again).
            if now - self.swept_at.get() >= SWEEP_EVERY_SECONDS {
                if let Err(e) = rows_sweep(sql, now as f64) {
                    log_error(&format!("x402-edge arbiter: sweeping expired rows: {e:?}"));
                }
                self.swept_at.set(now);
            }
        }
        Ok(reply)
    }

    /// Sets the retention alarm once per object life (unless one is set already): events
    /// exist, so one day they expire.
    fn mind_the_alarm(&self) {
        if !self.alarm_set.replace(true) {
            if let Err(e) = alarm_at(&self.storage, DAY_MS, false) {
                log_error(&format!("x402-edge arbiter: cannot set the ledger alarm: {e:?}"));
                self.alarm_set.set(false);
            }
        }
    }

    /// Holds the row `key` as written (its JSON and expiry), or forgets it (`None`: a
    /// failed write, whose effect is not known).
    fn hold(&self, key: String, row: Option<(String, i64)>) {
        let mut rows = self.rows.borrow_mut();
        rows.retain(|(k, _, _)| *k != key);
        let Some((json, expires_at)) = row.filter(|(json, _)| json.len() <= CACHED_ROW_BYTES) else { return };
        let mut held: usize = rows.iter().map(|(_, j, _)| j.len()).sum::<usize>() + json.len();
        while !rows.is_empty() && (rows.len() >= CACHED_ROWS || held > CACHED_BYTES) {
            held -= rows.remove(0).1.len();
        }
        rows.push((key, json, expires_at));
    }
}

/// The core's arbiter port over the Durable Object namespace; every call has the store
/// deadline, a settle order the facilitator's on top of it.
pub struct EdgeArbiter {
    namespace: JsValue,
    settle_deadline_ms: u64,
}

impl EdgeArbiter {
    /// The arbiter of this environment; a missing binding is a deployment fault.
    /// `settle_deadline_ms`: how long a settle order may take (it covers `/settle`).
    pub fn new(env: &Env, settle_deadline_ms: u64) -> std::result::Result<Self, Failure> {
        Ok(Self { namespace: namespace(env)?, settle_deadline_ms })
    }
}

/// One RPC call `method(args)` to the object of `shard`, under `deadline_ms`: every call
/// the Worker makes to the arbiter (requests, ledger pages, receipts, nonces) goes here.
pub async fn call_shard(
    namespace: &JsValue,
    shard: u32,
    method: &str,
    args: &[JsValue],
    deadline_ms: u64,
) -> Result<JsValue, StoreError> {
    call_object(namespace, &format!("shard-{shard}"), method, args, deadline_ms).await
}

/// The object that counts this minute's payers for every shard (`maxPayersPerMinute`).
pub const PAYERS_OBJECT: &str = "payers";

/// One RPC call `method(args)` to the object `name` of the arbiter's class.
async fn call_object(
    namespace: &JsValue,
    name: &str,
    method: &str,
    args: &[JsValue],
    deadline_ms: u64,
) -> Result<JsValue, StoreError> {
    let args: Array = args.iter().collect();
    let what = format!("arbiter object {name} ({method})");
    store_call(&what, deadline_ms, settled(shard_call(namespace, name, method, &args))).await
}

/// The arbiter's Durable Object namespace; a missing binding is a deployment fault.
pub fn namespace(env: &Env) -> Result<JsValue, Failure> {
    env.get(BINDING).filter(JsValue::is_object).ok_or_else(|| {
        Failure::Misconfigured(Some(format!("the Durable Object binding {BINDING} (class PaymentArbiter) is missing")))
    })
}

/// The receipt `id` as its shard stores it (`None`: no such receipt, or not an id).
pub async fn stored_receipt(env: &Env, id: &str) -> Result<Option<String>, Failure> {
    let Some(shard) = x402_edge_core::ledger::receipt_shard(id) else { return Ok(None) };
    let answer = call_shard(&namespace(env)?, shard, "receipt", &[id.into()], STORE_TIMEOUT_MS).await;
    Ok(answer.map_err(|e| Failure::Upstream(UpstreamError::Store(e)))?.as_string())
}

/// Spends a payer's nonce with its shard: whether it was still unspent.
pub async fn spend_nonce(env: &Env, nonce: &str, expires_at_s: u64) -> Result<bool, Failure> {
    let shard = x402_edge_core::payer::nonce_shard(nonce);
    let args = [nonce.into(), JsValue::from_f64(expires_at_s as f64)];
    let answer = call_shard(&namespace(env)?, shard, "spend", &args, STORE_TIMEOUT_MS).await;
    Ok(answer.map_err(|e| Failure::Upstream(UpstreamError::Store(e)))?.as_bool() == Some(true))
}

impl Arbiter for EdgeArbiter {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> std::result::Result<ArbiterReply, StoreError> {
        let deadline = match request {
            ArbiterRequest::Settle { .. } => self.settle_deadline_ms,
            _ => STORE_TIMEOUT_MS,
        };
        let answer = call_shard(&self.namespace, shard, "call", &[to_json(request).into()], deadline).await?;
        let fail = |why: String| StoreError(format!("arbiter shard {shard}: {why}"));
        let text = answer.as_string().ok_or_else(|| fail("no text".into()))?;
        ArbiterReply::from_json(&text).map_err(|e| fail(e.to_string()))
    }

    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
        let args = [scope.into(), JsValue::from_f64(minute as f64), payer.into(), max.into()];
        let answer = call_object(&self.namespace, PAYERS_OBJECT, "admit", &args, STORE_TIMEOUT_MS).await?;
        answer.as_bool().ok_or_else(|| StoreError("the payers object answered no boolean".into()))
    }
}
