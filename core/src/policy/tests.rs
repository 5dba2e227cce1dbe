use super::*;
use crate::testkit::{Payer, Rng};

fn raw(json: &str) -> RawPolicy {
    RawPolicy::from_json(json).unwrap()
}

fn global(json: &str) -> Result<Policy, ConfigError> {
    Policy::base(6).with(&raw(json), "POLICY", GLOBAL)
}

#[test]
fn blocked_and_allowed_payers_any_letter_case() {
    let (a, b, c) = (Payer::new(1).address, Payer::new(2).address, Payer::new(3).address);
    let lower = |x: &EvmAddress| x.checksummed().to_ascii_lowercase();
    let global = global(&format!(r#"{{"blockedPayers":["{}"]}}"#, lower(&a))).unwrap();
    assert_eq!(global.admits(&a), Err(PolicyRefusal::Blocked));
    assert_eq!(global.admits(&b), Ok(()));
    // A route's own allow list over the global block list.
    let own = raw(&format!(r#"{{"allowedPayers":["{}"]}}"#, b.checksummed()));
    let route = global.with(&own, "r", "GET /x").unwrap();
    assert_eq!(route.admits(&a), Err(PolicyRefusal::Blocked), "still blocked");
    assert_eq!(route.admits(&b), Ok(()));
    assert_eq!(route.admits(&c), Err(PolicyRefusal::Blocked), "not on the allow list");
    // An empty list lifts the global one for a route.
    let open = global.with(&raw(r#"{"blockedPayers":[]}"#), "r", "GET /x").unwrap();
    assert_eq!(open.admits(&a), Ok(()));
}

#[test]
fn limits_and_their_scopes() {
    let p = global(r#"{"payerDailyCap":"$5","payerRate":"60/minute","maxPayersPerMinute":100}"#).unwrap();
    assert_eq!(p.daily_cap, Some(Scoped { scope: GLOBAL.into(), limit: Amount(5_000_000) }));
    assert_eq!(p.rate, Some(Scoped { scope: GLOBAL.into(), limit: Rate { count: 60, period_ms: 60_000 } }));
    assert_eq!(p.max_payers, Some(Scoped { scope: GLOBAL.into(), limit: 100 }));
    // A route's own cap has the route's scope; what it does not set stays global.
    let route = p.with(&raw(r#"{"payerDailyCap":"1000000","maxPayersPerMinute":0}"#), "r", "POST /api/score");
    let route = route.unwrap();
    assert_eq!(route.daily_cap, Some(Scoped { scope: "POST /api/score".into(), limit: Amount(1_000_000) }));
    assert_eq!(route.rate, p.rate);
    assert_eq!(route.max_payers, None, "0 is unlimited");
    assert_eq!(global(r#"{"maxPayersPerMinute":0}"#).unwrap().max_payers, None);
}

#[test]
fn bad_policies_name_their_field() {
    for (json, field) in [
        (r#"{"blockedPayers":["0x123"]}"#, "POLICY.blockedPayers"),
        (r#"{"allowedPayers":"0x857b06519E91e3A54538791bDbb0E22373e36b66"}"#, "POLICY.allowedPayers"),
        (r#"{"blockedPayers":["0x857B06519E91e3A54538791bDbb0E22373e36b66"]}"#, "POLICY.blockedPayers"),
        (r#"{"payerDailyCap":"$0.0000001"}"#, "POLICY.payerDailyCap"),
        (r#"{"payerDailyCap":"$0"}"#, "POLICY.payerDailyCap"),
        (r#"{"payerDailyCap":5}"#, "POLICY.payerDailyCap"),
        (r#"{"payerDailyCap":"5 dollars"}"#, "POLICY.payerDailyCap"),
        (r#"{"payerRate":"60/fortnight"}"#, "POLICY.payerRate"),
        (r#"{"payerRate":60}"#, "POLICY.payerRate"),
        (r#"{"maxPayersPerMinute":-1}"#, "POLICY.maxPayersPerMinute"),
        (r#"{"maxPayersPerMinute":"10"}"#, "POLICY.maxPayersPerMinute"),
        (r#"{"maxPayersPerMinute":1.5}"#, "POLICY.maxPayersPerMinute"),
        (r#"{"maxPayersPerMinute":100001}"#, "POLICY.maxPayersPerMinute"),
    ] {
        assert_eq!(global(json).unwrap_err().field, field, "{json}");
    }
    assert!(RawPolicy::from_json(r#"{"payerCap":"$5"}"#).is_err(), "an unknown key");
    assert!(RawPolicy::from_json(r#"{"blockedPayers":[],"blockedPayers":[]}"#).is_err(), "a repeated key");
    assert!(RawPolicy::from_json("[]").is_err());
}

#[test]
fn amounts_in_cap_units_round_up() {
    for (amount, decimals, cap_decimals, want) in [
        (10_000, 6, 6, 10_000),
        (1, 18, 6, 1),
        (10u128.pow(12), 18, 6, 1),
        (10u128.pow(12) + 1, 18, 6, 2),
        (5, 2, 6, 50_000),
        (1, 0, 36, 10u128.pow(36)),
        (7, 0, 60, u128::MAX),
        (7, 60, 0, 1),
        (u128::MAX, 0, 6, u128::MAX),
    ] {
        assert_eq!(in_cap_units(Amount(amount), decimals, cap_decimals), want, "{amount} {decimals}→{cap_decimals}");
    }
}

/// Generated address lists in every letter case: the same payers are blocked.
#[test]
fn generated_lists_block_exactly_their_payers() {
    let mut rng = Rng(0xB10C);
    let payers: Vec<EvmAddress> = (1..=6).map(|n| Payer::new(n).address).collect();
    for _ in 0..300 {
        let listed: Vec<&EvmAddress> = payers.iter().filter(|_| rng.below(2) == 1).collect();
        let texts: Vec<String> = listed
            .iter()
            .map(|a| match rng.below(3) {
                0 => a.checksummed(),
                1 => a.checksummed().to_ascii_lowercase(),
                _ => format!("0x{}", a.checksummed()[2..].to_ascii_uppercase()),
            })
            .collect();
        let json = format!(r#"{{"blockedPayers":{}}}"#, serde_json::to_string(&texts).unwrap());
        let p = global(&json).unwrap();
        for a in &payers {
            assert_eq!(p.admits(a).is_err(), listed.contains(&a), "{json}");
        }
    }
}

/// Generated policy tables (any key, any JSON value): a table reads or is refused, never
/// panics, and a read limit is within its bounds.
#[test]
fn generated_tables_read_or_fail_cleanly() {
    let mut rng = Rng(0x9011C7);
    let values = [
        r#""$5""#,
        r#""$0.000001""#,
        r#""12""#,
        r#""60/minute""#,
        r#""1/day""#,
        "0",
        "7",
        "100000",
        "[]",
        "null",
        r#""""#,
        r#"["0x857b06519e91e3a54538791bdbb0e22373e36b66"]"#,
        "{}",
        "-3",
        r#""$1e3""#,
    ];
    for _ in 0..2000 {
        let n = rng.below(4);
        let body: Vec<String> =
            (0..n).map(|_| format!("{:?}:{}", KEYS[rng.below(5)], values[rng.below(values.len())])).collect();
        let json = format!("{{{}}}", body.join(","));
        let Ok(table) = RawPolicy::from_json(&json) else { continue };
        if let Ok(p) = Policy::base(6).with(&table, "POLICY", GLOBAL) {
            assert!(p.daily_cap.is_none_or(|c| c.limit.0 > 0), "{json}");
            assert!(p.max_payers.is_none_or(|m| m.limit > 0 && u64::from(m.limit) <= MAX_PAYERS_PER_MINUTE), "{json}");
            assert!(p.rate.is_none_or(|r| r.limit.count > 0), "{json}");
        }
    }
}
