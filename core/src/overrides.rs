//! Ways a request can name another method or path than its own, as common origin
//! frameworks read them. The paywall prices the request line it sees, so each is either
//! removed before the origin or refused where it would change the price:
//!
//! - **Headers** ([`STRIPPED_REQUEST_HEADERS`]) are dropped on every route, paid or free:
//!   `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` (Express
//!   method-override, ASP.NET, Google APIs, Symfony), `X-Original-URL`, `X-Rewrite-URL`
//!   (IIS URL Rewrite, Symfony, Zend), `X-Original-Method`, `X-Override-URL`, and the
//!   payment headers themselves.
//! - **`_method`** in the query string (Laravel, Symfony) or in a form body (Rails'
//!   `Rack::MethodOverride`, Laravel, Symfony) turns a POST into another method. It
//!   cannot be stripped without changing the request, so a POST that carries one is
//!   refused (400 `method_override_refused`) when another method would be priced
//!   differently at the same path ([`price_may_change`]); elsewhere it passes untouched.

use crate::path::NormalPath;
use crate::routes::{RoutePattern, RouteTable};

/// Request headers never forwarded to the origin (lower-case).
pub const STRIPPED_REQUEST_HEADERS: &[&str] = &[
    "payment-signature",
    "x-payment",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-rewrite-url",
    "x-override-url",
];

/// Whether a request header is dropped before the origin (any letter case).
pub fn is_stripped(name: &str) -> bool {
    STRIPPED_REQUEST_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The methods a `_method` override can turn a POST into (Rack's list and PATCH/DELETE).
const OVERRIDABLE: &[&str] = &["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "LINK", "UNLINK"];

/// Largest form body read to look for a `_method` field (bytes). Larger forms on a path
/// where an override would change the price are refused (413 `body_too_large`).
pub const FORM_SCAN_LIMIT: usize = 1024 * 1024;

/// Whether `method` may be overridden by `_method` (only POST is, by every framework
/// that does it) and some overridable method is priced differently at `path`.
pub fn price_may_change<T>(routes: &RouteTable<T>, method: &str, path: &NormalPath) -> bool {
    if !method.eq_ignore_ascii_case("POST") {
        return false;
    }
    let index = |m: &str| routes.find_path(m, path).map(|found| found.map(|(p, _)| p as *const RoutePattern));
    let own = index("POST");
    OVERRIDABLE.iter().any(|m| index(m) != own)
}

/// Whether a query string carries a `_method` parameter (name percent-decoded, any case).
pub fn query_has_override(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|pair| is_method_field(pair.split('=').next().unwrap_or_default())))
}

/// Whether a `Content-Type` is a form that frameworks read `_method` from.
pub fn is_form(content_type: Option<&str>) -> bool {
    let essence = content_type.and_then(|t| t.split(';').next()).map(str::trim).unwrap_or_default();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        || essence.eq_ignore_ascii_case("multipart/form-data")
}

/// Whether a form body carries a `_method` field: a urlencoded pair named `_method`, or a
/// multipart part with `name="_method"` (or unquoted).
pub fn form_has_override(content_type: Option<&str>, body: &[u8]) -> bool {
    let essence = content_type.and_then(|t| t.split(';').next()).map(str::trim).unwrap_or_default();
    if essence.eq_ignore_ascii_case("multipart/form-data") {
        let lower = body.to_ascii_lowercase();
        return [&b"name=\"_method\""[..], b"name=_method", b"name='_method'"]
            .iter()
            .any(|needle| lower.windows(needle.len()).any(|w| w == *needle));
    }
    body.split(|&b| b == b'&').any(|pair| {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        std::str::from_utf8(name).is_ok_and(is_method_field)
    })
}

/// A form or query field name that decodes (`+` as space, `%XX`) to `_method`, any case.
fn is_method_field(name: &str) -> bool {
    let mut decoded = Vec::with_capacity(name.len());
    let bytes = name.trim().as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&h| char::from(h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                decoded.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                decoded.push(b' ');
                i += 1;
            }
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    decoded.eq_ignore_ascii_case(b"_method")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::normalise;

    #[test]
    fn stripped_headers_any_case() {
        for (name, want) in [
            ("X-HTTP-Method-Override", true),
            ("x-http-method", true),
            ("X-Method-Override", true),
            ("X-ORIGINAL-URL", true),
            ("x-rewrite-url", true),
            ("Payment-Signature", true),
            ("X-Payment", true),
            ("X-Forwarded-For", false),
            ("Content-Type", false),
        ] {
            assert_eq!(is_stripped(name), want, "{name}");
        }
    }

    #[test]
    fn query_and_form_overrides() {
        for (query, want) in [
            (Some("_method=GET"), true),
            (Some("a=1&_method=put"), true),
            (Some("%5Fmethod=GET"), true),
            (Some("_METHOD=GET"), true),
            (Some("_method"), true),
            (Some("x_method=GET"), false),
            (Some("method=GET"), false),
            (Some(""), false),
            (None, false),
        ] {
            assert_eq!(query_has_override(query), want, "{query:?}");
        }
        let urlencoded = Some("application/x-www-form-urlencoded; charset=utf-8");
        let multipart = Some("multipart/form-data; boundary=xyz");
        for (ct, body, want) in [
            (urlencoded, &b"_method=GET&a=1"[..], true),
            (urlencoded, b"a=1&%5fmethod=GET", true),
            (urlencoded, b"a=_method&b=2", false),
            (urlencoded, b"", false),
            (multipart, b"--xyz\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nGET\r\n--xyz--", true),
            (multipart, b"--xyz\r\ncontent-disposition: form-data; NAME=_method\r\n\r\nGET", true),
            (multipart, b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n_method", false),
        ] {
            assert_eq!(form_has_override(ct, body), want, "{ct:?} {}", String::from_utf8_lossy(body));
        }
        for (ct, want) in [
            (urlencoded, true),
            (multipart, true),
            (Some("Application/X-WWW-Form-Urlencoded"), true),
            (Some("application/json"), false),
            (None, false),
        ] {
            assert_eq!(is_form(ct), want, "{ct:?}");
        }
    }

    #[test]
    fn overrides_matter_only_where_another_method_is_priced_differently() {
        let routes = RouteTable::new(vec![
            (RoutePattern::parse("GET /premium/*").unwrap(), ()),
            (RoutePattern::parse("/reports/:id").unwrap(), ()),
            (RoutePattern::parse("POST /api/score").unwrap(), ()),
        ])
        .unwrap();
        for (method, path, want) in [
            ("POST", "/premium/x", true),
            ("post", "/premium/x", true),
            ("POST", "/reports/1", false),
            ("POST", "/api/score", true),
            ("POST", "/free/x", false),
            ("GET", "/premium/x", false),
            ("PUT", "/premium/x", false),
        ] {
            assert_eq!(price_may_change(&routes, method, &normalise(path).unwrap()), want, "{method} {path}");
        }
    }
}
