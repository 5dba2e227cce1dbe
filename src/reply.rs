//! Core replies → `Response`s, and the paid response: the origin's own response
//! (status, headers, streamed body) plus the settlement headers.

use std::cell::RefCell;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use x402_edge_core::flow::Delivery;
use x402_edge_core::once::StoredResponse;
use x402_edge_core::respond::Settlement;
use x402_edge_core::respond::{paid_headers, Reply};

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    /// `new Response(body, {status, headers})`, the headers given as "name\nvalue\n…".
    #[wasm_bindgen(catch)]
    fn respond(status: u16, body: &[u8], headers: &str) -> Result<web_sys::Response, JsValue>;
    /// `Headers` from "name\nvalue\n…".
    #[wasm_bindgen(catch, js_name = headersOf)]
    fn headers_of(joined: &str) -> Result<web_sys::Headers, JsValue>;
    /// `new Response(body, {status, headers})` from JavaScript-held parts.
    #[wasm_bindgen(catch, js_name = respondWith)]
    fn respond_with(status: u16, body: &Uint8Array, headers: &web_sys::Headers) -> Result<web_sys::Response, JsValue>;
    /// The same, with a streamed body.
    #[wasm_bindgen(catch, js_name = respondWith)]
    fn respond_with_stream(
        status: u16,
        body: &web_sys::ReadableStream,
        headers: &web_sys::Headers,
    ) -> Result<web_sys::Response, JsValue>;
}

/// A response of the paywall's own whose body is streamed (`body`, written elsewhere).
pub fn streaming(
    status: u16,
    body: &web_sys::ReadableStream,
    headers: &[(&'static str, String)],
) -> Result<web_sys::Response, JsValue> {
    respond_with_stream(status, body, &headers_of(&joined(headers.iter().map(|(n, v)| (*n, v.as_str())))?)?)
}

/// The last plain 402 answered, held by JavaScript: a run of challenges for one route and
/// URL is one call each, with nothing rendered or copied across the boundary.
struct Remembered {
    pattern: String,
    url: String,
    headers: web_sys::Headers,
    body: Uint8Array,
}

thread_local! {
    static LAST_CHALLENGE: RefCell<Option<Remembered>> = const { RefCell::new(None) };
}

/// The plain (JSON) 402 challenge of the route `pattern` for `url`: `make` renders it when
/// the last one answered was for another route or URL.
pub fn challenge(pattern: &str, url: &str, make: impl FnOnce() -> Reply) -> Result<web_sys::Response, JsValue> {
    LAST_CHALLENGE.with(|last| {
        let mut last = last.borrow_mut();
        if let Some(r) = last.as_ref().filter(|r| r.pattern == pattern && r.url == url) {
            return respond_with(402, &r.body, &r.headers);
        }
        let reply = make();
        let kept = Remembered {
            pattern: pattern.to_string(),
            url: url.to_string(),
            headers: headers_of(&joined(reply.headers.iter().map(|(n, v)| (*n, v.as_str())))?)?,
            body: Uint8Array::from(reply.body.as_bytes()),
        };
        let response = respond_with(402, &kept.body, &kept.headers);
        *last = Some(kept);
        response
    })
}

/// A reply the paywall made itself, as a response.
pub fn quick(reply: &Reply) -> Result<web_sys::Response, JsValue> {
    build(reply.status, reply.headers.iter().map(|(n, v)| (*n, v.as_str())), reply.body.as_bytes())
}

/// A response built in one call across the wasm boundary (not one call per header).
fn build<'h>(
    status: u16,
    headers: impl Iterator<Item = (&'h str, &'h str)>,
    body: &[u8],
) -> Result<web_sys::Response, JsValue> {
    respond(status, body, &joined(headers)?)
}

/// Headers as "name\nvalue\n…"; a line break in a name or value is refused, as `Headers`
/// would refuse it.
fn joined<'h>(headers: impl Iterator<Item = (&'h str, &'h str)>) -> Result<String, JsValue> {
    let mut joined = String::new();
    for (name, value) in headers {
        if name.contains(['\n', '\r']) || value.contains(['\n', '\r']) {
            return Err(JsValue::from_str("a header with a line break"));
        }
        joined.push_str(name);
        joined.push('\n');
        joined.push_str(value);
        joined.push('\n');
    }
    Ok(joined)
}

/// A fresh response with `origin`'s status, the given headers and `body`.
fn remake(
    origin: &web_sys::Response,
    headers: &web_sys::Headers,
    body: Option<&web_sys::ReadableStream>,
) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(origin.status());
    init.set_status_text(&origin.status_text());
    init.set_headers(&JsValue::from(headers));
    web_sys::Response::new_with_opt_readable_stream_and_init(body, &init)
}

/// A fresh response with `origin`'s status and headers and `body`.
pub fn with_body(
    origin: &web_sys::Response,
    body: Option<&web_sys::ReadableStream>,
) -> Result<web_sys::Response, JsValue> {
    remake(origin, &origin.headers(), body)
}

/// The origin's response with `PAYMENT-RESPONSE`, the receipt and (for v1)
/// `X-PAYMENT-RESPONSE` set. The origin's headers are copied by the runtime in one call
/// (fetched headers are immutable) and the body is streamed through.
pub fn paid(origin: &web_sys::Response, settlement: &Settlement) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new_with_headers(&origin.headers())?;
    for (name, value) in paid_headers(settlement) {
        headers.set(name, &value)?;
    }
    if !headers.has("Access-Control-Allow-Origin")? {
        headers.set("Access-Control-Allow-Origin", "*")?;
    }
    remake(origin, &headers, origin.body().as_ref())
}

/// A response rebuilt from its stored form, with `extra` headers set on top.
pub fn stored(stored: &StoredResponse, extra: &[(&str, String)]) -> Result<web_sys::Response, JsValue> {
    let body = stored.body.as_deref().unwrap_or_default();
    rebuild(stored.status, &stored.headers, extra, body)
}

/// A response from a status, headers (`extra` set on top of them: a stored header of the
/// same name is left out) and a body, built in one call.
pub fn rebuild(
    status: u16,
    headers: &[(String, String)],
    extra: &[(&str, String)],
    body: &[u8],
) -> Result<web_sys::Response, JsValue> {
    let overridden = |name: &str| extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let kept = headers.iter().filter(|(n, _)| !overridden(n)).map(|(n, v)| (n.as_str(), v.as_str()));
    let all = kept.chain(extra.iter().map(|(n, v)| (*n, v.as_str())));
    build(status, all, body)
}

/// The paid content with the settlement headers, from a stored copy or live.
pub fn delivered(delivery: Delivery<web_sys::Response>, settlement: &Settlement) -> Result<web_sys::Response, JsValue> {
    match delivery {
        Delivery::Live(response) => paid(&response, settlement),
        Delivery::Stored(copy) => {
            let mut extra: Vec<(&str, String)> = paid_headers(settlement);
            if !copy.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Access-Control-Allow-Origin")) {
                extra.push(("Access-Control-Allow-Origin", "*".to_string()));
            }
            stored(&copy, &extra)
        }
    }
}

/// A fixed JSON 500, for when even the paywall's own error response cannot be built.
pub fn last_resort() -> web_sys::Response {
    let init = web_sys::ResponseInit::new();
    init.set_status(500);
    let headers = web_sys::Headers::new().ok();
    if let Some(h) = &headers {
        let _ = h.set("Content-Type", "application/json");
        let _ = h.set("Cache-Control", "no-store");
        let _ = h.set("Access-Control-Allow-Origin", "*");
        init.set_headers(&JsValue::from(h));
    }
    web_sys::Response::new_with_opt_str_and_init(Some(r#"{"error":"internal_error"}"#), &init)
        .unwrap_or_else(|_| JsValue::NULL.into())
}
