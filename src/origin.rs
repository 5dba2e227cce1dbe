//! Requests to the origin: free routes pass through, paid routes call it once inside the
//! escrow flow. The outbound request goes to the normalised path (what was priced is
//! what the origin sees), keeps the query, method, headers and body, and drops the
//! payment headers.

use std::cell::RefCell;

use worker::wasm_bindgen::JsValue;
use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response, Result, Url};
use x402_edge_core::config::OriginSetting;
use x402_edge_core::error::{Failure, UpstreamError};
use x402_edge_core::once::record::keep_header;
use x402_edge_core::once::StoredResponse;
use x402_edge_core::ports::{Kept, Origin, TransportError};
use x402_edge_core::respond;

use crate::reply;

/// Headers never forwarded to the origin.
const STRIPPED: &[&str] = &["payment-signature", "x-payment"];

/// Builds the request sent to the origin.
fn outbound(req: &Request, url: &Url, forward: &str, origin: &OriginSetting) -> Result<Request> {
    let target = match origin {
        OriginSetting::Url(base) => match url.query() {
            Some(q) => format!("{base}{forward}?{q}"),
            None => format!("{base}{forward}"),
        },
        OriginSetting::SameSite => {
            let mut same = url.clone();
            same.set_path(forward);
            same.to_string()
        }
    };
    let fixed_origin = matches!(origin, OriginSetting::Url(_));
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        let lower = name.to_ascii_lowercase();
        if STRIPPED.contains(&lower.as_str()) || (fixed_origin && lower == "host") {
            continue;
        }
        headers.append(&name, &value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(req.inner().body().map(JsValue::from));
    Request::new_with_init(&target, &init)
}

/// Passes a free request to the origin and its answer back untouched.
pub async fn pass(req: &Request, url: &Url, forward: &str, origin: &OriginSetting) -> Result<Response> {
    let request = outbound(req, url, forward, origin)?;
    match Fetch::Request(request).send().await {
        Ok(response) => Ok(response),
        Err(e) => {
            let failure = Failure::Upstream(UpstreamError::OriginUnavailable(e.to_string()));
            worker::console_error!("x402-edge: {failure:?}");
            reply::send(respond::refusal(&failure, None, None, None))
        }
    }
}

/// The origin of one paid request; called at most once.
pub struct EdgeOrigin {
    request: RefCell<Option<Request>>,
}

impl EdgeOrigin {
    /// Prepares the origin request (not sent until the payment is verified).
    pub fn new(req: &Request, url: &Url, forward: &str, origin: &OriginSetting) -> Result<Self> {
        Ok(Self { request: RefCell::new(Some(outbound(req, url, forward, origin)?)) })
    }
}

impl Origin for EdgeOrigin {
    type Response = Response;

    async fn call(&self) -> std::result::Result<Response, TransportError> {
        let request = self.request.borrow_mut().take().ok_or(TransportError::Failed("origin already called".into()))?;
        Fetch::Request(request).send().await.map_err(|e| TransportError::Failed(e.to_string()))
    }

    fn status(response: &Response) -> u16 {
        response.status_code()
    }

    async fn keep(&self, mut response: Response, limit: usize) -> std::result::Result<Kept<Response>, TransportError> {
        let failed = |e: worker::Error| TransportError::Failed(e.to_string());
        let status = response.status_code();
        let all: Vec<(String, String)> = response.headers().entries().collect();
        let replayed = all.iter().filter(|(name, _)| keep_header(name)).cloned().collect();
        let mut stored = StoredResponse { status, headers: replayed, body: None };
        let declared = response.headers().get("Content-Length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            // Too large to store: stream it as it is.
            return Ok(Kept { stored, response });
        }
        // Read it (it is sent once settled), keep it when within the limit, and send it
        // with every header the origin set.
        let body = response.bytes().await.map_err(failed)?;
        if body.len() <= limit {
            stored.body = Some(body.clone());
        }
        let fresh = reply::rebuild(status, &all, &[], body).map_err(failed)?;
        Ok(Kept { stored, response: fresh })
    }
}
