use super::*;
use crate::testkit::Rng;

const T0: u64 = 20_000 * 86_400_000 + 3_600_000; // 01:00 UTC

fn charge(amount: u128, cap: Option<u128>) -> Charge {
    Charge {
        row: "payer:0xabc".into(),
        amount: Amount(amount),
        cap: cap.map(|c| (GLOBAL.to_string(), Amount(c))),
        rate: None,
        alert_after: None,
    }
}

#[test]
fn the_last_payment_that_fits_is_reserved_the_next_refused() {
    let mut t = Tally::default();
    let c = charge(1_000, Some(5_000));
    for i in 0..5 {
        t.reserve(&format!("k{i}"), &c, T0 + 10_000, T0).unwrap();
    }
    assert_eq!(t.spent(GLOBAL), 5_000);
    assert_eq!(t.reserve("k5", &c, T0 + 10_000, T0), Err(Refusal::Capped(23 * 3600)));
    // A refund makes room; a settlement keeps it counted.
    t.release("k0");
    t.settling("k1");
    t.settle("k2");
    assert_eq!(t.spent(GLOBAL), 4_000);
    t.reserve("k5", &c, T0 + 10_000, T0).expect("room after a refund");
    assert!(t.reserve("k6", &c, T0 + 10_000, T0).is_err());
    assert_eq!(t.settled, vec![(GLOBAL.to_string(), Amount(1_000))]);
}

#[test]
fn a_retry_of_a_claim_reserves_once_and_a_new_day_starts_afresh() {
    let mut t = Tally::default();
    let c = charge(3_000, Some(5_000));
    t.reserve("k", &c, T0 + 10_000, T0).unwrap();
    t.reserve("k", &c, T0 + 10_000, T0).expect("the same payment claimed again replaces its own hold");
    assert_eq!(t.spent(GLOBAL), 3_000);
    t.settle("k");
    assert!(t.reserve("k2", &c, T0 + 10_000, T0).is_err());
    let tomorrow = T0 + 86_400_000;
    t.reserve("k2", &c, tomorrow + 10_000, tomorrow).expect("a new UTC day");
    assert_eq!(t.spent(GLOBAL), 3_000);
}

#[test]
fn holds_lapse_after_the_lease_unless_settling() {
    let mut t = Tally::default();
    let c = charge(2_000, Some(4_000));
    t.reserve("dead", &c, T0 + 1_000, T0).unwrap();
    t.reserve("slow", &c, T0 + 1_000, T0).unwrap();
    t.settling("slow");
    let later = T0 + 1_000 + HOLD_GRACE_MS + 1;
    t.reserve("next", &c, later + 1_000, later).expect("the dead claim's hold lapsed");
    assert!(t.reserve("more", &c, later + 1_000, later).is_err(), "the settling one still counts");
    // A hold of yesterday settling today counts for yesterday.
    let mut t = Tally::default();
    let late = T0 - 3_600_001; // 23:59:59.999 the day before
    t.reserve("k", &c, late + 1_000, late).unwrap();
    t.settling("k");
    t.settle("k");
    t.roll(T0);
    assert_eq!(t.spent(GLOBAL), 0);
}

#[test]
fn scopes_count_apart_and_the_operator_cap_replaces_the_global_one() {
    let mut t = Tally::default();
    let route = Charge { cap: Some(("POST /score".into(), Amount(1_000))), ..charge(1_000, None) };
    t.reserve("r1", &route, T0 + 1, T0).unwrap();
    assert!(matches!(t.reserve("r2", &route, T0 + 1, T0), Err(Refusal::Capped(_))));
    let global = charge(1_000, Some(2_000));
    t.reserve("g1", &global, T0 + 1, T0).unwrap();
    t.reserve("g2", &global, T0 + 1, T0).unwrap();
    assert!(t.reserve("g3", &global, T0 + 1, T0).is_err());
    t.change(&PayerChange::Cap(Some(Amount(10_000))));
    t.reserve("g3", &global, T0 + 1, T0).expect("the operator's cap is higher");
    assert!(t.reserve("r2", &route, T0 + 1, T0).is_err(), "a route's own cap still holds");
    t.change(&PayerChange::Cap(Some(Amount(500))));
    assert!(t.reserve("g4", &charge(1, None), T0 + 1, T0).is_err(), "an operator's cap with no configured one");
    t.change(&PayerChange::Cap(None));
    t.reserve("g4", &charge(1, None), T0 + 1, T0).expect("no cap at all");
    assert_eq!((t.spent(GLOBAL), t.spent("POST /score")), (3_001, 1_000));
}

#[test]
fn blocks_refuse_before_anything_is_counted() {
    let mut t = Tally::default();
    t.change(&PayerChange::Block);
    assert_eq!(t.reserve("k", &charge(1, Some(10)), T0 + 1, T0), Err(Refusal::Blocked));
    assert!(t.holds.is_empty());
    assert_eq!(t.expires_at(T0), FOREVER_S);
    t.change(&PayerChange::Unblock);
    t.reserve("k", &charge(1, Some(10)), T0 + 1, T0).unwrap();
    assert!(t.expires_at(T0) < FOREVER_S);
}

#[test]
fn rates_refuse_with_the_wait_and_alerts_come_once_a_minute_past_the_threshold() {
    let mut t = Tally::default();
    let c = Charge { rate: Some((GLOBAL.into(), 3, 60_000)), ..charge(1, None) };
    for i in 0..3 {
        t.reserve(&format!("k{i}"), &c, T0 + 1, T0).unwrap();
    }
    for i in 0..4 {
        assert_eq!(t.reserve(&format!("x{i}"), &c, T0 + 1, T0), Err(Refusal::RateLimited(20_000)));
        assert_eq!(t.alert("payer_rate_limited", Some(2), T0), i == 2, "alert on the third refusal, then quiet");
    }
    assert_eq!(t.holds.len(), 3, "refused requests reserve nothing");
    assert!(t.alert("payer_blocked", None, T0), "another reason has its own minute");
    assert!(!t.alert("payer_blocked", None, T0 + 59_000 - T0 % 60_000));
    assert!(t.alert("payer_blocked", None, T0 + 60_000), "the next minute");
    t.reserve("k3", &c, T0 + 20_000 + 1, T0 + 20_000).expect("one more after the wait");
}

/// Generated sequences of reservations, releases, settlements and days: the spent amount
/// in a scope is never over its cap and always what a plain model of the holds says.
#[test]
fn generated_sequences_never_exceed_the_cap() {
    let mut rng = Rng(0x7A11);
    for _ in 0..300 {
        let cap = 1 + rng.below(10_000) as u128;
        let mut t = Tally::default();
        let mut now = T0;
        let mut model: Vec<(String, u128, bool)> = Vec::new(); // key, amount, settled
        for step in 0..200 {
            now += rng.below(4_000_000) as u64;
            if t.day != utc_day(now) {
                model.clear();
            }
            let key = format!("k{}", rng.below(40));
            match rng.below(4) {
                0 | 1 => {
                    let amount = 1 + rng.below(3_000) as u128;
                    let known = model.iter().any(|(k, _, _)| *k == key);
                    if !known && t.reserve(&key, &charge(amount, Some(cap)), u64::MAX / 2, now).is_ok() {
                        model.push((key, amount, false));
                    }
                }
                2 => {
                    t.release(&key);
                    model.retain(|(k, _, settled)| *k != key || *settled);
                }
                _ => {
                    t.settle(&key);
                    if let Some(m) = model.iter_mut().find(|(k, _, _)| *k == key) {
                        m.2 = true;
                    }
                }
            }
            t.roll(now);
            let want: u128 = model.iter().map(|(_, a, _)| a).sum();
            assert_eq!(t.spent(GLOBAL), want, "step {step}");
            assert!(want <= cap, "step {step}: {want} over {cap}");
        }
    }
}
