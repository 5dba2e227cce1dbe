//! The escrow ledger: one append-only event per step of every payment.
//!
//! | event | when | written with |
//! | --- | --- | --- |
//! | `locked` | the facilitator verified the payment; the origin is called next | the lock: the claim marked `locked`, before the origin is called |
//! | `released` | settled: the payer was charged | the `settled` write |
//! | `refunded` | verified but not settled (origin ≥ 400, unreachable or undeliverable; settle refused; a locked claim abandoned by its Worker): nothing charged | the `released` write, or the claim that takes an abandoned one over |
//! | `rejected` | refused before the origin (verify refused or unreachable, a replay, a conflicting payload) | the `rejected` / `released` write, or the claim's answer |
//!
//! Every event is written by the arbiter in the same synchronous step as the record change
//! it describes ([`crate::once::apply`] returns both), in the same SQLite storage, so a
//! record never changes without its event and an event never exists without its change.
//! An event has an id ([`LedgerEvent::id`]) that names the step (the payment key, the
//! claim owner or the refused resource, the event and its reason), and the store keeps the
//! first event of an id: a write retried after a lost answer, or a duplicate refused twice,
//! adds nothing.
//!
//! Every event is dated by the arbiter's clock when it is written, so that within a shard
//! time follows the write order and a reader paging by time misses nothing written later.
//! `locked` is written when verify has passed, before the origin is called (the claim is
//! marked `locked`; were that write lost, the next step writes it). A Worker that stops
//! while the origin runs leaves its `locked`; the claim that takes over after the lease
//! writes its `refunded` (`abandoned`): every `locked` gets one `released` or `refunded`,
//! but for a settlement whose outcome stays unknown.
//!
//! Not in the ledger: payments refused before the arbiter (undecodable, forged signatures,
//! a price or window mismatch): they name no verified payer, and writing them would let
//! anyone fill the ledger for free. They are answered and logged.

use serde::Serialize;

use crate::codec::to_json;

/// What happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Verified; the origin is called next (escrow: lock).
    Locked,
    /// Settled: charged (escrow: release).
    Released,
    /// Verified, not settled: nothing charged (escrow: refund).
    Refunded,
    /// Refused before the origin: nothing charged.
    Rejected,
}

impl EventKind {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locked => "locked",
            Self::Released => "released",
            Self::Refunded => "refunded",
            Self::Rejected => "rejected",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Locked, Self::Released, Self::Refunded, Self::Rejected].into_iter().find(|k| k.as_str() == s)
    }
}

/// What every event of one payment says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The payment key (idempotency key of the authorization).
    pub payment_key: String,
    /// The payer: the signer recovered from the authorization (EIP-55).
    pub payer: String,
    /// The recipient (EIP-55).
    pub pay_to: String,
    /// Atomic units, a decimal string.
    pub amount: String,
    /// The token contract (EIP-55).
    pub asset: String,
    /// CAIP-2.
    pub network: String,
    /// 1 or 2.
    pub x402_version: u8,
    /// The route pattern that priced the request.
    pub route: String,
    /// The request method (upper case).
    pub method: String,
    /// The normalised path (no query).
    pub path: String,
    /// `paper`, or the facilitator's host.
    pub facilitator: String,
}

/// What a record write tells the ledger; sent with the write, turned into events by
/// [`crate::once::apply`] only when the write is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The payment.
    pub payment: Payment,
    /// Now (unix ms): the time of the events but `locked`.
    pub time_ms: u64,
    /// When verify passed, for a claim whose `locked` is written with this write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at_ms: Option<u64>,
    /// Why nothing was charged (a release, a rejection), when the record does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The settlement transaction (a settled write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<String>,
    /// The receipt's id (a settled write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
    /// The signed receipt (a settled write): kept for its payer (`/.well-known/x402/receipts/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

impl Note {
    /// A note of `payment` at `time_ms`, saying nothing more.
    pub fn new(payment: Payment, time_ms: u64) -> Self {
        Self {
            payment,
            time_ms,
            verified_at_ms: None,
            reason: None,
            transaction: None,
            receipt_id: None,
            receipt: None,
        }
    }

    /// An event of this note's payment.
    pub fn event(&self, event: EventKind, time_ms: u64, step: &str) -> LedgerEvent {
        LedgerEvent::new(time_ms, event, &self.payment, step)
    }
}

/// One ledger event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEvent {
    /// When (unix ms).
    pub time_ms: u64,
    /// What.
    pub event: EventKind,
    /// Of which payment.
    pub payment: Payment,
    /// The settlement transaction (released).
    pub transaction: Option<String>,
    /// Why (refunded, rejected): a sanitised reason code.
    pub reason: Option<String>,
    /// The receipt's id (released): the `jti` of the signed receipt.
    pub receipt_id: Option<String>,
    /// The signed receipt (released), kept apart from the line.
    pub receipt: Option<String>,
    /// What makes the step unique besides the payment and the event: the claim owner for
    /// the steps of a claim, empty for a refusal at the claim (one per payment and reason).
    pub step: String,
}

/// An event as one JSON line (the fields of the ledger, in this order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    time: String,
    event: EventKind,
    payment_key: &'a str,
    payer: &'a str,
    pay_to: &'a str,
    amount: &'a str,
    asset: &'a str,
    network: &'a str,
    x402_version: u8,
    route: &'a str,
    method: &'a str,
    path: &'a str,
    facilitator: &'a str,
    transaction: Option<&'a str>,
    reason: Option<&'a str>,
    receipt_id: Option<&'a str>,
}

/// A stored receipt, as its payer reads it back.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptRecord<'a> {
    receipt_id: &'a str,
    status: &'a str,
    receipt: &'a str,
    settled_at: String,
    transaction: Option<&'a str>,
    network: &'a str,
    payer: &'a str,
    pay_to: &'a str,
    amount: &'a str,
    asset: &'a str,
    route: &'a str,
    method: &'a str,
    path: &'a str,
}

/// The shard a receipt id names (its first character, a hex digit); `None` for a text
/// that is not a receipt id (one hex digit, then 22 base64url characters).
pub fn receipt_shard(id: &str) -> Option<u32> {
    let (first, rest) = id.split_at_checked(1)?;
    let shard = u32::from_str_radix(first, 16).ok()?;
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    (rest.len() == 22 && rest.bytes().all(b64) && shard < crate::once::SHARDS).then_some(shard)
}

/// The column names of the CSV form: the JSON field names, in order.
pub const FIELDS: [&str; 16] = [
    "time",
    "event",
    "paymentKey",
    "payer",
    "payTo",
    "amount",
    "asset",
    "network",
    "x402Version",
    "route",
    "method",
    "path",
    "facilitator",
    "transaction",
    "reason",
    "receiptId",
];

impl LedgerEvent {
    /// A new event of `payment`.
    pub fn new(time_ms: u64, event: EventKind, payment: &Payment, step: &str) -> Self {
        Self {
            time_ms,
            event,
            payment: payment.clone(),
            transaction: None,
            reason: None,
            receipt_id: None,
            receipt: None,
            step: step.to_string(),
        }
    }

    /// With a reason.
    pub fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    /// The step's id: the store keeps one event per id. Its parts are joined with the
    /// unit separator (U+001F), which no key, owner token or reason code holds.
    pub fn id(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or_default();
        format!("{}\u{1f}{}\u{1f}{}\u{1f}{reason}", self.payment.payment_key, self.step, self.event.as_str())
    }

    /// The payer, lower case (addresses compare case-insensitively).
    pub fn payer_key(&self) -> String {
        self.payment.payer.to_ascii_lowercase()
    }

    fn line(&self) -> Line<'_> {
        let p = &self.payment;
        Line {
            time: iso8601(self.time_ms),
            event: self.event,
            payment_key: &p.payment_key,
            payer: &p.payer,
            pay_to: &p.pay_to,
            amount: &p.amount,
            asset: &p.asset,
            network: &p.network,
            x402_version: p.x402_version,
            route: &p.route,
            method: &p.method,
            path: &p.path,
            facilitator: &p.facilitator,
            transaction: self.transaction.as_deref(),
            reason: self.reason.as_deref(),
            receipt_id: self.receipt_id.as_deref(),
        }
    }

    /// The event as one line of JSON (no line break in it).
    pub fn to_json_line(&self) -> String {
        to_json(&self.line())
    }

    /// What `GET /.well-known/x402/receipts/{receiptId}` answers for a settled event: its
    /// id and JWS, `status: "settled"`, and the settlement it names.
    pub fn receipt_json(&self) -> Option<(String, String)> {
        let (id, jws) = (self.receipt_id.as_ref()?, self.receipt.as_ref()?);
        let p = &self.payment;
        let body = ReceiptRecord {
            receipt_id: id,
            status: "settled",
            receipt: jws,
            settled_at: iso8601(self.time_ms),
            transaction: self.transaction.as_deref(),
            network: &p.network,
            payer: &p.payer,
            pay_to: &p.pay_to,
            amount: &p.amount,
            asset: &p.asset,
            route: &p.route,
            method: &p.method,
            path: &p.path,
        };
        Some((id.clone(), to_json(&body)))
    }
}

/// The fields of an event's JSON line (a flat object of strings, numbers and nulls), as
/// text: a string as it reads, a number as written, null as empty. `None` when the line
/// is not such an object.
pub fn fields_of(json_line: &str) -> Option<Vec<(String, String)>> {
    crate::json::whole(json_line, |r| {
        let mut fields = Vec::new();
        r.object(|r, key| {
            let value = match r.string_or_null() {
                Ok(s) => s.unwrap_or_default(),
                Err(_) => r.raw()?.to_string(),
            };
            fields.push((key.to_string(), value));
            Ok(())
        })?;
        Ok(fields)
    })
    .ok()
}

/// One CSV record (RFC 4180, `\r\n`-terminated) from the JSON line of an event, its
/// columns [`FIELDS`]. A cell that a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
pub fn csv_row(json_line: &str) -> Option<String> {
    let fields = fields_of(json_line)?;
    let mut row = String::new();
    for (i, field) in FIELDS.iter().enumerate() {
        if i > 0 {
            row.push(',');
        }
        let cell = fields.iter().find(|(k, _)| k == field).map_or("", |(_, v)| v.as_str());
        row.push_str(&csv_cell(cell));
    }
    row.push_str("\r\n");
    Some(row)
}

/// The CSV header record.
pub fn csv_header() -> String {
    let mut row = FIELDS.join(",");
    row.push_str("\r\n");
    row
}

/// A CSV cell: always quoted (a spreadsheet that splits on `;` or tabs keeps it whole),
/// defused when it starts like a formula.
fn csv_cell(text: &str) -> String {
    let guarded =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

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

/// ISO 8601 in UTC with milliseconds: `2026-12-02T06:40:00.123Z`.
pub fn iso8601(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Unix ms of an ISO 8601 UTC instant as [`iso8601`] writes it, or a date alone
/// (`2026-12-02`, midnight UTC); seconds and milliseconds may be left out.
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let y: i64 = number(parts.next()?, 4)?;
    let m: u32 = number(parts.next()?, 2)?;
    let d: u32 = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || y < 1970 {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) as u64 * 86_400_000;
    if let Some(time) = time {
        let (hms, milli) = match time.split_once('.') {
            Some((hms, milli)) => (hms, number::<u64>(milli, 3)?),
            None => (time, 0),
        };
        let mut t = hms.split(':');
        let h: u64 = number(t.next()?, 2)?;
        let min: u64 = number(t.next()?, 2)?;
        let s: u64 = match t.next() {
            Some(s) => number(s, 2)?,
            None => 0,
        };
        if t.next().is_some() || h > 23 || min > 59 || s > 59 {
            return None;
        }
        ms += (h * 3600 + min * 60 + s) * 1000 + milli;
    }
    Some(ms)
}

fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests;
