//! The payment arbiter: a Durable Object class with SQLite storage, one instance per
//! shard. Each request loads one row, runs the core's `once::apply`, writes what it
//! returns and answers, with no `await` between the read and the write, so a claim is
//! atomic (the object is single-threaded and SQL calls are synchronous). Rows past
//! their expiry are treated as absent and swept.
//!
//! [`EdgeArbiter`] is the core's `Arbiter` port: a `fetch` to the shard's stub.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Result,
    SqlStorageValue, State,
};
use x402_edge_core::error::Failure;
use x402_edge_core::once::{apply, ArbiterReply, ArbiterRequest, Row};
use x402_edge_core::ports::{Arbiter, StoreError};

use crate::net::store_call;

/// The Durable Object binding name in `wrangler.toml`.
pub const BINDING: &str = "X402_ARBITER";

/// One shard of payment records.
#[durable_object(fetch)]
pub struct PaymentArbiter {
    state: State,
}

#[derive(Deserialize)]
struct StoredRow {
    v: String,
    expires_at: i64,
}

impl PaymentArbiter {
    fn now_s() -> i64 {
        (worker::Date::now().as_millis() / 1000) as i64
    }

    fn row_key(request: &ArbiterRequest) -> &str {
        match request {
            ArbiterRequest::BindId { row, .. }
            | ArbiterRequest::Claim { row, .. }
            | ArbiterRequest::Advance { row, .. } => row,
        }
    }

    /// Load, apply, write: synchronous, hence atomic within the object.
    fn handle(&self, request: ArbiterRequest) -> Result<ArbiterReply> {
        let sql = self.state.storage().sql();
        let now = Self::now_s();
        let key = Self::row_key(&request).to_string();
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
            let text = serde_json::to_string(&row).map_err(|e| worker::Error::RustError(e.to_string()))?;
            sql.exec(
                "INSERT OR REPLACE INTO rows (k, v, expires_at) VALUES (?, ?, ?)",
                vec![key.into(), text.into(), SqlStorageValue::try_from_i64(expires_at as i64)?],
            )?;
            // Sweep expired rows with the writes, not with every read (polls are reads).
            sql.exec("DELETE FROM rows WHERE expires_at < ?", vec![SqlStorageValue::from(now)])?;
        }
        Ok(reply)
    }
}

impl DurableObject for PaymentArbiter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let created = sql.exec(
            "CREATE TABLE IF NOT EXISTS rows (k TEXT PRIMARY KEY, v TEXT NOT NULL, expires_at INTEGER NOT NULL)",
            None,
        );
        let indexed = sql.exec("CREATE INDEX IF NOT EXISTS rows_expiry ON rows (expires_at)", None);
        if let Err(e) = created.and(indexed) {
            worker::console_error!("x402-edge arbiter: cannot create its table: {e}");
        }
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let request: ArbiterRequest = match req.json().await {
            Ok(r) => r,
            Err(e) => return Response::error(format!("bad arbiter request: {e}"), 400),
        };
        match self.handle(request) {
            Ok(reply) => Response::from_json(&reply),
            Err(e) => Response::error(format!("arbiter: {e}"), 500),
        }
    }
}

/// The core's arbiter port over the Durable Object namespace; every call has the store
/// deadline.
pub struct EdgeArbiter {
    namespace: ObjectNamespace,
}

impl EdgeArbiter {
    /// The arbiter of this environment; a missing binding is a deployment fault.
    pub fn new(env: &Env) -> std::result::Result<Self, Failure> {
        let namespace = env.durable_object(BINDING).map_err(|_| {
            Failure::Misconfigured(Some(format!(
                "the Durable Object binding {BINDING} (class PaymentArbiter) is missing"
            )))
        })?;
        Ok(Self { namespace })
    }

    async fn exchange(&self, shard: u32, request: &ArbiterRequest) -> std::result::Result<ArbiterReply, StoreError> {
        let fail = |e: worker::Error| StoreError(format!("arbiter shard {shard}: {e}"));
        let stub = self.namespace.id_from_name(&format!("shard-{shard}")).map_err(fail)?.get_stub().map_err(fail)?;
        let body = serde_json::to_string(request).map_err(|e| StoreError(e.to_string()))?;
        let headers = Headers::new();
        headers.set("Content-Type", "application/json").map_err(fail)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init("https://arbiter.x402-edge.internal/", &init).map_err(fail)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(fail)?;
        let text = resp.text().await.map_err(fail)?;
        if resp.status_code() != 200 {
            return Err(StoreError(format!("arbiter shard {shard}: HTTP {}: {text}", resp.status_code())));
        }
        serde_json::from_str(&text).map_err(|e| StoreError(format!("arbiter shard {shard}: {e}")))
    }
}

impl Arbiter for EdgeArbiter {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> std::result::Result<ArbiterReply, StoreError> {
        store_call("arbiter", self.exchange(shard, request)).await
    }
}
