//! The facilitator port: `verify` (lock) and `settle` (release) of a payment, with the
//! HTTP implementation that speaks the x402 facilitator API over any [`HttpClient`].
//!
//! Answers are parsed fail-safe: the body is read on any HTTP status (real facilitators
//! answer 400 with `isValid:false`), and a missing or non-boolean `isValid` / `success`
//! is a failure, never a pass.
#![allow(async_fn_in_trait)]

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::codec::to_json;
use crate::error::UpstreamError;
use crate::payment::Payment;
use crate::ports::HttpClient;
use crate::requirements::PaymentOption;
use crate::x402::{ResourceInfo, X402Version};

/// What a facilitator is asked about: a decoded payment and the option it pays for.
#[derive(Debug, Clone, Copy)]
pub struct FacilitatorRequest<'a> {
    /// The client's payment.
    pub payment: &'a Payment,
    /// The route option it was matched to.
    pub option: &'a PaymentOption,
    /// The resource paid for.
    pub resource: &'a ResourceInfo,
}

/// A facilitator's judgement of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyResponse {
    /// True only when the facilitator said exactly `"isValid": true`.
    pub is_valid: bool,
    /// The facilitator's reason code when invalid.
    pub invalid_reason: Option<String>,
    /// The payer's address as the facilitator saw it.
    pub payer: Option<String>,
}

/// A facilitator's settlement result; also the body of `PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// True only when the facilitator said exactly `"success": true`.
    pub success: bool,
    /// The facilitator's reason code on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Payer address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Transaction hash (empty on failure).
    pub transaction: String,
    /// Network, in the version's own form (CAIP-2 for v2, v1 name for v1).
    pub network: String,
    /// Extensions (the signed receipt goes in `offer-receipt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// Verifies and settles payments.
pub trait Facilitator {
    /// `POST /verify`: is this payment good for this option? Nothing moves.
    async fn verify(&self, req: &FacilitatorRequest<'_>) -> Result<VerifyResponse, UpstreamError>;
    /// `POST /settle`: move the money. Called only after the origin succeeded.
    async fn settle(&self, req: &FacilitatorRequest<'_>) -> Result<SettleResponse, UpstreamError>;
    /// Who it is, for the ledger: `paper`, or the facilitator's host.
    fn name(&self) -> &str;
}

/// One of two facilitators, chosen by configuration (paper or HTTP).
#[derive(Debug)]
pub enum Either<A, B> {
    /// The first kind.
    Left(A),
    /// The second kind.
    Right(B),
}

impl<A: Facilitator, B: Facilitator> Facilitator for Either<A, B> {
    async fn verify(&self, req: &FacilitatorRequest<'_>) -> Result<VerifyResponse, UpstreamError> {
        match self {
            Self::Left(a) => a.verify(req).await,
            Self::Right(b) => b.verify(req).await,
        }
    }
    fn name(&self) -> &str {
        match self {
            Self::Left(a) => a.name(),
            Self::Right(b) => b.name(),
        }
    }

    async fn settle(&self, req: &FacilitatorRequest<'_>) -> Result<SettleResponse, UpstreamError> {
        match self {
            Self::Left(a) => a.settle(req).await,
            Self::Right(b) => b.settle(req).await,
        }
    }
}

/// The JSON body of `/verify` and `/settle`: `{x402Version, paymentPayload,
/// paymentRequirements}`, requirements in the payment's own protocol version.
pub fn request_body(req: &FacilitatorRequest<'_>) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a, R: Serialize> {
        x402_version: X402Version,
        payment_payload: &'a RawValue,
        payment_requirements: R,
    }
    let payload = &*req.payment.raw;
    match req.payment.version {
        X402Version::V2 => to_json(&Body {
            x402_version: X402Version::V2,
            payment_payload: payload,
            payment_requirements: req.option.to_v2(),
        }),
        X402Version::V1 => to_json(&Body {
            x402_version: X402Version::V1,
            payment_payload: payload,
            payment_requirements: req.option.to_v1(req.resource),
        }),
    }
}

fn parse_object(body: &str) -> Result<Map<String, Value>, UpstreamError> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(UpstreamError::FacilitatorBadAnswer("body is not a JSON object".into())),
    }
}

fn string_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Parses a `/verify` answer of any HTTP status, fail-safe.
pub fn parse_verify(status: u16, body: &str) -> Result<VerifyResponse, UpstreamError> {
    let map = parse_object(body).map_err(|e| with_status(e, status))?;
    let is_valid = match map.get("isValid") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(UpstreamError::FacilitatorBadAnswer(format!("HTTP {status}: isValid missing or not a boolean")))
        }
    };
    if is_valid && !(200..300).contains(&status) {
        return Err(UpstreamError::FacilitatorBadAnswer(format!("HTTP {status} with isValid true")));
    }
    Ok(VerifyResponse {
        is_valid,
        invalid_reason: string_field(&map, "invalidReason"),
        payer: string_field(&map, "payer"),
    })
}

/// Parses a `/settle` answer of any HTTP status, fail-safe.
pub fn parse_settle(status: u16, body: &str) -> Result<SettleResponse, UpstreamError> {
    let map = parse_object(body).map_err(|e| with_status(e, status))?;
    let success = match map.get("success") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(UpstreamError::FacilitatorBadAnswer(format!("HTTP {status}: success missing or not a boolean")))
        }
    };
    let transaction = string_field(&map, "transaction").unwrap_or_default();
    if success && (!(200..300).contains(&status) || transaction.is_empty()) {
        return Err(UpstreamError::FacilitatorBadAnswer(format!("HTTP {status}: success without a transaction")));
    }
    Ok(SettleResponse {
        success,
        error_reason: string_field(&map, "errorReason"),
        payer: string_field(&map, "payer"),
        transaction,
        network: string_field(&map, "network").unwrap_or_default(),
        extensions: None,
    })
}

fn with_status(e: UpstreamError, status: u16) -> UpstreamError {
    match e {
        UpstreamError::FacilitatorBadAnswer(why) => {
            UpstreamError::FacilitatorBadAnswer(format!("HTTP {status}: {why}"))
        }
        other => other,
    }
}

/// A facilitator reached over HTTP at `base_url` (no trailing slash).
#[derive(Debug, Clone)]
pub struct HttpFacilitator<H> {
    base_url: String,
    http: H,
}

impl<H: HttpClient> HttpFacilitator<H> {
    /// A facilitator at `base_url` (`https://x402.org/facilitator`), reached through `http`.
    pub fn new(base_url: &str, http: H) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_string(), http }
    }

    async fn post(&self, path: &str, req: &FacilitatorRequest<'_>) -> Result<(u16, String), UpstreamError> {
        let url = format!("{}/{path}", self.base_url);
        let reply =
            self.http.post_json(&url, &request_body(req)).await.map_err(UpstreamError::FacilitatorUnavailable)?;
        Ok((reply.status, reply.body))
    }
}

impl<H: HttpClient> Facilitator for HttpFacilitator<H> {
    async fn verify(&self, req: &FacilitatorRequest<'_>) -> Result<VerifyResponse, UpstreamError> {
        let (status, body) = self.post("verify", req).await?;
        parse_verify(status, &body)
    }

    async fn settle(&self, req: &FacilitatorRequest<'_>) -> Result<SettleResponse, UpstreamError> {
        let (status, body) = self.post("settle", req).await?;
        parse_settle(status, &body)
    }

    fn name(&self) -> &str {
        // `scheme://host[:port]/path`: the host and port.
        let rest = self.base_url.split_once("://").map_or(self.base_url.as_str(), |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures_executor::block_on;

    use super::*;
    use crate::payment::tests::spec_option;
    use crate::payment::{decode, PaymentHeader};
    use crate::ports::{HttpReply, TransportError};

    #[test]
    fn verify_answers_are_parsed_fail_safe() {
        for (status, body, want) in [
            (200, r#"{"isValid":true,"payer":"0xab"}"#, Ok((true, None))),
            (400, r#"{"isValid":false,"invalidReason":"insufficient_funds"}"#, Ok((false, Some("insufficient_funds")))),
            (200, r#"{"isValid":"true"}"#, Err(())),
            (200, r#"{"isValid":1}"#, Err(())),
            (200, r#"{}"#, Err(())),
            (200, r#"[true]"#, Err(())),
            (500, "<html>oops</html>", Err(())),
            (500, r#"{"isValid":true}"#, Err(())),
        ] {
            let got = parse_verify(status, body);
            let got = got.as_ref().map(|v| (v.is_valid, v.invalid_reason.as_deref())).map_err(|_| ());
            assert_eq!(got, want, "{status} {body}");
        }
    }

    #[test]
    fn settle_answers_are_parsed_fail_safe() {
        for (status, body, want) in [
            (200, r#"{"success":true,"transaction":"0x12","network":"eip155:84532"}"#, Ok(true)),
            (400, r#"{"success":false,"errorReason":"insufficient_funds","transaction":""}"#, Ok(false)),
            (200, r#"{"success":true,"transaction":""}"#, Err(())),
            (200, r#"{"success":"yes","transaction":"0x12"}"#, Err(())),
            (200, r#"{"transaction":"0x12"}"#, Err(())),
            (502, "Bad Gateway", Err(())),
            (500, r#"{"success":true,"transaction":"0x12"}"#, Err(())),
        ] {
            let got = parse_settle(status, body).map(|s| s.success).map_err(|_| ());
            assert_eq!(got, want, "{status} {body}");
        }
    }

    struct FakeHttp {
        answer: Result<HttpReply, TransportError>,
        seen: RefCell<Vec<(String, String)>>,
    }

    impl HttpClient for FakeHttp {
        async fn post_json(&self, url: &str, body: &str) -> Result<HttpReply, TransportError> {
            self.seen.borrow_mut().push((url.to_string(), body.to_string()));
            self.answer.clone()
        }
    }

    #[test]
    fn http_facilitator_posts_the_x402_body_and_maps_transport_failures() {
        let payment = decode(PaymentHeader::V2(crate::x402::tests::SPEC_PAYMENT_SIGNATURE)).unwrap();
        let option = spec_option();
        let resource =
            ResourceInfo { url: "https://api.example.com/premium-data".into(), description: None, mime_type: None };
        let req = FacilitatorRequest { payment: &payment, option: &option, resource: &resource };
        let ok = FakeHttp {
            answer: Ok(HttpReply { status: 200, body: r#"{"isValid":true}"#.into() }),
            seen: RefCell::default(),
        };
        let f = HttpFacilitator::new("https://fac.example/", ok);
        assert!(block_on(f.verify(&req)).unwrap().is_valid);
        let (url, body) = f.http.seen.borrow()[0].clone();
        assert_eq!(url, "https://fac.example/verify");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["x402Version"], 2);
        assert_eq!(body["paymentRequirements"]["amount"], "10000");
        assert_eq!(body["paymentRequirements"]["network"], "eip155:84532");
        assert_eq!(body["paymentPayload"]["payload"]["authorization"]["nonce"], payment.evm.authorization.nonce_hex());

        for (err, want) in
            [(TransportError::Timeout, "timed out"), (TransportError::Failed("refused".into()), "refused")]
        {
            let down = FakeHttp { answer: Err(err.clone()), seen: RefCell::default() };
            let f = HttpFacilitator::new("https://fac.example", down);
            let got = block_on(f.settle(&req));
            assert_eq!(got, Err(UpstreamError::FacilitatorUnavailable(err)), "{want}");
        }
    }

    #[test]
    fn v1_payments_get_v1_requirements() {
        let spec = serde_json::from_slice::<Value>(
            &crate::codec::base64_decode(crate::x402::tests::SPEC_PAYMENT_SIGNATURE).unwrap(),
        )
        .unwrap();
        let v1 =
            serde_json::json!({"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":spec["payload"]});
        let header = crate::codec::base64_encode(v1.to_string().as_bytes());
        let payment = decode(PaymentHeader::V1(&header)).unwrap();
        let option = spec_option();
        let resource = ResourceInfo { url: "https://x.test/r".into(), description: Some("d".into()), mime_type: None };
        let body: Value = serde_json::from_str(&request_body(&FacilitatorRequest {
            payment: &payment,
            option: &option,
            resource: &resource,
        }))
        .unwrap();
        assert_eq!(body["x402Version"], 1);
        assert_eq!(body["paymentRequirements"]["network"], "base-sepolia");
        assert_eq!(body["paymentRequirements"]["maxAmountRequired"], "10000");
        assert_eq!(body["paymentRequirements"]["resource"], "https://x.test/r");
        assert_eq!(body["paymentPayload"], v1);
    }
}
