//! Reading the arbiter's JSON (requests, replies, rows) as serde writes it: structs as
//! objects (unknown fields skipped, an absent or null `Option` is `None`), enums
//! externally tagged (`"bound"`, `{"claim":{…}}`), the stored body as base64.

use super::{
    ArbiterReply, ArbiterRequest, IdBinding, Record, Row, SettleOrder, State, StoredResponse, StoredSettlement,
};
use crate::codec::base64_decode;
use crate::json::{optional, required, whole, JsonError, Reader};
use crate::ledger::{Note, Payment};
use crate::once::tally::{decode as tally_decode, Charge, PayerChange, Tally};

type Read<T> = Result<T, JsonError>;

fn state(r: &mut Reader<'_>) -> Read<State> {
    Ok(match r.string()?.as_str() {
        "claimed" => State::Claimed,
        "settling" => State::Settling,
        "settled" => State::Settled,
        "released" => State::Released,
        "rejected" => State::Rejected,
        _ => return Err(r.error("a record state")),
    })
}

fn small<T: TryFrom<u64>>(r: &mut Reader<'_>, what: &'static str) -> Read<T> {
    let n = r.u64()?;
    T::try_from(n).map_err(|_| r.error(what))
}

fn response(r: &mut Reader<'_>) -> Read<StoredResponse> {
    let (mut status, mut headers, mut body) = (None, None, None);
    r.object(|r, key| {
        match key {
            "status" => status = Some(small(r, "an HTTP status")?),
            "headers" => {
                let mut pairs = Vec::new();
                r.array(|r| {
                    let mut pair = Vec::with_capacity(2);
                    r.array(|r| r.string().map(|s| pair.push(s)))?;
                    let [name, value]: [String; 2] = pair.try_into().map_err(|_| r.error("a [name, value] pair"))?;
                    pairs.push((name, value));
                    Ok(())
                })?;
                headers = Some(pairs);
            }
            "body" => {
                body = optional(r, |r| {
                    let text = r.string()?;
                    base64_decode(&text).map_err(|_| r.error("a base64 body"))
                })?
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(StoredResponse { status: required(status, r, "status")?, headers: required(headers, r, "headers")?, body })
}

fn settlement(r: &mut Reader<'_>) -> Read<StoredSettlement> {
    let (mut header, mut receipt, mut version) = (None, None, None);
    r.object(|r, key| {
        match key {
            "header" => header = Some(r.string()?),
            "receipt" => receipt = Some(r.string()?),
            "version" => version = Some(small(r, "a version")?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(StoredSettlement {
        header: required(header, r, "header")?,
        receipt: required(receipt, r, "receipt")?,
        version: required(version, r, "version")?,
    })
}

fn record(r: &mut Reader<'_>) -> Read<Record> {
    let (mut state_, mut resource, mut fingerprint, mut owner) = (None, None, None, None);
    let (mut lease_until_ms, mut expires_at) = (None, None);
    let (mut reason, mut response_, mut settlement_, mut locked, mut ledger) = (None, None, None, false, None);
    let mut held = None;
    r.object(|r, key| {
        match key {
            "state" => state_ = Some(state(r)?),
            "resource" => resource = Some(r.string()?),
            "fingerprint" => fingerprint = Some(r.string()?),
            "owner" => owner = Some(r.string()?),
            "lease_until_ms" => lease_until_ms = Some(r.u64()?),
            "expires_at" => expires_at = Some(r.u64()?),
            "reason" => reason = r.string_or_null()?,
            "response" => response_ = optional(r, response)?,
            "settlement" => settlement_ = optional(r, settlement)?,
            "locked" => locked = r.bool()?,
            "ledger" => ledger = optional(r, ledger_payment)?.map(Box::new),
            "held" => held = r.string_or_null()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Record {
        state: required(state_, r, "state")?,
        resource: required(resource, r, "resource")?,
        fingerprint: required(fingerprint, r, "fingerprint")?,
        owner: required(owner, r, "owner")?,
        lease_until_ms: required(lease_until_ms, r, "lease_until_ms")?,
        expires_at: required(expires_at, r, "expires_at")?,
        reason,
        response: response_,
        settlement: settlement_,
        locked,
        ledger,
        held,
    })
}

fn binding(r: &mut Reader<'_>) -> Read<IdBinding> {
    let (mut key_, mut fingerprint, mut expires_at) = (None, None, None);
    r.object(|r, key| {
        match key {
            "key" => key_ = Some(r.string()?),
            "fingerprint" => fingerprint = Some(r.string()?),
            "expires_at" => expires_at = Some(r.u64()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(IdBinding {
        key: required(key_, r, "key")?,
        fingerprint: required(fingerprint, r, "fingerprint")?,
        expires_at: required(expires_at, r, "expires_at")?,
    })
}

/// The payment a ledger note names (camelCase, as the ledger writes it).
fn ledger_payment(r: &mut Reader<'_>) -> Read<Payment> {
    let mut s: [Option<String>; 10] = Default::default();
    let mut version = None;
    const NAMES: [&str; 10] =
        ["paymentKey", "payer", "payTo", "amount", "asset", "network", "route", "method", "path", "facilitator"];
    r.object(|r, key| {
        match NAMES.iter().position(|n| *n == key) {
            Some(i) => s[i] = Some(r.string()?),
            None if key == "x402Version" => version = Some(small(r, "a version")?),
            None => r.skip()?,
        }
        Ok(())
    })?;
    let [payment_key, payer, pay_to, amount, asset, network, route, method, path, facilitator] = s;
    Ok(Payment {
        payment_key: required(payment_key, r, "paymentKey")?,
        payer: required(payer, r, "payer")?,
        pay_to: required(pay_to, r, "payTo")?,
        amount: required(amount, r, "amount")?,
        asset: required(asset, r, "asset")?,
        network: required(network, r, "network")?,
        x402_version: required(version, r, "x402Version")?,
        route: required(route, r, "route")?,
        method: required(method, r, "method")?,
        path: required(path, r, "path")?,
        facilitator: required(facilitator, r, "facilitator")?,
    })
}

fn note(r: &mut Reader<'_>) -> Read<Note> {
    let (mut payment, mut time_ms, mut verified_at_ms) = (None, None, None);
    let (mut reason, mut transaction, mut receipt_id, mut receipt) = (None, None, None, None);
    r.object(|r, key| {
        match key {
            "payment" => payment = Some(ledger_payment(r)?),
            "time_ms" => time_ms = Some(r.u64()?),
            "verified_at_ms" => verified_at_ms = optional(r, |r| r.u64())?,
            "reason" => reason = r.string_or_null()?,
            "transaction" => transaction = r.string_or_null()?,
            "receipt_id" => receipt_id = r.string_or_null()?,
            "receipt" => receipt = r.string_or_null()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Note {
        payment: required(payment, r, "payment")?,
        time_ms: required(time_ms, r, "time_ms")?,
        verified_at_ms,
        reason,
        transaction,
        receipt_id,
        receipt,
    })
}

fn order(r: &mut Reader<'_>) -> Read<SettleOrder> {
    let (mut header, mut v1, mut route, mut option) = (None, None, None, None);
    let (mut resource_url, mut resuming, mut verified_at_ms) = (None, None, None);
    r.object(|r, key| {
        match key {
            "header" => header = Some(r.string()?),
            "v1" => v1 = Some(r.bool()?),
            "route" => route = Some(r.string()?),
            "option" => option = Some(small(r, "an option index")?),
            "resource_url" => resource_url = Some(r.string()?),
            "resuming" => resuming = Some(r.bool()?),
            "verified_at_ms" => verified_at_ms = optional(r, |r| r.u64())?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(SettleOrder {
        header: required(header, r, "header")?,
        v1: required(v1, r, "v1")?,
        route: required(route, r, "route")?,
        option: required(option, r, "option")?,
        resource_url: required(resource_url, r, "resource_url")?,
        resuming: required(resuming, r, "resuming")?,
        verified_at_ms,
    })
}

/// The fields a request or reply variant may carry, read in any order.
#[derive(Default)]
struct Fields {
    row: Option<String>,
    record: Option<Record>,
    binding: Option<IdBinding>,
    now_ms: Option<u64>,
    fresh: Option<bool>,
    order: Option<SettleOrder>,
    previous: Option<Option<Record>>,
    retry_after_ms: Option<u64>,
    retry_after_s: Option<u64>,
    settlement: Option<StoredSettlement>,
    reason: Option<String>,
    header: Option<String>,
    why: Option<String>,
    /// A refusal's ledger payment.
    payment: Option<Payment>,
    /// An advance's ledger note.
    note: Option<Note>,
    charge: Option<Charge>,
    alert: Option<String>,
    /// A reply's alert flag.
    raise: Option<bool>,
    change: Option<PayerChange>,
    tally: Option<Tally>,
}

/// The fields of the variant `variant`.
fn fields(r: &mut Reader<'_>, variant: &str) -> Read<Fields> {
    let mut f = Fields::default();
    r.object(|r, key| {
        match key {
            "row" => f.row = Some(r.string()?),
            "record" => f.record = Some(record(r)?),
            "binding" => f.binding = Some(binding(r)?),
            "now_ms" => f.now_ms = Some(r.u64()?),
            "fresh" => f.fresh = Some(r.bool()?),
            "order" => f.order = Some(order(r)?),
            "previous" => f.previous = Some(optional(r, record)?),
            "retry_after_ms" => f.retry_after_ms = Some(r.u64()?),
            "retry_after_s" => f.retry_after_s = Some(r.u64()?),
            "settlement" => f.settlement = Some(settlement(r)?),
            "reason" => f.reason = Some(r.string()?),
            "header" => f.header = Some(r.string()?),
            "why" => f.why = Some(r.string()?),
            "ledger" if variant == "refuse" || variant == "payer" => f.payment = optional(r, ledger_payment)?,
            "ledger" => f.note = optional(r, note)?,
            "charge" => f.charge = optional(r, tally_decode::charge)?,
            "alert" if variant == "refuse" => f.alert = r.string_or_null()?,
            "alert" => f.raise = Some(r.bool()?),
            "change" => f.change = optional(r, tally_decode::change)?,
            "tally" => f.tally = Some(tally_decode::tally(r)?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(f)
}

/// An externally tagged enum: a unit variant's name (a string) with no fields, or an
/// object of one key (the variant) whose value holds its fields.
fn tagged(r: &mut Reader<'_>) -> Read<(String, Option<Fields>)> {
    if let Ok(unit) = r.string() {
        return Ok((unit, None));
    }
    let mut variant = None;
    r.object(|r, key| {
        if variant.is_some() {
            return Err(r.error("one variant"));
        }
        variant = Some((key.to_string(), fields(r, key)?));
        Ok(())
    })?;
    let (name, f) = required(variant, r, "a variant")?;
    Ok((name, Some(f)))
}

impl ArbiterRequest {
    /// A request as [`to_json`](crate::codec::to_json) wrote it.
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        whole(json, |r| {
            let (name, f) = tagged(r)?;
            let f = required(f, r, "a request's fields")?;
            let row = required(f.row, r, "row")?;
            Ok(match name.as_str() {
                "bind_id" => ArbiterRequest::BindId { row, binding: required(f.binding, r, "binding")? },
                "claim" => ArbiterRequest::Claim {
                    row,
                    record: required(f.record, r, "record")?,
                    now_ms: required(f.now_ms, r, "now_ms")?,
                    fresh: required(f.fresh, r, "fresh")?,
                    charge: f.charge,
                },
                "advance" => ArbiterRequest::Advance {
                    row,
                    record: required(f.record, r, "record")?,
                    ledger: f.note,
                    charge: f.charge,
                },
                "refuse" => ArbiterRequest::Refuse {
                    row,
                    ledger: required(f.payment, r, "ledger")?,
                    reason: required(f.reason, r, "reason")?,
                    now_ms: required(f.now_ms, r, "now_ms")?,
                    alert: f.alert,
                },
                "payer" => ArbiterRequest::Payer {
                    row,
                    change: f.change,
                    ledger: required(f.payment, r, "ledger")?,
                    now_ms: required(f.now_ms, r, "now_ms")?,
                },
                "settle" => ArbiterRequest::Settle {
                    row,
                    record: required(f.record, r, "record")?,
                    order: required(f.order, r, "order")?,
                },
                _ => return Err(r.error("an arbiter request")),
            })
        })
    }
}

impl ArbiterReply {
    /// A reply as [`to_json`](crate::codec::to_json) wrote it.
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        whole(json, |r| {
            let (name, f) = tagged(r)?;
            let unit = |reply| if f.is_none() { Ok(reply) } else { Err(r.error("a unit reply")) };
            Ok(match name.as_str() {
                "bound" => unit(ArbiterReply::Bound)?,
                "id_conflict" => unit(ArbiterReply::IdConflict)?,
                "replay" => unit(ArbiterReply::Replay)?,
                "conflict" => unit(ArbiterReply::Conflict)?,
                "nothing_to_resume" => unit(ArbiterReply::NothingToResume)?,
                "advanced" => unit(ArbiterReply::Advanced)?,
                "lost_claim" => unit(ArbiterReply::LostClaim)?,
                _ => {
                    let f = required(f, r, "a reply's fields")?;
                    match name.as_str() {
                        "granted" => ArbiterReply::Granted { previous: f.previous.flatten() },
                        "in_flight" => {
                            ArbiterReply::InFlight { retry_after_ms: required(f.retry_after_ms, r, "retry_after_ms")? }
                        }
                        "finished" => ArbiterReply::Finished { record: required(f.record, r, "record")? },
                        "settle_done" => {
                            ArbiterReply::SettleDone { settlement: required(f.settlement, r, "settlement")? }
                        }
                        "settle_refused" => ArbiterReply::SettleRefused {
                            reason: required(f.reason, r, "reason")?,
                            header: required(f.header, r, "header")?,
                        },
                        "settle_unknown" => ArbiterReply::SettleUnknown { why: required(f.why, r, "why")? },
                        "recorded" => ArbiterReply::Recorded { alert: required(f.raise, r, "alert")? },
                        "blocked" => ArbiterReply::Blocked { alert: required(f.raise, r, "alert")? },
                        "capped" => ArbiterReply::Capped {
                            retry_after_s: required(f.retry_after_s, r, "retry_after_s")?,
                            alert: required(f.raise, r, "alert")?,
                        },
                        "rate_limited" => ArbiterReply::RateLimited {
                            retry_after_ms: required(f.retry_after_ms, r, "retry_after_ms")?,
                            alert: required(f.raise, r, "alert")?,
                        },
                        "payer" => ArbiterReply::Payer { tally: required(f.tally, r, "tally")? },
                        "unsettleable" => ArbiterReply::Unsettleable { why: required(f.why, r, "why")? },
                        _ => return Err(r.error("an arbiter reply")),
                    }
                }
            })
        })
    }
}

impl Row {
    /// A stored row: a record, else an id binding (untagged, as stored by every build).
    /// An id binding is never read as a record: it lacks a record's required fields.
    pub fn parse(json: &str) -> Result<Row, JsonError> {
        // Neither: the record's error, the more telling one.
        whole(json, record).map(Row::Record).or_else(|e| whole(json, binding).map(Row::Id).map_err(|_| e))
    }
}
