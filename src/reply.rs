//! Core replies → `worker::Response`, and the paid response: the origin's own response
//! (status, headers, streamed body) plus the settlement headers.

use worker::wasm_bindgen::JsValue;
use worker::{web_sys, Headers, Response, Result};
use x402_edge_core::flow::Settlement;
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

/// The origin's response with `PAYMENT-RESPONSE`, the receipt and (for v1)
/// `X-PAYMENT-RESPONSE` set. The origin's headers are copied (fetched headers are
/// immutable) and the body is streamed through.
pub fn paid(origin: Response, settlement: &Settlement) -> Result<Response> {
    let origin: web_sys::Response = origin.into();
    let headers = Headers::new();
    for (name, value) in Headers(origin.headers()).entries() {
        headers.append(&name, &value)?;
    }
    for (name, value) in paid_headers(settlement) {
        headers.set(name, &value)?;
    }
    if !headers.has("Access-Control-Allow-Origin")? {
        headers.set("Access-Control-Allow-Origin", "*")?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(origin.status());
    init.set_status_text(&origin.status_text());
    init.set_headers(&JsValue::from(headers.0));
    let body = origin.body();
    let response = web_sys::Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init)?;
    Ok(response.into())
}
