//! The operator's side: the admin API under `ADMIN_PATH` (default `/_x402/`), enabled only
//! when the `ADMIN_TOKEN` secret is set.
//!
//! - Auth: `Authorization: Bearer <ADMIN_TOKEN>` (compared in constant time), or the session
//!   cookie that `POST {ADMIN_PATH}login` (a form with `token`) sets: `HttpOnly; Secure;
//!   SameSite=Strict`, signed with a key derived from the token, valid
//!   [`SESSION_SECONDS`]. Anything else is 401 JSON.
//! - `GET ledger.jsonl` / `ledger.csv` ([`LedgerParams`]): the ledger, oldest first, merged
//!   from the arbiter's shards ([`Merger`]) a page at a time, streamed; `limit` lines at
//!   most, and a cursor for the next page.
//! - `GET summary` ([`Summary`]): totals, per day, per route, failures by reason, top payers.
//! - `GET` (the path itself): the dashboard page.
//!
//! Everything here is pure: the edge reads the shards, streams, and answers.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::crypto::sha256;
use crate::error::ConfigError;
use crate::ledger::{parse_iso8601, EventKind, Query};

/// The admin path unless `ADMIN_PATH` says otherwise.
pub const DEFAULT_ADMIN_PATH: &str = "/_x402/";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "x402_admin";
/// How long a session lasts.
pub const SESSION_SECONDS: u64 = 12 * 60 * 60;
/// The default and largest `limit` of a ledger read.
pub const DEFAULT_LIMIT: u32 = 1_000;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 100_000;
/// Lines read from one shard at a time: what the merge holds in memory per shard.
pub const PAGE: u32 = 200;
/// The default window of a read without `since`: the last 24 hours.
pub const DEFAULT_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// `ADMIN_TOKEN`: 16 to 512 visible ASCII characters; its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths: both
/// are hashed first, so a wrong guess tells nothing of how much of it was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (sha256(a), sha256(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

impl AdminToken {
    /// Reads the token (16 to 512 visible ASCII characters); surrounding whitespace is
    /// trimmed, and an empty one is none.
    pub fn parse(text: &str) -> Result<Option<Self>, ConfigError> {
        Ok(crate::config::shared_secret(text, "ADMIN_TOKEN")?.map(Self))
    }

    /// Whether `presented` is the token.
    pub fn admits(&self, presented: &str) -> bool {
        same(self.0.as_bytes(), presented.as_bytes())
    }

    /// The seal of a session expiring at `expires_s`: keyed by the receipt key and the
    /// token together, so that a leaked cookie cannot be used to test guesses of the token
    /// offline, and a new token ends every session.
    fn seal(&self, key: &crate::receipt::ReceiptSigner, expires_s: u64) -> String {
        let mut data = Vec::with_capacity(self.0.len() + 24);
        data.extend_from_slice(&sha256(self.0.as_bytes()));
        data.extend_from_slice(expires_s.to_string().as_bytes());
        crate::codec::base64url_encode(&key.derive(b"x402-edge/admin-session/v2\0", &data)[..24])
    }

    /// A session cookie value valid until `now_s` + [`SESSION_SECONDS`]: `expiry.seal`.
    pub fn session(&self, key: &crate::receipt::ReceiptSigner, now_s: u64) -> String {
        let expires = now_s + SESSION_SECONDS;
        format!("{expires}.{}", self.seal(key, expires))
    }

    /// Whether a session cookie value is one of ours and not expired at `now_s`.
    pub fn admits_session(&self, key: &crate::receipt::ReceiptSigner, value: &str, now_s: u64) -> bool {
        let Some((expires, seal)) = value.split_once('.') else { return false };
        let Ok(expires_s) = expires.parse::<u64>() else { return false };
        expires.bytes().all(|b| b.is_ascii_digit())
            && expires_s > now_s
            && expires_s <= now_s + SESSION_SECONDS
            && same(self.seal(key, expires_s).as_bytes(), seal.as_bytes())
    }

    /// Whether a request carries this token (Bearer) or a live session cookie (any of the
    /// `x402_admin` cookies it sends: one planted by a sibling domain cannot lock the
    /// operator out).
    pub fn authorizes(
        &self,
        key: &crate::receipt::ReceiptSigner,
        authorization: Option<&str>,
        cookie: Option<&str>,
        now_s: u64,
    ) -> bool {
        let bearer = authorization.and_then(|a| {
            let (scheme, rest) = a.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        if let Some(token) = bearer {
            return self.admits(token);
        }
        cookie.is_some_and(|c| cookie_values(c, SESSION_COOKIE).any(|v| self.admits_session(key, v, now_s)))
    }
}

/// The values of every cookie `name` in a `Cookie` header.
pub fn cookie_values<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The admin API's answers other than data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No or wrong credentials (401).
    Unauthorized,
    /// No such admin page (404).
    NotFound,
    /// The page takes another method (405).
    MethodNotAllowed,
    /// A query parameter that cannot be read (400), named.
    BadParameter(&'static str),
}

impl AdminError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BadParameter(_) => 400,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        match self {
            Self::Unauthorized => r#"{"error":"admin_unauthorized"}"#.into(),
            Self::NotFound => r#"{"error":"not_found"}"#.into(),
            Self::MethodNotAllowed => r#"{"error":"method_not_allowed"}"#.into(),
            Self::BadParameter(name) => format!(r#"{{"error":"bad_parameter","parameter":"{name}"}}"#),
        }
    }
}

/// What an admin request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The dashboard page (`GET {ADMIN_PATH}`).
    Dashboard,
    /// The ledger, one JSON object per line.
    LedgerJsonl,
    /// The ledger as CSV.
    LedgerCsv,
    /// Totals.
    Summary,
    /// `POST login` (form `token`): sets the session cookie.
    Login,
    /// `POST logout`: clears it.
    Logout,
    /// `payers/{address}…`: a payer's view, or an operator's change to it.
    Payer(crate::address::EvmAddress, payers::PayerAction),
}

impl Endpoint {
    /// The endpoint of `method` at `rest` (the path after `ADMIN_PATH`).
    pub fn of(method: &str, rest: &str) -> Result<Self, AdminError> {
        if let Some(payer) = payers::payer_endpoint(method, rest) {
            return payer.map(|(address, action)| Self::Payer(address, action));
        }
        let (endpoint, post) = match rest {
            "" => (Self::Dashboard, false),
            "ledger.jsonl" => (Self::LedgerJsonl, false),
            "ledger.csv" => (Self::LedgerCsv, false),
            "summary" => (Self::Summary, false),
            "login" => (Self::Login, true),
            "logout" => (Self::Logout, true),
            _ => return Err(AdminError::NotFound),
        };
        let allowed = if post { method.eq_ignore_ascii_case("POST") } else { crate::http::is_get_or_head(method) };
        if allowed {
            Ok(endpoint)
        } else {
            Err(AdminError::MethodNotAllowed)
        }
    }

    /// Whether it needs credentials (all but the login, the logout, which only asks the
    /// browser to drop its cookie, and the page, which asks for them).
    pub fn guarded(self) -> bool {
        !matches!(self, Self::Login | Self::Logout | Self::Dashboard)
    }
}

/// `application/x-www-form-urlencoded` pairs (a query string or a form body),
/// percent-decoded, `+` as a space; a pair that does not decode to UTF-8 is dropped.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> Option<String> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = bytes.get(i + 1..i + 3)?;
                    let digit = |b: u8| (b as char).to_digit(16);
                    out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    text.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// A value for a form or query string: unreserved characters as they are, every other byte
/// percent-encoded ([`form_pairs`] reads it back).
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    crate::codec::percent_encode(value, |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b), &mut out);
    out
}

/// Where a page of the merged ledger ended: the last line's time, shard and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Unix ms.
    pub time_ms: u64,
    /// The shard.
    pub shard: u32,
    /// The seq within the shard.
    pub seq: i64,
}

impl Cursor {
    /// `time.shard.seq`.
    pub fn text(&self) -> String {
        format!("{}.{}.{}", self.time_ms, self.shard, self.seq)
    }

    /// Reads `time.shard.seq`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        let (t, s, q) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !digits(t) || !digits(s) || !digits(q) {
            return None;
        }
        Some(Self { time_ms: t.parse().ok()?, shard: s.parse().ok()?, seq: q.parse().ok()? })
    }

    /// Whether a line at (time, shard, seq) comes after this cursor.
    fn before(&self, time_ms: u64, shard: u32, seq: i64) -> bool {
        (self.time_ms, self.shard, self.seq) < (time_ms, shard, seq)
    }
}

/// A ledger read's parameters (`since`, `until`: ISO 8601 or a date; `payer`, `route`,
/// `event`, `limit`, `cursor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerParams {
    /// Start (unix ms), included.
    pub since_ms: u64,
    /// End (unix ms), excluded.
    pub until_ms: u64,
    /// Only this payer (lower case).
    pub payer: Option<String>,
    /// Only this route pattern.
    pub route: Option<String>,
    /// Only this event.
    pub event: Option<EventKind>,
    /// At most this many lines.
    pub limit: u32,
    /// After this line.
    pub cursor: Option<Cursor>,
}

impl LedgerParams {
    /// Reads the query string at `now_ms`; without `since` (and `until`), the last 24 hours.
    pub fn parse(query: Option<&str>, now_ms: u64) -> Result<Self, AdminError> {
        let mut p = Self {
            since_ms: 0,
            until_ms: now_ms + 1,
            payer: None,
            route: None,
            event: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        };
        let mut since = None;
        for (key, value) in form_pairs(query.unwrap_or_default()) {
            let bad = |name| AdminError::BadParameter(name);
            match key.as_str() {
                "since" => since = Some(instant(&value).ok_or(bad("since"))?),
                "until" => p.until_ms = instant(&value).ok_or(bad("until"))?,
                "payer" => {
                    let address = crate::address::EvmAddress::parse(&value).map_err(|_| bad("payer"))?;
                    p.payer = Some(address.checksummed().to_ascii_lowercase());
                }
                "route" if !value.is_empty() => p.route = Some(value),
                "event" if !value.is_empty() => p.event = Some(EventKind::parse(&value).ok_or(bad("event"))?),
                "limit" => {
                    p.limit = value.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or(bad("limit"))?;
                }
                "cursor" if !value.is_empty() => p.cursor = Some(Cursor::parse(&value).ok_or(bad("cursor"))?),
                _ => {}
            }
        }
        p.since_ms = since.unwrap_or_else(|| p.until_ms.saturating_sub(DEFAULT_WINDOW_MS));
        if p.since_ms > p.until_ms {
            return Err(AdminError::BadParameter("since"));
        }
        Ok(p)
    }

    /// The first query of `shard`: what comes after the cursor (or from `since`), `page`
    /// lines at most.
    pub fn first_query(&self, shard: u32, page: u32) -> Query {
        let (from_ms, after_seq) = match self.cursor {
            None => (self.since_ms, -1),
            Some(c) if c.time_ms < self.since_ms => (self.since_ms, -1),
            Some(c) if shard < c.shard => (c.time_ms, i64::MAX),
            Some(c) if shard == c.shard => (c.time_ms, c.seq),
            Some(c) => (c.time_ms, -1),
        };
        self.query(from_ms, after_seq, page)
    }

    /// The query string of the page after `cursor`: these parameters, and the cursor.
    pub fn next_page(&self, cursor: &Cursor) -> String {
        let mut q =
            format!("since={}&until={}&limit={}&cursor={}", self.since_ms, self.until_ms, self.limit, cursor.text());
        for (name, value) in [
            ("payer", self.payer.as_deref()),
            ("route", self.route.as_deref()),
            ("event", self.event.map(EventKind::as_str)),
        ] {
            if let Some(v) = value {
                q.push_str(&format!("&{name}={}", form_encode(v)));
            }
        }
        q
    }

    /// The query of a shard's next page, after its last line read (time, seq).
    pub fn next_query(&self, last_time_ms: u64, last_seq: i64, page: u32) -> Query {
        self.query(last_time_ms, last_seq, page)
    }

    fn query(&self, from_ms: u64, after_seq: i64, limit: u32) -> Query {
        Query {
            from_ms,
            after_seq,
            until_ms: self.until_ms,
            payer: self.payer.clone(),
            route: self.route.clone(),
            event: self.event,
            limit,
            keys: false,
        }
    }
}

/// Unix ms of an ISO 8601 instant or date, or of a number of unix ms.
fn instant(text: &str) -> Option<u64> {
    if !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    parse_iso8601(text)
}

/// One line read from a shard: its seq, time and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The shard's seq.
    pub seq: i64,
    /// Unix ms.
    pub time_ms: u64,
    /// The event's JSON line.
    pub json: String,
}

/// A page as the arbiter's `ledger` call answers it: `[[seq, timeMs, line], …]`.
pub fn parse_page(json: &str) -> Result<Vec<Line>, crate::json::JsonError> {
    crate::json::whole(json, |r| {
        let mut lines = Vec::new();
        r.array(|r| {
            let (mut seq, mut time_ms, mut text, mut at) = (None, None, None, 0);
            r.array(|r| {
                match at {
                    0 => seq = Some(i64::try_from(r.u64()?).map_err(|_| r.error("a seq"))?),
                    1 => time_ms = Some(r.u64()?),
                    2 => text = Some(r.string()?),
                    _ => return Err(r.error("three items")),
                }
                at += 1;
                Ok(())
            })?;
            let seq = crate::json::required(seq, r, "seq")?;
            let time_ms = crate::json::required(time_ms, r, "time")?;
            lines.push(Line { seq, time_ms, json: crate::json::required(text, r, "line")? });
            Ok(())
        })?;
        Ok(lines)
    })
}

/// The k-way merge of the shards' pages, oldest first (time, shard, seq). It holds at most
/// one page per shard; [`Merger::wants`] names a shard whose next page must be fed before
/// the next line can be taken.
#[derive(Debug)]
pub struct Merger {
    buffers: Vec<VecDeque<Line>>,
    /// Whether a shard may have more than it gave (its last page was full).
    more: Vec<bool>,
    /// The last line fed per shard (time, seq): where its next page starts.
    last: Vec<Option<(u64, i64)>>,
    /// Shards never read yet.
    fresh: Vec<bool>,
}

impl Merger {
    /// A merge of `shards` shards, none read yet.
    pub fn new(shards: u32) -> Self {
        let n = shards as usize;
        Self { buffers: vec![VecDeque::new(); n], more: vec![true; n], last: vec![None; n], fresh: vec![true; n] }
    }

    /// The shard to read next, and whether it is its first read; `None` when every shard
    /// that may have more has a line buffered.
    pub fn wants(&self) -> Option<(u32, Option<(u64, i64)>)> {
        (0..self.buffers.len())
            .find(|&i| self.buffers[i].is_empty() && self.more[i])
            .map(|i| (i as u32, if self.fresh[i] { None } else { self.last[i] }))
    }

    /// Feeds a page of `shard` read with `page` as its limit.
    pub fn feed(&mut self, shard: u32, lines: Vec<Line>, page: u32) {
        let i = shard as usize;
        self.fresh[i] = false;
        self.more[i] = lines.len() as u32 >= page;
        if let Some(l) = lines.last() {
            self.last[i] = Some((l.time_ms, l.seq));
        }
        self.buffers[i].extend(lines);
    }

    /// The next line in order, with its cursor, once [`Merger::wants`] is `None`.
    pub fn take(&mut self) -> Option<(Line, Cursor)> {
        let i = (0..self.buffers.len())
            .filter_map(|i| self.buffers[i].front().map(|l| ((l.time_ms, i, l.seq), i)))
            .min()
            .map(|(_, i)| i)?;
        let line = self.buffers[i].pop_front()?;
        let cursor = Cursor { time_ms: line.time_ms, shard: i as u32, seq: line.seq };
        Some((line, cursor))
    }
}

/// Whether a cursor's line is already behind `cursor` (a page never repeats a line).
pub fn after(cursor: Option<Cursor>, line: &Cursor) -> bool {
    cursor.is_none_or(|c| c.before(line.time_ms, line.shard, line.seq))
}

/// Counts and amounts, as a summary shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their amounts added up (atomic units, a decimal string).
    #[serde(serialize_with = "decimal")]
    pub amount: u128,
}

fn decimal<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl Tally {
    fn add(&mut self, amount: u128) {
        self.count += 1;
        self.amount = self.amount.saturating_add(amount);
    }
}

/// Failures: how many, and how many per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// How many.
    pub count: u64,
    /// Per reason code.
    pub reasons: BTreeMap<String, u64>,
}

/// One day or one route of a summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slice {
    /// `2026-12-02`, or the route pattern.
    pub key: String,
    /// Settled in it.
    pub settled: Tally,
    /// Refunded in it.
    pub refunded: u64,
    /// Rejected in it.
    pub rejected: u64,
}

/// One payer of a summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayerTally {
    /// The address (lower case).
    pub payer: String,
    /// What it paid.
    pub settled: Tally,
}

/// `GET summary`: the settled totals, per day and per route, refunds and rejections by
/// reason, the top payers, folded one event at a time (memory: the aggregates only).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    settled: Tally,
    refunded: Failures,
    rejected: Failures,
    days: BTreeMap<String, Slice>,
    routes: BTreeMap<String, Slice>,
    payers: BTreeMap<String, Tally>,
    /// The last [`RECENT`] settlements' lines, newest last.
    recent: VecDeque<String>,
    /// The last [`RECENT`] operator's changes to payers (`policy` lines), newest last.
    policy: VecDeque<String>,
}

/// How many settlements a summary shows as recent.
pub const RECENT: usize = 50;

/// How many payers a summary lists.
pub const TOP_PAYERS: usize = 10;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson<'a> {
    since: String,
    until: String,
    totals: Totals<'a>,
    days: Vec<&'a Slice>,
    routes: Vec<&'a Slice>,
    top_payers: Vec<PayerTally>,
    /// The last settlements, newest first (ledger lines).
    recent: Vec<&'a serde_json::value::RawValue>,
    /// The last operator's changes to payers, newest first (ledger lines).
    policy: Vec<&'a serde_json::value::RawValue>,
}

#[derive(Serialize)]
struct Totals<'a> {
    settled: &'a Tally,
    refunded: &'a Failures,
    rejected: &'a Failures,
}

impl Summary {
    /// Adds one event (its JSON line); a line that is not an event is ignored.
    pub fn add(&mut self, json: &str) {
        let Some(fields) = crate::ledger::fields_of(json) else { return };
        let text = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
        if EventKind::parse(&text("event")) == Some(EventKind::Policy) {
            if self.policy.len() == RECENT {
                self.policy.pop_front();
            }
            self.policy.push_back(json.to_string());
            return;
        }
        let day = text("time").get(..10).unwrap_or_default().to_string();
        let route = text("route");
        let slice = |key: &str| Slice { key: key.to_string(), settled: Tally::default(), refunded: 0, rejected: 0 };
        let day_slice = self.days.entry(day.clone()).or_insert_with(|| slice(&day));
        let route_slice = self.routes.entry(route.clone()).or_insert_with(|| slice(&route));
        match EventKind::parse(&text("event")) {
            Some(EventKind::Released) => {
                let amount = text("amount").parse::<u128>().unwrap_or(0);
                self.settled.add(amount);
                day_slice.settled.add(amount);
                route_slice.settled.add(amount);
                self.payers.entry(text("payer").to_ascii_lowercase()).or_default().add(amount);
                if self.recent.len() == RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(json.to_string());
            }
            Some(EventKind::Refunded) => {
                self.refunded.count += 1;
                *self.refunded.reasons.entry(text("reason")).or_default() += 1;
                day_slice.refunded += 1;
                route_slice.refunded += 1;
            }
            Some(EventKind::Rejected) => {
                self.rejected.count += 1;
                *self.rejected.reasons.entry(text("reason")).or_default() += 1;
                day_slice.rejected += 1;
                route_slice.rejected += 1;
            }
            Some(EventKind::Locked | EventKind::Policy) | None => {}
        }
    }

    /// The summary's JSON for the window `since_ms`..`until_ms`.
    pub fn to_json(&self, since_ms: u64, until_ms: u64) -> String {
        let mut payers: Vec<PayerTally> =
            self.payers.iter().map(|(payer, t)| PayerTally { payer: payer.clone(), settled: t.clone() }).collect();
        payers.sort_unstable_by(|a, b| {
            (b.settled.amount, b.settled.count, &a.payer).cmp(&(a.settled.amount, a.settled.count, &b.payer))
        });
        payers.truncate(TOP_PAYERS);
        crate::codec::to_json(&SummaryJson {
            since: crate::ledger::iso8601(since_ms),
            until: crate::ledger::iso8601(until_ms),
            totals: Totals { settled: &self.settled, refunded: &self.refunded, rejected: &self.rejected },
            days: self.days.values().collect(),
            routes: self.routes.values().collect(),
            top_payers: payers,
            recent: self.recent.iter().rev().filter_map(|l| serde_json::from_str(l).ok()).collect(),
            policy: self.policy.iter().rev().filter_map(|l| serde_json::from_str(l).ok()).collect(),
        })
    }
}

pub mod payers;

#[cfg(test)]
mod tests;
