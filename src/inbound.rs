//! The incoming request as the core reads it: the method string exactly as the client
//! sent it (an enum of methods would turn an unknown one into GET), the
//! URL's parts, and the headers the decision needs, each read only where it is needed:
//! the payment headers on every request (they decide whether it runs to its end), the
//! preflight header on OPTIONS, and the body's headers and `Cookie` only when the decision
//! asks for the body ([`Decision::ReadBody`](x402_edge_core::decide::Decision)).

use std::time::Duration;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request};
use x402_edge_core::decide::RequestParts;
use x402_edge_core::error::{Failure, RequestError};
use x402_edge_core::http::{wants_html, RequestUrl};
use x402_edge_core::overrides::{BODY_READ_TIMEOUT_MS, BODY_SCAN_LIMIT};

use crate::body::read_prefix;
use crate::net::with_deadline;

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    /// Method, URL, `PAYMENT-SIGNATURE`, `X-PAYMENT` and (OPTIONS only)
    /// `Access-Control-Request-Method`, one per line, each header "+value" or "-".
    fn inbound(req: &Request) -> String;
}

/// What the edge reads off a request before deciding.
pub struct Inbound {
    /// The request URL, as the runtime gives it; [`RequestUrl::parse`] accepted it.
    url: String,
    /// The method, as sent.
    pub method: String,
    headers: Headers,
    acrm: Option<String>,
    signature: Option<String>,
    x_payment: Option<String>,
}

/// The headers read with a body the decision asked for.
pub struct BodyHeaders {
    content_type: Option<String>,
    content_encoding: Option<String>,
    cookie: Option<String>,
}

impl Inbound {
    /// Reads what every request needs, in one call across the wasm boundary.
    pub fn read(req: &Request) -> Result<Self, Failure> {
        let bad = || Failure::Request(RequestError::BadPath);
        let text = inbound(req);
        let mut fields = text.split('\n');
        let mut next = || fields.next().ok_or_else(|| Failure::Internal("the request could not be read".into()));
        let method = next()?.to_string();
        let url = next()?.to_string();
        let mut header = || next().map(|field| field.strip_prefix('+').map(str::to_string));
        let (signature, x_payment, acrm) = (header()?, header()?, header()?);
        RequestUrl::parse(&url).ok_or_else(bad)?;
        Ok(Self { acrm, signature, x_payment, method, headers: req.headers(), url })
    }

    /// Whether the request carries a payment header.
    pub fn carries_payment(&self) -> bool {
        self.signature.is_some() || self.x_payment.is_some()
    }

    /// The request URL, split.
    pub fn url(&self) -> RequestUrl<'_> {
        RequestUrl::parse(&self.url).unwrap_or(RequestUrl { scheme: "", authority: "", path: "/", query: None })
    }

    /// The request as the core's decision sees it first (no body, no body headers).
    pub fn parts(&self) -> RequestParts<'_> {
        let url = self.url();
        RequestParts {
            method: &self.method,
            path: url.path,
            query: url.query,
            scheme: url.scheme,
            host: url.authority,
            access_control_request_method: self.acrm.as_deref(),
            payment_signature: self.signature.as_deref(),
            x_payment: self.x_payment.as_deref(),
            ..RequestParts::default()
        }
    }

    /// The headers that go with a body the decision asked for.
    pub fn body_headers(&self) -> BodyHeaders {
        BodyHeaders {
            content_type: self.header("Content-Type"),
            content_encoding: self.header("Content-Encoding"),
            cookie: self.header("Cookie"),
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

impl BodyHeaders {
    /// `parts` with these headers and what `body` holds.
    pub fn apply<'a>(&'a self, parts: RequestParts<'a>, body: &[u8]) -> RequestParts<'a> {
        RequestParts {
            content_type: self.content_type.as_deref(),
            content_encoding: self.content_encoding.as_deref(),
            cookie: self.cookie.as_deref(),
            ..parts
        }
        .with_body(body)
    }
}

/// A body read whole: the bytes the decision looks at, and the same bytes as JavaScript
/// holds them, to send on without copying them back.
pub struct ReadBody {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The bytes, for the outbound request.
    pub js: Uint8Array,
}

/// Reads a body the decision asked to inspect, within [`BODY_READ_TIMEOUT_MS`] (a body
/// that never ends is `body_unreadable`): at most [`BODY_SCAN_LIMIT`] bytes, else 413
/// `body_too_large`. The bytes are then what the origin is sent. A body framed by its
/// `Content-Length` alone (no `Transfer-Encoding`: a chunked body keeps whatever length
/// header it came with, and is framed by its chunks) is read by the runtime in one call
/// when the length is within the limit, and refused unread when it is over; any other is
/// read as a stream, up to the limit. Whatever the runtime hands over past the limit is
/// refused too.
pub async fn read_body(req: &Request, inbound: &Inbound) -> Result<ReadBody, Failure> {
    let unreadable = || Failure::Request(RequestError::BodyUnreadable);
    if req.body().is_none() {
        return Ok(ReadBody { bytes: Vec::new(), js: Uint8Array::new_with_length(0) });
    }
    let deadline = Duration::from_millis(BODY_READ_TIMEOUT_MS);
    let headers = &inbound.headers;
    let chunked = headers.has("Transfer-Encoding").unwrap_or(true);
    let declared = headers.get("Content-Length").ok().flatten().and_then(|v| v.trim().parse::<usize>().ok());
    match declared.filter(|_| !chunked) {
        Some(length) if length > BODY_SCAN_LIMIT => Err(RequestError::BodyTooLarge.into()),
        Some(_) => {
            let promise = req.array_buffer().map_err(|_| unreadable())?;
            let read = with_deadline(JsFuture::from(promise), deadline).await;
            let buffer = read.and_then(Result::ok).ok_or_else(unreadable)?;
            let js = Uint8Array::new(&buffer);
            if js.length() as usize > BODY_SCAN_LIMIT {
                return Err(RequestError::BodyTooLarge.into());
            }
            Ok(ReadBody { bytes: js.to_vec(), js })
        }
        None => {
            let Some(stream) = req.body() else { return Err(unreadable()) };
            let read = with_deadline(read_prefix(&stream, BODY_SCAN_LIMIT), deadline).await;
            let prefix = read.and_then(Result::ok).ok_or_else(unreadable)?;
            if !prefix.complete {
                return Err(RequestError::BodyTooLarge.into());
            }
            let js = Uint8Array::from(prefix.bytes.as_slice());
            Ok(ReadBody { bytes: prefix.bytes, js })
        }
    }
}
