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
    /// An operator's change to a payer (block, unblock, its cap): not a payment.
    Policy,
}

impl EventKind {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locked => "locked",
            Self::Released => "released",
            Self::Refunded => "refunded",
            Self::Rejected => "rejected",
            Self::Policy => "policy",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Locked, Self::Released, Self::Refunded, Self::Rejected, Self::Policy]
            .into_iter()
            .find(|k| k.as_str() == s)
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

pub use csv::{csv_header, csv_row, fields_of};
pub use date::{iso8601, parse_iso8601};
pub use query::Query;

mod csv;
mod date;
mod query;

#[cfg(test)]
mod tests;
