//! A small pull reader for the JSON of the arbiter's wire and rows (`once::record`): the
//! values this crate writes itself with serde. Reading them by hand instead of with a
//! derived `Deserialize` keeps a visitor, a field enum and a sequence form per type out
//! of the wasm bundle. It accepts any JSON (RFC 8259); a type's decoder asks for what it
//! expects and skips fields it does not know.

use std::fmt;

/// Why a text is not the JSON a decoder expected (a byte offset and what was expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Where, as a byte offset.
    pub at: usize,
    /// What was expected there.
    pub expected: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

/// Reads values off a JSON text, front to back.
pub struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

/// Nesting deeper than this is refused (no input can exhaust the stack).
const MAX_DEPTH: usize = 64;

/// An object read as a type's fields has at most this many members.
pub const MAX_FIELDS: usize = 64;

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self { text: text.as_bytes(), at: 0 }
    }

    /// An error at the current position.
    pub fn error(&self, expected: &'static str) -> JsonError {
        JsonError { at: self.at, expected }
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8, expected: &'static str) -> Result<(), JsonError> {
        if self.peek() != Some(byte) {
            return Err(self.error(expected));
        }
        self.at += 1;
        Ok(())
    }

    fn word(&mut self, word: &'static str) -> Result<(), JsonError> {
        self.space();
        if !self.text[self.at..].starts_with(word.as_bytes()) {
            return Err(self.error(word));
        }
        self.at += word.len();
        Ok(())
    }

    /// The end of the text: only whitespace may be left.
    pub fn end(mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("the end of the text")),
        }
    }

    /// An object of fields: `field(reader, key)` reads (or [`skip`](Self::skip)s) each
    /// value. A key given twice, in any letter case, is refused (every format read here has
    /// each field once, and a reader elsewhere could keep the other value: Go's
    /// `encoding/json` matches field names case-insensitively, so to a facilitator written
    /// in Go `Authorization` is `authorization`), and so is an object of more than
    /// [`MAX_FIELDS`] members: no type here has that many, and the check for repeats stays
    /// small whatever a client sends.
    pub fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Result<(), JsonError>) -> Result<(), JsonError> {
        let mut seen: Vec<String> = Vec::new();
        self.members(|r, key| {
            if seen.len() == MAX_FIELDS {
                return Err(r.error("fewer fields"));
            }
            if seen.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                return Err(r.error("each field once"));
            }
            field(r, &key)?;
            seen.push(key);
            Ok(())
        })
    }

    /// An object's members, keys as they come (a table, not a type's fields: any number,
    /// repeats allowed).
    pub fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.eat(b'{', "an object")?;
        self.items(b'}', "',' or '}'", |r| {
            let key = r.string()?;
            r.eat(b':', "':'")?;
            member(r, key)
        })
    }

    /// An array: `item(reader)` reads each element.
    pub fn array(&mut self, item: impl FnMut(&mut Self) -> Result<(), JsonError>) -> Result<(), JsonError> {
        self.eat(b'[', "an array")?;
        self.items(b']', "',' or ']'", item)
    }

    /// The comma-separated items after an opening bracket, up to `close`.
    fn items(
        &mut self,
        close: u8,
        expected: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(c) if c == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error(expected)),
            }
        }
    }

    /// `null` (then `true`), or nothing read (`false`).
    pub fn null(&mut self) -> Result<bool, JsonError> {
        if self.peek() == Some(b'n') {
            self.word("null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A string, or `null` (`None`).
    pub fn string_or_null(&mut self) -> Result<Option<String>, JsonError> {
        optional(self, |r| r.string())
    }

    /// Any value, as serde_json reads it.
    pub fn value(&mut self) -> Result<serde_json::Value, JsonError> {
        let raw = self.raw()?;
        serde_json::from_str(raw).map_err(|_| self.error("a JSON value"))
    }

    /// `true` or `false`.
    pub fn bool(&mut self) -> Result<bool, JsonError> {
        if self.peek() == Some(b't') {
            self.word("true").map(|_| true)
        } else {
            self.word("false").map(|_| false)
        }
    }

    /// A whole number in `0..=u64::MAX`, written without a fraction or an exponent.
    pub fn u64(&mut self) -> Result<u64, JsonError> {
        self.space();
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.text.get(self.at) {
            n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))).ok_or(self.error("a u64"))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.text[start] == b'0';
        if digits == 0 || leading_zero || matches!(self.text.get(self.at), Some(b'.' | b'e' | b'E')) {
            self.at = start;
            return Err(self.error("a whole number"));
        }
        Ok(n)
    }

    /// A string, unescaped.
    pub fn string(&mut self) -> Result<String, JsonError> {
        self.eat(b'"', "a string")?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.at) else { return Err(self.error("the string's end")) };
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.text.get(self.at) else { return Err(self.error("an escape")) };
                    self.at += 1;
                    let plain = match e {
                        b'"' | b'\\' | b'/' => e,
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let c = self.unicode_escape()?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return Err(self.error("an escape")),
                    };
                    out.push(plain);
                }
                0x00..=0x1f => return Err(self.error("no control character in a string")),
                _ => out.push(b),
            }
        }
        // The input is a `str` and escapes add whole characters: the bytes are UTF-8.
        String::from_utf8(out).map_err(|_| self.error("UTF-8"))
    }

    /// The character of a `\u` escape (the `\u` read), a surrogate pair in two escapes.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.text[self.at..].starts_with(b"\\u") {
                    return Err(self.error("a low surrogate"));
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(self.error("a low surrogate"));
                }
                0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("a high surrogate first")),
            _ => first,
        };
        char::from_u32(code).ok_or(self.error("a character"))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self.text.get(self.at..self.at + 4).ok_or(self.error("four hex digits"))?;
        let mut n = 0;
        for &d in digits {
            n = n * 16 + char::from(d).to_digit(16).ok_or(self.error("four hex digits"))?;
        }
        self.at += 4;
        Ok(n)
    }

    /// Any value, passed over (a field a decoder does not know).
    pub fn skip(&mut self) -> Result<(), JsonError> {
        self.skip_at(0)
    }

    /// Any value, passed over: its text.
    pub fn raw(&mut self) -> Result<&'a str, JsonError> {
        self.space();
        let start = self.at;
        self.skip()?;
        // Values start and end at ASCII bytes: the span is whole characters.
        std::str::from_utf8(&self.text[start..self.at]).map_err(|_| self.error("UTF-8"))
    }

    fn skip_at(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("less nesting"));
        }
        match self.peek() {
            // Passed over, as any JSON reader takes it (its keys are nobody's fields).
            Some(b'{') => self.members(|r, _| r.skip_at(depth + 1)),
            Some(b'[') => self.array(|r| r.skip_at(depth + 1)),
            Some(b'"') => self.string().map(drop),
            Some(b't' | b'f') => self.bool().map(drop),
            Some(b'n') => self.word("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("a value")),
        }
    }

    /// Any number (RFC 8259 grammar), passed over.
    fn number(&mut self) -> Result<(), JsonError> {
        let digits = |r: &mut Self| {
            let start = r.at;
            while let Some(b'0'..=b'9') = r.text.get(r.at) {
                r.at += 1;
            }
            r.at - start
        };
        if self.text.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let start = self.at;
        let whole = digits(self);
        if whole == 0 || (whole > 1 && self.text[start] == b'0') {
            return Err(self.error("a number"));
        }
        if self.text.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("a fraction"));
            }
        }
        if let Some(b'e' | b'E') = self.text.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.text.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("an exponent"));
            }
        }
        Ok(())
    }
}

/// `null` as `None`, else `read`'s value (an `Option` field).
pub fn optional<T>(
    r: &mut Reader<'_>,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, JsonError>,
) -> Result<Option<T>, JsonError> {
    if r.null()? {
        return Ok(None);
    }
    read(r).map(Some)
}

/// A whole text holding one value that `read` reads (only whitespace after it).
pub fn whole<T>(json: &str, read: impl FnOnce(&mut Reader<'_>) -> Result<T, JsonError>) -> Result<T, JsonError> {
    let mut r = Reader::new(json);
    let value = read(&mut r)?;
    r.end()?;
    Ok(value)
}

/// A field that must be present: its value, or an error naming it.
pub fn required<T>(value: Option<T>, reader: &Reader<'_>, name: &'static str) -> Result<T, JsonError> {
    value.ok_or(reader.error(name))
}

#[cfg(test)]
mod tests;
