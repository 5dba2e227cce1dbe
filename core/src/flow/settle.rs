//! The end of the flow: settling, sealing the settlement with a signed receipt, and
//! answering from a final record.
//!
//! The arbiter settles (see [`settle_order`]): the worker hands it the `settling` record
//! and an order naming the payment, and the arbiter writes the record, calls `/settle`,
//! seals the receipt and writes the outcome, all on its side. A fresh paid request thus
//! talks to the arbiter twice (claim, settle), and `settling` is stored before `/settle`
//! is called, as before.

use serde_json::Map;

use super::{undeliverable, Delivery, Job, Outcome, Settlement};
use crate::codec::{base64_encode, to_json};
use crate::context::ContextStatus;
use crate::error::{sanitize_reason, Code, PaymentError, UpstreamError};
use crate::facilitator::{Facilitator, FacilitatorRequest, SettleResponse};
use crate::http::{worth, Worth};
use crate::ledger::{self, Note};
use crate::once::{
    ArbiterReply, ArbiterRequest, Record, SettleOrder, State, StoredResponse, StoredSettlement,
    ALREADY_SETTLED_REASONS, REPLAY_GRACE_SECONDS, SETTLING_RETENTION_SECONDS,
};
use crate::payment::{decode, select, Payment, PaymentHeader};
use crate::ports::{Arbiter, Clock, Origin, StoreError, TransportError};
use crate::receipt::{receipt_extension, ReceiptClaims, ReceiptSigner};
use crate::requirements::PaymentOption;
use crate::routes::PricedRoute;
use crate::x402::ResourceInfo;

/// The extension key of signed receipts.
pub const RECEIPT_EXTENSION: &str = "offer-receipt";

fn encode(settled: &SettleResponse) -> String {
    base64_encode(to_json(settled).as_bytes())
}

/// A transaction id safe to repeat to clients and sign into receipts: 1–128 characters of
/// `[A-Za-z0-9:_-]` (an EVM hash, `paper:0x…`, a Solana signature).
fn is_plain_transaction(tx: &str) -> bool {
    (1..=128).contains(&tx.len())
        && tx.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-')
}

/// When a record of `payment` in `state` may be forgotten: a short replay grace past
/// `validBefore` for most, a week for a settlement whose outcome is unknown (a retry must
/// still be able to resolve it).
pub(super) fn expires_at(payment: &Payment, now_unix: u64, state: State) -> u64 {
    let base = payment.evm.authorization.valid_before.max(now_unix);
    base + if state == State::Settling { SETTLING_RETENTION_SECONDS } else { REPLAY_GRACE_SECONDS }
}

/// Carries out a settle order on the arbiter's side ([`ArbiterRequest::Settle`]).
/// `write` is the arbiter's own atomic step for one request (load, `apply`, store); it
/// gets `Advance` requests only. `route_named` finds a priced route by pattern in the
/// arbiter's configuration: the payment, the option and the resource are rebuilt from it
/// and the order, so nothing the order says is taken as a price.
///
/// 1. The order must name a configured route, a payment header that decodes, and the
///    option this configuration matches the payment to, else
///    [`ArbiterReply::Unsettleable`] with nothing written or called.
/// 2. `record` (`settling`, ours) is written; a claim no longer ours is
///    [`ArbiterReply::LostClaim`], a failed write `Unsettleable`.
/// 3. `/settle`. Success (or, when resuming, an "already settled" answer for this very
///    authorization) → the receipt is sealed, `settled` written, `SettleDone`. A refusal
///    of a fresh settlement → released, `SettleRefused`. No answer, or any other refusal
///    when resuming → `settling` kept with its lease ended, `SettleUnknown`.
#[allow(clippy::too_many_arguments)]
pub async fn settle_order<'r, F: Facilitator, C: Clock>(
    row: &str,
    record: Record,
    order: &SettleOrder,
    route_named: impl FnOnce(&str) -> Option<std::borrow::Cow<'r, PricedRoute>>,
    facilitator: &F,
    clock: &C,
    signer: &ReceiptSigner,
    mut write: impl FnMut(ArbiterRequest) -> Result<ArbiterReply, StoreError>,
) -> ArbiterReply {
    let unsettleable = |why: String| ArbiterReply::Unsettleable { why };
    let Some(named) = route_named(&order.route) else {
        return unsettleable(format!("the route {} is not configured here", order.route));
    };
    let route: &PricedRoute = &named;
    let Some(option) = route.options.get(order.option) else {
        return unsettleable(format!("the route {} has no option {}", order.route, order.option));
    };
    let header = if order.v1 { PaymentHeader::V1(&order.header) } else { PaymentHeader::V2(&order.header) };
    let Ok(payment) = decode(header) else { return unsettleable("the payment header does not decode".into()) };
    // The option is the one this configuration matches the payment to, and the one the
    // order names: a configuration that changed between the claim and now (options
    // reordered or repriced) settles nothing the payment was not checked against.
    match select(&payment, &route.options) {
        Ok(chosen) if std::ptr::eq(chosen, option) => {}
        _ => {
            return unsettleable(format!(
                "the route {} no longer matches the payment to option {}",
                order.route, order.option
            ))
        }
    }
    let resource = crate::challenge::resource_info(route, &order.resource_url);
    let ledger = super::ledger_payment(row, &payment, option, &route.pattern, &record.resource, facilitator.name());
    let mut advance = |record: Record, note: Option<Note>| {
        write(ArbiterRequest::Advance { row: row.to_string(), record, ledger: note, charge: None })
    };
    // The `settling` write carries a fresh settlement's `locked`.
    let note = Note { verified_at_ms: order.verified_at_ms, ..Note::new(ledger.clone(), clock.now_ms()) };
    match advance(record.clone(), Some(note)) {
        Ok(ArbiterReply::Advanced) => {}
        Ok(ArbiterReply::LostClaim) => return ArbiterReply::LostClaim,
        Ok(other) => return unsettleable(format!("settling write answered {other:?}")),
        Err(e) => return unsettleable(format!("settling write: {e}")),
    }
    let settling = Settling { key: row, payment: &payment, option, route, resource: &resource, clock, signer, ledger };
    settling.settle(facilitator, record, order.resuming, advance).await
}

/// One settlement in the making, on the arbiter's side.
struct Settling<'s, C> {
    /// The payment key.
    key: &'s str,
    payment: &'s Payment,
    option: &'s PaymentOption,
    route: &'s PricedRoute,
    resource: &'s ResourceInfo,
    clock: &'s C,
    signer: &'s ReceiptSigner,
    /// The ledger's view of the payment.
    ledger: ledger::Payment,
}

impl<C: Clock> Settling<'_, C> {
    /// The receipt's id: its shard (a hex digit, so that a lookup asks one shard), then
    /// 128 bits derived from the signing key and the payment key.
    fn receipt_id(&self) -> String {
        let shard = crate::once::payer_shard(&self.payment.evm.authorization.from, crate::once::SHARDS);
        format!("{shard:x}{}", self.signer.receipt_id(self.key))
    }

    /// A ledger note of this payment, now.
    fn note(&self) -> Note {
        Note::new(self.ledger.clone(), self.clock.now_ms())
    }

    /// Calls `/settle` and writes the outcome (see [`settle_order`]). `resuming`: an
    /// earlier attempt's outcome is unknown, so an "already settled" answer for this same
    /// payload (any of [`ALREADY_SETTLED_REASONS`]) means it landed, and any other refusal
    /// proves nothing either way (a facilitator may check the window or the balance before
    /// the nonce, or answer in prose): the outcome stays unknown, never released.
    async fn settle<F: Facilitator>(
        &self,
        facilitator: &F,
        mut record: Record,
        resuming: bool,
        mut advance: impl FnMut(Record, Option<Note>) -> Result<ArbiterReply, StoreError>,
    ) -> ArbiterReply {
        let request = FacilitatorRequest { payment: self.payment, option: self.option, resource: self.resource };
        let answer = facilitator.settle(&request).await;
        let reason_of = |s: &SettleResponse| sanitize_reason(s.error_reason.as_deref(), "settlement_failed");
        let mut unknown = |mut record: Record, why: String| {
            // Keep `settling`, end the lease so that a retry resolves it now.
            record.lease_until_ms = self.clock.now_ms();
            let _ = advance(record, None);
            ArbiterReply::SettleUnknown { why }
        };
        let settled = match answer {
            Ok(s) if s.success => s,
            Ok(s) if resuming && ALREADY_SETTLED_REASONS.contains(&reason_of(&s).as_str()) => {
                // The first attempt settled this very authorization; nothing more is charged.
                SettleResponse { success: true, error_reason: None, transaction: String::new(), extensions: None, ..s }
            }
            // Whether the first attempt landed is still unknown: nothing is served, and
            // nothing released (releasing would tell the payer "not charged").
            Ok(s) if resuming => return unknown(record, format!("resumed settlement refused: {}", reason_of(&s))),
            Ok(s) => {
                let reason = reason_of(&s);
                let released = Record {
                    state: State::Released,
                    lease_until_ms: self.clock.now_ms(),
                    expires_at: expires_at(self.payment, self.clock.now_unix(), State::Released),
                    response: None,
                    ..record
                };
                let note = Note { reason: Some(reason.clone()), ..self.note() };
                let _ = advance(released, Some(note));
                return ArbiterReply::SettleRefused { header: encode(&self.failed_settlement(&reason)), reason };
            }
            Err(UpstreamError::FacilitatorUnavailable(t)) => return unknown(record, t.to_string()),
            Err(other) => return unknown(record, other.to_string()),
        };
        let transaction = Some(settled.transaction.clone()).filter(|t| is_plain_transaction(t));
        let receipt_id = self.receipt_id();
        let settlement = self.seal(settled, &receipt_id);
        let receipt = Some(settlement.receipt.clone());
        record.state = State::Settled;
        record.expires_at = expires_at(self.payment, self.clock.now_unix(), State::Settled);
        record.lease_until_ms = 0;
        record.settlement = Some(settlement.clone());
        // Best effort: a lost write leaves `settling`, which a retry resolves ("already
        // settled") without a second charge.
        let _ = advance(record, Some(Note { transaction, receipt_id: Some(receipt_id), receipt, ..self.note() }));
        ArbiterReply::SettleDone { settlement }
    }

    /// The `PAYMENT-RESPONSE` of a refused settlement: our own view of it (payer, network)
    /// and the sanitised reason; nothing of the facilitator's text.
    fn failed_settlement(&self, reason: &str) -> SettleResponse {
        SettleResponse {
            success: false,
            error_reason: Some(reason.to_string()),
            payer: Some(self.payment.evm.authorization.from.checksummed()),
            transaction: String::new(),
            network: self.option.network_for(self.payment.version),
            extensions: None,
        }
    }

    /// Adds the signed receipt to a successful settle response and encodes it. The payer
    /// and network are ours (the signer we recovered, the option's network); the
    /// facilitator's transaction id is kept only when it is a plain token.
    fn seal(&self, mut settled: SettleResponse, receipt_id: &str) -> StoredSettlement {
        let (payment, option) = (self.payment, self.option);
        let payer = payment.evm.authorization.from.checksummed();
        settled.network = option.network_for(payment.version);
        settled.error_reason = None;
        if !is_plain_transaction(&settled.transaction) {
            settled.transaction = String::new();
        }
        settled.payer = Some(payer.clone());
        let claims = ReceiptClaims {
            version: 1,
            network: option.network.caip2(),
            resource_url: self.resource.url.clone(),
            payer,
            issued_at: self.clock.now_unix(),
            transaction: settled.transaction.clone(),
            amount: option.amount.to_string(),
            asset: option.asset.checksummed(),
            pay_to: option.pay_to.checksummed(),
            route: self.route.pattern.clone(),
            jti: receipt_id.to_string(),
        };
        let receipt = self.signer.sign(&claims);
        settled
            .extensions
            .get_or_insert_with(Map::new)
            .insert(RECEIPT_EXTENSION.to_string(), receipt_extension(&receipt));
        StoredSettlement { header: encode(&settled), receipt, version: payment.version.number() }
    }
}

impl From<&StoredSettlement> for Settlement {
    fn from(s: &StoredSettlement) -> Self {
        Settlement { header: s.header.clone(), receipt: s.receipt.clone(), version: s.x402_version() }
    }
}

impl<F: Facilitator, O: Origin, C: Clock, A: Arbiter> Job<'_, '_, F, O, C, A> {
    /// Has the arbiter settle a `settling` record we hold (see [`settle_order`]) and
    /// answers with `live` (the origin's response of a fresh request) or the stored copy.
    /// An arbiter that cannot be reached leaves the outcome unknown: the record may be
    /// `settling` or even settled, so nothing is released.
    pub(super) async fn settle(
        &self,
        record: Record,
        live: Option<O::Response>,
        resuming: bool,
        verified: Option<u64>,
    ) -> Outcome<O::Response> {
        let stored = if live.is_none() { record.response.clone() } else { None };
        let order = SettleOrder {
            header: self.header.text().to_string(),
            v1: matches!(self.header, PaymentHeader::V1(_)),
            route: self.target.route.pattern.clone(),
            option: self.target.route.options.iter().position(|o| std::ptr::eq(o, self.option)).unwrap_or(usize::MAX),
            resource_url: self.target.resource.url.clone(),
            resuming,
            verified_at_ms: verified,
        };
        let request = ArbiterRequest::Settle { row: self.key().0.clone(), record, order };
        let unknown = |why: String| Outcome::refused(UpstreamError::SettlementUnknown(TransportError::Failed(why)));
        match self.ports.arbiter.call(self.shard(), &request).await {
            Ok(ArbiterReply::SettleDone { settlement }) => {
                let settlement = Settlement::from(&settlement);
                match live {
                    Some(response) => Outcome::Paid { response: Delivery::Live(response), settlement },
                    None => self.deliver(stored, settlement).await,
                }
            }
            Ok(ArbiterReply::SettleRefused { reason, header }) => {
                Outcome::Refused { failure: PaymentError::SettleFailed(reason).into(), settle_header: Some(header) }
            }
            Ok(ArbiterReply::SettleUnknown { why }) => unknown(why),
            Ok(ArbiterReply::LostClaim) => Outcome::refused(PaymentError::InProgress { retry_after_s: 1 }),
            // `/settle` was not called. A fresh claim is ours to release; a resumed
            // `settling` record stays as it is.
            Ok(ArbiterReply::Unsettleable { why }) if !resuming => {
                self.release(verified, Code::Unsettleable).await;
                Outcome::refused(UpstreamError::Store(StoreError(why)))
            }
            Ok(ArbiterReply::Unsettleable { why }) => unknown(why),
            Ok(other) => unknown(format!("unexpected arbiter reply {other:?}")),
            // The order may have been carried out with its answer lost: the record tells.
            Err(e) => match live {
                Some(response) => match self.settled_record().await {
                    Some(settlement) => Outcome::Paid { response: Delivery::Live(response), settlement },
                    None => unknown(e.to_string()),
                },
                None => unknown(e.to_string()),
            },
        }
    }

    /// The settlement of this payment's record, if the arbiter holds it as settled: one
    /// read (a claim that may not start a new one; a live lease is only waited for by
    /// whoever asks again).
    async fn settled_record(&self) -> Option<Settlement> {
        let request = ArbiterRequest::Claim {
            row: self.key().0.clone(),
            record: self.new_record(State::Claimed, self.ports.timing.claim_lease_ms),
            now_ms: self.ports.clock.now_ms(),
            fresh: false,
            charge: None,
        };
        match self.ports.arbiter.call(self.shard(), &request).await {
            Ok(ArbiterReply::Finished { record }) if record.state == State::Settled => {
                record.settlement.as_ref().map(Settlement::from)
            }
            // The `settling` record's lease ran out meanwhile and this read took it over:
            // end that lease at once, so that a retry resolves it without waiting.
            Ok(ArbiterReply::Granted { previous: Some(settling) }) => {
                self.unknown(settling).await;
                None
            }
            _ => None,
        }
    }

    /// Unknown outcome: keep `settling`, end our lease so that a retry resolves it now.
    pub(super) async fn unknown(&self, mut record: Record) {
        record.lease_until_ms = self.ports.clock.now_ms();
        let _ = self.advance(record, None).await;
    }

    /// The answer of a final record: the stored refusal, or the stored paid response.
    pub(super) async fn finished(&self, record: Record) -> Outcome<O::Response> {
        match (&record.state, &record.settlement) {
            (State::Settled, Some(s)) => self.deliver(record.response, Settlement::from(s)).await,
            (State::Rejected, _) => {
                Outcome::refused(PaymentError::Rejected(record.reason.unwrap_or_else(|| "payment_rejected".into())))
            }
            _ => Outcome::refused(UpstreamError::Store(StoreError(format!(
                "record in state {:?} offered as final",
                record.state
            )))),
        }
    }

    /// Serves a settled payment's content: the stored copy, or for a body too large to
    /// store, a fresh GET from the origin (never charged again).
    async fn deliver(&self, stored: Option<StoredResponse>, settlement: Settlement) -> Outcome<O::Response> {
        match stored {
            Some(stored) if stored.body.is_some() => Outcome::Paid { response: Delivery::Stored(stored), settlement },
            _ if self.target.refetchable => match self.ports.origin.call(&self.context(ContextStatus::Settled)).await {
                Ok(live) => match worth(O::status(&live)) {
                    Worth::Content => Outcome::Paid { response: Delivery::Live(live), settlement },
                    Worth::Uncharged => Outcome::OriginFailed(live),
                    Worth::Undeliverable => Outcome::Refused {
                        failure: undeliverable(O::status(&live)).into(),
                        settle_header: Some(settlement.header),
                    },
                },
                Err(e) => Outcome::Refused {
                    failure: UpstreamError::OriginUnavailable(e.to_string()).into(),
                    settle_header: Some(settlement.header),
                },
            },
            _ => Outcome::Refused {
                failure: PaymentError::Conflict(Code::PaymentAlreadySettled).into(),
                settle_header: Some(settlement.header),
            },
        }
    }
}
