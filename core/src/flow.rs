//! The escrow flow of a paid request: verify = lock, settle = release, no settle = refund.
//!
//! 1. Decode the payment header into a typed payment (malformed → 400).
//! 2. Check it against the route's options: scheme, network, asset, payTo, amount,
//!    validity window (mismatch → 402 with a fresh challenge). No facilitator yet.
//! 3. `verify` with the facilitator (unreachable → 502, origin never called; invalid →
//!    402 with the facilitator's reason code).
//! 4. Call the origin. Status ≥ 400 → its answer passes through and nothing is settled:
//!    the payer is not charged.
//! 5. `settle`. Failure → 402 and the origin's content is withheld; unreachable → 502,
//!    content withheld.
//! 6. Success → the origin's response goes out with `PAYMENT-RESPONSE` (the settle
//!    response, carrying an ed25519-signed receipt in `extensions["offer-receipt"]`).

use serde_json::Map;

use crate::codec::base64_encode;
use crate::config::PricedRoute;
use crate::error::{sanitize_reason, Failure, PaymentError, UpstreamError};
use crate::facilitator::{Facilitator, FacilitatorRequest, SettleResponse};
use crate::payment::{decode, select, Payment, PaymentHeader};
use crate::ports::{Clock, Origin};
use crate::receipt::{receipt_extension, ReceiptClaims, ReceiptSigner};
use crate::requirements::PaymentOption;
use crate::x402::{ResourceInfo, X402Version};

/// The extension key of signed receipts.
pub const RECEIPT_EXTENSION: &str = "offer-receipt";

/// What a settled payment produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The settle response sent back (with the receipt extension).
    pub response: SettleResponse,
    /// `PAYMENT-RESPONSE` header value (base64 JSON of `response`).
    pub header: String,
    /// The receipt JWS, also sent as its own header.
    pub receipt: String,
    /// The version the client paid with (v1 also gets `X-PAYMENT-RESPONSE`).
    pub version: X402Version,
}

/// How a paid request ended.
#[derive(Debug)]
pub enum Outcome<R> {
    /// Settled: serve the origin's response with the settlement headers.
    Paid {
        /// The origin's response.
        response: R,
        /// The settlement.
        settlement: Settlement,
    },
    /// The origin failed (status ≥ 400): its answer passes, nothing was charged.
    OriginFailed(R),
    /// Refused; `settle_header` carries a failed settle response when there was one.
    Refused {
        /// Why.
        failure: Failure,
        /// `PAYMENT-RESPONSE` of a failed settlement.
        settle_header: Option<String>,
    },
}

impl<R> Outcome<R> {
    fn refused(failure: impl Into<Failure>) -> Self {
        Self::Refused { failure: failure.into(), settle_header: None }
    }
}

/// The ports a paid request uses.
pub struct Ports<'a, F, O, C> {
    /// Facilitator (HTTP or paper).
    pub facilitator: &'a F,
    /// The origin, for this request.
    pub origin: &'a O,
    /// Clock.
    pub clock: &'a C,
    /// Receipt signer.
    pub signer: &'a ReceiptSigner,
}

/// Runs the escrow flow for a priced request that carries a payment header.
pub async fn pay<F: Facilitator, O: Origin, C: Clock>(
    route: &PricedRoute,
    header: PaymentHeader<'_>,
    resource: &ResourceInfo,
    ports: Ports<'_, F, O, C>,
) -> Outcome<O::Response> {
    let payment = match decode(header) {
        Ok(p) => p,
        Err(e) => return Outcome::refused(e),
    };
    let now = ports.clock.now_unix();
    let option = match select(&payment, &route.options, now) {
        Ok(o) => o,
        Err(e) => return Outcome::refused(e),
    };
    let req = FacilitatorRequest { payment: &payment, option, resource };
    match ports.facilitator.verify(&req).await {
        Ok(v) if v.is_valid => {}
        Ok(v) => {
            return Outcome::refused(PaymentError::Rejected(sanitize_reason(
                v.invalid_reason.as_deref(),
                "payment_rejected",
            )))
        }
        Err(e) => return Outcome::refused(e),
    }
    let response = match ports.origin.call().await {
        Ok(r) => r,
        Err(e) => return Outcome::refused(UpstreamError::OriginUnavailable(e.to_string())),
    };
    if O::status(&response) >= 400 {
        return Outcome::OriginFailed(response);
    }
    let settled = match ports.facilitator.settle(&req).await {
        Ok(s) => s,
        Err(e) => return Outcome::refused(e),
    };
    if !settled.success {
        let reason = sanitize_reason(settled.error_reason.as_deref(), "settlement_failed");
        let settle_header = encode(&settled);
        return Outcome::Refused {
            failure: PaymentError::SettleFailed(reason).into(),
            settle_header: Some(settle_header),
        };
    }
    let settlement = seal(settled, &payment, option, route, resource, now, ports.signer);
    Outcome::Paid { response, settlement }
}

/// Adds the signed receipt to a successful settle response and encodes it.
fn seal(
    mut settled: SettleResponse,
    payment: &Payment,
    option: &PaymentOption,
    route: &PricedRoute,
    resource: &ResourceInfo,
    now: u64,
    signer: &ReceiptSigner,
) -> Settlement {
    let payer = settled.payer.clone().unwrap_or_else(|| payment.evm.authorization.from.checksummed());
    if settled.network.is_empty() {
        settled.network = match payment.version {
            X402Version::V2 => option.network.caip2(),
            X402Version::V1 => payment.network_name.clone(),
        };
    }
    settled.payer = Some(payer.clone());
    let claims = ReceiptClaims {
        version: 1,
        network: option.network.caip2(),
        resource_url: resource.url.clone(),
        payer,
        issued_at: now,
        transaction: settled.transaction.clone(),
        amount: option.amount.to_string(),
        asset: option.asset.checksummed(),
        pay_to: option.pay_to.checksummed(),
        route: route.pattern.clone(),
    };
    let receipt = signer.sign(&claims);
    settled.extensions.get_or_insert_with(Map::new).insert(RECEIPT_EXTENSION.to_string(), receipt_extension(&receipt));
    let header = encode(&settled);
    Settlement { response: settled, header, receipt, version: payment.version }
}

fn encode(settled: &SettleResponse) -> String {
    base64_encode(serde_json::to_string(settled).unwrap_or_default().as_bytes())
}

#[cfg(test)]
mod tests;
