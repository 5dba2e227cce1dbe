//! Core ports made of Workers APIs: fetch with a deadline (facilitator transport), KV
//! with the store deadline, and the clock.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use worker::js_sys::{Function, Promise};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Date, Fetch, Headers, Method, Request, RequestInit};
use x402_edge_core::flow::STORE_TIMEOUT_MS;
use x402_edge_core::ports::{Clock, HttpClient, HttpReply, KvStore, StoreError, TransportError};

/// `Date.now()` in seconds.
pub struct EdgeClock;

impl Clock for EdgeClock {
    fn now_unix(&self) -> u64 {
        Date::now().as_millis() / 1000
    }

    fn now_ms(&self) -> u64 {
        Date::now().as_millis()
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

/// A Workers KV namespace; every call has the store deadline ([`STORE_TIMEOUT_MS`]).
pub struct EdgeKv(pub worker::KvStore);

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
        store_call("KV get", STORE_TIMEOUT_MS, self.0.get(key).text()).await
    }

    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), StoreError> {
        let mut put = self.0.put_bytes(key, value.as_bytes()).map_err(|e| StoreError(e.to_string()))?;
        if let Some(ttl) = ttl_seconds {
            // KV refuses expirations under 60 seconds.
            put = put.expiration_ttl(ttl.max(60));
        }
        store_call("KV put", STORE_TIMEOUT_MS, put.execute()).await
    }
}

/// A response body read whole as text by the runtime in one call (the `worker` crate's
/// `text()` pumps the stream through Rust adapters chunk by chunk: several times the CPU
/// and bundle bytes, for the small JSON bodies of the arbiter and the facilitator).
pub async fn body_text(body: &worker::web_sys::Response) -> Result<String, String> {
    text_of(body.text()).await
}

/// A request body read whole as text (see [`body_text`]).
pub async fn request_text(body: &worker::web_sys::Request) -> Result<String, String> {
    text_of(body.text()).await
}

async fn text_of(promise: Result<Promise, JsValue>) -> Result<String, String> {
    let promise = promise.map_err(|e| format!("body unreadable: {e:?}"))?;
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

/// A promise that resolves after a delay, through the global `setTimeout` (worker's
/// `Delay` expects a numeric timer id, which only workerd gives), and is cleared when
/// dropped: a deadline that did not pass leaves no timer behind. Should `setTimeout` be
/// missing, it resolves at once: the work then times out, which fails closed.
struct Timer {
    fired: JsFuture,
    id: Option<JsValue>,
}

fn timer(deadline: Duration) -> Timer {
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
        let failed = |e: worker::Error| TransportError::Failed(e.to_string());
        let headers = Headers::new();
        headers.set("Content-Type", "application/json").map_err(failed)?;
        headers.set("Accept", "application/json").map_err(failed)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(body)));
        let request = Request::new_with_init(url, &init).map_err(failed)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let response = Fetch::Request(request).send_with_signal(&signal).await.map_err(|e| e.to_string())?;
            let status = response.status_code();
            let body = body_text(&response.into()).await?;
            Ok::<_, String>(HttpReply { status, body })
        };
        in_time(exchange, Duration::from_millis(self.timeout_ms), || controller.abort()).await
    }
}
