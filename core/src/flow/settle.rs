//! The end of the flow: settling (fresh or resumed), sealing the settlement with a
//! signed receipt, and answering from a final record.

use serde_json::Map;

use super::{Delivery, Job, Outcome, Settlement};
use crate::codec::base64_encode;
use crate::error::{sanitize_reason, PaymentError, UpstreamError};
use crate::facilitator::{Facilitator, SettleResponse};
use crate::http::{worth, Worth};
use crate::once::{Record, State, StoredSettlement, ALREADY_SETTLED_REASONS};
use crate::ports::{Arbiter, Clock, KvStore, Origin, TransportError};
use crate::receipt::{receipt_extension, ReceiptClaims};

/// The extension key of signed receipts.
pub const RECEIPT_EXTENSION: &str = "offer-receipt";

fn encode(settled: &SettleResponse) -> String {
    base64_encode(serde_json::to_string(settled).unwrap_or_default().as_bytes())
}

/// A transaction id safe to repeat to clients and sign into receipts: 1–128 characters of
/// `[A-Za-z0-9:_-]` (an EVM hash, `paper:0x…`, a Solana signature).
fn is_plain_transaction(tx: &str) -> bool {
    (1..=128).contains(&tx.len())
        && tx.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-')
}

impl<F: Facilitator, O: Origin, C: Clock, A: Arbiter, K: KvStore> Job<'_, '_, F, O, C, A, K> {
    /// Calls `/settle` for a `settling` record we hold and answers with `live` (the
    /// origin's response of a fresh request) or the stored copy. `resuming`: an earlier
    /// attempt's outcome is unknown, so an "already settled" answer for this same payload
    /// (any of [`ALREADY_SETTLED_REASONS`]) means it landed, and any other refusal proves
    /// nothing either way (a facilitator may check the window or the balance before the
    /// nonce, or answer in prose): the outcome stays unknown, never released.
    pub(super) async fn settle(
        &self,
        mut record: Record,
        live: Option<O::Response>,
        resuming: bool,
    ) -> Outcome<O::Response> {
        let answer = self.ports.facilitator.settle(&self.request()).await;
        let reason_of = |s: &SettleResponse| sanitize_reason(s.error_reason.as_deref(), "settlement_failed");
        let settled = match answer {
            Ok(s) if s.success => s,
            Ok(s) if resuming && ALREADY_SETTLED_REASONS.contains(&reason_of(&s).as_str()) => {
                // The first attempt settled this very authorization; nothing more is charged.
                SettleResponse { success: true, error_reason: None, transaction: String::new(), extensions: None, ..s }
            }
            Ok(s) if resuming => {
                // Whether the first attempt landed is still unknown: nothing is served, and
                // nothing released (releasing would tell the payer "not charged").
                self.unknown(record).await;
                let why = format!("resumed settlement refused: {}", reason_of(&s));
                return Outcome::refused(UpstreamError::SettlementUnknown(TransportError::Failed(why)));
            }
            Ok(s) => {
                self.release().await;
                let reason = reason_of(&s);
                let shown = self.failed_settlement(&reason);
                return Outcome::Refused {
                    failure: PaymentError::SettleFailed(reason).into(),
                    settle_header: Some(encode(&shown)),
                };
            }
            Err(e) => {
                let transport = match e {
                    UpstreamError::FacilitatorUnavailable(t) => t,
                    other => TransportError::Failed(other.to_string()),
                };
                self.unknown(record).await;
                return Outcome::refused(UpstreamError::SettlementUnknown(transport));
            }
        };
        let settlement = self.seal(settled);
        record.state = State::Settled;
        record.expires_at = self.expires_at(record.state);
        record.lease_until_ms = 0;
        record.settlement = Some(StoredSettlement {
            header: settlement.header.clone(),
            receipt: settlement.receipt.clone(),
            version: settlement.version.number(),
        });
        if let Ok(true) = self.advance(record.clone()).await {
            self.remember(&record).await;
        }
        match live {
            Some(response) => Outcome::Paid { response: Delivery::Live(response), settlement },
            None => self.deliver(record, settlement).await,
        }
    }

    /// Unknown outcome: keep `settling`, end our lease so that a retry resolves it now.
    pub(super) async fn unknown(&self, mut record: Record) {
        record.lease_until_ms = self.ports.clock.now_ms();
        let _ = self.advance(record).await;
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
    fn seal(&self, mut settled: SettleResponse) -> Settlement {
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
            resource_url: self.target.resource.url.clone(),
            payer,
            issued_at: self.ports.clock.now_unix(),
            transaction: settled.transaction.clone(),
            amount: option.amount.to_string(),
            asset: option.asset.checksummed(),
            pay_to: option.pay_to.checksummed(),
            route: self.target.route.pattern.clone(),
        };
        let receipt = self.ports.signer.sign(&claims);
        settled
            .extensions
            .get_or_insert_with(Map::new)
            .insert(RECEIPT_EXTENSION.to_string(), receipt_extension(&receipt));
        Settlement { header: encode(&settled), receipt, version: payment.version }
    }

    /// The answer of a final record: the stored refusal, or the stored paid response.
    pub(super) async fn finished(&self, record: Record) -> Outcome<O::Response> {
        match (&record.state, &record.settlement) {
            (State::Settled, Some(s)) => {
                let settlement =
                    Settlement { header: s.header.clone(), receipt: s.receipt.clone(), version: s.x402_version() };
                self.deliver(record, settlement).await
            }
            (State::Rejected, _) => {
                Outcome::refused(PaymentError::Rejected(record.reason.unwrap_or_else(|| "payment_rejected".into())))
            }
            _ => Outcome::refused(UpstreamError::Store(crate::ports::StoreError(format!(
                "record in state {:?} offered as final",
                record.state
            )))),
        }
    }

    /// Serves a settled payment's content: the stored copy, or for a body too large to
    /// store, a fresh GET from the origin (never charged again).
    async fn deliver(&self, record: Record, settlement: Settlement) -> Outcome<O::Response> {
        match record.response {
            Some(stored) if stored.body.is_some() => Outcome::Paid { response: Delivery::Stored(stored), settlement },
            _ if self.target.refetchable => match self.ports.origin.call().await {
                Ok(live) => match worth(O::status(&live)) {
                    Worth::Content => Outcome::Paid { response: Delivery::Live(live), settlement },
                    Worth::Uncharged => Outcome::OriginFailed(live),
                    Worth::Undeliverable => Outcome::Refused {
                        failure: super::undeliverable(O::status(&live)).into(),
                        settle_header: Some(settlement.header),
                    },
                },
                Err(e) => Outcome::Refused {
                    failure: UpstreamError::OriginUnavailable(e.to_string()).into(),
                    settle_header: Some(settlement.header),
                },
            },
            _ => Outcome::Refused {
                failure: PaymentError::Conflict("payment_already_settled").into(),
                settle_header: Some(settlement.header),
            },
        }
    }
}
