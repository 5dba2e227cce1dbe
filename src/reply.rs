//! Core replies → `worker::Response`, and the paid response: the origin's own response
//! (status, headers, streamed body) plus the settlement headers.

use worker::wasm_bindgen::JsValue;
use worker::{web_sys, Headers, Response, Result};
use x402_edge_core::flow::{Delivery, Settlement};
use x402_edge_core::once::StoredResponse;
use x402_edge_core::respond::{paid_headers, Reply};

/// Sends a reply the paywall made itself.
pub fn send(reply: Reply) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.set(name, value)?;
    }
    let builder = Response::builder().with_status(reply.status).with_headers(headers);
    Ok(if reply.body.is_empty() { builder.empty() } else { builder.fixed(reply.body.into_bytes()) })
}

/// A fresh response with `origin`'s status, the given headers and `body`.
fn remake(
    origin: &web_sys::Response,
    headers: &web_sys::Headers,
    body: Option<&web_sys::ReadableStream>,
) -> Result<Response> {
    let init = web_sys::ResponseInit::new();
    init.set_status(origin.status());
    init.set_status_text(&origin.status_text());
    init.set_headers(&JsValue::from(headers));
    Ok(web_sys::Response::new_with_opt_readable_stream_and_init(body, &init)?.into())
}

/// A fresh response with `origin`'s status and headers and `body`.
pub fn with_body(origin: &web_sys::Response, body: Option<&web_sys::ReadableStream>) -> Result<Response> {
    remake(origin, &origin.headers(), body)
}

/// The origin's response with `PAYMENT-RESPONSE`, the receipt and (for v1)
/// `X-PAYMENT-RESPONSE` set. The origin's headers are copied by the runtime in one call
/// (fetched headers are immutable) and the body is streamed through.
pub fn paid(origin: Response, settlement: &Settlement) -> Result<Response> {
    let origin: web_sys::Response = origin.into();
    let headers = web_sys::Headers::new_with_headers(&origin.headers())?;
    for (name, value) in paid_headers(settlement) {
        headers.set(name, &value)?;
    }
    if !headers.has("Access-Control-Allow-Origin")? {
        headers.set("Access-Control-Allow-Origin", "*")?;
    }
    remake(&origin, &headers, origin.body().as_ref())
}

/// A response rebuilt from its stored form, with `extra` headers set on top.
pub fn stored(stored: &StoredResponse, extra: &[(&str, String)]) -> Result<Response> {
    rebuild(stored.status, &stored.headers, extra, stored.body.clone().unwrap_or_default())
}

/// A response from a status, headers (`extra` set on top of them) and a body.
pub fn rebuild(status: u16, headers: &[(String, String)], extra: &[(&str, String)], body: Vec<u8>) -> Result<Response> {
    let out = Headers::new();
    for (name, value) in headers {
        out.append(name, value)?;
    }
    for (name, value) in extra {
        out.set(name, value)?;
    }
    let builder = Response::builder().with_status(status).with_headers(out);
    Ok(if body.is_empty() { builder.empty() } else { builder.fixed(body) })
}

/// The paid content with the settlement headers, from a stored copy or live.
pub fn delivered(delivery: Delivery<Response>, settlement: &Settlement) -> Result<Response> {
    match delivery {
        Delivery::Live(response) => paid(response, settlement),
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
pub fn last_resort() -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("Access-Control-Allow-Origin", "*");
    Response::builder().with_status(500).with_headers(headers).fixed(br#"{"error":"internal_error"}"#.to_vec())
}
