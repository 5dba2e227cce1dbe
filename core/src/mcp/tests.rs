//! The MCP transport: configuration, tool globs (a table and generated names against a
//! reference matcher), the judgement of every POST body (attacks: malformed, batches,
//! payments of the wrong type, notifications), answers found and rewritten in JSON and
//! in event streams (generated streams keep every other event byte for byte), and the
//! payment-required result in the spec's shape.

use serde_json::{json, Value};

use super::*;
use crate::codec::base64_encode;
use crate::config::Setup;
use crate::testkit::Rng;

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn vars(mcp: Value) -> Value {
    let mut v = crate::testkit::base_vars();
    v["MCP"] = mcp;
    v
}

fn load(mcp: Value) -> Setup {
    Setup::load(&vars(mcp).to_string(), Some(KEY))
}

fn endpoint() -> McpEndpoint {
    let tools = json!({ "/mcp": { "tools": {
        "financial_analysis": { "price": "$0.01", "description": "Deep financial analysis" },
        "search_*": { "price": "2500" },
    } } });
    match load(tools) {
        Setup::Ready(mut c) => c.mcp.remove(0),
        Setup::Broken { error, .. } => panic!("{error}"),
    }
}

fn call(name: &str, meta: Option<Value>) -> Vec<u8> {
    let mut params = json!({ "name": name, "arguments": { "ticker": "AAPL" } });
    if let Some(meta) = meta {
        params["_meta"] = meta;
    }
    json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params }).to_string().into_bytes()
}

fn kind(call: &Call) -> String {
    match call {
        Call::Pass => "pass".into(),
        Call::List { id } => format!("list {id}"),
        Call::Answer(json) => {
            let v: Value = serde_json::from_str(json).unwrap();
            match &v {
                Value::Array(items) => format!(
                    "answer [{}]",
                    items.iter().map(|i| i["error"]["code"].to_string()).collect::<Vec<_>>().join(",")
                ),
                v => format!("answer {} {}", v["id"], v["error"]["code"]),
            }
        }
        Call::Priced { name, payment, tool, .. } => format!("priced {name} {} {}", tool.pattern, payment.is_some()),
    }
}

#[test]
fn the_configuration_names_endpoints_and_tools_and_refuses_the_rest() {
    let e = endpoint();
    assert_eq!((e.path.as_str(), e.tools.len()), ("/mcp", 2));
    assert_eq!(e.tool("search_docs").map(|t| t.pattern), Some("mcp:/mcp#search_docs".into()));
    assert_eq!(e.tool("search_docs").unwrap().options[0].amount.to_string(), "2500");
    assert!(e.tool("echo").is_none());
    for (mcp, field) in [
        (json!({ "mcp": { "tools": {} } }), "MCP[\"mcp\"]"),
        (json!({ "/mcp/": { "tools": {} } }), "MCP[\"/mcp/\"]"),
        (json!({ "/openapi.json": { "tools": {} } }), "MCP[\"/openapi.json\"]"),
        (json!({ "/.well-known": { "tools": {} } }), "MCP[\"/.well-known\"]"),
        (json!({ "/.WELL-KNOWN/x402": { "tools": {} } }), "MCP[\"/.WELL-KNOWN/x402\"]"),
        (json!({ "/mcp": { "tool": {} } }), "MCP[\"/mcp\"]"),
        (json!({ "/mcp": { "tools": { "a b": { "price": "1" } } } }), "MCP[\"/mcp\"].tools[\"a b\"]"),
        (json!({ "/mcp": { "tools": { "t": { "price": "free" } } } }), "MCP[\"/mcp\"].tools[\"t\"].price"),
        (json!({ "/mcp": { "tools": { "t": { "price": "1", "input": {} } } } }), "MCP[\"/mcp\"].tools[\"t\"]"),
        (
            json!({ "/mcp": { "tools": { "t": { "price": "1", "policy": { "payerRate": "often" } } } } }),
            "MCP[\"/mcp\"].tools[\"t\"].policy.payerRate",
        ),
    ] {
        match load(mcp.clone()) {
            Setup::Broken { error, .. } => assert_eq!(error.field, field, "{mcp}: {error}"),
            Setup::Ready(_) => panic!("{mcp} accepted"),
        }
    }
    // A route that would price the endpoint's path (a catch-all too) is refused: the
    // endpoint is the MCP layer's for every method.
    for routes in [
        json!({ "/*": { "price": "1" } }),
        json!({ "GET /mcp": { "price": "1" } }),
        json!({ "/:any": { "price": "1" } }),
        json!({ "/mcp/*": { "price": "1" } }),
        json!({ "POST /MCP/tools": { "price": "1" } }),
        json!({ "/:a/x": { "price": "1" } }),
    ] {
        let mut v = vars(json!({ "/mcp": { "tools": { "t": { "price": "1" } } } }));
        v["ROUTES"] = routes.clone();
        match Setup::load(&v.to_string(), Some(KEY)) {
            Setup::Broken { error, .. } => {
                assert!(error.cause.contains("prices this path (or one under it) too"), "{routes}: {error}")
            }
            Setup::Ready(_) => panic!("{routes} accepted over the endpoint"),
        }
    }
    // An endpoint under the admin API is refused (the admin API answers there first); the
    // same endpoint beside it is not.
    for (at, refused) in [("/_x402/mcp", true), ("/_X402/Mcp", true), ("/mcp", false)] {
        let v = vars(json!({ at: { "tools": { "t": { "price": "1" } } } }));
        let secrets = crate::config::Secrets {
            receipt_signing_key: Some(KEY),
            origin_secret: None,
            admin_token: Some("an-admin-token-of-the-operator"),
        };
        match Setup::load(&v.to_string(), secrets) {
            Setup::Broken { error, .. } if refused => assert!(error.cause.contains("admin API"), "{at}: {error}"),
            Setup::Broken { error, .. } => panic!("{at} refused: {error}"),
            Setup::Ready(_) => assert!(!refused, "{at} accepted under the admin API"),
        }
    }
    // A broken configuration keeps its endpoints closed (not the server's, unpaid).
    let mut v = vars(json!({ "/mcp": { "tools": { "t": { "price": "1" } } } }));
    v["PAY_TO"] = json!("nobody");
    v["ROUTES"] = json!({ "/paid": { "price": "1" } });
    let broken = Setup::load(&v.to_string(), Some(KEY));
    // Paths under the endpoint too (a server mounted at /mcp answers them), in any method.
    for (method, path) in [("POST", "/mcp"), ("POST", "/mcp/x"), ("PUT", "/MCP/x/y"), ("POST", "/mcp;v=1/x")] {
        assert_eq!(decision_at(&broken, method, path, false), "refuse paywall_misconfigured", "{method} {path}");
    }
    assert_eq!(decision_at(&broken, "POST", "/mcpx", false), "free", "beside it");
}

#[test]
fn routes_beside_an_endpoint_are_kept() {
    // A route that matches no path at or under the endpoint stays (`/mcpx`, `/a/mcp`).
    for routes in [
        json!({ "/mcpx": { "price": "1" } }),
        json!({ "/a/mcp": { "price": "1" } }),
        json!({ "/m/:id": { "price": "1" } }),
    ] {
        let mut v = vars(json!({ "/mcp": { "tools": { "t": { "price": "1" } } } }));
        v["ROUTES"] = routes.clone();
        assert!(matches!(Setup::load(&v.to_string(), Some(KEY)), Setup::Ready(_)), "{routes} refused");
    }
}

fn decision_at(setup: &Setup, method: &str, path: &str, preflight: bool) -> String {
    let parts = crate::decide::RequestParts {
        method,
        path,
        scheme: "http",
        host: "127.0.0.1:8787",
        access_control_request_method: preflight.then_some("POST"),
        ..Default::default()
    };
    match crate::decide::decide(setup, &parts) {
        crate::decide::Decision::Mcp { endpoint, .. } => format!("mcp {}", endpoint.path),
        crate::decide::Decision::Free { .. } => "free".into(),
        crate::decide::Decision::Refuse(f) => format!("refuse {}", f.reason()),
        _ => "other".into(),
    }
}

#[test]
fn every_path_at_or_under_an_endpoint_is_the_endpoint_s() {
    // A server mounted at /mcp (an Express router) answers /mcp/x too: a priced call there
    // is judged as at /mcp. The longest endpoint wins; a preflight is the server's only
    // where nothing is priced (it may carry a body a method override turns into a call).
    let mut v = vars(json!({
        "/mcp": { "tools": { "t": { "price": "1" } } },
        "/mcp/v2": { "tools": { "u": { "price": "1" } } },
        "/open": { "tools": {} },
    }));
    v["ROUTES"] = json!({ "/paid": { "price": "1" } });
    let setup = Setup::load(&v.to_string(), Some(KEY));
    assert!(matches!(setup, Setup::Ready(_)), "{setup:?}");
    for (method, path, preflight, want) in [
        ("POST", "/mcp", false, "mcp /mcp"),
        ("POST", "/mcp/x", false, "mcp /mcp"),
        ("POST", "/MCP/x/y", false, "mcp /mcp"),
        ("POST", "/mcp/", false, "mcp /mcp"),
        ("POST", "/mcp;jsessionid=1/x", false, "mcp /mcp"),
        ("POST", "/mcp/v2", false, "mcp /mcp/v2"),
        ("POST", "/mcp/v2/deeper", false, "mcp /mcp/v2"),
        ("PUT", "/mcp/x", false, "mcp /mcp"),
        ("OPTIONS", "/mcp", true, "mcp /mcp"),
        ("OPTIONS", "/open", true, "free"),
        ("POST", "/open/x", false, "mcp /open"),
        ("POST", "/mcpx", false, "free"),
        ("POST", "/a/mcp", false, "free"),
        // Encoded slashes and dots: each reading a server may take is the endpoint's (or
        // the path is refused as ambiguous), never free.
        ("POST", "/mcp%2fx", false, "mcp-or-refused"),
        ("POST", "/mcp%2Fx", false, "mcp-or-refused"),
        ("POST", "/x%2f..%2fmcp", false, "mcp-or-refused"),
        ("POST", "/x/..%2fmcp", false, "mcp-or-refused"),
        ("POST", "/%6dcp", false, "mcp /mcp"),
    ] {
        let got = decision_at(&setup, method, path, preflight);
        if want == "mcp-or-refused" {
            assert!(got == "mcp /mcp" || got == "refuse bad_path", "{method} {path}: {got}");
        } else {
            assert_eq!(got, want, "{method} {path}");
        }
    }
}

#[test]
fn a_request_its_server_could_read_otherwise_is_refused_where_tools_are_priced() {
    let e = endpoint();
    let json_type = Some("application/json");
    for (method, body, ct, ce, want) in [
        ("POST", true, json_type, None, None),
        ("POST", true, Some("application/json; charset=utf-8"), None, None),
        ("POST", true, Some("application/json;charset=\"UTF-8\""), None, None),
        ("POST", true, Some("application/json; charset=us-ascii"), None, None),
        ("POST", true, None, None, None),
        ("POST", true, Some("application/json; charset=utf-7"), None, Some(RequestError::UnusualCharset)),
        ("POST", true, Some("application/json;charset=UTF-7"), None, Some(RequestError::UnusualCharset)),
        ("POST", true, Some("application/json; charset = \"utf-16\""), None, Some(RequestError::UnusualCharset)),
        ("POST", true, Some("application/json; charset=latin1"), None, Some(RequestError::UnusualCharset)),
        ("POST", true, Some("application/json; x=1, charset=utf-32"), None, Some(RequestError::UnusualCharset)),
        ("POST", true, json_type, Some("gzip"), Some(RequestError::EncodedBody)),
        ("POST", true, json_type, Some("br"), Some(RequestError::EncodedBody)),
        ("POST", true, json_type, Some("identity"), None),
        ("GET", false, None, None, None),
        ("DELETE", false, None, None, None),
        ("OPTIONS", false, None, None, None),
        ("PUT", true, json_type, None, Some(RequestError::MethodOverride)),
        ("PATCH", true, json_type, None, Some(RequestError::MethodOverride)),
        ("DELETE", true, json_type, None, Some(RequestError::MethodOverride)),
        ("OPTIONS", true, json_type, None, Some(RequestError::MethodOverride)),
        ("post", true, json_type, None, None),
    ] {
        assert_eq!(refuses(&e, method, body, ct, ce), want, "{method} body={body} {ct:?} {ce:?}");
    }
    // An endpoint that prices nothing has nothing to hide: everything passes.
    let open = McpEndpoint { tools: Vec::new(), ..e };
    assert_eq!(refuses(&open, "PUT", true, Some("application/json; charset=utf-7"), Some("gzip")), None);
}

#[test]
fn generated_content_types_are_refused_unless_every_charset_is_utf8_or_ascii() {
    // A reference: the charset parameters as a reader splitting on `;` and `,` sees them.
    let mut rng = Rng(0x6d63_7031_0a5f_11d3);
    let pieces = [
        "application/json",
        "charset=utf-8",
        "charset=UTF-7",
        "charset=\"ascii\"",
        "charset=",
        "x=1",
        " ",
        "charset=utf8",
        "charsets=utf-16",
        "Charset=Latin1",
        "charset = 'us-ascii'",
    ];
    let e = endpoint();
    for _ in 0..2000 {
        let n = 1 + rng.below(4);
        let text: String = (0..n)
            .map(|i| {
                let p = rng.pick(&pieces);
                if i == 0 {
                    p.to_string()
                } else {
                    format!("{}{p}", rng.pick(&[";", ",", "; "]))
                }
            })
            .collect();
        let fine = text.to_ascii_lowercase().split([';', ',']).all(|p| {
            let Some(rest) = p.trim().strip_prefix("charset") else { return true };
            let value = rest.trim().strip_prefix('=').unwrap_or(rest).trim().trim_matches(['"', '\'']);
            ["utf-8", "utf8", "us-ascii", "ascii"].contains(&value)
        });
        assert_eq!(refuses(&e, "POST", true, Some(&text), None).is_none(), fine, "{text:?}");
    }
}

#[test]
fn globs_match_as_a_reference_matcher_does() {
    for (glob, name, want) in [
        ("search_*", "search_docs", true),
        ("search_*", "search_", true),
        ("search_*", "research_docs", false),
        ("*_v2", "tool_v2", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "acb", false),
        ("a*a", "a", false),
        ("exact", "exact", true),
        ("exact", "Exact", false),
        ("*", "", true),
    ] {
        assert_eq!(ToolGlob::parse(glob).unwrap().matches(name), want, "{glob} {name}");
    }
    // Reference: dynamic programming over the glob.
    fn reference(glob: &[u8], name: &[u8]) -> bool {
        let mut dp = vec![vec![false; name.len() + 1]; glob.len() + 1];
        dp[0][0] = true;
        for i in 1..=glob.len() {
            for j in 0..=name.len() {
                dp[i][j] = if glob[i - 1] == b'*' {
                    dp[i - 1][j] || (j > 0 && dp[i][j - 1])
                } else {
                    j > 0 && dp[i - 1][j - 1] && glob[i - 1] == name[j - 1]
                };
            }
        }
        dp[glob.len()][name.len()]
    }
    let mut rng = Rng(0x6c0b_0001);
    for _ in 0..5000 {
        let glob: String = (0..rng.below(6)).map(|_| rng.pick(&['a', 'b', '*'])).collect();
        let name: String = (0..rng.below(7)).map(|_| rng.pick(&['a', 'b'])).collect();
        let Ok(g) = ToolGlob::parse(&glob) else { continue };
        assert_eq!(g.matches(&name), reference(glob.as_bytes(), name.as_bytes()), "{glob} {name}");
    }
}

#[test]
fn every_post_body_is_judged() {
    let e = endpoint();
    let payment = json!({ "x402Version": 2, "payload": {} });
    for (body, want) in [
        (call("financial_analysis", None), "priced financial_analysis mcp:/mcp#financial_analysis false"),
        (call("search_web", Some(json!({ "x402/payment": payment, "other": 1 }))), "priced search_web mcp:/mcp#search_web true"),
        (call("echo", None), "pass"),
        (call("financial_analysis", Some(json!({ "x402/payment": "base64?" }))), "answer 7 -32602"),
        (br#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#.to_vec(), "list \"a\""),
        (br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec(), "pass"),
        (br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#.to_vec(), "pass"),
        (br#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_vec(), "pass"),
        (br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"financial_analysis"}}"#.to_vec(), "answer null -32600"),
        (br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":5}}"#.to_vec(), "answer 2 -32600"),
        (br#"{"jsonrpc":"1.0","id":3,"method":"tools/call"}"#.to_vec(), "answer 3 -32600"),
        (b"{not json".to_vec(), "answer null -32700"),
        // A member in another case (Go reads `Method` as the method, over `result`).
        (br#"{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"financial_analysis"},"result":{}}"#.to_vec(), "answer null -32600"),
        (br#"[{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"financial_analysis"}}]"#.to_vec(), "answer null -32600"),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"financial_analysis"}}]"#.to_vec(), "answer null -32600"),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"X402/Payment":{}}}}"#.to_vec(), "answer null -32600"),
        // A name outside MCP's grammar (a glob would match it) is refused before any lookup.
        (call(&format!("search_{}", "x".repeat(200)), None), "answer 7 -32602"),
        (call("search_ docs", None), "answer 7 -32602"),
        (call("search_\u{17f}ocs", None), "answer 7 -32602"),
        (call("financial_analysis\t", None), "answer 7 -32602"),
        (call("github:create_issue", None), "pass"),
        (call("search_*", None), "priced search_* mcp:/mcp#search_* false"),
        // A batch holding a call the paywall would refuse alone is refused whole.
        (br#"[{"jsonrpc":"2.0","method":"tools/call","params":{"name":"financial_analysis"}}]"#.to_vec(), "answer null -32600"),
        (b"".to_vec(), "answer null -32700"),
        (b"42".to_vec(), "answer null -32600"),
        (b"[]".to_vec(), "answer null -32600"),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}]"#.to_vec(), "pass"),
        (
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search_x"}},{"jsonrpc":"2.0","method":"notifications/x"}]"#.to_vec(),
            "answer [-32600,-32600]",
        ),
    ] {
        assert_eq!(kind(&classify(&e, &body)), want, "{}", String::from_utf8_lossy(&body));
    }
    // An endpoint that prices nothing has nothing to hide: anything passes.
    let open = McpEndpoint { path: "/mcp".into(), key: "/mcp".into(), tools: Vec::new() };
    for body in [b"{not json".as_slice(), b"42", br#"{"id":1}"#] {
        assert_eq!(kind(&classify(&open, body)), "pass");
    }
}

#[test]
fn a_paid_call_goes_on_without_its_payment_bound_to_its_arguments() {
    let e = endpoint();
    let payment = json!({ "x402Version": 2, "payload": { "signature": "0x1" } });
    let Call::Priced { forward, payment: Some(sent), binding, id, .. } =
        classify(&e, &call("financial_analysis", Some(json!({ "x402/payment": payment.clone() }))))
    else {
        panic!("not priced")
    };
    assert_eq!(serde_json::from_str::<Value>(&sent).unwrap(), payment);
    assert_eq!(id, "7");
    let forwarded: Value = serde_json::from_slice(&forward).unwrap();
    assert_eq!(forwarded["params"].get("_meta"), None, "an emptied _meta goes too");
    assert_eq!(forwarded["params"]["arguments"], json!({ "ticker": "AAPL" }));
    assert!(binding.starts_with("POST /mcp#financial_analysis?"), "{binding}");
    let Call::Priced { forward, .. } =
        classify(&e, &call("financial_analysis", Some(json!({ "x402/payment": payment.clone(), "progressToken": 1 }))))
    else {
        panic!()
    };
    let forwarded: Value = serde_json::from_slice(&forward).unwrap();
    assert_eq!(forwarded["params"]["_meta"], json!({ "progressToken": 1 }), "other _meta stays");
    let other = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "financial_analysis", "arguments": { "ticker": "MSFT" }, "_meta": { "x402/payment": payment } } });
    let Call::Priced { binding: elsewhere, .. } = classify(&e, other.to_string().as_bytes()) else { panic!() };
    assert_ne!(elsewhere, binding, "other arguments: another binding (a payment is for one call)");
}

#[test]
fn the_payment_required_result_has_the_spec_s_shape() {
    let e = endpoint();
    let tool = e.tool("financial_analysis").unwrap();
    let answer: Value = serde_json::from_str(&payment_required("7", &tool, "financial_analysis", None)).unwrap();
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["id"], 7);
    let result = &answer["result"];
    assert_eq!(result["isError"], true);
    let required = &result["structuredContent"];
    assert_eq!(required["x402Version"], 2);
    assert_eq!(required["resource"]["url"], "mcp://tool/financial_analysis");
    assert_eq!(required["resource"]["description"], "Deep financial analysis");
    assert_eq!(required["accepts"][0]["amount"], "10000");
    assert_eq!(required["error"], MISSING);
    assert_eq!(result["content"][0]["type"], "text");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, required, "content[0].text is the same PaymentRequired, as JSON");
    let refused: Value =
        serde_json::from_str(&payment_required("\"x\"", &tool, "financial_analysis", Some("insufficient_funds")))
            .unwrap();
    assert_eq!(refused["result"]["structuredContent"]["error"], "insufficient_funds");
    let limited = refusal("1", &tool, "t", &crate::error::PaymentError::InProgress { retry_after_s: 2 }.into());
    let limited: Value = serde_json::from_str(&limited).unwrap();
    assert_eq!(limited["error"]["code"], PAYMENT_REFUSED);
    assert_eq!(limited["error"]["data"]["retryAfterSeconds"], 2);
}

const SETTLED: &str = r#"{"success":true,"transaction":"0xabc","network":"eip155:84532","payer":"0x1"}"#;

#[test]
fn answers_are_judged_and_delivered_in_json_and_in_event_streams() {
    let ok = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"fine"}]}}"#;
    let tool_error = br#"{"jsonrpc":"2.0","id":7,"result":{"isError":true,"content":[]}}"#;
    let rpc_error = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}}"#;
    let other_id = br#"{"jsonrpc":"2.0","id":8,"result":{}}"#;
    for (body, want) in [
        (ok.as_slice(), Judged::Result),
        (tool_error, Judged::ToolError),
        (rpc_error, Judged::ToolError),
        (other_id, Judged::Missing),
        (b"junk", Judged::Missing),
    ] {
        assert_eq!(judge(body, "application/json", "7"), want, "{}", String::from_utf8_lossy(body));
    }
    let stream = format!(
        "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":1}}}}\n\n\
         id: 9\nevent: message\ndata: {}\n\n",
        String::from_utf8_lossy(ok)
    );
    assert_eq!(judge(stream.as_bytes(), "text/event-stream", "7"), Judged::Result);
    assert_eq!(judge(stream.as_bytes(), "text/event-stream", "\"7\""), Judged::Missing, "ids compare as JSON");
    let header = base64_encode(SETTLED.as_bytes());
    let paid = deliver(stream.as_bytes(), "text/event-stream; charset=utf-8", "7", &header, "jws").unwrap();
    let paid = String::from_utf8(paid).unwrap();
    let (first, rest) = paid.split_once("\n\n").unwrap();
    assert_eq!(first, stream.split_once("\n\n").unwrap().0, "the notification is kept as it came");
    assert!(rest.starts_with("id: 9\nevent: message\ndata: {"), "{rest}");
    let message: Value = serde_json::from_str(rest.trim_end().split_once("data: ").unwrap().1).unwrap();
    assert_eq!(message["result"]["_meta"][RESPONSE_META]["transaction"], "0xabc");
    assert_eq!(message["result"]["_meta"][RECEIPT_META], "jws");
    assert_eq!(message["result"]["content"][0]["text"], "fine");
    let json = deliver(ok, "application/json", "7", &header, "jws").unwrap();
    let json: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["result"]["_meta"][RESPONSE_META]["success"], true);
    // A stored answer replayed to a retry under another id answers that id.
    let replayed = deliver(other_id, "application/json", "\"retry-2\"", &header, "jws").unwrap();
    let replayed: Value = serde_json::from_slice(&replayed).unwrap();
    assert_eq!(replayed["id"], "retry-2");
    assert_eq!(replayed["result"]["_meta"][RECEIPT_META], "jws");
    let request_only = br#"{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage","params":{}}"#;
    assert_eq!(deliver(request_only, "application/json", "7", &header, "jws"), None, "a server request is no answer");
}

#[test]
fn generated_streams_keep_every_other_event_and_order() {
    let mut rng = Rng(0x55e0_0042);
    let header = base64_encode(SETTLED.as_bytes());
    for _ in 0..300 {
        let mut events = Vec::new();
        let answer_at = rng.below(5);
        for i in 0..5 {
            let sep = rng.pick(&["\n\n", "\r\n\r\n"]);
            let event = if i == answer_at {
                r#"data: {"jsonrpc":"2.0","id":"call","result":{"content":[]}}"#.to_string()
            } else {
                let payload = rng.pick(&[
                    r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"x"}}"#,
                    "not json",
                    r#"{"id":"call"}"#,
                ]);
                format!("event: message\nid: {i}\ndata: {payload}")
            };
            events.push(format!("{event}{sep}"));
        }
        let stream = events.concat();
        assert_eq!(judge(stream.as_bytes(), "text/event-stream", "\"call\""), Judged::Result, "{stream:?}");
        let paid =
            String::from_utf8(deliver(stream.as_bytes(), "text/event-stream", "\"call\"", &header, "r").unwrap())
                .unwrap();
        for (i, event) in events.iter().enumerate() {
            if i != answer_at {
                assert!(paid.contains(event.as_str()), "event {i} lost: {paid:?}");
            }
        }
        let before: usize = events[..answer_at].iter().map(String::len).sum();
        assert_eq!(&paid[..before], &stream[..before], "the events before the answer are the same bytes");
        assert!(paid[before..].contains("x402/payment-response"));
    }
}

#[test]
fn tools_lists_show_the_prices_of_priced_tools_only() {
    let e = endpoint();
    let list = json!({ "jsonrpc": "2.0", "id": 3, "result": { "tools": [
        { "name": "financial_analysis", "inputSchema": { "type": "object" } },
        { "name": "search_docs", "inputSchema": { "type": "object" }, "_meta": { "keep": 1 } },
        { "name": "echo", "inputSchema": { "type": "object" } },
    ] } });
    let priced: Value =
        serde_json::from_slice(&priced_list(&e, list.to_string().as_bytes(), "application/json", "3").unwrap())
            .unwrap();
    let tools = &priced["result"]["tools"];
    assert_eq!(tools[0]["_meta"][PRICE_META]["price"], "$0.01");
    assert_eq!(tools[0]["_meta"][PRICE_META]["amount"], "10000");
    assert_eq!(tools[0]["_meta"][PRICE_META]["network"], "eip155:84532");
    assert_eq!(tools[0]["_meta"][PRICE_META]["accepts"].as_array().map(Vec::len), Some(1));
    assert_eq!(tools[1]["_meta"]["keep"], 1);
    assert_eq!(tools[1]["_meta"][PRICE_META]["amount"], "2500");
    assert_eq!(tools[2].get("_meta"), None);
    let sse = format!("event: message\ndata: {list}\n\n");
    let priced = String::from_utf8(priced_list(&e, sse.as_bytes(), "text/event-stream", "3").unwrap()).unwrap();
    assert!(priced.contains("x402/price") && priced.starts_with("event: message\ndata: "), "{priced}");
}

#[test]
fn llms_txt_names_the_endpoint_and_its_priced_tools() {
    let c = match load(
        json!({ "/mcp": { "tools": { "financial_analysis": { "price": "$0.01", "description": "Deep" } } } }),
    ) {
        Setup::Ready(c) => c,
        Setup::Broken { error, .. } => panic!("{error}"),
    };
    let page = crate::discovery::docs::render(&c, crate::discovery::Doc::Llms, "https://h");
    assert!(page.contains("- MCP (Streamable HTTP) at `POST /mcp`: https://h/mcp\n"), "{page}");
    assert!(page.contains("  - tool `financial_analysis`: Deep. $0.01 USDC (10000 atomic units)"), "{page}");
    assert!(page.contains("_meta[\"x402/payment\"]"), "{page}");
}

#[test]
fn a_request_to_the_client_is_seen_in_the_complete_events_as_they_come() {
    let note = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n";
    let ask = "data: {\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}\r\n\r\n";
    let stream = format!("{note}{ask}");
    let (asks, end) = sse::asks_client(note.as_bytes(), 0);
    assert_eq!((asks, end), (false, note.len()), "a notification asks nothing");
    // The request arrives in two chunks: only once complete does it count.
    let half = note.len() + ask.len() / 2;
    assert_eq!(sse::asks_client(&stream.as_bytes()[..half], end), (false, note.len()));
    assert_eq!(sse::asks_client(stream.as_bytes(), end), (true, stream.len()));
    // An answer to the call is no request; a chunk cut inside a character is scanned up to it.
    let answer = "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"text\":\"é\"}]}}\n\n";
    assert!(!sse::asks_client(answer.as_bytes(), 0).0);
    let cut = answer.find('é').unwrap() + 1;
    assert_eq!(sse::asks_client(&answer.as_bytes()[..cut], 0), (false, 0));
}

#[test]
fn a_blank_line_is_seen_wherever_a_chunk_ends() {
    // Generated streams cut into chunks: a reader that checks each chunk with the byte
    // before it sees a blank line exactly when the stream holds two line endings in a row
    // (CR LF one ending), by a reference that reads the endings one by one.
    let mut rng = Rng(0x0b1a_9c11);
    for _ in 0..2000 {
        let mut stream = String::new();
        for _ in 0..1 + rng.below(5) {
            stream.push_str(rng.pick(&["data: x", "event: m", ": note", "", ""]));
            stream.push_str(rng.pick(&["\n", "\r", "\r\n"]));
        }
        let bytes = stream.as_bytes();
        let (mut seen, mut found) = (0, false);
        while seen < bytes.len() {
            let at = (seen + 1 + rng.below(4)).min(bytes.len());
            found |= sse::holds_blank_line(&bytes[seen.saturating_sub(1)..at]);
            seen = at;
        }
        assert_eq!(found, two_endings_in_a_row(bytes), "{stream:?}");
    }
}

/// The reference: a line ending (CR LF, CR or LF) that starts where another ended.
fn two_endings_in_a_row(bytes: &[u8]) -> bool {
    let (mut i, mut last_end) = (0, None);
    while i < bytes.len() {
        let len = match (bytes[i], bytes.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r' | b'\n', _) => 1,
            _ => 0,
        };
        if len == 0 {
            i += 1;
            continue;
        }
        if last_end == Some(i) {
            return true;
        }
        i += len;
        last_end = Some(i);
    }
    false
}
