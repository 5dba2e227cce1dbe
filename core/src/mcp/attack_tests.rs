//! Hostile review of the MCP transport: bodies that the edge and a server's JSON reader
//! read as different calls, ids a server echoes in another spelling, endpoint paths that
//! an origin reads as the endpoint, and event streams framed as the SSE standard allows.
//! A test that fails names a way to run a priced tool unpaid or uncharged.

use serde_json::{json, Value};

use super::*;
use crate::config::Setup;
use crate::decide::{decide, Decision, RequestParts};
use crate::testkit::Rng;

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn vars(mcp: Value) -> Value {
    let mut v = crate::testkit::base_vars();
    v["MCP"] = mcp;
    v
}

fn priced_tools() -> Value {
    json!({ "/mcp": { "tools": {
        "financial_analysis": { "price": "$0.01" },
        "search_*": { "price": "2500" },
    } } })
}

fn setup() -> Setup {
    Setup::load(&vars(priced_tools()).to_string(), Some(KEY))
}

fn endpoint() -> McpEndpoint {
    match setup() {
        Setup::Ready(mut c) => c.mcp.remove(0),
        Setup::Broken { error, .. } => panic!("{error}"),
    }
}

fn kind(call: &Call) -> String {
    match call {
        Call::Pass => "pass".into(),
        Call::List { id } => format!("list {id}"),
        Call::Answer(json) => format!("answer {}", &json[..json.len().min(80)]),
        Call::Priced { name, .. } => format!("priced {name}"),
    }
}

/// Go's `encoding/json` (mcp-go, and any Go server decoding into structs) matches object
/// keys to fields case-insensitively, the last one winning: `"Name"` after `"name"` is the
/// name it calls. The edge reads only the exact key. A strict endpoint must refuse (or
/// price as the tool a case-insensitive reader calls) such a body, never pass it.
#[test]
fn case_variant_keys_do_not_hide_a_priced_call_from_a_case_insensitive_reader() {
    for (body, go_calls) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"financial_analysis","arguments":{"ticker":"A"}}}"#,
            "financial_analysis",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"financial_analysis","arguments":{"ticker":"A"}}}"#,
            "financial_analysis",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"PARAMS":{"name":"financial_analysis"}}"#,
            "financial_analysis",
        ),
        // Pays the cheap glob's price (search_*: 2500), a Go server runs the $0.01 tool.
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","nAme":"financial_analysis","arguments":{}}}"#,
            "financial_analysis",
        ),
    ] {
        let call = classify(&endpoint(), body.as_bytes());
        let ok = match &call {
            Call::Answer(_) => true,
            Call::Priced { name, .. } => name == go_calls,
            _ => false,
        };
        assert!(ok, "{body}\n  the edge: {}; a case-insensitive reader calls {go_calls}", kind(&call));
    }
}

/// A key given twice: serde_json and JSON.parse keep the last, readers such as RapidJSON's
/// `FindMember` and many streaming readers the first. A strict endpoint that forwards the
/// body byte for byte should not pass an ambiguous one.
#[test]
fn duplicate_keys_do_not_hide_a_priced_call_from_a_first_wins_reader() {
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"financial_analysis","name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"financial_analysis"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"financial_analysis"},"params":{"name":"echo"}}"#,
    ] {
        let call = classify(&endpoint(), body.as_bytes());
        assert!(!matches!(call, Call::Pass), "{body}: {} (a first-wins reader calls financial_analysis)", kind(&call));
    }
}

/// The server answers a call with the id it parsed, re-serialised: a JavaScript server
/// (the SDK) parses `1.0` as 1 and writes `1`, `-0` as `0`, `9007199254740993` as
/// `9007199254740992`. The edge forwards `1.0` and looks for an answer to `1.0`: it finds
/// none, so the tool ran and the payment is never settled. A priced call's id must be
/// one whose answer the edge can find (refuse the others before the server runs).
#[test]
fn a_paid_calls_id_is_found_in_the_answer_a_javascript_server_writes() {
    for (sent, js_writes) in [
        ("1.0", "1"),
        ("1e0", "1"),
        ("1E2", "100"),
        ("-0", "0"),
        ("0.5e1", "5"),
        ("9007199254740993", "9007199254740992"),
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{sent},"method":"tools/call","params":{{"name":"financial_analysis","arguments":{{}},"_meta":{{"x402/payment":{{"x402Version":2}}}}}}}}"#
        );
        match classify(&endpoint(), body.as_bytes()) {
            Call::Answer(_) => {} // refused before the server runs: fine
            Call::Priced { id, .. } => {
                let answer = format!(r#"{{"jsonrpc":"2.0","id":{js_writes},"result":{{"content":[]}}}}"#);
                let judged = judge(answer.as_bytes(), "application/json", &id);
                assert_eq!(
                    judged,
                    Judged::Result,
                    "id {sent}: forwarded as {id}, a JavaScript server answers id {js_writes}"
                );
            }
            other => panic!("id {sent}: {}", kind(&other)),
        }
    }
}

fn post(path: &str) -> RequestParts<'_> {
    RequestParts { method: "POST", path, scheme: "http", host: "127.0.0.1:8787", ..Default::default() }
}

fn decision(d: &Decision<'_, '_>) -> &'static str {
    match d {
        Decision::Mcp { .. } => "mcp",
        Decision::Refuse(_) => "refuse",
        Decision::Free { .. } => "free (the origin's, unpaid)",
        _ => "other",
    }
}

/// The path module reads `/mcp;jsessionid=1` as `/mcp` on a servlet container (the Java
/// MCP SDK's servlet transport, Spring AI), `/mcp.` as `/mcp` on IIS, `/(S(x))/mcp` as
/// `/mcp` on ASP.NET: HTTP routes are priced by every reading. The MCP endpoint is found
/// by the match key alone, so those spellings reach the server's MCP handler unjudged.
#[test]
fn every_reading_of_the_endpoint_path_is_the_endpoint() {
    let ready = setup();
    let mut v = vars(json!({ "/mcp": { "tools": { "bad name!": { "price": "1" } } } }));
    v["ROUTES"] = json!({ "/paid": { "price": "1" } });
    let broken = Setup::load(&v.to_string(), Some(KEY));
    assert!(matches!(broken, Setup::Broken { .. }));
    let mut open = Vec::new();
    for path in ["/mcp;jsessionid=1", "/mcp.", "/mcp%20", "/(S(abc))/mcp", "/index.php/mcp", "/mcp::$DATA"] {
        let normal = crate::path::normalise(path).unwrap();
        assert!(
            normal.readings().iter().any(|r| r == "/mcp"),
            "{path}: the path module reads it as /mcp too ({:?})",
            normal.readings()
        );
        for (what, setup) in [("ready", &ready), ("broken", &broken)] {
            let d = decide(setup, &post(path));
            if !matches!(d, Decision::Mcp { .. } | Decision::Refuse(_)) {
                open.push(format!("{what}: POST {path} is {}", decision(&d)));
            }
        }
    }
    assert!(open.is_empty(), "spellings an origin reads as /mcp:\n{}", open.join("\n"));
    // The plain spellings hold.
    for path in ["/mcp", "/MCP", "/mcp/", "//mcp", "/x/../mcp", "/%6dcp"] {
        assert!(matches!(decide(&ready, &post(path)), Decision::Mcp { .. }), "{path}");
    }
}

/// A JSON text of a string with random escapes (`\uXXXX` for any character, `\/`).
fn escaped(rng: &mut Rng, text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match rng.below(4) {
            0 => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            1 if c == '/' => out.push_str("\\/"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn space(rng: &mut Rng) -> &'static str {
    rng.pick(&["", " ", "\n", "\t", "\r\n  "])
}

/// An object of `fields` (JSON texts), keys escaped at random, in a random order.
fn object(rng: &mut Rng, mut fields: Vec<(&str, String)>) -> String {
    for i in (1..fields.len()).rev() {
        fields.swap(i, rng.below(i + 1));
    }
    let parts: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}{}{}:{}{}", space(rng), escaped(rng, k), space(rng), space(rng), v))
        .collect();
    format!("{{{}{}}}", parts.join(","), space(rng))
}

/// Generated spellings of one logical call (random escapes in keys and values, key order,
/// whitespace, extra fields, ids, a payment or none): a priced tool is always priced (with
/// its name as a server decodes it), a free one always passes, and the forwarded request is
/// the same call without the payment.
#[test]
fn generated_spellings_of_a_call_are_judged_as_the_call_they_are() {
    let mut rng = Rng(0x4a7c_0dd5);
    let e = endpoint();
    for round in 0..3000 {
        let name =
            rng.pick(&["financial_analysis", "search_docs", "search_", "echo", "Financial_analysis", "research"]);
        let priced = e.tool(name).is_some();
        let id = match rng.below(3) {
            0 => rng.below(1000).to_string(),
            1 => {
                let n = rng.below(99);
                escaped(&mut rng, &format!("id/{n}"))
            }
            _ => "\"x\"".to_string(),
        };
        let paid = rng.below(2) == 0;
        let mut meta = vec![("progressToken", "3".to_string())];
        if paid {
            meta.push(("x402/payment", r#"{"x402Version":2,"payload":{}}"#.to_string()));
        }
        let meta = object(&mut rng, meta);
        let ticker = escaped(&mut rng, "AAPL/x");
        let args = object(&mut rng, vec![("ticker", ticker)]);
        let name_text = escaped(&mut rng, name);
        let params = object(
            &mut rng,
            vec![("name", name_text), ("arguments", args), ("_meta", meta), ("extra", "[1,{}]".into())],
        );
        let method = escaped(&mut rng, "tools/call");
        let version = escaped(&mut rng, "2.0");
        let body = object(&mut rng, vec![("jsonrpc", version), ("id", id), ("method", method), ("params", params)]);
        let call = classify(&e, body.as_bytes());
        match (&call, priced) {
            (Call::Pass, false) => {}
            (Call::Priced { name: got, payment, forward, .. }, true) => {
                assert_eq!(got, name, "{round}: {body}");
                assert_eq!(payment.is_some(), paid, "{round}: {body}");
                let forwarded: Value = serde_json::from_slice(forward).unwrap();
                let mut want: Value = serde_json::from_str(&body).unwrap();
                want["params"]["_meta"].as_object_mut().unwrap().remove("x402/payment");
                assert_eq!(forwarded, want, "{round}: {body}");
            }
            _ => panic!("{round}: {body}\n  priced: {priced}, got {}", kind(&call)),
        }
    }
}

/// Generated event streams framed as the SSE standard allows (each line ended by CRLF,
/// LF or CR; `event:`, `id:`, comment and empty `data:` lines; notifications and requests
/// before and after): the answer to the call is always found, so a result is charged and
/// a tool error is not.
#[test]
fn generated_event_streams_with_every_standard_line_ending_are_judged() {
    let mut rng = Rng(0x55e0_7e57);
    let mut misses = Vec::new();
    for round in 0..2000 {
        let endings: &[&str] =
            if rng.below(2) == 0 { &["\n", "\r\n", "\r"] } else { &[rng.pick(&["\n", "\r\n", "\r"])] };
        let mut stream = String::new();
        // A line ending; never LF right after CR (CR LF is one line ending, not two).
        let end = |rng: &mut Rng, stream: &mut String| loop {
            let e = rng.pick(endings);
            if !(stream.ends_with('\r') && e.starts_with('\n')) {
                stream.push_str(e);
                return;
            }
            if endings.len() == 1 {
                stream.push('\r');
                return;
            }
        };
        let mut event = |rng: &mut Rng, data: &str| {
            let mut lines = Vec::new();
            if rng.below(3) == 0 {
                lines.push("event: message".to_string());
            }
            if rng.below(3) == 0 {
                lines.push(format!("id: {}", rng.below(1000)));
            }
            if rng.below(5) == 0 {
                lines.push(": a comment".to_string());
            }
            lines.push(format!("data: {data}"));
            for line in lines {
                stream.push_str(&line);
                end(rng, &mut stream);
            }
            end(rng, &mut stream);
        };
        for n in 0..rng.below(4) {
            event(&mut rng, &format!(r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"n":{n}}}}}"#));
        }
        let error = rng.below(2) == 0;
        let answer = if error {
            r#"{"jsonrpc":"2.0","id":7,"result":{"isError":true,"content":[]}}"#
        } else {
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"paid"}]}}"#
        };
        event(&mut rng, answer);
        for _ in 0..rng.below(2) {
            event(&mut rng, r#"{"jsonrpc":"2.0","id":"s1","method":"ping"}"#);
        }
        let want = if error { Judged::ToolError } else { Judged::Result };
        let got = judge(stream.as_bytes(), "text/event-stream", "7");
        if got != want {
            misses.push(format!("{round}: {stream:?} is {got:?}"));
        }
    }
    assert!(
        misses.is_empty(),
        "{} of 2000 streams misjudged, e.g.\n{}",
        misses.len(),
        misses[..misses.len().min(3)].join("\n")
    );
}

/// A paid call's answer stream is read whole (at most 512 KiB) and split into events in
/// one pass (the splitter scans each byte once: see `sse::split`; no timing here, as the
/// house keeps speed to benchmarks): a stream of thousands of small events at the size
/// limit is judged, and delivered with every event kept.
#[test]
fn a_stream_of_many_small_events_at_the_size_limit_is_judged_and_kept() {
    let small = r#"data: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#.to_string() + "\n\n";
    let answer = "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[]}}\n\n";
    let n = (crate::once::MAX_STORED_BODY - answer.len()) / small.len();
    let body = small.repeat(n) + answer;
    assert_eq!(judge(body.as_bytes(), "text/event-stream", "7"), Judged::Result);
    let header = crate::codec::base64_encode(br#"{"success":true,"transaction":"0x1","network":"eip155:84532"}"#);
    let paid = deliver(body.as_bytes(), "text/event-stream", "7", &header, "r").unwrap();
    let paid = String::from_utf8(paid).unwrap();
    assert_eq!(paid.matches("notifications/progress").count(), n);
    assert!(paid.starts_with(&small.repeat(n)), "the events before the answer are the same bytes");
}
