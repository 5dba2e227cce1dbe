//! The three discovery documents, rendered from the route table: the crawlers' resource
//! list, OpenAPI 3.1 and the page for agents; and their HTTP answer (GET and HEAD only,
//! `ETag` with `If-None-Match`, public caching, any origin may read them).

use serde_json::{json, Map, Value};

use super::{Doc, Param, RouteDoc};
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
    if !head && !method.eq_ignore_ascii_case("GET") {
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        headers.push(("Allow", "GET, HEAD".to_string()));
        return Reply { status: 405, headers, body: r#"{"error":"method_not_allowed"}"#.into() };
    }
    let page = config.discovery.page(doc, origin, || render(config, doc, origin));
    let content_type = match doc {
        Doc::WellKnown | Doc::OpenApi => "application/json",
        Doc::Llms => "text/markdown; charset=utf-8",
    };
    let headers = vec![
        ("Content-Type", content_type.to_string()),
        ("Cache-Control", format!("public, max-age={MAX_AGE_SECONDS}")),
        ("ETag", page.etag.clone()),
        ("Access-Control-Allow-Origin", "*".to_string()),
        ("Access-Control-Expose-Headers", "ETag".to_string()),
    ];
    if if_none_match.is_some_and(|list| matches_etag(list, &page.etag)) {
        return Reply { status: 304, headers, body: String::new() };
    }
    Reply { status: 200, headers, body: if head { String::new() } else { page.body.clone() } }
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

/// The discoverable routes, in table order.
fn listed(config: &Config) -> impl Iterator<Item = (&RoutePattern, &PricedRoute)> {
    config.routes.iter().filter(|(_, r)| r.doc.discoverable)
}

/// `METHOD /path` as the resource list names a route (the documented method).
fn resource_name(pattern: &RoutePattern, doc: &RouteDoc) -> String {
    format!("{} {}", doc.method, pattern.path_text())
}

/// What one payment option accepts, as the documents show it.
fn accepts(o: &PaymentOption) -> Value {
    json!({
        "scheme": "exact",
        "network": o.network.caip2(),
        "asset": o.asset.checksummed(),
        "assetName": o.asset_name,
        "decimals": o.decimals,
        "amount": o.amount.to_string(),
        "price": o.amount.to_dollars(o.decimals),
        "payTo": o.pay_to.checksummed(),
        "maxTimeoutSeconds": o.max_timeout_seconds,
    })
}

const INSTRUCTIONS: &str = "Every resource listed here is paid per request with x402. Request it: the 402 answer \
carries the payment requirements (x402 v2 in the PAYMENT-REQUIRED header, v1 in the JSON body). Sign an EIP-3009 \
transferWithAuthorization for one of them and repeat the request with the payment in PAYMENT-SIGNATURE (v2) or \
X-PAYMENT (v1). The paid answer carries PAYMENT-RESPONSE (the settlement) and PAYMENT-RECEIPT (a signed receipt, \
keys at /.well-known/jwks.json). A retry of the same payment is never charged twice.";

fn well_known(config: &Config, origin: &str) -> String {
    let mut resources = Vec::new();
    let mut items = Vec::new();
    for (pattern, route) in listed(config) {
        let name = resource_name(pattern, &route.doc);
        let mut item = Map::new();
        item.insert("resource".into(), json!(name));
        item.insert("urlTemplate".into(), json!(format!("{origin}{}", pattern.openapi_path().0)));
        item.insert("method".into(), json!(route.doc.method));
        if !route.description.is_empty() {
            item.insert("description".into(), json!(route.description));
        }
        if !route.mime_type.is_empty() {
            item.insert("mimeType".into(), json!(route.mime_type));
        }
        item.insert("accepts".into(), route.options.iter().map(accepts).collect());
        resources.push(json!(name));
        items.push(Value::Object(item));
    }
    let mut out = Map::new();
    out.insert("version".into(), json!(1));
    out.insert("resources".into(), Value::Array(resources));
    out.insert("instructions".into(), json!(INSTRUCTIONS));
    out.insert("items".into(), Value::Array(items));
    if let Some(link) = config.discovery.link(Doc::OpenApi, origin) {
        out.insert("openapi".into(), json!(link));
    }
    Value::Object(out).to_string()
}

/// OpenAPI's method names.
const OPENAPI_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn parameter(p: &Param, place: &str, required: bool) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(p.name));
    out.insert("in".into(), json!(place));
    out.insert("required".into(), json!(required));
    if let Some(d) = p.schema.get("description") {
        out.insert("description".into(), d.clone());
    }
    out.insert("schema".into(), p.schema.clone());
    Value::Object(out)
}

fn operation(pattern: &RoutePattern, route: &PricedRoute, rest: Option<&str>) -> Value {
    let doc = &route.doc;
    let mut op = Map::new();
    let summary = if route.description.is_empty() { resource_name(pattern, doc) } else { route.description.clone() };
    op.insert("summary".into(), json!(summary));
    let id: String = resource_name(pattern, doc)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    op.insert("operationId".into(), json!(id));
    let mut parameters = Vec::new();
    let input = doc.input.as_ref();
    let declared = input.map(|i| i.path_params.clone()).unwrap_or_default();
    for (_, name) in pattern.params() {
        let p = declared.iter().find(|p| p.name == name).cloned();
        let p = p.unwrap_or_else(|| Param { name: name.to_string(), schema: json!({ "type": "string" }) });
        parameters.push(parameter(&p, "path", true));
    }
    if let Some(rest) = rest {
        let schema = json!({ "type": "string", "description": "the rest of the path (any number of segments)" });
        parameters.push(parameter(&Param { name: rest.to_string(), schema }, "path", true));
    }
    for p in input.map(|i| i.query_params.as_slice()).unwrap_or_default() {
        parameters.push(parameter(p, "query", false));
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some((body_type, schema)) = input.and_then(|i| i.body.as_ref()) {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { body_type.media_type(): { "schema": schema } } }),
        );
    }
    let mime = if route.mime_type.is_empty() { "application/json" } else { route.mime_type.as_str() };
    let mut media = Map::new();
    if let Some(output) = &doc.output {
        if let Some(schema) = &output.schema {
            media.insert("schema".into(), schema.clone());
        }
        if let Some(example) = &output.example {
            media.insert("example".into(), example.clone());
        }
    }
    let mut content = Map::new();
    content.insert(mime.to_string(), Value::Object(media));
    op.insert(
        "responses".into(),
        json!({
            "200": {
                "description": "The paid answer, with PAYMENT-RESPONSE (the settlement) and PAYMENT-RECEIPT (a signed receipt)",
                "content": content,
            },
            "402": {
                "description": "Payment required: the x402 v2 requirements in PAYMENT-REQUIRED (base64 JSON), v1 in the body",
                "headers": { "PAYMENT-REQUIRED": { "schema": { "type": "string" } } },
            },
        }),
    );
    let default = route.options.first().map(accepts).unwrap_or(Value::Null);
    let mut info = default.as_object().cloned().unwrap_or_default();
    info.insert("accepts".into(), route.options.iter().map(accepts).collect());
    op.insert("x-payment-info".into(), Value::Object(info));
    Value::Object(op)
}

fn openapi(config: &Config, origin: &str) -> String {
    let mut paths = Map::new();
    for (pattern, route) in listed(config) {
        let method = route.doc.method.to_ascii_lowercase();
        if !OPENAPI_METHODS.contains(&method.as_str()) {
            continue;
        }
        let (path, rest) = pattern.openapi_path();
        let item = paths.entry(path).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            // First match wins, in the documents as in routing.
            if !item.contains_key(&method) {
                item.insert(method, operation(pattern, route, rest.as_deref()));
            }
        }
    }
    let d = &config.discovery;
    let mut info = Map::new();
    info.insert("title".into(), json!(d.title));
    info.insert("version".into(), json!("1"));
    let description = d.description.clone().unwrap_or_else(|| INSTRUCTIONS.to_string());
    info.insert("description".into(), json!(description));
    json!({
        "openapi": "3.1.0",
        "info": info,
        "servers": [{ "url": origin }],
        "paths": paths,
    })
    .to_string()
}

fn llms(config: &Config, origin: &str) -> String {
    let d = &config.discovery;
    let mut out = format!("# {}\n\n", d.title.replace('\n', " "));
    let about = d.description.as_deref().unwrap_or("An API whose resources are paid per request over HTTP 402 (x402).");
    out.push_str(&format!("> {about}\n\n## What is sold\n\n"));
    let mut any = false;
    for (pattern, route) in listed(config) {
        any = true;
        let prices: Vec<String> = route
            .options
            .iter()
            .map(|o| {
                let network = o.network.v1_name().map_or_else(|| o.network.caip2(), |n| format!("{n}, {}", o.network));
                format!("{} {} ({} atomic units) on {network}", o.amount.to_dollars(o.decimals), o.asset_name, o.amount)
            })
            .collect();
        let what = if route.description.is_empty() { String::new() } else { format!(": {}", route.description) };
        out.push_str(&format!("- `{}`{what}. {}\n", resource_name(pattern, &route.doc), prices.join("; or ")));
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
