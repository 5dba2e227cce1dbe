//! Where the paywall lives and what it talks to, as URLs and hosts: the facilitator and
//! origin URLs, the public origin that names resources in challenges and receipts, the
//! allowed `Host` list, and what counts as a local (loopback) host for paper mode.

use crate::error::ConfigError;
use crate::http::RequestUrl;

/// The public face of the site: what names a resource, and which hosts may be priced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site {
    /// `PUBLIC_ORIGIN`: `scheme://host[:port]` (lower-case host, no trailing slash). When
    /// set, resource URLs in challenges and receipts are built on it, never on the
    /// client's `Host`.
    pub public_origin: Option<String>,
    /// `ALLOWED_HOSTS`: when set, priced requests for any other `Host` are refused.
    pub allowed_hosts: Option<Vec<String>>,
}

impl Site {
    /// The URL of a resource: the public origin (or the request's own `scheme://host`)
    /// with the forwarded path and the query as sent.
    pub fn resource_url(&self, scheme: &str, host: &str, forward_path: &str, query: Option<&str>) -> String {
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        match &self.public_origin {
            Some(base) => format!("{base}{forward_path}{query}"),
            None => format!("{scheme}://{host}{forward_path}{query}"),
        }
    }

    /// Whether a priced request for `host` (`host[:port]`, any case) may be served.
    pub fn allows(&self, host: &str) -> bool {
        self.allowed_hosts.as_ref().is_none_or(|list| list.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }
}

/// Splits `scheme://authority/path` and checks the parts; returns (scheme, host, rest).
/// The URL is split by [`RequestUrl::parse`], the same splitter requests go through.
pub(super) fn split_url(url: &str) -> Result<(&str, &str, &str), &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains(['?', '#']) {
        return Err("no whitespace, query or fragment allowed");
    }
    let parts = RequestUrl::parse(url).ok_or("expected an absolute URL with a host (and no user info)")?;
    Ok((parts.scheme, host_of(parts.authority).ok_or("bad IPv6 host")?, parts.path))
}

/// The host of `host[:port]` (`[v6]:port` keeps the address without brackets).
fn host_of(authority: &str) -> Option<&str> {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or_default())
}

/// Whether `host_port` (`host[:port]`, as in a `Host` header or URL) is a loopback
/// host: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(host_port: &str) -> bool {
    host_of(host_port).is_some_and(is_loopback_name)
}

/// Whether a bare host (no port, IPv6 without brackets) is loopback.
pub(super) fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An https URL, or plain http only on loopback.
pub(super) fn facilitator_url(url: &str) -> Result<String, &'static str> {
    let (scheme, host, _) = split_url(url)?;
    match scheme {
        "https" => {}
        "http" if is_loopback_name(host) => {}
        "http" => return Err("plain http is allowed only for 127.0.0.1, localhost or [::1]"),
        _ => return Err("expected https://… or \"paper\""),
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `ALERT_WEBHOOK_URL`: https (plain http only on loopback), a query allowed (it may hold
/// the receiver's token), no fragment. The URL is never put in an error: it may be secret.
pub(super) fn webhook_url(url: &str) -> Result<String, &'static str> {
    let url = url.trim();
    if url.contains('#') {
        return Err("no fragment allowed");
    }
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let (scheme, host, _) = split_url(base)?;
    match scheme {
        "https" => Ok(url.to_string()),
        "http" if is_loopback_name(host) => Ok(url.to_string()),
        "http" => Err("plain http is allowed only for 127.0.0.1, localhost or [::1]"),
        _ => Err("expected https://…"),
    }
}

/// `PUBLIC_ORIGIN`: `http(s)://host[:port]` with no path, query or user info.
pub(super) fn public_origin(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    let url = value.map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Ok(None);
    }
    let fail = |why: &str| ConfigError::new("PUBLIC_ORIGIN", why);
    let (scheme, _, path) = split_url(url).map_err(fail)?;
    if scheme != "http" && scheme != "https" {
        return Err(fail("expected http:// or https://"));
    }
    if !path.is_empty() && path != "/" {
        return Err(fail("expected an origin without a path, e.g. https://api.example.com"));
    }
    let origin = url.trim_end_matches('/');
    let (scheme, authority) = origin.split_at(scheme.len() + 3);
    check_host(authority).map_err(fail)?;
    Ok(Some(format!("{scheme}{}", authority.to_ascii_lowercase())))
}

/// `ALLOWED_HOSTS`: `host[:port]` entries, comma- or space-separated (or a list).
pub(super) fn allowed_hosts(entries: Option<Vec<String>>) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(entries) = entries else { return Ok(None) };
    let mut hosts = Vec::new();
    for entry in &entries {
        for host in entry.split([',', ' ']).map(str::trim).filter(|h| !h.is_empty()) {
            check_host(host).map_err(|why| ConfigError::new("ALLOWED_HOSTS", format!("{host:?}: {why}")))?;
            hosts.push(host.to_ascii_lowercase());
        }
    }
    if hosts.is_empty() {
        return Ok(None);
    }
    Ok(Some(hosts))
}

/// `host[:port]` of letters, digits, `.`, `-`, or a bracketed IPv6 address.
fn check_host(authority: &str) -> Result<(), &'static str> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, rest) = v6.split_once(']').ok_or("bad IPv6 host")?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| "bad IPv6 host")?;
            (None, rest.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(authority), None),
        },
    };
    if let Some(host) = host {
        let label = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if host.is_empty() || !host.split('.').all(label) {
            return Err("expected a host name");
        }
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err("bad port");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for (host, want) in [
            ("127.0.0.1", true),
            ("127.0.0.1:8787", true),
            ("127.1.2.3:1", true),
            ("localhost", true),
            ("LOCALHOST:8787", true),
            ("[::1]:8787", true),
            ("[::1]", true),
            ("paywall.example", false),
            ("localhost.evil.com", false),
            ("evil.localhost", false),
            ("10.0.0.1", false),
            ("[::2]", false),
            ("", false),
        ] {
            assert_eq!(is_loopback(host), want, "{host}");
        }
    }

    #[test]
    fn public_origin_and_hosts() {
        assert_eq!(
            public_origin(Some("https://API.example.com/")).unwrap().as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(public_origin(Some("http://127.0.0.1:8787")).unwrap().as_deref(), Some("http://127.0.0.1:8787"));
        assert_eq!(public_origin(Some("")).unwrap(), None);
        for bad in [
            "ftp://x.test",
            "https://x.test/path",
            "https://u@x.test",
            "x.test",
            "https://x_y.test",
            "https://x.test:99999",
        ] {
            assert!(public_origin(Some(bad)).is_err(), "{bad}");
        }
        let hosts = allowed_hosts(Some(vec!["API.example.com, 127.0.0.1:8787".into(), "[::1]:8787".into()])).unwrap();
        assert_eq!(
            hosts.as_deref(),
            Some(&["api.example.com".to_string(), "127.0.0.1:8787".into(), "[::1]:8787".into()][..])
        );
        assert_eq!(allowed_hosts(Some(vec![" , ".into()])).unwrap(), None);
        for bad in ["a/b", "a..b", "x.test:http", "[zz]"] {
            assert!(allowed_hosts(Some(vec![bad.into()])).is_err(), "{bad}");
        }
        let site = Site { public_origin: None, allowed_hosts: hosts };
        for (host, want) in [
            ("api.example.com", true),
            ("Api.Example.com", true),
            ("127.0.0.1:8787", true),
            ("127.0.0.1", false),
            ("evil.test", false),
        ] {
            assert_eq!(site.allows(host), want, "{host}");
        }
        assert!(Site::default().allows("anything.test"));
    }

    #[test]
    fn resource_urls_name_the_public_origin() {
        let own = Site::default();
        assert_eq!(own.resource_url("http", "h.test", "/a/b", Some("x=1")), "http://h.test/a/b?x=1");
        let public = Site { public_origin: Some("https://api.example.com".into()), allowed_hosts: None };
        assert_eq!(public.resource_url("http", "attacker.test", "/a", None), "https://api.example.com/a");
        assert_eq!(public.resource_url("http", "attacker.test", "/a", Some("")), "https://api.example.com/a?");
    }
}
