//! The JSON Schemas a route declares (its parameters, body and output): each is checked
//! once, when the configuration loads, against the shape JSON Schema 2020-12 gives its
//! keywords, so that a typo or a wrong type is a configuration error naming the place
//! (`input.body.properties.name.type`), not a document a catalog refuses later.
//!
//! What is checked: the schema is an object or a boolean; every keyword is one 2020-12
//! (or OpenAPI 3.1) defines, or an `x-` extension; each keyword's value has the type the
//! specification gives it (subschemas recursively, counts non-negative integers, `type`
//! one of the seven names, `required` unique strings). `$ref`, `$dynamicRef` and `$id`
//! are refused: embedded in a 402, an OpenAPI document or a catalog, a reference would
//! resolve against that document, not the one it was written for. Not checked: that a
//! `pattern` is a valid regular expression (it is kept as written).

use serde_json::Value;

/// Nesting deeper than this is refused.
pub const MAX_DEPTH: usize = 24;

/// Why a schema was refused: where (a dotted path below the schema) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The keyword path from the schema's root, e.g. `properties.id.type`.
    pub at: String,
    /// What is wrong there.
    pub why: &'static str,
}

const TYPES: [&str; 7] = ["null", "boolean", "object", "array", "number", "string", "integer"];

/// What a keyword's value must be.
enum Kind {
    /// A schema.
    Schema,
    /// An object whose values are schemas.
    SchemaMap,
    /// A non-empty array of schemas.
    SchemaList,
    /// A non-negative integer.
    Count,
    /// A number (`multipleOf`: above zero).
    Number,
    /// A string.
    Text,
    /// A boolean.
    Flag,
    /// Any JSON value.
    Any,
    /// An array of anything.
    List,
    /// `type`: a type name or a non-empty list of distinct ones.
    Type,
    /// `required`: distinct strings.
    Names,
    /// An object whose values are lists of distinct strings (`dependentRequired`).
    NamesMap,
    /// An object of anything (`discriminator`, `xml`, `externalDocs`, `$vocabulary`).
    Object,
    /// A reference: refused.
    Reference,
}

fn kind(keyword: &str) -> Option<Kind> {
    use Kind::*;
    Some(match keyword {
        "items"
        | "additionalProperties"
        | "not"
        | "if"
        | "then"
        | "else"
        | "contains"
        | "propertyNames"
        | "unevaluatedItems"
        | "unevaluatedProperties"
        | "contentSchema" => Schema,
        "properties" | "patternProperties" | "$defs" | "dependentSchemas" => SchemaMap,
        "prefixItems" | "allOf" | "anyOf" | "oneOf" => SchemaList,
        "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties" | "minContains"
        | "maxContains" => Count,
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => Number,
        "pattern" | "format" | "title" | "description" | "$schema" | "$comment" | "$anchor" | "$dynamicAnchor"
        | "contentMediaType" | "contentEncoding" => Text,
        "uniqueItems" | "readOnly" | "writeOnly" | "deprecated" => Flag,
        "const" | "default" | "example" => Any,
        "enum" | "examples" => List,
        "type" => Type,
        "required" => Names,
        "dependentRequired" => NamesMap,
        "discriminator" | "xml" | "externalDocs" | "$vocabulary" => Object,
        "$ref" | "$dynamicRef" | "$id" | "$recursiveRef" => Reference,
        _ => return None,
    })
}

/// Checks `schema` by the rules in the module documentation.
pub fn check(schema: &Value) -> Result<(), SchemaError> {
    walk(schema, "", 0)
}

fn fail(at: &str, why: &'static str) -> Result<(), SchemaError> {
    Err(SchemaError { at: at.trim_start_matches('.').to_string(), why })
}

fn walk(schema: &Value, at: &str, depth: usize) -> Result<(), SchemaError> {
    if depth > MAX_DEPTH {
        return fail(at, "nested too deeply");
    }
    let map = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(map) => map,
        _ => return fail(at, "a schema is an object or a boolean"),
    };
    for (keyword, value) in map {
        let here = format!("{at}.{keyword}");
        let Some(kind) = kind(keyword) else {
            if keyword.starts_with("x-") {
                continue;
            }
            return fail(&here, "not a JSON Schema 2020-12 keyword");
        };
        keyword_value(&kind, value, &here, depth)?;
    }
    Ok(())
}

fn distinct_strings(value: &Value) -> bool {
    let Some(list) = value.as_array() else { return false };
    list.iter().enumerate().all(|(i, v)| v.is_string() && !list[..i].contains(v))
}

fn keyword_value(kind: &Kind, value: &Value, at: &str, depth: usize) -> Result<(), SchemaError> {
    match kind {
        Kind::Schema => walk(value, at, depth + 1),
        Kind::SchemaMap => match value.as_object() {
            Some(map) => map.iter().try_for_each(|(name, s)| walk(s, &format!("{at}.{name}"), depth + 1)),
            None => fail(at, "expected an object of schemas"),
        },
        Kind::SchemaList => match value.as_array() {
            Some(list) if !list.is_empty() => {
                list.iter().enumerate().try_for_each(|(i, s)| walk(s, &format!("{at}.{i}"), depth + 1))
            }
            _ => fail(at, "expected a non-empty array of schemas"),
        },
        Kind::Count if value.as_u64().is_some() => Ok(()),
        Kind::Count => fail(at, "expected a non-negative integer"),
        Kind::Number if at.ends_with("multipleOf") && value.as_f64().is_some_and(|n| n > 0.0) => Ok(()),
        Kind::Number if !at.ends_with("multipleOf") && value.is_number() => Ok(()),
        Kind::Number => fail(at, "expected a number (multipleOf: above zero)"),
        Kind::Text if value.is_string() => Ok(()),
        Kind::Text => fail(at, "expected a string"),
        Kind::Flag if value.is_boolean() => Ok(()),
        Kind::Flag => fail(at, "expected true or false"),
        Kind::Any => Ok(()),
        Kind::List if value.is_array() => Ok(()),
        Kind::List => fail(at, "expected an array"),
        Kind::Type => {
            let known = |v: &Value| v.as_str().is_some_and(|t| TYPES.contains(&t));
            let ok = match value {
                Value::String(_) => known(value),
                Value::Array(list) => !list.is_empty() && distinct_strings(value) && list.iter().all(known),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                fail(at, "expected one of null, boolean, object, array, number, string, integer (or a list of them)")
            }
        }
        Kind::Names if distinct_strings(value) => Ok(()),
        Kind::Names => fail(at, "expected an array of distinct strings"),
        Kind::NamesMap if value.as_object().is_some_and(|m| m.values().all(distinct_strings)) => Ok(()),
        Kind::NamesMap => fail(at, "expected an object of arrays of distinct strings"),
        Kind::Object if value.is_object() => Ok(()),
        Kind::Object => fail(at, "expected an object"),
        Kind::Reference => fail(at, "references do not resolve once the schema is embedded: write the schema inline"),
    }
}

/// The declared `type` of a schema when it is one name (`"integer"`), for reading a path
/// parameter's text as the value it describes.
pub fn single_type(schema: &Value) -> Option<&str> {
    schema.get("type")?.as_str()
}

/// An example value of `schema`, for a catalog entry that must validate against it: its
/// `example`, first of `examples`, `default`, `const` or first of `enum`; for an object
/// without one, an object of its properties' examples (required ones always present).
/// `None` when nothing says what a value looks like.
pub fn example(schema: &Value) -> Option<Value> {
    example_at(schema, 0)
}

fn example_at(schema: &Value, depth: usize) -> Option<Value> {
    let map = schema.as_object()?;
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some(value) = named(map) {
        return Some(value);
    }
    let required: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |r| r.iter().filter_map(Value::as_str).collect());
    match single_type(schema) {
        Some("object") | None if map.contains_key("properties") => {
            let mut out = serde_json::Map::new();
            for (name, sub) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
                // An optional property appears only with an example of its own.
                let value = if required.contains(&name.as_str()) {
                    example_at(sub, depth + 1)
                } else {
                    sub.as_object().and_then(named)
                };
                if let Some(value) = value {
                    out.insert(name.clone(), value);
                }
            }
            Some(Value::Object(out))
        }
        Some(_) => placeholder(schema),
        None => None,
    }
}

/// The example a schema names: `example`, first of `examples`, `default`, `const`, first
/// of `enum`.
fn named(map: &serde_json::Map<String, Value>) -> Option<Value> {
    map.get("example")
        .or_else(|| map.get("examples").and_then(|e| e.get(0)))
        .or_else(|| map.get("default"))
        .or_else(|| map.get("const"))
        .or_else(|| map.get("enum").and_then(|e| e.get(0)))
        .cloned()
}

/// The plainest value of a schema's type (bounded by its minimum and minimum length).
fn placeholder(schema: &Value) -> Option<Value> {
    let at_least = |k: &str| schema.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(match single_type(schema)? {
        "string" => Value::String("x".repeat(usize::try_from(at_least("minLength")).ok()?.min(64))),
        "integer" => Value::from(schema.get("minimum").and_then(Value::as_i64).unwrap_or(0)),
        "number" => schema.get("minimum").cloned().unwrap_or(Value::from(0)),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(serde_json::Map::new()),
        "null" => Value::Null,
        _ => return None,
    })
}
