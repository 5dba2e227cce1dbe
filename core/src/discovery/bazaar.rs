//! The x402 `bazaar` extension of a described route's 402 (`specs/extensions/bazaar.md`):
//! `info.input` (type `http`, the method, query parameters, path parameters, body),
//! `info.output`, the JSON Schema 2020-12 that validates `info`, and `routeTemplate` for
//! a route with `:params`. Everything but the path parameters is made once per route;
//! those are read from each resource URL (the URL's path segment at each parameter's
//! place, percent-decoded, as the value its schema's `type` names when it reads as one).

use serde_json::{Map, Value};

use super::schema::{example, single_type};
use super::text::{array, Obj};
use super::{Output, RouteDoc};
use crate::codec::to_json;
use crate::routes::RoutePattern;

/// A body schema that names no example, and none can be made from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoBodyExample;

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
    /// The extension of a route that declares `input`; `Ok(None)` for one that does not,
    /// or is not discoverable; `Err` when its body schema names no example and none can
    /// be made from it (catalogs validate the example against the schema).
    pub fn of(pattern: &RoutePattern, doc: &RouteDoc, mime_type: &str) -> Result<Option<Self>, NoBodyExample> {
        let Some(input) = doc.input.as_ref().filter(|_| doc.discoverable) else { return Ok(None) };
        let method = to_json(&doc.method);
        let mut info = Obj::new().str("type", "http").raw("method", &method);
        let mut props = Obj::new()
            .raw("type", r#"{"type":"string","const":"http"}"#)
            .raw("method", &format!(r#"{{"type":"string","enum":[{method}]}}"#));
        let mut required = vec![r#""type""#, r#""method""#];
        if !input.query_params.is_empty() {
            let (mut examples, mut schemas) = (Obj::new(), Obj::new());
            for p in &input.query_params {
                if let Some(e) = example(&p.schema) {
                    examples = examples.value(&p.name, &e);
                }
                schemas = schemas.value(&p.name, &p.schema);
            }
            info = info.raw("queryParams", &examples.end());
            props = props.raw("queryParams", &Obj::new().str("type", "object").raw("properties", &schemas.end()).end());
        }
        if !input.path_params.is_empty() {
            let schemas = input.path_params.iter().fold(Obj::new(), |o, p| o.value(&p.name, &p.schema)).end();
            let names = array(input.path_params.iter().map(|p| to_json(&p.name)));
            let object = Obj::new().str("type", "object").raw("properties", &schemas).raw("required", &names);
            props = props.raw("pathParams", &object.end());
        }
        if let Some((body_type, schema)) = &input.body {
            info = info.str("bodyType", body_type.name()).value("body", &example(schema).ok_or(NoBodyExample)?);
            let enumerated = format!(r#"{{"type":"string","enum":["{}"]}}"#, body_type.name());
            props = props.raw("bodyType", &enumerated).value("body", schema);
            required.extend([r#""bodyType""#, r#""body""#]);
        }
        props = props.raw("headers", r#"{"type":"object","additionalProperties":{"type":"string"}}"#);
        let input_schema = Obj::new()
            .str("type", "object")
            .raw("properties", &props.end())
            .raw("required", &array(required))
            .raw("additionalProperties", "false")
            .end();
        let mut info = Obj::new().raw("input", &info.end());
        let mut schema_props = Obj::new().raw("input", &input_schema);
        if let Some(output) = &doc.output {
            let (info_output, schema_output) = output_of(output, mime_type);
            info = info.raw("output", &info_output);
            schema_props = schema_props.raw("output", &schema_output);
        }
        let schema = Obj::new()
            .str("$schema", "https://json-schema.org/draft/2020-12/schema")
            .str("type", "object")
            .raw("properties", &schema_props.end())
            .raw("required", r#"["input"]"#)
            .end();
        let template = pattern.path_text();
        let template = (pattern.params().next().is_some() && is_route_template(&template)).then(|| to_json(&template));
        let text = Obj::new()
            .raw("info", &info.end())
            .maybe("routeTemplate", template.as_deref())
            .raw("schema", &schema)
            .end();
        let Ok(extension) = serde_json::from_str(&text) else { return Ok(None) };
        let slots = pattern
            .params()
            .map(|(index, name)| {
                let schema = input.path_params.iter().find(|p| p.name == name).map(|p| &p.schema);
                let kind = schema.and_then(single_type).map(str::to_string);
                ParamSlot { index, name: name.to_string(), kind }
            })
            .collect();
        Ok(Some(Self { extension, slots }))
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
fn output_of(output: &Output, mime_type: &str) -> (String, String) {
    let mime = mime_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let kind = if mime.is_empty() || mime.ends_with("json") {
        "json".to_string()
    } else if mime.starts_with("text/") {
        "text".to_string()
    } else {
        mime
    };
    let example = output.example.clone().or_else(|| output.schema.as_ref().and_then(example)).map(|e| to_json(&e));
    let info = Obj::new().str("type", &kind).maybe("example", example.as_deref()).end();
    let example_schema = output.schema.as_ref().map_or_else(|| "{}".to_string(), to_json);
    let props = Obj::new().raw("type", r#"{"type":"string"}"#).raw("example", &example_schema).end();
    (info, Obj::new().str("type", "object").raw("properties", &props).raw("required", r#"["type"]"#).end())
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
    let path = crate::http::RequestUrl::parse(resource_url).map_or("", |u| u.path);
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
    let decoded = crate::path::percent_decode(raw.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
    decoded.unwrap_or_else(|| raw.to_string())
}
