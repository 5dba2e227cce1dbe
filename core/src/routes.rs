//! Route patterns and the ordered route table. This module owns the pattern syntax and
//! what a pattern matches; paths are matched by their [`crate::path`] match key, and by
//! every other reading of the same path (`find_path`).
//!
//! Pattern syntax: `[METHOD ]PATH`, e.g. `GET /premium/*`, `/reports/:id`,
//! `POST /api/score`.
//!
//! - The optional method is ASCII letters only, compared case-insensitively and stored
//!   upper-case, followed by exactly one space. Without a method the pattern matches any
//!   method. A `GET` pattern also matches `HEAD` (fail closed: the HEAD of a priced GET
//!   resource is priced).
//! - The path starts with `/`. Each segment is one of:
//!   - a literal, compared ASCII case-insensitively (match keys are lower-case). Literals
//!     are printable ASCII; `%`, `?`, `#`, `\`, `*`, whitespace and non-ASCII are refused;
//!   - `:name` (name is `[A-Za-z0-9_]+`), matching exactly one non-empty segment;
//!   - `*`, only as the last segment, matching zero or more remaining segments:
//!     `/premium/*` matches `/premium`, `/premium/a` and `/premium/a/b`, not `/premiumx`.
//! - Empty segments (`//`) and `.`/`..` segments are refused. One trailing slash is
//!   ignored (`/api/score/` is `/api/score`). `/` matches only the root; `/*` matches
//!   every path.
//!
//! A [`RouteTable`] is tried in order and the first match wins. Two patterns that match
//! exactly the same requests (same method, same segments ignoring case and parameter
//! names) are refused as duplicates, since the second could never be reached.

use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::fmt;

use crate::challenge::ChallengeTemplate;
use crate::path::NormalPath;
use crate::requirements::PaymentOption;

/// One segment of a route pattern's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches this text, ASCII case-insensitively (kept as written, for display).
    Literal(String),
    /// `:name`: matches any one segment.
    Param(String),
    /// `*`: matches zero or more remaining segments.
    Wildcard,
}

/// A parsed route pattern such as `GET /premium/*`, `/reports/:id`, `POST /api/score`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    method: Option<String>,
    segments: Vec<Segment>,
}

/// Why a route pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// The pattern is empty.
    Empty,
    /// The method is empty or not ASCII letters only.
    BadMethod,
    /// The path does not start with `/`.
    NotAbsolute,
    /// The path has an empty segment (`//`).
    EmptySegment,
    /// `*` is used before the last segment.
    WildcardNotLast,
    /// A `:name` parameter has an empty or invalid name.
    BadParam,
    /// The path has a `.` or `..` segment.
    DotSegment,
    /// A literal segment holds a character patterns do not allow.
    BadChar(char),
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Empty => f.write_str("empty route pattern"),
            PatternError::BadMethod => f.write_str("method must be ASCII letters"),
            PatternError::NotAbsolute => f.write_str("path must start with '/'"),
            PatternError::EmptySegment => f.write_str("empty path segment ('//')"),
            PatternError::WildcardNotLast => f.write_str("'*' must be the last segment"),
            PatternError::BadParam => f.write_str("parameter must be ':' and [A-Za-z0-9_]+"),
            PatternError::DotSegment => f.write_str("'.' and '..' segments are not allowed"),
            PatternError::BadChar(c) => write!(f, "character {c:?} not allowed in a pattern"),
        }
    }
}

impl RoutePattern {
    /// Parses `[METHOD ]PATH` by the syntax in the module documentation.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let (method, path) = match text.split_once(' ') {
            Some((method, path)) if !text.starts_with('/') => {
                if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(PatternError::BadMethod);
                }
                (Some(method.to_ascii_uppercase()), path)
            }
            _ => (None, text),
        };
        let body = path.strip_prefix('/').ok_or(PatternError::NotAbsolute)?;
        if body.is_empty() {
            return Ok(RoutePattern { method, segments: Vec::new() });
        }
        let body = body.strip_suffix('/').unwrap_or(body);
        let parts: Vec<&str> = body.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(parse_segment(part, i + 1 == parts.len())?);
        }
        Ok(RoutePattern { method, segments })
    }

    /// The upper-case method, or `None` when the pattern matches any method.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// True when this pattern matches the request method (any case) and a normalised
    /// match key (see [`crate::path::NormalPath::match_key`]).
    pub fn matches(&self, method: &str, match_key: &str) -> bool {
        let method_ok = match &self.method {
            None => true,
            Some(m) => method.eq_ignore_ascii_case(m) || (m == "GET" && method.eq_ignore_ascii_case("HEAD")),
        };
        let Some(rest) = match_key.strip_prefix('/') else {
            return false;
        };
        if !method_ok {
            return false;
        }
        let mut parts = rest.split('/').filter(|s| !s.is_empty());
        for segment in &self.segments {
            match segment {
                Segment::Wildcard => return true,
                Segment::Literal(text) => match parts.next() {
                    Some(part) if part.eq_ignore_ascii_case(text) => {}
                    _ => return false,
                },
                Segment::Param(_) => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// True when this pattern matches some path at `key` or under it (`/mcp/x/y` under
    /// `/mcp`), for some method: each segment of `key` is matched (a literal equal to it in
    /// any case, a parameter or a wildcard).
    pub fn reaches(&self, key: &str) -> bool {
        let mut parts = key.split('/').filter(|s| !s.is_empty());
        for segment in &self.segments {
            let Some(part) = parts.next() else { return true };
            match segment {
                Segment::Wildcard => return true,
                Segment::Literal(text) if !part.eq_ignore_ascii_case(text) => return false,
                _ => {}
            }
        }
        // The pattern ended: it reaches the key itself only if the key ended too.
        parts.next().is_none()
    }

    /// The `:name` parameters with the index of the path segment each stands for.
    pub fn params(&self) -> impl Iterator<Item = (usize, &str)> {
        self.segments.iter().enumerate().filter_map(|(i, s)| match s {
            Segment::Param(name) => Some((i, name.as_str())),
            _ => None,
        })
    }

    /// The path's shape: its canonical form without the method, parameter names erased
    /// (two patterns of one path shape match the same paths).
    pub fn path_shape(&self) -> String {
        RoutePattern { method: None, segments: self.segments.clone() }.shape()
    }

    /// True when the pattern ends in `*`.
    pub fn has_wildcard(&self) -> bool {
        self.segments.last() == Some(&Segment::Wildcard)
    }

    /// The path as written, without the method (`/reports/:id`).
    pub fn path_text(&self) -> String {
        RoutePattern { method: None, segments: self.segments.clone() }.to_string()
    }

    /// The path as an OpenAPI path template: `:id` is `{id}`, a final `*` is `{rest}`
    /// (`rest_` and so on when a parameter has that name).
    pub fn openapi_path(&self) -> (String, Option<String>) {
        let mut rest = String::from("rest");
        while self.params().any(|(_, p)| p == rest) {
            rest.push('_');
        }
        let mut out = String::new();
        if self.segments.is_empty() {
            out.push('/');
        }
        for segment in &self.segments {
            out.push('/');
            match segment {
                // Braces in a literal would read as a template there.
                Segment::Literal(text) => out.push_str(&text.replace('{', "%7B").replace('}', "%7D")),
                Segment::Param(name) => out.push_str(&format!("{{{name}}}")),
                Segment::Wildcard => out.push_str(&format!("{{{rest}}}")),
            }
        }
        (out, self.has_wildcard().then_some(rest))
    }

    /// Canonical text (method upper-case, path lower-case), used to detect duplicate
    /// patterns.
    pub fn canonical(&self) -> String {
        self.render(|text| text.to_ascii_lowercase())
    }

    /// What decides duplicates: the canonical form with parameter names erased.
    fn shape(&self) -> String {
        let segments = self.segments.iter().map(|s| match s {
            Segment::Param(_) => Segment::Param(String::new()),
            other => other.clone(),
        });
        RoutePattern { method: self.method.clone(), segments: segments.collect() }.canonical()
    }

    fn render(&self, case: impl Fn(&str) -> String) -> String {
        let mut out = self.method.as_ref().map(|m| format!("{m} ")).unwrap_or_default();
        if self.segments.is_empty() {
            out.push('/');
        }
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(&case(text)),
                Segment::Param(name) => {
                    out.push(':');
                    out.push_str(&case(name));
                }
                Segment::Wildcard => out.push('*'),
            }
        }
        out
    }
}

/// Parses one non-root path segment of a pattern.
fn parse_segment(part: &str, last: bool) -> Result<Segment, PatternError> {
    match part {
        "" => Err(PatternError::EmptySegment),
        "." | ".." => Err(PatternError::DotSegment),
        "*" if last => Ok(Segment::Wildcard),
        "*" => Err(PatternError::WildcardNotLast),
        _ => {
            if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(PatternError::BadParam);
                }
                return Ok(Segment::Param(name.to_owned()));
            }
            let bad = |c: char| !c.is_ascii_graphic() || "%?#\\*".contains(c);
            match part.chars().find(|&c| bad(c)) {
                Some(c) => Err(PatternError::BadChar(c)),
                None => Ok(Segment::Literal(part.to_owned())),
            }
        }
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(str::to_owned))
    }
}

/// Two route patterns match exactly the same requests; carries the later one's
/// canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePattern(pub String);

impl fmt::Display for DuplicatePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "duplicate route pattern {:?}", self.0)
    }
}

/// A path that common origins read as different routes (see [`RouteTable::find_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous;

/// An ordered table of (pattern, value); first match wins.
#[derive(Debug, Clone)]
pub struct RouteTable<T> {
    entries: Vec<(RoutePattern, T)>,
}

impl<T> RouteTable<T> {
    /// Builds the table, in order. Two patterns that match the same requests (same
    /// canonical form, parameter names aside) → `Err(DuplicatePattern(canonical))`.
    pub fn new(entries: Vec<(RoutePattern, T)>) -> Result<Self, DuplicatePattern> {
        let mut seen = BTreeSet::new();
        for (pattern, _) in &entries {
            if !seen.insert(pattern.shape()) {
                return Err(DuplicatePattern(pattern.canonical()));
            }
        }
        Ok(RouteTable { entries })
    }

    /// The same patterns, in the same order, with each value converted; stops at the first
    /// error. (The patterns are unchanged, so no duplicate check is needed.)
    pub fn try_map<U, E>(&self, mut f: impl FnMut(&RoutePattern, &T) -> Result<U, E>) -> Result<RouteTable<U>, E> {
        let entries = self.iter().map(|(p, v)| Ok((p.clone(), f(p, v)?))).collect::<Result<_, E>>()?;
        Ok(RouteTable { entries })
    }

    /// The same patterns without their values.
    pub fn patterns(&self) -> RouteTable<()> {
        RouteTable { entries: self.iter().map(|(p, _)| (p.clone(), ())).collect() }
    }

    /// The first entry whose pattern matches the method and normalised match key.
    pub fn find(&self, method: &str, match_key: &str) -> Option<(&RoutePattern, &T)> {
        self.iter().find(|(pattern, _)| pattern.matches(method, match_key))
    }

    /// The entry for a normalised path, judged on every reading of it: its match key and
    /// each of [`NormalPath::readings`] must find the same entry (or all none), else the
    /// path is [`Ambiguous`]: some common origin would serve it as another resource than
    /// the one it was priced as.
    pub fn find_path(&self, method: &str, path: &NormalPath) -> Result<Option<(&RoutePattern, &T)>, Ambiguous> {
        let at = self.position_path(method, path)?;
        Ok(at.and_then(|i| self.entries.get(i)).map(|(p, v)| (p, v)))
    }

    /// The index of the entry [`RouteTable::find_path`] finds.
    pub fn position_path(&self, method: &str, path: &NormalPath) -> Result<Option<usize>, Ambiguous> {
        let position = |key: &str| self.entries.iter().position(|(p, _)| p.matches(method, key));
        let at = position(path.match_key());
        if path.readings().iter().any(|key| position(key) != at) {
            return Err(Ambiguous);
        }
        Ok(at)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&RoutePattern, &T)> {
        self.entries.iter().map(|(pattern, value)| (pattern, value))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A priced route: what it costs and how it is described in the challenge.
#[derive(Debug, Clone)]
pub struct PricedRoute {
    /// The pattern as configured (`GET /premium/*`), named in receipts.
    pub pattern: String,
    /// Human-readable description (challenge `resource.description`).
    pub description: String,
    /// MIME type of the paid response.
    pub mime_type: String,
    /// Accepted payment options, the default first.
    pub options: Vec<PaymentOption>,
    /// The challenge rendered once, on first use ([`PricedRoute::template`]).
    pub template: OnceCell<Option<ChallengeTemplate>>,
    /// Who may pay (`[vars.POLICY]`, with the route's own `policy` over it).
    pub policy: crate::policy::Policy,
    /// What it says of itself for discovery (`input`, `output`, `discoverable`).
    pub doc: crate::discovery::RouteDoc,
    /// Its 402's bazaar extension, when it declares `input` and discovery is on.
    pub bazaar: Option<crate::discovery::Bazaar>,
}

impl PricedRoute {
    /// The route's challenge template, rendered on first use (once per isolate); `None`
    /// when its configured texts defeat the template (see [`ChallengeTemplate::of`]).
    pub fn template(&self) -> Option<&ChallengeTemplate> {
        self.template.get_or_init(|| ChallengeTemplate::of(self)).as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PatternError::*;

    fn p(text: &str) -> RoutePattern {
        RoutePattern::parse(text).unwrap()
    }

    #[test]
    fn mapping_keeps_patterns_and_order_and_stops_at_an_error() {
        let table = RouteTable::new(vec![(p("/a"), 1), (p("/b/*"), 2), (p("GET /c"), 3)]).unwrap();
        let doubled = table.try_map(|_, v| Ok::<_, ()>(v * 2)).unwrap();
        assert_eq!(
            doubled.iter().map(|(p, v)| (p.to_string(), *v)).collect::<Vec<_>>(),
            [("/a".to_string(), 2), ("/b/*".to_string(), 4), ("GET /c".to_string(), 6)]
        );
        assert_eq!(table.try_map(|p, v| if *v == 2 { Err(p.to_string()) } else { Ok(()) }).err(), Some("/b/*".into()));
        assert!(table.patterns().find("GET", "/b/x").is_some());
        assert!(table.patterns().find("POST", "/c").is_none());
    }

    #[test]
    fn parsing() {
        for (input, want) in [
            ("GET /premium/*", Ok(("GET /premium/*", "GET /premium/*"))),
            ("get /Premium/*", Ok(("GET /Premium/*", "GET /premium/*"))),
            ("/reports/:id", Ok(("/reports/:id", "/reports/:id"))),
            ("POST /api/score", Ok(("POST /api/score", "POST /api/score"))),
            ("/api/score/", Ok(("/api/score", "/api/score"))),
            ("/", Ok(("/", "/"))),
            ("GET /", Ok(("GET /", "GET /"))),
            ("/*", Ok(("/*", "/*"))),
            ("/v1:score/a;b=c/~x", Ok(("/v1:score/a;b=c/~x", "/v1:score/a;b=c/~x"))),
            ("", Err(Empty)),
            ("G3T /x", Err(BadMethod)),
            ("GET-X /x", Err(BadMethod)),
            (" /x", Err(BadMethod)),
            ("GET  /x", Err(NotAbsolute)),
            ("GET", Err(NotAbsolute)),
            ("premium/*", Err(NotAbsolute)),
            ("GET premium", Err(NotAbsolute)),
            ("//", Err(EmptySegment)),
            ("/a//b", Err(EmptySegment)),
            ("/a//", Err(EmptySegment)),
            ("/*/x", Err(WildcardNotLast)),
            ("/a/*/*", Err(WildcardNotLast)),
            ("/r/:", Err(BadParam)),
            ("/r/:a-b", Err(BadParam)),
            ("/r/:a:b", Err(BadParam)),
            ("/a/./b", Err(DotSegment)),
            ("/a/..", Err(DotSegment)),
            ("/a%2Fb", Err(BadChar('%'))),
            ("/a?b", Err(BadChar('?'))),
            ("/a#b", Err(BadChar('#'))),
            ("/a b", Err(BadChar(' '))),
            ("/a\tb", Err(BadChar('\t'))),
            ("/a\\b", Err(BadChar('\\'))),
            ("/a*", Err(BadChar('*'))),
            ("/café", Err(BadChar('é'))),
            ("/x ", Err(BadChar(' '))),
        ] {
            let got = RoutePattern::parse(input).map(|r| (r.to_string(), r.canonical()));
            let want = want.map(|(d, c)| (d.to_owned(), c.to_owned()));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn matching() {
        for (pattern, method, key, want) in [
            ("GET /premium/*", "GET", "/premium", true),
            ("GET /premium/*", "GET", "/premium/a", true),
            ("GET /premium/*", "GET", "/premium/a/b", true),
            ("GET /premium/*", "get", "/premium/a", true),
            ("GET /premium/*", "HEAD", "/premium/a", true),
            ("GET /premium/*", "head", "/premium/a", true),
            ("GET /premium/*", "POST", "/premium/a", false),
            ("GET /premium/*", "GET", "/premiumx", false),
            ("GET /premium/*", "GET", "/premiumx/a", false),
            ("GET /premium/*", "GET", "/", false),
            ("GET /Premium/*", "GET", "/premium/a", true),
            ("HEAD /a", "GET", "/a", false),
            ("HEAD /a", "HEAD", "/a", true),
            ("POST /api/score", "POST", "/api/score", true),
            ("POST /api/score", "HEAD", "/api/score", false),
            ("POST /api/score", "POST", "/api/score/x", false),
            ("POST /api/score", "POST", "/api", false),
            ("/api/score", "DELETE", "/api/score", true),
            ("/api/score", "HEAD", "/api/score", true),
            ("/reports/:id", "GET", "/reports/42", true),
            ("/reports/:id", "GET", "/reports", false),
            ("/reports/:id", "GET", "/reports/42/x", false),
            ("/reports/:id/pdf", "GET", "/reports/42/pdf", true),
            ("/reports/:id/pdf", "GET", "/reports/42/csv", false),
            ("/:a/*", "GET", "/x", true),
            ("/:a/*", "GET", "/", false),
            ("/", "GET", "/", true),
            ("/", "GET", "/a", false),
            ("/*", "GET", "/", true),
            ("/*", "PUT", "/a/b/c", true),
            ("/*", "GET", "", false),
            ("/*", "GET", "premium", false),
        ] {
            assert_eq!(p(pattern).matches(method, key), want, "{pattern} {method} {key}");
        }
    }

    #[test]
    fn first_match_wins() {
        let table = RouteTable::new(vec![
            (p("GET /premium/free"), "free"),
            (p("GET /premium/*"), "premium"),
            (p("/*"), "rest"),
        ])
        .unwrap();
        assert_eq!(table.len(), 3);
        assert!(!table.is_empty());
        for (method, key, want) in [
            ("GET", "/premium/free", Some("free")),
            ("GET", "/premium/free/x", Some("premium")),
            ("GET", "/premium", Some("premium")),
            ("POST", "/premium/x", Some("rest")),
            ("GET", "/", Some("rest")),
        ] {
            assert_eq!(table.find(method, key).map(|(_, v)| *v), want, "{method} {key}");
        }
        let order: Vec<String> = table.iter().map(|(r, _)| r.to_string()).collect();
        assert_eq!(order, ["GET /premium/free", "GET /premium/*", "/*"]);
        let empty = RouteTable::<()>::new(Vec::new()).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.find("GET", "/"), None);
    }

    #[test]
    fn duplicates() {
        for (a, b, want) in [
            ("GET /a", "get /A/", Err(DuplicatePattern("GET /a".to_owned()))),
            ("/r/:id", "/R/:name", Err(DuplicatePattern("/r/:name".to_owned()))),
            ("GET /a", "/a", Ok(2)),
            ("GET /a", "HEAD /a", Ok(2)),
            ("/a/*", "/a", Ok(2)),
            ("/a/:x", "/a/*", Ok(2)),
        ] {
            let got = RouteTable::new(vec![(p(a), ()), (p(b), ())]).map(|t| t.len());
            assert_eq!(got, want, "{a} vs {b}");
        }
    }
}
