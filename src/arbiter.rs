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
//! [`EdgeArbiter`] is the core's `Arbiter` port: a `fetch` to the shard's stub.

use serde::Deserialize;
use worker::js_sys::Promise;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, ObjectNamespace, Request, Response, Result, SqlStorageValue, State};
use x402_edge_core::codec::to_json;
use x402_edge_core::config::Setup;
use x402_edge_core::error::Failure;
use x402_edge_core::flow::{settle_order, STORE_TIMEOUT_MS};
use x402_edge_core::once::{apply, ArbiterReply, ArbiterRequest, Row};
use x402_edge_core::ports::{Arbiter, StoreError};

use crate::bindings;
use crate::net::{request_text, store_call, EdgeClock};

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    /// POST a JSON body to a Durable Object stub: the answer's text (status 200 only).
    #[wasm_bindgen(js_name = arbiterFetch)]
    fn arbiter_fetch(stub: &JsValue, body: &str) -> Promise;
}

/// The Durable Object binding name in `wrangler.toml`.
pub const BINDING: &str = "X402_ARBITER";

/// One shard of payment records.
#[durable_object(fetch)]
pub struct PaymentArbiter {
    state: State,
    env: Env,
    /// When expired rows were last swept (unix s).
    swept_at: std::cell::Cell<i64>,
}

/// Expired rows are swept with a write at most this often (they are ignored when read).
const SWEEP_EVERY_SECONDS: i64 = 60;

#[derive(Deserialize)]
struct StoredRow {
    v: String,
    expires_at: i64,
}

impl PaymentArbiter {
    fn now_s() -> i64 {
        (worker::Date::now().as_millis() / 1000) as i64
    }

    /// Carries a settle order out with this isolate's configuration.
    async fn settle(&self, request: ArbiterRequest) -> ArbiterReply {
        let ArbiterRequest::Settle { row, record, order } = request else {
            return ArbiterReply::Unsettleable { why: "not a settle order".into() };
        };
        let setup = bindings::setup(&self.env);
        let Setup::Ready(config) = &*setup else {
            return ArbiterReply::Unsettleable { why: "the paywall is misconfigured".into() };
        };
        let facilitator = match bindings::facilitator(config, &self.env) {
            Ok(f) => f,
            Err(e) => return ArbiterReply::Unsettleable { why: format!("{e:?}") },
        };
        let route = |pattern: &str| config.routes.iter().map(|(_, r)| r).find(|r| r.pattern == pattern);
        let write = |step| self.handle(step).map_err(|e| StoreError(e.to_string()));
        settle_order(&row, record, &order, route, &facilitator, &EdgeClock, &config.signer, write).await
    }

    /// Load, apply, write: synchronous, hence atomic within the object.
    fn handle(&self, request: ArbiterRequest) -> Result<ArbiterReply> {
        let sql = self.state.storage().sql();
        let now = Self::now_s();
        let key = request.row().to_string();
        let rows: Vec<StoredRow> = sql
            .exec("SELECT v, expires_at FROM rows WHERE k = ?", vec![SqlStorageValue::from(key.clone())])?
            .to_array()?;
        let stored = rows
            .into_iter()
            .next()
            .filter(|r| r.expires_at >= now)
            .map(|r| serde_json::from_str::<Row>(&r.v))
            .transpose()
            .map_err(|e| worker::Error::RustError(format!("corrupt arbiter row: {e}")))?;
        let (write, reply) = apply(stored, request);
        if let Some(row) = write {
            let expires_at = match &row {
                Row::Record(r) => r.expires_at,
                Row::Id(b) => b.expires_at,
            };
            let text = to_json(&row);
            sql.exec(
                "INSERT OR REPLACE INTO rows (k, v, expires_at) VALUES (?, ?, ?)",
                vec![key.into(), text.into(), SqlStorageValue::try_from_i64(expires_at as i64)?],
            )?;
            // Sweep expired rows with a write now and then, never with a read (polls are
            // reads): a statement less on most writes.
            if now - self.swept_at.get() >= SWEEP_EVERY_SECONDS {
                sql.exec("DELETE FROM rows WHERE expires_at < ?", vec![SqlStorageValue::from(now)])?;
                self.swept_at.set(now);
            }
        }
        Ok(reply)
    }
}

impl DurableObject for PaymentArbiter {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let created = sql.exec(
            "CREATE TABLE IF NOT EXISTS rows (k TEXT PRIMARY KEY, v TEXT NOT NULL, expires_at INTEGER NOT NULL)",
            None,
        );
        let indexed = sql.exec("CREATE INDEX IF NOT EXISTS rows_expiry ON rows (expires_at)", None);
        if let Err(e) = created.and(indexed) {
            worker::console_error!("x402-edge arbiter: cannot create its table: {e}");
        }
        Self { state, env, swept_at: std::cell::Cell::new(0) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let parsed = request_text(req.inner()).await.and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
        let request: ArbiterRequest = match parsed {
            Ok(r) => r,
            Err(e) => return Response::error(format!("bad arbiter request: {e}"), 400),
        };
        if let ArbiterRequest::Settle { .. } = request {
            return Response::from_json(&self.settle(request).await);
        }
        match self.handle(request) {
            Ok(reply) => Response::from_json(&reply),
            Err(e) => Response::error(format!("arbiter: {e}"), 500),
        }
    }
}

/// The core's arbiter port over the Durable Object namespace; every call has the store
/// deadline, a settle order the facilitator's on top of it.
pub struct EdgeArbiter {
    namespace: ObjectNamespace,
    settle_deadline_ms: u64,
}

impl EdgeArbiter {
    /// The arbiter of this environment; a missing binding is a deployment fault.
    /// `settle_deadline_ms`: how long a settle order may take (it covers `/settle`).
    pub fn new(env: &Env, settle_deadline_ms: u64) -> std::result::Result<Self, Failure> {
        let namespace = env.durable_object(BINDING).map_err(|_| {
            Failure::Misconfigured(Some(format!(
                "the Durable Object binding {BINDING} (class PaymentArbiter) is missing"
            )))
        })?;
        Ok(Self { namespace, settle_deadline_ms })
    }

    /// One request to the shard's object, in one call across the wasm boundary.
    async fn exchange(&self, shard: u32, request: &ArbiterRequest) -> std::result::Result<ArbiterReply, StoreError> {
        let fail = |e: String| StoreError(format!("arbiter shard {shard}: {e}"));
        let stub = self.namespace.get_by_name(&format!("shard-{shard}")).map_err(|e| fail(e.to_string()))?;
        let body = to_json(request);
        let answer = JsFuture::from(arbiter_fetch(&stub.into_rpc::<JsValue>(), &body)).await;
        let text = answer.map_err(|e| fail(format!("{e:?}")))?.as_string().ok_or_else(|| fail("no text".into()))?;
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
    }
}

impl Arbiter for EdgeArbiter {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> std::result::Result<ArbiterReply, StoreError> {
        let deadline = match request {
            ArbiterRequest::Settle { .. } => self.settle_deadline_ms,
            _ => STORE_TIMEOUT_MS,
        };
        store_call("arbiter", deadline, self.exchange(shard, request)).await
    }
}
