//! Per-payer policy in the flow: a fresh claim reserves in the payer's tally or is refused
//! before verify; refunds release; the operator's block; maxPayersPerMinute; alerts.

use super::*;
use crate::amount::Amount;
use crate::once::tally::PayerChange;
use crate::policy::{Policy, RawPolicy};

fn header_of(payer: u8, nonce: u8) -> String {
    let option = spec_option();
    let payer = Payer::new(payer);
    let auth = payer.authorization(&option, (SPEC_NOW - 11, SPEC_NOW + 54), nonce);
    testkit::header(&testkit::v2_json(&option, &auth, &payer.sign(&option, &auth)))
}

fn with_policy(json: &str) -> World {
    let mut w = World::new();
    w.route.policy = Policy::base(6).with(&RawPolicy::from_json(json).unwrap(), "POLICY", "").unwrap();
    w
}

fn pay_as(w: &World, payer: u8, nonce: u8) -> Outcome<(u16, Vec<u8>)> {
    w.pay_at(PaymentHeader::V2(&header_of(payer, nonce)), "GET /premium-data", true)
}

fn tally_of(w: &World, payer: u8) -> crate::once::tally::Tally {
    w.arbiter.tally(&crate::once::tally_row(&Payer::new(payer).address)).unwrap_or_default()
}

#[test]
fn the_cap_is_reached_exactly_and_a_refusal_costs_no_verify() {
    let amount = spec_option().amount.0;
    let mut w = with_policy(&format!(r#"{{"payerDailyCap":"{}"}}"#, 2 * amount));
    w.alert_after = Some(10);
    assert_eq!(summary(&pay_as(&w, 1, 1)), s("paid", "premium"));
    assert_eq!(summary(&pay_as(&w, 1, 2)), s("paid", "premium"));
    for _ in 0..2 {
        match pay_as(&w, 1, 3) {
            Outcome::Refused { failure, .. } => {
                assert_eq!((failure.status(), failure.reason().as_str()), (402, "payer_daily_cap_exceeded"));
                assert!(failure.retry_after().is_some_and(|s| s > 0 && s <= 86_400));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(w.counts(), (2, 2, 2), "the refused payment was never verified");
    assert_eq!(tally_of(&w, 1).spent(""), 2 * amount);
    let rejected: Vec<String> = w.arbiter.ledger().into_iter().filter(|e| e.starts_with("rejected")).collect();
    assert_eq!(rejected, ["rejected:payer_daily_cap_exceeded"], "once per payment");
    let alerts = w.alerts.0.borrow();
    assert_eq!(alerts.len(), 1, "one alert a minute");
    assert_eq!(alerts[0].0.reason, Code::PayerDailyCapExceeded);
    assert_eq!(alerts[0].0.payer, Payer::new(1).address.checksummed());
    // Another payer has its own cap.
    drop(alerts);
    assert_eq!(summary(&pay_as(&w, 2, 1)), s("paid", "premium"));
}

#[test]
fn a_refund_releases_the_reservation_and_a_retry_counts_once() {
    let amount = spec_option().amount.0;
    let w = with_policy(&format!(r#"{{"payerDailyCap":"{amount}"}}"#));
    w.origin.status.set(500);
    assert_eq!(summary(&pay_as(&w, 1, 1)), s("origin", "500"));
    assert_eq!(tally_of(&w, 1).spent(""), 0, "refunded");
    w.origin.status.set(200);
    assert_eq!(summary(&pay_as(&w, 1, 1)), s("paid", "premium"), "the same payment tried again fits");
    for _ in 0..3 {
        assert_eq!(summary(&pay_as(&w, 1, 1)), s("replayed", "premium"), "a retry is not a new charge");
    }
    assert_eq!(tally_of(&w, 1).spent(""), amount);
}

#[test]
fn an_operator_block_refuses_before_verify_until_lifted() {
    let w = World::new();
    let payer = Payer::new(1).address;
    let change = |c: PayerChange| {
        let request = ArbiterRequest::Payer {
            row: crate::once::tally_row(&payer),
            ledger: crate::admin::payers::policy_payment(&payer, Some(&c)),
            change: Some(c),
            now_ms: SPEC_NOW * 1000,
        };
        w.arbiter.step(request).unwrap()
    };
    change(PayerChange::Block);
    assert_eq!(summary(&pay_as(&w, 1, 1)), s("403", "payer_blocked"));
    assert_eq!(w.counts(), (0, 0, 0));
    change(PayerChange::Unblock);
    assert_eq!(summary(&pay_as(&w, 1, 1)), s("paid", "premium"));
    change(PayerChange::Cap(Some(Amount(1))));
    assert_eq!(summary(&pay_as(&w, 1, 2)), s("402", "payer_daily_cap_exceeded"), "the operator's cap");
    let policy: Vec<String> = w.arbiter.ledger().into_iter().filter(|e| e.starts_with("policy")).collect();
    assert_eq!(policy, ["policy:operator_block", "policy:operator_unblock", "policy:operator_cap"]);
}

#[test]
fn a_new_payer_past_max_payers_per_minute_is_released_with_429() {
    let w = with_policy(r#"{"maxPayersPerMinute":1}"#);
    assert_eq!(summary(&pay_as(&w, 1, 1)), s("paid", "premium"));
    assert_eq!(summary(&pay_as(&w, 2, 1)), s("429", "too_many_payers"));
    assert_eq!(summary(&pay_as(&w, 1, 2)), s("paid", "premium"), "an admitted payer goes on");
    assert_eq!(w.counts(), (2, 2, 2));
    assert!(w.arbiter.ledger().contains(&"rejected:too_many_payers".to_string()));
    w.arbiter.fail.set(true);
    assert_eq!(summary(&pay_as(&w, 3, 1)), s("503", "storage_unavailable"), "fails closed");
}

/// A payment in `payer`'s name with a smart wallet's signature (100 bytes: only the
/// facilitator can judge it), made by anyone.
fn unproven_of(payer: u8, nonce: u8) -> String {
    let option = spec_option();
    let auth = Payer::new(payer).authorization(&option, (SPEC_NOW - 11, SPEC_NOW + 54), nonce);
    testkit::header(&testkit::v2_json(&option, &auth, &[0xab; 100]))
}

fn forged(w: &World, payer: u8, nonce: u8) -> Outcome<(u16, Vec<u8>)> {
    w.facilitator.then_verify(Ok(VerifyResponse {
        is_valid: false,
        invalid_reason: Some("invalid_exact_evm_payload_signature".into()),
        payer: None,
    }));
    w.pay_at(PaymentHeader::V2(&unproven_of(payer, nonce)), "GET /premium-data", true)
}

#[test]
fn forgeries_in_a_payer_s_name_spend_none_of_its_rate_cap_or_place() {
    // A signature the paywall cannot check itself proves nothing about `from` until
    // verify: a stranger's forgeries count against no payer (found by an outside probe:
    // three of them used a victim's 2/minute rate, and its own payment got 429).
    let amount = spec_option().amount.0;
    let w =
        with_policy(&format!(r#"{{"payerRate":"2/minute","payerDailyCap":"{}","maxPayersPerMinute":1}}"#, 3 * amount));
    for nonce in 1..=4 {
        assert_eq!(summary(&forged(&w, 1, nonce)).0, "402", "a forgery is refused by verify");
    }
    // Forgeries in made-up names do not fill this minute's payers either.
    for payer in 5..=8 {
        assert_eq!(summary(&forged(&w, payer, 1)).0, "402");
    }
    let tally = tally_of(&w, 1);
    assert_eq!(tally.spent(""), 0, "nothing reserved in the victim's name");
    assert_eq!(summary(&pay_as(&w, 1, 10)), s("paid", "premium"), "the victim's own first payment");
    assert_eq!(summary(&pay_as(&w, 1, 11)), s("paid", "premium"), "and its second, within its rate and cap");
    assert_eq!(summary(&pay_as(&w, 1, 12)).0, "429", "its third is over its own rate");
}

#[test]
fn an_unproven_payer_s_policy_is_judged_after_verify_at_the_lock() {
    // A smart wallet that verify accepts is held to its policy as any payer, before the
    // origin is called: over its rate the claim is released (429), nothing is settled.
    let w = with_policy(r#"{"payerRate":"1/minute"}"#);
    let smart = |nonce| w.pay_at(PaymentHeader::V2(&unproven_of(3, nonce)), "GET /premium-data", true);
    assert_eq!(summary(&smart(1)), s("paid", "premium"));
    assert_eq!(tally_of(&w, 3).spent(""), spec_option().amount.0, "settled into its tally");
    let (origin_calls, settles) = (w.origin.calls.get(), w.facilitator.settles.get());
    assert_eq!(summary(&smart(2)).0, "429", "over its rate once verify proved it");
    assert_eq!(
        (w.origin.calls.get(), w.facilitator.settles.get()),
        (origin_calls, settles),
        "origin and settle untouched"
    );
    assert!(w.arbiter.ledger().contains(&"rejected:payer_rate_limited".to_string()));
    // The refused payment was released, not burned: it is answered afresh (here, rate-limited
    // again) rather than as used.
    assert_eq!(summary(&smart(2)).0, "429");
    // A retry of the paid one replays without a charge or a rate token.
    assert_eq!(summary(&smart(1)), s("replayed", "premium"));
    // maxPayersPerMinute is judged after verify too.
    let w = with_policy(r#"{"maxPayersPerMinute":1}"#);
    assert_eq!(
        summary(&w.pay_at(PaymentHeader::V2(&unproven_of(3, 1)), "GET /premium-data", true)),
        s("paid", "premium")
    );
    let other = w.pay_at(PaymentHeader::V2(&unproven_of(4, 1)), "GET /premium-data", true);
    assert_eq!(summary(&other), s("429", "too_many_payers"));
    assert_eq!(w.origin.calls.get(), 1, "the second payer's call never reached the origin");
}

#[test]
fn a_refused_smart_wallet_takes_no_place_and_is_recorded_once() {
    // Its tally is judged before maxPayersPerMinute (as a proven payer's is at its claim):
    // a blocked smart wallet that passes verify takes none of this minute's places.
    let w = with_policy(r#"{"maxPayersPerMinute":1}"#);
    let payer = Payer::new(3).address;
    let block = ArbiterRequest::Payer {
        row: crate::once::tally_row(&payer),
        ledger: crate::admin::payers::policy_payment(&payer, Some(&PayerChange::Block)),
        change: Some(PayerChange::Block),
        now_ms: SPEC_NOW * 1000,
    };
    w.arbiter.step(block).unwrap();
    let smart = |payer, nonce| w.pay_at(PaymentHeader::V2(&unproven_of(payer, nonce)), "GET /premium-data", true);
    for _ in 0..3 {
        assert_eq!(summary(&smart(3, 1)), s("403", "payer_blocked"));
    }
    assert_eq!(summary(&pay_as(&w, 4, 1)), s("paid", "premium"), "the minute's one place was left free");
    // However often it is retried, the refusal is one ledger event.
    let rejected: Vec<String> = w.arbiter.ledger().into_iter().filter(|e| e.starts_with("rejected")).collect();
    assert_eq!(rejected, ["rejected:payer_blocked"]);
}
