//! Requests to the origin: free routes pass through, paid routes call it once inside the
//! escrow flow, under a deadline. The outbound request goes to the normalised path (what
//! was priced is what the origin sees), keeps the query, the method string exactly as
//! sent, the headers and the body, and drops the payment and override headers and the
//! client's copies of ours (`overrides::STRIPPED_REQUEST_HEADERS`). It carries the
//! `ORIGIN_SECRET`, when one is set, and a paid request the signed payment context
//! (`context::CONTEXT_HEADER`).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use js_sys::{self, Function, Promise, Reflect};
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{self, Response};
use x402_edge_core::config::{OriginSecret, OriginSetting};
use x402_edge_core::context::{normal_origin, origin_of, CONTEXT_HEADER};
use x402_edge_core::error::{Failure, RequestError, UpstreamError};
use x402_edge_core::http::{is_get_or_head, is_passable, is_standard_method, may_store, RequestUrl};
use x402_edge_core::once::record::keep_header;
use x402_edge_core::once::StoredResponse;
use x402_edge_core::overrides::is_stripped;
use x402_edge_core::ports::{Kept, Origin, TransportError};

use crate::body::read_prefix;
use crate::net::{in_time, now_ms};
use crate::reply;

/// The request body to send on.
pub enum Body {
    /// The client's body stream, untouched.
    Stream,
    /// A body already read (to inspect a form).
    Read(crate::inbound::ReadBody),
}

/// What an origin request is made of.
pub struct Outbound<'a> {
    /// The client's request (headers, body stream).
    pub req: &'a web_sys::Request,
    /// Its URL (query, and the host for a same-site origin).
    pub url: RequestUrl<'a>,
    /// The method, as sent.
    pub method: &'a str,
    /// The normalised path to forward.
    pub path: &'a str,
    /// Where to.
    pub origin: &'a OriginSetting,
    /// Sent as `X402-Origin-Secret`, when configured.
    pub secret: Option<&'a OriginSecret>,
    /// The body.
    pub body: &'a Body,
}

impl Outbound<'_> {
    /// Builds the request sent to the origin.
    pub(crate) fn build(&self, signal: Option<&web_sys::AbortSignal>) -> Result<web_sys::Request, Failure> {
        let (target, doomed, body) = self.parts();
        let signal = signal.map_or(JsValue::UNDEFINED, JsValue::from);
        outbound(self.req, &target, self.method, &doomed, self.secret_value(), &body, &signal)
            .map_err(|e| self.unbuildable(&e))
    }

    /// The origin secret's value, empty when there is none.
    fn secret_value(&self) -> &str {
        self.secret.map_or("", OriginSecret::expose)
    }

    /// The origin this request goes to (`scheme://host[:port]`, as a browser writes an
    /// origin): the payment context's audience.
    pub fn audience(&self) -> String {
        match self.origin {
            OriginSetting::Url(base) => normal_origin(base),
            OriginSetting::SameSite => normal_origin(&format!("{}://{}", self.url.scheme, self.url.authority)),
        }
    }

    /// The path the origin receives (a base path of `ORIGIN_URL` first), without the query.
    pub fn origin_path(&self) -> String {
        match self.origin {
            OriginSetting::Url(base) => {
                let base_path = &base[origin_of(base).len()..];
                format!("{base_path}{}", self.path)
            }
            OriginSetting::SameSite => self.path.to_string(),
        }
    }

    /// Why the runtime would not build the request: a method it does not take is a 501.
    fn unbuildable(&self, e: &JsValue) -> Failure {
        if is_standard_method(self.method) {
            Failure::Internal(format!("origin request: {e:?}"))
        } else {
            RequestError::MethodNotSupported.into()
        }
    }

    /// The target URL, the header names to drop (one per line) and the body.
    fn parts(&self) -> (String, String, JsValue) {
        let target = match self.origin {
            OriginSetting::Url(base) => match self.url.query {
                Some(q) => format!("{base}{}?{q}", self.path),
                None => format!("{base}{}", self.path),
            },
            OriginSetting::SameSite => self.url.with_path(self.path),
        };
        let fixed_origin = matches!(self.origin, OriginSetting::Url(_));
        // Only the header names cross (one string); the runtime copies the headers and
        // deletes the few to drop, in one call with the request's construction.
        let names = header_names(&self.req.headers());
        let mut doomed = String::new();
        // A body already read is sent as bytes (an MCP call's without its payment): the
        // runtime frames it, so the client's framing headers go.
        let read = matches!(self.body, Body::Read(_));
        let framing = |n: &str| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding");
        let dropped =
            |n: &str| is_stripped(n) || (fixed_origin && n.eq_ignore_ascii_case("host")) || (read && framing(n));
        for name in names.lines().filter(|n| dropped(n)) {
            doomed.push_str(name);
            doomed.push('\n');
        }
        let bodiless = is_get_or_head(self.method);
        let body = match self.body {
            _ if bodiless => JsValue::UNDEFINED,
            Body::Stream => self.req.body().map_or(JsValue::UNDEFINED, JsValue::from),
            Body::Read(read) => read.js.clone().into(),
        };
        (target, doomed, body)
    }
}

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    /// The header names of `headers`, one per line.
    #[wasm_bindgen(js_name = headerNames)]
    fn header_names(headers: &web_sys::Headers) -> String;

    /// [`outbound`] sent, its answer through [`pass_origin`]; a request that cannot be
    /// built throws (nothing is sent).
    #[wasm_bindgen(catch, js_name = passFree)]
    fn pass_free(
        req: &web_sys::Request,
        url: &str,
        method: &str,
        doomed: &str,
        secret: &str,
        body: &JsValue,
        judge: &Function,
    ) -> Result<Promise, JsValue>;

    /// The request to the origin: `req`'s headers without `doomed` (one per line), with
    /// `X402-Origin-Secret: secret` when it is not empty, the method as given, redirects
    /// not followed, `body` and `signal` when not undefined.
    #[wasm_bindgen(catch)]
    fn outbound(
        req: &web_sys::Request,
        url: &str,
        method: &str,
        doomed: &str,
        secret: &str,
        body: &JsValue,
        signal: &JsValue,
    ) -> Result<web_sys::Request, JsValue>;
}

/// What a free request's origin answered, as the client gets it: the response itself, or
/// `origin_unavailable` when there is none a client response can carry (the fetch failed,
/// a status outside 200–599, a 101 without a WebSocket).
fn judge(answer: JsValue, fetched: bool) -> JsValue {
    let unavailable = |why: String| crate::refuse(&Failure::Upstream(UpstreamError::OriginUnavailable(why)), None);
    if !fetched {
        return unavailable(format!("{answer:?}")).into();
    }
    let Ok(response) = answer.dyn_into::<web_sys::Response>() else {
        return unavailable("not a Response".into()).into();
    };
    let status = response.status();
    let websocket =
        Reflect::get(&response, &JsValue::from_str("webSocket")).is_ok_and(|ws| !ws.is_null() && !ws.is_undefined());
    if !is_passable(status) || (status == 101 && !websocket) {
        return unavailable(format!("origin answered status {status}")).into();
    }
    response.into()
}

thread_local! {
    /// [`judge`] as a JavaScript function, made once per isolate.
    static JUDGE: Closure<dyn Fn(JsValue, bool) -> JsValue> = Closure::new(judge);
}

/// Passes a free request to the origin: the runtime's promise of its answer, handed back
/// untouched (no Rust future, no copy); an answer no client response can carry, or none,
/// is `origin_unavailable`.
pub fn pass(outbound: Outbound<'_>) -> Result<Promise, Failure> {
    let (target, doomed, body) = outbound.parts();
    let judge = |judge: &Closure<dyn Fn(JsValue, bool) -> JsValue>| {
        let secret = outbound.secret_value();
        pass_free(outbound.req, &target, outbound.method, &doomed, secret, &body, judge.as_ref().unchecked_ref())
    };
    JUDGE.with(judge).map_err(|e| outbound.unbuildable(&e))
}

/// [`pass`], awaited (a free request whose body was read first).
pub async fn pass_later(outbound: Outbound<'_>) -> Result<Response, Failure> {
    let answer = JsFuture::from(pass(outbound)?).await;
    answer
        .ok()
        .and_then(|r| r.dyn_into().ok())
        .ok_or_else(|| Failure::Internal("the origin's answer is not a Response".into()))
}

/// The origin of one paid request; called at most once, under a deadline that covers the
/// answer and the part of its body that is read for storage.
pub struct EdgeOrigin {
    request: RefCell<Option<web_sys::Request>>,
    controller: web_sys::AbortController,
    timeout_ms: u64,
    deadline_at_ms: Cell<u64>,
    /// For an MCP tool call: the call's JSON-RPC id, whose answer is judged (see
    /// [`EdgeOrigin::for_mcp_call`]).
    mcp_id: Option<String>,
}

/// Set on an MCP answer the paywall re-made (never sent to a client): `tool-error` (a
/// tool error or a JSON-RPC error, given a 422 so that it is not charged), `missing` (no
/// answer to the call, given a 502) or `asks-client` (the server sent the client a request
/// mid-call, which the client cannot answer before the call ends: stopped, a 502).
pub const MCP_JUDGED: &str = "X402-Edge-Mcp-Judged";

impl EdgeOrigin {
    /// Prepares the origin request (not sent until the payment is verified).
    pub fn new(outbound: Outbound<'_>, timeout_ms: u64) -> Result<Self, Failure> {
        let controller = web_sys::AbortController::new()
            .map_err(|e| Failure::Internal(format!("no AbortController for the origin deadline: {e:?}")))?;
        let request = outbound.build(Some(&controller.signal()))?;
        Ok(Self {
            request: RefCell::new(Some(request)),
            controller,
            timeout_ms,
            deadline_at_ms: Cell::new(0),
            mcp_id: None,
        })
    }

    /// The origin of an MCP tool call with JSON-RPC id `id`: its answer is read whole (at
    /// most `MAX_STORED_BODY`) and judged by `mcp::judge`: a tool result is a 2xx, a tool
    /// or JSON-RPC error a 422, no answer (or one too large to keep) a 502, each marked
    /// with [`MCP_JUDGED`], so the escrow charges only a result.
    pub fn for_mcp_call(self, id: String) -> Self {
        Self { mcp_id: Some(id), ..self }
    }

    /// Reads an MCP answer whole and gives it the status its judgement says.
    async fn judged(&self, response: Response, id: &str) -> Result<Response, TransportError> {
        let status = response.status();
        let content_type = response.headers().get("Content-Type").ok().flatten().unwrap_or_default();
        // A stream is watched as it comes: a request to the client (sampling, elicitation,
        // a ping) would wait for an answer the client cannot give before this call ends.
        let stream_answer = x402_edge_core::mcp::is_event_stream(&content_type);
        let (mut scanned, mut seen) = (0, 0usize);
        let watch = |bytes: &[u8]| {
            // Only a stream, and only when the new bytes (with the one before them) may
            // have ended an event.
            let fresh = &bytes[seen.saturating_sub(1)..];
            seen = bytes.len();
            if !stream_answer || !x402_edge_core::mcp::sse::holds_blank_line(fresh) {
                return false;
            }
            let (asks, end) = x402_edge_core::mcp::sse::asks_client(bytes, scanned);
            scanned = end;
            asks
        };
        let (read, asks) = match response.body() {
            Some(stream) => {
                let limit = x402_edge_core::once::MAX_STORED_BODY;
                self.in_time(crate::body::read_until(&stream, limit, watch)).await?
            }
            None => (crate::body::Prefix { bytes: Vec::new(), complete: true }, false),
        };
        let (status, mark) = match (read.complete, (200..300).contains(&status)) {
            _ if asks => (502, Some("asks-client")),
            (false, _) => (502, Some("missing")),
            // A failure is passed as it came (uncharged); a redirect holds no result to
            // charge for (a 3xx is content on an HTTP route): no answer to the call.
            (true, false) if status >= 400 => (status, None),
            (true, false) => (502, Some("missing")),
            (true, true) => match x402_edge_core::mcp::judge(&read.bytes, &content_type, id) {
                x402_edge_core::mcp::Judged::Result => (status, None),
                x402_edge_core::mcp::Judged::ToolError => (422, Some("tool-error")),
                x402_edge_core::mcp::Judged::Missing => (502, Some("missing")),
            },
        };
        let mut headers = header_pairs(&response.headers());
        // The mark is the paywall's alone: a server's own is dropped.
        headers.retain(|(n, _)| keep_header(n) && !n.eq_ignore_ascii_case(MCP_JUDGED));
        let extra: Vec<(&str, String)> = mark.map(|m| (MCP_JUDGED, m.to_string())).into_iter().collect();
        reply::rebuild(status, &headers, &extra, &read.bytes).map_err(|e| TransportError::Failed(format!("{e:?}")))
    }

    fn remaining(&self) -> Duration {
        Duration::from_millis(self.deadline_at_ms.get().saturating_sub(now_ms()))
    }

    /// Runs `work` until the deadline; past it, the origin request is aborted.
    async fn in_time<T, E: ToString>(
        &self,
        work: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, TransportError> {
        in_time(work, self.remaining(), || self.controller.abort()).await
    }
}

impl Origin for EdgeOrigin {
    type Response = Response;

    async fn call(&self, context: &str) -> Result<Response, TransportError> {
        let request = self.request.borrow_mut().take().ok_or(TransportError::Failed("origin already called".into()))?;
        request
            .headers()
            .set(CONTEXT_HEADER, context)
            .map_err(|e| TransportError::Failed(format!("payment context: {e:?}")))?;
        self.deadline_at_ms.set(now_ms() + self.timeout_ms);
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let answer = JsFuture::from(global.fetch_with_request(&request));
        let response = self.in_time(async { answer.await.map_err(|e| format!("{e:?}")) }).await?;
        let response = response.dyn_into::<Response>().map_err(|_| TransportError::Failed("not a Response".into()))?;
        match &self.mcp_id {
            Some(id) => self.judged(response, id).await,
            None => Ok(response),
        }
    }

    fn status(response: &Response) -> u16 {
        response.status()
    }

    async fn keep(&self, origin: Response, limit: usize) -> Result<Kept<Response>, TransportError> {
        let status = origin.status();
        let headers = origin.headers();
        let replayed = header_pairs(&headers).into_iter().filter(|(name, _)| keep_header(name)).collect();
        let mut stored = StoredResponse { status, headers: replayed, body: None };
        let declared = headers.get("Content-Length").ok().flatten();
        if !may_store(declared.as_deref(), limit) {
            // Too large to store: stream it as it is.
            return Ok(Kept { stored, response: origin });
        }
        let Some(body) = origin.body() else {
            stored.body = Some(Vec::new());
            return Ok(Kept { stored, response: origin });
        };
        // One branch is read for storage, at most `limit + 1` bytes (then let go); the other
        // is sent, whatever its length. Memory holds at most what the first branch read.
        let branches = body.tee();
        let probe: web_sys::ReadableStream = branches.get(0).unchecked_into();
        let sent: web_sys::ReadableStream = branches.get(1).unchecked_into();
        let prefix = self.in_time(read_prefix(&probe, limit)).await?;
        if prefix.complete {
            stored.body = Some(prefix.bytes);
        }
        let fresh = reply::with_body(&origin, Some(&sent)).map_err(|e| TransportError::Failed(format!("{e:?}")))?;
        Ok(Kept { stored, response: fresh })
    }
}

/// Every header of `headers` as (name, value) pairs, in the runtime's order.
pub(crate) fn header_pairs(headers: &web_sys::Headers) -> Vec<(String, String)> {
    let Ok(Some(entries)) = js_sys::try_iter(headers) else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let pair: js_sys::Array = entry.ok()?.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}
