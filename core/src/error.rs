//! Errors, separated by phase, and the one function that turns a failure into an HTTP
//! status and a stable machine-readable reason.
//!
//! - [`ConfigError`]: the operator's fault, found when bindings are parsed (once per
//!   isolate). Priced routes then answer 500 `paywall_misconfigured`.
//! - [`PaymentError`]: the client's fault. A malformed header is 400; a payment that does
//!   not match what the route asks, or that the facilitator refused, is 402 with a fresh
//!   challenge.
//! - [`UpstreamError`]: the facilitator or storage failed. 502/503; never charged, never
//!   served.
//!
//! Request-level refusals ([`RequestError`]: the path, method or host cannot be priced
//! safely) come before any payment is read.
//!
//! Client responses carry only [`Failure::reason`]; upstream text goes to the log.

use std::fmt;

use crate::ports::{StoreError, TransportError};

/// Configuration that cannot be used. Carries the field and cause, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The binding (and route) at fault, e.g. `ROUTES["GET /x"].price`.
    pub field: String,
    /// What is wrong with it.
    pub cause: String,
}

impl ConfigError {
    /// A config error for `field` with a cause.
    pub fn new(field: impl Into<String>, cause: impl fmt::Display) -> Self {
        Self { field: field.into(), cause: cause.to_string() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.cause)
    }
}

/// Declares [`Code`], its [`Code::ALL`] and [`Code::code`] from one list, so that no code
/// can be missing from any of them.
macro_rules! codes {
    ($($name:ident => $text:literal,)*) => {
        /// The reason codes of refused payments, each spelled once (x402's own codes where
        /// the spec or the official facilitators have one).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $(
                #[doc = concat!("`", $text, "`")]
                $name,
            )*
        }

        impl Code {
            /// Every code.
            pub const ALL: &'static [Code] = &[$(Self::$name),*];

            /// The code as sent.
            pub const fn code(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }
        }
    };
}

codes! {
    AmbiguousPaymentHeaders => "ambiguous_payment_headers",
    AmountMismatch => "amount_mismatch",
    AssetMismatch => "asset_mismatch",
    AuthorizationWindowTooLong => "authorization_window_too_long",
    InsufficientFunds => "insufficient_funds",
    InvalidExactEvmNonceAlreadyUsed => "invalid_exact_evm_nonce_already_used",
    InvalidExactEvmPayloadAuthorizationValidAfter => "invalid_exact_evm_payload_authorization_valid_after",
    InvalidExactEvmPayloadAuthorizationValidBefore => "invalid_exact_evm_payload_authorization_valid_before",
    InvalidExactEvmPayloadAuthorizationValueMismatch => "invalid_exact_evm_payload_authorization_value_mismatch",
    InvalidExactEvmPayloadRecipientMismatch => "invalid_exact_evm_payload_recipient_mismatch",
    InvalidExactEvmPayloadSignature => "invalid_exact_evm_payload_signature",
    InvalidNetwork => "invalid_network",
    InvalidPayload => "invalid_payload",
    InvalidPaymentHeader => "invalid_payment_header",
    InvalidPaymentIdentifier => "invalid_payment_identifier",
    InvalidX402Version => "invalid_x402_version",
    PaymentAlreadySettled => "payment_already_settled",
    PaymentAlreadyUsed => "payment_already_used",
    PaymentConflict => "payment_conflict",
    PaymentHeaderTooLarge => "payment_header_too_large",
    PaymentIdentifierConflict => "payment_identifier_conflict",
    PayerBlocked => "payer_blocked",
    PayerDailyCapExceeded => "payer_daily_cap_exceeded",
    PayerRateLimited => "payer_rate_limited",
    TooManyPayers => "too_many_payers",
    // An operator's change to a payer (a `policy` ledger event).
    OperatorBlock => "operator_block",
    OperatorUnblock => "operator_unblock",
    OperatorCap => "operator_cap",
    // Why a verified payment was not charged, or an unverified one refused (the ledger).
    FacilitatorUnavailable => "facilitator_unavailable",
    OriginFailed => "origin_failed",
    OriginUnavailable => "origin_unavailable",
    OriginUndeliverable => "origin_undeliverable",
    Unsettleable => "unsettleable",
    StorageUnavailable => "storage_unavailable",
    Abandoned => "abandoned",
    UnsupportedScheme => "unsupported_scheme",
}

/// The client sent a payment that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentError {
    /// The header could not be decoded into a typed payload (400).
    Malformed(Code),
    /// The payload does not match the route's requirements (402, fresh challenge).
    Mismatch(Code),
    /// The facilitator judged the payment invalid (402); its reason code, sanitised.
    Rejected(String),
    /// Settlement failed after a valid verify (402, content withheld).
    SettleFailed(String),
    /// The payment conflicts with what is recorded for it (409): another payload under
    /// the same key or payment identifier, or a settled payment that cannot be replayed.
    Conflict(Code),
    /// The payer may not pay here (403): blocked, or not on the allow list.
    Forbidden(Code),
    /// Another request is processing the same payment (409, `Retry-After`).
    InProgress {
        /// Seconds to wait before retrying.
        retry_after_s: u64,
    },
    /// The payment would take its payer over its daily cap (402 with a fresh challenge,
    /// `payer_daily_cap_exceeded`, `Retry-After` until the next UTC day).
    OverCap {
        /// Seconds to the next UTC day.
        retry_after_s: u64,
    },
    /// The payer is over its rate (`payer_rate_limited`), or too many payers pay this
    /// minute (`too_many_payers`): 429, `Retry-After`.
    Limited {
        /// Which.
        code: Code,
        /// Seconds to wait.
        retry_after_s: u64,
    },
}

/// A dependency failed; the client is neither charged nor served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The facilitator could not be reached or did not answer in time.
    FacilitatorUnavailable(TransportError),
    /// The facilitator answered something that is not a valid x402 response.
    FacilitatorBadAnswer(String),
    /// A storage backend failed.
    Store(StoreError),
    /// The origin could not be reached.
    OriginUnavailable(String),
    /// `/settle` did not answer: the payment may or may not have settled. A retry of the
    /// same request resolves it without charging twice.
    SettlementUnknown(TransportError),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FacilitatorUnavailable(e) => write!(f, "facilitator unavailable: {e}"),
            Self::FacilitatorBadAnswer(e) => write!(f, "facilitator answered badly: {e}"),
            Self::Store(e) => write!(f, "{e}"),
            Self::OriginUnavailable(e) => write!(f, "origin unavailable: {e}"),
            Self::SettlementUnknown(e) => write!(f, "settlement unknown: {e}"),
        }
    }
}

impl From<StoreError> for UpstreamError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The request itself cannot be priced safely, before any payment is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The path cannot be normalised safely, or common origins would read it as another
    /// resource than the one it would be priced as (400 `bad_path`).
    BadPath,
    /// A `_method` override (query or form field) on a path where it would change the
    /// price (400 `method_override_refused`).
    MethodOverride,
    /// A body too large to inspect for a `_method` override (413 `body_too_large`).
    BodyTooLarge,
    /// A compressed body where a `_method` field would change the price: it cannot be
    /// looked into (415 `unsupported_content_encoding`).
    EncodedBody,
    /// A body in a charset that parsers decode before they read fields, where an override
    /// would change the price (415 `unsupported_charset`).
    UnusualCharset,
    /// The request body could not be read (the client went away mid-upload; 400
    /// `body_unreadable`).
    BodyUnreadable,
    /// A priced request for a host not in `ALLOWED_HOSTS` (421 `unknown_host`).
    UnknownHost,
    /// The method cannot be carried to the origin by this runtime (501
    /// `method_not_supported`).
    MethodNotSupported,
}

/// Everything that can stop a request, from every phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request, before payment.
    Request(RequestError),
    /// The paywall's configuration (or deployment: a missing binding) is unusable. The
    /// cause is for the log; `None` means the setup's own error, logged with it.
    Misconfigured(Option<String>),
    /// The client's payment.
    Payment(PaymentError),
    /// A dependency.
    Upstream(UpstreamError),
    /// The paywall failed in a way no phase above names (a response it could not build).
    /// The cause is for the log.
    Internal(String),
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Self {
        Self::Request(e)
    }
}

impl From<PaymentError> for Failure {
    fn from(e: PaymentError) -> Self {
        Self::Payment(e)
    }
}

impl From<UpstreamError> for Failure {
    fn from(e: UpstreamError) -> Self {
        Self::Upstream(e)
    }
}

impl Failure {
    /// The HTTP status. The only place in the product that picks an error status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Request(RequestError::BadPath | RequestError::MethodOverride | RequestError::BodyUnreadable) => 400,
            Self::Request(RequestError::BodyTooLarge) => 413,
            Self::Request(RequestError::EncodedBody | RequestError::UnusualCharset) => 415,
            Self::Request(RequestError::UnknownHost) => 421,
            Self::Request(RequestError::MethodNotSupported) => 501,
            Self::Misconfigured(_) | Self::Internal(_) => 500,
            Self::Payment(PaymentError::Malformed(_)) => 400,
            Self::Payment(PaymentError::Forbidden(_)) => 403,
            Self::Payment(PaymentError::Conflict(_)) | Self::Payment(PaymentError::InProgress { .. }) => 409,
            Self::Payment(PaymentError::Limited { .. }) => 429,
            Self::Payment(_) => 402,
            Self::Upstream(UpstreamError::FacilitatorUnavailable(_))
            | Self::Upstream(UpstreamError::FacilitatorBadAnswer(_))
            | Self::Upstream(UpstreamError::OriginUnavailable(_))
            | Self::Upstream(UpstreamError::SettlementUnknown(_)) => 502,
            Self::Upstream(UpstreamError::Store(_)) => 503,
        }
    }

    /// The stable, machine-readable reason shown to the client (`"error"` field).
    pub fn reason(&self) -> String {
        match self {
            Self::Request(RequestError::BadPath) => "bad_path".into(),
            Self::Request(RequestError::MethodOverride) => "method_override_refused".into(),
            Self::Request(RequestError::BodyTooLarge) => "body_too_large".into(),
            Self::Request(RequestError::BodyUnreadable) => "body_unreadable".into(),
            Self::Request(RequestError::EncodedBody) => "unsupported_content_encoding".into(),
            Self::Request(RequestError::UnusualCharset) => "unsupported_charset".into(),
            Self::Request(RequestError::UnknownHost) => "unknown_host".into(),
            Self::Request(RequestError::MethodNotSupported) => "method_not_supported".into(),
            Self::Misconfigured(_) => "paywall_misconfigured".into(),
            Self::Internal(_) => "internal_error".into(),
            Self::Payment(PaymentError::Malformed(why))
            | Self::Payment(PaymentError::Mismatch(why))
            | Self::Payment(PaymentError::Conflict(why))
            | Self::Payment(PaymentError::Forbidden(why)) => why.code().into(),
            Self::Payment(PaymentError::InProgress { .. }) => "payment_in_progress".into(),
            Self::Payment(PaymentError::OverCap { .. }) => Code::PayerDailyCapExceeded.code().into(),
            Self::Payment(PaymentError::Limited { code, .. }) => code.code().into(),
            Self::Upstream(UpstreamError::SettlementUnknown(_)) => "settlement_unknown".into(),
            Self::Payment(PaymentError::Rejected(why)) | Self::Payment(PaymentError::SettleFailed(why)) => why.clone(),
            Self::Upstream(UpstreamError::FacilitatorUnavailable(_))
            | Self::Upstream(UpstreamError::FacilitatorBadAnswer(_)) => "facilitator_unavailable".into(),
            Self::Upstream(UpstreamError::Store(_)) => "storage_unavailable".into(),
            Self::Upstream(UpstreamError::OriginUnavailable(_)) => "origin_unavailable".into(),
        }
    }

    /// Seconds for a `Retry-After` header, when retrying the same request is the way on.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Payment(PaymentError::InProgress { retry_after_s })
            | Self::Payment(PaymentError::OverCap { retry_after_s })
            | Self::Payment(PaymentError::Limited { retry_after_s, .. }) => Some(*retry_after_s),
            Self::Upstream(UpstreamError::SettlementUnknown(_)) => Some(2),
            _ => None,
        }
    }

    /// Whether the answer carries a fresh 402 challenge.
    pub fn wants_challenge(&self) -> bool {
        self.status() == 402
    }
}

/// Reduces a facilitator's reason code to a safe token: `[a-z0-9_]`, at most 64
/// characters; anything else becomes `payment_rejected`. Keeps upstream prose (and any
/// secret it might echo) out of client responses.
pub fn sanitize_reason(raw: Option<&str>, fallback: &str) -> String {
    match raw {
        Some(r)
            if !r.is_empty()
                && r.len() <= 64
                && r.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') =>
        {
            r.to_string()
        }
        _ => fallback.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_and_each_a_reason() {
        let mut seen = std::collections::BTreeSet::new();
        for &code in Code::ALL {
            let text = code.code();
            assert!(
                !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(Failure::from(PaymentError::Mismatch(code)).reason(), text);
        }
    }

    #[test]
    fn statuses_and_reasons() {
        for (failure, status, reason) in [
            (RequestError::BadPath.into(), 400, "bad_path"),
            (RequestError::MethodOverride.into(), 400, "method_override_refused"),
            (RequestError::BodyTooLarge.into(), 413, "body_too_large"),
            (RequestError::BodyUnreadable.into(), 400, "body_unreadable"),
            (RequestError::EncodedBody.into(), 415, "unsupported_content_encoding"),
            (RequestError::UnusualCharset.into(), 415, "unsupported_charset"),
            (RequestError::UnknownHost.into(), 421, "unknown_host"),
            (RequestError::MethodNotSupported.into(), 501, "method_not_supported"),
            (Failure::Misconfigured(None), 500, "paywall_misconfigured"),
            (Failure::Misconfigured(Some("no KV binding".into())), 500, "paywall_misconfigured"),
            (Failure::Internal("headers".into()), 500, "internal_error"),
            (PaymentError::Malformed(Code::InvalidPayload).into(), 400, "invalid_payload"),
            (PaymentError::Mismatch(Code::AmountMismatch).into(), 402, "amount_mismatch"),
            (PaymentError::Rejected("insufficient_funds".into()).into(), 402, "insufficient_funds"),
            (UpstreamError::FacilitatorUnavailable(TransportError::Timeout).into(), 502, "facilitator_unavailable"),
            (UpstreamError::FacilitatorBadAnswer("x".into()).into(), 502, "facilitator_unavailable"),
            (UpstreamError::Store(StoreError("kv down".into())).into(), 503, "storage_unavailable"),
            (PaymentError::Conflict(Code::PaymentConflict).into(), 409, "payment_conflict"),
            (PaymentError::InProgress { retry_after_s: 1 }.into(), 409, "payment_in_progress"),
            (PaymentError::Forbidden(Code::PayerBlocked).into(), 403, "payer_blocked"),
            (PaymentError::OverCap { retry_after_s: 9 }.into(), 402, "payer_daily_cap_exceeded"),
            (
                PaymentError::Limited { code: Code::PayerRateLimited, retry_after_s: 2 }.into(),
                429,
                "payer_rate_limited",
            ),
            (PaymentError::Limited { code: Code::TooManyPayers, retry_after_s: 2 }.into(), 429, "too_many_payers"),
            (UpstreamError::SettlementUnknown(TransportError::Timeout).into(), 502, "settlement_unknown"),
        ] {
            let f: Failure = failure;
            assert_eq!((f.status(), f.reason().as_str()), (status, reason), "{f:?}");
        }
    }

    #[test]
    fn reasons_are_sanitised() {
        for (raw, want) in [
            (Some("insufficient_funds"), "insufficient_funds"),
            (Some("Error: connect ECONNREFUSED 10.0.0.1:443"), "payment_rejected"),
            (Some("has space"), "payment_rejected"),
            (Some(""), "payment_rejected"),
            (None, "payment_rejected"),
        ] {
            assert_eq!(sanitize_reason(raw, "payment_rejected"), want, "{raw:?}");
        }
        let long = "a".repeat(65);
        assert_eq!(sanitize_reason(Some(&long), "payment_rejected"), "payment_rejected");
    }
}
