//! Discovery: what agents read to learn what this host sells before they pay, all made
//! from the route table (one source of truth) and never priced.
//!
//! - A route may describe itself (`description`, `mimeType`, `input`, `output`,
//!   `discoverable`); [`RouteDoc::parse`] checks that once, with every JSON Schema in it
//!   ([`schema::check`]).
//! - The 402 of a route that declares `input` carries the x402 `bazaar` extension
//!   ([`Bazaar`], `specs/extensions/bazaar.md`): `info` (how to call it, with the request's
//!   own path parameters) and the JSON Schema 2020-12 that validates `info`.
//! - Three documents ([`Doc`]): `/.well-known/x402` (the resource list x402 crawlers read,
//!   with what each accepts), `/openapi.json` (OpenAPI 3.1 with `x-payment-info`) and
//!   `/llms.txt` (a short page for agents). Each path is configurable; `DISCOVERY = false`
//!   switches all of it off, and the origin then receives those paths untouched.
//!   A document is rendered once per isolate and origin, and answered with an `ETag`.

pub(crate) mod bazaar;
pub(crate) mod docs;
pub mod schema;
pub(crate) mod text;

use std::cell::OnceCell;
use std::rc::Rc;

use serde_json::Value;

pub use self::bazaar::{Bazaar, ParamSlot};
pub use self::docs::{answer, price_info, MAX_HEADER_BYTES};
use crate::error::ConfigError;
use crate::routes::RoutePattern;

/// The default path of the crawlers' resource list.
pub const WELL_KNOWN_PATH: &str = "/.well-known/x402";
/// The default path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// The default path of the page for agents.
pub const LLMS_PATH: &str = "/llms.txt";

/// A discovery document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// `/.well-known/x402`.
    WellKnown,
    /// `/openapi.json`.
    OpenApi,
    /// `/llms.txt`.
    Llms,
}

impl Doc {
    /// Every document, in the order of [`Discovery::paths`].
    pub const ALL: [Doc; 3] = [Doc::WellKnown, Doc::OpenApi, Doc::Llms];

    fn index(self) -> usize {
        self as usize
    }

    fn key(self) -> &'static str {
        match self {
            Doc::WellKnown => "wellKnown",
            Doc::OpenApi => "openapi",
            Doc::Llms => "llmsTxt",
        }
    }
}

/// How a request body is sent (`input.bodyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    /// `json`: `application/json`.
    Json,
    /// `form-data`: `multipart/form-data`.
    FormData,
    /// `text`: `text/plain`.
    Text,
}

impl BodyType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "json" => Self::Json,
            "form-data" => Self::FormData,
            "text" => Self::Text,
            _ => return None,
        })
    }

    /// The name the bazaar extension uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::FormData => "form-data",
            Self::Text => "text",
        }
    }

    /// The media type of such a body.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::FormData => "multipart/form-data",
            Self::Text => "text/plain",
        }
    }
}

/// A named parameter and its JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its schema (checked).
    pub schema: Value,
}

/// How a route is called (`input`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Input {
    /// One per `:name` of the pattern, in order (declared, or `{"type":"string"}`).
    pub path_params: Vec<Param>,
    /// The query parameters declared (all optional).
    pub query_params: Vec<Param>,
    /// The body, for POST, PUT and PATCH: how it is sent and its schema.
    pub body: Option<(BodyType, Value)>,
}

/// What a route answers (`output`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    /// An example answer.
    pub example: Option<Value>,
    /// The answer's schema (checked).
    pub schema: Option<Value>,
}

/// What a route says of itself for discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDoc {
    /// `discoverable` (default true): false keeps the route out of every document and
    /// its 402 out of catalogs (no bazaar extension).
    pub discoverable: bool,
    /// The method the documents give: the pattern's, else POST for a route with a body
    /// and GET for the rest.
    pub method: String,
    /// `input`, when declared.
    pub input: Option<Input>,
    /// `output`, when declared.
    pub output: Option<Output>,
}

impl Default for RouteDoc {
    fn default() -> Self {
        Self { discoverable: true, method: "GET".into(), input: None, output: None }
    }
}

const QUERY_METHODS: [&str; 3] = ["GET", "HEAD", "DELETE"];
const BODY_METHODS: [&str; 3] = ["POST", "PUT", "PATCH"];

impl RouteDoc {
    /// A route's `input`, `output` and `discoverable` (as read from its table), checked
    /// against its pattern; `field` names the route in errors (`ROUTES["GET /x"]`).
    pub fn parse(
        pattern: &RoutePattern,
        input: Option<&Value>,
        output: Option<&Value>,
        discoverable: Option<bool>,
        field: &str,
    ) -> Result<Self, ConfigError> {
        let input = input.map(|v| parse_input(pattern, v, &format!("{field}.input"))).transpose()?;
        let output = output.map(|v| parse_output(v, &format!("{field}.output"))).transpose()?;
        let has_body = input.as_ref().is_some_and(|i| i.body.is_some());
        let method = match pattern.method() {
            Some(m) => m.to_string(),
            None if has_body => "POST".into(),
            None => "GET".into(),
        };
        if input.is_some() {
            let allowed: &[&str] = if has_body { &BODY_METHODS } else { &[QUERY_METHODS, BODY_METHODS].concat() };
            if !allowed.contains(&method.as_str()) {
                let why = if has_body {
                    "a body is described for POST, PUT or PATCH only"
                } else {
                    "the bazaar extension describes GET, HEAD, DELETE, POST, PUT and PATCH only"
                };
                return Err(ConfigError::new(format!("{field}.input"), why));
            }
        }
        Ok(Self { discoverable: discoverable.unwrap_or(true), method, input, output })
    }
}

fn object<'v>(value: &'v Value, at: &str) -> Result<&'v serde_json::Map<String, Value>, ConfigError> {
    value.as_object().ok_or_else(|| ConfigError::new(at, "expected a table"))
}

fn checked(value: &Value, at: &str) -> Result<Value, ConfigError> {
    schema::check(value).map_err(|e| {
        let place = if e.at.is_empty() { at.to_string() } else { format!("{at}.{}", e.at) };
        ConfigError::new(place, format!("invalid JSON Schema: {}", e.why))
    })?;
    Ok(value.clone())
}

fn params(value: &Value, at: &str) -> Result<Vec<Param>, ConfigError> {
    let mut out = Vec::new();
    for (name, schema) in object(value, at)? {
        let here = format!("{at}.{name}");
        if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ConfigError::new(here, "a parameter name is visible characters, no spaces"));
        }
        out.push(Param { name: name.clone(), schema: checked(schema, &here)? });
    }
    Ok(out)
}

fn parse_input(pattern: &RoutePattern, value: &Value, at: &str) -> Result<Input, ConfigError> {
    let mut declared = Vec::new();
    let mut input = Input::default();
    let mut body_type = None;
    let mut body = None;
    for (key, v) in object(value, at)? {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "pathParams" => declared = params(v, &here)?,
            "queryParams" => input.query_params = params(v, &here)?,
            "bodyType" => {
                let text = v.as_str().and_then(BodyType::parse);
                body_type = Some(text.ok_or_else(|| ConfigError::new(&here, "expected json, form-data or text"))?);
            }
            "body" => body = Some(checked(v, &here)?),
            _ => return Err(ConfigError::new(here, "unknown field (pathParams, queryParams, bodyType, body)")),
        }
    }
    for p in &declared {
        if !pattern.params().any(|(_, name)| name == p.name) {
            return Err(ConfigError::new(format!("{at}.pathParams.{}", p.name), "not a :parameter of the pattern"));
        }
    }
    input.path_params = pattern
        .params()
        .map(|(_, name)| {
            let schema = declared.iter().find(|p| p.name == name).map(|p| p.schema.clone());
            Param { name: name.to_string(), schema: schema.unwrap_or_else(|| serde_json::json!({ "type": "string" })) }
        })
        .collect();
    input.body = match (body_type, body) {
        (Some(t), Some(schema)) => Some((t, schema)),
        (None, Some(schema)) => Some((BodyType::Json, schema)),
        (Some(_), None) => return Err(ConfigError::new(format!("{at}.body"), "bodyType needs a body schema")),
        (None, None) => None,
    };
    Ok(input)
}

fn parse_output(value: &Value, at: &str) -> Result<Output, ConfigError> {
    let mut output = Output::default();
    for (key, v) in object(value, at)? {
        match key.as_str() {
            "example" => output.example = Some(v.clone()),
            "schema" => output.schema = Some(checked(v, &format!("{at}.schema"))?),
            _ => return Err(ConfigError::new(format!("{at}.{key}"), "unknown field (example, schema)")),
        }
    }
    Ok(output)
}

/// A rendered document: its body and its `ETag`.
#[derive(Debug)]
pub struct Page {
    /// The body.
    pub body: String,
    /// Its digest, unquoted: a response's `ETag` also names the origin filled in.
    pub etag: String,
}

/// `DISCOVERY`: where the documents are served, what they are titled, and whether 402s
/// carry the bazaar extension.
#[derive(Debug)]
pub struct Discovery {
    /// The match key (lower case) of each document's path, by [`Doc::ALL`]; `None`: off.
    pub paths: [Option<String>; 3],
    /// The paths as configured (for links).
    pub links: [Option<String>; 3],
    /// The API's name (OpenAPI `info.title`, the page's heading).
    pub title: String,
    /// A sentence about the API.
    pub description: Option<String>,
    /// Whether 402s of described routes carry the bazaar extension.
    pub bazaar: bool,
    /// The documents, by [`Doc::ALL`], rendered once per isolate for [`ORIGIN_SLOT`].
    pages: [OnceCell<Rc<Page>>; 3],
}

/// Where a rendered document names its origin: filled per request with the origin the
/// request is for (`PUBLIC_ORIGIN`, or its `Host`), so any number of hosts costs one render.
/// Plain ASCII, so no writer escapes it.
pub const ORIGIN_SLOT: &str = "https://origin-slot.x402-edge.invalid";

/// The title when none is configured.
pub const DEFAULT_TITLE: &str = "Paid API";

impl Default for Discovery {
    fn default() -> Self {
        let paths = [WELL_KNOWN_PATH, OPENAPI_PATH, LLMS_PATH].map(|p| Some(p.to_string()));
        Self {
            links: paths.clone(),
            paths,
            title: DEFAULT_TITLE.into(),
            description: None,
            bazaar: true,
            pages: Default::default(),
        }
    }
}

/// Paths the paywall answers itself (this one, and every path under the second): a
/// document may not take them.
const RESERVED: [&str; 2] = ["/.well-known/jwks.json", "/.well-known/x402/"];

impl Discovery {
    /// Everything off: no documents, no bazaar extension.
    pub fn off() -> Self {
        Self { paths: [None, None, None], links: [None, None, None], bazaar: false, ..Self::default() }
    }

    /// `DISCOVERY` as read from the bindings: absent (defaults), `true`/`false` (or the
    /// strings), or a table of `wellKnown`, `openapi`, `llmsTxt` (a path, or false),
    /// `title`, `description` and `bazaar` (true/false).
    pub fn parse(value: Option<&Value>, admin_path: Option<&str>) -> Result<Self, ConfigError> {
        let field = "DISCOVERY";
        let map = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Bool(true)) => return Ok(Self::default()),
            Some(Value::Bool(false)) => return Ok(Self::off()),
            Some(Value::String(s)) if s.trim() == "true" => return Ok(Self::default()),
            Some(Value::String(s)) if s.trim() == "false" => return Ok(Self::off()),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(ConfigError::new(field, "expected true, false or a table")),
        };
        let mut d = Self::default();
        for (key, v) in map {
            let at = format!("{field}.{key}");
            let text = |v: &Value| -> Result<String, ConfigError> {
                match v.as_str() {
                    Some(s) if !s.trim().is_empty() && !s.chars().any(char::is_control) => Ok(s.trim().to_string()),
                    _ => Err(ConfigError::new(&at, "expected a non-empty text without control characters")),
                }
            };
            if let Some(doc) = Doc::ALL.into_iter().find(|d| d.key() == key) {
                let path = match v {
                    Value::Bool(false) => None,
                    v => Some(doc_path(&text(v)?, &at)?),
                };
                d.paths[doc.index()] = path.as_ref().map(|p| p.to_ascii_lowercase());
                d.links[doc.index()] = path;
                continue;
            }
            match key.as_str() {
                "title" => d.title = text(v)?,
                "description" => d.description = Some(text(v)?),
                "bazaar" => d.bazaar = v.as_bool().ok_or_else(|| ConfigError::new(&at, "expected true or false"))?,
                _ => {
                    return Err(ConfigError::new(
                        at,
                        "unknown field (wellKnown, openapi, llmsTxt, title, description, bazaar)",
                    ))
                }
            }
        }
        let taken: Vec<&String> = d.paths.iter().flatten().collect();
        for (i, path) in taken.iter().enumerate() {
            if taken[..i].contains(path) {
                return Err(ConfigError::new(field, format!("two documents at {path}")));
            }
            let admin = admin_path.map(str::to_ascii_lowercase);
            if admin.is_some_and(|a| path.starts_with(&a) || a.trim_end_matches('/') == path.as_str()) {
                return Err(ConfigError::new(field, format!("{path} is under ADMIN_PATH")));
            }
        }
        Ok(d)
    }

    /// The document path a route's pattern names exactly (no `:params`, no `*`), if any:
    /// the document would take its requests over, so such a table is refused. (A pattern
    /// that merely matches a document path, `/*`, leaves the document free.)
    pub fn taken_by(&self, pattern: &RoutePattern) -> Option<&str> {
        if pattern.params().next().is_some() || pattern.has_wildcard() {
            return None;
        }
        let path = pattern.path_text().to_ascii_lowercase();
        self.paths.iter().flatten().find(|p| **p == path).map(String::as_str)
    }

    /// The document served at this match key, if any.
    pub fn doc_at(&self, match_key: &str) -> Option<Doc> {
        Doc::ALL.into_iter().find(|d| self.paths[d.index()].as_deref() == Some(match_key))
    }

    /// The link to a document from `origin`, when it is served.
    pub fn link(&self, doc: Doc, origin: &str) -> Option<String> {
        self.links[doc.index()].as_ref().map(|p| format!("{origin}{p}"))
    }

    /// The document rendered for [`ORIGIN_SLOT`] (`render`), made on first use.
    pub fn page(&self, doc: Doc, render: impl FnOnce() -> String) -> Rc<Page> {
        let make = || {
            let body = render();
            let digest = crate::crypto::sha256(body.as_bytes());
            Rc::new(Page { body, etag: crate::codec::base64url_encode(&digest[..12]) })
        };
        self.pages[doc.index()].get_or_init(make).clone()
    }
}

/// A configured document path: absolute, already normal (what a request for it
/// normalises to), no trailing slash, not one the paywall answers itself.
pub(crate) fn doc_path(text: &str, at: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| Err(ConfigError::new(at, why));
    if !text.starts_with('/') || text.len() > 200 || text == "/" {
        return bad("expected a path such as /openapi.json (at most 200 characters)");
    }
    if text.chars().any(|c| !c.is_ascii_graphic() || "?#%\\*".contains(c)) {
        return bad("a path holds visible ASCII only, and no ? # % \\ or *");
    }
    let normal = crate::path::normalise_target(text, None);
    // (`%` is refused above.)
    if normal.map(|p| p.match_key().to_string()).ok().as_deref() != Some(&text.to_ascii_lowercase()) {
        return bad("expected a plain path: no //, dot segments, percent signs or trailing slash");
    }
    let lower = text.to_ascii_lowercase();
    if lower == RESERVED[0] || lower.starts_with(RESERVED[1]) {
        return bad("the paywall answers this path itself");
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod tests;
