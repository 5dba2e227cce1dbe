//! Ways a request can name another method or path than its own, as common origin
//! frameworks read them. The paywall prices the request line it sees, so each is either
//! removed before the origin or refused where it would change the price:
//!
//! - **Headers** ([`STRIPPED_REQUEST_HEADERS`]) are dropped on every route, paid or free,
//!   whatever their letter case and whatever separates their words (`-`, `_`, `.`: CGI
//!   servers such as Puma and PHP map them all to `_`): `X-HTTP-Method-Override`,
//!   `X-HTTP-Method`, `X-Method-Override`, `X-Original-Method` (Express method-override,
//!   ASP.NET, Google APIs, Symfony), `X-Original-URL`, `X-Rewrite-URL`, `X-Override-URL`
//!   (IIS URL Rewrite, Symfony, Zend), `AspFilterSessionId` (ASP.NET cookieless sessions
//!   rewrite the path from it), and the payment headers themselves.
//! - **`_method`** turns a request into another method: in the query string (Laravel,
//!   Symfony, Spring, Hono), in a form or multipart body (Rails' `Rack::MethodOverride`,
//!   Laravel, Symfony, Spring, ASP.NET Core, gorilla, Hono), or in a JSON body (Laravel,
//!   Express method-override with a body getter). Most frameworks override only a POST,
//!   Hono any method but GET, so every method but GET and HEAD is looked at. It cannot be
//!   stripped without changing the request, so a request that carries one is refused (400
//!   `method_override_refused`) where it could reach a priced route other than its own
//!   ([`price_may_change`]); elsewhere it passes untouched (an override to a free method
//!   gets nothing priced). There the body is read (bounded) and looked at by every parser,
//!   whatever its `Content-Type` says (origins are often configured to parse any type):
//!   form pairs (`&` or `;` separated), multipart `Content-Disposition` names (quoted with
//!   backslash escapes, RFC 2231 `name*=` and `name*0=` continuations), top-level JSON
//!   keys. A field name is decoded and mangled as PHP does (leading spaces dropped, `.` and
//!   ` ` as `_`, `[…]` an array, a NUL ends it) and compared without regard to case. A
//!   compressed body (`Content-Encoding`) there cannot be looked into, and is refused (415
//!   `unsupported_content_encoding`).

use crate::http::STANDARD_METHODS;
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

/// Whether a request header is dropped before the origin (any letter case; any
/// non-alphanumeric byte stands for `-`).
pub fn is_stripped(name: &str) -> bool {
    STRIPPED_REQUEST_HEADERS.iter().any(|h| {
        h.len() == name.len()
            && h.bytes().zip(name.bytes()).all(|(want, got)| {
                let got = if got.is_ascii_alphanumeric() { got.to_ascii_lowercase() } else { b'-' };
                want == got
            })
    })
}

/// Methods an override may name besides the standard ones (Rack's list).
const MORE_TARGETS: &[&str] = &["LINK", "UNLINK"];

/// Largest body read to look for a `_method` field (bytes). Larger bodies on a path where
/// an override would change the price are refused (413 `body_too_large`).
pub const BODY_SCAN_LIMIT: usize = 1024 * 1024;

/// Whether a `_method` override of a `method` request could reach a priced route at `path`
/// other than the request's own (or the path is ambiguous for one of them). GET and HEAD
/// are never overridden.
pub fn price_may_change<T>(routes: &RouteTable<T>, method: &str, path: &NormalPath) -> bool {
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return false;
    }
    let own = routes.position_path(method, path);
    let named = routes.iter().filter_map(|(pattern, _)| pattern.method());
    STANDARD_METHODS.iter().chain(MORE_TARGETS).copied().chain(named).any(|m| match routes.position_path(m, path) {
        Ok(None) => false,
        other => other != own,
    })
}

/// Whether a query string carries a `_method` parameter.
pub fn query_has_override(query: Option<&str>) -> bool {
    query.is_some_and(|q| pairs_have_override(q.as_bytes()))
}

/// Whether a `Content-Encoding` hides the body from a look (anything but `identity`).
pub fn is_encoded(content_encoding: Option<&str>) -> bool {
    content_encoding.is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"))
}

/// Whether a body carries a `_method` field for any parser that might read it.
pub fn body_has_override(body: &[u8]) -> bool {
    pairs_have_override(body) || multipart_has_override(body) || json_has_override(body)
}

/// `name=value&name=value` (also `;`-separated, as older Rack splits): a name that reads
/// as `_method` once percent- and `+`-decoded.
fn pairs_have_override(text: &[u8]) -> bool {
    text.split(|&b| b == b'&' || b == b';').any(|pair| {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        names_method(&url_decode(name))
    })
}

/// Multipart: the name parameters of every `Content-Disposition` (its whole header block,
/// folded lines included).
fn multipart_has_override(body: &[u8]) -> bool {
    let lower = body.to_ascii_lowercase();
    let needle = b"content-disposition";
    let mut from = 0;
    while let Some(at) = find(&lower[from..], needle).map(|i| from + i) {
        let block = &body[at + needle.len()..];
        let end = find(block, b"\n\r\n").or_else(|| find(block, b"\n\n")).unwrap_or(block.len());
        if disposition_names_method(&block[..end]) {
            return true;
        }
        from = at + needle.len();
    }
    false
}

/// The `name`, `name*` and `name*N[*]` parameters of a disposition, decoded (quoted with
/// backslash escapes; RFC 2231 `charset'lang'%XX` values; continuations joined).
fn disposition_names_method(header: &[u8]) -> bool {
    let mut continued: Vec<(u32, Vec<u8>)> = Vec::new();
    for param in split_params(header) {
        let Some(eq) = param.iter().position(|&b| b == b'=') else { continue };
        let key = param[..eq].trim_ascii().to_ascii_lowercase();
        let value = param[eq + 1..].trim_ascii();
        let Some(rest) = key.strip_prefix(b"name") else { continue };
        let extended = rest.ends_with(b"*");
        let decoded = if extended { rfc2231_value(value) } else { unquote(value) };
        let named = match rest.strip_prefix(b"*").map(|r| r.strip_suffix(b"*").unwrap_or(r)) {
            None if rest.is_empty() => names_method(&decoded) || names_method(&url_decode(&decoded)),
            Some([]) => names_method(&decoded),
            Some(index) => {
                if let Some(n) = std::str::from_utf8(index).ok().and_then(|i| i.parse().ok()) {
                    continued.push((n, decoded));
                }
                false
            }
            None => false,
        };
        if named {
            return true;
        }
    }
    continued.sort_by_key(|(n, _)| *n);
    !continued.is_empty() && names_method(&continued.into_iter().flat_map(|(_, part)| part).collect::<Vec<_>>())
}

/// Splits header parameters on `;` (and line breaks) outside double quotes.
fn split_params(header: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in header.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' | b'\n' | b'\r' if !quoted => {
                out.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&header[start..]);
    out
}

/// A parameter value without its quotes, backslash escapes resolved.
fn unquote(value: &[u8]) -> Vec<u8> {
    let inner = match value {
        [b'"', inner @ .., b'"'] | [b'\'', inner @ .., b'\''] => inner,
        _ => value,
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &b in inner {
        if b == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(b);
    }
    out
}

/// An RFC 2231 extended value: `charset'lang'percent-encoded` (or just percent-encoded).
fn rfc2231_value(value: &[u8]) -> Vec<u8> {
    let unquoted = unquote(value);
    let encoded = match unquoted.iter().rposition(|&b| b == b'\'') {
        Some(at) => &unquoted[at + 1..],
        None => &unquoted[..],
    };
    url_decode(encoded)
}

/// JSON: a top-level key that reads as `_method`. A body that does not parse as JSON is
/// read the way a lax parser might: refused if it mentions `_method`-like keys at all.
fn json_has_override(body: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
        Ok(object) => object.keys().any(|key| names_method(key.as_bytes())),
        Err(_) => {
            let trimmed = body.trim_ascii_start();
            let looks_like_json = trimmed.first() == Some(&b'{') || trimmed.starts_with(b"\xef\xbb\xbf");
            looks_like_json && find(&body.to_ascii_lowercase(), b"method").is_some()
        }
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

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests;
