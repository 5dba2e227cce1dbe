//! The raw shapes of the bindings, as wrangler hands them over: strict structs (unknown
//! fields are errors) and the loose scalars wrangler may pass as text or as JSON values.
//! `config` converts them once into typed values.

use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::ConfigError;
use crate::json::{optional, whole, JsonError, Reader};

// The loose scalars are read as JSON values and judged here (an untagged enum would buffer
// them through serde's `Content`, a second parser in the bundle, and its error would not
// name the field).

/// A number that wrangler may hand over as a string or as a number.
pub(super) struct NumberVar(Value);

impl NumberVar {
    pub(super) fn parse(&self, field: &str) -> Result<u64, ConfigError> {
        let n = match &self.0 {
            Value::Number(n) => n.as_u64(),
            Value::String(t) => t.trim().parse().ok(),
            _ => None,
        };
        n.ok_or_else(|| ConfigError::new(field, "expected a whole number"))
    }
}

/// A switch that wrangler may hand over as a boolean or as `"true"` / `"false"`.
pub(super) struct BoolVar(Value);

impl BoolVar {
    pub(super) fn parse(var: Option<&Self>, field: &str) -> Result<bool, ConfigError> {
        match var.map(|v| &v.0) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(t)) if t.trim() == "true" => Ok(true),
            Some(Value::String(t)) if matches!(t.trim(), "false" | "") => Ok(false),
            Some(_) => Err(ConfigError::new(field, "expected true or false")),
        }
    }
}

/// A list that wrangler may hand over as one string (comma- or space-separated) or as a
/// list of strings.
pub(super) struct ListVar(Value);

impl ListVar {
    pub(super) fn to_vec(&self, field: &str) -> Result<Vec<String>, ConfigError> {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let list = match &self.0 {
            Value::Array(items) => items.iter().map(text).collect(),
            one => text(one).map(|s| vec![s]),
        };
        list.ok_or_else(|| ConfigError::new(field, "expected a string or a list of strings"))
    }
}

#[derive(Default)]
#[allow(non_snake_case)]
pub(super) struct RawConfig {
    pub(super) PAY_TO: Option<String>,
    pub(super) NETWORK: Option<String>,
    pub(super) ASSET: Option<String>,
    pub(super) ASSET_NAME: Option<String>,
    pub(super) ASSET_VERSION: Option<String>,
    pub(super) ASSET_DECIMALS: Option<NumberVar>,
    pub(super) MAX_TIMEOUT_SECONDS: Option<NumberVar>,
    pub(super) FACILITATOR_URL: Option<String>,
    pub(super) FACILITATOR_TIMEOUT_MS: Option<NumberVar>,
    pub(super) PAPER_BALANCE: Option<String>,
    pub(super) PAPER_PUBLIC: Option<BoolVar>,
    pub(super) ORIGIN_URL: Option<String>,
    pub(super) ORIGIN_TIMEOUT_MS: Option<NumberVar>,
    pub(super) PUBLIC_ORIGIN: Option<String>,
    pub(super) ALLOWED_HOSTS: Option<ListVar>,
    pub(super) LEDGER_RETENTION_DAYS: Option<NumberVar>,
    pub(super) ADMIN_PATH: Option<String>,
    pub(super) ALERT_WEBHOOK_URL: Option<String>,
    pub(super) ALERT_RATE_LIMITED_PER_MINUTE: Option<NumberVar>,
    /// `[vars.POLICY]`, its JSON as written (read by `policy::RawPolicy`).
    pub(super) POLICY: Option<String>,
    /// `DISCOVERY`: a flag or a table (read by `discovery::Discovery::parse`).
    pub(super) DISCOVERY: Option<Value>,
    pub(super) ROUTES: Option<OrderedRoutes>,
    /// `MCP`: endpoint path → its table, in document order.
    pub(super) MCP: Option<OrderedRoutes>,
}

#[derive(Default)]
pub(super) struct RawRoute {
    pub(super) price: String,
    pub(super) description: Option<String>,
    pub(super) mime_type: Option<String>,
    pub(super) extra_options: Vec<RawOption>,
    /// The route's own `policy` table, its JSON as written.
    pub(super) policy: Option<String>,
    /// `input` and `output` (read by `discovery::RouteDoc::parse`), `discoverable`.
    pub(super) input: Option<Value>,
    pub(super) output: Option<Value>,
    pub(super) discoverable: Option<bool>,
}

#[derive(Default)]
pub(super) struct RawOption {
    pub(super) price: String,
    pub(super) network: Option<String>,
    pub(super) asset: Option<String>,
    pub(super) asset_name: Option<String>,
    pub(super) asset_version: Option<String>,
    pub(super) asset_decimals: Option<u8>,
    pub(super) pay_to: Option<String>,
}

/// `ROUTES` in document order (first match wins, so order matters).
pub(super) struct OrderedRoutes(pub(super) Vec<(String, Box<RawValue>)>);

// Reading the bindings' JSON: every object strict (an unknown field is an error naming it;
// the reader refuses a repeated one), `null` the same as an absent optional value.

/// Why the bindings' JSON is not what a binding may hold.
#[derive(Debug)]
pub(super) enum RawError {
    /// Not JSON, or a value of the wrong type.
    Json(JsonError),
    /// A field this object does not have.
    Unknown(String),
}

impl std::fmt::Display for RawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json(e) => e.fmt(f),
            Self::Unknown(name) => write!(f, "unknown field `{name}`"),
        }
    }
}

/// Reads a strict object: `field(reader, key)` reads each known field and answers
/// whether it knew it.
fn strict(json: &str, mut field: impl FnMut(&mut Reader<'_>, &str) -> Result<bool, JsonError>) -> Result<(), RawError> {
    let mut wrong = None;
    let read = whole(json, |r| {
        r.object(|r, key| {
            if field(r, key)? {
                Ok(())
            } else {
                wrong = Some(RawError::Unknown(key.to_string()));
                Err(r.error("a known field"))
            }
        })
    });
    read.map_err(|e| wrong.unwrap_or(RawError::Json(e)))
}

fn value(r: &mut Reader<'_>) -> Result<Option<Value>, JsonError> {
    optional(r, |r| r.value())
}

impl RawConfig {
    /// The bindings object (names from `VAR_NAMES`).
    pub(super) fn from_json(json: &str) -> Result<Self, RawError> {
        let mut c = RawConfig::default();
        strict(json, |r, key| {
            match key {
                "PAY_TO" => c.PAY_TO = r.string_or_null()?,
                "NETWORK" => c.NETWORK = r.string_or_null()?,
                "ASSET" => c.ASSET = r.string_or_null()?,
                "ASSET_NAME" => c.ASSET_NAME = r.string_or_null()?,
                "ASSET_VERSION" => c.ASSET_VERSION = r.string_or_null()?,
                "ASSET_DECIMALS" => c.ASSET_DECIMALS = value(r)?.map(NumberVar),
                "MAX_TIMEOUT_SECONDS" => c.MAX_TIMEOUT_SECONDS = value(r)?.map(NumberVar),
                "FACILITATOR_URL" => c.FACILITATOR_URL = r.string_or_null()?,
                "FACILITATOR_TIMEOUT_MS" => c.FACILITATOR_TIMEOUT_MS = value(r)?.map(NumberVar),
                "PAPER_BALANCE" => c.PAPER_BALANCE = r.string_or_null()?,
                "PAPER_PUBLIC" => c.PAPER_PUBLIC = value(r)?.map(BoolVar),
                "ORIGIN_URL" => c.ORIGIN_URL = r.string_or_null()?,
                "ORIGIN_TIMEOUT_MS" => c.ORIGIN_TIMEOUT_MS = value(r)?.map(NumberVar),
                "PUBLIC_ORIGIN" => c.PUBLIC_ORIGIN = r.string_or_null()?,
                "ALLOWED_HOSTS" => c.ALLOWED_HOSTS = value(r)?.map(ListVar),
                "LEDGER_RETENTION_DAYS" => c.LEDGER_RETENTION_DAYS = value(r)?.map(NumberVar),
                "ADMIN_PATH" => c.ADMIN_PATH = r.string_or_null()?,
                "ALERT_WEBHOOK_URL" => c.ALERT_WEBHOOK_URL = r.string_or_null()?,
                "ALERT_RATE_LIMITED_PER_MINUTE" => c.ALERT_RATE_LIMITED_PER_MINUTE = value(r)?.map(NumberVar),
                "ROUTES" => c.ROUTES = optional(r, routes)?,
                "MCP" => c.MCP = optional(r, routes)?,
                "POLICY" => c.POLICY = optional(r, |r| r.raw().map(str::to_string))?,
                "DISCOVERY" => c.DISCOVERY = value(r)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(c)
    }
}

/// `ROUTES`: pattern → the route's JSON, in document order (any number of routes; a
/// pattern written twice is kept twice, for the route table to refuse).
fn routes(r: &mut Reader<'_>) -> Result<OrderedRoutes, JsonError> {
    let mut out = Vec::new();
    r.members(|r, key| {
        let body = RawValue::from_string(r.raw()?.to_string()).map_err(|_| r.error("a route"))?;
        out.push((key, body));
        Ok(())
    })?;
    Ok(OrderedRoutes(out))
}

/// An MCP endpoint's table: `tools`, name → the tool's table (read as a route), in order.
pub(super) fn mcp_tools(json: &str) -> Result<OrderedRoutes, RawError> {
    let mut tools = None;
    strict(json, |r, key| {
        match key {
            "tools" => tools = Some(routes(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(tools.unwrap_or(OrderedRoutes(Vec::new())))
}

/// A route or option without its `price`.
fn missing_price(json: &str) -> RawError {
    RawError::Json(JsonError { at: json.len(), expected: "field `price`" })
}

impl RawRoute {
    /// One route's table: `price`, optional `description`, `mimeType`, `extraOptions`.
    pub(super) fn from_json(json: &str) -> Result<Self, RawError> {
        let mut route = RawRoute::default();
        let mut price = None;
        let mut options_error = None;
        strict(json, |r, key| {
            match key {
                "price" => price = Some(r.string()?),
                "description" => route.description = r.string_or_null()?,
                "mimeType" => route.mime_type = r.string_or_null()?,
                "policy" => route.policy = optional(r, |r| r.raw().map(str::to_string))?,
                "input" => route.input = value(r)?,
                "output" => route.output = value(r)?,
                "discoverable" => route.discoverable = optional(r, |r| r.bool())?,
                "extraOptions" => {
                    let raw = r.raw()?;
                    let mut items = Vec::new();
                    let mut list = Reader::new(raw);
                    list.array(|l| {
                        let item = l.raw()?;
                        match RawOption::from_json(item) {
                            Ok(option) => items.push(option),
                            Err(e) => options_error = Some(e),
                        }
                        if options_error.is_some() {
                            return Err(l.error("a payment option"));
                        }
                        Ok(())
                    })?;
                    route.extra_options = items;
                }
                _ => return Ok(false),
            }
            Ok(true)
        })
        .map_err(|e| options_error.take().unwrap_or(e))?;
        route.price = price.ok_or_else(|| missing_price(json))?;
        Ok(route)
    }
}

impl RawOption {
    /// One of a route's `extraOptions`.
    fn from_json(json: &str) -> Result<Self, RawError> {
        let mut option = RawOption::default();
        let mut price = None;
        strict(json, |r, key| {
            match key {
                "price" => price = Some(r.string()?),
                "network" => option.network = r.string_or_null()?,
                "asset" => option.asset = r.string_or_null()?,
                "assetName" => option.asset_name = r.string_or_null()?,
                "assetVersion" => option.asset_version = r.string_or_null()?,
                "assetDecimals" => {
                    option.asset_decimals = optional(r, |r| {
                        let n = r.u64()?;
                        u8::try_from(n).map_err(|_| r.error("a number of decimals (0-255)"))
                    })?
                }
                "payTo" => option.pay_to = r.string_or_null()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        option.price = price.ok_or_else(|| missing_price(json))?;
        Ok(option)
    }
}
