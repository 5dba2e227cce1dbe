//! A payer's tally: what its daily caps and rates have counted today, and the operator's
//! run-time block and cap for it. One row per payer (`payer:<address>`, lower case) in the
//! arbiter shard of the payer, which also holds the payer's payment records (see
//! `once::payer_shard`), so that a claim, its reservation and the refusal of one over the
//! cap are one atomic step ([`crate::once::apply`]).
//!
//! - A fresh claim *reserves* its amount (a [`Hold`], counted as in flight) and takes one
//!   request from the rate, unless either refuses it; nothing is reserved for a retry of a
//!   known payment.
//! - The hold is *released* when the payment ends uncharged (released, rejected, an
//!   abandoned claim taken over), kept while settling (the outcome may be a charge), and
//!   becomes *settled* amount when it settles. A claim's hold lapses a minute after the
//!   claim's lease (whose holder can no longer act on it); a settling one lasts its day.
//! - Counts are per UTC day and per scope (see `policy`); a hold counts for the day it was
//!   made.

use serde::Serialize;

use crate::amount::Amount;
use crate::policy::{next_utc_day_s, utc_day, Rate, GLOBAL};

/// A claim's hold lapses this long after the claim's lease ends.
pub const HOLD_GRACE_MS: u64 = 60_000;

/// At most this many payments of one payer are in flight at once; past it, a fresh claim
/// is refused as rate limited (a bound on the tally's size).
pub const MAX_HOLDS: usize = 500;

/// A tally with an operator's block or cap is kept this long (unix s: the year 9999).
pub const FOREVER_S: u64 = 253_402_300_799;

/// What a fresh claim asks of its payer's tally (sent with the claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Charge {
    /// The payer's tally row ([`crate::once::tally_row`]).
    pub row: String,
    /// The payment's amount in cap units (`policy::in_cap_units`).
    pub amount: Amount,
    /// The daily cap the payment is judged on: its scope and the cap, if one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<(String, Amount)>,
    /// The rate: its scope, count and period (ms), if one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<(String, u32, u64)>,
    /// Alerts are on: past this many rate-limited refusals in a minute, one is raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_after: Option<u32>,
}

/// One payment's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// The payment key.
    pub key: String,
    /// The scope it counts in.
    pub scope: String,
    /// Cap units.
    pub amount: Amount,
    /// The UTC day it counts for.
    pub day: u64,
    /// It lapses then (unix ms), unless `settling`.
    pub until_ms: u64,
    /// Settlement is under way or its outcome unknown: it lasts its day.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub settling: bool,
}

/// A payer's tally (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// The UTC day of `settled`.
    pub day: u64,
    /// Settled amount today, per scope.
    pub settled: Vec<(String, Amount)>,
    /// Payments in flight.
    pub holds: Vec<Hold>,
    /// Per scope: the rate's theoretical arrival time (µs, see `policy::window`).
    pub rates: Vec<(String, u64)>,
    /// Rate-limited refusals: the minute (unix minutes) and how many in it.
    pub limited: (u64, u32),
    /// Alerts raised: reason and minute, the last per reason.
    pub alerted: Vec<(String, u64)>,
    /// Blocked by the operator.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// The operator's cap for this payer: replaces the global `payerDailyCap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Amount>,
}

/// Why a fresh claim was refused by its payer's tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Blocked by the operator.
    Blocked,
    /// Over the daily cap: wait this many seconds (the next UTC day).
    Capped(u64),
    /// Over the rate: wait this many ms.
    RateLimited(u64),
}

/// An operator's change to a payer (admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayerChange {
    /// Refuse its payments from now on.
    Block,
    /// Lift an operator's block.
    Unblock,
    /// Set (or, with `None`, remove) its own daily cap.
    Cap(Option<Amount>),
}

impl Tally {
    /// Forgets what no longer counts at `now_ms`: another day's settled amount, lapsed and
    /// past days' holds, rates back at their full burst, old alerts.
    pub fn roll(&mut self, now_ms: u64) {
        let today = utc_day(now_ms);
        if self.day != today {
            self.settled.clear();
            self.day = today;
        }
        self.holds.retain(|h| h.day == today && (h.settling || h.until_ms > now_ms));
        self.rates.retain(|(_, tat)| Rate::forget_after_ms(*tat) > now_ms);
        let minute = now_ms / 60_000;
        self.alerted.retain(|(_, m)| *m == minute);
        if self.limited.0 != minute {
            self.limited = (minute, 0);
        }
    }

    /// Settled and in-flight amount today in `scope`.
    pub fn spent(&self, scope: &str) -> u128 {
        let settled = self.settled.iter().filter(|(s, _)| s == scope).map(|(_, a)| a.0).sum::<u128>();
        let held = self.holds.iter().filter(|h| h.scope == scope && h.day == self.day).map(|h| h.amount.0);
        held.fold(settled, u128::saturating_add)
    }

    /// The scope and cap a charge is judged on: a route's own cap in its scope, else the
    /// operator's cap for the payer or the global one.
    fn cap_for(&self, charge: &Charge) -> Option<(String, u128)> {
        match &charge.cap {
            Some((scope, cap)) if scope != GLOBAL => Some((scope.clone(), cap.0)),
            other => self.cap.or(other.as_ref().map(|c| c.1)).map(|cap| (GLOBAL.to_string(), cap.0)),
        }
    }

    /// Reserves `charge` for the payment `key`, whose claim is leased until
    /// `lease_until_ms`; refused when blocked, over the cap or over the rate (then nothing
    /// is reserved or taken).
    pub fn reserve(&mut self, key: &str, charge: &Charge, lease_until_ms: u64, now_ms: u64) -> Result<(), Refusal> {
        self.roll(now_ms);
        if self.blocked {
            return Err(Refusal::Blocked);
        }
        // A claim started again (released before, or abandoned) reserves afresh.
        self.release(key);
        let cap = self.cap_for(charge);
        if let Some((scope, cap)) = &cap {
            if self.spent(scope).saturating_add(charge.amount.0) > *cap {
                return Err(Refusal::Capped(next_utc_day_s(now_ms)));
            }
        }
        let mut taken = None;
        if let Some((scope, count, period_ms)) = &charge.rate {
            let rate = Rate { count: *count, period_ms: *period_ms };
            let tat = self.rates.iter().find(|(s, _)| s == scope).map_or(0, |(_, t)| *t);
            match rate.take(tat, now_ms) {
                Ok(next) => taken = Some((scope.clone(), next)),
                Err(wait_ms) => return Err(self.limited(wait_ms)),
            }
        }
        if self.holds.len() >= MAX_HOLDS {
            return Err(self.limited(1_000));
        }
        if let Some((scope, next)) = taken {
            self.rates.retain(|(s, _)| *s != scope);
            self.rates.push((scope, next));
        }
        // Counted with or without a cap: the operator's view shows what a payer spends.
        let scope = cap.map_or_else(|| GLOBAL.to_string(), |(scope, _)| scope);
        let until_ms = lease_until_ms.saturating_add(HOLD_GRACE_MS);
        let hold =
            Hold { key: key.to_string(), scope, amount: charge.amount, day: self.day, until_ms, settling: false };
        self.holds.push(hold);
        Ok(())
    }

    fn limited(&mut self, wait_ms: u64) -> Refusal {
        self.limited.1 = self.limited.1.saturating_add(1);
        Refusal::RateLimited(wait_ms)
    }

    /// Whether a refusal for `reason` at `now_ms` raises an alert: the first of the minute
    /// per reason; a rate-limited one only past `after` refusals in the minute.
    pub fn alert(&mut self, reason: &str, after: Option<u32>, now_ms: u64) -> bool {
        let minute = now_ms / 60_000;
        let over = after.is_none_or(|n| self.limited.0 == minute && self.limited.1 > n);
        if !over || self.alerted.iter().any(|(r, m)| r == reason && *m == minute) {
            return false;
        }
        self.alerted.retain(|(r, _)| r != reason);
        self.alerted.push((reason.to_string(), minute));
        true
    }

    /// The payment `key` is settling: its hold lasts its day.
    pub fn settling(&mut self, key: &str) {
        if let Some(h) = self.holds.iter_mut().find(|h| h.key == key) {
            h.settling = true;
        }
    }

    /// The payment `key` settled: its hold becomes settled amount of its day (when the
    /// tally has rolled past that day meanwhile, the amount no longer counts anyway).
    pub fn settle(&mut self, key: &str) {
        let Some(at) = self.holds.iter().position(|h| h.key == key) else { return };
        let hold = self.holds.remove(at);
        if hold.day != self.day {
            return;
        }
        match self.settled.iter_mut().find(|(s, _)| *s == hold.scope) {
            Some((_, total)) => total.0 = total.0.saturating_add(hold.amount.0),
            None => self.settled.push((hold.scope, hold.amount)),
        }
    }

    /// The payment `key` ended uncharged: its hold is dropped.
    pub fn release(&mut self, key: &str) {
        self.holds.retain(|h| h.key != key);
    }

    /// Applies an operator's change.
    pub fn change(&mut self, change: &PayerChange) {
        match change {
            PayerChange::Block => self.blocked = true,
            PayerChange::Unblock => self.blocked = false,
            PayerChange::Cap(cap) => self.cap = *cap,
        }
    }

    /// When the row may be forgotten (unix s): never while the operator's settings stand,
    /// else when the day, the rates and the minute's counts are over.
    pub fn expires_at(&self, now_ms: u64) -> u64 {
        if self.blocked || self.cap.is_some() {
            return FOREVER_S;
        }
        let day_end = (self.day + 1) * 86_400;
        let rates = self.rates.iter().map(|(_, tat)| Rate::forget_after_ms(*tat).div_ceil(1000)).max().unwrap_or(0);
        let minute_end = (now_ms / 60_000 + 1) * 60;
        day_end.max(rates).max(minute_end)
    }
}

pub(crate) mod decode;

#[cfg(test)]
mod tests;
