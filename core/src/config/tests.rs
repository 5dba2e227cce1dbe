//! One test per bad-configuration case, and the fail-closed behaviour of `Setup`.

use serde_json::{json, Value};

use super::*;

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn good() -> Value {
    json!({
        "PAY_TO": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "NETWORK": "eip155:84532",
        "ASSET": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "ASSET_NAME": "USDC",
        "ASSET_VERSION": "2",
        "ASSET_DECIMALS": "6",
        "MAX_TIMEOUT_SECONDS": "60",
        "FACILITATOR_URL": "paper",
        "PAPER_BALANCE": "$10",
        "ORIGIN_URL": "http://127.0.0.1:8788",
        "ROUTES": {
            "GET /premium/*": { "price": "$0.01", "description": "Premium", "mimeType": "text/html" },
            "/reports/:id": {
                "price": "$0.05",
                "extraOptions": [{ "network": "eip155:8453", "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "price": "$0.04" }]
            },
            "POST /api/score": { "price": "2500" }
        }
    })
}

fn load(v: &Value) -> Setup {
    Setup::load(&v.to_string(), Some(KEY))
}

fn ready(v: &Value) -> Config {
    match load(v) {
        Setup::Ready(c) => c,
        Setup::Broken { error, .. } => panic!("expected a good config, got {error}"),
    }
}

#[test]
fn good_config_parses_into_typed_values() {
    let c = ready(&good());
    assert_eq!(c.routes.len(), 3);
    let (_, premium) = c.routes.find("GET", "/premium/a").unwrap();
    assert_eq!(premium.options[0].amount, Amount(10_000));
    assert_eq!(premium.pattern, "GET /premium/*");
    assert_eq!(premium.mime_type, "text/html");
    let (_, report) = c.routes.find("GET", "/reports/7").unwrap();
    assert_eq!(report.options.len(), 2);
    assert_eq!(report.options[1].network.chain_id, 8453);
    assert_eq!(report.options[1].amount, Amount(40_000));
    assert_eq!(report.options[1].asset_name, "USDC");
    assert_eq!(c.routes.find("POST", "/api/score").unwrap().1.options[0].amount, Amount(2500));
    assert!(c.routes.find("GET", "/api/score").is_none());
    assert_eq!(c.facilitator, FacilitatorSetting::Paper { starting_balance: Amount(10_000_000), public: false });
    assert_eq!(c.origin, OriginSetting::Url("http://127.0.0.1:8788".into()));
}

#[test]
fn numbers_may_be_numbers_and_defaults_apply() {
    let mut v = good();
    v["ASSET_DECIMALS"] = json!(6);
    v.as_object_mut().unwrap().remove("MAX_TIMEOUT_SECONDS");
    v.as_object_mut().unwrap().remove("PAPER_BALANCE");
    v["ORIGIN_URL"] = json!("");
    v["PAPER_PUBLIC"] = json!(true);
    let c = ready(&v);
    assert_eq!(c.routes.find("GET", "/premium").unwrap().1.options[0].max_timeout_seconds, 60);
    assert_eq!(c.origin, OriginSetting::SameSite);
    assert_eq!(c.facilitator, FacilitatorSetting::Paper { starting_balance: Amount(10_000_000), public: true });
    assert_eq!((c.origin_timeout_ms, &c.site), (30_000, &Site::default()));
    v["ORIGIN_TIMEOUT_MS"] = json!(1500);
    v["PUBLIC_ORIGIN"] = json!("https://Api.Example.com");
    v["ALLOWED_HOSTS"] = json!(["api.example.com", "www.example.com:8443"]);
    let c = ready(&v);
    assert_eq!(c.origin_timeout_ms, 1500);
    assert_eq!(c.site.public_origin.as_deref(), Some("https://api.example.com"));
    assert_eq!(c.site.allowed_hosts, Some(vec!["api.example.com".to_string(), "www.example.com:8443".into()]));
}

#[test]
fn route_order_is_kept_first_match_wins() {
    // Written as text: a serde_json::Value would sort the keys before we see them.
    let mut v = good();
    v["ROUTES"] = json!({});
    let routes = r#"{"/premium/free-sample":{"price":"1"},"/premium/*":{"price":"2"},"/a/*":{"price":"3"},"/a/b":{"price":"4"}}"#;
    let text = v.to_string().replace(r#""ROUTES":{}"#, &format!(r#""ROUTES":{routes}"#));
    let Setup::Ready(c) = Setup::load(&text, Some(KEY)) else { panic!("config refused") };
    for (path, want) in [("/premium/free-sample", 1), ("/premium/x", 2), ("/a/b", 3)] {
        assert_eq!(c.routes.find("GET", path).unwrap().1.options[0].amount, Amount(want), "{path}");
    }
}

#[test]
fn alert_webhooks() {
    for (url, threshold, ok) in [
        ("https://hooks.example/x402?token=abc", None, true),
        ("http://127.0.0.1:9000/alerts", Some(json!(3)), true),
        ("", None, true),
        ("http://hooks.example/x402", None, false),
        ("https://hooks.example/x402#frag", None, false),
        ("https://user:pw@hooks.example/", None, false),
        ("ftp://hooks.example/", None, false),
        ("hooks.example", None, false),
        ("https://hooks.example/", Some(json!(0)), false),
        ("https://hooks.example/", Some(json!("ten")), false),
    ] {
        let mut v = good();
        v["ALERT_WEBHOOK_URL"] = json!(url);
        if let Some(n) = &threshold {
            v["ALERT_RATE_LIMITED_PER_MINUTE"] = n.clone();
        }
        match load(&v) {
            Setup::Ready(c) => {
                assert!(ok, "{url} {threshold:?} was accepted");
                assert_eq!(c.alerts.is_some(), !url.is_empty(), "{url}");
                if let Some(a) = &c.alerts {
                    assert_eq!(a.url, url);
                    assert!(!format!("{a:?}").contains("token"), "the URL stays out of the log");
                }
            }
            Setup::Broken { error, .. } => {
                assert!(!ok, "{url} {threshold:?}: {error}");
                assert!(!error.to_string().contains("hooks.example"), "the URL stays out of the error: {error}");
            }
        }
    }
}

#[test]
fn facilitator_urls() {
    for (url, ok) in [
        ("https://x402.org/facilitator", true),
        ("https://fac.example/", true),
        ("http://127.0.0.1:4020", true),
        ("http://localhost:4020", true),
        ("http://[::1]:4020", true),
        ("http://127.evil.example", false),
        ("http://fac.example", false),
        ("ftp://fac.example", false),
        ("fac.example", false),
        ("https://user:pw@fac.example", false),
        ("https://fac.example/?a=1", false),
        ("https://", false),
        ("PAPER", false),
    ] {
        let mut v = good();
        v["FACILITATOR_URL"] = json!(url);
        let got = matches!(load(&v), Setup::Ready(_));
        assert_eq!(got, ok, "{url}");
    }
    let mut v = good();
    v["FACILITATOR_URL"] = json!("https://fac.example/");
    assert_eq!(
        ready(&v).facilitator,
        FacilitatorSetting::Http { url: "https://fac.example".into(), timeout_ms: 10_000 }
    );
}

/// Each bad-config case names the field at fault and keeps the patterns when it can.
#[test]
fn bad_configs_fail_closed() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, bool)> = vec![
        ("PAY_TO", Box::new(|v| v["PAY_TO"] = json!("0xnot-an-address")), true),
        ("PAY_TO", Box::new(|v| v["PAY_TO"] = json!("0x209693bc6afc0c5328ba36faf03c514ef312287C")), true),
        (
            "PAY_TO",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("PAY_TO");
            }),
            true,
        ),
        ("NETWORK", Box::new(|v| v["NETWORK"] = json!("base-sepolia")), true),
        ("ASSET", Box::new(|v| v["ASSET"] = json!("0x1234")), true),
        ("ASSET_DECIMALS", Box::new(|v| v["ASSET_DECIMALS"] = json!("six")), true),
        ("ASSET_DECIMALS", Box::new(|v| v["ASSET_DECIMALS"] = json!(300)), true),
        ("MAX_TIMEOUT_SECONDS", Box::new(|v| v["MAX_TIMEOUT_SECONDS"] = json!("0")), true),
        ("FACILITATOR_URL", Box::new(|v| v["FACILITATOR_URL"] = json!("http://fac.example")), true),
        (
            "FACILITATOR_TIMEOUT_MS",
            Box::new(|v| {
                v["FACILITATOR_URL"] = json!("https://f.example");
                v["FACILITATOR_TIMEOUT_MS"] = json!("5");
            }),
            true,
        ),
        ("PAPER_BALANCE", Box::new(|v| v["PAPER_BALANCE"] = json!("ten dollars")), true),
        ("PAPER_PUBLIC", Box::new(|v| v["PAPER_PUBLIC"] = json!("yes")), true),
        ("FACILITATOR_URL", Box::new(|v| v["ORIGIN_URL"] = json!("https://origin.example")), true),
        ("FACILITATOR_URL", Box::new(|v| v["ORIGIN_URL"] = json!("")), true),
        ("FACILITATOR_URL", Box::new(|v| v["ORIGIN_URL"] = json!("http://127.evil.example")), true),
        ("ORIGIN_TIMEOUT_MS", Box::new(|v| v["ORIGIN_TIMEOUT_MS"] = json!("50")), true),
        ("ORIGIN_TIMEOUT_MS", Box::new(|v| v["ORIGIN_TIMEOUT_MS"] = json!("soon")), true),
        ("PUBLIC_ORIGIN", Box::new(|v| v["PUBLIC_ORIGIN"] = json!("https://api.example.com/v1")), true),
        ("PUBLIC_ORIGIN", Box::new(|v| v["PUBLIC_ORIGIN"] = json!("api.example.com")), true),
        ("ALLOWED_HOSTS", Box::new(|v| v["ALLOWED_HOSTS"] = json!("api.example.com, evil/path")), true),
        ("ALLOWED_HOSTS", Box::new(|v| v["ALLOWED_HOSTS"] = json!([1, 2])), true),
        ("ORIGIN_URL", Box::new(|v| v["ORIGIN_URL"] = json!("gopher://x")), false),
        (
            "ROUTES[\"GET /premium/*\"].price",
            Box::new(|v| v["ROUTES"]["GET /premium/*"]["price"] = json!("$0.0000001")),
            true,
        ),
        ("ROUTES[\"GET /premium/*\"].price", Box::new(|v| v["ROUTES"]["GET /premium/*"]["price"] = json!("$0")), true),
        ("ROUTES[\"GET /premium/*\"]", Box::new(|v| v["ROUTES"]["GET /premium/*"]["prce"] = json!("$1")), true),
        ("ROUTES[\"GET /premium/*\"]", Box::new(|v| v["ROUTES"]["GET /premium/*"] = json!("$1")), true),
        (
            "ROUTES[\"GET /premium/*\"].description",
            Box::new(|v| v["ROUTES"]["GET /premium/*"]["description"] = json!("a\u{1}b")),
            true,
        ),
        (
            "ROUTES[\"/reports/:id\"].extraOptions[0].asset",
            Box::new(|v| v["ROUTES"]["/reports/:id"]["extraOptions"][0]["asset"] = json!("0xzz")),
            true,
        ),
        (
            "ROUTES[\"/reports/:id\"].extraOptions[0]",
            Box::new(|v| {
                v["ROUTES"]["/reports/:id"]["extraOptions"][0]["network"] = json!("eip155:84532");
                v["ROUTES"]["/reports/:id"]["extraOptions"][0]["asset"] =
                    json!("0x036cbd53842c5426634e7929541ec2318f3dcf7e");
            }),
            true,
        ),
        (
            "ROUTES[\"/reports/:id\"].extraOptions[0]",
            Box::new(|v| v["ROUTES"]["/reports/:id"]["extraOptions"][0]["assetDecimals"] = json!(1)),
            true,
        ),
        ("ROUTES", Box::new(|v| v["ROUTES"]["get /Premium/*/"] = json!({"price": "1"})), false),
        ("ROUTES[\"GET premium\"]", Box::new(|v| v["ROUTES"]["GET premium"] = json!({"price": "1"})), false),
        ("bindings", Box::new(|v| v["ROUTES"] = json!(["GET /x"])), false),
        ("bindings", Box::new(|v| v["PAYTO"] = json!("0x00")), false),
    ];
    for (field, edit, keeps_patterns) in cases {
        let mut v = good();
        edit(&mut v);
        match load(&v) {
            Setup::Ready(_) => panic!("{field}: bad config accepted: {v}"),
            Setup::Broken { error, priced, .. } => {
                assert!(error.field.starts_with(field), "want {field}, got {error}");
                assert_eq!(priced.is_some(), keeps_patterns, "{field}");
                if let Some(p) = priced {
                    assert!(p.find("GET", "/premium/x").is_some(), "{field}");
                    assert!(p.find("GET", "/free").is_none(), "{field}");
                }
            }
        }
    }
}

#[test]
fn signing_key_rules() {
    assert!(
        matches!(Setup::load(&good().to_string(), None), Setup::Broken { ref error, .. } if error.field == "RECEIPT_SIGNING_KEY")
    );
    assert!(
        matches!(Setup::load(&good().to_string(), Some("zz")), Setup::Broken { ref error, .. } if error.field == "RECEIPT_SIGNING_KEY" && !error.cause.contains("zz"))
    );
    // The public development key signs paper receipts only.
    assert!(matches!(Setup::load(&good().to_string(), Some(DEV_RECEIPT_SIGNING_KEY)), Setup::Ready(_)));
    let mut real = good();
    real["FACILITATOR_URL"] = json!("https://fac.example");
    // However it is written: the key bytes are compared, not the text.
    let seed = parse_seed(DEV_RECEIPT_SIGNING_KEY).unwrap();
    for spelling in [
        DEV_RECEIPT_SIGNING_KEY.to_string(),
        format!("0x{DEV_RECEIPT_SIGNING_KEY}"),
        format!("0X{}", DEV_RECEIPT_SIGNING_KEY.to_ascii_uppercase()),
        DEV_RECEIPT_SIGNING_KEY.to_ascii_uppercase(),
        crate::codec::base64url_encode(&seed),
        crate::codec::base64_encode(&seed),
        format!("  {DEV_RECEIPT_SIGNING_KEY}\n"),
    ] {
        assert!(
            matches!(Setup::load(&real.to_string(), Some(spelling.as_str())), Setup::Broken { ref error, .. } if error.field == "RECEIPT_SIGNING_KEY"),
            "{spelling}"
        );
    }
    assert!(matches!(Setup::load(&real.to_string(), Some(KEY)), Setup::Ready(_)));
}

/// The cause of a broken setup, with its field.
fn broken(text: &str) -> (String, String) {
    match Setup::load(text, Some(KEY)) {
        Setup::Broken { error, .. } => (error.field, error.cause),
        Setup::Ready(_) => panic!("accepted: {text}"),
    }
}

#[test]
fn the_bindings_reader_is_strict_and_names_what_is_wrong() {
    let text = good().to_string();
    let splice = |at: &str, with: &str| text.replacen(at, &format!("{at}{with}"), 1);
    for (bad, field, cause) in [
        (splice("{", r#""PAYTO":"0x00","#), "bindings", "unknown field `PAYTO`"),
        (splice("{", r#""NETWORK":"eip155:8453","#), "bindings", "each field once"),
        (splice("{", r#""NETWORK":null,"NETWORK":null,"#), "bindings", "each field once"),
        (splice("{", r#""PAY_TO":7,"#), "bindings", "expected"),
        (splice(r#""GET /premium/*":{"#, r#""prise":"1","#), "ROUTES[\"GET /premium/*\"]", "unknown field `prise`"),
        (splice(r#""GET /premium/*":{"#, r#""price":"1","#), "ROUTES[\"GET /premium/*\"]", "each field once"),
        (text.replace(r#""price":"2500""#, r#""price":null"#), "ROUTES[\"POST /api/score\"]", "expected"),
        (text.replace(r#""price":"2500""#, r#""description":"d""#), "ROUTES[\"POST /api/score\"]", "`price`"),
        (splice(r#""extraOptions":[{"#, r#""chain":"base","#), "ROUTES[\"/reports/:id\"]", "unknown field `chain`"),
        (splice(r#""extraOptions":[{"#, r#""assetDecimals":256,"#), "ROUTES[\"/reports/:id\"]", "decimals"),
        (splice(r#""extraOptions":[{"#, r#""assetDecimals":6.0,"#), "ROUTES[\"/reports/:id\"]", "whole number"),
        (text.replace(r#""extraOptions":[{"#, r#""extraOptions":null,"x":[{"#), "ROUTES[\"/reports/:id\"]", "array"),
        (format!("{text} x"), "bindings", "end of the text"),
        ("[]".to_string(), "bindings", "object"),
    ] {
        let (got_field, got_cause) = broken(&bad);
        assert_eq!(got_field, field, "{bad}");
        assert!(got_cause.contains(cause), "{bad}: {got_cause}");
    }
    // null is an absent optional binding; a repeated route pattern is the route table's to refuse.
    let with_null = splice("{", r#""PUBLIC_ORIGIN":null,"ALLOWED_HOSTS":null,"#);
    assert!(matches!(Setup::load(&with_null, Some(KEY)), Setup::Ready(_)));
    let twice = splice(r#""ROUTES":{"#, r#""POST /api/score":{"price":"1"},"#);
    let (field, cause) = broken(&twice);
    assert!(field.starts_with("ROUTES"), "the route table refuses it: {field}: {cause}");
    // A route table is not a type's fields: it may be long.
    let many: String = (0..100).map(|i| format!(r#""GET /r{i}":{{"price":"1"}},"#)).collect();
    assert!(matches!(Setup::load(&splice(r#""ROUTES":{"#, &many), Some(KEY)), Setup::Ready(_)));
}

#[test]
fn generated_bindings_never_panic_and_non_json_is_a_bindings_error() {
    let base = good().to_string();
    let chars: Vec<char> = base.chars().collect();
    let mut rng = crate::testkit::Rng(0xc0ff_ee00);
    let mut ready = 0;
    for _ in 0..3_000 {
        let mut c = chars.clone();
        for _ in 0..=rng.below(2) {
            let at = rng.below(c.len());
            match rng.below(3) {
                0 => c[at] = rng.pick(&['"', '{', '}', '[', ']', ',', ':', '0', 'n', ' ', '\\', '$', '.']),
                1 => drop(c.remove(at)),
                _ => c.truncate(at),
            }
        }
        let text: String = c.into_iter().collect();
        match Setup::load(&text, Some(KEY)) {
            Setup::Ready(_) => ready += 1,
            Setup::Broken { error, .. } => {
                if serde_json::from_str::<Value>(&text).is_err() {
                    assert_eq!(error.field, "bindings", "{text}: {error}");
                }
            }
        }
    }
    assert!(ready > 10, "some mutations (in a description, say) still parse: {ready}");
}

impl Setup {
    fn is_ready(&self) -> bool {
        matches!(self, Setup::Ready(_))
    }
}

fn with_origin_secret(v: &Value, secret: &str) -> Setup {
    Setup::load(
        &v.to_string(),
        Secrets { receipt_signing_key: Some(KEY), origin_secret: Some(secret), admin_token: None },
    )
}

#[test]
fn origin_secret_rules() {
    let good_secret = "s3cr3t-of-twenty-chars";
    let Setup::Ready(c) = with_origin_secret(&good(), &format!("  {good_secret}\n")) else { panic!("refused") };
    assert_eq!(c.origin_secret.as_ref().map(OriginSecret::expose), Some(good_secret));
    assert!(!format!("{c:?}").contains(good_secret), "the secret leaks through Debug");
    // Unset or empty: none.
    assert!(ready(&good()).origin_secret.is_none());
    let Setup::Ready(c) = with_origin_secret(&good(), "  ") else { panic!("refused") };
    assert!(c.origin_secret.is_none());
    // Too short, too long, a space, a control character, non-ASCII: the whole setup is
    // refused, and the error names the field but never the value.
    let long = "x".repeat(OriginSecret::MAX_LEN + 1);
    for bad in
        ["short-secret", long.as_str(), "has a space in it!!", "control\u{7}character-inside", "ünïcödé-secret-value"]
    {
        match with_origin_secret(&good(), bad) {
            Setup::Broken { error, priced: None, .. } => {
                assert_eq!(error.field, "ORIGIN_SECRET", "{bad}");
                assert!(!error.to_string().contains(bad), "{bad} leaks into the error");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(with_origin_secret(&good(), &"x".repeat(OriginSecret::MAX_LEN)).is_ready());
    assert!(with_origin_secret(&good(), &"x".repeat(OriginSecret::MIN_LEN)).is_ready());
    assert!(!with_origin_secret(&good(), &"x".repeat(OriginSecret::MIN_LEN - 1)).is_ready());
}

#[test]
fn a_broken_setup_keeps_the_origin_secret_for_free_routes() {
    let mut v = good();
    v["PAY_TO"] = json!("not an address");
    match with_origin_secret(&v, "s3cr3t-of-twenty-chars") {
        Setup::Broken { origin_secret: Some(s), priced: Some(_), .. } => {
            assert_eq!(s.expose(), "s3cr3t-of-twenty-chars")
        }
        other => panic!("{other:?}"),
    }
}

/// Generated secrets: accepted exactly when trimmed they are 16..=512 visible ASCII
/// characters, and then kept as trimmed.
#[test]
fn generated_origin_secrets() {
    let mut rng = crate::testkit::Rng(0x5EC2E7);
    let pieces = ["a", "Z", "0", "-", "~", " ", "\t", "\u{7f}", "é", "\"", "\n", "xxxxxxxx"];
    for _ in 0..3000 {
        let n = rng.below(70);
        let text: String = (0..n).map(|_| rng.pick(&pieces)).collect();
        let trimmed = text.trim();
        let valid = (OriginSecret::MIN_LEN..=OriginSecret::MAX_LEN).contains(&trimmed.len())
            && trimmed.bytes().all(|b| (0x21..=0x7e).contains(&b));
        match OriginSecret::parse(&text) {
            Ok(Some(s)) => assert!(valid && s.expose() == trimmed, "{text:?}"),
            Ok(None) => assert!(trimmed.is_empty(), "{text:?}"),
            Err(_) => assert!(!valid && !trimmed.is_empty(), "{text:?}"),
        }
    }
}

#[test]
fn ledger_retention_days() {
    assert_eq!(ready(&good()).ledger_retention_days, DEFAULT_LEDGER_RETENTION_DAYS);
    for (value, want) in
        [(json!("30"), Some(30)), (json!(365), Some(365)), (json!("1"), Some(1)), (json!(3650), Some(3650))]
    {
        let mut v = good();
        v["LEDGER_RETENTION_DAYS"] = value.clone();
        assert_eq!(ready(&v).ledger_retention_days, want.unwrap(), "{value}");
    }
    for bad in [json!("0"), json!(3651), json!("ninety"), json!(-1), json!("1.5")] {
        let mut v = good();
        v["LEDGER_RETENTION_DAYS"] = bad.clone();
        match load(&v) {
            Setup::Broken { error, priced: Some(_), .. } => assert_eq!(error.field, "LEDGER_RETENTION_DAYS", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn an_origin_secret_never_travels_in_clear_text_over_the_internet() {
    let secret = "s3cr3t-of-twenty-chars";
    for (origin, ok) in [
        ("http://127.0.0.1:8788", true),
        ("http://localhost:9", true),
        ("https://origin.example.com", true),
        ("", true),
        ("http://origin.example.com", false),
        ("http://10.0.0.7", false),
    ] {
        let mut v = good();
        v["ORIGIN_URL"] = json!(origin);
        v["FACILITATOR_URL"] = json!("https://fac.example");
        let got = with_origin_secret(&v, secret);
        match got {
            Setup::Ready(_) => assert!(ok, "{origin}"),
            Setup::Broken { error, .. } => {
                assert!(!ok, "{origin}: {error}");
                assert_eq!(error.field, "ORIGIN_SECRET");
                assert!(!error.to_string().contains(secret));
            }
        }
        // Without a secret, any origin is as before.
        assert!(Setup::load(&v.to_string(), Some(KEY)).is_ready(), "{origin}");
    }
}

#[test]
fn secrets_debug_shows_none_of_them() {
    let s = Secrets {
        receipt_signing_key: Some(KEY),
        origin_secret: Some("s3cr3t-of-twenty-chars"),
        admin_token: Some("an-admin-token-of-the-operator"),
    };
    let shown = format!("{s:?}");
    assert!(!shown.contains(KEY) && !shown.contains("s3cr3t") && !shown.contains("operator"), "{shown}");
    assert!(shown.contains("origin_secret"));
}
