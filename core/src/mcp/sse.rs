//! Server-sent events, as an MCP server's `text/event-stream` answer carries its
//! messages: events end at a blank line; an event's `data:` lines, joined by line breaks,
//! are one JSON-RPC message. Only the event holding the paid call's answer is rewritten;
//! every other event (progress, logs, requests to the client) is kept byte for byte, in
//! order.

use serde_json::Value;

/// One event: its text as received (without the blank line after it).
pub struct Event<'a> {
    text: &'a str,
}

impl Event<'_> {
    /// The JSON message of its `data:` lines, if they hold one.
    pub fn message(&self) -> Option<Value> {
        let data = data_of(self.text)?;
        serde_json::from_str(&data).ok()
    }
}

/// The `data:` lines of an event, joined (one leading space of each dropped).
fn data_of(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|rest| rest.strip_prefix(' ').unwrap_or(rest))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Splits a stream into events with the separators between them: (event, separator).
fn split(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let next = ["\r\n\r\n", "\n\n", "\r\r"].iter().filter_map(|sep| rest.find(sep).map(|at| (at, sep.len()))).min();
        match next {
            Some((at, len)) => {
                out.push((&rest[..at], &rest[at..at + len]));
                rest = &rest[at + len..];
            }
            None => {
                if !rest.is_empty() {
                    out.push((rest, ""));
                }
                return out;
            }
        }
    }
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
                for line in event.lines().filter(|l| !l.starts_with("data:")) {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("data: ");
                out.push_str(&crate::codec::to_json(&message));
                done = true;
            }
            None => out.push_str(event),
        }
        out.push_str(separator);
    }
    done.then(|| out.into_bytes())
}
