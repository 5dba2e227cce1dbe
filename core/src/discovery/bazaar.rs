//! The x402 `bazaar` extension of a described route's 402 (`specs/extensions/bazaar.md`):
//! `info.input` (type `http`, the method, query parameters, path parameters, body),
//! `info.output`, the JSON Schema 2020-12 that validates `info`, and `routeTemplate` for
//! a route with `:params`. Everything but the path parameters is made once per route;
//! those are read from each resource URL (the URL's path segment at each parameter's
//! place, percent-decoded, as the value its schema's `type` names when it reads as one).

use serde_json::{json, Map, Value};

use super::schema::{example, single_type};
use super::{Output, RouteDoc};
use crate::routes::RoutePattern;

/// A path parameter: where it is in the path, its name, and the type it is read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSlot {
    index: usize,
    name: String,
    kind: Option<String>,
}

/// A route's bazaar extension without its path parameters' values.
#[derive(Debug, Clone, PartialEq)]
pub struct Bazaar {
    extension: Value,
    slots: Vec<ParamSlot>,
}

impl Bazaar {
    /// The extension of a route that declares `input`; `None` for one that does not, or
    /// is not discoverable.
    pub fn of(pattern: &RoutePattern, doc: &RouteDoc, mime_type: &str) -> Option<Self> {
        let input = doc.input.as_ref().filter(|_| doc.discoverable)?;
        let mut info_input = Map::new();
        let mut props = Map::new();
        let mut required = vec![json!("type"), json!("method")];
        info_input.insert("type".into(), json!("http"));
        info_input.insert("method".into(), json!(doc.method));
        props.insert("type".into(), json!({ "type": "string", "const": "http" }));
        props.insert("method".into(), json!({ "type": "string", "enum": [doc.method] }));
        if !input.query_params.is_empty() {
            let mut examples = Map::new();
            let mut schemas = Map::new();
            for p in &input.query_params {
                if let Some(e) = example(&p.schema) {
                    examples.insert(p.name.clone(), e);
                }
                schemas.insert(p.name.clone(), p.schema.clone());
            }
            info_input.insert("queryParams".into(), Value::Object(examples));
            props.insert("queryParams".into(), json!({ "type": "object", "properties": schemas }));
        }
        if !input.path_params.is_empty() {
            let schemas: Map<String, Value> =
                input.path_params.iter().map(|p| (p.name.clone(), p.schema.clone())).collect();
            let names: Vec<&str> = input.path_params.iter().map(|p| p.name.as_str()).collect();
            props.insert("pathParams".into(), json!({ "type": "object", "properties": schemas, "required": names }));
        }
        if let Some((body_type, schema)) = &input.body {
            let fallback = if *body_type == super::BodyType::Text { json!("") } else { json!({}) };
            info_input.insert("bodyType".into(), json!(body_type.name()));
            info_input.insert("body".into(), example(schema).unwrap_or(fallback));
            props.insert("bodyType".into(), json!({ "type": "string", "enum": [body_type.name()] }));
            props.insert("body".into(), schema.clone());
            required.extend([json!("bodyType"), json!("body")]);
        }
        props.insert("headers".into(), json!({ "type": "object", "additionalProperties": { "type": "string" } }));
        let mut info = Map::new();
        info.insert("input".into(), Value::Object(info_input));
        let mut schema_props = Map::new();
        schema_props.insert(
            "input".into(),
            json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false }),
        );
        if let Some(output) = &doc.output {
            let (info_output, schema_output) = output_of(output, mime_type);
            info.insert("output".into(), info_output);
            schema_props.insert("output".into(), schema_output);
        }
        let mut extension = Map::new();
        extension.insert("info".into(), Value::Object(info));
        extension.insert(
            "schema".into(),
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": schema_props,
                "required": ["input"],
            }),
        );
        let template = pattern.path_text();
        if pattern.params().next().is_some() && is_route_template(&template) {
            extension.insert("routeTemplate".into(), json!(template));
        }
        let slots = pattern
            .params()
            .map(|(index, name)| {
                let schema = input.path_params.iter().find(|p| p.name == name).map(|p| &p.schema);
                let kind = schema.and_then(single_type).map(str::to_string);
                ParamSlot { index, name: name.to_string(), kind }
            })
            .collect();
        Some(Self { extension: Value::Object(extension), slots })
    }

    /// The path parameter slots (empty for a route without `:params`).
    pub fn slots(&self) -> &[ParamSlot] {
        &self.slots
    }

    /// The extension with `info.input.pathParams` set to `params` (when the route has
    /// parameters).
    pub fn with_params(&self, params: Value) -> Value {
        let mut extension = self.extension.clone();
        if !self.slots.is_empty() {
            if let Some(input) = extension.pointer_mut("/info/input").and_then(Value::as_object_mut) {
                input.insert("pathParams".into(), params);
            }
        }
        extension
    }
}

/// `info.output` and its schema: the type (`json` for JSON or unknown media types,
/// `text` for text ones, else the media type), the example (given, or made from the
/// schema), and the schema of the example.
fn output_of(output: &Output, mime_type: &str) -> (Value, Value) {
    let mime = mime_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let kind = if mime.is_empty() || mime.ends_with("json") || mime.ends_with("+json") {
        "json".to_string()
    } else if mime.starts_with("text/") {
        "text".to_string()
    } else {
        mime
    };
    let mut info = Map::new();
    info.insert("type".into(), json!(kind));
    if let Some(e) = output.example.clone().or_else(|| output.schema.as_ref().and_then(example)) {
        info.insert("example".into(), e);
    }
    let mut props = Map::new();
    props.insert("type".into(), json!({ "type": "string" }));
    props.insert("example".into(), output.schema.clone().unwrap_or(json!({})));
    (Value::Object(info), json!({ "type": "object", "properties": props, "required": ["type"] }))
}

/// Whether catalogs take `text` as a route template: `/` then letters, digits and
/// `_/:.-~%` only, no `..`.
fn is_route_template(text: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_/:.-~%".contains(c);
    text.starts_with('/') && text.len() > 1 && text.chars().all(allowed) && !text.contains("..")
}

/// `info.input.pathParams` for a resource URL: each parameter's segment of the URL's
/// path (absent when the path is shorter), percent-decoded, read as its schema's type.
pub fn params_for(slots: &[ParamSlot], resource_url: &str) -> Value {
    let after_scheme = resource_url.find("://").map_or(resource_url, |i| &resource_url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out = Map::new();
    for slot in slots {
        let Some(raw) = segments.get(slot.index).filter(|s| !s.is_empty()) else { continue };
        let text = percent_decoded(raw);
        let value = match slot.kind.as_deref() {
            Some("integer") => text.parse::<i64>().map(Value::from).ok(),
            // The JSON reader's number parsing (no float parser of its own in the bundle).
            Some("number") => serde_json::from_str::<Value>(&text).ok().filter(Value::is_number),
            Some("boolean") => match text.as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        out.insert(slot.name.clone(), value.unwrap_or(Value::String(text)));
    }
    Value::Object(out)
}

/// `%XX` decoded; the text as it is when that is not UTF-8 or not valid escapes.
fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| raw.to_string())
}
