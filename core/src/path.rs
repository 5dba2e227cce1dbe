//! Request path normalisation. This module owns the one decision of what path a request
//! is *for*: the keys it is priced by (matched against routes) and the path sent to the
//! origin are derived together from the same segments, so no spelling of a priced path
//! can reach the origin unpriced.
//!
//! Rules applied by [`normalise`], in order:
//!
//! 1. The path must start with `/` and be at most [`MAX_PATH_LEN`] bytes (no query
//!    string, no fragment).
//! 2. Every `%XX` (either hex case) is decoded exactly once; an invalid escape (`%zz`,
//!    `%4`, IIS's `%u0070`) is refused. If the decoded bytes still hold `%` and two hex
//!    digits (double encoding, `%252e`), the path is refused. The decoded bytes must be
//!    UTF-8 and hold no NUL or other ASCII control character, and no backslash (raw or
//!    `%5C`), which some servers treat as `/`.
//! 3. A decoded `%2F` is a separator like `/`: `/premium%2Fx` is `/premium/x` (fail
//!    closed: whatever might reach a priced resource is priced).
//! 4. Runs of `/` collapse to one, then dot segments are removed as in RFC 3986 §5.2.4
//!    (`.` and `..`, including decoded `%2e`). A `..` that would climb above the root is
//!    refused, never clamped.
//! 5. A segment whose part before its first `;` is `.` or `..` (`..;`, `.;x`, `%2e%2e%3b`)
//!    is refused: servlet containers resolve it as a dot segment, WHATWG-style servers as
//!    a name, so the two would serve different resources.
//! 6. Case: matching is ASCII case-insensitive, so keys are ASCII-lowercased
//!    (`/PREMIUM/x` cannot dodge a price at a case-insensitive origin). The forwarded
//!    path keeps the client's case.
//! 7. Trailing slash: `/premium/` and `/premium` share the key `/premium`; the root stays
//!    `/`. The forwarded path keeps a trailing slash the client sent (or that a final
//!    `.`/`..` segment implies, as in RFC 3986).
//!
//! The **match key** is the path as the origin receives it and as WHATWG-style servers
//! (Express, nginx, Go) resolve it: `;parameters` are part of the segment. Common origins
//! read some paths differently, so [`NormalPath::readings`] lists the other keys the same
//! forwarded path can be read as, when they differ from the match key:
//!
//! - **servlet**: `;parameters` dropped from each segment (Tomcat, Jetty, Spring):
//!   `/premium;v=1/a` is `/premium/a` there;
//! - **windows**: as IIS on NTFS resolves names: fullwidth ASCII forms (U+FF01–U+FF5E)
//!   and the non-ASCII letters whose simple case mapping is ASCII (`ı`, `İ`, `ſ`, the
//!   Kelvin sign) fold to ASCII, and each segment loses an NTFS stream suffix (`:…`) and
//!   trailing dots and spaces (`/premium./x` is `/premium/x`); a segment of only dots is
//!   a dot segment;
//! - **cookieless**: ASP.NET (on IIS) removes cookieless session values `(S(…))`, with
//!   the `/` before them or not, before routing: `/(S(x))/premium/x` is `/premium/x`;
//! - **script**: a PHP front controller routes `/index.php/premium/x` as `/premium/x`;
//! - any combination of these.
//!
//! A segment shaped like an NTFS 8.3 short name (`PREMIU~1`) is refused: IIS may serve a
//! long name through it, and which one cannot be known here.
//!
//! A reading that climbs above the root refuses the path. The route table refuses a path
//! whose readings price differently (see `routes::RouteTable::find_path`): what was priced
//! is what every common origin serves, or the request gets `400 bad_path`.
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
    readings: Vec<String>,
    forward: String,
}

impl NormalPath {
    /// The key routes are matched on: percent-decoded, dot segments removed, `//`
    /// collapsed, no trailing slash (except `/`), ASCII-lowercased, `;parameters` kept.
    pub fn match_key(&self) -> &str {
        &self.match_key
    }

    /// The other keys common origins may read the forwarded path as (servlet, windows;
    /// see the module docs), each different from the match key and from each other.
    pub fn readings(&self) -> &[String] {
        &self.readings
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
    /// A `..` segment climbs above the root (in any reading).
    EscapesRoot,
    /// A segment is a dot segment with `;parameters` (`..;`, `.;x`).
    DotSegmentWithParameters,
    /// A segment has the shape of an NTFS 8.3 short name (`PREMIU~1`).
    ShortName,
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
            PathError::DotSegmentWithParameters => "dot segment with ';' parameters",
            PathError::ShortName => "segment shaped like an NTFS short name",
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
    if text.split('/').any(|s| s.split_once(';').is_some_and(|(bare, _)| bare == "." || bare == "..")) {
        return Err(PathError::DotSegmentWithParameters);
    }
    let folded = (!text.is_ascii()).then(|| fold_windows(&text));
    if text.split('/').chain(folded.iter().flat_map(|f| f.split('/'))).any(is_short_name) {
        return Err(PathError::ShortName);
    }
    let segments = remove_dot_segments(text.split('/'))?;
    let trailing = matches!(text.rsplit('/').next(), Some("" | "." | ".."));
    let mut forward = String::with_capacity(raw.len());
    for segment in &segments {
        forward.push('/');
        encode_segment(segment, &mut forward);
    }
    if segments.is_empty() || trailing {
        forward.push('/');
    }
    let match_key = key_of(segments.iter().copied());
    let readings = readings(&text, &match_key)?;
    Ok(NormalPath { match_key, readings, forward })
}

/// Normalises a request target: its path by [`normalise`], and, where a PHP front
/// controller (CodeIgniter) routes on the query instead — the path names only the root or
/// a script and the query starts with `/` (`/?/premium/x`, `/index.php?/premium/x`) — that
/// query path is one more reading of the target, with its own readings.
pub fn normalise_target(path: &str, query: Option<&str>) -> Result<NormalPath, PathError> {
    let mut normal = normalise(path)?;
    // The path as any origin reads it (`/index.php.` is `/index.php` on IIS).
    let script_or_root = std::iter::once(&normal.match_key).chain(&normal.readings).any(|key| {
        let key = key.trim_end_matches('/').as_bytes();
        key.is_empty() || key.ends_with(b".php")
    });
    let routed = query
        .filter(|_| script_or_root)
        .and_then(|q| q.strip_prefix('/').or_else(|| q.get(3..).filter(|_| q[..3].eq_ignore_ascii_case("%2f"))));
    if let Some(routed) = routed {
        let end = routed.find(['?', '&']).unwrap_or(routed.len());
        let by_query = normalise(&format!("/{}", &routed[..end]))?;
        for key in std::iter::once(by_query.match_key).chain(by_query.readings) {
            if key != normal.match_key && !normal.readings.contains(&key) {
                normal.readings.push(key);
            }
        }
    }
    Ok(normal)
}

/// The other readings of the decoded path that differ from `literal`: every combination
/// of the transformations that apply to it (most paths have none, and cost nothing here).
fn readings(text: &str, literal: &str) -> Result<Vec<String>, PathError> {
    let windows = text.bytes().any(|b| !b.is_ascii() || b == b':' || b == b' ')
        || text.split('/').any(|s| s.ends_with('.') && s != "." && s != "..");
    let script = text.as_bytes().windows(5).any(|w| w.eq_ignore_ascii_case(b".php/"));
    let mut ways = vec![Reading::default()];
    let mut widen = |applies: bool, variants: &dyn Fn(Reading) -> Vec<Reading>| {
        if applies {
            ways = ways.iter().flat_map(|&w| std::iter::once(w).chain(variants(w))).collect();
        }
    };
    widen(text.contains(';'), &|w| vec![Reading { servlet: true, ..w }]);
    widen(windows, &|w| vec![Reading { windows: true, ..w }]);
    widen(text.contains('('), &|w| {
        vec![Reading { cookieless: Some(true), ..w }, Reading { cookieless: Some(false), ..w }]
    });
    widen(script, &|w| vec![Reading { script: true, ..w }]);
    let mut out: Vec<String> = Vec::new();
    // The first way is the identity: the literal reading itself.
    for how in ways.into_iter().skip(1) {
        let key = reading(text, how)?;
        if key != literal && !out.contains(&key) {
            out.push(key);
        }
    }
    Ok(out)
}

/// Which transformations a reading applies (see the module docs).
#[derive(Clone, Copy, Default)]
struct Reading {
    /// Drop `;parameters` from each segment.
    servlet: bool,
    /// Fold to ASCII as Windows does, and name segments as NTFS does.
    windows: bool,
    /// Remove ASP.NET cookieless values `(X(…))`, with the `/` before them (`Some(true)`)
    /// or without (`Some(false)`).
    cookieless: Option<bool>,
    /// Drop a PHP front controller prefix (`/index.php/…`).
    script: bool,
}

/// The key of one reading of the decoded path.
fn reading(text: &str, how: Reading) -> Result<String, PathError> {
    let mut text = if how.windows { fold_windows(text) } else { text.to_string() };
    if let Some(with_slash) = how.cookieless {
        text = drop_cookieless(&text, with_slash);
    }
    let names: Vec<String> = text
        .split('/')
        .map(|s| if how.servlet { drop_parameters(s) } else { s })
        .map(|s| if how.windows { windows_name(s) } else { s.to_string() })
        .collect();
    let mut kept = remove_dot_segments(names.iter().map(String::as_str))?;
    if how.script {
        let script = kept.iter().position(|s| s.to_ascii_lowercase().ends_with(".php"));
        if let Some(at) = script.filter(|at| at + 1 < kept.len()) {
            kept.drain(..=at);
        }
    }
    Ok(key_of(kept.into_iter()))
}

/// Removes every ASP.NET cookieless value: `(L(…))` with one ASCII letter `L` and no `)`
/// inside, with the `/` before it when `with_slash` (`/(S(x))/a` is `/a`, and
/// `/pro/(S(x))tected` is `/protected`, as ASP.NET rewrites them before routing).
fn drop_cookieless(text: &str, with_slash: bool) -> String {
    let mut out = text.to_string();
    loop {
        let bytes = out.as_bytes();
        let found = (0..bytes.len()).find_map(|i| {
            let start = if with_slash { (bytes.get(i) == Some(&b'/')).then_some(i + 1)? } else { i };
            let open = bytes.get(start) == Some(&b'(')
                && bytes.get(start + 1).is_some_and(u8::is_ascii_alphabetic)
                && bytes.get(start + 2) == Some(&b'(');
            if !open {
                return None;
            }
            let close = start + 3 + bytes.get(start + 3..)?.iter().position(|&b| b == b')')?;
            (bytes.get(close + 1) == Some(&b')')).then_some((i, close + 2))
        });
        match found {
            Some((from, to)) => out.replace_range(from..to, ""),
            None => return out,
        }
    }
}

/// Whether a segment has the shape of an NTFS 8.3 short name (`PREMIU~1`, `FILE~12.HTM`):
/// IIS may serve a long name through it, and which one cannot be known here.
fn is_short_name(segment: &str) -> bool {
    let Some((base, rest)) = segment.split_once('~') else { return false };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ext = &rest[digits..];
    (1..=6).contains(&base.len())
        && !base.contains('.')
        && digits > 0
        && (ext.is_empty() || (ext.starts_with('.') && ext.len() <= 4 && !ext[1..].contains('.')))
}

/// A segment without its `;parameters`.
fn drop_parameters(segment: &str) -> &str {
    segment.split(';').next().unwrap_or_default()
}

/// Folds what Windows treats as the same letter to ASCII: fullwidth ASCII forms, the
/// letters whose simple case mapping is ASCII, and the fullwidth reverse solidus, which
/// becomes a separator.
fn fold_windows(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{ff3c}' => '/',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
            '\u{0131}' | '\u{0130}' => 'i',
            '\u{017f}' => 's',
            '\u{212a}' => 'k',
            _ => c,
        })
        .collect()
}

/// One segment as NTFS names it: no stream suffix, no trailing dots or spaces; only dots
/// (and trailing spaces) is a dot segment.
fn windows_name(segment: &str) -> String {
    let name = segment.split(':').next().unwrap_or_default().trim_end_matches(' ');
    match name.len() {
        _ if name.is_empty() || !name.bytes().all(|b| b == b'.') => name.trim_end_matches(['.', ' ']).to_string(),
        1 => ".".to_string(),
        _ => "..".to_string(),
    }
}

/// `/seg/seg…` lower-cased, `/` for no segments.
fn key_of<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    let mut key = String::new();
    for segment in segments {
        key.push('/');
        key.push_str(&segment.to_ascii_lowercase());
    }
    if key.is_empty() {
        key.push('/');
    }
    key
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
pub(crate) fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
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
    crate::codec::percent_encode(segment, |b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b), out);
}

#[cfg(test)]
mod tests;
