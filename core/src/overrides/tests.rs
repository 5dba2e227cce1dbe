//! Override headers, and every spelling of a method override found by attacks against
//! real frameworks (Rack, PHP, Express, Hono, Go, Tomcat), refused by one fail-closed rule.

use super::*;
use crate::path::normalise;
use crate::routes::RoutePattern;
use crate::testkit::Rng;

#[test]
fn stripped_headers_any_case_any_separator() {
    for (name, want) in [
        ("X-HTTP-Method-Override", true),
        ("x-http-method", true),
        ("X-Method-Override", true),
        ("X_HTTP_METHOD_OVERRIDE", true),
        ("X.HTTP.METHOD.OVERRIDE", true),
        ("x_http-method.override", true),
        ("X-Custom-Method-Override", true),
        ("X-Original-Method", true),
        ("X-ORIGINAL-URL", true),
        ("x-rewrite-url", true),
        ("X_Rewrite_Url", true),
        ("X-Override-URL", true),
        ("AspFilterSessionId", true),
        ("Payment-Signature", true),
        ("X-Payment", true),
        ("X-Payments", false),
        ("PAYMENT-CONTEXT", true),
        ("payment_context", true),
        ("Payment.Context", true),
        ("X402-Origin-Secret", true),
        ("x402_origin_secret", true),
        ("X-402-Origin-Secret", true),
        ("Payment-Contexts", false),
        (&format!("X-{}-Method-Override", "a".repeat(200)), true),
        (&"a".repeat(300), false),
        ("Access-Control-Request-Method", false),
        ("X-Forwarded-For", false),
        ("Content-Type", false),
    ] {
        assert_eq!(is_stripped(name), want, "{name}");
    }
}

#[test]
fn every_spelling_of_an_override_is_seen() {
    for text in [
        &b"_method=GET"[..],
        b"a=1&%5Fmethod=GET",
        b"%255Fmethod=GET",
        b".method=GET",
        b"[_method]=GET",
        b"]_method=GET",
        b"_METHOD=get",
        b"x_method=GET",
        b"--XX\r\nContent-Disposition: form-data; name=\"\\_\\m\\e\\t\\h\\o\\d\"\r\n\r\nGET",
        b"--XX\r\nContent-Disposition: form-data; name*0=\"_me\"; name*1=\"thod\"\r\n\r\nGET",
        b"--XX\r\nContent-Disposition: form-data; name*=UTF-8''%5F%6D%65%74%68%6F%64\r\n\r\nGET",
        b"--XX\r\nContent-Disposition: form-data;\x0bname=_method\r\n\r\nGET",
        b"--XX\r\nContent-Disposition: form-data; x=\"a;name=_method\"\r\n\r\nGET",
        b"--XX\r\nContent-ID: _method\r\n\r\nGET",
        b"--XX\r\nContent-Disposition: form-data\n\r\n; name=_method\r\n\r\nGET",
        b"{\"_method\":\"GET\"}",
        b"{\"_\\u006dethod\":\"GET\",\"n\":1e400}",
        b"{\"\\u005f\\u006d\\u0065\\u0074\\u0068\\u006f\\u0064\":\"GET\"}",
        b"\xef\xbb\xbf{\"_\\u006dethod\":\"GET\"}",
        b"\xff\xfe{\0\"\0_\0m\0e\0t\0h\0o\0d\0\"\0:\0\"\0G\0E\0T\0\"\0}\0",
        b"{\"+AF8-method\":\"GET\"}",
        b"_method",
    ] {
        assert!(mentions_method(text), "{}", String::from_utf8_lossy(text));
    }
    for text in [&b""[..], b"a=1&b=two", b"{\"comment\":\"hello\"}", b"m-e-t-h-o", b"%6D%65%74%68%6F"] {
        assert!(!mentions_method(text), "{}", String::from_utf8_lossy(text));
    }
}

#[test]
fn bodies_that_cannot_be_looked_into() {
    for (encoding, want) in [
        (Some("gzip"), true),
        (Some("deflate"), true),
        (Some("br, gzip"), true),
        (Some("identity"), false),
        (Some(" "), false),
        (None, false),
    ] {
        assert_eq!(is_encoded(encoding), want, "{encoding:?}");
    }
    for (content_type, want) in [
        (Some("application/json; charset=utf-16le"), true),
        (Some("application/json; charset=UTF-7"), true),
        (Some("application/x-www-form-urlencoded; charset=\"UTF-16BE\""), true),
        (Some("multipart/form-data; boundary=XX; charset=UTF-16LE"), true),
        (Some("text/plain; charset = ibm037"), true),
        (Some("application/json; charset=utf-8"), false),
        (Some("application/x-www-form-urlencoded; charset=ISO-8859-1"), false),
        (Some("application/json"), false),
        (None, false),
    ] {
        assert_eq!(is_unusual_charset(content_type), want, "{content_type:?}");
    }
}

#[test]
fn overrides_matter_only_where_another_priced_route_is_reachable() {
    let routes = RouteTable::new(vec![
        (RoutePattern::parse("GET /premium/*").unwrap(), ()),
        (RoutePattern::parse("/reports/:id").unwrap(), ()),
        (RoutePattern::parse("POST /api/score").unwrap(), ()),
        (RoutePattern::parse("POST /tier").unwrap(), ()),
        (RoutePattern::parse("DELETE /tier").unwrap(), ()),
        (RoutePattern::parse("PROPFIND /dav/*").unwrap(), ()),
        (RoutePattern::parse("DELETE /api/items/:id").unwrap(), ()),
    ])
    .unwrap();
    for (method, path, want) in [
        ("POST", "/premium/x", true),
        ("post", "/premium/x", true),
        ("PUT", "/premium/x", true),
        ("PROPFIND", "/premium/x", true),
        ("OPTIONS", "/premium/x", true),
        // Hono overrides HEAD too; the HEAD of a priced GET is priced, so it is its own route.
        ("HEAD", "/api/items/8", true),
        ("HEAD", "/premium/x", false),
        ("POST", "/reports/1", false),
        // GET is free here: an override to it gets nothing priced.
        ("POST", "/api/score", false),
        ("POST", "/free/x", false),
        ("GET", "/premium/x", false),
        ("GET", "/api/items/8", false),
        ("POST", "/premium;a/x", true),
        // Paid as a POST, performed as a dearer DELETE: refused too.
        ("POST", "/tier", true),
        // A method only a route names is a target too.
        ("POST", "/dav/a", true),
    ] {
        assert_eq!(price_may_change(&routes, method, &normalise(path).unwrap()), want, "{method} {path}");
    }
}

/// `mentions_method` with every pass made (the skipped ones too): the reference.
fn every_pass(text: &[u8]) -> bool {
    let once = url_decode(text);
    let twice = url_decode(&once);
    let named = |t: &[u8]| spells_method(t) || spells_method(&json_unescape(t));
    named(text) || named(&once) || named(&twice)
}

#[test]
fn generated_bodies_with_a_planted_override_are_always_seen_in_linear_time() {
    const TOKENS: &[&[u8]] = &[
        b"a=1",
        b"&",
        b";",
        b"=",
        b"%",
        b"%5f",
        b"%25",
        b"%5c",
        b"%6d%65",
        b"%256d",
        b"%2565",
        b"th",
        b"%5cu006d",
        b"+",
        b"\"",
        b"\\",
        b"name=",
        b"name*=",
        b"name*0=",
        b"'",
        b"{",
        b"}",
        b":",
        b",",
        b"\r\n",
        b"\r\n\r\n",
        b"Content-Disposition: form-data; ",
        b"meth",
        b"\\u00",
        b"od",
        b"[",
        b"]",
        b"\0",
        b"\xff",
        b"\xef\xbb\xbf",
        b" ",
        b"\x0b",
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut seen = 0;
    for _ in 0..5_000 {
        let mut body = Vec::new();
        for _ in 0..rng.below(12) {
            body.extend_from_slice(rng.pick(TOKENS));
        }
        seen += usize::from(mentions_method(&body));
        assert_eq!(mentions_method(&body), every_pass(&body), "{}", String::from_utf8_lossy(&body));
        for planted in [[&b"_method=GET&"[..], &body].concat(), [&body[..], b"&_method=GET"].concat()] {
            assert!(mentions_method(&planted), "{}", String::from_utf8_lossy(&planted));
        }
    }
    assert!(seen < 5_000, "{seen} of 5000 generated bodies read as overrides");
    // A megabyte of what made the first multipart scan quadratic is still one pass.
    let hostile = b"content-disposition".repeat(BODY_SCAN_LIMIT / 19);
    assert!(!mentions_method(&hostile));
}

#[test]
fn a_method_spelled_in_any_mix_of_encodings_is_seen() {
    // Each letter plain, percent-encoded once or twice, or JSON-escaped: every mix is an
    // override, and the scan that skips passes answers as the one making them all.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let mut body = b"a=1&_".to_vec();
        for &c in b"method" {
            let spelled = match rng.below(4) {
                0 => char::from(c).to_string(),
                1 => format!("%{c:02x}"),
                2 => format!("%25{c:02X}"),
                _ => format!("\\u{c:04x}"),
            };
            body.extend_from_slice(spelled.as_bytes());
        }
        body.extend_from_slice(b"=GET");
        let text = String::from_utf8_lossy(&body).to_string();
        assert!(mentions_method(&body), "{text}");
        assert!(every_pass(&body), "{text}");
    }
}

#[test]
fn decoders_replace_escapes_keep_the_rest() {
    assert_eq!(url_decode(b"a%5fb+c%zz%4"), b"a_b c%zz%4");
    assert_eq!(url_decode(b"%25%36d"), b"%6d");
    // A `\u` escape past ASCII is dropped; an incomplete one is kept as text.
    assert_eq!(json_unescape(b"\\u005f\\U006D\\u0100x\\u12"), b"_mx\\u12");
}
