//! The ledger a payment leaves: one event per step, written with the record change it
//! describes, never twice, none lost when a step's answer is lost.

use super::*;
use crate::ledger::EventKind;

fn timed_out() -> Result<SettleResponse, UpstreamError> {
    Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout))
}

#[test]
fn a_paid_request_is_locked_then_released_with_its_receipt() {
    let w = World::new();
    let out = w.pay_at(paid_header(), "GET /premium-data?x=1", true);
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
    let events = w.arbiter.events();
    let (locked, released) = (&events[0], &events[1]);
    let key = w.key();
    let option = spec_option();
    for e in &events {
        let p = &e.payment;
        assert_eq!(p.payment_key, key);
        assert_eq!(p.payer, Payer::new(1).address.checksummed(), "the recovered signer");
        assert_eq!(
            (p.amount.as_str(), p.asset.clone()),
            (option.amount.to_string().as_str(), option.asset.checksummed())
        );
        assert_eq!((p.pay_to.clone(), p.network.clone()), (option.pay_to.checksummed(), option.network.caip2()));
        assert_eq!(
            (p.route.as_str(), p.method.as_str(), p.path.as_str()),
            ("GET /premium-data", "GET", "/premium-data")
        );
        assert_eq!((p.x402_version, p.facilitator.as_str()), (2, "fake.facilitator.test"));
        assert_eq!(e.time_ms, SPEC_NOW * 1000, "the fixed clock");
    }
    // The receipt's jti is the event's receipt id; the transaction is the settlement's.
    let claims = verify_receipt(&settlement(&out).receipt, &w.signer.public_key(), w.signer.kid()).unwrap();
    assert_eq!(released.receipt_id.as_deref(), Some(claims.jti.as_str()));
    assert_eq!(released.receipt.as_deref(), Some(settlement(&out).receipt.as_str()), "kept for its payer");
    let shard = crate::ledger::receipt_shard(&claims.jti);
    let payer_shard = crate::once::payer_shard(&Payer::new(1).address, crate::once::SHARDS);
    assert_eq!(shard, Some(payer_shard), "the id names the payment's shard: its payer's");
    let calls = w.arbiter.calls();
    assert!(
        calls.iter().all(|c| c.ends_with(&format!("@{payer_shard}"))),
        "every call to the payer's shard: {calls:?}"
    );
    assert_eq!(released.transaction.as_deref(), Some("0xabc"));
    assert_eq!((locked.transaction.as_ref(), locked.receipt_id.as_ref(), locked.reason.as_ref()), (None, None, None));
    assert_eq!(released.event, EventKind::Released);
}

#[test]
fn retries_and_duplicates_never_write_an_event_twice() {
    let w = World::new();
    for _ in 0..50 {
        w.pay();
    }
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
    // A replay of the used payment elsewhere is one rejection, however often it is tried.
    for _ in 0..5 {
        assert_eq!(
            summary(&w.pay_at(paid_header(), "GET /premium-data?other=1", true)),
            s("402", "payment_already_used")
        );
    }
    assert_eq!(w.arbiter.ledger(), ["locked", "released", "rejected:payment_already_used"]);
    let rejected = &w.arbiter.events()[2];
    assert_eq!(rejected.payment.payer, Payer::new(1).address.checksummed());
    // Another resource is the same refusal: a replayed header cannot fill the ledger.
    for i in 2..20 {
        w.pay_at(paid_header(), &format!("GET /premium-data?other={i}"), true);
    }
    assert_eq!(w.arbiter.ledger().len(), 3);
}

#[test]
fn an_origin_failure_is_locked_then_refunded_and_a_retry_is_a_new_lock() {
    for (status, down, reason) in
        [(500, false, "origin_failed"), (404, false, "origin_failed"), (200, true, "origin_unavailable")]
    {
        let w = World::new();
        w.origin.status.set(status);
        w.origin.down.set(down);
        w.pay();
        let refunded = format!("refunded:{reason}");
        assert_eq!(w.arbiter.ledger(), ["locked", refunded.as_str()], "{status} {down}");
        w.origin.status.set(200);
        w.origin.down.set(false);
        w.pay();
        assert_eq!(w.arbiter.ledger(), ["locked", refunded.as_str(), "locked", "released"], "{status} {down}");
    }
}

#[test]
fn refusals_before_the_origin_are_rejections() {
    let w = World::new();
    w.facilitator.then_verify(Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout)));
    w.pay();
    assert_eq!(w.arbiter.ledger(), ["rejected:facilitator_unavailable"]);
    w.facilitator.then_verify(Ok(VerifyResponse {
        is_valid: false,
        invalid_reason: Some("insufficient_funds".into()),
        payer: None,
    }));
    w.pay();
    w.pay();
    assert_eq!(
        w.arbiter.ledger(),
        ["rejected:facilitator_unavailable", "rejected:insufficient_funds"],
        "the stored refusal is not a new event"
    );
}

#[test]
fn a_refused_settlement_is_refunded() {
    let w = World::new();
    w.facilitator.then_settle(Ok(settle_refused("insufficient_funds")));
    w.pay();
    assert_eq!(w.arbiter.ledger(), ["locked", "refunded:insufficient_funds"]);
    // An order the arbiter cannot carry out (the route is gone there) settles nothing.
    let w = World::new();
    let elsewhere = PricedRoute { pattern: "GET /other".into(), ..w.route.clone() };
    w.pay_with_arbiter(&SettlingArbiter { route: &elsewhere, ..w.settling() });
    assert_eq!(w.arbiter.ledger(), ["locked", "refunded:unsettleable"]);
}

#[test]
fn an_unknown_settlement_is_released_once_when_a_retry_resolves_it() {
    let w = World::new();
    w.facilitator.then_settle(timed_out());
    assert_eq!(summary(&w.pay()), s("502", "settlement_unknown"));
    assert_eq!(w.arbiter.ledger(), ["locked"], "locked, not yet released or refunded");
    w.facilitator.then_settle(Ok(settle_refused("invalid_exact_evm_nonce_already_used")));
    assert_eq!(summary(&w.pay()).0, "replayed");
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
    let released = &w.arbiter.events()[1];
    assert_eq!(released.transaction, None, "the first attempt's transaction is unknown");
    assert!(released.receipt_id.is_some());
    w.pay();
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
}

/// The Worker is gone after the arbiter settled (its answer is lost): the events are
/// written by the arbiter with the record, so nothing is missing.
#[test]
fn no_event_is_lost_when_the_answer_of_the_settlement_is() {
    let w = World::new();
    let lost = super::LostAnswer { inner: w.settling(), fail_settles: Cell::new(1) };
    assert_eq!(summary(&w.pay_with_arbiter(&lost)).0, "paid");
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
    let w = World::new();
    let lost = super::LostAnswer { inner: w.settling(), fail_settles: Cell::new(3) };
    w.pay_with_arbiter(&lost);
    assert_eq!(w.arbiter.ledger(), ["locked", "released"], "however the Worker fares");
}

#[test]
fn a_lost_write_loses_its_events_with_it_and_the_retry_writes_them() {
    let w = World::new();
    // The `settled` write is lost: its `released` with it; the record stays `settling`.
    w.arbiter.lose_state.set(Some(State::Settled));
    assert_eq!(summary(&w.pay()).0, "paid");
    assert_eq!(w.arbiter.ledger(), ["locked"]);
    assert_eq!(w.record().state, State::Settling);
    w.arbiter.lose_state.set(None);
    // The retry after the lease resubmits; "already used" means the first landed.
    w.clock.advance(3600);
    w.facilitator.then_settle(Ok(settle_refused("invalid_exact_evm_nonce_already_used")));
    w.pay();
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
}

/// A Worker that stopped while the origin ran (after its lock was written) leaves no
/// event missing: whoever takes the claim over after its lease writes its refund.
#[test]
fn a_worker_that_died_during_the_origin_call_is_refunded_by_the_next_claim() {
    let w = World::new();
    let mut dead = w.claimed_elsewhere(SPEC_NOW * 1000 - 1);
    dead.state = State::Claimed;
    dead.locked = true;
    let payment = decode(paid_header()).unwrap();
    let pattern = w.route.pattern.clone();
    let view =
        crate::flow::ledger_payment(&w.key(), &payment, &spec_option(), &pattern, &pattern, "fake.facilitator.test");
    dead.ledger = Some(Box::new(view));
    w.arbiter.put_record(&w.key(), dead);
    assert_eq!(summary(&w.pay()).0, "paid");
    assert_eq!(w.arbiter.ledger(), ["refunded:abandoned", "locked", "released"]);
    let events = w.arbiter.events();
    assert_ne!(events[0].step, events[1].step, "the dead Worker's refund, the retry's own lock");
    // A claim that was never locked (the Worker died during verify) is refunded by nobody.
    let w = World::new();
    let mut dead = w.claimed_elsewhere(SPEC_NOW * 1000 - 1);
    dead.state = State::Claimed;
    w.arbiter.put_record(&w.key(), dead);
    w.pay();
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
}

/// The lock write lost: the next step writes `locked` (once).
#[test]
fn a_lost_lock_write_is_made_good_by_the_next_step() {
    let w = World::new();
    w.arbiter.lose_locks.set(true);
    assert_eq!(summary(&w.pay()).0, "paid");
    assert_eq!(w.arbiter.ledger(), ["locked", "released"]);
}

#[test]
fn a_worker_that_died_mid_settlement_leaves_one_release_by_its_successor() {
    let w = World::new();
    let mut dead = w.claimed_elsewhere(SPEC_NOW * 1000 - 1);
    dead.state = State::Settling;
    dead.response = Some(StoredResponse { status: 200, headers: vec![], body: Some(b"stored".to_vec()) });
    w.arbiter.put_record(&w.key(), dead);
    w.pay();
    assert_eq!(w.arbiter.ledger(), ["released"], "its lock was the dead Worker's; the release is written once");
}

/// A blocked payer (the recovered signer) is refused before any claim or facilitator
/// call, with one `rejected:payer_blocked` however often it tries; an allow list refuses
/// everyone else.
#[test]
fn blocked_payers_are_refused_before_anything_and_recorded_once() {
    use crate::policy::{Policy, RawPolicy};
    let blocked = |json: &str| {
        let mut w = World::new();
        w.route.policy = Policy::base(6).with(&RawPolicy::from_json(json).unwrap(), "POLICY", "").unwrap();
        w
    };
    let payer = Payer::new(1).address.checksummed().to_ascii_lowercase();
    let w = blocked(&format!(r#"{{"blockedPayers":["{payer}"]}}"#));
    for _ in 0..3 {
        assert_eq!(summary(&w.pay()), s("403", "payer_blocked"));
    }
    assert_eq!(w.counts(), (0, 0, 0), "no verify, no origin, no settle");
    assert_eq!(w.arbiter.ledger(), ["rejected:payer_blocked"]);
    assert!(w.arbiter.record(&w.key()).is_none(), "no claim");
    let other = Payer::new(2).address.checksummed();
    let w = blocked(&format!(r#"{{"allowedPayers":["{other}"]}}"#));
    assert_eq!(summary(&w.pay()), s("403", "payer_blocked"), "not on the allow list");
    let w = blocked(&format!(r#"{{"allowedPayers":["{payer}"]}}"#));
    assert_eq!(summary(&w.pay()), s("paid", "premium"), "on it");
}
