//! The three discovery documents, rendered from the route table: the crawlers' resource
//! list, OpenAPI 3.1 and the page for agents; and their HTTP answer (GET and HEAD only,
//! `ETag` with `If-None-Match`, public caching, any origin may read them).

use serde_json::Value;

use super::text::{array, Obj};
use crate::codec::to_json;

use super::{Doc, RouteDoc, ORIGIN_SLOT};
use crate::config::Config;
use crate::requirements::PaymentOption;
use crate::respond::Reply;
use crate::routes::{PricedRoute, RoutePattern};

/// The longest `PAYMENT-REQUIRED` value a route's challenge may have (the bazaar extension
/// makes it grow): Node's HTTP client, which the official TypeScript x402 clients use,
/// refuses a response whose header section passes 16 KiB; this leaves room for the
/// resource URL and the other headers.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// How long a cache may keep a document before asking again (it revalidates by `ETag`).
const MAX_AGE_SECONDS: u32 = 300;

/// The answer to a request for `doc`, for the `origin` (`scheme://host`) the documents
/// name; `method` and `if_none_match` as the request sent them.
pub fn answer(config: &Config, doc: Doc, origin: &str, method: &str, if_none_match: Option<&str>) -> Reply {
    let head = method.eq_ignore_ascii_case("HEAD");
    if !crate::http::is_get_or_head(method) {
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        headers.push(("Allow", "GET, HEAD".to_string()));
        return Reply { status: 405, headers, body: r#"{"error":"method_not_allowed"}"#.into() };
    }
    let page = config.discovery.page(doc, || render(config, doc, ORIGIN_SLOT));
    let json = matches!(doc, Doc::WellKnown | Doc::OpenApi);
    let content_type = if json { "application/json" } else { "text/markdown; charset=utf-8" };
    // The tag of this document for this origin (the slot's content).
    let digest = crate::crypto::sha256(format!("{}\n{origin}", page.etag).as_bytes());
    let etag = format!("\"{}\"", crate::codec::base64url_encode(&digest[..12]));
    let fresh = if_none_match.is_some_and(|list| matches_etag(list, &etag));
    let headers = vec![
        ("Content-Type", content_type.to_string()),
        ("Cache-Control", format!("public, max-age={MAX_AGE_SECONDS}")),
        ("ETag", etag),
        ("Access-Control-Allow-Origin", "*".to_string()),
        ("Access-Control-Expose-Headers", "ETag".to_string()),
    ];
    if fresh {
        return Reply { status: 304, headers, body: String::new() };
    }
    if head {
        return Reply { status: 200, headers, body: String::new() };
    }
    // In a JSON document the origin stands inside strings: it is escaped as one.
    let quoted = to_json(&origin);
    let filled = if json { &quoted[1..quoted.len() - 1] } else { origin };
    Reply { status: 200, headers, body: page.body.replace(ORIGIN_SLOT, filled) }
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for
/// this header) or is `*`.
pub fn matches_etag(list: &str, etag: &str) -> bool {
    list.trim() == "*" || list.split(',').map(str::trim).any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The document's body.
pub fn render(config: &Config, doc: Doc, origin: &str) -> String {
    match doc {
        Doc::WellKnown => well_known(config, origin),
        Doc::OpenApi => openapi(config, origin),
        Doc::Llms => llms(config, origin),
    }
}

/// The discoverable routes, in table order, leaving out a route that an earlier one
/// shadows for the method it is documented with (`GET /a` before a method-less `/a`: a GET
/// is charged as the first, so the second is no GET resource).
fn listed(config: &Config) -> impl Iterator<Item = (&RoutePattern, &PricedRoute)> {
    let all: Vec<(&RoutePattern, &PricedRoute)> = config.routes.iter().collect();
    let shadowed = move |i: usize| {
        let (pattern, route) = all[i];
        let method = route.doc.method.as_str();
        all[..i].iter().any(|(earlier, _)| {
            let covers = earlier.method().is_none_or(|m| m == method || (m == "GET" && method == "HEAD"));
            covers && earlier.path_shape() == pattern.path_shape()
        })
    };
    config.routes.iter().enumerate().filter(move |(i, (_, r))| r.doc.discoverable && !shadowed(*i)).map(|(_, e)| e)
}

/// `METHOD /path` as the resource list names a route (the documented method).
fn resource_name(pattern: &RoutePattern, doc: &RouteDoc) -> String {
    format!("{} {}", doc.method, pattern.path_text())
}

/// What one payment option accepts, as the documents show it.
fn accepts(o: &PaymentOption) -> String {
    Obj::new()
        .str("scheme", "exact")
        .str("network", &o.network.caip2())
        .str("asset", &o.asset.checksummed())
        .str("assetName", &o.asset_name)
        .raw("decimals", &o.decimals.to_string())
        .str("amount", &o.amount.to_string())
        .str("price", &o.amount.to_dollars(o.decimals))
        .str("payTo", &o.pay_to.checksummed())
        .raw("maxTimeoutSeconds", &o.max_timeout_seconds.to_string())
        .end()
}

/// What a route costs, as `x-payment-info` and MCP's `x402/price` show it: the default
/// option's fields, then `accepts` with every option.
pub fn price_info(route: &PricedRoute) -> String {
    let default = route.options.first().map(accepts).unwrap_or_else(|| "{}".into());
    format!("{},\"accepts\":{}}}", default.trim_end_matches('}'), all_accepts(route))
}

fn all_accepts(route: &PricedRoute) -> String {
    array(route.options.iter().map(accepts))
}

const INSTRUCTIONS: &str = "Every resource listed here is paid per request with x402. Request it: the 402 answer \
carries the payment requirements (x402 v2 in the PAYMENT-REQUIRED header, v1 in the JSON body). Sign an EIP-3009 \
transferWithAuthorization for one of them and repeat the request with the payment in PAYMENT-SIGNATURE (v2) or \
X-PAYMENT (v1). The paid answer carries PAYMENT-RESPONSE (the settlement) and PAYMENT-RECEIPT (a signed receipt, \
keys at /.well-known/jwks.json). A retry of the same payment is never charged twice.";

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| to_json(text))
}

fn well_known(config: &Config, origin: &str) -> String {
    let mut resources = Vec::new();
    let mut items = Vec::new();
    for (pattern, route) in listed(config) {
        let name = resource_name(pattern, &route.doc);
        let item = Obj::new()
            .str("resource", &name)
            .str("urlTemplate", &format!("{origin}{}", pattern.openapi_path().0))
            .str("method", &route.doc.method)
            .maybe("description", non_empty(&route.description).as_deref())
            .maybe("mimeType", non_empty(&route.mime_type).as_deref())
            .raw("accepts", &all_accepts(route));
        resources.push(to_json(&name));
        items.push(item.end());
    }
    let openapi = config.discovery.link(Doc::OpenApi, origin).map(|l| to_json(&l));
    Obj::new()
        .raw("version", "1")
        .raw("resources", &array(resources))
        .str("instructions", INSTRUCTIONS)
        .raw("items", &array(items))
        .maybe("openapi", openapi.as_deref())
        .end()
}

/// OpenAPI's method names.
const OPENAPI_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn parameter(name: &str, schema: &Value, place: &str, required: bool) -> String {
    let description = schema.get("description").map(to_json);
    Obj::new()
        .str("name", name)
        .str("in", place)
        .raw("required", if required { "true" } else { "false" })
        .maybe("description", description.as_deref())
        .value("schema", schema)
        .end()
}

/// The `{names}` of an OpenAPI path template, in order.
fn template_names(template: &str) -> Vec<String> {
    template.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).map(str::to_string).collect()
}

/// The path template's shape: `{}` for every name (OpenAPI calls two paths of one shape
/// identical).
fn template_shape(template: &str) -> String {
    let shaped: Vec<&str> =
        template.split('/').map(|s| if s.starts_with('{') && s.ends_with('}') { "{}" } else { s }).collect();
    shaped.join("/")
}

/// An operation; `names` are the path's parameter names in order (the first route of the
/// path's shape named them), `id` its unique operation id.
fn operation(pattern: &RoutePattern, route: &PricedRoute, names: &[String], id: &str) -> String {
    let doc = &route.doc;
    let name = resource_name(pattern, doc);
    let summary = if route.description.is_empty() { name.clone() } else { route.description.clone() };
    let mut parameters = Vec::new();
    let input = doc.input.as_ref();
    let plain: Value = serde_json::from_str(r#"{"type":"string"}"#).unwrap_or_default();
    let mut named = names.iter();
    for (_, name) in pattern.params() {
        let declared = input.and_then(|i| i.path_params.iter().find(|p| p.name == name));
        let shown = named.next().map_or(name, String::as_str);
        parameters.push(parameter(shown, declared.map_or(&plain, |p| &p.schema), "path", true));
    }
    if let Some(rest) = named.next().filter(|_| pattern.has_wildcard()) {
        let schema: Value =
            serde_json::from_str(r#"{"type":"string","description":"the rest of the path (any number of segments)"}"#)
                .unwrap_or_default();
        parameters.push(parameter(rest, &schema, "path", true));
    }
    for p in input.map(|i| i.query_params.as_slice()).unwrap_or_default() {
        parameters.push(parameter(&p.name, &p.schema, "query", false));
    }
    let body = input.and_then(|i| i.body.as_ref()).map(|(body_type, schema)| {
        let content = Obj::new().raw(body_type.media_type(), &Obj::new().value("schema", schema).end()).end();
        Obj::new().raw("required", "true").raw("content", &content).end()
    });
    let mime = if route.mime_type.is_empty() { "application/json" } else { route.mime_type.as_str() };
    let output = doc.output.as_ref();
    let schema = output.and_then(|o| o.schema.as_ref()).map(to_json);
    let example = output.and_then(|o| o.example.as_ref()).map(to_json);
    let media = Obj::new().maybe("schema", schema.as_deref()).maybe("example", example.as_deref()).end();
    let ok = Obj::new()
        .str(
            "description",
            "The paid answer, with PAYMENT-RESPONSE (the settlement) and PAYMENT-RECEIPT (a signed receipt)",
        )
        .raw("content", &Obj::new().raw(mime, &media).end())
        .end();
    let required = Obj::new()
        .str(
            "description",
            "Payment required: the x402 v2 requirements in PAYMENT-REQUIRED (base64 JSON), v1 in the body",
        )
        .raw("headers", r#"{"PAYMENT-REQUIRED":{"schema":{"type":"string"}}}"#)
        .end();
    let info = price_info(route);
    Obj::new()
        .str("summary", &summary)
        .str("operationId", id)
        .maybe("parameters", (!parameters.is_empty()).then(|| array(parameters)).as_deref())
        .maybe("requestBody", body.as_deref())
        .raw("responses", &Obj::new().raw("200", &ok).raw("402", &required).end())
        .raw("x-payment-info", &info)
        .end()
}

fn openapi(config: &Config, origin: &str) -> String {
    // Paths in table order, each with its operations; first match wins, in the document as
    // in routing.
    let mut paths: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for (pattern, route) in listed(config) {
        let method = route.doc.method.to_ascii_lowercase();
        if !OPENAPI_METHODS.contains(&method.as_str()) {
            continue;
        }
        let path = pattern.openapi_path().0;
        // One path per shape, named by its first route.
        let at = match paths.iter().position(|(p, _)| template_shape(p) == template_shape(&path)) {
            Some(at) => at,
            None => {
                paths.push((path, Vec::new()));
                paths.len() - 1
            }
        };
        let names = template_names(&paths[at].0);
        if paths[at].1.iter().any(|(m, _)| *m == method) {
            continue;
        }
        let base: String = resource_name(pattern, &route.doc)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        let mut id = base.clone();
        let mut n = 1;
        while ids.contains(&id) {
            n += 1;
            id = format!("{base}_{n}");
        }
        let op = operation(pattern, route, &names, &id);
        ids.push(id);
        paths[at].1.push((method, op));
    }
    let paths = paths
        .iter()
        .fold(Obj::new(), |o, (path, ops)| {
            o.raw(path, &ops.iter().fold(Obj::new(), |item, (m, op)| item.raw(m, op)).end())
        })
        .end();
    let d = &config.discovery;
    let info = Obj::new()
        .str("title", &d.title)
        .str("version", "1")
        .str("description", d.description.as_deref().unwrap_or(INSTRUCTIONS))
        .end();
    Obj::new()
        .str("openapi", "3.1.0")
        .raw("info", &info)
        .raw("servers", &array([Obj::new().str("url", origin).end()]))
        .raw("paths", &paths)
        .end()
}

/// `text` as a Markdown code span: fenced by one more backtick than its longest run.
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if longest > 0 { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn llms(config: &Config, origin: &str) -> String {
    let d = &config.discovery;
    let mut out = format!("# {}\n\n", d.title.replace('\n', " "));
    let about = d.description.as_deref().unwrap_or("An API whose resources are paid per request over HTTP 402 (x402).");
    out.push_str(&format!("> {about}\n\n## What is sold\n\n"));
    let prices = |route: &PricedRoute| {
        let each: Vec<String> = route
            .options
            .iter()
            .map(|o| {
                let network = o.network.v1_name().map_or_else(|| o.network.caip2(), |n| format!("{n}, {}", o.network));
                format!("{} {} ({} atomic units) on {network}", o.amount.to_dollars(o.decimals), o.asset_name, o.amount)
            })
            .collect();
        each.join("; or ")
    };
    let what = |route: &PricedRoute| {
        if route.description.is_empty() {
            String::new()
        } else {
            format!(": {}", route.description)
        }
    };
    let mut any = false;
    for (pattern, route) in listed(config) {
        any = true;
        let name = code_span(&resource_name(pattern, &route.doc));
        out.push_str(&format!("- {name}{}. {}\n", what(route), prices(route)));
    }
    for endpoint in &config.mcp {
        any = true;
        let tools = endpoint
            .tools
            .iter()
            .map(|(glob, route)| format!("  - tool {}{}. {}\n", code_span(glob.as_str()), what(route), prices(route)));
        let tools: String = tools.collect();
        out.push_str(&format!(
            "- MCP (Streamable HTTP) at {}: {origin}{}\n{tools}",
            code_span(&format!("POST {}", endpoint.path)),
            endpoint.path
        ));
    }
    if !config.mcp.is_empty() {
        out.push_str(
            "\nAn MCP tool's price is in its `_meta[\"x402/price\"]` in `tools/list`; an unpaid call of a priced \
             tool answers the x402 `PaymentRequired` as its result (`isError`, `structuredContent`); send the \
             `PaymentPayload` in `params._meta[\"x402/payment\"]`.\n",
        );
    }
    if !any {
        out.push_str("Nothing is listed.\n");
    }
    out.push_str("\n## How to pay\n\n");
    out.push_str(
        "1. Request the resource. The `402` answer carries the requirements: x402 v2 in the `PAYMENT-REQUIRED` \
         header (base64 JSON), v1 in the JSON body.\n\
         2. Sign an EIP-3009 `transferWithAuthorization` of the amount to `payTo` with an x402 client \
         (for example `@x402/fetch` with `@x402/evm`).\n\
         3. Repeat the request with the payment in `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1). The paid answer \
         carries `PAYMENT-RESPONSE` and a signed `PAYMENT-RECEIPT` (keys at `/.well-known/jwks.json`). A retry of \
         the same payment is never charged twice.\n",
    );
    let links: Vec<String> = [(Doc::OpenApi, "OpenAPI 3.1"), (Doc::WellKnown, "x402 resource list")]
        .into_iter()
        .filter_map(|(doc, name)| d.link(doc, origin).map(|l| format!("- [{name}]({l})")))
        .collect();
    if !links.is_empty() {
        out.push_str(&format!("\n## Documents\n\n{}\n", links.join("\n")));
    }
    out
}
