//! The decision table, fail-closed configuration, hosts, paper locality, `_method`
//! overrides, and generated paths judged by two reference resolvers written apart from
//! the code (a WHATWG-style one and a servlet-style one).

use serde_json::{json, Value};

use super::*;
use crate::path::normalise;
use crate::testkit::Rng;

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const LOCAL: &str = "127.0.0.1:8787";

fn setup(vars: Value) -> Setup {
    Setup::load(&vars.to_string(), Some(KEY))
}

fn good() -> Value {
    let mut v = crate::testkit::base_vars();
    v["ROUTES"] = json!({ "GET /premium/*": { "price": "$0.01" }, "POST /api/score": { "price": "$1" } });
    v
}

fn req<'a>(method: &'a str, path: &'a str) -> RequestParts<'a> {
    RequestParts { method, path, scheme: "http", host: LOCAL, ..Default::default() }
}

fn kind(d: &Decision<'_, '_>) -> String {
    match d {
        Decision::Free { path, .. } => format!("free {}", path.forward()),
        Decision::Jwks(_) => "jwks".into(),
        Decision::Admin { rest: Some(rest), .. } => format!("admin {rest}"),
        Decision::Admin { rest: None, .. } => "admin (another reading)".into(),
        Decision::Receipt { id } => format!("receipt {id}"),
        Decision::Nonce(_) => "nonce".into(),
        Decision::PayerLedger(_) => "payer ledger".into(),
        Decision::PaperBalances { address, .. } => format!("paper balances {address}"),
        Decision::Mcp { endpoint, .. } => format!("mcp {}", endpoint.path),
        Decision::Discovery { doc, origin, .. } => format!("discovery {doc:?} {origin}"),
        Decision::Preflight => "preflight".into(),
        Decision::Challenge { route, .. } => format!("challenge {}", route.pattern),
        Decision::Pay { header: PaymentHeader::V2(_), .. } => "pay v2".into(),
        Decision::Pay { header: PaymentHeader::V1(_), .. } => "pay v1".into(),
        Decision::ReadBody => "read body".into(),
        Decision::Refuse(f) => format!("refuse {}", f.reason()),
    }
}

#[test]
fn decisions() {
    let ready = setup(good());
    for (parts, want) in [
        (req("GET", "/"), "free /"),
        (req("GET", "/free/a%20b"), "free /free/a%20b"),
        (req("GET", "/premium/x"), "challenge GET /premium/*"),
        (req("HEAD", "/premium/x"), "challenge GET /premium/*"),
        (req("get", "/PREMIUM/x"), "challenge GET /premium/*"),
        (req("GET", "/premium/../premium/x"), "challenge GET /premium/*"),
        (req("GET", "/%70remium/x"), "challenge GET /premium/*"),
        (req("GET", "//premium/x"), "challenge GET /premium/*"),
        (req("GET", "/free/..%2fpremium/x"), "challenge GET /premium/*"),
        (req("GET", "/premium"), "challenge GET /premium/*"),
        (req("GET", "/premium/x;v=1"), "challenge GET /premium/*"),
        (req("GET", "/free/a;b"), "free /free/a;b"),
        // Readings disagree (servlet: /premium/x; WHATWG: a free /premium;… segment).
        (req("GET", "/premium;jsessionid=1/x"), "refuse bad_path"),
        (req("GET", "/;x/premium/a"), "refuse bad_path"),
        (req("GET", "/free/..;/premium/x"), "refuse bad_path"),
        (req("GET", "/premium/..;/anything"), "refuse bad_path"),
        (req("GET", "/premium/..%3B/anything"), "refuse bad_path"),
        // Windows readings: trailing dots and spaces, fullwidth letters, dotless i, streams.
        (req("GET", "/premium./x"), "refuse bad_path"),
        (req("GET", "/premium%20/x"), "refuse bad_path"),
        (req("GET", "/%EF%BD%90remium/x"), "refuse bad_path"),
        (req("GET", "/prem%C4%B1um/x"), "refuse bad_path"),
        (req("POST", "/api/score::$DATA"), "refuse bad_path"),
        (req("GET", "/free/x./y"), "free /free/x./y"),
        // IIS and PHP readings: cookieless values, 8.3 short names, front controllers.
        (req("GET", "/(S(x))/premium/x"), "refuse bad_path"),
        (req("GET", "/pre/(S(x))mium/x"), "refuse bad_path"),
        (req("GET", "/PREMIU~1/x"), "refuse bad_path"),
        (req("GET", "/index.php/premium/x"), "refuse bad_path"),
        (req("GET", "/index.php/free"), "free /index.php/free"),
        (req("GET", "/premium/(S(x))/x"), "challenge GET /premium/*"),
        (req("POST", "/premium/x"), "read body"),
        (req("POST", "/premium/x").with_body(b""), "free /premium/x"),
        (req("PROPFIND", "/premium/x"), "read body"),
        (req("PROPFIND", "/premium/x").with_body(b"<propfind/>"), "free /premium/x"),
        (req("POST", "/api/score/"), "challenge POST /api/score"),
        (req("GET", "/api/score"), "free /api/score"),
        (req("GET", "/../premium/x"), "refuse bad_path"),
        (req("GET", "/premium%00"), "refuse bad_path"),
        (req("GET", "/.well-known/jwks.json"), "jwks"),
        (RequestParts { payment_signature: Some("x"), ..req("GET", "/premium/x") }, "pay v2"),
        (RequestParts { x_payment: Some("x"), ..req("GET", "/premium/x") }, "pay v1"),
        (
            RequestParts { x_payment: Some("x"), payment_signature: Some("y"), ..req("GET", "/premium/x") },
            "refuse ambiguous_payment_headers",
        ),
        (RequestParts { payment_signature: Some("x"), ..req("GET", "/free") }, "free /free"),
        (RequestParts { access_control_request_method: Some("GET"), ..req("OPTIONS", "/premium/x") }, "read body"),
        (
            RequestParts { access_control_request_method: Some("GET"), ..req("OPTIONS", "/premium/x") }.with_body(b""),
            "preflight",
        ),
        // A preflight naming a free method is still the OPTIONS an origin may act on.
        (
            RequestParts { access_control_request_method: Some("POST"), ..req("OPTIONS", "/premium/x") }
                .with_body(b"_method=GET"),
            "refuse method_override_refused",
        ),
        // CodeIgniter routes the query of a script or the root: /?/premium/x is /premium/x.
        (RequestParts { query: Some("/premium/x"), ..req("GET", "/") }, "refuse bad_path"),
        (RequestParts { query: Some("/premium/x&a=1"), ..req("GET", "/index.php") }, "refuse bad_path"),
        (RequestParts { query: Some("%2Fpremium/x"), ..req("GET", "/index.php/") }, "refuse bad_path"),
        (RequestParts { query: Some("/free/x"), ..req("GET", "/index.php") }, "free /index.php"),
        // The script named as IIS or a servlet container reads it: a trailing dot or space,
        // `;params`.
        (RequestParts { query: Some("/premium/x"), ..req("GET", "/index.php.") }, "refuse bad_path"),
        (RequestParts { query: Some("/premium/x"), ..req("GET", "/index.php%20") }, "refuse bad_path"),
        (RequestParts { query: Some("/premium/x"), ..req("GET", "/index.php;x") }, "refuse bad_path"),
        (RequestParts { query: Some("/premium/x"), ..req("GET", "/index.php::$DATA") }, "refuse bad_path"),
        (RequestParts { query: Some("/premium/x"), ..req("GET", "/free") }, "free /free"),
        (RequestParts { query: Some("/..%2f../x"), ..req("GET", "/") }, "refuse bad_path"),
        (RequestParts { access_control_request_method: Some("GET"), ..req("OPTIONS", "/free") }, "free /free"),
        (req("OPTIONS", "/premium/x").with_body(b""), "free /premium/x"),
    ] {
        assert_eq!(kind(&decide(&ready, &parts)), want, "{} {}", parts.method, parts.path);
    }
}

#[test]
fn routes_match_the_method_string_as_sent() {
    let mut vars = good();
    vars["ROUTES"] = json!({ "PROPFIND /dav/*": { "price": "$0.01" }, "/any/*": { "price": "$0.01" } });
    let ready = setup(vars);
    for (method, path, want) in [
        ("PROPFIND", "/dav/a", "challenge PROPFIND /dav/*"),
        ("propfind", "/dav/a", "challenge PROPFIND /dav/*"),
        ("GET", "/dav/a", "free /dav/a"),
        ("SEARCH", "/any/a", "challenge /any/*"),
        ("M-SEARCH", "/any/a", "challenge /any/*"),
    ] {
        assert_eq!(kind(&decide(&ready, &req(method, path))), want, "{method} {path}");
    }
}

#[test]
fn method_overrides_are_refused_where_they_change_the_price() {
    let mut vars = good();
    vars["ROUTES"]["DELETE /api/items/:id"] = json!({ "price": "$1" });
    let ready = setup(vars);
    let gzip = Some("gzip");
    let with =
        |parts: RequestParts<'static>, query, content_encoding| RequestParts { query, content_encoding, ..parts };
    for (parts, want) in [
        (with(req("POST", "/premium/x"), Some("_method=GET"), None), "refuse method_override_refused"),
        (with(req("POST", "/premium/x"), Some("%5B_method%5D=GET"), None), "refuse method_override_refused"),
        (with(req("POST", "/premium/x"), Some("a=1"), None), "read body"),
        (with(req("POST", "/premium/x"), None, None).with_body(b"_method=GET&a=1"), "refuse method_override_refused"),
        (
            with(req("POST", "/premium/x"), None, None).with_body(b"{\"_method\":\"GET\"}"),
            "refuse method_override_refused",
        ),
        (with(req("POST", "/premium/x"), None, None).with_body(b"a=1"), "free /premium/x"),
        (with(req("POST", "/premium/x"), None, None).with_body(b""), "free /premium/x"),
        // A query-routed path (CodeIgniter) is a reading like any other: its override
        // would reach GET /premium/x, so it is looked for there too.
        (
            RequestParts { query: Some("/premium/x"), ..req("POST", "/") }.with_body(b"_method=GET"),
            "refuse method_override_refused",
        ),
        (
            RequestParts { query: Some("/premium/x&_method=GET"), ..req("POST", "/index.php") },
            "refuse method_override_refused",
        ),
        // PHP's $_REQUEST may read cookies.
        (
            RequestParts { cookie: Some("_method=DELETE"), ..req("POST", "/api/items/1") },
            "refuse method_override_refused",
        ),
        (
            RequestParts { cookie: Some("session=abc"), ..req("POST", "/api/items/1") }.with_body(b""),
            "free /api/items/1",
        ),
        // Hono overrides any method but GET, HEAD included.
        (with(req("PUT", "/premium/x"), None, None), "read body"),
        (with(req("PUT", "/premium/x"), None, None).with_body(b"_method=GET"), "refuse method_override_refused"),
        (with(req("DELETE", "/premium/x"), Some("_method=GET"), None), "refuse method_override_refused"),
        (with(req("PROPFIND", "/premium/x"), Some("_method=GET"), None), "refuse method_override_refused"),
        (with(req("HEAD", "/api/items/8"), Some("_method=DELETE"), None), "refuse method_override_refused"),
        // A body there that cannot be looked into.
        (with(req("POST", "/premium/x"), None, gzip), "refuse unsupported_content_encoding"),
        (with(req("POST", "/premium/x"), None, Some("identity")), "read body"),
        (
            RequestParts { content_type: Some("application/json; charset=utf-16le"), ..req("POST", "/premium/x") },
            "refuse unsupported_charset",
        ),
        // Refused as undecodable first, whatever a look at the readable parts found.
        (with(req("POST", "/premium/x"), Some("_method=GET"), gzip), "refuse unsupported_content_encoding"),
        (
            RequestParts { content_type: Some("text/plain; charset=utf-16"), ..req("POST", "/premium/x") }
                .with_body(b"_method=GET"),
            "refuse unsupported_charset",
        ),
        // An override to a free method gets nothing priced; none is looked for there.
        (with(req("POST", "/api/score"), Some("_method=GET"), None), "challenge POST /api/score"),
        (with(req("POST", "/api/score"), None, gzip), "challenge POST /api/score"),
        (with(req("POST", "/free/x"), Some("_method=GET"), gzip), "free /free/x"),
        (with(req("GET", "/premium/x"), Some("_method=POST"), None), "challenge GET /premium/*"),
        (with(req("HEAD", "/premium/x"), Some("_method=POST"), None), "challenge GET /premium/*"),
    ] {
        assert_eq!(kind(&decide(&ready, &parts)), want, "{} {} {:?}", parts.method, parts.path, parts.query);
    }
}

#[test]
fn hosts_and_resource_urls() {
    let mut vars = good();
    vars["FACILITATOR_URL"] = "https://facilitator.example".into();
    vars["PUBLIC_ORIGIN"] = "https://api.example.com".into();
    vars["ALLOWED_HOSTS"] = "api.example.com, 127.0.0.1:8787".into();
    let ready = setup(vars);
    let at = |host: &'static str, path: &'static str, query| RequestParts {
        host,
        scheme: if host == "attacker.test" { "http" } else { "https" },
        query,
        ..req("GET", path)
    };
    match decide(&ready, &at("api.example.com", "/premium/../premium/x", Some("y=1"))) {
        Decision::Challenge { resource_url, .. } => assert_eq!(resource_url, "https://api.example.com/premium/x?y=1"),
        other => panic!("{}", kind(&other)),
    }
    match decide(&ready, &at(LOCAL, "/premium/x", None)) {
        Decision::Challenge { resource_url, .. } => assert_eq!(resource_url, "https://api.example.com/premium/x"),
        other => panic!("{}", kind(&other)),
    }
    assert_eq!(kind(&decide(&ready, &at("attacker.test", "/premium/x", None))), "refuse unknown_host");
    assert_eq!(kind(&decide(&ready, &at("attacker.test", "/free", None))), "free /free");
    // Without PUBLIC_ORIGIN the request's own origin names the resource, path normalised.
    let own = setup(good());
    match decide(&own, &RequestParts { query: Some(""), ..req("GET", "/a/../premium/x") }) {
        Decision::Challenge { resource_url, .. } => assert_eq!(resource_url, "http://127.0.0.1:8787/premium/x?"),
        other => panic!("{}", kind(&other)),
    }
}

#[test]
fn paper_mode_prices_only_local_hosts_unless_public() {
    let paper = setup(good());
    let mut public_vars = good();
    public_vars["PAPER_PUBLIC"] = "true".into();
    public_vars["ORIGIN_URL"] = "https://origin.example".into();
    let public = setup(public_vars);
    for (setup, host, want) in [
        (&paper, "127.0.0.1:8787", "challenge GET /premium/*"),
        (&paper, "localhost", "challenge GET /premium/*"),
        (&paper, "[::1]:8787", "challenge GET /premium/*"),
        (&paper, "paywall.example", "refuse paywall_misconfigured"),
        (&public, "paywall.example", "challenge GET /premium/*"),
    ] {
        let parts = RequestParts { host, ..req("GET", "/premium/x") };
        assert_eq!(kind(&decide(setup, &parts)), want, "{host}");
        let free = RequestParts { host, ..req("GET", "/free") };
        assert_eq!(kind(&decide(setup, &free)), "free /free", "{host}");
    }
    let Decision::Refuse(Failure::Misconfigured(Some(cause))) =
        decide(&paper, &RequestParts { host: "paywall.example", ..req("GET", "/premium/x") })
    else {
        panic!("paper mode on a public host must be misconfigured with a cause")
    };
    assert!(cause.contains("PAPER_PUBLIC"), "{cause}");
}

#[test]
fn broken_config_fails_closed() {
    let mut bad_price = good();
    bad_price["PAY_TO"] = "0x123".into();
    let mut bad_routes = good();
    bad_routes["ROUTES"]["premium"] = json!({ "price": "1" });
    let mut remote_paper = good();
    remote_paper["ORIGIN_URL"] = "https://origin.example".into();
    // A broken setup still refuses overrides that would reach a priced route.
    let override_post = RequestParts { query: Some("_method=GET"), ..req("POST", "/premium/x") };
    assert_eq!(kind(&decide(&setup(bad_price.clone()), &override_post)), "refuse method_override_refused");
    for (setup, path, want) in [
        (setup(bad_price.clone()), "/premium/x", "refuse paywall_misconfigured"),
        (setup(bad_price.clone()), "/%70remium/x", "refuse paywall_misconfigured"),
        (setup(bad_price.clone()), "/premium;a/x", "refuse bad_path"),
        (setup(bad_price.clone()), "/free", "free /free"),
        (setup(bad_price), "/.well-known/jwks.json", "refuse paywall_misconfigured"),
        (setup(bad_routes.clone()), "/free", "refuse paywall_misconfigured"),
        (setup(bad_routes), "/premium/x", "refuse paywall_misconfigured"),
        (setup(remote_paper.clone()), "/premium/x", "refuse paywall_misconfigured"),
        (setup(remote_paper), "/free", "free /free"),
    ] {
        assert_eq!(kind(&decide(&setup, &req("GET", path))), want, "{path}");
    }
}

/// Reference resolvers, written apart from `path`: how an origin reads the path it is
/// sent, segment by segment.
mod reference {
    /// `%XX` decoding of one segment (invalid escapes left as they are).
    fn decode(segment: &str) -> String {
        let bytes = segment.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
            if bytes[i] == b'%' {
                if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn join(segments: &[String]) -> String {
        if segments.is_empty() {
            return "/".into();
        }
        segments.iter().map(|s| format!("/{}", s.to_ascii_lowercase())).collect()
    }

    /// WHATWG URL path parsing (single-dot and double-dot segments, percent-encoded dots
    /// included, `\` as `/`), then each segment decoded, as Express or Go serve it.
    pub fn whatwg(path: &str) -> Option<String> {
        let mut out: Vec<String> = Vec::new();
        let normalised = path.replace('\\', "/");
        let parts: Vec<&str> = normalised.split('/').skip(1).collect();
        for part in &parts {
            match part.to_ascii_lowercase().as_str() {
                "." | "%2e" => {}
                ".." | ".%2e" | "%2e." | "%2e%2e" => {
                    out.pop();
                }
                _ => out.push(decode(part)),
            }
        }
        // Empty segments are separate in WHATWG; origins route `//` like `/`.
        out.retain(|s| !s.is_empty());
        Some(join(&out))
    }

    /// A servlet container: `;parameters` dropped from each raw segment, then decoded,
    /// then dot segments resolved and empty segments collapsed.
    pub fn servlet(path: &str) -> Option<String> {
        let mut out: Vec<String> = Vec::new();
        for part in path.split('/').skip(1) {
            let bare = decode(part.split(';').next().unwrap_or(""));
            match bare.as_str() {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                _ => out.push(bare),
            }
        }
        Some(join(&out))
    }

    /// CodeIgniter: a request for the root or a `*.php` script whose query starts with `/`
    /// is routed on that query (up to `?` or `&`), read WHATWG-style; any other is read
    /// as its path.
    pub fn codeigniter(path: &str, query: Option<&str>) -> Option<String> {
        let script = path.trim_end_matches('/').to_ascii_lowercase();
        match query.and_then(|q| q.strip_prefix('/')) {
            Some(routed) if script.is_empty() || script.ends_with(".php") => {
                let end = routed.find(['?', '&']).unwrap_or(routed.len());
                whatwg(&format!("/{}", &routed[..end]))
            }
            _ => whatwg(path),
        }
    }

    /// IIS with ASP.NET on NTFS: the whole path decoded, fullwidth forms folded to ASCII,
    /// cookieless values `/(X(…))` cut out, then each name without a stream suffix or
    /// trailing dots and spaces, then dot segments resolved.
    pub fn iis(path: &str) -> Option<String> {
        let folded: String = decode(path)
            .chars()
            .map(|c| match u32::from(c) {
                0xff01..=0xff5e => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
                _ => c,
            })
            .collect();
        let mut text = folded;
        while let Some(start) = text.find("/(") {
            let tail = &text[start + 2..];
            let shaped = tail.len() > 2 && tail.as_bytes()[0].is_ascii_alphabetic() && tail.as_bytes()[1] == b'(';
            let end = tail.find("))");
            match (shaped, end) {
                (true, Some(end)) if !tail[2..end].contains(')') => text.replace_range(start..start + 2 + end + 2, ""),
                _ => break,
            }
        }
        let mut out: Vec<String> = Vec::new();
        for part in text.split('/') {
            let name = part.split(':').next().unwrap_or("");
            let name = if !name.is_empty() && name.trim_end_matches(' ').chars().all(|c| c == '.') {
                name.trim_end_matches(' ').to_string()
            } else {
                name.trim_end_matches(['.', ' ']).to_string()
            };
            match name.as_str() {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                _ => out.push(name),
            }
        }
        Some(join(&out))
    }
}

#[test]
fn generated_paths_price_what_every_reader_of_the_forwarded_path_serves() {
    const TOKENS: &[&str] = &[
        "/",
        "/",
        "/",
        "premium",
        "PREMIUM",
        "Premium",
        "x",
        "a",
        "api",
        "score",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        ".%2e",
        ";",
        ";v=1",
        "%3b",
        "%3B",
        "..;",
        "%2f",
        "%2F",
        "//",
        "%20",
        ".",
        " ",
        "%EF%BC%8E",
        "%EF%BD%90",
        "%C4%B1",
        "free",
        "%70",
        "remium",
        "::$DATA",
        ":x",
        "~",
        "%25",
        "%5c",
        "\\",
        "?",
        "+",
        "jsessionid=1",
    ];
    let mut vars = good();
    vars["ROUTES"] = json!({
        "GET /premium/*": { "price": "$0.01" },
        "/a/:id/x": { "price": "$0.01" },
        "POST /api/score": { "price": "$1" },
        "/free/premium": { "price": "$0.02" }
    });
    let ready = setup(vars);
    let Setup::Ready(config) = &ready else { panic!("config") };
    let route_of = |method: &str, key: &str| config.routes.find(method, key).map(|(p, _)| p.to_string());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut priced, mut free, mut refused) = (0, 0, 0);
    for _ in 0..20_000 {
        let mut raw =
            String::from(rng.pick(&["/", "/premium/", "/PREMIUM", "/a/", "/free/", "/api/score", "/x/", "/index.php"]));
        for _ in 0..rng.below(7) {
            raw.push_str(rng.pick(TOKENS));
        }
        // Now and then a query, of the shape CodeIgniter routes on.
        let query = match rng.below(4) {
            0 => Some(format!("/{}{}", rng.pick(TOKENS), rng.pick(TOKENS))),
            1 => Some(format!("/premium/{}&a=1", rng.pick(TOKENS))),
            _ => None,
        };
        let method = rng.pick(&["GET", "POST", "HEAD"]);
        let parts = RequestParts { query: query.as_deref(), ..req(method, &raw) };
        let decision = match decide(&ready, &parts) {
            Decision::ReadBody => decide(&ready, &parts.with_body(b"")),
            other => other,
        };
        let (forward, route) = match &decision {
            Decision::Refuse(f) => {
                assert_eq!(f.reason(), "bad_path", "{method} {raw}");
                refused += 1;
                continue;
            }
            Decision::Free { path, .. } => {
                free += 1;
                (path.forward().to_string(), None)
            }
            Decision::Challenge { route, .. } => {
                priced += 1;
                (normalise(&raw).unwrap().forward().to_string(), Some(route.pattern.clone()))
            }
            other => panic!("{method} {raw}: {}", kind(other)),
        };
        for (name, reading) in [
            ("whatwg", reference::whatwg(&forward)),
            ("servlet", reference::servlet(&forward)),
            ("iis", reference::iis(&forward)),
            ("codeigniter", reference::codeigniter(&forward, query.as_deref())),
        ] {
            let reading = reading.unwrap_or_else(|| panic!("{raw}: {name} climbs above the root of {forward}"));
            assert_eq!(
                route_of(method, &reading),
                route,
                "{method} {raw}?{query:?} -> {forward}: {name} reads {reading}"
            );
        }
    }
    assert!(priced > 1_000 && free > 1_000 && refused > 1_000, "{priced} priced, {free} free, {refused} refused");
}

/// Every free decision carries the origin secret, when there is one: on a good setup, on
/// a broken one whose routes could be read, and after the body was read for an override.
#[test]
fn free_requests_carry_the_origin_secret() {
    use crate::config::Secrets;
    let secret = "s3cr3t-of-twenty-chars";
    let load = |vars: Value, origin_secret| {
        Setup::load(&vars.to_string(), Secrets { receipt_signing_key: Some(KEY), origin_secret, admin_token: None })
    };
    let mut broken = good();
    broken["PAY_TO"] = json!("nobody");
    let body_read = RequestParts { body_override: Some(false), ..req("POST", "/premium/x") };
    for (setup, with) in
        [(load(good(), Some(secret)), true), (load(broken, Some(secret)), true), (load(good(), None), false)]
    {
        for parts in [req("GET", "/free/x"), body_read] {
            match decide(&setup, &parts) {
                Decision::Free { secret: got, .. } => {
                    assert_eq!(got.map(OriginSecret::expose), with.then_some(secret), "{}", parts.path)
                }
                other => panic!("{}: {}", parts.path, kind(&other)),
            }
        }
    }
}

#[test]
fn our_own_origin_headers_are_stripped_from_every_client_request() {
    use crate::config::ORIGIN_SECRET_HEADER;
    use crate::context::CONTEXT_HEADER;
    use crate::overrides::is_stripped;
    assert!(is_stripped(CONTEXT_HEADER) && is_stripped(ORIGIN_SECRET_HEADER));
}

#[test]
fn admin_paths_are_ours_only_when_a_token_is_set() {
    use crate::config::Secrets;
    let token = "an-admin-token-of-the-operator";
    let load = |vars: Value, admin_token| {
        Setup::load(&vars.to_string(), Secrets { receipt_signing_key: Some(KEY), origin_secret: None, admin_token })
    };
    let on = load(good(), Some(token));
    for (path, want) in [
        ("/_x402/", "admin "),
        ("/_x402", "admin "),
        ("/_X402/Ledger.JSONL", "admin ledger.jsonl"),
        ("/_x402/summary", "admin summary"),
        ("/_x402//summary", "admin summary"),
        ("/free/../_x402/summary", "admin summary"),
        ("/_x402x/summary", "free /_x402x/summary"),
        ("/_x40/summary", "free /_x40/summary"),
        // Under the admin path by another reading: the admin API's (a 404), never the origin's.
        ("/_x402/..%2fleak", "admin (another reading)"),
        ("/_X402/..%2Fleak", "admin (another reading)"),
        ("/_x402;a/summary", "admin (another reading)"),
        ("/_x402./summary", "admin (another reading)"),
        ("/index.php/_x402/summary", "admin (another reading)"),
    ] {
        assert_eq!(kind(&decide(&on, &req("GET", path))), want, "{path}");
    }
    // Without a token: ordinary routes, passed to the origin.
    let off = load(good(), None);
    assert_eq!(kind(&decide(&off, &req("GET", "/_x402/summary"))), "free /_x402/summary");
    // Another path.
    let mut v = good();
    v["ADMIN_PATH"] = json!("/ops/x402/");
    let moved = load(v, Some(token));
    assert_eq!(kind(&decide(&moved, &req("GET", "/ops/x402/ledger.csv"))), "admin ledger.csv");
    assert_eq!(kind(&decide(&moved, &req("GET", "/_x402/ledger.csv"))), "free /_x402/ledger.csv");
    // A broken setup never passes its admin paths to the origin.
    let mut broken = good();
    broken["PAY_TO"] = json!("nobody");
    assert_eq!(
        kind(&decide(&load(broken, Some(token)), &req("GET", "/_x402/summary"))),
        "refuse paywall_misconfigured"
    );
    // Bad paths and tokens make the configuration invalid.
    for bad_path in ["_x402/", "/_x402", "/", "/a b/", "/../", "/a//b/", "/%2e/"] {
        let mut v = good();
        v["ADMIN_PATH"] = json!(bad_path);
        match load(v, Some(token)) {
            Setup::Broken { error, .. } => assert_eq!(error.field, "ADMIN_PATH", "{bad_path}"),
            Setup::Ready(_) => panic!("{bad_path} accepted"),
        }
    }
    match load(good(), Some("short")) {
        Setup::Broken { error, .. } => assert_eq!(error.field, "ADMIN_TOKEN"),
        Setup::Ready(_) => panic!("a short token accepted"),
    }
}

#[test]
fn receipts_are_looked_up_by_their_id_as_sent() {
    let ready = setup(good());
    assert_eq!(kind(&decide(&ready, &req("GET", "/.well-known/x402/receipts/3AbC-_x"))), "receipt 3AbC-_x");
    assert_eq!(kind(&decide(&ready, &req("GET", "/.well-known/X402/Receipts/3AbC"))), "receipt 3AbC");
    assert_eq!(kind(&decide(&ready, &req("GET", "/.well-known/x402/receipts/"))), "free /.well-known/x402/receipts/");
    assert_eq!(kind(&decide(&ready, &req("GET", "/.well-known/x402/other"))), "free /.well-known/x402/other");
    assert_eq!(kind(&decide(&ready, &req("GET", "/.well-known/x402/nonce"))), "nonce");
    assert_eq!(kind(&decide(&ready, &req("POST", "/.well-known/x402/payments"))), "payer ledger");
}

#[test]
fn discovery_documents_are_the_paywall_s_never_priced_and_the_origin_s_when_off() {
    let mut v = good();
    v["ROUTES"]["/*"] = json!({ "price": "$1" });
    let on = setup(v.clone());
    let at = |s: &Setup, method: &str, path: &str| kind(&decide(s, &req(method, path)));
    assert_eq!(at(&on, "GET", "/openapi.json"), "discovery OpenApi http://127.0.0.1:8787");
    assert_eq!(at(&on, "GET", "/OpenAPI.json"), "discovery OpenApi http://127.0.0.1:8787", "any case");
    assert_eq!(at(&on, "GET", "/a/../openapi.json"), "discovery OpenApi http://127.0.0.1:8787", "normalised");
    assert_eq!(at(&on, "HEAD", "/.well-known/x402"), "discovery WellKnown http://127.0.0.1:8787");
    assert_eq!(
        at(&on, "POST", "/llms.txt"),
        "discovery Llms http://127.0.0.1:8787",
        "a write is answered 405, not priced"
    );
    assert_eq!(at(&on, "GET", "/llms.txt/x"), "challenge /*", "only the path itself");
    let mut public = v.clone();
    public["PUBLIC_ORIGIN"] = json!("https://api.example.com");
    public["ALLOWED_HOSTS"] = json!("api.example.com");
    let public = setup(public);
    let from = |host: &'static str| kind(&decide(&public, &RequestParts { host, ..req("GET", "/llms.txt") }));
    assert_eq!(from("api.example.com"), "discovery Llms https://api.example.com");
    assert_eq!(from("evil.example"), "refuse unknown_host");
    v["DISCOVERY"] = json!(false);
    let off = setup(v.clone());
    assert_eq!(at(&off, "GET", "/openapi.json"), "challenge /*", "off: the route table decides");
    v["ROUTES"] = json!({ "GET /premium/*": { "price": "$0.01" } });
    assert_eq!(at(&setup(v), "GET", "/openapi.json"), "free /openapi.json", "off: the origin's path, untouched");
}

#[test]
fn paper_balances_are_answered_in_paper_mode_only() {
    let paper = setup(good());
    let at = |setup: &Setup, path: &str| kind(&decide(setup, &req("GET", path)));
    let addr = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
    assert_eq!(at(&paper, &format!("/.well-known/x402/paper/balances/{addr}")), format!("paper balances {addr}"));
    assert_eq!(at(&paper, "/.well-known/X402/Paper/Balances/0xAb"), "paper balances 0xAb", "as sent, any case");
    assert_eq!(at(&paper, "/.well-known/x402/paper/balances/"), "free /.well-known/x402/paper/balances/");
    let mut live = good();
    live["FACILITATOR_URL"] = json!("https://facilitator.example.com");
    live["ORIGIN_URL"] = json!("https://origin.example.com");
    let live = setup(live);
    assert!(matches!(live, Setup::Ready(_)));
    let path = format!("/.well-known/x402/paper/balances/{addr}");
    assert_eq!(at(&live, &path), format!("free {path}"), "no paper ledger: the origin's path");
}

#[test]
fn a_preflight_is_priced_as_the_options_it_is_forwarded_as() {
    // An Express `app.options('/opt/*', …)` behind a route pricing OPTIONS ran unpaid when
    // the request added Access-Control-Request-Method naming a free method (an outside
    // probe's find): a preflight the table leaves free is forwarded as the OPTIONS it is.
    let mut vars = good();
    vars["ROUTES"] = json!({ "OPTIONS /opt/*": { "price": "$0.01" }, "GET /premium/*": { "price": "$0.01" } });
    let ready = setup(vars.clone());
    let preflight = |method, path| RequestParts { access_control_request_method: Some(method), ..req("OPTIONS", path) };
    for (parts, want) in [
        (req("OPTIONS", "/opt/x"), "challenge OPTIONS /opt/*"),
        (preflight("GET", "/opt/x"), "challenge OPTIONS /opt/*"),
        (preflight("POST", "/OPT/x"), "challenge OPTIONS /opt/*"),
        (RequestParts { payment_signature: Some("x"), ..preflight("GET", "/opt/x") }, "pay v2"),
        // A preflight for a priced method is the paywall's to answer (never forwarded).
        (preflight("GET", "/premium/x").with_body(b""), "preflight"),
        (preflight("GET", "/free"), "free /free"),
    ] {
        assert_eq!(kind(&decide(&ready, &parts)), want, "{} {}", parts.method, parts.path);
    }
    // A broken configuration keeps it closed too.
    vars["PAY_TO"] = json!("nobody");
    let broken = setup(vars);
    assert_eq!(kind(&decide(&broken, &preflight("GET", "/opt/x"))), "refuse paywall_misconfigured");
    assert_eq!(kind(&decide(&broken, &preflight("GET", "/free"))), "free /free");
}
