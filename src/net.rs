//! Core ports made of Workers APIs: fetch with a deadline (facilitator transport), KV
//! with the store deadline, and the clock.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use x402_edge_core::flow::STORE_TIMEOUT_MS;
use x402_edge_core::ports::{Clock, HttpClient, HttpReply, KvStore, StoreError, TransportError};

/// `Date.now()` in seconds.
pub struct EdgeClock;

#[wasm_bindgen]
extern "C" {
    /// `console.error(message)`: the Worker's log.
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn log_error(message: &str);
}

/// `Date.now()`, in ms.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl Clock for EdgeClock {
    fn now_unix(&self) -> u64 {
        now_ms() / 1000
    }

    fn now_ms(&self) -> u64 {
        now_ms()
    }

    async fn sleep(&self, ms: u64) {
        timer(Duration::from_millis(ms)).await;
    }
}

/// A random token naming one request as a claim owner (128 bits, hex). Without
/// randomness there is no safe owner name, so the request fails (closed) instead.
pub fn claim_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a claim token: {e}"))?;
    Ok(x402_edge_core::codec::hex_encode_0x(&bytes)[2..].to_string())
}

/// A Workers KV namespace binding; every call has the store deadline ([`STORE_TIMEOUT_MS`]).
pub struct EdgeKv(pub JsValue);

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    /// `namespace.get(key)` as text (null when absent).
    #[wasm_bindgen(catch, js_name = kvGet)]
    fn kv_get(namespace: &JsValue, key: &str) -> Result<Promise, JsValue>;
    /// `namespace.put(key, value)`, with an expiration TTL in seconds when not 0.
    #[wasm_bindgen(catch, js_name = kvPut)]
    fn kv_put(namespace: &JsValue, key: &str, value: &str, ttl_seconds: f64) -> Result<Promise, JsValue>;
    /// A JSON POST under `signal`: `[status, body text]`.
    #[wasm_bindgen(catch, js_name = postJson)]
    fn post_json(url: &str, body: &str, signal: &web_sys::AbortSignal) -> Result<Promise, JsValue>;
}

/// A promise's value; a rejection or a throw as text.
pub(crate) async fn settled(promise: Result<Promise, JsValue>) -> Result<JsValue, String> {
    JsFuture::from(promise.map_err(|e| format!("{e:?}"))?).await.map_err(|e| format!("{e:?}"))
}

/// Runs a store call under a deadline (in ms).
pub async fn store_call<T, E: std::fmt::Display>(
    what: &str,
    deadline_ms: u64,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError> {
    match with_deadline(work, Duration::from_millis(deadline_ms)).await {
        Some(done) => done.map_err(|e| StoreError(format!("{what}: {e}"))),
        None => Err(StoreError(format!("{what}: no answer within {deadline_ms} ms"))),
    }
}

impl KvStore for EdgeKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let read = async { settled(kv_get(&self.0, key)).await.map(|v| v.as_string()) };
        store_call("KV get", STORE_TIMEOUT_MS, read).await
    }

    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), StoreError> {
        // KV refuses expirations under 60 seconds.
        let ttl = ttl_seconds.map_or(0.0, |ttl| ttl.max(60) as f64);
        let write = async { settled(kv_put(&self.0, key, value, ttl)).await.map(drop) };
        store_call("KV put", STORE_TIMEOUT_MS, write).await
    }
}

/// A response body read whole as text by the runtime in one call (the tests' reader).
#[cfg(test)]
pub async fn body_text(body: &web_sys::Response) -> Result<String, String> {
    let promise = body.text().map_err(|e| format!("body unreadable: {e:?}"))?;
    let text = JsFuture::from(promise).await.map_err(|e| format!("body unreadable: {e:?}"))?;
    text.as_string().ok_or_else(|| "body is not text".to_string())
}

/// `fetch` with a deadline; the request is aborted when the deadline passes.
pub struct EdgeHttp {
    /// Deadline for the whole exchange, body included.
    pub timeout_ms: u64,
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue) -> Result<(), JsValue>;
}

/// A promise that resolves after a delay, through the global `setTimeout` (the timer id is
/// kept as it is: workerd's is a number, node's an object), and is cleared when
/// dropped: a deadline that did not pass leaves no timer behind. Should `setTimeout` be
/// missing, it resolves at once: the work then times out, which fails closed.
pub(crate) struct Timer {
    fired: JsFuture,
    id: Option<JsValue>,
}

pub(crate) fn timer(deadline: Duration) -> Timer {
    let ms = deadline.as_millis() as f64;
    let mut id = None;
    let promise = Promise::new(&mut |resolve, _reject| {
        id = set_timeout(&resolve, ms).ok();
        if id.is_none() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    Timer { fired: JsFuture::from(promise), id }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        match std::pin::Pin::new(&mut self.fired).poll(cx) {
            Poll::Ready(_) => {
                self.id = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = clear_timeout(&id);
        }
    }
}

/// Runs `work` until it finishes or `deadline` passes first (then `None`).
pub async fn with_deadline<T>(work: impl Future<Output = T>, deadline: Duration) -> Option<T> {
    let mut work = pin!(work);
    let mut timer = pin!(timer(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Runs `work` until `deadline`; past it, `abort` is called (the work's fetch is given up)
/// and the answer is [`TransportError::Timeout`]. Used for every upstream exchange that has
/// a deadline: facilitator calls and paid origin calls.
pub async fn in_time<T, E: ToString>(
    work: impl Future<Output = Result<T, E>>,
    deadline: Duration,
    abort: impl FnOnce(),
) -> Result<T, TransportError> {
    match with_deadline(work, deadline).await {
        Some(done) => done.map_err(|e| TransportError::Failed(e.to_string())),
        None => {
            abort();
            Err(TransportError::Timeout)
        }
    }
}

impl HttpClient for EdgeHttp {
    async fn post_json(&self, url: &str, body: &str) -> Result<HttpReply, TransportError> {
        let controller = web_sys::AbortController::new()
            .map_err(|e| TransportError::Failed(format!("no AbortController for the deadline: {e:?}")))?;
        let exchange = async {
            let answer: js_sys::Array = settled(post_json(url, body, &controller.signal())).await?.unchecked_into();
            let status = answer.get(0).as_f64().ok_or("no status")? as u16;
            let body = answer.get(1).as_string().ok_or("no body text")?;
            Ok::<_, String>(HttpReply { status, body })
        };
        in_time(exchange, Duration::from_millis(self.timeout_ms), || controller.abort()).await
    }
}
