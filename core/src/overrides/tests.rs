//! Override headers and `_method` fields, spelled the ways frameworks accept them.

use super::*;
use crate::path::normalise;
use crate::routes::RoutePattern;

#[test]
fn stripped_headers_any_case_dash_or_underscore() {
    for (name, want) in [
        ("X-HTTP-Method-Override", true),
        ("x-http-method", true),
        ("X-Method-Override", true),
        ("X_HTTP_METHOD_OVERRIDE", true),
        ("x_http-method_override", true),
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
fn body_readers_by_content_type() {
    let r = |form, multipart, json| BodyReaders { form, multipart, json };
    for (ct, want) in [
        (None, r(true, false, false)),
        (Some(""), r(true, false, false)),
        (Some("application/x-www-form-urlencoded"), r(true, false, false)),
        (Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"), r(true, false, false)),
        (Some("application/x-www-form-urlencoded, text/plain"), r(true, false, false)),
        (Some("multipart/form-data; boundary=x"), r(false, true, false)),
        (Some("multipart/mixed; boundary=x"), r(false, true, false)),
        (Some("application/json"), r(false, false, true)),
        (Some("application/vnd.api+json"), r(false, false, true)),
        (Some("text/plain; x=/json"), r(false, false, true)),
        (Some("text/plain"), r(false, false, false)),
        (Some("application/octet-stream"), r(false, false, false)),
    ] {
        assert_eq!(BodyReaders::of(ct), want, "{ct:?}");
    }
}

#[test]
fn body_overrides_for_every_reader() {
    let form = Some("application/x-www-form-urlencoded");
    let multipart = Some("multipart/form-data; boundary=xyz");
    let json = Some("application/json");
    for (ct, body, want) in [
        (form, &b"_method=GET&a=1"[..], true),
        (form, b"a=1&%5fmethod=GET", true),
        (form, b"a=1&.method=GET", true),
        (form, b"a=_method&b=2", false),
        (form, b"", false),
        (None, b"_method=GET", true),
        (Some("application/x-www-form-urlencoded, x"), b"_method=GET", true),
        (Some("text/plain"), b"_method=GET", false),
        (multipart, b"--xyz\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nGET\r\n--xyz--", true),
        (multipart, b"--xyz\r\ncontent-disposition: form-data; NAME=_method\r\n\r\nGET", true),
        (multipart, b"--xyz\r\nContent-Disposition: form-data; name=\".method\"\r\n\r\nGET", true),
        (Some("multipart/mixed; boundary=xyz"), b"--xyz\r\nContent-Disposition: form-data; name=\"_method\"", true),
        (multipart, b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n_method", false),
        (json, b"{\"_method\":\"GET\"}", true),
        (json, b"{\"a\":1,\"_METHOD\":\"GET\"}", true),
        (json, b"{\"_\\u006dethod\":\"GET\"}", true),
        (json, b"{\"a\":{\"_method\":\"GET\"}}", false),
        (json, b"{\"payment\":\"card\"}", false),
        (json, b"[\"_method\"]", false),
        (json, b"{\"_method\":\"GET\"", true),
        (json, b"not json", false),
        (Some("text/plain; x=/json"), b"{\"_method\":\"GET\"}", true),
    ] {
        assert_eq!(body_has_override(ct, body), want, "{ct:?} {}", String::from_utf8_lossy(body));
    }
}

#[test]
fn overrides_matter_only_where_another_method_is_priced_differently() {
    let routes = RouteTable::new(vec![
        (RoutePattern::parse("GET /premium/*").unwrap(), ()),
        (RoutePattern::parse("/reports/:id").unwrap(), ()),
        (RoutePattern::parse("POST /api/score").unwrap(), ()),
        (RoutePattern::parse("POST /tier").unwrap(), ()),
        (RoutePattern::parse("DELETE /tier").unwrap(), ()),
    ])
    .unwrap();
    for (method, path, want) in [
        ("POST", "/premium/x", true),
        ("post", "/premium/x", true),
        ("POST", "/reports/1", false),
        // GET is free here: an override to it gets nothing priced.
        ("POST", "/api/score", false),
        ("POST", "/free/x", false),
        ("GET", "/premium/x", false),
        ("PUT", "/premium/x", false),
        ("POST", "/premium;a/x", true),
        // Paid as a POST, performed as a dearer DELETE: refused too.
        ("POST", "/tier", true),
    ] {
        assert_eq!(price_may_change(&routes, method, &normalise(path).unwrap()), want, "{method} {path}");
    }
}
