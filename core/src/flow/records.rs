//! The record keeping of one paid request: the claim with its bounded wait, and the
//! writes that advance or release it.

use super::settle::expires_at;
use super::{bad_reply, Job, Outcome};
use crate::error::{Code, Failure, PaymentError, UpstreamError};
use crate::facilitator::Facilitator;
use crate::ledger::Note;
use crate::once::{ArbiterReply, ArbiterRequest, Record, State};
use crate::ports::{Arbiter, Clock, Origin};

impl<F: Facilitator, O: Origin, C: Clock, A: Arbiter> Job<'_, '_, F, O, C, A> {
    /// When a record of this payment in `state` may be forgotten.
    pub(super) fn expires_at(&self, state: State) -> u64 {
        expires_at(self.payment, self.ports.clock.now_unix(), state)
    }

    /// A record of this payment in `state`, ours, leased for `lease_ms`, expiring as that
    /// state does.
    pub(super) fn new_record(&self, state: State, lease_ms: u64) -> Record {
        Record {
            state,
            resource: self.target.binding.to_string(),
            fingerprint: self.fingerprint.clone(),
            owner: self.ports.claim_token.to_string(),
            lease_until_ms: self.ports.clock.now_ms() + lease_ms,
            expires_at: self.expires_at(state),
            reason: None,
            response: None,
            settlement: None,
            locked: false,
            ledger: None,
            held: None,
        }
    }

    /// Claims the key; waits a bounded time while another request holds it. `Ok(Some)`
    /// is a `settling` record taken over after its lease ran out.
    pub(super) async fn claim(&self) -> Result<Option<Record>, Outcome<O::Response>> {
        let timing = self.ports.timing;
        let give_up_at = self.ports.clock.now_ms() + timing.wait_ms;
        // Polls start short (a paid request often finishes in a few ms) and back off.
        let mut step = 10u64.min(timing.poll_ms);
        loop {
            let now_ms = self.ports.clock.now_ms();
            let request = ArbiterRequest::Claim {
                row: self.key().0.clone(),
                record: self.new_record(State::Claimed, timing.claim_lease_ms),
                now_ms,
                fresh: self.window.is_none(),
                // An unproven payer's charge waits for verify (see `Job::proven`).
                charge: self.proven.then(|| self.charge.clone()),
            };
            let reply = self.ports.arbiter.call(self.shard(), &request).await;
            match reply {
                Ok(ArbiterReply::Granted { previous }) => return Ok(previous),
                Ok(ArbiterReply::InFlight { retry_after_ms }) => {
                    if now_ms >= give_up_at {
                        let retry_after_s = retry_after_ms.div_ceil(1000).clamp(1, 60);
                        return Err(Outcome::refused(PaymentError::InProgress { retry_after_s }));
                    }
                    let nap = step.min(retry_after_ms).min(give_up_at - now_ms).max(1);
                    self.ports.clock.sleep(nap).await;
                    step = (step * 2).min(timing.poll_ms);
                }
                Ok(ArbiterReply::Finished { record }) => return Err(self.finished(record).await),
                Ok(ArbiterReply::Replay) => {
                    self.refusals.record(Code::PaymentAlreadyUsed, None).await;
                    return Err(Outcome::refused(PaymentError::Mismatch(Code::PaymentAlreadyUsed)));
                }
                Ok(ArbiterReply::Conflict) => {
                    self.refusals.record(Code::PaymentConflict, None).await;
                    return Err(Outcome::refused(PaymentError::Conflict(Code::PaymentConflict)));
                }
                Ok(reply @ ArbiterReply::NothingToResume) => {
                    // Only a late claim (window closed) may be answered so.
                    let refusal = self.window.clone().map_or_else(|| Failure::from(bad_reply(&reply)), Failure::from);
                    return Err(Outcome::refused(refusal));
                }
                Ok(other) => {
                    // Refused by the payer's tally: no claim was made, nothing is owed.
                    if let Some((code, alert, refusal)) = tally_refusal(&other) {
                        if alert {
                            self.refusals.raise(code);
                        }
                        self.refusals.record(code, None).await;
                        return Err(Outcome::refused(refusal));
                    }
                    return Err(Outcome::refused(bad_reply(&other)));
                }
                Err(e) => return Err(Outcome::refused(UpstreamError::Store(e))),
            }
        }
    }

    /// The lock write of a payment whose charge waited for verify (its payer proven by
    /// the facilitator alone): the charge is reserved with it, or refused as a claim's is,
    /// the claim then released (`rejected:{code}`). `Ok(false)`: the claim was lost. A
    /// write that fails releases the claim too: the charge may not have been made.
    pub(super) async fn lock_charged(&self, record: Record, note: Note) -> Result<bool, Outcome<O::Response>> {
        let row = self.key().0.clone();
        let request = ArbiterRequest::Advance { row, record, ledger: Some(note), charge: Some(self.charge.clone()) };
        let reply = self.ports.arbiter.call(self.shard(), &request).await;
        let failure = match reply {
            Ok(ArbiterReply::Advanced) => return Ok(true),
            Ok(ArbiterReply::LostClaim) => return Ok(false),
            Ok(reply) => match tally_refusal(&reply) {
                Some((code, alert, refusal)) => {
                    // Released without an event of its own; the refusal is recorded as a
                    // claim's is, once per payment and reason however often it is retried.
                    let _ = self.advance(self.new_record(State::Released, 0), None).await;
                    if alert {
                        self.refusals.raise(code);
                    }
                    self.refusals.record(code, None).await;
                    return Err(Outcome::refused(refusal));
                }
                None => Failure::from(bad_reply(&reply)),
            },
            Err(e) => Failure::from(UpstreamError::Store(e)),
        };
        self.release(None, Code::StorageUnavailable).await;
        Err(Outcome::refused(failure))
    }

    /// Writes the record if we still hold the claim, with what it tells the ledger;
    /// `false` when we lost it.
    pub(super) async fn advance(&self, record: Record, ledger: Option<Note>) -> Result<bool, UpstreamError> {
        let request = ArbiterRequest::Advance { row: self.key().0.clone(), record, ledger, charge: None };
        match self.ports.arbiter.call(self.shard(), &request).await {
            Ok(ArbiterReply::Advanced) => Ok(true),
            Ok(ArbiterReply::LostClaim) => Ok(false),
            Ok(other) => Err(bad_reply(&other)),
            Err(e) => Err(UpstreamError::Store(e)),
        }
    }

    /// Releases the claim: nothing was charged, the payment may be tried again. Best
    /// effort: if this write fails the lease still runs out. The ledger gets `locked` and
    /// `refunded` when verify had passed (`verified`: when), else `rejected`; `reason` says
    /// why.
    pub(super) async fn release(&self, verified: Option<u64>, reason: Code) {
        let note = Note { verified_at_ms: verified, reason: Some(reason.code().to_string()), ..self.note() };
        let _ = self.advance(self.new_record(State::Released, 0), Some(note)).await;
    }
}

/// A refusal by the payer's tally (a claim's, or a deferred charge's): its code, whether
/// it raises an alert, and the refusal.
fn tally_refusal(reply: &ArbiterReply) -> Option<(Code, bool, PaymentError)> {
    Some(match *reply {
        ArbiterReply::Blocked { alert } => (Code::PayerBlocked, alert, PaymentError::Forbidden(Code::PayerBlocked)),
        ArbiterReply::Capped { retry_after_s, alert } => {
            (Code::PayerDailyCapExceeded, alert, PaymentError::OverCap { retry_after_s })
        }
        ArbiterReply::RateLimited { retry_after_ms, alert } => {
            let retry_after_s = retry_after_ms.div_ceil(1000).max(1);
            (Code::PayerRateLimited, alert, PaymentError::Limited { code: Code::PayerRateLimited, retry_after_s })
        }
        _ => return None,
    })
}
