//! Edge conversions that need JavaScript, run under node by `wasm-bindgen-test`:
//! bindings → setup (order of the route table kept), core replies → `Response`, the paid
//! response assembly, and the fetch deadline.

use std::time::Duration;

use crate::bindings::Env;
use js_sys::JSON;
use wasm_bindgen_test::wasm_bindgen_test;
use x402_edge_core::config::Setup;
use x402_edge_core::respond::Reply;
use x402_edge_core::respond::Settlement;
use x402_edge_core::x402::X402Version;

use crate::{bindings, net, reply};

const ENV: &str = r#"{
  "PAY_TO": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
  "NETWORK": "eip155:84532",
  "ASSET": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
  "ASSET_NAME": "USDC", "ASSET_VERSION": "2", "ASSET_DECIMALS": 6,
  "FACILITATOR_URL": "paper",
  "ORIGIN_URL": "http://127.0.0.1:8788",
  "ROUTES": { "/a/b": { "price": "1" }, "/a/*": { "price": "2" }, "GET /z": { "price": "$0.5" } },
  "RECEIPT_SIGNING_KEY": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  "X402_KV": {}
}"#;

fn env(json: &str) -> Env {
    Env::new(JSON::parse(json).unwrap())
}

#[wasm_bindgen_test]
fn bindings_become_a_ready_setup_in_table_order() {
    let Setup::Ready(config) = bindings::load(&env(ENV)) else { panic!("setup refused") };
    let order: Vec<String> = config.routes.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(order, ["/a/b", "/a/*", "GET /z"]);
    assert_eq!(config.routes.find("GET", "/a/b").unwrap().1.options[0].amount.0, 1);
    assert_eq!(config.routes.find("GET", "/z").unwrap().1.options[0].amount.0, 500_000);
}

#[wasm_bindgen_test]
fn a_missing_secret_or_bad_var_is_a_broken_setup() {
    let no_key = ENV.replace("\"RECEIPT_SIGNING_KEY\"", "\"UNUSED\"");
    assert!(
        matches!(bindings::load(&env(&no_key)), Setup::Broken { ref error, .. } if error.field == "RECEIPT_SIGNING_KEY")
    );
    let bad = ENV.replace("\"ASSET_DECIMALS\": 6", "\"ASSET_DECIMALS\": true");
    assert!(matches!(bindings::load(&env(&bad)), Setup::Broken { ref error, .. } if error.field == "ASSET_DECIMALS"));
}

/// The whole body of a response, as text.
async fn text(response: &web_sys::Response) -> String {
    net::body_text(response).await.unwrap()
}

#[wasm_bindgen_test]
async fn replies_become_responses() {
    let r = reply::quick(&Reply {
        status: 402,
        headers: vec![("PAYMENT-REQUIRED", "e30=".into()), ("Cache-Control", "no-store".into())],
        body: "{\"x402Version\":1}".into(),
    })
    .unwrap();
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers().get("payment-required").unwrap().as_deref(), Some("e30="));
    assert_eq!(r.headers().get("cache-control").unwrap().as_deref(), Some("no-store"));
    assert_eq!(text(&r).await, "{\"x402Version\":1}");
    let empty = reply::quick(&Reply { status: 204, headers: vec![], body: String::new() }).unwrap();
    assert_eq!(empty.status(), 204);
    assert!(empty.body().is_none());
    // The headers cross as "name\nvalue\n…": a line break in either is refused, never split.
    for (name, value) in [("X-A", "1\nX-Injected: 2"), ("X-A\r", "1")] {
        let bad = Reply { status: 200, headers: vec![(name, value.into())], body: String::new() };
        assert!(reply::quick(&bad).is_err(), "{name:?}: {value:?}");
    }
}

#[wasm_bindgen_test]
async fn paid_response_keeps_the_origin_and_adds_settlement_headers() {
    let headers = web_sys::Headers::new().unwrap();
    headers.set("Content-Type", "text/plain").unwrap();
    headers.set("X-Origin", "yes").unwrap();
    let init = web_sys::ResponseInit::new();
    init.set_status(201);
    init.set_headers(&headers.into());
    let origin = web_sys::Response::new_with_opt_str_and_init(Some("paid content"), &init).unwrap();
    let settlement = Settlement { header: "c2V0dGxlZA==".into(), receipt: "a.b.c".into(), version: X402Version::V1 };
    let paid = reply::paid(&origin, &settlement).unwrap();
    assert_eq!(paid.status(), 201);
    let h = paid.headers();
    assert_eq!(h.get("x-origin").unwrap().as_deref(), Some("yes"));
    assert_eq!(h.get("payment-response").unwrap().as_deref(), Some("c2V0dGxlZA=="));
    assert_eq!(h.get("x-payment-response").unwrap().as_deref(), Some("c2V0dGxlZA=="));
    assert_eq!(h.get("payment-receipt").unwrap().as_deref(), Some("a.b.c"));
    assert_eq!(text(&paid).await, "paid content");
}

#[wasm_bindgen_test]
async fn deadlines_cut_slow_work_and_keep_fast_work() {
    let fast = net::with_deadline(async { 7 }, Duration::from_millis(50)).await;
    assert_eq!(fast, Some(7));
    let slow = net::with_deadline(std::future::pending::<u8>(), Duration::from_millis(20)).await;
    assert_eq!(slow, None);
}

#[wasm_bindgen_test]
async fn stored_copies_are_replayed_with_settlement_headers() {
    use x402_edge_core::flow::Delivery;
    use x402_edge_core::once::StoredResponse;

    let copy = StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "\"v1\"".into()),
            ("vary".into(), "a".into()),
            ("vary".into(), "b".into()),
            // An origin's own header of that name is replaced by the settlement's.
            ("Payment-Receipt".into(), "forged".into()),
        ],
        body: Some(b"{\"ok\":true}".to_vec()),
    };
    let settlement = Settlement { header: "cGFpZA==".into(), receipt: "h.p.s".into(), version: X402Version::V2 };
    let r = reply::delivered(Delivery::Stored(copy), &settlement).unwrap();
    assert_eq!(r.status(), 201);
    let h = r.headers();
    assert_eq!(h.get("etag").unwrap().as_deref(), Some("\"v1\""));
    assert_eq!(h.get("vary").unwrap().as_deref(), Some("a, b"));
    assert_eq!(h.get("payment-response").unwrap().as_deref(), Some("cGFpZA=="));
    assert_eq!(h.get("payment-receipt").unwrap().as_deref(), Some("h.p.s"));
    assert_eq!(h.get("x-payment-response").unwrap(), None);
    assert_eq!(h.get("access-control-allow-origin").unwrap().as_deref(), Some("*"));
    assert_eq!(text(&r).await, "{\"ok\":true}");
}

#[wasm_bindgen_test]
fn origin_requests_carry_the_method_as_sent_or_refuse_it_as_unsupported() {
    use x402_edge_core::config::OriginSetting;
    use x402_edge_core::error::{Failure, RequestError};

    use crate::origin::{Body, Outbound};

    let req = web_sys::Request::new_with_str("http://paywall.test/free/x?q=1").unwrap();
    let raw = req.url();
    let url = x402_edge_core::http::RequestUrl::parse(&raw).unwrap();
    let origin = OriginSetting::Url("http://127.0.0.1:9".into());
    let body =
        Body::Read(crate::inbound::ReadBody { bytes: b"a=1".to_vec(), js: js_sys::Uint8Array::from(&b"a=1"[..]) });
    // Node's Request (under wasm-bindgen-test) forbids TRACE, TRACK and CONNECT, as some
    // runtimes do: those are the runtime's limit, a 501, never a 500.
    for (method, want) in [
        ("PROPFIND", Ok("PROPFIND")),
        ("QUERY", Ok("QUERY")),
        ("patch", Ok("patch")),
        ("post", Ok("POST")),
        ("TRACK", Err(Failure::Request(RequestError::MethodNotSupported))),
        ("CONNECT", Err(Failure::Request(RequestError::MethodNotSupported))),
        ("BAD METHOD", Err(Failure::Request(RequestError::MethodNotSupported))),
    ] {
        let outbound = Outbound { req: &req, url, method, path: "/free/x", origin: &origin, secret: None, body: &body };
        let got = outbound.build(None).map(|r| r.method());
        assert_eq!(got.as_deref().map_err(Clone::clone), want.map_err(|e: Failure| e), "{method}");
    }
    let get = Outbound { req: &req, url, method: "GET", path: "/a%20b", origin: &origin, secret: None, body: &body };
    let built = get.build(None).unwrap();
    assert_eq!(built.url(), "http://127.0.0.1:9/a%20b?q=1");
    assert!(built.body().is_none(), "a GET carries no body");
}

#[wasm_bindgen_test]
async fn a_remembered_challenge_is_the_one_of_its_route_and_url() {
    let made = std::cell::Cell::new(0);
    let reply = |url: &str| {
        made.set(made.get() + 1);
        Reply {
            status: 402,
            headers: vec![("PAYMENT-REQUIRED", format!("for {url}"))],
            body: format!("{{\"url\":\"{url}\"}}"),
        }
    };
    for (pattern, url, renders) in [
        ("GET /t-a", "u1", 1),
        ("GET /t-a", "u1", 1),
        ("GET /t-a", "u2", 2),
        ("GET /t-b", "u2", 3),
        ("GET /t-b", "u2", 3),
    ] {
        let r = reply::challenge(pattern, url, || reply(url)).unwrap();
        assert_eq!(r.status(), 402);
        assert_eq!(r.headers().get("payment-required").unwrap(), Some(format!("for {url}")), "{pattern} {url}");
        assert_eq!(text(&r).await, format!("{{\"url\":\"{url}\"}}"), "{pattern} {url}");
        assert_eq!(made.get(), renders, "{pattern} {url}: rendered again only for another route or URL");
    }
}

#[wasm_bindgen_test]
fn origin_requests_drop_payment_and_override_headers() {
    use x402_edge_core::config::OriginSetting;

    use crate::inbound::Inbound;
    use crate::origin::{Body, Outbound};

    let headers = web_sys::Headers::new().unwrap();
    for (name, value) in [("X-HTTP-Method-Override", "GET"), ("Payment-Signature", "e30="), ("X-Kept", "1")] {
        headers.set(name, value).unwrap();
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers.into());
    let req = web_sys::Request::new_with_str_and_init("http://paywall.test/free/x", &init).unwrap();
    let inbound = Inbound::read(&req).unwrap();
    let origin = OriginSetting::Url("http://127.0.0.1:9".into());
    let method = &inbound.method;
    let outbound = Outbound {
        req: &req,
        url: inbound.url(),
        method,
        path: "/free/x",
        origin: &origin,
        secret: None,
        body: &Body::Stream,
    };
    let sent = outbound.build(None).unwrap().headers();
    assert!(!sent.has("x-http-method-override").unwrap());
    assert!(!sent.has("payment-signature").unwrap());
    assert_eq!(sent.get("x-kept").unwrap().as_deref(), Some("1"));
}

#[wasm_bindgen_test]
fn origin_requests_carry_our_secret_never_the_clients_copies() {
    use x402_edge_core::config::{OriginSecret, OriginSetting};

    use crate::inbound::Inbound;
    use crate::origin::{Body, Outbound};

    let headers = web_sys::Headers::new().unwrap();
    for (name, value) in
        [("Payment-Context", "forged.jwt.value"), ("X402-Origin-Secret", "guessed-by-the-client"), ("X-Kept", "1")]
    {
        headers.set(name, value).unwrap();
    }
    let init = web_sys::RequestInit::new();
    init.set_headers(&headers.into());
    let req = web_sys::Request::new_with_str_and_init("http://paywall.test/free/x", &init).unwrap();
    let inbound = Inbound::read(&req).unwrap();
    let to = |origin, secret| Outbound {
        req: &req,
        url: inbound.url(),
        method: &inbound.method,
        path: "/free/x",
        origin,
        secret,
        body: &Body::Stream,
    };
    let origin = OriginSetting::Url("http://127.0.0.1:9/base".into());
    let secret = OriginSecret::parse("the-operators-own-secret").unwrap().unwrap();
    for configured in [None, Some(&secret)] {
        let outbound = to(&origin, configured);
        assert_eq!(outbound.audience(), "http://127.0.0.1:9");
        assert_eq!(outbound.origin_path(), "/base/free/x", "the path the origin receives");
        let sent = outbound.build(None).unwrap().headers();
        assert!(!sent.has("payment-context").unwrap(), "a client's context never reaches the origin");
        assert_eq!(
            sent.get(x402_edge_core::config::ORIGIN_SECRET_HEADER).unwrap().as_deref(),
            configured.map(OriginSecret::expose),
            "ours, or none at all"
        );
        assert_eq!(sent.get("x-kept").unwrap().as_deref(), Some("1"));
    }
    assert_eq!(to(&OriginSetting::SameSite, None).audience(), "http://paywall.test");
    assert_eq!(to(&OriginSetting::SameSite, None).origin_path(), "/free/x");
    let upper = OriginSetting::Url("HTTPS://Origin.Example:443".into());
    assert_eq!(to(&upper, None).audience(), "https://origin.example");
    assert_eq!(to(&upper, None).origin_path(), "/free/x");
}
