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
//! resolve against that document, not the one it was written for. A `pattern` must read
//! as an ECMAScript regular expression ([`is_regex`]); it is kept as written.

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
    walk(schema, "", 0)?;
    match reference_key(schema, String::new(), 0) {
        Some(at) => fail(&at, "catalogs refuse a schema with a `$ref` or `$id` key anywhere (a property name too)"),
        None => Ok(()),
    }
}

/// Where a `$ref`, `$id` or `$dynamicRef` key is, at any depth (in property names and
/// examples too: the official catalog check refuses them all).
fn reference_key(value: &Value, at: String, depth: usize) -> Option<String> {
    match value {
        Value::Object(map) if depth <= MAX_DEPTH => map.iter().find_map(|(k, v)| {
            let here = format!("{at}.{k}");
            if matches!(k.as_str(), "$ref" | "$id" | "$dynamicRef") {
                return Some(here);
            }
            reference_key(v, here, depth + 1)
        }),
        Value::Array(list) if depth <= MAX_DEPTH => {
            list.iter().enumerate().find_map(|(i, v)| reference_key(v, format!("{at}.{i}"), depth + 1))
        }
        _ => None,
    }
}

/// Whether `pattern` reads as an ECMAScript regular expression in Unicode mode (as
/// catalogs compile it): brackets and groups closed, a quantifier only after something
/// it repeats, braces only as `{n}`, `{n,}` or `{n,m}`. Escapes are taken as they are.
pub fn is_regex(pattern: &str) -> bool {
    let chars: Vec<char> = pattern.chars().collect();
    let (mut i, mut depth, mut atom) = (0, 0usize, false);
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return false;
                }
                i += 1;
                atom = true;
            }
            '[' => {
                i += 1;
                while i < chars.len() && chars[i] != ']' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                if i >= chars.len() {
                    return false;
                }
                atom = true;
            }
            '(' => {
                depth += 1;
                if chars.get(i + 1) == Some(&'?') {
                    i += 1;
                }
                atom = false;
            }
            ')' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
                atom = true;
            }
            '|' | '^' => atom = false,
            '*' | '+' | '?' => {
                if !atom {
                    return false;
                }
                // A lazy `?` after a quantifier.
                if chars.get(i + 1) == Some(&'?') {
                    i += 1;
                }
                atom = false;
            }
            '{' => {
                let close = chars[i..].iter().position(|&c| c == '}').map(|p| i + p);
                let Some(close) = close else { return false };
                let inner: String = chars[i + 1..close].iter().collect();
                let (lo, hi) = inner.split_once(',').unwrap_or((&inner, &inner));
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if !atom || !digits(lo) || !(hi.is_empty() || digits(hi)) {
                    return false;
                }
                i = close;
                atom = false;
            }
            '}' | ']' => return false,
            _ => atom = true,
        }
        i += 1;
    }
    depth == 0
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
            Some(map) if at.ends_with("patternProperties") && !map.keys().all(|k| is_regex(k)) => {
                fail(at, "a key is not a regular expression catalogs can compile")
            }
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
        Kind::Text if at.ends_with(".pattern") && !value.as_str().is_some_and(is_regex) => {
            fail(at, "not a regular expression catalogs can compile")
        }
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

/// An example value of `schema` that satisfies it, for a catalog entry that is validated
/// against it: the example it names (`example`, first of `examples`, `default`, `const`,
/// first of `enum`: the operator's word), else one made from it when every keyword it has
/// is one the maker honours (types, lengths, bounds, item counts, properties, required);
/// `None` when no such example can be made (a `pattern`, `anyOf`, a `format`…: name one).
pub fn example(schema: &Value) -> Option<Value> {
    let mut budget = EXAMPLE_BUDGET;
    make(schema, 0, &mut budget)
}

/// How many values (a string counts one per 64 bytes) a made example may hold: nested
/// `minItems` multiply (16 per level, 24 levels), so a small schema could ask for more
/// than an isolate's memory.
pub const EXAMPLE_BUDGET: usize = 4096;

/// The keywords [`example`] honours when it makes a value.
const HONOURED: [&str; 17] = [
    "type",
    "description",
    "title",
    "$comment",
    "$schema",
    "deprecated",
    "readOnly",
    "writeOnly",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "items",
];
const HONOURED_OBJECT: [&str; 3] = ["properties", "required", "additionalProperties"];

fn make(schema: &Value, depth: usize, budget: &mut usize) -> Option<Value> {
    *budget = budget.checked_sub(1)?;
    let map = match schema {
        Value::Bool(true) => return Some(Value::Null),
        Value::Object(map) if depth <= MAX_DEPTH => map,
        _ => return None,
    };
    if let Some(value) = named(map) {
        return Some(value);
    }
    let honoured = |k: &String| HONOURED.contains(&k.as_str()) || HONOURED_OBJECT.contains(&k.as_str());
    if !map.keys().all(|k| honoured(k) || k.starts_with("x-")) {
        return None;
    }
    let num = |k: &str| map.get(k).and_then(Value::as_f64);
    let kind = match map.get("type") {
        Some(Value::Array(list)) => list.first()?.as_str()?,
        Some(t) => t.as_str()?,
        None => "object",
    };
    let value = match kind {
        "string" => {
            let (min, max) = (num("minLength").unwrap_or(0.0), num("maxLength").unwrap_or(f64::MAX));
            let len = if max >= 1.0 { min.max(1.0) } else { min };
            if len > 256.0 || len > max {
                return None;
            }
            *budget = budget.checked_sub(len as usize / 64)?;
            Value::String("x".repeat(len as usize))
        }
        "integer" | "number" => number(&num, kind == "integer")?,
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        "array" => {
            let n = num("minItems").unwrap_or(0.0);
            if n > 16.0 || n > num("maxItems").unwrap_or(f64::MAX) {
                return None;
            }
            let before = *budget;
            let item = if n > 0.0 {
                map.get("items").map_or(Some(Value::Null), |i| make(i, depth + 1, budget))?
            } else {
                Value::Null
            };
            // The item is made once and copied: each copy costs what the first did.
            let each = before - *budget;
            *budget = budget.checked_sub(each.checked_mul((n as usize).saturating_sub(1))?)?;
            Value::Array(vec![item; n as usize])
        }
        "object" => {
            let props = map.get("properties").and_then(Value::as_object);
            let mut out = serde_json::Map::new();
            for (name, sub) in props.into_iter().flatten() {
                // An optional property appears only with an example of its own.
                if let Some(value) = sub.as_object().and_then(named) {
                    out.insert(name.clone(), value);
                }
            }
            for name in map.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                let sub = match props.and_then(|p| p.get(name)) {
                    Some(sub) => sub,
                    None => map.get("additionalProperties").unwrap_or(&Value::Bool(true)),
                };
                let value = make(sub, depth + 1, budget)?;
                out.insert(name.to_string(), value);
            }
            Value::Object(out)
        }
        _ => return None,
    };
    Some(value)
}

/// A number within the bounds (`minimum`, `maximum`, the exclusive ones), whole when
/// `integer`; `None` when the bounds leave none the maker finds.
fn number(num: &dyn Fn(&str) -> Option<f64>, integer: bool) -> Option<Value> {
    let (min, max) = (num("minimum"), num("maximum"));
    let (emin, emax) = (num("exclusiveMinimum"), num("exclusiveMaximum"));
    let fits = |v: f64| {
        min.is_none_or(|m| v >= m)
            && max.is_none_or(|m| v <= m)
            && emin.is_none_or(|m| v > m)
            && emax.is_none_or(|m| v < m)
            && v.is_finite()
            && v.abs() < 9e15
            && (!integer || v.fract() == 0.0)
    };
    let (lower, upper) = (min.or(emin), max.or(emax));
    let middle = lower.zip(upper).map(|(l, u)| l / 2.0 + u / 2.0);
    // Zero, the bounds, a step inside them, the middle: the first that fits.
    let candidates = [Some(0.0), min, emin.map(|e| e.floor() + 1.0), max, emax.map(|e| e.ceil() - 1.0), middle];
    let v = candidates.into_iter().flatten().flat_map(|c| [c, c.ceil(), c.floor()]).find(|&c| fits(c))?;
    Some(if v.fract() == 0.0 { Value::from(v as i64) } else { serde_json::Number::from_f64(v).map(Value::Number)? })
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
