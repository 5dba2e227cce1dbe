//! JSON written as text, member by member: the discovery documents and the bazaar
//! extension are mostly fixed text around a few values, and writing them so keeps the
//! tree building of `serde_json::json!` (a map insert per member, at every call site) out
//! of the wasm bundle. Values are escaped by serde_json.

use serde_json::Value;

use crate::codec::to_json;

/// An object being written; members in the order they are added.
pub struct Obj(String);

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Obj(String::from("{"))
    }

    /// A member whose value is JSON text already.
    #[inline(never)]
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&to_json(key));
        self.0.push(':');
        self.0.push_str(json);
        self
    }

    /// A string member.
    #[inline(never)]
    pub fn str(self, key: &str, text: &str) -> Self {
        let json = to_json(text);
        self.raw(key, &json)
    }

    /// A member holding a JSON value.
    #[inline(never)]
    pub fn value(self, key: &str, value: &Value) -> Self {
        let json = to_json(value);
        self.raw(key, &json)
    }

    /// A member when `json` is `Some`.
    pub fn maybe(self, key: &str, json: Option<&str>) -> Self {
        match json {
            Some(json) => self.raw(key, json),
            None => self,
        }
    }

    /// The object's text.
    pub fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// An array of JSON texts.
pub fn array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out.push(']');
    out
}
