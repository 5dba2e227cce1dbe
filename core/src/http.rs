//! Small HTTP judgements, kept here so that host tests cover them: which methods every
//! runtime can carry, what an origin's status is worth to a paid request, which statuses
//! can be handed to a client at all, whether a client takes the HTML paywall, and whether
//! a declared body length can be stored for replay.

/// The methods every runtime carries. A request with another method that the runtime
/// cannot build is the runtime's limit (501 `method_not_supported`), not a failure of ours.
pub const STANDARD_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

/// Whether `method` is one of [`STANDARD_METHODS`] (any case).
pub fn is_standard_method(method: &str) -> bool {
    STANDARD_METHODS.iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// What an origin's answer to a paid request is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worth {
    /// 2xx, and 3xx but 304: content (a redirect may be the content itself, a presigned
    /// download URL, or the end of priced work, a 303 after a POST): settled.
    Content,
    /// 304 (nothing delivered) and 4xx/5xx (the origin failed): passed on uncharged.
    Uncharged,
    /// 1xx (a protocol switch such as a WebSocket cannot be held in escrow) and anything
    /// outside HTTP's 100–599: refused as `origin_unavailable`, uncharged.
    Undeliverable,
}

/// What an origin status is worth to a paid request.
pub fn worth(status: u16) -> Worth {
    match status {
        304 => Worth::Uncharged,
        200..=399 => Worth::Content,
        400..=599 => Worth::Uncharged,
        _ => Worth::Undeliverable,
    }
}

/// GET or HEAD, any case: a request that carries no body and may be sent again.
pub fn is_get_or_head(method: &str) -> bool {
    method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")
}

/// Whether the runtime can hand a response with this status to a client as it is: 200–599,
/// and 101 (a WebSocket on a free route). Anything else would be refused when the response
/// is rebuilt (the Response constructor throws on it). `passOrigin` in `src/js/edge.js` hands back
/// 200–599 but 101 without asking: keep that a subset of this rule.
pub fn is_passable(status: u16) -> bool {
    (200..=599).contains(&status) || status == 101
}

/// A request URL as the runtime hands it over (absolute, already normalised by its own
/// URL parser), split into its parts without a URL library: `scheme://authority/path?query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUrl<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host[:port]`.
    pub authority: &'a str,
    /// The raw path, starting with `/`.
    pub path: &'a str,
    /// The query without `?`, when the URL has a `?`.
    pub query: Option<&'a str>,
}

impl<'a> RequestUrl<'a> {
    /// Splits an absolute URL; `None` for anything but `scheme://host…` without user info.
    pub fn parse(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if scheme.is_empty() || authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };
        Some(Self { scheme, authority, path: if path.is_empty() { "/" } else { path }, query })
    }

    /// The same URL with another path (already encoded) and the same query.
    pub fn with_path(&self, path: &str) -> String {
        match self.query {
            Some(q) => format!("{}://{}{path}?{q}", self.scheme, self.authority),
            None => format!("{}://{}{path}", self.scheme, self.authority),
        }
    }
}

/// Whether an `Accept` header asks for HTML (a browser gets the paywall page).
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/html"))
}

/// Whether a body of the declared `Content-Length` may fit the stored-response limit: an
/// absent or unreadable length may (the body is then read up to the limit and no further).
pub fn may_store(content_length: Option<&str>, limit: usize) -> bool {
    content_length.and_then(|v| v.trim().parse::<u64>().ok()).is_none_or(|n| n <= limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgements() {
        for (m, want) in [("GET", true), ("patch", true), ("PROPFIND", false), ("TRACE", false), ("", false)] {
            assert_eq!(is_standard_method(m), want, "{m}");
        }
        for (accept, want) in [
            (Some("text/html,application/xhtml+xml"), true),
            (Some("TEXT/HTML"), true),
            (Some("application/json"), false),
            (None, false),
        ] {
            assert_eq!(wants_html(accept), want, "{accept:?}");
        }
        for (length, want) in
            [(None, true), (Some("10"), true), (Some(" 11 "), false), (Some("x"), true), (Some("10"), true)]
        {
            assert_eq!(may_store(length, 10), want, "{length:?}");
        }
        for (url, want) in [
            ("https://api.example.com/a/b?x=1", Some(("https", "api.example.com", "/a/b", Some("x=1")))),
            ("http://127.0.0.1:8787/", Some(("http", "127.0.0.1:8787", "/", None))),
            ("http://[::1]:8787/p?", Some(("http", "[::1]:8787", "/p", Some("")))),
            ("http://h.test?q", Some(("http", "h.test", "/", Some("q")))),
            ("http://h.test/a?b?c#frag", Some(("http", "h.test", "/a", Some("b?c")))),
            ("http://u@h.test/", None),
            ("h.test/a", None),
            ("http:///a", None),
        ] {
            let got = RequestUrl::parse(url).map(|u| (u.scheme, u.authority, u.path, u.query));
            assert_eq!(got, want, "{url}");
        }
        let u = RequestUrl::parse("https://h.test/a/..;/b?q=1").unwrap();
        assert_eq!(u.with_path("/c"), "https://h.test/c?q=1");
        for (status, want, passable) in [
            (200, Worth::Content, true),
            (204, Worth::Content, true),
            (301, Worth::Content, true),
            (303, Worth::Content, true),
            (304, Worth::Uncharged, true),
            (404, Worth::Uncharged, true),
            (599, Worth::Uncharged, true),
            (101, Worth::Undeliverable, true),
            (100, Worth::Undeliverable, false),
            (600, Worth::Undeliverable, false),
            (999, Worth::Undeliverable, false),
            (0, Worth::Undeliverable, false),
        ] {
            assert_eq!((worth(status), is_passable(status)), (want, passable), "{status}");
        }
    }
}
