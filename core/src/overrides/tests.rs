//! Override headers and `_method` fields, spelled the ways frameworks accept them.

use super::*;
use crate::path::normalise;
use crate::routes::RoutePattern;

#[test]
fn stripped_headers_any_case_any_separator() {
    for (name, want) in [
        ("X-HTTP-Method-Override", true),
        ("x-http-method", true),
        ("X-Method-Override", true),
        ("X_HTTP_METHOD_OVERRIDE", true),
        ("X.HTTP.METHOD.OVERRIDE", true),
        ("x_http-method.override", true),
        ("X-ORIGINAL-URL", true),
        ("x-rewrite-url", true),
        ("X_Rewrite_Url", true),
        ("AspFilterSessionId", true),
        ("Payment-Signature", true),
        ("X-Payment", true),
        ("X-Payments", false),
        ("X-HTTP-Method-Overrides", false),
        ("X-Forwarded-For", false),
        ("Content-Type", false),
    ] {
        assert_eq!(is_stripped(name), want, "{name}");
    }
}

#[test]
fn query_overrides() {
    for (query, want) in [
        (Some("_method=GET"), true),
        (Some("a=1&_method=put"), true),
        (Some("a=1;_method=put"), true),
        (Some("%5Fmethod=GET"), true),
        (Some("_METHOD=GET"), true),
        (Some("_method"), true),
        (Some(".method=GET"), true),
        (Some("%20_method=GET"), true),
        (Some("+_method=GET"), true),
        (Some("_method[]=GET"), true),
        (Some("_method%00x=GET"), true),
        (Some("x_method=GET"), false),
        (Some("method=GET"), false),
        (Some("_methods=GET"), false),
        (Some(""), false),
        (None, false),
    ] {
        assert_eq!(query_has_override(query), want, "{query:?}");
    }
}

#[test]
fn encodings_that_hide_a_body() {
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
}

#[test]
fn body_overrides_whatever_the_content_type_says() {
    for (body, want) in [
        (&b"_method=GET&a=1"[..], true),
        (b"a=1&%5fmethod=GET", true),
        (b"a=1&.method=GET", true),
        (b"a=1;_method=GET", true),
        (b"a=_method&b=2", false),
        (b"", false),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nGET\r\n--xyz--", true),
        (b"--xyz\r\ncontent-disposition: form-data; NAME=_method\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name=\".method\"\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"\\_method\"\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"\\_\\m\\e\\t\\h\\o\\d\"\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name*=UTF-8''_method\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name*=UTF-8''%5Fmethod\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name*0=\"_me\"; name*1=\"thod\"\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name*1=\"thod\"; name*0*=UTF-8''%5Fme\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data;\r\n name=\"_method\"\r\n\r\nGET", true),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"_method\"\r\n\r\nx", false),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n_method", false),
        (b"{\"_method\":\"GET\"}", true),
        (b"{\"a\":1,\"_METHOD\":\"GET\"}", true),
        (b"{\"_\\u006dethod\":\"GET\"}", true),
        (b"{\"a\":{\"_method\":\"GET\"}}", false),
        (b"{\"payment\":\"card\"}", false),
        (b"[\"_method\"]", false),
        (b"{\"_method\":\"GET\"", true),
        (b"\xef\xbb\xbf{\"_method\":\"GET\"}", true),
        (b"not json, no fields", false),
    ] {
        assert_eq!(body_has_override(body), want, "{}", String::from_utf8_lossy(body));
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
    ])
    .unwrap();
    for (method, path, want) in [
        ("POST", "/premium/x", true),
        ("post", "/premium/x", true),
        ("PUT", "/premium/x", true),
        ("PROPFIND", "/premium/x", true),
        ("POST", "/reports/1", false),
        // GET is free here: an override to it gets nothing priced.
        ("POST", "/api/score", false),
        ("POST", "/free/x", false),
        ("GET", "/premium/x", false),
        ("HEAD", "/premium/x", false),
        ("POST", "/premium;a/x", true),
        // Paid as a POST, performed as a dearer DELETE: refused too.
        ("POST", "/tier", true),
        // A method only a route names is a target too.
        ("POST", "/dav/a", true),
    ] {
        assert_eq!(price_may_change(&routes, method, &normalise(path).unwrap()), want, "{method} {path}");
    }
}

#[test]
fn generated_bodies_never_panic_and_a_planted_field_is_always_found() {
    const TOKENS: &[&[u8]] = &[
        b"a=1",
        b"&",
        b";",
        b"=",
        b"%",
        b"%5f",
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
        b"method",
        b"_meth",
        b"od",
        b"[",
        b"]",
        b"\0",
        b"\xff",
        b"\xef\xbb\xbf",
        b" ",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut found = 0;
    for _ in 0..5_000 {
        let mut body = Vec::new();
        for _ in 0..next(12) {
            body.extend_from_slice(TOKENS[next(TOKENS.len())]);
        }
        found += usize::from(body_has_override(&body));
        let _ = query_has_override(std::str::from_utf8(&body).ok());
        for planted in [[&b"_method=GET&"[..], &body].concat(), [&body[..], b"&_method=GET"].concat()] {
            assert!(body_has_override(&planted), "{}", String::from_utf8_lossy(&planted));
        }
    }
    assert!(found > 0 && found < 5_000, "{found} of 5000 generated bodies read as overrides");
}
