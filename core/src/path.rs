//! Request path normalisation. This module owns the one decision of what path a request
//! is *for*: the key it is priced by (matched against routes) and the path sent to the
//! origin are derived together from the same segments, so no spelling of a priced path
//! can reach the origin unpriced.
//!
//! Rules applied by [`normalise`], in order (the documented case rule is 5):
//!
//! 1. The path must start with `/` and be at most [`MAX_PATH_LEN`] bytes (no query
//!    string, no fragment).
//! 2. Every `%XX` (either hex case) is decoded exactly once; an invalid escape (`%zz`,
//!    `%4`) is refused. If the decoded bytes still hold `%` and two hex digits (double
//!    encoding, `%252e`), the path is refused. The decoded bytes must be UTF-8 and hold no
//!    NUL or other ASCII control character, and no backslash (raw or `%5C`), which some
//!    servers treat as `/`.
//! 3. A decoded `%2F` is a separator like `/`: `/premium%2Fx` is `/premium/x` (fail
//!    closed: whatever might reach a priced resource is priced).
//! 4. Runs of `/` collapse to one, then dot segments are removed as in RFC 3986 §5.2.4
//!    (`.` and `..`, including decoded `%2e`). A `..` that would climb above the root is
//!    refused, never clamped.
//! 5. Case: matching is ASCII case-insensitive, so the match key is ASCII-lowercased
//!    (`/PREMIUM/x` cannot dodge a price at a case-insensitive origin); non-ASCII letters
//!    are left as they are. The forwarded path keeps the client's case.
//! 6. Trailing slash: `/premium/` and `/premium` share the match key `/premium`; the root
//!    stays `/`. The forwarded path keeps a trailing slash the client sent (or that a
//!    final `.`/`..` segment implies, as in RFC 3986).
//! 7. `;` starts segment parameters: the match key drops them (`/premium;v=1/a` is priced
//!    as `/premium/a`, and `/free/..;/premium/a` as `/premium/a`), as servlet containers
//!    do before routing; the forwarded path keeps them.
//!
//! The forwarded path re-encodes every byte outside RFC 3986 unreserved, sub-delims, `:`
//! and `@` as `%XX` (upper-case hex); `/` appears only as a separator.

use std::fmt;

/// The longest raw path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// A request path made safe to match and to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    match_key: String,
    forward: String,
}

impl NormalPath {
    /// The key routes are matched on: percent-decoded, dot segments removed, `//`
    /// collapsed, no trailing slash (except `/`), ASCII-lowercased.
    pub fn match_key(&self) -> &str {
        &self.match_key
    }

    /// The path to send to the origin: the match key's segments in the client's letter
    /// case, re-percent-encoded, with the client's trailing slash.
    pub fn forward(&self) -> &str {
        &self.forward
    }
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// The path is longer than [`MAX_PATH_LEN`] bytes.
    TooLong,
    /// A `%` is not followed by two hex digits.
    BadPercentEncoding,
    /// The decoded path still holds a percent escape.
    DoubleEncoded,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// The decoded path holds NUL or another ASCII control character.
    ControlOrNul,
    /// The path holds a backslash, raw or encoded.
    Backslash,
    /// A `..` segment climbs above the root.
    EscapesRoot,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with '/'",
            PathError::TooLong => "path is too long",
            PathError::BadPercentEncoding => "invalid percent escape in path",
            PathError::DoubleEncoded => "double percent-encoding in path",
            PathError::NotUtf8 => "path is not UTF-8 once decoded",
            PathError::ControlOrNul => "control character in path",
            PathError::Backslash => "backslash in path",
            PathError::EscapesRoot => "'..' climbs above the root",
        })
    }
}

/// Normalises the path part of a request URL (no query string, no fragment; starts with
/// `/`) by the rules in the module documentation.
pub fn normalise(raw: &str) -> Result<NormalPath, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let decoded = percent_decode(raw.as_bytes())?;
    if decoded.windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit()) {
        return Err(PathError::DoubleEncoded);
    }
    let text = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    if text.bytes().any(|b| b.is_ascii_control()) {
        return Err(PathError::ControlOrNul);
    }
    if text.contains('\\') {
        return Err(PathError::Backslash);
    }
    let segments = remove_dot_segments(text.split('/'))?;
    // The match key also drops `;parameters` from each segment, as servlet containers do
    // (`/premium;x/a` and `/free/..;/premium/a` reach `/premium/a` there).
    let bare = remove_dot_segments(text.split('/').map(|s| s.split(';').next().unwrap_or_default()))?;
    let trailing = matches!(text.rsplit('/').next(), Some("" | "." | ".."));
    let mut match_key = String::with_capacity(text.len());
    let mut forward = String::with_capacity(raw.len());
    for segment in &bare {
        match_key.push('/');
        match_key.push_str(&segment.to_ascii_lowercase());
    }
    for segment in &segments {
        forward.push('/');
        encode_segment(segment, &mut forward);
    }
    if segments.is_empty() || trailing {
        forward.push('/');
    }
    if match_key.is_empty() {
        match_key.push('/');
    }
    Ok(NormalPath { match_key, forward })
}

/// Drops empty and `.` segments and resolves `..`; climbing above the root is an error.
fn remove_dot_segments<'a>(parts: impl Iterator<Item = &'a str>) -> Result<Vec<&'a str>, PathError> {
    let mut segments = Vec::new();
    for segment in parts.filter(|s| !s.is_empty()) {
        match segment {
            "." => {}
            ".." => {
                segments.pop().ok_or(PathError::EscapesRoot)?;
            }
            _ => segments.push(segment),
        }
    }
    Ok(segments)
}

/// Decodes every `%XX` once; anything else passes through.
fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            let hi = raw.get(i + 1).and_then(|&h| hex_value(h));
            let lo = raw.get(i + 2).and_then(|&l| hex_value(l));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadPercentEncoding);
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Appends `segment`, keeping RFC 3986 unreserved, sub-delims, `:` and `@`, and
/// encoding every other byte (including `/` and `%`) as `%XX`.
fn encode_segment(segment: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathError::*;

    fn pair(raw: &str) -> Result<(String, String), PathError> {
        normalise(raw).map(|p| (p.match_key().to_owned(), p.forward().to_owned()))
    }

    #[test]
    fn normalises_and_refuses() {
        for (input, want) in [
            ("/", Ok(("/", "/"))),
            ("//", Ok(("/", "/"))),
            ("/premium/x", Ok(("/premium/x", "/premium/x"))),
            ("/premium/../premium/x", Ok(("/premium/x", "/premium/x"))),
            ("/%70remium/x", Ok(("/premium/x", "/premium/x"))),
            ("//premium/x", Ok(("/premium/x", "/premium/x"))),
            ("/premium//x", Ok(("/premium/x", "/premium/x"))),
            ("/premium%2Fx", Ok(("/premium/x", "/premium/x"))),
            ("/premium;v=1/x", Ok(("/premium/x", "/premium;v=1/x"))),
            ("/free/..;/premium/x", Ok(("/premium/x", "/free/..;/premium/x"))),
            ("/free/%2e%2e%3b/premium/x", Ok(("/premium/x", "/free/..;/premium/x"))),
            ("/;x/premium", Ok(("/premium", "/;x/premium"))),
            ("/..;/premium", Err(EscapesRoot)),
            ("/premium%2fx", Ok(("/premium/x", "/premium/x"))),
            ("/PREMIUM/X", Ok(("/premium/x", "/PREMIUM/X"))),
            ("/premium/x/", Ok(("/premium/x", "/premium/x/"))),
            ("/premium/", Ok(("/premium", "/premium/"))),
            ("/premium/./x", Ok(("/premium/x", "/premium/x"))),
            ("/premium/x/.", Ok(("/premium/x", "/premium/x/"))),
            ("/premium/%2e", Ok(("/premium", "/premium/"))),
            ("/premium/..", Ok(("/", "/"))),
            ("/a/%2E%2E/premium/x", Ok(("/premium/x", "/premium/x"))),
            ("/a/.%2e/premium/x", Ok(("/premium/x", "/premium/x"))),
            ("/a/.../b", Ok(("/a/.../b", "/a/.../b"))),
            ("/caf%C3%A9", Ok(("/café", "/caf%C3%A9"))),
            ("/CAF%C3%89", Ok(("/cafÉ", "/CAF%C3%89"))),
            ("/café", Ok(("/café", "/caf%C3%A9"))),
            ("/a b", Ok(("/a b", "/a%20b"))),
            ("/a%3Fb%23c", Ok(("/a?b#c", "/a%3Fb%23c"))),
            ("/100%25", Ok(("/100%", "/100%25"))),
            ("/~u/it's:@x", Ok(("/~u/it's:@x", "/~u/it's:@x"))),
            ("/%2e%2e/premium/x", Err(EscapesRoot)),
            ("/..", Err(EscapesRoot)),
            ("/a/../..", Err(EscapesRoot)),
            ("/..%2f", Err(EscapesRoot)),
            ("/premium%252fx", Err(DoubleEncoded)),
            ("/%252e%252e/x", Err(DoubleEncoded)),
            ("/premium%00x", Err(ControlOrNul)),
            ("/premium%09x", Err(ControlOrNul)),
            ("/x%7F", Err(ControlOrNul)),
            ("/x\ny", Err(ControlOrNul)),
            ("/premium\\x", Err(Backslash)),
            ("/premium%5cx", Err(Backslash)),
            ("/%zz", Err(BadPercentEncoding)),
            ("/%4", Err(BadPercentEncoding)),
            ("/%4g", Err(BadPercentEncoding)),
            ("/x%", Err(BadPercentEncoding)),
            ("/%C3%28", Err(NotUtf8)),
            ("/%ff", Err(NotUtf8)),
            ("premium", Err(NotAbsolute)),
            ("", Err(NotAbsolute)),
            ("%2Fpremium", Err(NotAbsolute)),
        ] {
            let want = want.map(|(k, f)| (k.to_owned(), f.to_owned()));
            assert_eq!(pair(input), want, "{input}");
        }
    }

    #[test]
    fn length_limit() {
        for (len, want) in [(MAX_PATH_LEN, true), (MAX_PATH_LEN + 1, false)] {
            let raw = format!("/{}", "a".repeat(len - 1));
            assert_eq!(normalise(&raw).is_ok(), want, "{len}");
        }
        assert_eq!(normalise(&format!("/{}", "a".repeat(MAX_PATH_LEN))), Err(TooLong));
    }

    #[test]
    fn generated_paths_are_stable() {
        const ALPHABET: &[u8] = b"/.%2eEfFaPx;\\";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap_or(0) % n
        };
        let (mut oks, mut errs) = (0, 0);
        for _ in 0..600 {
            let len = next(16);
            let mut raw = String::from(if next(10) == 0 { "" } else { "/" });
            for _ in 0..len {
                raw.push(char::from(ALPHABET[next(ALPHABET.len())]));
            }
            let Ok(p) = normalise(&raw) else {
                errs += 1;
                continue;
            };
            oks += 1;
            let key = p.match_key();
            let again = normalise(p.forward()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(again.match_key(), key, "{raw}");
            assert_eq!(again.forward(), p.forward(), "{raw}");
            assert!(key.starts_with('/'), "{raw}");
            assert!(key == "/" || !key.ends_with('/'), "{raw}");
            assert_eq!(key, key.to_ascii_lowercase(), "{raw}");
            for bad in ["/../", "/./", "//"] {
                assert!(!key.contains(bad), "{raw} -> {key}");
            }
            assert!(!key.ends_with("/..") && !key.ends_with("/."), "{raw} -> {key}");
        }
        assert!(oks > 50 && errs > 50, "{oks} ok, {errs} refused");
    }
}
