//! Discovery: the schema checker (tables and generated schemas), route descriptions and
//! `DISCOVERY` refused where they are wrong, the bazaar extension (path parameters read
//! from generated URLs, the template equal to a direct render), the three documents, and
//! their answers (ETag, HEAD, 405, one render per origin).

use serde_json::{json, Value};

use super::bazaar::params_for;
use super::docs::{matches_etag, render};
use super::schema::{check, example};
use super::*;
use crate::challenge::{Challenge, ChallengeTemplate};
use crate::codec::base64_decode;
use crate::config::{Config, Setup};
use crate::testkit::Rng;

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn vars(routes: Value) -> Value {
    let mut v = crate::testkit::base_vars();
    v["ROUTES"] = routes;
    v
}

/// A table with parameters, a query, a body schema, a wildcard, an undescribed route and
/// a route kept out of discovery.
fn table() -> Value {
    json!({
        "GET /reports/:id": {
            "price": "$0.05", "description": "A market report", "mimeType": "application/json",
            "input": {
                "pathParams": { "id": { "type": "integer", "description": "report id" } },
                "queryParams": { "lang": { "type": "string", "enum": ["en", "de"] } }
            },
            "output": { "example": { "id": 42, "summary": "up" }, "schema": { "type": "object" } }
        },
        "POST /api/score": {
            "price": "2500", "description": "Score a text",
            "input": { "bodyType": "json", "body": {
                "type": "object", "required": ["text"],
                "properties": { "text": { "type": "string", "minLength": 1 }, "lang": { "type": "string" } }
            } }
        },
        "/files/:owner/*": { "price": "$0.01" },
        "/hidden/:x": { "price": "$1", "discoverable": false, "input": { "queryParams": { "q": { "type": "string" } } } }
    })
}

fn load(v: Value) -> Setup {
    Setup::load(&v.to_string(), Some(KEY))
}

fn config(v: Value) -> Config {
    match load(v) {
        Setup::Ready(c) => c,
        Setup::Broken { error, .. } => panic!("broken: {error}"),
    }
}

fn broken(v: Value) -> crate::error::ConfigError {
    match load(v) {
        Setup::Ready(_) => panic!("accepted"),
        Setup::Broken { error, .. } => error,
    }
}

fn route<'c>(c: &'c Config, pattern: &str) -> &'c crate::routes::PricedRoute {
    c.routes.iter().find(|(_, r)| r.pattern == pattern).map(|(_, r)| r).unwrap()
}

fn bazaar_of(header: &str) -> Option<Value> {
    let v2: Value = serde_json::from_slice(&base64_decode(header).unwrap()).unwrap();
    v2["extensions"].get("bazaar").cloned()
}

#[test]
fn schemas_are_checked_keyword_by_keyword() {
    for ok in [
        json!(true),
        json!({}),
        json!({ "type": "object", "properties": { "type": { "type": "string" } }, "required": ["type"] }),
        json!({ "type": ["string", "null"], "minLength": 0, "pattern": "^a", "x-note": 1 }),
        json!({ "anyOf": [{ "type": "integer", "multipleOf": 2 }, false], "examples": [1] }),
        json!({ "items": { "enum": [1, "a", null] }, "prefixItems": [{}], "$defs": { "a": {} } }),
        json!({ "dependentRequired": { "a": ["b"] }, "discriminator": { "propertyName": "k" } }),
    ] {
        assert_eq!(check(&ok), Ok(()), "{ok}");
    }
    for (bad, at) in [
        (json!(3), ""),
        (json!("string"), ""),
        (json!({ "type": "text" }), "type"),
        (json!({ "type": [] }), "type"),
        (json!({ "type": ["string", "string"] }), "type"),
        (json!({ "typ": "string" }), "typ"),
        (json!({ "properties": { "a": { "type": 1 } } }), "properties.a.type"),
        (json!({ "properties": [] }), "properties"),
        (json!({ "required": ["a", "a"] }), "required"),
        (json!({ "required": "a" }), "required"),
        (json!({ "minLength": -1 }), "minLength"),
        (json!({ "minLength": 1.5 }), "minLength"),
        (json!({ "multipleOf": 0 }), "multipleOf"),
        (json!({ "maximum": "9" }), "maximum"),
        (json!({ "anyOf": [] }), "anyOf"),
        (json!({ "items": [{}] }), "items"),
        (json!({ "enum": "a" }), "enum"),
        (json!({ "$ref": "#/$defs/a" }), "$ref"),
        (json!({ "items": { "$id": "https://x" } }), "items.$id"),
        (json!({ "uniqueItems": "yes" }), "uniqueItems"),
        (json!({ "properties": { "$id": { "type": "string" } } }), "properties.$id"),
        (json!({ "examples": [{ "a": { "$ref": "x" } }] }), "examples.0.a.$ref"),
        (json!({ "pattern": "(" }), "pattern"),
        (json!({ "patternProperties": { "[a-": {} } }), "patternProperties"),
    ] {
        assert_eq!(check(&bad).map_err(|e| e.at), Err(at.to_string()), "{bad}");
    }
    let mut deep = json!({ "type": "string" });
    for _ in 0..=schema::MAX_DEPTH {
        deep = json!({ "items": deep });
    }
    assert_eq!(check(&deep).map_err(|e| e.why), Err("nested too deeply"));
}

/// A random schema made only of what the checker accepts.
fn valid_schema(rng: &mut Rng, depth: usize) -> Value {
    let mut map = serde_json::Map::new();
    for _ in 0..rng.below(4) {
        match rng.below(if depth > 3 { 6 } else { 9 }) {
            0 => map.insert("type".into(), json!(rng.pick(&["string", "integer", "object", "null"]))),
            1 => map.insert("minLength".into(), json!(rng.below(9))),
            2 => map.insert("description".into(), json!("d")),
            3 => map.insert("enum".into(), json!([1, "a"])),
            4 => map.insert("required".into(), json!(["a", "b"])),
            5 => map.insert("x-any".into(), json!({ "note": 1 })),
            6 => map.insert("items".into(), valid_schema(rng, depth + 1)),
            7 => map.insert("anyOf".into(), json!([valid_schema(rng, depth + 1), true])),
            _ => map.insert("properties".into(), json!({ "p": valid_schema(rng, depth + 1) })),
        };
    }
    Value::Object(map)
}

/// Puts `bad` (a keyword and value) into a random object of `schema`, returning where.
fn spoil(schema: &mut Value, rng: &mut Rng, bad: (&str, Value), at: String) -> String {
    let Some(map) = schema.as_object_mut() else { return at };
    let subs: Vec<String> = map
        .iter()
        .filter(|(k, v)| v.is_object() && matches!(k.as_str(), "items" | "properties"))
        .map(|(k, _)| k.clone())
        .collect();
    if !subs.is_empty() && rng.below(2) == 0 {
        let key = subs[rng.below(subs.len())].clone();
        let (next, path) = if key == "properties" {
            (map.get_mut("properties").and_then(|p| p.get_mut("p")).unwrap(), format!("{at}.properties.p"))
        } else {
            (map.get_mut("items").unwrap(), format!("{at}.items"))
        };
        return spoil(next, rng, bad, path);
    }
    map.insert(bad.0.to_string(), bad.1);
    format!("{at}.{}", bad.0)
}

#[test]
fn generated_schemas_pass_and_one_bad_keyword_anywhere_is_named() {
    let mut rng = Rng(0x5eed_0011);
    for _ in 0..400 {
        let mut schema = valid_schema(&mut rng, 0);
        assert_eq!(check(&schema), Ok(()), "{schema}");
        let bads = [("type", json!("str")), ("minLength", json!(-3)), ("$ref", json!("#")), ("typo", json!(1))];
        let bad = bads[rng.below(bads.len())].clone();
        let at = spoil(&mut schema, &mut rng, bad, String::new());
        let got = check(&schema).map_err(|e| e.at);
        assert_eq!(got, Err(at.trim_start_matches('.').to_string()), "{schema}");
    }
}

#[test]
fn arbitrary_json_never_panics_the_checker() {
    let mut rng = Rng(0xa11_0bad);
    fn any(rng: &mut Rng, depth: usize) -> Value {
        match rng.below(if depth > 4 { 4 } else { 7 }) {
            0 => Value::Null,
            1 => json!(rng.below(3) == 0),
            2 => json!(rng.next() as i64 % 100),
            3 => json!(rng.pick(&["type", "string", "", "$ref"])),
            4 => Value::Array((0..rng.below(3)).map(|_| any(rng, depth + 1)).collect()),
            _ => {
                let keys = ["type", "items", "properties", "required", "anyOf", "minimum", "q"];
                Value::Object((0..rng.below(4)).map(|_| (rng.pick(&keys).to_string(), any(rng, depth + 1))).collect())
            }
        }
    }
    for _ in 0..2000 {
        let v = any(&mut rng, 0);
        let _ = check(&v);
        let _ = example(&v);
    }
}

#[test]
fn patterns_are_regular_expressions_catalogs_compile() {
    for (pattern, want) in [
        ("^[0-9]+$", true),
        ("^(?:a|b)*?c{2,}d{1,3}$", true),
        ("\\d\\(x\\)", true),
        ("[\\]]", true),
        ("", true),
        ("(", false),
        ("a)", false),
        ("[abc", false),
        ("*a", false),
        ("a|+", false),
        ("a{,2}", false),
        ("a{x}", false),
        ("{2}", false),
        ("a}", false),
        ("]", false),
        ("\\", false),
    ] {
        assert_eq!(schema::is_regex(pattern), want, "{pattern}");
    }
    // Generated: any text built of atoms, groups and quantifiers reads as one; one stray
    // bracket more does not.
    let mut rng = Rng(0x002e_6e3a);
    for _ in 0..500 {
        let mut text = String::new();
        let (mut open, mut atom) = (0, false);
        for _ in 0..rng.below(12) {
            match rng.below(7) {
                0 => text.push_str(rng.pick(&["a", "\\.", "[a-z]", "[^\\]]", "."])),
                1 if atom => {
                    text.push_str(rng.pick(&["*", "+?", "{2}", "{1,}"]));
                    atom = false;
                    continue;
                }
                2 => {
                    text.push_str(rng.pick(&["(", "(?:"]));
                    open += 1;
                    atom = false;
                    continue;
                }
                3 if open > 0 => {
                    text.push(')');
                    open -= 1;
                }
                4 => {
                    text.push('|');
                    atom = false;
                    continue;
                }
                _ => text.push('b'),
            }
            atom = true;
        }
        text.push_str(&")".repeat(open));
        assert!(schema::is_regex(&text), "{text}");
        let broken = format!("{text}{}", rng.pick(&["(", ")", "[", "]", "}"]));
        assert!(!schema::is_regex(&broken), "{broken}");
    }
}

#[test]
fn a_body_no_example_can_be_made_for_must_name_one() {
    let body = json!({ "type": "string", "pattern": "^[0-9]+$" });
    let error = broken(vars(json!({ "POST /d": { "price": "1", "input": { "bodyType": "text", "body": body } } })));
    assert_eq!(error.field, r#"ROUTES["POST /d"].input.body"#);
    assert!(error.cause.contains("example"), "{error}");
    let named = json!({ "type": "string", "pattern": "^[0-9]+$", "example": "42" });
    let c = config(vars(json!({ "POST /d": { "price": "1", "input": { "bodyType": "text", "body": named } } })));
    let ext = route(&c, "POST /d").bazaar.as_ref().unwrap().with_params(json!({}));
    assert_eq!(ext["info"]["input"]["body"], "42");
    let mut hidden = vars(json!({ "POST /d": { "price": "1", "input": { "body": body } } }));
    hidden["DISCOVERY"] = json!({ "bazaar": false });
    assert!(matches!(load(hidden), Setup::Ready(_)), "no bazaar, no example needed");
}

#[test]
fn a_route_that_names_a_document_path_is_refused_and_a_catch_all_leaves_it_free() {
    for pattern in ["GET /openapi.json", "POST /LLMS.txt", "/.well-known/x402"] {
        let error = broken(vars(json!({ pattern: { "price": "1" } })));
        assert!(error.cause.contains("discovery document"), "{pattern}: {error}");
    }
    let mut moved = vars(json!({ "GET /openapi.json": { "price": "1" } }));
    moved["DISCOVERY"] = json!({ "openapi": "/docs/openapi.json" });
    assert!(matches!(load(moved), Setup::Ready(_)), "the document moved away");
    assert!(matches!(load(vars(json!({ "/*": { "price": "1" }, "/:any": { "price": "1" } }))), Setup::Ready(_)));
}

#[test]
fn examples_come_from_the_schema() {
    for (schema, want) in [
        (json!({ "type": "string", "example": "e" }), Some(json!("e"))),
        (json!({ "examples": [3, 4] }), Some(json!(3))),
        (json!({ "enum": ["en", "de"] }), Some(json!("en"))),
        (json!({ "type": "string", "minLength": 3 }), Some(json!("xxx"))),
        (json!({ "type": "string", "maxLength": 0 }), Some(json!(""))),
        (json!({ "type": "integer", "minimum": 5 }), Some(json!(5))),
        (json!({}), Some(json!({}))),
        (json!({ "type": "string", "pattern": "^a" }), None),
        (json!({ "anyOf": [{ "type": "string" }] }), None),
        (json!({ "type": "integer", "exclusiveMinimum": 0, "maximum": 9 }), Some(json!(1))),
        (json!({ "type": "number", "exclusiveMaximum": 0 }), Some(json!(-1))),
        (json!({ "type": "integer", "minimum": 5, "maximum": 4 }), None),
        (json!({ "type": "array", "minItems": 2, "items": { "type": "boolean" } }), Some(json!([false, false]))),
        (json!({ "type": "object", "required": ["a"], "additionalProperties": false }), None),
        (
            json!({ "type": "object", "required": ["a"], "properties": {
                "a": { "type": "boolean" }, "b": { "type": "string" }, "c": { "default": 1 } } }),
            Some(json!({ "a": false, "c": 1 })),
        ),
    ] {
        assert_eq!(example(&schema), want, "{schema}");
    }
}

#[test]
fn route_descriptions_are_refused_where_they_are_wrong() {
    for (route, field) in [
        (
            json!({ "price": "1", "input": { "pathParams": { "nope": {} } } }),
            r#"ROUTES["GET /r/:id"].input.pathParams.nope"#,
        ),
        (json!({ "price": "1", "input": { "paths": {} } }), r#"ROUTES["GET /r/:id"].input.paths"#),
        (json!({ "price": "1", "input": { "body": {} } }), r#"ROUTES["GET /r/:id"].input"#),
        (json!({ "price": "1", "input": [] }), r#"ROUTES["GET /r/:id"].input"#),
        (
            json!({ "price": "1", "input": { "queryParams": { "q": { "type": "word" } } } }),
            r#"ROUTES["GET /r/:id"].input.queryParams.q.type"#,
        ),
        (
            json!({ "price": "1", "input": { "queryParams": { "a b": {} } } }),
            r#"ROUTES["GET /r/:id"].input.queryParams.a b"#,
        ),
        (
            json!({ "price": "1", "output": { "schema": { "$ref": "#/x" } } }),
            r#"ROUTES["GET /r/:id"].output.schema.$ref"#,
        ),
        (json!({ "price": "1", "output": { "examples": [] } }), r#"ROUTES["GET /r/:id"].output.examples"#),
        (json!({ "price": "1", "discoverable": "no" }), r#"ROUTES["GET /r/:id"]"#),
    ] {
        let error = broken(vars(json!({ "GET /r/:id": route })));
        assert_eq!(error.field, field, "{route}: {error}");
    }
    for (pattern, input, ok) in [
        ("POST /s", json!({ "bodyType": "text", "body": { "type": "string" } }), true),
        ("/s", json!({ "body": { "type": "object" } }), true),
        ("PUT /s", json!({ "bodyType": "form-data" }), false),
        ("POST /s", json!({ "bodyType": "xml", "body": {} }), false),
        ("DELETE /s", json!({ "queryParams": {} }), true),
        ("PURGE /s", json!({ "queryParams": {} }), false),
        ("PURGE /s", Value::Null, true),
    ] {
        let mut r = json!({ "price": "1" });
        if !input.is_null() {
            r["input"] = input.clone();
        }
        let got = matches!(load(vars(json!({ pattern: r }))), Setup::Ready(_));
        assert_eq!(got, ok, "{pattern} {input}");
    }
}

#[test]
fn a_methodless_route_is_documented_as_get_or_as_post_with_a_body() {
    let c = config(vars(json!({
        "/a": { "price": "1" },
        "/b": { "price": "1", "input": { "body": { "type": "object" } } },
        "HEAD /c": { "price": "1" },
    })));
    let methods: Vec<&str> = c.routes.iter().map(|(_, r)| r.doc.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "HEAD"]);
}

#[test]
fn discovery_settings_parse_and_refuse() {
    let with = |d: Value| {
        let mut v = vars(json!({ "/a": { "price": "1" } }));
        v["DISCOVERY"] = d;
        load(v)
    };
    let ready = |d: Value| match with(d.clone()) {
        Setup::Ready(c) => c.discovery,
        Setup::Broken { error, .. } => panic!("{d}: {error}"),
    };
    let on = ready(Value::Null);
    assert_eq!(on.doc_at("/openapi.json"), Some(Doc::OpenApi));
    assert_eq!(on.doc_at("/.well-known/x402"), Some(Doc::WellKnown));
    assert_eq!(on.doc_at("/llms.txt"), Some(Doc::Llms));
    assert!(on.bazaar);
    for off in [json!(false), json!("false"), json!(" false ")] {
        let d = ready(off.clone());
        assert!(Doc::ALL.iter().all(|_| d.doc_at("/openapi.json").is_none()) && !d.bazaar, "{off}");
    }
    let custom = ready(json!({ "openapi": "/API/OpenAPI.json", "llmsTxt": false, "title": "Quotes", "bazaar": false }));
    assert_eq!(custom.doc_at("/api/openapi.json"), Some(Doc::OpenApi), "matched by the lower-case key");
    assert_eq!(custom.link(Doc::OpenApi, "https://h"), Some("https://h/API/OpenAPI.json".into()), "linked as written");
    assert_eq!((custom.doc_at("/llms.txt"), custom.doc_at("/openapi.json")), (None, None));
    assert_eq!((custom.title.as_str(), custom.bazaar), ("Quotes", false));
    for bad in [
        json!(1),
        json!("maybe"),
        json!({ "openapi": "openapi.json" }),
        json!({ "openapi": "/a//b" }),
        json!({ "openapi": "/a/../b" }),
        json!({ "openapi": "/a%2eb" }),
        json!({ "openapi": "/a/" }),
        json!({ "openapi": "/" }),
        json!({ "openapi": true }),
        json!({ "openapi": "/.well-known/jwks.json" }),
        json!({ "openapi": "/.well-known/x402/receipts/x" }),
        json!({ "openapi": "/d", "llmsTxt": "/D" }),
        json!({ "openapi": "/_x402/openapi.json" }),
        json!({ "title": "" }),
        json!({ "title": "a\nb" }),
        json!({ "bazaar": "yes" }),
        json!({ "sitemap": "/s" }),
    ] {
        let mut v = vars(json!({ "/a": { "price": "1" } }));
        v["DISCOVERY"] = bad.clone();
        v["ADMIN_PATH"] = json!("/_x402/");
        let error = match Setup::load(
            &v.to_string(),
            crate::config::Secrets {
                receipt_signing_key: Some(KEY),
                admin_token: Some("a-token-of-enough-length"),
                ..Default::default()
            },
        ) {
            Setup::Ready(_) => panic!("{bad} accepted"),
            Setup::Broken { error, .. } => error,
        };
        assert!(error.field.starts_with("DISCOVERY"), "{bad}: {error}");
    }
}

#[test]
fn path_parameters_are_read_from_the_url() {
    let c = config(vars(table()));
    let slots = route(&c, "GET /reports/:id").bazaar.as_ref().unwrap().slots().to_vec();
    for (url, want) in [
        ("https://h/reports/42", json!({ "id": 42 })),
        ("https://h/reports/42?lang=en#x", json!({ "id": 42 })),
        ("https://h/reports/abc", json!({ "id": "abc" })),
        ("https://h/reports/%34%32", json!({ "id": 42 })),
        ("https://h/reports", json!({})),
        ("not a url", json!({})),
    ] {
        assert_eq!(params_for(&slots, url), want, "{url}");
    }
    let files = Bazaar::of(
        &crate::routes::RoutePattern::parse("/files/:owner/*").unwrap(),
        &RouteDoc { input: Some(Input::default()), ..RouteDoc::default() },
        "",
    )
    .unwrap()
    .unwrap();
    let empty = RouteDoc { input: Some(Input::default()), ..RouteDoc::default() };
    assert!(files.with_params(json!({})).get("routeTemplate").is_none(), "a wildcard is no route template");
    assert_eq!(params_for(files.slots(), "https://h/files/ann%20b/x/y"), json!({ "owner": "ann b" }));
    let pattern = crate::routes::RoutePattern::parse("/files/:owner").unwrap();
    let tpl = Bazaar::of(&pattern, &empty, "").unwrap().unwrap().with_params(json!({}));
    assert_eq!(tpl["routeTemplate"], "/files/:owner");
}

#[test]
fn generated_urls_get_their_own_parameters_and_the_template_matches_a_direct_render() {
    let c = config(vars(table()));
    let route = route(&c, "GET /reports/:id");
    let template = ChallengeTemplate::of(route).expect("a template with a parameter slot");
    let mut rng = Rng(0xbaa_2a4);
    let pieces = ["42", "a%2Fb", "%E2%82%AC", "x y", "0", "-7", "%zz", "\"q\"", "a\\b", "%00"];
    for _ in 0..300 {
        let id: String = (0..1 + rng.below(3)).map(|_| rng.pick(&pieces)).collect();
        let query = rng.pick(&["", "?lang=en", "?a=%22&b=</script>"]);
        let url = format!("https://api.example.com/reports/{id}{query}");
        let reason = rng.pick(&[None, Some("insufficient_funds")]);
        let direct = Challenge::new(route, &url, reason);
        assert_eq!(template.header(&url, reason), direct.header(), "{url}");
        let bazaar = bazaar_of(&direct.header()).unwrap();
        assert_eq!(bazaar["info"]["input"]["pathParams"], params_for(route.bazaar.as_ref().unwrap().slots(), &url));
    }
}

#[test]
fn the_bazaar_extension_is_declared_exactly_for_described_discoverable_routes() {
    let c = config(vars(table()));
    let header = |pattern: &str, url: &str| crate::respond::challenge(route(&c, pattern), url, None, None).headers;
    let bazaar = |pattern: &str, url: &str| {
        let headers = header(pattern, url);
        bazaar_of(&headers.iter().find(|(n, _)| *n == "PAYMENT-REQUIRED").unwrap().1)
    };
    let reports = bazaar("GET /reports/:id", "https://h/reports/7").unwrap();
    assert_eq!(
        reports["info"]["input"],
        json!({ "type": "http", "method": "GET", "queryParams": { "lang": "en" }, "pathParams": { "id": 7 } })
    );
    assert_eq!(reports["info"]["output"], json!({ "type": "json", "example": { "id": 42, "summary": "up" } }));
    assert_eq!(reports["routeTemplate"], "/reports/:id");
    assert_eq!(reports["schema"]["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(reports["schema"]["properties"]["input"]["properties"]["method"]["enum"], json!(["GET"]));
    let score = bazaar("POST /api/score", "https://h/api/score").unwrap();
    assert_eq!(score["info"]["input"]["bodyType"], "json");
    assert_eq!(score["info"]["input"]["body"], json!({ "text": "x" }), "required fields made from the schema");
    assert_eq!(score["schema"]["properties"]["input"]["required"], json!(["type", "method", "bodyType", "body"]));
    assert!(score.get("routeTemplate").is_none());
    assert_eq!(bazaar("/files/:owner/*", "https://h/files/a"), None, "no input: no bazaar");
    assert_eq!(bazaar("/hidden/:x", "https://h/hidden/a"), None, "not discoverable: no bazaar");
    let mut off = vars(table());
    off["DISCOVERY"] = json!(false);
    let off = config(off);
    assert!(route(&off, "GET /reports/:id").bazaar.is_none(), "discovery off: no bazaar");
}

#[test]
fn a_bazaar_that_makes_the_header_too_long_is_a_configuration_error() {
    let big: serde_json::Map<String, Value> = (0..120)
        .map(|i| (format!("field_{i}"), json!({ "type": "string", "description": "a long field description" })))
        .collect();
    let routes = json!({ "POST /big": { "price": "1", "input": { "body": { "type": "object", "properties": big } } } });
    let error = broken(vars(routes.clone()));
    assert_eq!(error.field, r#"ROUTES["POST /big"].input"#);
    assert!(error.cause.contains("PAYMENT-REQUIRED header is"), "{error}");
    let mut hidden = routes;
    hidden["POST /big"]["discoverable"] = json!(false);
    assert!(matches!(load(vars(hidden)), Setup::Ready(_)), "kept out of discovery, it is fine");
}

#[test]
fn the_documents_list_the_discoverable_routes() {
    let c = config(vars(table()));
    let origin = "https://api.example.com";
    let wk: Value = serde_json::from_str(&render(&c, Doc::WellKnown, origin)).unwrap();
    assert_eq!(wk["version"], 1);
    // (The table's JSON object is read in key order here.)
    assert_eq!(wk["resources"], json!(["GET /files/:owner/*", "GET /reports/:id", "POST /api/score"]));
    assert_eq!(wk["items"][1]["urlTemplate"], "https://api.example.com/reports/{id}");
    assert_eq!(wk["items"][1]["accepts"][0]["amount"], "50000");
    assert_eq!(wk["items"][1]["accepts"][0]["price"], "$0.05");
    assert_eq!(wk["items"][2]["accepts"][0]["network"], "eip155:84532");
    assert!(wk["instructions"].as_str().unwrap().contains("PAYMENT-SIGNATURE"));

    let api: Value = serde_json::from_str(&render(&c, Doc::OpenApi, origin)).unwrap();
    assert_eq!(api["openapi"], "3.1.0");
    assert_eq!(api["servers"][0]["url"], origin);
    let paths: Vec<&String> = api["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/api/score", "/files/{owner}/{rest}", "/reports/{id}"]);
    let get = &api["paths"]["/reports/{id}"]["get"];
    assert_eq!(
        get["parameters"][0],
        json!({ "name": "id", "in": "path", "required": true, "description": "report id", "schema": { "type": "integer", "description": "report id" } })
    );
    assert_eq!(get["parameters"][1]["in"], "query");
    assert_eq!(get["x-payment-info"]["amount"], "50000");
    assert_eq!(get["x-payment-info"]["scheme"], "exact");
    assert_eq!(get["x-payment-info"]["payTo"], "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
    let post = &api["paths"]["/api/score"]["post"];
    assert_eq!(post["requestBody"]["content"]["application/json"]["schema"]["required"], json!(["text"]));

    let llms = render(&c, Doc::Llms, origin);
    assert!(llms.starts_with("# Paid API\n"), "{llms}");
    assert!(llms.contains("`GET /reports/:id`: A market report. $0.05 USDC (50000 atomic units)"), "{llms}");
    assert!(llms.contains("(https://api.example.com/openapi.json)") && llms.contains("/.well-known/x402)"), "{llms}");
    for doc in [render(&c, Doc::WellKnown, origin), render(&c, Doc::OpenApi, origin), llms] {
        assert!(!doc.contains("hidden"), "a route kept out of discovery is in no document");
    }
}

#[test]
fn document_answers_revalidate_by_etag_and_render_once_per_origin() {
    let c = config(vars(table()));
    let get = |origin: &str, method: &str, inm: Option<&str>| answer(&c, Doc::OpenApi, origin, method, inm);
    let first = get("https://a", "GET", None);
    assert_eq!(first.status, 200);
    let etag = first.headers.iter().find(|(n, _)| *n == "ETag").unwrap().1.clone();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(get("https://a", "GET", Some(&etag)).status, 304);
    assert_eq!(get("https://a", "GET", Some(&etag)).body, "");
    assert_eq!(get("https://a", "GET", Some(&format!("\"x\", W/{etag}"))).status, 304);
    assert_eq!(get("https://a", "GET", Some("*")).status, 304);
    assert_eq!(get("https://a", "GET", Some("\"other\"")).status, 200);
    let head = get("https://a", "HEAD", None);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(get("https://a", "POST", None).status, 405);
    let other = get("https://b", "GET", None);
    assert!(other.body.contains("https://b") && !other.body.contains("https://a"), "each origin its own document");
    assert_ne!(other.headers.iter().find(|(n, _)| *n == "ETag").unwrap().1, etag);
    // Rendered once, for the slot; each answer fills its origin in.
    let template = c.discovery.page(Doc::OpenApi, || panic!("rendered twice"));
    assert!(template.body.contains(super::ORIGIN_SLOT) && !template.body.contains("https://b"));
    // A Host a JSON string must escape is escaped (the document stays JSON).
    let odd = get("https://x\"y\\z", "GET", None);
    let parsed: serde_json::Value = serde_json::from_str(&odd.body).expect("still JSON");
    assert_eq!(parsed["servers"][0]["url"], "https://x\"y\\z");
    for (list, tag, want) in [
        ("\"a\"", "\"a\"", true),
        ("W/\"a\"", "\"a\"", true),
        ("\"a\" , \"b\"", "\"b\"", true),
        ("\"ab\"", "\"a\"", false),
        ("", "\"a\"", false),
    ] {
        assert_eq!(matches_etag(list, tag), want, "{list}");
    }
}
