//! The small traits through which the core reaches the outside world. The edge layer
//! implements them with Workers bindings (KV, fetch, `Date.now`); tests implement them
//! with in-memory fakes that can be told to fail.
//!
//! They are `async fn` traits without `Send` bounds: a Worker isolate is single-threaded
//! and its futures are not `Send`.
#![allow(async_fn_in_trait)]

use std::fmt;

/// Wall-clock time, and waiting.
pub trait Clock {
    /// Seconds since the unix epoch.
    fn now_unix(&self) -> u64;
    /// Milliseconds since the unix epoch.
    fn now_ms(&self) -> u64 {
        self.now_unix() * 1000
    }
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u64);
}

/// The strongly consistent arbiter of payment records (a Durable Object per shard). It
/// runs [`crate::once::apply`] atomically for each request.
pub trait Arbiter {
    /// Sends one request to the arbiter shard `shard`.
    async fn call(
        &self,
        shard: u32,
        request: &crate::once::ArbiterRequest,
    ) -> Result<crate::once::ArbiterReply, StoreError>;

    /// Admits `payer` (its tally row, `once::tally_row`) among the distinct payers of
    /// `scope` in the minute `minute` (unix minutes), at most `max` of them: whether it is (a payer already admitted in the
    /// minute is again). One counter for all shards (`maxPayersPerMinute`).
    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError>;
}

/// A failure of a storage backend (KV, Durable Object). Never shown to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

/// A key-value store with optional expiry (Workers KV semantics: last write wins,
/// eventually consistent across locations).
pub trait KvStore {
    /// Reads a value.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Writes a value, expiring after `ttl_seconds` when given.
    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), StoreError>;
}

/// A failure to exchange an HTTP message (connect, timeout, reading the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No answer within the deadline.
    Timeout,
    /// Connection refused, reset, DNS, TLS, or the body could not be read.
    Failed(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// An HTTP answer with its body read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
}

/// Posts JSON somewhere and reads the answer (the facilitator transport).
pub trait HttpClient {
    /// `POST url` with a JSON body; must give up after the client's timeout.
    async fn post_json(&self, url: &str, body: &str) -> Result<HttpReply, TransportError>;
}

/// A paid origin response read for storage.
#[derive(Debug)]
pub struct Kept<R> {
    /// What is recorded for replay: status, the headers worth replaying, and the body
    /// when it is within the limit (`None` past it).
    pub stored: crate::once::StoredResponse,
    /// The response to send now, with all the origin's headers and its whole body.
    pub response: R,
}

/// The origin the paywall sits in front of, for one request. The response type stays
/// opaque to the core (the edge streams it); the core only needs its status, and a
/// stored copy of paid responses for replay.
pub trait Origin {
    /// The origin's response.
    type Response;
    /// Sends the request to the origin (at most once per paid request) with `context`, the
    /// signed payment context (`context::CONTEXT_HEADER`).
    async fn call(&self, context: &str) -> Result<Self::Response, TransportError>;
    /// The response's HTTP status.
    fn status(response: &Self::Response) -> u16;
    /// Reads a response for storage (the body only when it is at most `limit` bytes) and
    /// gives back one to send.
    async fn keep(&self, response: Self::Response, limit: usize) -> Result<Kept<Self::Response>, TransportError>;
}
