//! Ways a request can name another method or path than its own, as common origin
//! frameworks read them. The paywall prices the request line it sees, so each is either
//! removed before the origin or refused where it would change the price:
//!
//! - **Headers** ([`STRIPPED_REQUEST_HEADERS`]) are dropped on every route, paid or free,
//!   whatever their letter case and whether they are spelled with `-` or `_` (CGI-style
//!   servers such as Puma map both to one name): `X-HTTP-Method-Override`,
//!   `X-HTTP-Method`, `X-Method-Override`, `X-Original-Method` (Express method-override,
//!   ASP.NET, Google APIs, Symfony), `X-Original-URL`, `X-Rewrite-URL`, `X-Override-URL`
//!   (IIS URL Rewrite, Symfony, Zend), `AspFilterSessionId` (ASP.NET cookieless sessions
//!   rewrite the path from it), and the payment headers themselves.
//! - **`_method`** turns a POST into another method: in the query string (Laravel,
//!   Symfony, Spring), in a form body (Rails' `Rack::MethodOverride`, Laravel, Symfony,
//!   Spring, ASP.NET Core), or in a JSON body (Laravel). It cannot be stripped without
//!   changing the request, so a POST that carries one is refused (400
//!   `method_override_refused`) where it could reach a priced route other than the POST's
//!   own ([`price_may_change`]); elsewhere it passes untouched (an override to a free
//!   method gets nothing priced). It is looked for the way
//!   the most lenient of those parsers reads a request: a body without `Content-Type` is a
//!   form (Rack), a media type ends at `;` or `,` (Rack), any `multipart/*` is parsed, a
//!   type holding `/json` or `+json` anywhere is JSON (Laravel), and field names are
//!   decoded and mangled as PHP does (leading spaces dropped, `.` and ` ` as `_`, `[…]`
//!   an array, a NUL ends the name), compared without regard to case.

use crate::path::NormalPath;
use crate::routes::RouteTable;

/// Request headers never forwarded to the origin (lower-case, `-` separated).
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
    "aspfiltersessionid",
];

/// Whether a request header is dropped before the origin (any letter case, `_` or `-`).
pub fn is_stripped(name: &str) -> bool {
    STRIPPED_REQUEST_HEADERS.iter().any(|h| {
        h.len() == name.len()
            && h.bytes().zip(name.bytes()).all(|(want, got)| {
                let got = if got == b'_' { b'-' } else { got.to_ascii_lowercase() };
                want == got
            })
    })
}

/// The methods a `_method` override can turn a POST into (Rack's list and PATCH/DELETE).
const OVERRIDABLE: &[&str] = &["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "LINK", "UNLINK"];

/// Largest body read to look for a `_method` field (bytes). Larger bodies on a path where
/// an override would change the price are refused (413 `body_too_large`).
pub const BODY_SCAN_LIMIT: usize = 1024 * 1024;

/// Whether `method` may be overridden by `_method` (only POST is, by every framework
/// that does it) into a method that reaches a priced route at `path` other than the
/// POST's own (or the path is ambiguous for one of them).
pub fn price_may_change<T>(routes: &RouteTable<T>, method: &str, path: &NormalPath) -> bool {
    if !method.eq_ignore_ascii_case("POST") {
        return false;
    }
    let own = routes.position_path("POST", path);
    OVERRIDABLE.iter().any(|m| match routes.position_path(m, path) {
        Ok(None) => false,
        other => other != own,
    })
}

/// Whether a query string carries a `_method` parameter.
pub fn query_has_override(query: Option<&str>) -> bool {
    query.is_some_and(|q| pairs_have_override(q.as_bytes()))
}

/// The parsers that frameworks may run on a POST body of this `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyReaders {
    /// Parsed as `application/x-www-form-urlencoded`.
    pub form: bool,
    /// Parsed as a multipart body.
    pub multipart: bool,
    /// Parsed as JSON.
    pub json: bool,
}

impl BodyReaders {
    /// What a POST body of `content_type` may be read as, by the most lenient framework.
    pub fn of(content_type: Option<&str>) -> Self {
        let Some(text) = content_type else { return Self { form: true, ..Self::default() } };
        let lower = text.to_ascii_lowercase();
        let essence = lower.split([';', ',']).next().unwrap_or_default().trim();
        Self {
            form: essence.is_empty() || essence == "application/x-www-form-urlencoded",
            multipart: lower.contains("multipart/"),
            json: lower.contains("/json") || lower.contains("+json"),
        }
    }

    /// Whether any framework reads fields out of such a body.
    pub fn any(&self) -> bool {
        self.form || self.multipart || self.json
    }
}

/// Whether a POST body carries a `_method` field for any reader that applies to it.
pub fn body_has_override(content_type: Option<&str>, body: &[u8]) -> bool {
    let readers = BodyReaders::of(content_type);
    (readers.form && pairs_have_override(body))
        || (readers.multipart && multipart_has_override(body))
        || (readers.json && json_has_override(body))
}

/// `name=value&name=value` (also `;`-separated, as older Rack splits): a name that reads
/// as `_method` once percent- and `+`-decoded.
fn pairs_have_override(text: &[u8]) -> bool {
    text.split(|&b| b == b'&' || b == b';').any(|pair| {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        names_method(&url_decode(name))
    })
}

/// Multipart: every `name=` parameter (quoted or bare) anywhere in the body.
fn multipart_has_override(body: &[u8]) -> bool {
    let lower = body.to_ascii_lowercase();
    let mut rest = lower.as_slice();
    while let Some(at) = rest.windows(5).position(|w| w == b"name=") {
        let value = &rest[at + 5..];
        let name = match value.first() {
            Some(&q @ (b'"' | b'\'')) => value[1..].split(|&b| b == q).next().unwrap_or_default(),
            _ => value.split(|&b| b";\r\n \t".contains(&b)).next().unwrap_or_default(),
        };
        if names_method(name) || names_method(&url_decode(name)) {
            return true;
        }
        rest = &rest[at + 5..];
    }
    false
}

/// JSON: a top-level key that reads as `_method`. A body that is not JSON is read the
/// way a lax parser might: refused if it mentions `method` at all.
fn json_has_override(body: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
        Ok(object) => object.keys().any(|key| names_method(key.as_bytes())),
        Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => false,
        Err(_) => body.to_ascii_lowercase().windows(6).any(|w| w == b"method"),
    }
}

/// A field name as PHP registers it (NUL ends it, leading spaces dropped, `[` starts an
/// array index, `.` and ` ` become `_`), compared with `_method` without case.
fn names_method(raw: &[u8]) -> bool {
    let name = raw.split(|&b| b == 0).next().unwrap_or_default();
    let start = name.iter().position(|&b| b != b' ').unwrap_or(name.len());
    let name = name[start..].split(|&b| b == b'[').next().unwrap_or_default();
    name.len() == 7
        && name.iter().zip(b"_method").all(|(&got, &want)| {
            let got = if got == b'.' || got == b' ' { b'_' } else { got.to_ascii_lowercase() };
            got == want
        })
}

/// `%XX` and `+` decoding of a form or query field (invalid escapes kept as they are).
fn url_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let hex = |at: usize| text.get(at).and_then(|&h| char::from(h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
