//! Ways a request can name another method or path than its own, as origin frameworks
//! read them. The paywall prices the request line it sees, so each is either removed
//! before the origin or refused where it would change the price:
//!
//! - **Headers** ([`is_stripped`]) are dropped on every route, paid or free, whatever
//!   their letter case and whatever separates their words (`-`, `_`, `.`: CGI servers
//!   such as Puma and PHP map them all to `_`): any name holding `methodoverride` or
//!   `httpmethod` (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`: Express
//!   method-override, ASP.NET, Google APIs, Symfony), `X-Original-Method`, `X-Original-URL`,
//!   `X-Rewrite-URL`, `X-Override-URL` (IIS URL Rewrite, Symfony, Zend), `AspFilterSessionId`
//!   (ASP.NET cookieless sessions rewrite the path from it), and the payment headers.
//! - **`_method`** turns a request into another method: in the query string, a form,
//!   multipart or JSON body, even a cookie (PHP's `$_REQUEST`), under each framework's own
//!   parsing rules (Rack, Laravel, Symfony, Spring, ASP.NET Core, gorilla, Hono, Express
//!   body getters). Those rules differ too much to be modelled one by one, so the rule is
//!   fail-closed: where an override could reach a priced route other than the request's
//!   own ([`price_may_change`]; every method but GET, since Hono overrides even HEAD and
//!   OPTIONS), a request whose query, `Cookie` or body [`mentions_method`] is refused (400
//!   `method_override_refused`). The body is read for it (bounded); a compressed body (415
//!   `unsupported_content_encoding`) or one in an unusual charset (415 `unsupported_charset`,
//!   e.g. UTF-16 or UTF-7, which parsers decode before naming fields) cannot be looked into
//!   and is refused there too. Elsewhere every request passes untouched (an override to a
//!   free method gets nothing priced).

use crate::http::STANDARD_METHODS;
use crate::path::NormalPath;
use crate::routes::RouteTable;

/// Request header names dropped before the origin, in their normalised form (ASCII
/// letters and digits only, lower case), besides any that holds [`STRIPPED_FRAGMENTS`].
pub const STRIPPED_REQUEST_HEADERS: &[&str] = &[
    "paymentsignature",
    "xpayment",
    "xoriginalmethod",
    "xoriginalurl",
    "xrewriteurl",
    "xoverrideurl",
    "aspfiltersessionid",
    // Ours to set: a client's copy never reaches the origin (see `context`, `config`).
    "paymentcontext",
    "x402originsecret",
];

/// A normalised header name holding one of these is dropped before the origin.
pub const STRIPPED_FRAGMENTS: &[&str] = &["methodoverride", "httpmethod"];

/// Whether a request header is dropped before the origin.
pub fn is_stripped(name: &str) -> bool {
    let normal: Vec<u8> = name.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase()).collect();
    STRIPPED_REQUEST_HEADERS.iter().any(|h| normal == h.as_bytes())
        || STRIPPED_FRAGMENTS.iter().any(|f| normal.windows(f.len()).any(|w| w == f.as_bytes()))
}

/// Methods an override may name besides the standard ones (Rack's list).
const MORE_TARGETS: &[&str] = &["LINK", "UNLINK"];

/// Largest body read to look for an override (bytes). Larger bodies on a path where an
/// override would change the price are refused (413 `body_too_large`).
pub const BODY_SCAN_LIMIT: usize = 1024 * 1024;

/// How long reading such a body may take (ms); a body that never ends is refused (400
/// `body_unreadable`).
pub const BODY_READ_TIMEOUT_MS: u64 = 10_000;

/// Whether a `_method` override of a `method` request could reach a priced route at `path`
/// other than the request's own (or the path is ambiguous for one of them). Only GET is
/// never overridden, by any framework.
pub fn price_may_change<T>(routes: &RouteTable<T>, method: &str, path: &NormalPath) -> bool {
    if method.eq_ignore_ascii_case("GET") {
        return false;
    }
    let own = routes.position_path(method, path);
    let named = routes.iter().filter_map(|(pattern, _)| pattern.method());
    STANDARD_METHODS.iter().chain(MORE_TARGETS).copied().chain(named).any(|m| match routes.position_path(m, path) {
        Ok(None) => false,
        other => other != own,
    })
}

/// Whether a `Content-Encoding` hides the body from a look (anything but `identity`).
pub fn is_encoded(content_encoding: Option<&str>) -> bool {
    content_encoding.is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"))
}

/// Whether a `Content-Type` names a charset that parsers decode before they read field
/// names (anything but UTF-8, ASCII or Latin-1), so that a look at the bytes proves nothing.
pub fn is_unusual_charset(content_type: Option<&str>) -> bool {
    names_charset_but(content_type, &["utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", ""])
}

/// Whether a `Content-Type` names a charset (any parameter starting `charset`, as a reader
/// splitting on `;` and `,` sees it: lower case, unquoted) that is not one of `allowed`.
pub fn names_charset_but(content_type: Option<&str>, allowed: &[&str]) -> bool {
    let Some(lower) = content_type.map(str::to_ascii_lowercase) else { return false };
    lower.split([';', ',']).filter_map(|p| p.trim().strip_prefix("charset")).any(|rest| {
        let value = rest.trim_start().strip_prefix('=').unwrap_or(rest).trim().trim_matches(['"', '\'']);
        !allowed.contains(&value)
    })
}

/// Whether some parser could read `text` as naming a method override: the word `method`
/// (any case) appears once everything but ASCII letters and digits is removed (so that no
/// separator, bracket, quote, whitespace, NUL of UTF-16, or header a multipart parser
/// might take the name from, can hide it), in the text as sent, percent-decoded once or
/// twice, or with JSON `\uXXXX` escapes resolved. Linear in the length, several passes.
///
/// A pass that cannot differ from one already made is skipped: decoding changes the
/// letters only where a `%` is (a `+` becomes a space, which the scan drops anyway), and
/// unescaping only where a `\` is. Most form bodies need one pass.
pub fn mentions_method(text: &[u8]) -> bool {
    let named = |t: &[u8]| spells_method(t) || (t.contains(&b'\\') && spells_method(&json_unescape(t)));
    if named(text) {
        return true;
    }
    if !text.contains(&b'%') {
        return false;
    }
    let once = url_decode(text);
    named(&once) || (once.contains(&b'%') && named(&url_decode(&once)))
}

/// `method` in the ASCII letters and digits of `text`, any case; also once the RFC 2231
/// continuation names (`name*0`, `name*1`, … seen as `name0`, `name1`) between its pieces
/// are taken out (`name*0="_me"; name*1="thod"`).
fn spells_method(text: &[u8]) -> bool {
    let letters: Vec<u8> = text.iter().filter(|b| b.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase).collect();
    holds_method(&letters) || holds_method(&without_continuation_names(&letters))
}

/// Whether `letters` holds `method` (`m` starts no other position of the word, so a
/// single pass suffices).
fn holds_method(letters: &[u8]) -> bool {
    const WORD: &[u8] = b"method";
    let mut matched = 0;
    for &b in letters {
        matched = if b == WORD[matched] { matched + 1 } else { usize::from(b == WORD[0]) };
        if matched == WORD.len() {
            return true;
        }
    }
    false
}

/// `letters` without every `name` followed by digits.
fn without_continuation_names(letters: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(letters.len());
    let mut i = 0;
    while i < letters.len() {
        if letters[i..].starts_with(b"name") {
            let digits = letters[i + 4..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                i += 4 + digits;
                continue;
            }
        }
        out.push(letters[i]);
        i += 1;
    }
    out
}

/// `text` with every escape `decode` reads at a position replaced by the byte it stands
/// for (`None`: dropped) and skipped whole; every other byte kept.
fn unescape(text: &[u8], decode: impl Fn(&[u8]) -> Option<(Option<u8>, usize)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match decode(&text[i..]) {
            Some((byte, len)) => {
                out.extend(byte);
                i += len;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// JSON `\uXXXX` escapes resolved to their ASCII byte (others dropped); other bytes kept.
fn json_unescape(text: &[u8]) -> Vec<u8> {
    unescape(text, |t| {
        if t.first() != Some(&b'\\') || !matches!(t.get(1), Some(b'u' | b'U')) {
            return None;
        }
        let code = u32::from_str_radix(std::str::from_utf8(t.get(2..6)?).ok()?, 16).ok()?;
        Some((u8::try_from(code).ok(), 6))
    })
}

/// `%XX` and `+` decoding (invalid escapes kept as they are).
fn url_decode(text: &[u8]) -> Vec<u8> {
    unescape(text, |t| {
        let hex = |at: usize| t.get(at).and_then(|&h| char::from(h).to_digit(16));
        match (t.first()?, hex(1), hex(2)) {
            (b'%', Some(hi), Some(lo)) => Some((u8::try_from(hi * 16 + lo).ok(), 3)),
            (b'+', _, _) => Some((Some(b' '), 1)),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests;
