//! The escrow flow and its exactly-once records, with fakes that fail at every step.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::LazyLock;

use futures_executor::block_on;

use super::*;
use crate::codec::{base64_decode, base64_encode};
use crate::facilitator::{SettleResponse, VerifyResponse};
use crate::fakes::{FixedClock, KeptAlerts, MemoryArbiter, SettlingArbiter};
use crate::once::{Record, SettleOrder};
use crate::payment::tests::{spec_option, SPEC_NOW};
use crate::ports::{Kept, StoreError, TransportError};
use crate::receipt::verify as verify_receipt;
use crate::testkit::{self, Payer};
use crate::x402::tests::SPEC_PAYMENT_SIGNATURE;

const SEED: [u8; 32] = [7; 32];
/// The origin paid requests go to (the payment context's audience).
const ORIGIN: &str = "http://origin.test:8080";

/// The path the test origin receives for a binding: it sits under `/base`.
fn origin_path(binding: &str) -> String {
    let path = binding.split_once(' ').map_or(binding, |(_, rest)| rest);
    format!("/base{}", path.split('?').next().unwrap_or_default())
}

/// The request as the test origin receives it: the method as sent (the binding's here).
fn forward<'a>(binding: &'a str, path: &'a str) -> Forward<'a> {
    Forward { audience: ORIGIN, method: binding.split(' ').next().unwrap_or_default(), path }
}

fn settled_ok() -> SettleResponse {
    SettleResponse {
        success: true,
        error_reason: None,
        payer: Some("0x857b06519E91e3A54538791bDbb0E22373e36b66".into()),
        transaction: "0xabc".into(),
        network: "eip155:84532".into(),
        extensions: None,
    }
}

fn settle_refused(reason: &str) -> SettleResponse {
    SettleResponse { success: false, error_reason: Some(reason.into()), transaction: String::new(), ..settled_ok() }
}

/// A facilitator that answers from queues (then defaults) and counts calls.
#[derive(Default)]
struct FakeFacilitator {
    verify: RefCell<VecDeque<Result<VerifyResponse, UpstreamError>>>,
    settle: RefCell<VecDeque<Result<SettleResponse, UpstreamError>>>,
    verifies: Cell<u32>,
    settles: Cell<u32>,
}

impl FakeFacilitator {
    fn then_verify(&self, answer: Result<VerifyResponse, UpstreamError>) {
        self.verify.borrow_mut().push_back(answer);
    }
    fn then_settle(&self, answer: Result<SettleResponse, UpstreamError>) {
        self.settle.borrow_mut().push_back(answer);
    }
}

impl Facilitator for FakeFacilitator {
    fn name(&self) -> &str {
        "fake.facilitator.test"
    }
    async fn verify(&self, _: &FacilitatorRequest<'_>) -> Result<VerifyResponse, UpstreamError> {
        self.verifies.set(self.verifies.get() + 1);
        let default = Ok(VerifyResponse { is_valid: true, invalid_reason: None, payer: None });
        self.verify.borrow_mut().pop_front().unwrap_or(default)
    }
    async fn settle(&self, _: &FacilitatorRequest<'_>) -> Result<SettleResponse, UpstreamError> {
        self.settles.set(self.settles.get() + 1);
        self.settle.borrow_mut().pop_front().unwrap_or(Ok(settled_ok()))
    }
}

/// An origin answering `status` with `body`, or failing; counts calls.
struct FakeOrigin {
    status: Cell<u16>,
    body: RefCell<Vec<u8>>,
    down: Cell<bool>,
    calls: Cell<u32>,
    /// The payment context of every call, in order.
    contexts: RefCell<Vec<String>>,
}

impl Default for FakeOrigin {
    fn default() -> Self {
        Self {
            status: Cell::new(200),
            body: RefCell::new(b"premium".to_vec()),
            down: Cell::new(false),
            calls: Cell::new(0),
            contexts: RefCell::new(Vec::new()),
        }
    }
}

impl Origin for FakeOrigin {
    type Response = (u16, Vec<u8>);
    async fn call(&self, context: &str) -> Result<(u16, Vec<u8>), TransportError> {
        self.calls.set(self.calls.get() + 1);
        self.contexts.borrow_mut().push(context.to_string());
        if self.down.get() {
            return Err(TransportError::Failed("refused".into()));
        }
        Ok((self.status.get(), self.body.borrow().clone()))
    }
    fn status(r: &(u16, Vec<u8>)) -> u16 {
        r.0
    }
    async fn keep(&self, r: (u16, Vec<u8>), limit: usize) -> Result<Kept<(u16, Vec<u8>)>, TransportError> {
        let body = (r.1.len() <= limit).then(|| r.1.clone());
        let stored = StoredResponse { status: r.0, headers: vec![("content-type".into(), "text/plain".into())], body };
        Ok(Kept { stored, response: r })
    }
}

/// Everything one test needs; `pay` runs one request against it.
struct World {
    facilitator: FakeFacilitator,
    origin: FakeOrigin,
    clock: FixedClock,
    arbiter: MemoryArbiter,
    signer: ReceiptSigner,
    route: PricedRoute,
    tokens: Cell<u32>,
    alerts: KeptAlerts,
    alert_after: Option<u32>,
}

impl World {
    fn new() -> Self {
        Self {
            facilitator: FakeFacilitator::default(),
            origin: FakeOrigin::default(),
            clock: FixedClock::new(SPEC_NOW),
            arbiter: MemoryArbiter::default(),
            signer: ReceiptSigner::from_seed(SEED),
            route: PricedRoute {
                pattern: "GET /premium-data".into(),
                description: "Access to premium market data".into(),
                mime_type: "application/json".into(),
                options: vec![spec_option()],
                template: Default::default(),
                policy: Default::default(),
                doc: Default::default(),
                bazaar: None,
            },
            tokens: Cell::new(0),
            alerts: KeptAlerts::default(),
            alert_after: None,
        }
    }

    fn pay_at(&self, header: PaymentHeader<'_>, binding: &str, refetchable: bool) -> Outcome<(u16, Vec<u8>)> {
        self.tokens.set(self.tokens.get() + 1);
        let token = format!("req-{}", self.tokens.get());
        let resource =
            ResourceInfo { url: "https://api.example.com/premium-data".into(), description: None, mime_type: None };
        let path = origin_path(binding);
        let target =
            Target { route: &self.route, resource: &resource, binding, refetchable, forward: forward(binding, &path) };
        let ports = Ports {
            facilitator: &self.facilitator,
            origin: &self.origin,
            clock: &self.clock,
            signer: &self.signer,
            arbiter: &self.settling(),
            claim_token: &token,
            timing: Timing::new(1_000, 1_000),
            alerts: &self.alerts,
            alert_after: self.alert_after,
        };
        block_on(pay(target, header, ports))
    }

    /// The arbiter as the Durable Object is: these rows, settle orders carried out with
    /// this world's facilitator.
    fn settling(&self) -> SettlingArbiter<'_, FakeFacilitator, FixedClock> {
        SettlingArbiter {
            rows: &self.arbiter,
            facilitator: &self.facilitator,
            clock: &self.clock,
            signer: &self.signer,
            route: &self.route,
        }
    }

    fn pay(&self) -> Outcome<(u16, Vec<u8>)> {
        self.pay_at(paid_header(), "GET /premium-data", true)
    }

    fn counts(&self) -> (u32, u32, u32) {
        (self.facilitator.verifies.get(), self.origin.calls.get(), self.facilitator.settles.get())
    }

    fn record(&self) -> Record {
        let key = PaymentKey::derive(&decode(paid_header()).unwrap(), &spec_option());
        self.arbiter.record(&key.0).expect("a record")
    }
}

/// A payment for the spec option, in the spec example's window, signed for real by test
/// payer 1 (the spec example's own signature recovers to nobody).
fn signed_json(nonce: u8) -> serde_json::Value {
    let option = spec_option();
    let payer = Payer::new(1);
    let auth = payer.authorization(&option, (SPEC_NOW - 11, SPEC_NOW + 54), nonce);
    testkit::v2_json(&option, &auth, &payer.sign(&option, &auth))
}

static PAID: LazyLock<String> = LazyLock::new(|| testkit::header(&signed_json(1)));

/// The payment most tests pay with.
fn paid_header() -> PaymentHeader<'static> {
    PaymentHeader::V2(&PAID)
}

/// A signed payload with a payment-identifier id; `other_payment`: another signed
/// authorization (another nonce) under the same id.
fn with_id(id: &str, other_payment: bool) -> String {
    let mut json = signed_json(if other_payment { 2 } else { 1 });
    json["extensions"] = serde_json::json!({"payment-identifier": {"info": {"required": false, "id": id}}});
    base64_encode(json.to_string().as_bytes())
}

/// (status, reason) of a refusal, ("paid", body) from the origin, ("replayed", body) from a
/// stored copy, or ("origin", status).
fn summary(o: &Outcome<(u16, Vec<u8>)>) -> (String, String) {
    match o {
        Outcome::Paid { response: Delivery::Stored(s), .. } => {
            ("replayed".into(), String::from_utf8_lossy(s.body.as_deref().unwrap_or_default()).into())
        }
        Outcome::Paid { response: Delivery::Live(r), .. } => ("paid".into(), String::from_utf8_lossy(&r.1).into()),
        Outcome::OriginFailed(r) => ("origin".into(), r.0.to_string()),
        Outcome::Refused { failure, .. } => (failure.status().to_string(), failure.reason()),
    }
}

fn settlement(o: &Outcome<(u16, Vec<u8>)>) -> Settlement {
    match o {
        Outcome::Paid { settlement, .. } => settlement.clone(),
        other => panic!("not paid: {:?}", summary(other)),
    }
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[test]
fn happy_path_verifies_calls_origin_settles_signs_and_records() {
    let w = World::new();
    let out = w.pay();
    assert_eq!(summary(&out), s("paid", "premium"));
    assert_eq!(w.counts(), (1, 1, 1));
    let settlement = settlement(&out);
    let json: serde_json::Value = serde_json::from_slice(&base64_decode(&settlement.header).unwrap()).unwrap();
    assert_eq!(json["success"], true);
    let jws = json["extensions"]["offer-receipt"]["info"]["receipt"]["signature"].as_str().unwrap();
    assert_eq!(jws, settlement.receipt);
    let claims = verify_receipt(jws, &w.signer.public_key(), w.signer.kid()).unwrap();
    assert_eq!((claims.transaction.as_str(), claims.amount.as_str()), ("0xabc", "10000"));
    assert_eq!(claims.route, "GET /premium-data");
    let record = w.record();
    assert_eq!(record.state, State::Settled);
    assert_eq!(record.settlement.unwrap().receipt, settlement.receipt);
    assert_eq!(
        w.arbiter.ops(),
        ["claim", "advance", "settle"],
        "the claim, the lock, the settle order (the arbiter settles)"
    );
}

#[test]
fn a_hundred_retries_settle_once_and_get_the_same_answer() {
    let w = World::new();
    let first = settlement(&w.pay());
    let arbiter_calls = w.arbiter.calls().len();
    for i in 0..100 {
        let again = w.pay();
        assert_eq!(summary(&again), s("replayed", "premium"), "retry {i}");
        assert_eq!(settlement(&again), first, "retry {i}");
    }
    assert_eq!(w.counts(), (1, 1, 1));
    assert_eq!(w.arbiter.calls().len(), arbiter_calls + 100, "one arbiter call (the claim) per retry");
}

#[test]
fn a_used_payment_cannot_buy_another_resource() {
    let w = World::new();
    w.pay();
    let other = w.pay_at(paid_header(), "GET /premium-data?other=1", true);
    assert_eq!(summary(&other), s("402", "payment_already_used"));
    assert_eq!(summary(&w.pay_at(paid_header(), "GET /premium-data?other=2", true)), s("402", "payment_already_used"));
    let w2 = World::new();
    w2.pay();
    assert_eq!(summary(&w2.pay_at(paid_header(), "POST /elsewhere", false)), s("402", "payment_already_used"));
    assert_eq!(w2.counts(), (1, 1, 1));
}

#[test]
fn payment_identifier_same_payload_replays_other_payload_conflicts() {
    let w = World::new();
    let id = "pay_7d5d747be160e280504c099d984bcfe0";
    let first = with_id(id, false);
    assert_eq!(summary(&w.pay_at(PaymentHeader::V2(&first), "GET /premium-data", true)), s("paid", "premium"));
    assert_eq!(summary(&w.pay_at(PaymentHeader::V2(&first), "GET /premium-data", true)), s("replayed", "premium"));
    let resigned = with_id(id, true);
    assert_eq!(
        summary(&w.pay_at(PaymentHeader::V2(&resigned), "GET /premium-data", true)),
        s("409", "payment_identifier_conflict")
    );
    assert_eq!(w.counts(), (1, 1, 1));
    let bad = with_id("short", false);
    assert_eq!(
        summary(&w.pay_at(PaymentHeader::V2(&bad), "GET /premium-data", true)),
        s("400", "invalid_payment_identifier")
    );
}

#[test]
fn a_duplicate_waits_a_bounded_time_then_gets_payment_in_progress() {
    let w = World::new();
    let mut held = World::new().claimed_elsewhere(SPEC_NOW * 1000 + 60_000);
    held.state = State::Claimed;
    w.arbiter.put_record(&w.key(), held);
    let out = w.pay();
    assert_eq!(summary(&out), s("409", "payment_in_progress"));
    let Outcome::Refused { failure, .. } = out else { panic!() };
    assert!(failure.retry_after().is_some());
    assert_eq!(w.counts(), (0, 0, 0), "a duplicate never calls the facilitator or the origin");
    let waited = w.clock.slept_ms();
    assert!((5_000..=5_200).contains(&waited), "waited {waited} ms");
}

#[test]
fn a_duplicate_gets_the_final_answer_when_it_lands_during_the_wait() {
    let w = World::new();
    // A first request settles, then its record is put back to "in flight" so that the
    // duplicate has to wait; the arbiter finishes it after a few polls.
    let first = settlement(&w.pay());
    let done = w.record();
    let mut in_flight = done.clone();
    in_flight.state = State::Settling;
    in_flight.lease_until_ms = w.clock.now_ms() + 30_000;
    w.arbiter.put_record(&w.key(), in_flight);
    let finisher = Finisher { inner: w.settling(), row: w.key(), record: done, after: Cell::new(3) };
    let out = w.pay_with_arbiter(&finisher);
    assert_eq!(settlement(&out), first);
    assert_eq!(w.counts(), (1, 1, 1));
}

#[test]
fn origin_failure_releases_and_the_same_payment_can_be_retried() {
    for (status, down) in [(500, false), (404, false), (200, true)] {
        let w = World::new();
        w.origin.status.set(status);
        w.origin.down.set(down);
        let out = w.pay();
        let want = if down { s("502", "origin_unavailable") } else { s("origin", &status.to_string()) };
        assert_eq!(summary(&out), want);
        assert_eq!(w.facilitator.settles.get(), 0, "nothing settled");
        assert_eq!(w.record().state, State::Released);
        w.origin.status.set(200);
        w.origin.down.set(false);
        assert_eq!(summary(&w.pay()), s("paid", "premium"));
        assert_eq!(w.facilitator.settles.get(), 1);
    }
}

#[test]
fn verify_unreachable_releases_verify_invalid_rejects_for_good() {
    let w = World::new();
    w.facilitator.then_verify(Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout)));
    assert_eq!(summary(&w.pay()), s("502", "facilitator_unavailable"));
    assert_eq!(w.record().state, State::Released);
    assert_eq!(w.origin.calls.get(), 0);
    w.facilitator.then_verify(Ok(VerifyResponse {
        is_valid: false,
        invalid_reason: Some("insufficient_funds".into()),
        payer: None,
    }));
    assert_eq!(summary(&w.pay()), s("402", "insufficient_funds"));
    assert_eq!(w.record().state, State::Rejected);
    assert_eq!(summary(&w.pay()), s("402", "insufficient_funds"), "the same answer, from the record");
    assert_eq!(w.counts(), (2, 0, 0));
}

#[test]
fn settle_refused_withholds_content_and_releases() {
    let w = World::new();
    w.facilitator.then_settle(Ok(settle_refused("insufficient_funds")));
    let out = w.pay();
    assert_eq!(summary(&out), s("402", "insufficient_funds"));
    let Outcome::Refused { settle_header, .. } = out else { panic!() };
    assert!(settle_header.is_some());
    assert_eq!(w.record().state, State::Released);
}

#[test]
fn an_order_the_arbiter_cannot_carry_out_settles_nothing() {
    // The arbiter's configuration lacks the route (a deploy between claim and settle): a
    // fresh claim is released (nothing was charged), a resumed one stays unknown.
    let w = World::new();
    let elsewhere = PricedRoute { pattern: "GET /other".into(), ..w.route.clone() };
    let arbiter = SettlingArbiter { route: &elsewhere, ..w.settling() };
    assert_eq!(summary(&w.pay_with_arbiter(&arbiter)), s("503", "storage_unavailable"));
    assert_eq!(w.counts(), (1, 1, 0), "verified and fetched, never settled");
    assert_eq!(w.record().state, State::Released);

    let w = World::new();
    let mut dead = w.claimed_elsewhere(SPEC_NOW * 1000 - 1);
    dead.state = State::Settling;
    dead.response = Some(StoredResponse { status: 200, headers: vec![], body: Some(b"stored".to_vec()) });
    w.arbiter.put_record(&w.key(), dead);
    let elsewhere = PricedRoute { pattern: "GET /other".into(), ..w.route.clone() };
    let arbiter = SettlingArbiter { route: &elsewhere, ..w.settling() };
    assert_eq!(summary(&w.pay_with_arbiter(&arbiter)), s("502", "settlement_unknown"));
    assert_eq!(w.counts(), (0, 0, 0));
    assert_eq!(w.record().state, State::Settling, "never released: it may have been charged");

    // The arbiter's route lists its options in another order (a deploy reordered them):
    // the order's index names another option than the one the payment was checked against.
    let w = World::new();
    let mut other = spec_option();
    other.amount = crate::amount::Amount(1);
    other.network = crate::network::Network { chain_id: 8453 };
    let reordered = PricedRoute { options: vec![other, spec_option()], ..w.route.clone() };
    let arbiter = SettlingArbiter { route: &reordered, ..w.settling() };
    assert_eq!(summary(&w.pay_with_arbiter(&arbiter)), s("503", "storage_unavailable"));
    assert_eq!(w.counts(), (1, 1, 0), "never settled against another option");
    assert_eq!(w.record().state, State::Released);
}

#[test]
fn settle_orders_are_checked_before_anything_is_written_or_called() {
    let w = World::new();
    let p = decode(paid_header()).unwrap();
    let key = PaymentKey::derive(&p, &spec_option());
    let mut record = w.claimed_elsewhere(SPEC_NOW * 1000 + 60_000);
    record.owner = "us".into();
    record.state = State::Settling;
    let good = SettleOrder {
        header: PAID.clone(),
        v1: false,
        route: w.route.pattern.clone(),
        option: 0,
        resource_url: "https://api.example.com/premium-data".into(),
        resuming: false,
        verified_at_ms: None,
    };
    let order = |edit: fn(&mut SettleOrder)| {
        let mut o = good.clone();
        edit(&mut o);
        o
    };
    let settle = |order: &SettleOrder| {
        let route = |p: &str| (p == w.route.pattern).then_some(std::borrow::Cow::Borrowed(&w.route));
        let write = |req| w.arbiter.step(req);
        block_on(settle_order(&key.0, record.clone(), order, route, &w.facilitator, &w.clock, &w.signer, write))
    };
    for (what, bad) in [
        ("another route", order(|o| o.route = "GET /nope".into())),
        ("no such option", order(|o| o.option = 1)),
        ("a header that does not decode", order(|o| o.header = "not base64!".into())),
        ("a v2 header said to be v1", order(|o| o.v1 = true)),
    ] {
        assert!(matches!(settle(&bad), ArbiterReply::Unsettleable { .. }), "{what}");
        assert!(w.arbiter.is_empty(), "{what}: nothing written");
    }
    // Someone else's claim: nothing settled.
    w.arbiter.put_record(&key.0, w.claimed_elsewhere(SPEC_NOW * 1000 + 60_000));
    assert_eq!(settle(&good), ArbiterReply::LostClaim);
    assert_eq!(w.facilitator.settles.get(), 0);
    // Ours: settled, and the record says so.
    w.arbiter.put_record(&key.0, record.clone());
    let ArbiterReply::SettleDone { settlement } = settle(&good) else { panic!("not settled") };
    assert_eq!(w.facilitator.settles.get(), 1);
    let stored = w.arbiter.record(&key.0).unwrap();
    assert_eq!((stored.state, stored.settlement), (State::Settled, Some(settlement)));
}

#[test]
fn settlement_unknown_is_resolved_by_a_retry_without_a_second_charge() {
    type Answer = Result<SettleResponse, UpstreamError>;
    let timeout: Answer = Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout));
    type Case = (&'static str, Answer, (String, String), Option<&'static str>);
    let cases: Vec<Case> = vec![
        ("resubmission settles", Ok(settled_ok()), s("replayed", "premium"), Some("0xabc")),
        (
            "nonce already used",
            Ok(settle_refused("invalid_exact_evm_nonce_already_used")),
            s("replayed", "premium"),
            Some(""),
        ),
        ("refused otherwise", Ok(settle_refused("insufficient_funds")), s("502", "settlement_unknown"), None),
        ("still down", timeout.clone(), s("502", "settlement_unknown"), None),
    ];
    for (name, second, want, tx) in cases {
        let w = World::new();
        w.facilitator.then_settle(timeout.clone());
        let first = w.pay();
        assert_eq!(summary(&first), s("502", "settlement_unknown"), "{name}");
        let record = w.record();
        assert_eq!((record.state, record.lease_until_ms <= w.clock.now_ms()), (State::Settling, true), "{name}");
        w.facilitator.then_settle(second);
        let retry = w.pay();
        assert_eq!(summary(&retry), want, "{name}");
        assert_eq!(w.counts(), (1, 1, 2), "{name}: the origin ran once, settle was resubmitted once");
        if let Some(tx) = tx {
            let json: serde_json::Value =
                serde_json::from_slice(&base64_decode(&settlement(&retry).header).unwrap()).unwrap();
            assert_eq!(json["transaction"], tx, "{name}");
            assert_eq!(w.record().state, State::Settled, "{name}");
        }
    }
}

#[test]
fn a_worker_that_died_mid_settlement_is_recovered_after_its_lease() {
    let w = World::new();
    let mut dead = w.claimed_elsewhere(SPEC_NOW * 1000 + 10_000);
    dead.state = State::Settling;
    dead.response = Some(StoredResponse { status: 201, headers: vec![], body: Some(b"stored".to_vec()) });
    w.arbiter.put_record(&w.key(), dead);
    assert_eq!(summary(&w.pay()), s("409", "payment_in_progress"), "within the lease: wait");
    w.clock.advance(20);
    w.facilitator.then_settle(Ok(settle_refused("invalid_exact_evm_nonce_already_used")));
    assert_eq!(summary(&w.pay()), s("replayed", "stored"));
    assert_eq!(w.counts(), (0, 0, 1), "no verify, no origin call, one settle resubmission");
    assert_eq!(w.record().state, State::Settled);
}

#[test]
fn lost_and_failed_store_writes_never_settle() {
    let w = World::new();
    w.arbiter.lose_writes.set(true);
    assert_eq!(summary(&w.pay()), s("409", "payment_in_progress"));
    assert_eq!(w.facilitator.settles.get(), 0, "no durable claim, no settle");
    let w = World::new();
    w.arbiter.fail.set(true);
    assert_eq!(summary(&w.pay()), s("503", "storage_unavailable"));
    assert_eq!(w.counts(), (0, 0, 0));
}

#[test]
fn large_bodies_stream_and_later_get_or_conflict() {
    let w = World::new();
    *w.origin.body.borrow_mut() = vec![b'x'; crate::once::MAX_STORED_BODY + 1];
    let first = w.pay();
    assert_eq!(summary(&first).0, "paid");
    assert_eq!(w.record().response.unwrap().body, None, "too large to store");
    assert_eq!(summary(&w.pay()).0, "paid", "a GET retry is fetched from the origin again");
    assert_eq!(w.counts(), (1, 2, 1), "without settling again");
    let post = World::new();
    *post.origin.body.borrow_mut() = vec![b'x'; crate::once::MAX_STORED_BODY + 1];
    post.pay_at(paid_header(), "POST /premium-data", false);
    let again = post.pay_at(paid_header(), "POST /premium-data", false);
    assert_eq!(summary(&again), s("409", "payment_already_settled"));
    assert_eq!(post.counts(), (1, 1, 1), "a POST is never run again");
}

#[test]
fn bad_payments_never_reach_the_arbiter_or_the_facilitator() {
    let forged = {
        let mut json = signed_json(1);
        json["payload"]["authorization"]["from"] = Payer::new(2).address.checksummed().into();
        testkit::header(&json)
    };
    let past_every_record = SPEC_NOW + 54 + crate::once::SETTLING_RETENTION_SECONDS + 1;
    for (header, now, want) in [
        (PaymentHeader::V2("not base64!"), SPEC_NOW, s("400", "invalid_payment_header")),
        (PaymentHeader::V2(&forged), SPEC_NOW, s("402", "invalid_exact_evm_payload_signature")),
        (paid_header(), past_every_record, s("402", "invalid_exact_evm_payload_authorization_valid_before")),
        (PaymentHeader::V1(SPEC_PAYMENT_SIGNATURE), SPEC_NOW, s("400", "invalid_x402_version")),
    ] {
        let w = World::new();
        w.clock.set(now);
        let out = w.pay_at(header, "GET /premium-data", true);
        assert_eq!(summary(&out), want, "{header:?}");
        assert!(w.arbiter.calls().is_empty(), "{header:?}");
        assert_eq!(w.counts(), (0, 0, 0));
    }
}

#[test]
fn an_expired_payment_never_seen_is_looked_up_but_nothing_is_written() {
    let w = World::new();
    w.clock.set(SPEC_NOW + 3600);
    let out = w.pay();
    assert_eq!(summary(&out), s("402", "invalid_exact_evm_payload_authorization_valid_before"));
    assert_eq!(w.arbiter.ops(), ["claim"], "one read-only claim");
    assert!(w.arbiter.is_empty(), "no record written");
    assert_eq!(w.counts(), (0, 0, 0));
}

/// An arbiter that carries a settle order out and then loses its answer (the Worker's
/// call timed out, the connection dropped), `fail_settles` times.
struct LostAnswer<'a> {
    inner: SettlingArbiter<'a, FakeFacilitator, FixedClock>,
    fail_settles: Cell<u32>,
}

impl Arbiter for LostAnswer<'_> {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> Result<ArbiterReply, StoreError> {
        let reply = self.inner.call(shard, request).await;
        if matches!(request, ArbiterRequest::Settle { .. }) && self.fail_settles.get() > 0 {
            self.fail_settles.set(self.fail_settles.get() - 1);
            return Err(StoreError("arbiter shard: no answer within 25000 ms".into()));
        }
        reply
    }

    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
        self.inner.admit(scope, payer, minute, max).await
    }
}

#[test]
fn a_settlement_whose_answer_was_lost_is_read_back_and_served() {
    let w = World::new();
    let lost = LostAnswer { inner: w.settling(), fail_settles: Cell::new(1) };
    let out = w.pay_with_arbiter(&lost);
    assert_eq!(summary(&out), s("paid", "premium"), "the live response, with the stored settlement");
    assert_eq!(settlement(&out).receipt, w.record().settlement.unwrap().receipt);
    assert_eq!(w.counts(), (1, 1, 1));
    assert_eq!(w.arbiter.ops(), ["claim", "advance", "settle", "claim"], "one read back");
    assert_eq!(summary(&w.pay()), s("replayed", "premium"), "a retry gets the same");
    assert_eq!(w.counts(), (1, 1, 1));

    // An order that never reached the arbiter: nothing settled, 502, nothing released.
    let w = World::new();
    struct Unreachable<'a>(SettlingArbiter<'a, FakeFacilitator, FixedClock>);
    impl Arbiter for Unreachable<'_> {
        async fn call(&self, shard: u32, request: &ArbiterRequest) -> Result<ArbiterReply, StoreError> {
            match request {
                ArbiterRequest::Settle { .. } => Err(StoreError("connection lost".into())),
                _ => self.0.call(shard, request).await,
            }
        }

        async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
            self.0.admit(scope, payer, minute, max).await
        }
    }
    let out = w.pay_with_arbiter(&Unreachable(w.settling()));
    assert_eq!(summary(&out), s("502", "settlement_unknown"));
    assert_eq!(w.counts(), (1, 1, 0));
    assert_eq!(w.record().state, State::Claimed, "not released: the order's fate is unknown to the Worker");
}

/// Wraps an arbiter and writes a final record after `after` claim calls.
struct Finisher<'a> {
    inner: SettlingArbiter<'a, FakeFacilitator, FixedClock>,
    row: String,
    record: Record,
    after: Cell<u32>,
}

impl Arbiter for Finisher<'_> {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> Result<ArbiterReply, StoreError> {
        if self.after.get() == 0 {
            self.inner.rows.put_record(&self.row, self.record.clone());
        }
        self.after.set(self.after.get().saturating_sub(1));
        self.inner.call(shard, request).await
    }

    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
        self.inner.admit(scope, payer, minute, max).await
    }
}

impl World {
    fn key(&self) -> String {
        PaymentKey::derive(&decode(paid_header()).unwrap(), &spec_option()).0
    }

    fn claimed_elsewhere(&self, lease_until_ms: u64) -> Record {
        let p = decode(paid_header()).unwrap();
        let key = PaymentKey::derive(&p, &spec_option());
        Record {
            state: State::Claimed,
            resource: "GET /premium-data".into(),
            fingerprint: fingerprint(&key, &p),
            owner: "someone-else".into(),
            lease_until_ms,
            expires_at: SPEC_NOW + 86_400,
            reason: None,
            response: None,
            settlement: None,
            locked: false,
            ledger: None,
            held: None,
        }
    }

    fn pay_with_arbiter<A: Arbiter>(&self, arbiter: &A) -> Outcome<(u16, Vec<u8>)> {
        let resource =
            ResourceInfo { url: "https://api.example.com/premium-data".into(), description: None, mime_type: None };
        let target = Target {
            route: &self.route,
            resource: &resource,
            binding: "GET /premium-data",
            refetchable: true,
            forward: forward("GET /premium-data", "/base/premium-data"),
        };
        let ports = Ports {
            facilitator: &self.facilitator,
            origin: &self.origin,
            clock: &self.clock,
            signer: &self.signer,
            arbiter,
            claim_token: "late",
            timing: Timing::new(1_000, 1_000),
            alerts: &self.alerts,
            alert_after: self.alert_after,
        };
        block_on(pay(target, paid_header(), ports))
    }
}

#[test]
fn bindings_and_refetchable_methods() {
    for (method, query, want) in
        [("get", None, "GET /a/b"), ("POST", Some("x=1&y=2"), "POST /a/b?x=1&y=2"), ("Head", Some(""), "HEAD /a/b?")]
    {
        assert_eq!(binding(method, "/a/b", query), want, "{method} {query:?}");
    }
    for (method, want) in [("GET", true), ("head", true), ("POST", false), ("PUT", false), ("OPTIONS", false)] {
        assert_eq!(is_refetchable(method), want, "{method}");
    }
}

mod hostile;
mod ledger;
mod policy;

/// The claims of a payment context, after checking its signature under `signer`.
fn context_claims(signer: &ReceiptSigner, jws: &str) -> serde_json::Value {
    let (signed, signature) = jws.rsplit_once('.').expect("three segments");
    let public = ed25519_compact::PublicKey::new(signer.public_key());
    let signature =
        ed25519_compact::Signature::from_slice(&crate::codec::base64url_decode(signature).unwrap()).unwrap();
    public.verify(signed.as_bytes(), &signature).expect("signed by the receipt key");
    let (header, payload) = signed.split_once('.').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&crate::codec::base64url_decode(header).unwrap()).unwrap();
    assert_eq!(header["typ"], crate::context::CONTEXT_TYP);
    assert_eq!(header["kid"], signer.kid());
    serde_json::from_slice(&crate::codec::base64url_decode(payload).unwrap()).unwrap()
}

#[test]
fn the_origin_gets_a_signed_context_naming_the_verified_payment() {
    let w = World::new();
    let out = w.pay_at(paid_header(), "GET /premium-data?x=1", true);
    assert_eq!(summary(&out).0, "paid");
    let contexts = w.origin.contexts.borrow();
    assert_eq!(contexts.len(), 1);
    let claims = context_claims(&w.signer, &contexts[0]);
    let key = PaymentKey::derive(&decode(paid_header()).unwrap(), &spec_option());
    let option = spec_option();
    assert_eq!(claims["iss"], "https://api.example.com");
    assert_eq!(claims["aud"], ORIGIN);
    assert_eq!(claims["iat"], SPEC_NOW);
    assert_eq!(claims["exp"], SPEC_NOW + crate::context::CONTEXT_LIFETIME_SECONDS);
    assert_eq!(claims["jti"], key.0.as_str());
    // The payer: `from`, which the local check recovered the signature to.
    assert_eq!(claims["payer"], Payer::new(1).address.checksummed());
    assert_eq!(claims["amount"], option.amount.to_string());
    assert_eq!(claims["asset"], option.asset.checksummed());
    assert_eq!(claims["network"], option.network.caip2());
    assert_eq!(claims["route"], "GET /premium-data");
    assert_eq!(claims["method"], "GET");
    assert_eq!(claims["path"], "/base/premium-data", "the path the origin receives, without the query");
    assert_eq!(claims["status"], "verified");
}

#[test]
fn no_context_is_issued_for_a_payment_that_is_not_verified() {
    let w = World::new();
    w.facilitator.then_verify(Ok(VerifyResponse {
        is_valid: false,
        invalid_reason: Some("insufficient_funds".into()),
        payer: None,
    }));
    assert_eq!(summary(&w.pay()).0, "402");
    assert!(w.origin.contexts.borrow().is_empty(), "the origin was not called");
}

#[test]
fn a_refetch_for_a_settled_retry_says_settled() {
    let w = World::new();
    *w.origin.body.borrow_mut() = vec![b'x'; crate::once::MAX_STORED_BODY + 1];
    w.pay();
    w.clock.advance(5);
    assert_eq!(summary(&w.pay()).0, "paid");
    let contexts = w.origin.contexts.borrow();
    assert_eq!(contexts.len(), 2);
    let (first, again) = (context_claims(&w.signer, &contexts[0]), context_claims(&w.signer, &contexts[1]));
    assert_eq!((first["status"].as_str(), again["status"].as_str()), (Some("verified"), Some("settled")));
    assert_eq!(first["jti"], again["jti"]);
    assert_eq!(again["iat"], SPEC_NOW + 5, "issued afresh");
}
