//! The incoming request as the core reads it: the method string exactly as the client
//! sent it (the `worker` crate's `Method` enum would turn an unknown one into GET), the
//! URL's path, query, origin and host, and the few headers the decision needs.

use std::time::Duration;

use worker::{Headers, Request};
use x402_edge_core::decide::RequestParts;
use x402_edge_core::error::{Failure, RequestError};
use x402_edge_core::http::{wants_html, RequestUrl};
use x402_edge_core::overrides::{BODY_READ_TIMEOUT_MS, BODY_SCAN_LIMIT};

use crate::body::read_prefix;
use crate::net::with_deadline;

/// What the edge reads off a request before deciding.
pub struct Inbound {
    /// The request URL, as the runtime gives it (see [`Inbound::url`]).
    url: String,
    /// The method, as sent.
    pub method: String,
    headers: Headers,
    origin: String,
    content_type: Option<String>,
    content_encoding: Option<String>,
    cookie: Option<String>,
    acrm: Option<String>,
    signature: Option<String>,
    x_payment: Option<String>,
}

impl Inbound {
    /// Reads the parts of `req` the decision needs.
    pub fn read(req: &Request) -> Result<Self, Failure> {
        let url = req.inner().url();
        let origin = RequestUrl::parse(&url).ok_or(Failure::Request(RequestError::BadPath))?.origin();
        let headers = req.headers().clone();
        let get = |name: &str| headers.get(name).ok().flatten();
        Ok(Self {
            method: req.inner().method(),
            content_type: get("Content-Type"),
            content_encoding: get("Content-Encoding"),
            cookie: get("Cookie"),
            acrm: get("Access-Control-Request-Method"),
            signature: get("PAYMENT-SIGNATURE"),
            x_payment: get("X-PAYMENT"),
            headers,
            origin,
            url,
        })
    }

    /// The request URL, split (it parsed when the request was read).
    pub fn url(&self) -> RequestUrl<'_> {
        RequestUrl::parse(&self.url).unwrap_or(RequestUrl { scheme: "", authority: "", path: "/", query: None })
    }

    /// The request as the core's decision sees it.
    pub fn parts(&self) -> RequestParts<'_> {
        let url = self.url();
        RequestParts {
            method: &self.method,
            path: url.path,
            query: url.query,
            origin: &self.origin,
            host: url.authority,
            content_type: self.content_type.as_deref(),
            content_encoding: self.content_encoding.as_deref(),
            cookie: self.cookie.as_deref(),
            body_override: None,
            access_control_request_method: self.acrm.as_deref(),
            payment_signature: self.signature.as_deref(),
            x_payment: self.x_payment.as_deref(),
        }
    }

    /// Any request header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    /// Whether the client takes HTML (a browser gets the paywall page).
    pub fn accepts_html(&self) -> bool {
        wants_html(self.header("Accept").as_deref())
    }
}

/// Reads a body the decision asked to inspect, within [`BODY_READ_TIMEOUT_MS`] (a body
/// that never ends is `body_unreadable`): at most [`BODY_SCAN_LIMIT`] bytes,
/// else 413 `body_too_large`. The bytes are then what the origin is sent.
pub async fn read_body(req: &Request) -> Result<Vec<u8>, Failure> {
    let Some(stream) = req.inner().body() else { return Ok(Vec::new()) };
    let deadline = Duration::from_millis(BODY_READ_TIMEOUT_MS);
    let read = with_deadline(read_prefix(&stream, BODY_SCAN_LIMIT), deadline).await;
    let prefix = read.and_then(Result::ok).ok_or(Failure::Request(RequestError::BodyUnreadable))?;
    if !prefix.complete {
        return Err(RequestError::BodyTooLarge.into());
    }
    Ok(prefix.bytes)
}
