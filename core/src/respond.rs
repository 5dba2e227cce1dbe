//! The HTTP answers the paywall makes itself (challenges, refusals, preflights, JWKS),
//! as plain values the edge turns into `Response`s, and the headers it adds to
//! a paid origin response. Status codes come from [`Failure::status`] only.

use crate::challenge::Challenge;
use crate::error::Failure;
use crate::paywall::render_paywall;
use crate::routes::PricedRoute;
use crate::x402::X402Version;

/// v2 payment requirements header.
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// v2 settlement header.
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
/// v1 settlement header.
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";
/// The signed receipt (JWS), also inside `PAYMENT-RESPONSE`.
pub const PAYMENT_RECEIPT: &str = "PAYMENT-RECEIPT";
/// Headers a browser client may read.
pub const EXPOSE_HEADERS: &str = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, PAYMENT-RECEIPT";
/// Headers a browser client may send.
pub const ALLOW_HEADERS: &str = "PAYMENT-SIGNATURE, X-PAYMENT, Content-Type, Authorization";

/// An HTTP answer made by the paywall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
}

fn common(content_type: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", content_type.to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("Access-Control-Allow-Origin", "*".to_string()),
        ("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()),
    ]
}

/// The 402 for a priced route: v2 header + v1 JSON body, or the HTML paywall page for a
/// browser. `reason` replaces the default error when a payment was refused.
pub fn challenge(route: &PricedRoute, resource_url: &str, reason: Option<&str>, html: Option<&str>) -> Reply {
    let (content_type, header, body) = match (html, route.template()) {
        (None, Some(t)) => ("application/json", t.header(resource_url, reason), t.body(resource_url, reason)),
        (html, _) => {
            let c = Challenge::new(route, resource_url, reason);
            match html {
                Some(page) => ("text/html; charset=utf-8", c.header(), render_paywall(page, route, &c)),
                None => ("application/json", c.header(), c.body()),
            }
        }
    };
    let mut headers = common(content_type);
    headers.push((PAYMENT_REQUIRED, header));
    Reply { status: 402, headers, body }
}

/// A refusal. A 402 carries a fresh challenge (needs the route); other statuses carry
/// `{"error": reason}`. `settle_header` is the `PAYMENT-RESPONSE` of a failed settlement.
pub fn refusal(
    failure: &Failure,
    route: Option<(&PricedRoute, &str)>,
    settle_header: Option<String>,
    html: Option<&str>,
) -> Reply {
    let reason = failure.reason();
    let mut reply = match route {
        Some((route, url)) if failure.wants_challenge() => challenge(route, url, Some(&reason), html),
        _ => Reply {
            status: failure.status(),
            headers: common("application/json"),
            body: serde_json::json!({ "error": reason }).to_string(),
        },
    };
    if let Some(h) = settle_header {
        reply.headers.push((PAYMENT_RESPONSE, h));
    }
    if let Some(seconds) = failure.retry_after() {
        reply.headers.push(("Retry-After", seconds.to_string()));
    }
    reply
}

/// An RFC 9110 token character: what a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How many of the names a preflight asks for it echoes back (browsers ask for a handful).
const MAX_ECHOED_HEADERS: usize = 32;

/// The answer to a CORS preflight on a priced route: the payment headers, and the names the
/// client asked for that are well-formed header names, each once.
pub fn preflight(requested_headers: Option<&str>) -> Reply {
    let mut allow = ALLOW_HEADERS.to_string();
    let mut echoed: Vec<&str> = Vec::new();
    for name in requested_headers.unwrap_or_default().split(',').map(str::trim) {
        let fresh = !echoed.iter().any(|e| e.eq_ignore_ascii_case(name));
        if echoed.len() < MAX_ECHOED_HEADERS && fresh && !name.is_empty() && name.bytes().all(is_tchar) {
            echoed.push(name);
            allow.push_str(", ");
            allow.push_str(name);
        }
    }
    Reply {
        status: 204,
        headers: vec![
            ("Access-Control-Allow-Origin", "*".to_string()),
            ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string()),
            ("Access-Control-Allow-Headers", allow),
            ("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()),
            ("Access-Control-Max-Age", "600".to_string()),
        ],
        body: String::new(),
    }
}

/// The JWKS document.
pub fn jwks(json: String) -> Reply {
    let mut headers = common("application/jwk-set+json");
    for (name, value) in &mut headers {
        if *name == "Cache-Control" {
            *value = "public, max-age=300".to_string();
        }
    }
    Reply { status: 200, headers, body: json }
}

/// A stored receipt (`GET /.well-known/x402/receipts/{id}`), or 404 `receipt_not_found`.
pub fn receipt(body: Option<String>) -> Reply {
    match body {
        Some(body) => Reply { status: 200, headers: common("application/json"), body },
        None => {
            Reply { status: 404, headers: common("application/json"), body: r#"{"error":"receipt_not_found"}"#.into() }
        }
    }
}

/// A settlement, as sent back with the paid response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// `PAYMENT-RESPONSE` header value (base64 JSON of the settle response).
    pub header: String,
    /// The receipt JWS, also sent as its own header.
    pub receipt: String,
    /// The version the client paid with (v1 also gets `X-PAYMENT-RESPONSE`).
    pub version: X402Version,
}

/// Headers set on a paid origin response (replacing any the origin set with these names).
pub fn paid_headers(s: &Settlement) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (PAYMENT_RESPONSE, s.header.clone()),
        (PAYMENT_RECEIPT, s.receipt.clone()),
        ("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()),
        ("Cache-Control", "no-store".to_string()),
    ];
    if s.version == X402Version::V1 {
        h.push((X_PAYMENT_RESPONSE, s.header.clone()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Code, PaymentError, UpstreamError};
    use crate::payment::tests::spec_option;
    use crate::ports::TransportError;

    fn route() -> PricedRoute {
        PricedRoute {
            pattern: "/p".into(),
            description: "d".into(),
            mime_type: String::new(),
            options: vec![spec_option()],
            template: Default::default(),
            policy: Default::default(),
            doc: Default::default(),
            bazaar: None,
        }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    #[test]
    fn refusals_pick_status_and_body() {
        let r = route();
        for (failure, status, has_challenge) in [
            (Failure::Payment(PaymentError::Malformed(Code::InvalidPayload)), 400, false),
            (Failure::Payment(PaymentError::Mismatch(Code::InvalidNetwork)), 402, true),
            (Failure::Upstream(UpstreamError::FacilitatorUnavailable(TransportError::Timeout)), 502, false),
            (Failure::Misconfigured(None), 500, false),
        ] {
            let reply = refusal(&failure, Some((&r, "https://x.test/p")), None, None);
            assert_eq!(reply.status, status, "{failure:?}");
            assert_eq!(header(&reply, PAYMENT_REQUIRED).is_some(), has_challenge, "{failure:?}");
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert_eq!(body["error"], failure.reason(), "{failure:?}");
            assert_eq!(header(&reply, "Cache-Control"), Some("no-store"));
        }
    }

    #[test]
    fn jwks_is_cacheable_json() {
        let r = jwks("{\"keys\":[]}".into());
        assert_eq!((r.status, r.body.as_str()), (200, "{\"keys\":[]}"));
        assert_eq!(header(&r, "Cache-Control"), Some("public, max-age=300"));
        assert_eq!(header(&r, "Content-Type"), Some("application/jwk-set+json"));
        assert_eq!(r.headers.iter().filter(|(n, _)| *n == "Cache-Control").count(), 1);
    }

    #[test]
    fn preflight_allows_payment_headers() {
        let p = preflight(Some("payment-signature, x-custom"));
        assert_eq!(p.status, 204);
        let allow = header(&p, "Access-Control-Allow-Headers").unwrap();
        for h in ["PAYMENT-SIGNATURE", "X-PAYMENT", "x-custom"] {
            assert!(allow.contains(h), "{allow}");
        }
        let expose = header(&p, "Access-Control-Expose-Headers").unwrap();
        for h in [PAYMENT_REQUIRED, PAYMENT_RESPONSE, X_PAYMENT_RESPONSE] {
            assert!(expose.contains(h), "{expose}");
        }
    }

    #[test]
    fn preflight_echoes_only_header_names() {
        // The request's list is the client's text: only well-formed names go back, once.
        for (asked, want) in [
            ("x-a, x-a,X-B ,, ", ", x-a, X-B"),
            ("x-a, bad name, ok\u{7f}, (x), x-c", ", x-a, x-c"),
            ("\"quoted\", a=b, ", ""),
            ("   ", ""),
        ] {
            let allow = header(&preflight(Some(asked)), "Access-Control-Allow-Headers").unwrap().to_string();
            assert_eq!(allow, format!("{ALLOW_HEADERS}{want}"), "{asked:?}");
        }
        let many = (0..500).map(|i| format!("x-h{i}")).collect::<Vec<_>>().join(",");
        let allow = header(&preflight(Some(&many)), "Access-Control-Allow-Headers").unwrap().to_string();
        assert!(allow.len() < 2048, "{} bytes", allow.len());
    }

    #[test]
    fn preflight_echo_is_a_list_of_tokens_for_any_input() {
        let mut rng = crate::testkit::Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3_000 {
            let asked: String = (0..rng.below(40))
                .map(|_| rng.pick(&['a', 'X', '-', ',', ' ', '"', '(', '\u{7f}', '\t', '=', 'é', '_']))
                .collect();
            let allow = header(&preflight(Some(&asked)), "Access-Control-Allow-Headers").unwrap().to_string();
            let rest = allow.strip_prefix(ALLOW_HEADERS).unwrap();
            for name in rest.split(", ").skip(1) {
                assert!(!name.is_empty() && name.bytes().all(is_tchar), "{asked:?} -> {allow:?}");
            }
            assert!(rest.is_empty() || rest.starts_with(", "), "{asked:?} -> {allow:?}");
        }
    }

    #[test]
    fn browsers_get_html_with_the_header() {
        let reply = challenge(&route(), "https://x.test/p", None, Some("<p>{{DESCRIPTION}}</p>"));
        assert_eq!(reply.status, 402);
        assert_eq!(reply.body, "<p>d</p>");
        assert!(header(&reply, PAYMENT_REQUIRED).is_some());
        assert!(header(&reply, "Content-Type").unwrap().starts_with("text/html"));
    }
}
