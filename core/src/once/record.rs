//! Idempotency records and the arbiter's one transition function, [`apply`].
//!
//! The arbiter (a Durable Object, or a fake in tests) holds one row per key. For every
//! request it loads the row, calls [`apply`], writes what [`apply`] returns and answers
//! the reply, all inside one single-threaded step: that is what makes a claim atomic.

use serde::Serialize;

use super::tally::{Charge, PayerChange, Refusal, Tally};
use crate::error::Code;
use crate::ledger::{self, EventKind, LedgerEvent, Note};
use crate::x402::X402Version;

/// Where a payment stands. See the module docs of `once` for every transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Claimed by one request; verify and the origin call are under way.
    Claimed,
    /// The origin answered and its response is stored; settlement is under way or its
    /// outcome is unknown.
    Settling,
    /// Settled: response, settlement and receipt stored.
    Settled,
    /// Nothing was charged (verify unreachable, origin failed, settle refused); the same
    /// payment may be tried again.
    Released,
    /// The facilitator judged the payment invalid; the refusal is stored.
    Rejected,
}

/// An HTTP response kept for replay: the origin's (paid) answer or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredResponse {
    /// Status.
    pub status: u16,
    /// Headers worth replaying (see `keep_header`).
    pub headers: Vec<(String, String)>,
    /// The body, when it was within the stored size limit.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_base64::serialize")]
    pub body: Option<Vec<u8>>,
}

/// The settlement of a settled payment, replayed with the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSettlement {
    /// `PAYMENT-RESPONSE` value.
    pub header: String,
    /// The receipt JWS.
    pub receipt: String,
    /// 1 or 2: v1 payers also get `X-PAYMENT-RESPONSE`.
    pub version: u8,
}

impl StoredSettlement {
    /// The protocol version as a type.
    pub fn x402_version(&self) -> X402Version {
        if self.version == 1 {
            X402Version::V1
        } else {
            X402Version::V2
        }
    }
}

/// One payment's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// State.
    pub state: State,
    /// What the payment bought: `METHOD path?query` (normalised).
    pub resource: String,
    /// Fingerprint of the signed payload.
    pub fingerprint: String,
    /// Token of the request that holds the claim.
    pub owner: String,
    /// The claim is held until then (unix ms); after it, a retry may take over.
    pub lease_until_ms: u64,
    /// The record may be forgotten after this (unix s).
    pub expires_at: u64,
    /// Why the facilitator rejected the payment (rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Stored response: the origin's (settling, settled) or the refusal (rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<StoredResponse>,
    /// Stored settlement (settled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement: Option<StoredSettlement>,
    /// Verify passed for this claim and its `locked` event is written (before the origin is
    /// called): a claim taken over after its lease is then `refunded` (`abandoned`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
    /// The payment's ledger view, kept with a locked claim (its `abandoned` refund names it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Box<ledger::Payment>>,
    /// The row of the payer's tally that holds this payment's reservation (set by the
    /// arbiter when it reserves; kept by every later write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// The row of a `payment-identifier` id: which payment it was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdBinding {
    /// The payment key.
    pub key: String,
    /// The payload fingerprint.
    pub fingerprint: String,
    /// Forget after (unix s).
    pub expires_at: u64,
}

/// A request to the arbiter. On the wire (JSON) it is externally tagged,
/// `{"claim":{…}}`: an internally tagged enum would be read through serde's buffered
/// `Content`, a second copy of every field's parser in the bundle.
// A request is made for one call and consumed by it: boxing its larger variants would only
// add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArbiterRequest {
    /// Bind a payment-identifier id to a payload (first binding wins forever).
    BindId {
        /// The row key (`id:<id>`).
        row: String,
        /// The binding.
        binding: IdBinding,
    },
    /// Claim a payment key for this request.
    Claim {
        /// The row key (the payment key).
        row: String,
        /// What the record becomes if the claim is granted.
        record: Record,
        /// Now (unix ms).
        now_ms: u64,
        /// Whether a new claim may start (the payment's validity window is open). When
        /// false, only an existing record answers: a stored final answer, a live claim to
        /// wait for, or a `settling` record to take over.
        fresh: bool,
        /// What a fresh claim reserves in its payer's tally (see `once::tally`).
        #[serde(skip_serializing_if = "Option::is_none")]
        charge: Option<Charge>,
    },
    /// Replace the record, only if `owner` still holds the claim.
    Advance {
        /// The row key.
        row: String,
        /// The new record (its owner must be the current owner).
        record: Record,
        /// What the write tells the ledger (see [`apply`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        ledger: Option<Note>,
        /// A charge deferred from the claim (a payer only the facilitator could prove: its
        /// signature is not one the paywall checks itself), reserved with this write, at
        /// the note's time, when the record holds none yet; refused as a claim's would be
        /// (`Blocked`, `Capped`, `RateLimited`: nothing is written).
        #[serde(skip_serializing_if = "Option::is_none")]
        charge: Option<Charge>,
    },
    /// Record that a payment was refused (its payer blocked, a replay, a conflicting
    /// payload): a `rejected` event, one per payment and reason; no row changes.
    Refuse {
        /// The row key (the payment key: its shard).
        row: String,
        /// The payment, for the ledger.
        ledger: ledger::Payment,
        /// The reason code.
        reason: String,
        /// Now (unix ms).
        now_ms: u64,
        /// The payer's tally row, when alerts are on: the refusal may raise one.
        #[serde(skip_serializing_if = "Option::is_none")]
        alert: Option<String>,
    },
    /// Reads a payer's tally, after an operator's change when there is one (a `policy`
    /// ledger event).
    Payer {
        /// The tally's row (`payer:<address>`).
        row: String,
        /// The change.
        #[serde(skip_serializing_if = "Option::is_none")]
        change: Option<PayerChange>,
        /// The payer, for the ledger.
        ledger: ledger::Payment,
        /// Now (unix ms).
        now_ms: u64,
    },
    /// Settle a payment whose claim we hold: the arbiter writes `record` (`settling`,
    /// ours), calls the facilitator's `/settle`, seals the receipt and writes the outcome,
    /// so that a fresh paid request talks to it twice (claim, settle). Answered with one of
    /// the `Settle…` replies, [`ArbiterReply::Unsettleable`] or [`ArbiterReply::LostClaim`].
    Settle {
        /// The row key.
        row: String,
        /// The `settling` record, with the stored response.
        record: Record,
        /// What to settle.
        order: SettleOrder,
    },
}

impl ArbiterRequest {
    /// The row the request is about.
    pub fn row(&self) -> &str {
        match self {
            Self::BindId { row, .. }
            | Self::Claim { row, .. }
            | Self::Advance { row, .. }
            | Self::Refuse { row, .. }
            | Self::Payer { row, .. }
            | Self::Settle { row, .. } => row,
        }
    }

    /// The row of a payment this request reads and may write (`None`: an operator's
    /// request, which names only a payer's tally).
    pub fn record_row(&self) -> Option<&str> {
        match self {
            Self::Payer { .. } => None,
            other => Some(other.row()),
        }
    }

    /// The payer's tally the request reads or changes, given the stored row: a claim's
    /// payer when the claim may start afresh (a retry of a known payment, or a poll of a
    /// live claim, reads none), the reservation of a record advanced, a refusal that may
    /// raise an alert, an operator's request.
    pub fn tally_row(&self, stored: Option<&Row>) -> Option<String> {
        match (self, stored) {
            (Self::Claim { charge: Some(c), now_ms, fresh: true, .. }, stored) if may_start_afresh(stored, *now_ms) => {
                Some(c.row.clone())
            }
            (Self::Advance { charge: Some(c), .. }, Some(Row::Record(r))) if r.held.is_none() => Some(c.row.clone()),
            (Self::Advance { .. }, Some(Row::Record(r))) => r.held.clone(),
            (Self::Refuse { alert, .. }, _) => alert.clone(),
            (Self::Payer { row, .. }, _) => Some(row.clone()),
            _ => None,
        }
    }
}

/// What the arbiter needs to settle a payment itself, named so that it rebuilds the same
/// payment, option and resource from its own configuration (no payment type crosses the
/// wire, and the arbiter trusts no price it is told).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettleOrder {
    /// The payment header as the client sent it.
    pub header: String,
    /// Whether it came as `X-PAYMENT` (v1) rather than `PAYMENT-SIGNATURE` (v2).
    pub v1: bool,
    /// The priced route's pattern.
    pub route: String,
    /// The index of the option the payment was matched to, among the route's.
    pub option: usize,
    /// The resource URL, as described in the challenge.
    pub resource_url: String,
    /// An earlier attempt's outcome is unknown (a `settling` record taken over).
    pub resuming: bool,
    /// When verify passed (unix ms), for a fresh settlement: its `locked` event is
    /// written with the `settling` record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at_ms: Option<u64>,
}

/// The arbiter's answer (externally tagged, as [`ArbiterRequest`]: `"bound"`,
/// `{"granted":{…}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArbiterReply {
    /// The id is bound to this payload.
    Bound,
    /// The id is bound to another payload.
    IdConflict,
    /// The claim is ours. `previous` is a `settling` record taken over after its lease ran
    /// out, as now stored (owned by us): it must be finished, not restarted.
    Granted {
        /// The record taken over, if any.
        previous: Option<Record>,
    },
    /// Another request holds a live claim.
    InFlight {
        /// Milliseconds until its lease ends.
        retry_after_ms: u64,
    },
    /// The payment is finished: serve its stored answer.
    Finished {
        /// The final record.
        record: Record,
    },
    /// The payment was used for another resource.
    Replay,
    /// Same key, different signed payload.
    Conflict,
    /// No record to answer from or to resume, and a fresh claim was not allowed
    /// (`fresh: false`).
    NothingToResume,
    /// The advance was applied.
    Advanced,
    /// A refusal was recorded in the ledger (`Refuse`); `alert`: it raises an alert.
    Recorded {
        /// Raise an alert (the first of its payer and reason this minute).
        alert: bool,
    },
    /// The payer is blocked by the operator: no claim was made.
    Blocked {
        /// Raise an alert.
        alert: bool,
    },
    /// The payment would take the payer over its daily cap: no claim was made.
    Capped {
        /// Seconds to the next UTC day.
        retry_after_s: u64,
        /// Raise an alert.
        alert: bool,
    },
    /// The payer is over its rate: no claim was made.
    RateLimited {
        /// Milliseconds to wait.
        retry_after_ms: u64,
        /// Raise an alert.
        alert: bool,
    },
    /// A payer's tally (`Payer`), as it stands after the request.
    Payer {
        /// The tally.
        tally: Tally,
    },
    /// The advance was refused: the claim is no longer ours.
    LostClaim,
    /// Settled; the `settled` record is written (best effort: a lost write leaves
    /// `settling`, which a retry resolves without charging again).
    SettleDone {
        /// The settlement to send with the response.
        settlement: StoredSettlement,
    },
    /// The facilitator refused a fresh settlement: nothing was charged, the claim is
    /// released.
    SettleRefused {
        /// The sanitised reason code.
        reason: String,
        /// `PAYMENT-RESPONSE` of the failed settlement.
        header: String,
    },
    /// Whether the settlement landed is unknown: the record stays `settling`, its lease
    /// ended so that a retry resolves it.
    SettleUnknown {
        /// Why (for the log).
        why: String,
    },
    /// The order could not be carried out and `/settle` was not called (the route or
    /// option is gone from the configuration, or the `settling` write failed): nothing
    /// was charged by this attempt.
    Unsettleable {
        /// Why (for the log).
        why: String,
    },
}

/// Row contents: a record or an id binding, as the arbiter stores them (JSON: the record
/// or the binding itself, untagged).
// One row is read and one written per step: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Row {
    /// A payment record.
    Record(Record),
    /// An id binding.
    Id(IdBinding),
}

impl Row {
    /// When the row may be forgotten (unix s).
    pub fn expires_at(&self) -> u64 {
        match self {
            Row::Record(r) => r.expires_at,
            Row::Id(b) => b.expires_at,
        }
    }
}

/// What [`apply`] decided: the row to write (if any), the reply, and the ledger events to
/// write with the row, in the same atomic step.
pub type Applied = (Option<Row>, ArbiterReply, Vec<LedgerEvent>);

/// The arbiter's transition: given the stored row (already dropped by the caller when
/// expired), the payer's tally the request names ([`ArbiterRequest::tally_row`]; a default
/// one when it names none or none is stored) and a request, the row to write (if any), the
/// reply and the ledger events. The tally is changed in place: the caller writes it, in
/// the same step, when it changed.
///
/// A fresh claim (no record, or one to start again) with a `charge` reserves it in the
/// tally, or is refused (`Blocked`, `Capped`, `RateLimited`: no claim is written, nothing
/// else changes but the refusal counts). An applied `Advance` of a record with a
/// reservation releases it (released, rejected), keeps it (settling) or settles it.
///
/// Events (see `ledger`) come only from a change that is made: an applied `Advance` with
/// a note (`locked` with a claim's first write after verify; `refunded`, `rejected` or
/// `released` with the write that ends it), a locked claim taken over (`refunded`), or a
/// `Refuse` (`rejected`). A refused write adds none.
pub fn apply(stored: Option<Row>, tally: &mut Tally, request: ArbiterRequest) -> Applied {
    match request {
        ArbiterRequest::BindId { binding, .. } => match stored {
            Some(Row::Id(existing)) if existing.key == binding.key && existing.fingerprint == binding.fingerprint => {
                (None, ArbiterReply::Bound, Vec::new())
            }
            Some(_) => (None, ArbiterReply::IdConflict, Vec::new()),
            None => (Some(Row::Id(binding)), ArbiterReply::Bound, Vec::new()),
        },
        ArbiterRequest::Claim { row, record, now_ms, fresh, charge } => {
            // A verified claim whose holder stopped (its lease ran out before any next step)
            // and that this claim replaces: nothing was charged.
            let abandoned = match &stored {
                Some(Row::Record(r)) if r.state == State::Claimed && r.locked && r.lease_until_ms <= now_ms => {
                    r.ledger.clone().map(|payment| (r.owner.clone(), *payment))
                }
                _ => None,
            };
            let (mut write, reply) = claim(stored, record, now_ms, fresh);
            if let (ArbiterReply::Granted { previous: None }, Some(charge), Some(Row::Record(granted))) =
                (&reply, &charge, &mut write)
            {
                if let Err(refusal) = tally.reserve(&row, charge, granted.lease_until_ms, now_ms) {
                    return (None, refused(tally, refusal, charge, now_ms), Vec::new());
                }
                granted.held = Some(charge.row.clone());
            }
            let events = match (abandoned, &reply) {
                (Some((owner, payment)), ArbiterReply::Granted { .. }) => {
                    vec![LedgerEvent::new(now_ms, EventKind::Refunded, &payment, &owner).because(Code::Abandoned.code())]
                }
                _ => Vec::new(),
            };
            (write, reply, events)
        }
        ArbiterRequest::Advance { row, mut record, ledger, charge } => match stored {
            Some(Row::Record(existing)) if existing.owner == record.owner => {
                let mut held = existing.held.clone();
                if let (Some(charge), None) = (&charge, &held) {
                    // Judged when the write is made (its note's time); none without a note.
                    let Some(now_ms) = ledger.as_ref().map(|n| n.time_ms) else {
                        return (None, ArbiterReply::LostClaim, Vec::new());
                    };
                    if let Err(refusal) = tally.reserve(&row, charge, record.lease_until_ms, now_ms) {
                        return (None, refused(tally, refusal, charge, now_ms), Vec::new());
                    }
                    held = Some(charge.row.clone());
                }
                let events = ledger.map(|note| advance_events(&existing, &record, &note)).unwrap_or_default();
                record.held = held;
                if record.held.is_some() {
                    match record.state {
                        State::Released | State::Rejected => tally.release(&row),
                        State::Settling => tally.settling(&row),
                        State::Settled => tally.settle(&row),
                        State::Claimed => {}
                    }
                }
                (Some(Row::Record(record)), ArbiterReply::Advanced, events)
            }
            _ => (None, ArbiterReply::LostClaim, Vec::new()),
        },
        ArbiterRequest::Refuse { ledger, reason, now_ms, alert, .. } => {
            let event = LedgerEvent::new(now_ms, EventKind::Rejected, &ledger, "").because(&reason);
            let alert = alert.is_some() && tally.alert(&reason, None, now_ms);
            (None, ArbiterReply::Recorded { alert }, vec![event])
        }
        ArbiterRequest::Payer { change, ledger, now_ms, .. } => {
            tally.roll(now_ms);
            let mut events = Vec::new();
            if let Some(change) = change {
                tally.change(&change);
                let code = match change {
                    PayerChange::Block => Code::OperatorBlock,
                    PayerChange::Unblock => Code::OperatorUnblock,
                    PayerChange::Cap(_) => Code::OperatorCap,
                };
                // Each change is its own step: the same change made twice is two events.
                let step = now_ms.to_string();
                events.push(LedgerEvent::new(now_ms, EventKind::Policy, &ledger, &step).because(code.code()));
            }
            (None, ArbiterReply::Payer { tally: tally.clone() }, events)
        }
        // Not a transition: the arbiter carries a settle order out itself
        // (`flow::settle_order`), through `Advance` writes. Here it changes nothing.
        ArbiterRequest::Settle { .. } => {
            (None, ArbiterReply::Unsettleable { why: "a settle order is not a transition".into() }, Vec::new())
        }
    }
}

/// The reply to a fresh claim its payer's tally refused, and whether it raises an alert
/// (the first of its payer and reason this minute; a rate limit's only past the charge's
/// threshold).
fn refused(tally: &mut Tally, refusal: Refusal, charge: &Charge, now_ms: u64) -> ArbiterReply {
    let on = charge.alert_after.is_some();
    match refusal {
        Refusal::Blocked => ArbiterReply::Blocked { alert: on && tally.alert(Code::PayerBlocked.code(), None, now_ms) },
        Refusal::Capped(retry_after_s) => {
            let alert = on && tally.alert(Code::PayerDailyCapExceeded.code(), None, now_ms);
            ArbiterReply::Capped { retry_after_s, alert }
        }
        Refusal::RateLimited(retry_after_ms) => {
            let alert = on && tally.alert(Code::PayerRateLimited.code(), charge.alert_after, now_ms);
            ArbiterReply::RateLimited { retry_after_ms, alert }
        }
    }
}

/// The events of an applied write from `existing` to `to`, as `note` describes it.
fn advance_events(existing: &Record, to: &Record, note: &Note) -> Vec<LedgerEvent> {
    let from = existing.state;
    let step = to.owner.as_str();
    let reason = note.reason.as_deref().or(to.reason.as_deref()).unwrap_or("unknown");
    let mut events = Vec::new();
    let verified = note.verified_at_ms.filter(|_| from == State::Claimed);
    // `locked` once per claim: with the lock write, or with the next step when that write
    // was lost.
    if let (Some(at), State::Claimed | State::Settling | State::Released, false) = (verified, to.state, existing.locked)
    {
        events.push(note.event(EventKind::Locked, at, step));
    }
    let now = note.time_ms;
    match (from, to.state) {
        (State::Claimed, State::Released) if verified.is_some() => {
            events.push(note.event(EventKind::Refunded, now, step).because(reason))
        }
        (State::Claimed, State::Released | State::Rejected) => {
            events.push(note.event(EventKind::Rejected, now, step).because(reason))
        }
        (State::Settling, State::Released) => events.push(note.event(EventKind::Refunded, now, step).because(reason)),
        (State::Settling, State::Settled) => {
            let mut released = note.event(EventKind::Released, now, step);
            released.transaction = note.transaction.clone();
            released.receipt_id = note.receipt_id.clone();
            released.receipt = note.receipt.clone();
            events.push(released);
        }
        _ => {}
    }
    events
}

/// Whether a fresh claim may be granted over `stored` at `now_ms` without a previous record
/// to finish: no record, a released one, or a claim whose lease ran out. (A superset of
/// [`claim`]'s fresh grants: its other checks may still refuse.)
fn may_start_afresh(stored: Option<&Row>, now_ms: u64) -> bool {
    match stored {
        None => true,
        Some(Row::Record(r)) => r.state == State::Released || (r.state == State::Claimed && r.lease_until_ms <= now_ms),
        Some(Row::Id(_)) => false,
    }
}

fn claim(stored: Option<Row>, wanted: Record, now_ms: u64, fresh: bool) -> (Option<Row>, ArbiterReply) {
    let existing = match stored {
        Some(Row::Record(r)) if r.state != State::Released => r,
        Some(Row::Id(_)) => return (None, ArbiterReply::Conflict),
        _ if !fresh => return (None, ArbiterReply::NothingToResume),
        _ => return (Some(Row::Record(wanted)), ArbiterReply::Granted { previous: None }),
    };
    if existing.fingerprint != wanted.fingerprint {
        return (None, ArbiterReply::Conflict);
    }
    if existing.resource != wanted.resource {
        return (None, ArbiterReply::Replay);
    }
    match existing.state {
        State::Settled | State::Rejected => (None, ArbiterReply::Finished { record: existing }),
        State::Claimed | State::Settling if existing.lease_until_ms > now_ms => {
            (None, ArbiterReply::InFlight { retry_after_ms: existing.lease_until_ms - now_ms })
        }
        State::Settling => {
            // The holder died or gave up during settlement: finish it, never restart it.
            let taken = Record { owner: wanted.owner, lease_until_ms: wanted.lease_until_ms, ..existing };
            (Some(Row::Record(taken.clone())), ArbiterReply::Granted { previous: Some(taken) })
        }
        State::Claimed | State::Released if !fresh => (None, ArbiterReply::NothingToResume),
        State::Claimed | State::Released => {
            // Nothing was settled: start again under the new claim.
            (Some(Row::Record(wanted)), ArbiterReply::Granted { previous: None })
        }
    }
}

/// Response headers replayed from a stored response: end-to-end content headers, not
/// hop-by-hop ones, cookies, or our own payment headers.
pub fn keep_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !matches!(
        n.as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "date"
            | "set-cookie"
            | "payment-response"
            | "x-payment-response"
            | "payment-receipt"
            | "payment-required"
    ) && !n.starts_with("cf-")
}

mod opt_base64 {
    use serde::Serializer;

    use crate::codec::base64_encode;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&base64_encode(bytes)),
            None => s.serialize_none(),
        }
    }
}

mod decode;

#[cfg(test)]
mod tests;
