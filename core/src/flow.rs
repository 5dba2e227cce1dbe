//! The escrow flow of a paid request: verify = lock, settle = release, no settle =
//! refund, exactly once per payment (see `once` for the records and their states).
//!
//! 1. Decode the payment header into a typed payment (malformed → 400), check it against
//!    the route's options and recover its signer locally (mismatch or forgery → 402 with
//!    a fresh challenge). No I/O yet: a forged payment costs no storage and no
//!    facilitator call.
//! 2. Bind the `payment-identifier` id, if any, then claim the payment key with the
//!    arbiter, before any facilitator call. A final record answers a retry at once (the
//!    claim is its only subrequest). A live claim elsewhere → bounded wait, then 409
//!    `payment_in_progress`. Only a *fresh* claim needs a live validity window: a retry of
//!    a known payment gets its stored answer (or resumes its settlement) even after
//!    `validBefore`.
//! 3. `verify` (unreachable → 502, released; invalid → 402, rejected). Valid → the lock:
//!    the claim marked `locked`, with the ledger's `locked`, before the origin is called.
//! 4. Call the origin. A failure (4xx/5xx) or a 304 → its answer passes through,
//!    released, nothing settled; a 1xx (a protocol switch) or a status outside HTTP's →
//!    502, released. 2xx and 3xx are content (`http::worth`).
//! 5. The arbiter settles (`settle::settle_order`): it stores the origin's response with
//!    the record (`settling`), calls `/settle`, seals the receipt and stores the outcome.
//!    Refused → 402, content withheld, released. No answer → 502 `settlement_unknown`,
//!    the record stays `settling` for a retry to resolve. An order whose answer is lost
//!    on the way back is read back once: settled → served.
//! 6. Settled → the response with `PAYMENT-RESPONSE` and the signed receipt.
//!
//! A fresh paid request makes six subrequests (claim, `/verify`, the lock write, origin,
//! settle order, and the arbiter's `/settle`); a retry makes one (the claim). The lock
//! write (the ledger's `locked`, before the origin is called) is what lets no event be lost
//! when a Worker stops while the origin runs.

mod records;
mod settle;

use crate::alert::{Alert, Alerts};
use crate::amount::Amount;
use crate::context::{self, ContextClaims, ContextStatus, CONTEXT_LIFETIME_SECONDS};
use crate::error::{sanitize_reason, Code, Failure, PaymentError, UpstreamError};
use crate::facilitator::{Facilitator, FacilitatorRequest};
use crate::http::{worth, Worth};
use crate::ledger::{self, Note};
use crate::once::tally::Charge;
use crate::once::{
    fingerprint, payer_shard, tally_row, ArbiterReply, ArbiterRequest, IdBinding, PaymentKey, State, StoredResponse,
    SETTLING_RETENTION_SECONDS,
};
use crate::payment::{check_signature, check_window, decode, select, Payment, PaymentHeader};
use crate::ports::{Arbiter, Clock, Origin, TransportError};
use crate::receipt::ReceiptSigner;
use crate::requirements::PaymentOption;
use crate::routes::PricedRoute;
use crate::x402::ResourceInfo;

pub use settle::{settle_order, RECEIPT_EXTENSION};

use crate::respond::Settlement;

/// The paid content: the origin's response, or a stored copy of it.
#[derive(Debug)]
pub enum Delivery<R> {
    /// A replay from the stored copy.
    Stored(StoredResponse),
    /// The origin's response itself (first answer, or re-fetched for a replay).
    Live(R),
}

/// How a paid request ended.
#[derive(Debug)]
pub enum Outcome<R> {
    /// Settled (now or before): serve the content with the settlement headers.
    Paid {
        /// The content.
        response: Delivery<R>,
        /// The settlement.
        settlement: Settlement,
    },
    /// The origin failed (4xx/5xx) or had nothing to deliver (304): its answer passes,
    /// nothing was charged.
    OriginFailed(R),
    /// Refused; `settle_header` carries a failed (or already made) settlement's
    /// `PAYMENT-RESPONSE` when there is one.
    Refused {
        /// Why.
        failure: Failure,
        /// `PAYMENT-RESPONSE` to include.
        settle_header: Option<String>,
    },
}

impl<R> Outcome<R> {
    fn refused(failure: impl Into<Failure>) -> Self {
        Self::Refused { failure: failure.into(), settle_header: None }
    }
}

/// Deadline of one arbiter or KV call, set by the edge; leases cover a few of them.
pub const STORE_TIMEOUT_MS: u64 = 5_000;

/// How long claims are held and duplicates wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Lease of a fresh claim: covers verify, the origin call (body included) and the
    /// store writes between them, each under its own deadline.
    pub claim_lease_ms: u64,
    /// Lease while settling.
    pub settle_lease_ms: u64,
    /// How long a duplicate waits for the first request's answer.
    pub wait_ms: u64,
    /// Longest polling step while waiting (polls start at 10 ms and double: about a dozen
    /// arbiter reads in a whole wait).
    pub poll_ms: u64,
    /// Number of arbiter shards.
    pub shards: u32,
}

impl Timing {
    /// Leases derived from the facilitator's and the origin's deadlines: a lease always
    /// outlives the work it covers, so a claim is never taken over while its holder can
    /// still act on it.
    pub fn new(facilitator_timeout_ms: u64, origin_timeout_ms: u64) -> Self {
        Self {
            claim_lease_ms: facilitator_timeout_ms + origin_timeout_ms + 3 * STORE_TIMEOUT_MS + 5_000,
            settle_lease_ms: facilitator_timeout_ms + 2 * STORE_TIMEOUT_MS + 5_000,
            wait_ms: 5_000,
            poll_ms: 1_000,
            shards: crate::once::SHARDS,
        }
    }
}

/// The ports and settings a paid request uses.
pub struct Ports<'a, F, O, C, A> {
    /// Facilitator (HTTP or paper).
    pub facilitator: &'a F,
    /// The origin, for this request.
    pub origin: &'a O,
    /// Clock.
    pub clock: &'a C,
    /// Receipt signer.
    pub signer: &'a ReceiptSigner,
    /// The strongly consistent record keeper.
    pub arbiter: &'a A,
    /// A random token naming this request as a claim owner.
    pub claim_token: &'a str,
    /// Leases and waits.
    pub timing: Timing,
    /// Where alerts go.
    pub alerts: &'a dyn Alerts,
    /// Alerts are on: a payer raises one past this many rate-limited refusals a minute
    /// (`None`: alerts are off).
    pub alert_after: Option<u32>,
}

/// What the request is for: the priced route, its resource description, and the
/// normalised `METHOD path?query` a payment is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The route.
    pub route: &'a PricedRoute,
    /// The resource, as described in challenges and receipts.
    pub resource: &'a ResourceInfo,
    /// `METHOD path?query`, normalised.
    pub binding: &'a str,
    /// Whether the request is a GET (or HEAD): re-fetchable without side effects.
    pub refetchable: bool,
    /// The request as the origin receives it (the payment context names it).
    pub forward: Forward<'a>,
}

/// The request as the origin receives it.
#[derive(Debug, Clone, Copy)]
pub struct Forward<'a> {
    /// The origin (`scheme://host[:port]`, normalised: see `context::normal_origin`): the
    /// payment context's audience.
    pub audience: &'a str,
    /// The method, as sent.
    pub method: &'a str,
    /// The path the origin receives (its base path, if any, then the normalised path),
    /// without the query.
    pub path: &'a str,
}

/// The normalised `METHOD path?query` a payment is bound to (method upper-cased, the
/// path as forwarded to the origin, the query as sent).
pub fn binding(method: &str, forward_path: &str, query: Option<&str>) -> String {
    let method = method.to_ascii_uppercase();
    match query {
        Some(q) => format!("{method} {forward_path}?{q}"),
        None => format!("{method} {forward_path}"),
    }
}

/// The method and the path (without the query) of a binding (`METHOD path?query`).
fn method_and_path(binding: &str) -> (&str, &str) {
    let (method, rest) = binding.split_once(' ').unwrap_or(("", binding));
    (method, rest.split_once('?').map_or(rest, |(path, _)| path))
}

/// The ledger's view of a payment (see `ledger`): the key, the recovered payer, what the
/// option asks, the route, the request's method and path, and the facilitator.
pub(crate) fn ledger_payment(
    key: &str,
    payment: &Payment,
    option: &PaymentOption,
    route: &str,
    binding: &str,
    facilitator: &str,
) -> ledger::Payment {
    let (method, path) = method_and_path(binding);
    ledger::Payment {
        payment_key: key.to_string(),
        payer: payment.evm.authorization.from.checksummed(),
        pay_to: option.pay_to.checksummed(),
        amount: option.amount.to_string(),
        asset: option.asset.checksummed(),
        network: option.network.caip2(),
        x402_version: payment.version.number(),
        route: route.to_string(),
        method: method.to_string(),
        path: path.to_string(),
        facilitator: facilitator.to_string(),
    }
}

/// GET and HEAD can be fetched from the origin again without side effects.
pub fn is_refetchable(method: &str) -> bool {
    crate::http::is_get_or_head(method)
}

/// Runs the exactly-once escrow flow for a priced request with a payment header.
pub async fn pay<F, O, C, A>(
    target: Target<'_>,
    header: PaymentHeader<'_>,
    ports: Ports<'_, F, O, C, A>,
) -> Outcome<O::Response>
where
    F: Facilitator,
    O: Origin,
    C: Clock,
    A: Arbiter,
{
    let payment = match decode(header) {
        Ok(p) => p,
        Err(e) => return Outcome::refused(e),
    };
    let option = match select(&payment, &target.route.options) {
        Ok(o) => o,
        Err(e) => return Outcome::refused(e),
    };
    let proven = match check_signature(&payment, option) {
        Ok(proven) => proven,
        Err(e) => return Outcome::refused(e),
    };
    let key = PaymentKey::derive(&payment, option);
    let (pattern, facilitator) = (&target.route.pattern, ports.facilitator.name());
    let ledger = ledger_payment(&key.0, &payment, option, pattern, target.binding, facilitator);
    let payer = &payment.evm.authorization.from;
    let shard = payer_shard(payer, ports.timing.shards);
    let refusals = Refusals { ports: &ports, key: &key, ledger: &ledger, shard, iss: target.resource.url.as_str() };
    // The payer (the recovered signer) may pay here? Refused before any claim or
    // facilitator call, with a `rejected` event.
    if target.route.policy.admits(payer).is_err() {
        refusals.record(Code::PayerBlocked, ports.alert_after.map(|_| tally_row(payer))).await;
        return Outcome::refused(PaymentError::Forbidden(Code::PayerBlocked));
    }
    let policy = &target.route.policy;
    let charge = Charge {
        row: tally_row(payer),
        amount: Amount(crate::policy::in_cap_units(option.amount, option.decimals, policy.decimals)),
        cap: policy.daily_cap.as_ref().map(|c| (c.scope.clone(), c.limit)),
        rate: policy.rate.as_ref().map(|r| (r.scope.clone(), r.limit.count, r.limit.period_ms)),
        alert_after: ports.alert_after,
    };
    let now = ports.clock.now_unix();
    let window = check_window(&payment, option, now).err();
    if let Some(expired) = &window {
        // Past every record's lifetime: nothing can answer it, so nothing is looked up.
        if now > payment.evm.authorization.valid_before.saturating_add(SETTLING_RETENTION_SECONDS) {
            return Outcome::refused(expired.clone());
        }
    }
    let fingerprint = fingerprint(&key, &payment);
    let job =
        Job { target, header, payment: &payment, option, fingerprint, window, charge, proven, refusals, ports: &ports };
    job.run().await
}

/// What refusing a payment needs: recording it, and raising an alert.
struct Refusals<'r, 'a, F, O, C, A> {
    ports: &'r Ports<'a, F, O, C, A>,
    key: &'r PaymentKey,
    /// The ledger's view of the payment, made once (every arbiter call may carry it).
    ledger: &'r ledger::Payment,
    /// The payer's arbiter shard: every call about this payment goes there.
    shard: u32,
    /// The paywall's origin (an alert's issuer).
    iss: &'r str,
}

impl<F, O, C: Clock, A: Arbiter> Refusals<'_, '_, F, O, C, A> {
    /// Records a refusal of this payment in the ledger (`rejected:{reason}`, one per payment
    /// and reason, whatever resource it was tried for: a replayed header cannot fill the
    /// ledger one query string at a time), and raises an alert when the payer's shard says
    /// so (`alert`: the payer's tally row, when alerts are on). Best effort: the refusal
    /// stands whether or not it is written.
    async fn record(&self, reason: Code, alert: Option<String>) {
        let request = ArbiterRequest::Refuse {
            row: self.key.0.clone(),
            ledger: self.ledger.clone(),
            reason: reason.code().to_string(),
            now_ms: self.ports.clock.now_ms(),
            alert,
        };
        if let Ok(ArbiterReply::Recorded { alert: true }) = self.ports.arbiter.call(self.shard, &request).await {
            self.raise(reason);
        }
    }

    /// Sends an alert about this payment's payer.
    fn raise(&self, reason: Code) {
        let alert = Alert {
            reason,
            payer: self.ledger.payer.clone(),
            route: self.ledger.route.clone(),
            time_ms: self.ports.clock.now_ms(),
        };
        let body = crate::alert::body(self.ports.signer, &alert, context::origin_of(self.iss));
        self.ports.alerts.raise(&alert, body);
    }
}

/// One paid request in progress.
struct Job<'j, 'a, F, O, C, A> {
    target: Target<'j>,
    /// The payment header as sent (the arbiter decodes it again to settle).
    header: PaymentHeader<'j>,
    payment: &'j Payment,
    option: &'j PaymentOption,
    fingerprint: String,
    /// Why the validity window refuses a fresh claim now (`None`: it does not).
    window: Option<PaymentError>,
    /// What a fresh claim reserves in the payer's tally.
    charge: Charge,
    /// Whether the payer is the signer recovered here. When not (a smart wallet's
    /// signature, which only the facilitator can judge), anyone may have written its
    /// `from`: the charge (cap, rate) and `maxPayersPerMinute` wait until verify has
    /// passed, so a stranger's forgery counts against no payer.
    proven: bool,
    /// The key, the ledger's view and the shard, for the records and the refusals.
    refusals: Refusals<'j, 'a, F, O, C, A>,
    ports: &'j Ports<'a, F, O, C, A>,
}

impl<F: Facilitator, O: Origin, C: Clock, A: Arbiter> Job<'_, '_, F, O, C, A> {
    /// The payment key.
    fn key(&self) -> &PaymentKey {
        self.refusals.key
    }

    /// The payer's arbiter shard.
    fn shard(&self) -> u32 {
        self.refusals.shard
    }

    async fn run(&self) -> Outcome<O::Response> {
        if let (Some(id), None) = (&self.payment.payment_id, &self.window) {
            let binding = IdBinding {
                key: self.key().0.clone(),
                fingerprint: self.fingerprint.clone(),
                expires_at: self.expires_at(State::Claimed),
            };
            let request = ArbiterRequest::BindId { row: format!("id:{}", id.as_str()), binding };
            match self.ports.arbiter.call(id.shard(self.ports.timing.shards), &request).await {
                Ok(ArbiterReply::Bound) => {}
                Ok(ArbiterReply::IdConflict) => {
                    return Outcome::refused(PaymentError::Conflict(Code::PaymentIdentifierConflict))
                }
                Ok(other) => return Outcome::refused(bad_reply(&other)),
                Err(e) => return Outcome::refused(UpstreamError::Store(e)),
            }
        }
        let previous = match self.claim().await {
            Ok(previous) => previous,
            Err(outcome) => return outcome,
        };
        match previous {
            // A response that can be neither replayed nor fetched again (too large to store,
            // not a GET): settling now would charge for what cannot be delivered.
            Some(settling)
                if !self.target.refetchable && settling.response.as_ref().is_none_or(|r| r.body.is_none()) =>
            {
                self.unknown(settling).await;
                let why = TransportError::Failed("the response cannot be replayed; settlement not resubmitted".into());
                Outcome::refused(UpstreamError::SettlementUnknown(why))
            }
            // A `settling` record taken over after its lease: settle the same payload again.
            Some(settling) => self.settle(settling, None, true, None).await,
            None if !self.proven => self.fresh().await,
            None => match self.admit().await {
                Ok(()) => self.fresh().await,
                Err(refused) => refused,
            },
        }
    }

    /// A fresh claim of a route with `maxPayersPerMinute`: the payer among this minute's
    /// payers, or the claim released (`rejected:too_many_payers`) and 429.
    async fn admit(&self) -> Result<(), Outcome<O::Response>> {
        let Some(max) = &self.target.route.policy.max_payers else { return Ok(()) };
        let now_ms = self.ports.clock.now_ms();
        match self.ports.arbiter.admit(&max.scope, &self.charge.row, now_ms / 60_000, max.limit).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.release(None, Code::TooManyPayers).await;
                let retry_after_s = (60_000 - now_ms % 60_000).div_ceil(1000);
                Err(Outcome::refused(PaymentError::Limited { code: Code::TooManyPayers, retry_after_s }))
            }
            Err(e) => {
                self.release(None, Code::StorageUnavailable).await;
                Err(Outcome::refused(UpstreamError::Store(e)))
            }
        }
    }

    /// The signed payment context the origin gets with this request.
    fn context(&self, status: ContextStatus) -> String {
        let (payment, option) = (self.payment, self.option);
        let iat = self.ports.clock.now_unix();
        let Forward { audience, method, path } = self.target.forward;
        let (payer, amount) = (payment.evm.authorization.from.checksummed(), option.amount.to_string());
        let (asset, network) = (option.asset.checksummed(), option.network.caip2());
        let claims = ContextClaims {
            iss: context::origin_of(&self.target.resource.url),
            aud: audience,
            iat,
            exp: iat + CONTEXT_LIFETIME_SECONDS,
            jti: &self.refusals.key.0,
            payer: &payer,
            amount: &amount,
            asset: &asset,
            network: &network,
            route: &self.target.route.pattern,
            method,
            path,
            status,
        };
        context::sign(self.ports.signer, &claims)
    }

    /// A ledger note of this payment, now.
    fn note(&self) -> Note {
        Note::new(self.refusals.ledger.clone(), self.ports.clock.now_ms())
    }

    fn request(&self) -> FacilitatorRequest<'_> {
        FacilitatorRequest { payment: self.payment, option: self.option, resource: self.target.resource }
    }

    /// A fresh claim: verify, origin, store, settle.
    async fn fresh(&self) -> Outcome<O::Response> {
        match self.ports.facilitator.verify(&self.request()).await {
            Ok(v) if v.is_valid => {}
            Ok(v) => {
                let reason = sanitize_reason(v.invalid_reason.as_deref(), "payment_rejected");
                let mut record = self.new_record(State::Rejected, 0);
                record.reason = Some(reason.clone());
                let _ = self.advance(record, Some(self.note())).await;
                return Outcome::refused(PaymentError::Rejected(reason));
            }
            Err(e) => {
                self.release(None, Code::FacilitatorUnavailable).await;
                return Outcome::refused(e);
            }
        }
        // Locked, and written so before the origin is called: a Worker that stops during the
        // origin call leaves its `locked`, and whoever takes the claim over after its lease
        // writes the `refunded`. A lost write is made good by the next step, which writes
        // `locked` when the record does not say it is.
        let verified = Some(self.ports.clock.now_ms());
        let mut lock = self.new_record(State::Claimed, self.ports.timing.claim_lease_ms);
        lock.locked = true;
        lock.ledger = Some(Box::new(self.refusals.ledger.clone()));
        let note = Note { verified_at_ms: verified, ..self.note() };
        let held = if self.proven {
            !matches!(self.advance(lock, Some(note)).await, Ok(false))
        } else {
            // The payer is proven now: its policy is judged as a claim's would have been,
            // its tally first (a blocked or capped payer takes no place among this
            // minute's payers), then `maxPayersPerMinute` (a refusal releases the hold).
            match self.lock_charged(lock, note).await {
                // Only a claim still held takes a place.
                Ok(true) => match self.admit().await {
                    Ok(()) => true,
                    Err(refused) => return refused,
                },
                Ok(false) => false,
                Err(refused) => return refused,
            }
        };
        if !held {
            // The claim was taken over meanwhile (its lease ran out during verify).
            return Outcome::refused(PaymentError::InProgress { retry_after_s: 1 });
        }
        let response = match self.ports.origin.call(&self.context(ContextStatus::Verified)).await {
            Ok(r) => r,
            Err(e) => {
                self.release(verified, Code::OriginUnavailable).await;
                return Outcome::refused(UpstreamError::OriginUnavailable(e.to_string()));
            }
        };
        match worth(O::status(&response)) {
            Worth::Content => {}
            Worth::Uncharged => {
                self.release(verified, Code::OriginFailed).await;
                return Outcome::OriginFailed(response);
            }
            Worth::Undeliverable => {
                self.release(verified, Code::OriginUndeliverable).await;
                return Outcome::refused(undeliverable(O::status(&response)));
            }
        }
        let kept = match self.ports.origin.keep(response, crate::once::MAX_STORED_BODY).await {
            Ok(kept) => kept,
            Err(e) => {
                self.release(verified, Code::OriginUnavailable).await;
                return Outcome::refused(UpstreamError::OriginUnavailable(e.to_string()));
            }
        };
        let mut record = self.new_record(State::Settling, self.ports.timing.settle_lease_ms);
        record.response = Some(kept.stored);
        self.settle(record, Some(kept.response), false, verified).await
    }
}

/// An origin answer no paid response can be made of (see `http::worth`).
fn undeliverable(status: u16) -> UpstreamError {
    UpstreamError::OriginUnavailable(format!("origin answered status {status}"))
}

fn bad_reply(reply: &ArbiterReply) -> UpstreamError {
    UpstreamError::Store(crate::ports::StoreError(format!("unexpected arbiter reply {reply:?}")))
}

#[cfg(test)]
mod tests;
