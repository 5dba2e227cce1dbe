//! The raw shapes of the bindings, as wrangler hands them over: strict structs (unknown
//! fields are errors) and the loose scalars wrangler may pass as text or as JSON values.
//! `config` converts them once into typed values.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::ConfigError;

// The loose scalars are read as JSON values and judged here (an untagged enum would buffer
// them through serde's `Content`, a second parser in the bundle, and its error would not
// name the field).

/// A number that wrangler may hand over as a string or as a number.
#[derive(Deserialize)]
#[serde(transparent)]
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
#[derive(Deserialize)]
#[serde(transparent)]
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
#[derive(Deserialize)]
#[serde(transparent)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub(super) ROUTES: Option<OrderedRoutes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRoute {
    pub(super) price: String,
    pub(super) description: Option<String>,
    pub(super) mime_type: Option<String>,
    #[serde(default)]
    pub(super) extra_options: Vec<RawOption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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

impl<'de> Deserialize<'de> for OrderedRoutes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedRoutes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of route pattern = { price = ... }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedRoutes, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(OrderedRoutes(out))
            }
        }
        d.deserialize_map(V)
    }
}
