//! A read of one shard's ledger, as the Worker asks the arbiter for it.

use serde::Serialize;

use super::EventKind;

/// A read of one shard's ledger (the arbiter's `ledger` call): events with
/// `from_ms` < time < `until_ms`, or time = `from_ms` and seq > `after_seq`, oldest first
/// (time, then seq), at most `limit`, filtered by payer (lower case), route and event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Query {
    /// Start (unix ms).
    pub from_ms: u64,
    /// At `from_ms`, only events after this seq (-1: all).
    pub after_seq: i64,
    /// End, excluded (unix ms).
    pub until_ms: u64,
    /// Only this payer (lower case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Only this route pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Only this event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventKind>,
    /// At most this many.
    pub limit: u32,
    /// Only the positions (seq, time), each line empty.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keys: bool,
}

impl Query {
    /// A query as [`to_json`] wrote it.
    pub fn from_json(json: &str) -> Result<Self, crate::json::JsonError> {
        use crate::json::{required, whole};
        whole(json, |r| {
            let (mut from_ms, mut after_seq, mut until_ms, mut limit) = (None, None, None, None);
            let (mut payer, mut route, mut event, mut keys) = (None, None, None, false);
            r.object(|r, key| {
                match key {
                    "from_ms" => from_ms = Some(r.u64()?),
                    "after_seq" => {
                        let text = r.raw()?;
                        after_seq = Some(text.parse::<i64>().map_err(|_| r.error("a seq"))?);
                    }
                    "until_ms" => until_ms = Some(r.u64()?),
                    "limit" => limit = Some(u32::try_from(r.u64()?).map_err(|_| r.error("a limit"))?),
                    "keys" => keys = r.bool()?,
                    // Addresses compare case-insensitively: the store holds them lower case.
                    "payer" => payer = r.string_or_null()?.map(|p| p.to_ascii_lowercase()),
                    "route" => route = r.string_or_null()?,
                    "event" => {
                        event = match r.string_or_null()? {
                            Some(e) => Some(EventKind::parse(&e).ok_or_else(|| r.error("an event"))?),
                            None => None,
                        }
                    }
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            Ok(Query {
                from_ms: required(from_ms, r, "from_ms")?,
                after_seq: required(after_seq, r, "after_seq")?,
                until_ms: required(until_ms, r, "until_ms")?,
                payer,
                route,
                event,
                limit: required(limit, r, "limit")?,
                keys,
            })
        })
    }
}
