//! The escrow order, with fakes that fail at every step.

use std::cell::{Cell, RefCell};

use futures_executor::block_on;

use super::*;
use crate::codec::base64_decode;
use crate::error::UpstreamError;
use crate::facilitator::VerifyResponse;
use crate::payment::tests::{spec_option, SPEC_NOW};
use crate::ports::TransportError;
use crate::receipt::verify as verify_receipt;
use crate::x402::tests::SPEC_PAYMENT_SIGNATURE;

const SEED: [u8; 32] = [7; 32];

/// A facilitator that answers what it is told and counts calls.
struct FakeFacilitator {
    verify: Result<VerifyResponse, UpstreamError>,
    settle: Result<SettleResponse, UpstreamError>,
    calls: RefCell<Vec<&'static str>>,
}

impl FakeFacilitator {
    fn ok() -> Self {
        Self {
            verify: Ok(VerifyResponse { is_valid: true, invalid_reason: None, payer: None }),
            settle: Ok(SettleResponse {
                success: true,
                error_reason: None,
                payer: Some("0x857b06519E91e3A54538791bDbb0E22373e36b66".into()),
                transaction: "0xabc".into(),
                network: "eip155:84532".into(),
                extensions: None,
            }),
            calls: RefCell::default(),
        }
    }
}

impl Facilitator for FakeFacilitator {
    async fn verify(&self, _: &FacilitatorRequest<'_>) -> Result<VerifyResponse, UpstreamError> {
        self.calls.borrow_mut().push("verify");
        self.verify.clone()
    }
    async fn settle(&self, _: &FacilitatorRequest<'_>) -> Result<SettleResponse, UpstreamError> {
        self.calls.borrow_mut().push("settle");
        self.settle.clone()
    }
}

/// An origin that answers a status, or fails, and counts calls.
struct FakeOrigin {
    answer: Result<u16, TransportError>,
    calls: Cell<u32>,
}

impl FakeOrigin {
    fn status(status: u16) -> Self {
        Self { answer: Ok(status), calls: Cell::new(0) }
    }
}

impl Origin for FakeOrigin {
    type Response = u16;
    async fn call(&self) -> Result<u16, TransportError> {
        self.calls.set(self.calls.get() + 1);
        self.answer.clone()
    }
    fn status(response: &u16) -> u16 {
        *response
    }
}

struct Now(u64);

impl Clock for Now {
    fn now_unix(&self) -> u64 {
        self.0
    }
}

fn route() -> PricedRoute {
    PricedRoute {
        pattern: "GET /premium-data".into(),
        description: "Access to premium market data".into(),
        mime_type: "application/json".into(),
        options: vec![spec_option()],
    }
}

fn resource() -> ResourceInfo {
    ResourceInfo { url: "https://api.example.com/premium-data".into(), description: None, mime_type: None }
}

fn run(header: PaymentHeader<'_>, f: &FakeFacilitator, o: &FakeOrigin, now: u64) -> Outcome<u16> {
    let signer = ReceiptSigner::from_seed(SEED);
    let clock = Now(now);
    let ports = Ports { facilitator: f, origin: o, clock: &clock, signer: &signer };
    block_on(pay(&route(), header, &resource(), ports))
}

fn spec_header() -> PaymentHeader<'static> {
    PaymentHeader::V2(SPEC_PAYMENT_SIGNATURE)
}

#[test]
fn happy_path_verifies_calls_origin_settles_and_signs() {
    let f = FakeFacilitator::ok();
    let o = FakeOrigin::status(200);
    let Outcome::Paid { response, settlement } = run(spec_header(), &f, &o, SPEC_NOW) else { panic!("not paid") };
    assert_eq!(response, 200);
    assert_eq!(*f.calls.borrow(), ["verify", "settle"]);
    assert_eq!(o.calls.get(), 1);
    let json: serde_json::Value = serde_json::from_slice(&base64_decode(&settlement.header).unwrap()).unwrap();
    assert_eq!(json["success"], true);
    assert_eq!(json["transaction"], "0xabc");
    let jws = json["extensions"]["offer-receipt"]["info"]["receipt"]["signature"].as_str().unwrap();
    assert_eq!(jws, settlement.receipt);
    let signer = ReceiptSigner::from_seed(SEED);
    let claims = verify_receipt(jws, &signer.public_key(), signer.kid()).unwrap();
    assert_eq!(claims.transaction, "0xabc");
    assert_eq!(claims.amount, "10000");
    assert_eq!(claims.route, "GET /premium-data");
    assert_eq!(claims.resource_url, "https://api.example.com/premium-data");
    assert_eq!(claims.issued_at, SPEC_NOW);
    assert_eq!(claims.network, "eip155:84532");
}

#[test]
fn origin_failure_is_not_settled() {
    for status in [400, 404, 500, 503] {
        let f = FakeFacilitator::ok();
        let o = FakeOrigin::status(status);
        assert!(matches!(run(spec_header(), &f, &o, SPEC_NOW), Outcome::OriginFailed(s) if s == status));
        assert_eq!(*f.calls.borrow(), ["verify"], "{status}");
    }
    let f = FakeFacilitator::ok();
    let o = FakeOrigin { answer: Err(TransportError::Failed("refused".into())), calls: Cell::new(0) };
    let Outcome::Refused { failure, .. } = run(spec_header(), &f, &o, SPEC_NOW) else { panic!() };
    assert_eq!(failure.reason(), "origin_unavailable");
    assert_eq!(*f.calls.borrow(), ["verify"]);
}

/// Each failure stops the flow at the right step: (what fails, status, reason, facilitator
/// calls, origin calls, failed settle header present).
#[test]
fn failures_stop_at_the_right_step() {
    type Setup = Box<dyn Fn(&mut FakeFacilitator)>;
    type Case = (&'static str, Setup, u16, &'static str, Vec<&'static str>, u32, bool);
    let cases: Vec<Case> = vec![
        (
            "verify unreachable",
            Box::new(|f| f.verify = Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout))),
            502,
            "facilitator_unavailable",
            vec!["verify"],
            0,
            false,
        ),
        (
            "verify invalid",
            Box::new(|f| {
                f.verify = Ok(VerifyResponse {
                    is_valid: false,
                    invalid_reason: Some("insufficient_funds".into()),
                    payer: None,
                })
            }),
            402,
            "insufficient_funds",
            vec!["verify"],
            0,
            false,
        ),
        (
            "verify invalid with prose",
            Box::new(|f| {
                f.verify = Ok(VerifyResponse {
                    is_valid: false,
                    invalid_reason: Some("RPC at 10.0.0.3 failed".into()),
                    payer: None,
                })
            }),
            402,
            "payment_rejected",
            vec!["verify"],
            0,
            false,
        ),
        (
            "settle unreachable",
            Box::new(|f| f.settle = Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout))),
            502,
            "facilitator_unavailable",
            vec!["verify", "settle"],
            1,
            false,
        ),
        (
            "settle refused",
            Box::new(|f| {
                f.settle = Ok(SettleResponse {
                    success: false,
                    error_reason: Some("invalid_transaction_state".into()),
                    payer: None,
                    transaction: String::new(),
                    network: "eip155:84532".into(),
                    extensions: None,
                })
            }),
            402,
            "invalid_transaction_state",
            vec!["verify", "settle"],
            1,
            true,
        ),
    ];
    for (name, setup, status, reason, calls, origin_calls, settle_header) in cases {
        let mut f = FakeFacilitator::ok();
        setup(&mut f);
        let o = FakeOrigin::status(200);
        let Outcome::Refused { failure, settle_header: got_header } = run(spec_header(), &f, &o, SPEC_NOW) else {
            panic!("{name}: not refused")
        };
        assert_eq!((failure.status(), failure.reason().as_str()), (status, reason), "{name}");
        assert_eq!(*f.calls.borrow(), calls, "{name}");
        assert_eq!(o.calls.get(), origin_calls, "{name}");
        assert_eq!(got_header.is_some(), settle_header, "{name}");
    }
}

#[test]
fn bad_payments_never_reach_the_facilitator() {
    for (header, now, status) in [
        (PaymentHeader::V2("not base64!"), SPEC_NOW, 400),
        (spec_header(), SPEC_NOW + 3600, 402),
        (PaymentHeader::V1(SPEC_PAYMENT_SIGNATURE), SPEC_NOW, 400),
    ] {
        let f = FakeFacilitator::ok();
        let o = FakeOrigin::status(200);
        let Outcome::Refused { failure, .. } = run(header, &f, &o, now) else { panic!("{header:?}") };
        assert_eq!(failure.status(), status, "{header:?}");
        assert!(f.calls.borrow().is_empty());
        assert_eq!(o.calls.get(), 0);
    }
}
