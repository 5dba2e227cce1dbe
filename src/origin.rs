//! Requests to the origin: free routes pass through, paid routes call it once inside the
//! escrow flow, under a deadline. The outbound request goes to the normalised path (what
//! was priced is what the origin sees), keeps the query, the method string exactly as
//! sent, the headers and the body, and drops the payment and override headers
//! (`overrides::STRIPPED_REQUEST_HEADERS`).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Date, Fetch, Request, Response};
use x402_edge_core::config::OriginSetting;
use x402_edge_core::error::{Failure, RequestError, UpstreamError};
use x402_edge_core::http::{is_passable, is_standard_method, may_store, RequestUrl};
use x402_edge_core::once::record::keep_header;
use x402_edge_core::once::StoredResponse;
use x402_edge_core::overrides::is_stripped;
use x402_edge_core::ports::{Kept, Origin, TransportError};

use crate::body::read_prefix;
use crate::net::in_time;
use crate::reply;

/// The request body to send on.
pub enum Body {
    /// The client's body stream, untouched.
    Stream,
    /// A body already read (to inspect a form).
    Bytes(Vec<u8>),
}

/// What an origin request is made of.
pub struct Outbound<'a> {
    /// The client's request (headers, body stream).
    pub req: &'a Request,
    /// Its URL (query, and the host for a same-site origin).
    pub url: RequestUrl<'a>,
    /// The method, as sent.
    pub method: &'a str,
    /// The normalised path to forward.
    pub path: &'a str,
    /// Where to.
    pub origin: &'a OriginSetting,
    /// The body.
    pub body: &'a Body,
}

impl Outbound<'_> {
    /// Builds the request sent to the origin.
    pub(crate) fn build(&self, signal: Option<&web_sys::AbortSignal>) -> Result<Request, Failure> {
        let target = match self.origin {
            OriginSetting::Url(base) => match self.url.query {
                Some(q) => format!("{base}{}?{q}", self.path),
                None => format!("{base}{}", self.path),
            },
            OriginSetting::SameSite => self.url.with_path(self.path),
        };
        let fixed_origin = matches!(self.origin, OriginSetting::Url(_));
        let internal = |e: JsValue| Failure::Internal(format!("origin request headers: {e:?}"));
        // The runtime copies the client's headers in one call; only the names are looked
        // at here, and the few to drop are deleted.
        let headers = web_sys::Headers::new_with_headers(&self.req.inner().headers()).map_err(internal)?;
        let doomed: Vec<String> = headers
            .keys()
            .into_iter()
            .filter_map(|k| k.ok()?.as_string())
            .filter(|n| is_stripped(n) || (fixed_origin && n.eq_ignore_ascii_case("host")))
            .collect();
        for name in &doomed {
            headers.delete(name).map_err(internal)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method(self.method);
        init.set_headers(&JsValue::from(headers));
        init.set_redirect(web_sys::RequestRedirect::Manual);
        init.set_signal(signal);
        let bodiless = self.method.eq_ignore_ascii_case("GET") || self.method.eq_ignore_ascii_case("HEAD");
        match self.body {
            _ if bodiless => {}
            Body::Stream => {
                if let Some(stream) = self.req.inner().body() {
                    init.set_body(&JsValue::from(stream));
                }
            }
            Body::Bytes(bytes) => init.set_body(&JsValue::from(Uint8Array::from(bytes.as_slice()))),
        }
        match web_sys::Request::new_with_str_and_init(&target, &init) {
            Ok(request) => Ok(Request::from(request)),
            Err(_) if !is_standard_method(self.method) => Err(RequestError::MethodNotSupported.into()),
            Err(e) => Err(Failure::Internal(format!("origin request: {e:?}"))),
        }
    }
}

/// Passes a free request to the origin and its answer back untouched; an answer no client
/// response can carry (a status outside 200–599, or a 101 without a WebSocket) is
/// `origin_unavailable` (the worker crate would panic rebuilding it).
pub async fn pass(outbound: Outbound<'_>) -> Result<Response, Failure> {
    let request = outbound.build(None)?;
    let unavailable = |why: String| Failure::Upstream(UpstreamError::OriginUnavailable(why));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_request(request.inner())).await;
    let response: web_sys::Response = answer
        .map_err(|e| unavailable(format!("{e:?}")))?
        .dyn_into()
        .map_err(|_| unavailable("not a Response".into()))?;
    let status = response.status();
    let websocket =
        Reflect::get(&response, &JsValue::from_str("webSocket")).is_ok_and(|ws| !ws.is_null() && !ws.is_undefined());
    if !is_passable(status) || (status == 101 && !websocket) {
        return Err(unavailable(format!("origin answered status {status}")));
    }
    Ok(Response::from(response))
}

/// The origin of one paid request; called at most once, under a deadline that covers the
/// answer and the part of its body that is read for storage.
pub struct EdgeOrigin {
    request: RefCell<Option<Request>>,
    controller: web_sys::AbortController,
    timeout_ms: u64,
    deadline_at_ms: Cell<u64>,
}

impl EdgeOrigin {
    /// Prepares the origin request (not sent until the payment is verified).
    pub fn new(outbound: Outbound<'_>, timeout_ms: u64) -> Result<Self, Failure> {
        let controller = web_sys::AbortController::new()
            .map_err(|e| Failure::Internal(format!("no AbortController for the origin deadline: {e:?}")))?;
        let request = outbound.build(Some(&controller.signal()))?;
        Ok(Self { request: RefCell::new(Some(request)), controller, timeout_ms, deadline_at_ms: Cell::new(0) })
    }

    fn remaining(&self) -> Duration {
        Duration::from_millis(self.deadline_at_ms.get().saturating_sub(Date::now().as_millis()))
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

    async fn call(&self) -> Result<Response, TransportError> {
        let request = self.request.borrow_mut().take().ok_or(TransportError::Failed("origin already called".into()))?;
        self.deadline_at_ms.set(Date::now().as_millis() + self.timeout_ms);
        self.in_time(Fetch::Request(request).send()).await
    }

    fn status(response: &Response) -> u16 {
        response.status_code()
    }

    async fn keep(&self, response: Response, limit: usize) -> Result<Kept<Response>, TransportError> {
        let status = response.status_code();
        let replayed = response.headers().entries().filter(|(name, _)| keep_header(name)).collect();
        let mut stored = StoredResponse { status, headers: replayed, body: None };
        let declared = response.headers().get("Content-Length").ok().flatten();
        if !may_store(declared.as_deref(), limit) {
            // Too large to store: stream it as it is.
            return Ok(Kept { stored, response });
        }
        let origin: web_sys::Response = response.into();
        let Some(body) = origin.body() else {
            stored.body = Some(Vec::new());
            return Ok(Kept { stored, response: origin.into() });
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
        let fresh = reply::with_body(&origin, Some(&sent)).map_err(|e| TransportError::Failed(e.to_string()))?;
        Ok(Kept { stored, response: fresh })
    }
}
