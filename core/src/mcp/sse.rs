//! Server-sent events, as an MCP server's `text/event-stream` answer carries its
//! messages: lines end with CR LF, LF or CR (as the SSE standard allows); an event ends at
//! a blank line; its `data:` lines, joined by line breaks, are one JSON-RPC message. Only
//! the event holding the paid call's answer is rewritten; every other event (progress,
//! logs, requests to the client) is kept byte for byte, in order. One pass over the
//! stream: linear in its length.

use serde_json::Value;

/// One event: its text as received (its lines with their endings, without the blank line
/// after it).
pub struct Event<'a> {
    text: &'a str,
}

/// The lines of `text` without their endings (CR LF, LF or CR each end one line).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..end];
        let ending = if rest[end..].starts_with("\r\n") { 2 } else { usize::from(end < rest.len()) };
        rest = &rest[end + ending..];
        Some(line)
    })
}

impl Event<'_> {
    /// The JSON message of its `data:` lines, if they hold one.
    pub fn message(&self) -> Option<Value> {
        let data: Vec<&str> = lines(self.text)
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|rest| rest.strip_prefix(' ').unwrap_or(rest))
            .collect();
        if data.is_empty() {
            return None;
        }
        serde_json::from_str(&data.join("\n")).ok()
    }
}

/// Splits a stream into (event, the blank line after it): concatenated, they are the
/// stream. An event is empty between two blank lines; the last has no blank line when the
/// stream ends without one.
fn split(text: &str) -> Vec<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut at, mut start) = (0, 0);
    while at < bytes.len() {
        let line_start = at;
        while at < bytes.len() && bytes[at] != b'\r' && bytes[at] != b'\n' {
            at += 1;
        }
        let blank = at == line_start && at < bytes.len();
        at += match (bytes.get(at), bytes.get(at + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(_), _) => 1,
            (None, _) => 0,
        };
        if blank {
            out.push((&text[start..line_start], &text[line_start..at]));
            start = at;
        }
    }
    if start < text.len() {
        out.push((&text[start..], ""));
    }
    out
}

/// Whether `bytes` hold a blank line, where an event ends: every blank line the standard
/// allows (after LF, CR or CR LF) holds LF LF, CR CR or LF CR. A reader checks each new
/// chunk (with the byte before it) and scans only when it holds one.
pub fn holds_blank_line(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| matches!(w, b"\n\n" | b"\r\r" | b"\n\r"))
}

/// In a stream's complete events from byte `from` on: whether one is a request to the
/// client (a message with a `method` and an `id`: sampling, elicitation, roots, ping), and
/// where its complete events end (to scan on from there as more arrives).
pub fn asks_client(body: &[u8], from: usize) -> (bool, usize) {
    let text = match std::str::from_utf8(&body[from.min(body.len())..]) {
        Ok(text) => text,
        // A chunk may end inside a character: scan up to it.
        Err(e) => std::str::from_utf8(&body[from..from + e.valid_up_to()]).unwrap_or_default(),
    };
    let mut end = from;
    for (event, separator) in split(text) {
        if separator.is_empty() {
            break;
        }
        end += event.len() + separator.len();
        let asks = Event { text: event }.message().is_some_and(|m| m.get("method").is_some() && m.get("id").is_some());
        if asks {
            return (true, end);
        }
    }
    (false, end)
}

/// The events of a stream (none when it is not UTF-8).
pub fn events(body: &[u8]) -> Vec<Event<'_>> {
    let Ok(text) = std::str::from_utf8(body) else { return Vec::new() };
    split(text).into_iter().map(|(text, _)| Event { text }).collect()
}

/// The stream with the first event whose message `wanted` picks rewritten by `edit` (its
/// other fields kept, its data written as one line); `None` when no event is picked.
pub fn rewrite(body: &[u8], wanted: impl Fn(&Value) -> bool, edit: impl Fn(&mut Value)) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::with_capacity(text.len() + 512);
    let mut done = false;
    for (event, separator) in split(text) {
        let picked = if done { None } else { Event { text: event }.message().filter(|m| wanted(m)) };
        match picked {
            Some(mut message) => {
                edit(&mut message);
                for line in lines(event).filter(|l| !l.starts_with("data:")) {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("data: ");
                out.push_str(&crate::codec::to_json(&message));
                out.push('\n');
                done = true;
            }
            None => out.push_str(event),
        }
        out.push_str(separator);
    }
    done.then(|| out.into_bytes())
}
