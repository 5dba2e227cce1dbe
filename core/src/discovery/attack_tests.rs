//! Hostile review of discovery: route tables whose documents break their own formats
//! (OpenAPI paths and operation ids, the resource list), document paths that shadow a
//! priced route or cannot be reached at their own link, examples the bazaar makes that
//! do not satisfy the schema they are made from, the render cache under alternating
//! origins, and generated inputs for the parsers of untrusted input this change adds
//! (`matches_etag`, `params_for`, and the challenge template's parameter slot).
//!
//! A test here that fails names a finding of the review; one that passes is an attack the
//! code holds against.

use serde_json::{json, Value};

use super::bazaar::params_for;
use super::docs::{matches_etag, render};
use super::schema::example;
use super::*;
use crate::challenge::{Challenge, ChallengeTemplate};
use crate::codec::base64_decode;
use crate::config::{Config, Setup};
use crate::decide::{decide, Decision, RequestParts};
use crate::testkit::Rng;

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

/// The configuration text with `routes` as written (a JSON object text, so that the
/// table's order is the order written), and `extra` members (`"K": v,` each).
fn text(routes: &str, extra: &str) -> String {
    format!(
        r#"{{"PAY_TO":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","NETWORK":"eip155:84532",
        "ASSET":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","ASSET_NAME":"USDC","ASSET_VERSION":"2",
        "ASSET_DECIMALS":"6","FACILITATOR_URL":"paper","ORIGIN_URL":"http://127.0.0.1:8788",{extra}
        "ROUTES":{routes}}}"#
    )
}

fn load(routes: &str, extra: &str) -> Setup {
    Setup::load(&text(routes, extra), Some(KEY))
}

fn config(routes: &str) -> Config {
    match load(routes, "") {
        Setup::Ready(c) => c,
        Setup::Broken { error, .. } => panic!("broken: {error}"),
    }
}

fn openapi(c: &Config) -> Value {
    serde_json::from_str(&render(c, Doc::OpenApi, "https://api.example.com")).unwrap()
}

/// An OpenAPI path with every `{name}` made `{}`: two paths equal so are "identical"
/// for OpenAPI 3.1 ("Templated paths with the same hierarchy but different templated
/// names MUST NOT exist as they are identical").
fn hierarchy(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn openapi_never_has_two_paths_of_the_same_hierarchy() {
    for routes in [
        // A GET and a POST of one resource, the parameter named differently.
        r#"{"GET /r/:id":{"price":"1"},"POST /r/:x":{"price":"1"}}"#,
        // A parameter and a wildcard at the same place.
        r#"{"GET /a/:id":{"price":"1"},"POST /a/*":{"price":"1"}}"#,
    ] {
        let api = openapi(&config(routes));
        let paths: Vec<&String> = api["paths"].as_object().unwrap().keys().collect();
        for (i, p) in paths.iter().enumerate() {
            for q in &paths[..i] {
                assert_ne!(hierarchy(p), hierarchy(q), "{routes}: {p} and {q} are one OpenAPI path");
            }
        }
    }
}

#[test]
fn openapi_operation_ids_are_unique() {
    // OpenAPI 3.1: "The id MUST be unique among all operations described in the API."
    for routes in [
        r#"{"GET /a-b":{"price":"1"},"GET /a_b":{"price":"1"}}"#,
        r#"{"GET /a.b":{"price":"1"},"GET /a/b":{"price":"1"}}"#,
        r#"{"GET /r/:id":{"price":"1"},"GET /r/id":{"price":"1"}}"#,
    ] {
        let api = openapi(&config(routes));
        let mut ids = Vec::new();
        for item in api["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.push(op["operationId"].as_str().unwrap().to_string());
            }
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{routes}: operation ids {ids:?}");
    }
}

#[test]
fn openapi_paths_hold_for_odd_but_legal_patterns() {
    // Holds: the root, `;`, `:` and braces inside literals, a parameter named rest next to
    // a wildcard; every `{name}` of a path has its path parameter, and none is left over.
    let c = config(
        r#"{"GET /":{"price":"1"},"GET /a;b/:id":{"price":"1"},"GET /x{y}/a:b":{"price":"1"},
        "GET /f/:rest/*":{"price":"1"},"/m":{"price":"1"},"GET /m":{"price":"2"}}"#,
    );
    let api = openapi(&c);
    for (path, item) in api["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let names: Vec<String> =
            path.split('{').skip(1).map(|s| s.split('}').next().unwrap_or_default().to_string()).collect();
        assert_eq!(path.matches('{').count(), path.matches('}').count(), "{path}");
        for op in item.as_object().unwrap().values() {
            let declared: Vec<String> = op["parameters"]
                .as_array()
                .map(|a| a.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap().into()).collect())
                .unwrap_or_default();
            assert_eq!(declared, names, "{path}");
        }
    }
    assert!(api["paths"]["/"]["get"].is_object());
    assert_eq!(api["paths"]["/m"].as_object().unwrap().len(), 1, "one GET at /m");
}

#[test]
fn the_resource_list_names_each_resource_once_with_the_price_it_is_charged() {
    // A methodless route and a GET route at one path: the methodless one is documented as
    // GET, so the list (and llms.txt) offer "GET /a" twice at two prices, though a GET
    // is charged by the first route alone.
    let c = config(r#"{"GET /a":{"price":"$2"},"/a":{"price":"$1"}}"#);
    let wk: Value = serde_json::from_str(&render(&c, Doc::WellKnown, "https://h")).unwrap();
    let names: Vec<&str> = wk["resources"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "{wk}");
}

fn req<'a>(method: &'a str, path: &'a str) -> RequestParts<'a> {
    RequestParts { method, path, scheme: "http", host: "127.0.0.1:8787", ..Default::default() }
}

fn what(setup: &Setup, method: &str, path: &str) -> String {
    match decide(setup, &req(method, path)) {
        Decision::Discovery { doc, .. } => format!("discovery {doc:?}"),
        Decision::Challenge { route, .. } => format!("challenge {}", route.pattern),
        Decision::Free { .. } => "free".into(),
        Decision::PaperBalances { address, .. } => format!("paper balances {address}"),
        Decision::Refuse(f) => format!("refuse {}", f.reason()),
        _ => "other".into(),
    }
}

#[test]
fn a_route_priced_at_a_document_path_is_not_silently_taken_over() {
    // The operator prices exactly /openapi.json and POST /llms.txt; the configuration loads,
    // and the paywall answers its own document (or 405) instead: the priced resource is
    // unreachable and nothing says so. Expected: refused at load, or the route wins.
    for (routes, method, path) in [
        (r#"{"GET /openapi.json":{"price":"$1"}}"#, "GET", "/openapi.json"),
        (r#"{"POST /llms.txt":{"price":"$1"}}"#, "POST", "/llms.txt"),
        (r#"{"GET /.well-known/x402":{"price":"$1"}}"#, "GET", "/.well-known/x402"),
    ] {
        let setup = load(routes, "");
        match &setup {
            Setup::Ready(_) => {
                assert!(what(&setup, method, path).starts_with("challenge"), "{routes}: {}", what(&setup, method, path))
            }
            Setup::Broken { error, .. } => {
                assert!(error.cause.contains("where a discovery document is served"), "{routes}: {error}")
            }
        }
    }
}

#[test]
fn a_document_path_is_reachable_at_its_own_link() {
    // `?` and `#` pass the "plain path" check: the link then names another path (the part
    // before `?`), and the document is served only at `%3F`/`%23` spellings.
    for path in ["/openapi.json?v=1", "/docs#api"] {
        let extra = format!(r#""DISCOVERY":{{"openapi":"{path}"}},"#);
        let setup = load(r#"{"GET /p":{"price":"1"}}"#, &extra);
        assert!(matches!(setup, Setup::Broken { .. }), "{path} accepted as a document path");
    }
}

#[test]
fn documents_render_once_per_isolate_however_many_hosts_ask() {
    // Without PUBLIC_ORIGIN the origin is the request's Host, which the client picks: a
    // client rotating hosts must not make every request render the documents again (the
    // render walks every pair of routes). One render, filled per host.
    let c = config(r#"{"GET /p":{"price":"1"}}"#);
    let first = super::docs::answer(&c, Doc::OpenApi, "https://h0", "GET", None);
    for i in 1..50 {
        let host = format!("https://h{i}");
        let page = super::docs::answer(&c, Doc::OpenApi, &host, "GET", None);
        assert!(page.body.contains(&host) && !page.body.contains("https://h0\""), "{i}");
        assert_eq!(
            page.body.len(),
            first.body.len() + (host.len() - "https://h0".len()) * first.body.matches("https://h0").count()
        );
    }
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.discovery.page(Doc::OpenApi, || panic!("rendered again")).body.clone()
    }));
    assert!(rendered.is_ok(), "rendered again for another host");
}

/// Whether `value` satisfies the few keywords the example maker reads (a reference written
/// apart from `schema::example`).
fn satisfies(schema: &Value, value: &Value) -> bool {
    let n = |k: &str| schema.get(k).and_then(Value::as_f64);
    let ok_type = match schema.get("type").and_then(Value::as_str) {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        Some("null") => value.is_null(),
        _ => true,
    };
    let len = value.as_str().map(|s| s.chars().count() as f64);
    let x = value.as_f64();
    let items = value.as_array().map(|a| a.len() as f64);
    let required_ok = schema
        .get("required")
        .and_then(Value::as_array)
        .is_none_or(|r| r.iter().all(|k| value.get(k.as_str().unwrap_or_default()).is_some()));
    ok_type
        && required_ok
        && n("minLength").is_none_or(|m| len.is_none_or(|l| l >= m))
        && n("maxLength").is_none_or(|m| len.is_none_or(|l| l <= m))
        && n("minimum").is_none_or(|m| x.is_none_or(|x| x >= m))
        && n("maximum").is_none_or(|m| x.is_none_or(|x| x <= m))
        && n("exclusiveMinimum").is_none_or(|m| x.is_none_or(|x| x > m))
        && n("exclusiveMaximum").is_none_or(|m| x.is_none_or(|x| x < m))
        && n("minItems").is_none_or(|m| items.is_none_or(|l| l >= m))
}

#[test]
fn examples_made_from_a_schema_satisfy_it() {
    // The bazaar's body and query examples are made from the schema when it names none,
    // and catalogs validate them against the same schema: each of these legal schemas
    // gets an example it refuses.
    let mut wrong = Vec::new();
    for schema in [
        json!({ "type": "string", "minLength": 100 }),
        json!({ "type": "integer", "exclusiveMinimum": 0 }),
        json!({ "type": "integer", "maximum": -1 }),
        json!({ "type": "integer", "minimum": 0.5 }),
        json!({ "type": "number", "exclusiveMinimum": 0 }),
        json!({ "type": "array", "minItems": 1 }),
        json!({ "type": "object", "required": ["a"] }),
        json!({ "type": "object", "required": ["a"], "properties": { "a": { "type": ["string", "null"] } } }),
    ] {
        // Each can be satisfied from the keywords the maker honours: none may be missing.
        match example(&schema) {
            Some(e) if satisfies(&schema, &e) => {}
            Some(e) => wrong.push(format!("{schema} -> {e}")),
            None => wrong.push(format!("{schema} -> no example")),
        }
    }
    assert!(wrong.is_empty(), "examples that fail their schema:\n{}", wrong.join("\n"));
}

#[test]
fn llms_txt_keeps_a_route_in_its_code_span() {
    // A literal may hold a backtick (printable ASCII): the resource's code span ends there
    // and the rest of the line reads as Markdown.
    let c = config(r#"{"GET /a`b":{"price":"1","description":"d"}}"#);
    let page = render(&c, Doc::Llms, "https://h");
    let line = page.lines().find(|l| l.starts_with("- ")).unwrap();
    assert!(!line.starts_with("- `GET /a`b`"), "the code span breaks: {line}");
}

// ---- generated inputs -------------------------------------------------------------

/// A reference If-None-Match reader written from RFC 9110 §13.1.2 (`*` or a list of
/// entity tags, weak comparison), apart from `docs::matches_etag`.
fn reference_match(list: &str, etag: &str) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let want = etag.trim_matches('"');
    let bytes = list.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t' || bytes[i] == b',') {
            i += 1;
        }
        if bytes[i..].starts_with(b"W/") {
            i += 2;
        }
        if i >= bytes.len() || bytes[i] != b'"' {
            // Not an entity tag: skip to the next comma.
            while i < bytes.len() && bytes[i] != b',' {
                i += 1;
            }
            continue;
        }
        let start = i + 1;
        let Some(len) = list[start..].find('"') else { return false };
        let tag = &list[start..start + len];
        i = start + len + 1;
        // The member ends here (or with spaces before a comma).
        let rest = list[i..].trim_start_matches([' ', '\t']);
        if (rest.is_empty() || rest.starts_with(',')) && tag == want {
            return true;
        }
        // A malformed member (more after its tag) counts for nothing.
        while i < bytes.len() && bytes[i] != b',' {
            i += 1;
        }
    }
    false
}

#[test]
fn generated_if_none_match_lists_are_read_as_rfc_9110_reads_them() {
    // Well-formed lists (members `*`-free entity tags, weak or not, some with commas and
    // spaces inside the quotes, joined by commas and optional whitespace) are judged as the
    // reference reads them; any text at all never panics the reader.
    let mut rng = Rng(0xe7a6_1101);
    let etag = "\"AbC-_9xyz012\"";
    let tags =
        ["\"AbC-_9xyz012\"", "\"other\"", "\"AbC\"", "\"a,b\"", "\",AbC-_9xyz012,\"", "\"\"", "\"AbC-_9xyz012 \""];
    for _ in 0..5000 {
        let members: Vec<String> =
            (0..1 + rng.below(4)).map(|_| format!("{}{}", rng.pick(&["", "W/"]), rng.pick(&tags))).collect();
        let mut list = String::new();
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                list.push_str(rng.pick(&[",", ", ", " , ", ",\t"]));
            }
            list.push_str(m);
        }
        let list = format!("{}{list}{}", rng.pick(&["", " "]), rng.pick(&["", " "]));
        assert_eq!(matches_etag(&list, etag), reference_match(&list, etag), "{list:?}");
    }
    let parts = ["\"", "W/", "w/", "*", ",", " ", "\t", "AbC-_9xyz012", "\u{0}", "é", "\"AbC-_9xyz012\""];
    for _ in 0..5000 {
        let list: String = (0..rng.below(8)).map(|_| rng.pick(&parts)).collect();
        let _ = matches_etag(&list, etag);
    }
}

fn byte_segment(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..1 + rng.below(6) {
        match rng.below(6) {
            0 => s.push_str(&format!("%{:02X}", rng.below(256))),
            1 => s.push_str(rng.pick(&["%", "%4", "%zz", "%%41"])),
            2 => s.push_str(rng.pick(&["1", "-2", "3.5", "1e3", "true", "false", "null", "\"", "</script>"])),
            3 => s.push(char::from(b' ' + rng.below(95) as u8)),
            4 => s.push_str(rng.pick(&["é", "\u{1}", "\u{1}params\u{1}", "\u{2028}"])),
            _ => s.push_str(&"9".repeat(rng.below(30))),
        }
    }
    s.replace(['/', '?', '#'], "_")
}

#[test]
fn generated_urls_never_break_params_for_or_the_template() {
    // Typed path parameters (integer, number, boolean, string), arbitrary bytes escaped or
    // not (invalid UTF-8, bad escapes, slot markers): params_for never panics, keys are the
    // slot names, typed values only where the text reads as that type, and the template's
    // header equals a direct render.
    let c = config(
        r#"{"GET /t/:i/:n/:b/:s":{"price":"1","input":{"pathParams":{
            "i":{"type":"integer"},"n":{"type":"number"},"b":{"type":"boolean"},"s":{"type":"string"}}}}}"#,
    );
    let route = c.routes.iter().next().unwrap().1;
    let bazaar = route.bazaar.as_ref().unwrap();
    let template = ChallengeTemplate::of(route).expect("a template");
    let mut rng = Rng(0x0bad_f00d);
    for _ in 0..1500 {
        let segs: Vec<String> = (0..rng.below(6)).map(|_| byte_segment(&mut rng)).collect();
        let query = rng.pick(&["", "?q=%22", "?a=</script>", "#frag"]);
        let url = format!("{}/t/{}{query}", rng.pick(&["https://h", "http://h:1", "h", ""]), segs.join("/"));
        let params = params_for(bazaar.slots(), &url);
        let map = params.as_object().unwrap();
        for (k, v) in map {
            assert!(["i", "n", "b", "s"].contains(&k.as_str()), "{url}: {k}");
            match k.as_str() {
                "s" => assert!(v.is_string(), "{url}"),
                "i" => assert!(v.is_i64() || v.is_string(), "{url}"),
                "n" => assert!(v.is_number() || v.is_string(), "{url}"),
                _ => assert!(v.is_boolean() || v.is_string(), "{url}"),
            }
        }
        let reason = rng.pick(&[None, Some("insufficient_funds")]);
        let direct = Challenge::new(route, &url, reason);
        assert_eq!(template.header(&url, reason), direct.header(), "{url}");
        let v2: Value = serde_json::from_slice(&base64_decode(&direct.header()).unwrap()).unwrap();
        assert_eq!(v2["extensions"]["bazaar"]["info"]["input"]["pathParams"], params, "{url}");
    }
}

#[test]
fn a_closing_script_tag_in_a_path_parameter_stays_inside_the_page_s_json() {
    let c = config(r#"{"GET /r/:id":{"price":"1","input":{"pathParams":{"id":{"type":"string"}}}}}"#);
    let route = c.routes.iter().next().unwrap().1;
    let url = "https://h/r/%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%3C!--";
    let page = "<script type=\"application/json\">{{PAYMENT_REQUIRED_JSON}}</script>";
    let reply = crate::respond::challenge(route, url, None, Some(page));
    assert_eq!(reply.body.matches("</script").count(), 1, "{}", reply.body);
    assert!(!reply.body.contains("<!--") && !reply.body.contains("<script>"), "{}", reply.body);
}

#[test]
fn a_made_example_stays_small_however_items_nest() {
    // 16 items per level, 8 levels: 16^8 strings of 256 bytes if copied out in full.
    let mut schema = json!({ "type": "string", "minLength": 256 });
    for _ in 0..8 {
        schema = json!({ "type": "array", "minItems": 16, "items": schema });
    }
    assert_eq!(example(&schema), None, "a nested example past the budget is refused");
    // Within the budget, the example is made whole.
    let mut small = json!({ "type": "string", "minLength": 3 });
    for _ in 0..2 {
        small = json!({ "type": "array", "minItems": 16, "items": small });
    }
    let made = example(&small).expect("16 × 16 strings fit the budget");
    assert_eq!(made.as_array().map(Vec::len), Some(16));
    assert_eq!(made[15].as_array().map(Vec::len), Some(16));
    assert_eq!(made[15][15], json!("xxx"));
}
