//! The end of the flow: settling (fresh or resumed), sealing the settlement with a
//! signed receipt, and answering from a final record.

use serde_json::Map;

use super::{Delivery, Job, Outcome, Settlement};
use crate::codec::base64_encode;
use crate::error::{sanitize_reason, PaymentError, UpstreamError};
use crate::facilitator::{Facilitator, SettleResponse};
use crate::once::{Record, State, StoredSettlement, NONCE_USED_REASONS};
use crate::ports::{Arbiter, Clock, KvStore, Origin, TransportError};
use crate::receipt::{receipt_extension, ReceiptClaims};

/// The extension key of signed receipts.
pub const RECEIPT_EXTENSION: &str = "offer-receipt";

fn encode(settled: &SettleResponse) -> String {
    base64_encode(serde_json::to_string(settled).unwrap_or_default().as_bytes())
}

impl<F: Facilitator, O: Origin, C: Clock, A: Arbiter, K: KvStore> Job<'_, '_, F, O, C, A, K> {
    /// Calls `/settle` for a `settling` record we hold and answers with `live` (the
    /// origin's response of a fresh request) or the stored copy. `resuming`: an earlier
    /// attempt's outcome is unknown, so "nonce already used" for this same payload means
    /// it landed.
    pub(super) async fn settle(
        &self,
        mut record: Record,
        live: Option<O::Response>,
        resuming: bool,
    ) -> Outcome<O::Response> {
        let answer = self.ports.facilitator.settle(&self.request()).await;
        let settled = match answer {
            Ok(s) if s.success => s,
            Ok(s) if resuming && s.error_reason.as_deref().is_some_and(|r| NONCE_USED_REASONS.contains(&r)) => {
                // The first attempt settled this very authorization; nothing more is charged.
                SettleResponse { success: true, error_reason: None, transaction: String::new(), extensions: None, ..s }
            }
            Ok(s) => {
                self.release().await;
                let reason = sanitize_reason(s.error_reason.as_deref(), "settlement_failed");
                return Outcome::Refused {
                    failure: PaymentError::SettleFailed(reason).into(),
                    settle_header: Some(encode(&s)),
                };
            }
            Err(e) => {
                // Unknown outcome: keep `settling`, end our lease so a retry resolves it now.
                record.lease_until_ms = self.ports.clock.now_ms();
                let _ = self.advance(record).await;
                let transport = match e {
                    UpstreamError::FacilitatorUnavailable(t) => t,
                    other => TransportError::Failed(other.to_string()),
                };
                return Outcome::refused(UpstreamError::SettlementUnknown(transport));
            }
        };
        let settlement = self.seal(settled);
        record.state = State::Settled;
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

    /// Adds the signed receipt to a successful settle response and encodes it.
    fn seal(&self, mut settled: SettleResponse) -> Settlement {
        let (payment, option) = (self.payment, self.option);
        let payer = settled.payer.clone().unwrap_or_else(|| payment.evm.authorization.from.checksummed());
        if settled.network.is_empty() {
            settled.network = option.network_for(payment.version);
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
                Ok(live) if O::status(&live) < 400 => Outcome::Paid { response: Delivery::Live(live), settlement },
                Ok(failed) => Outcome::OriginFailed(failed),
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
