//! The flow against a hostile client and a careless facilitator: forged and edited
//! headers, late retries, waiting duplicates, upstream text.

use super::*;

fn decoded(header: &str) -> serde_json::Value {
    serde_json::from_slice(&base64_decode(header).unwrap()).unwrap()
}

fn timed_out() -> Result<SettleResponse, UpstreamError> {
    Err(UpstreamError::FacilitatorUnavailable(TransportError::Timeout))
}

/// A payment whose 100-byte signature (a smart wallet's, ERC-1271/6492) only the facilitator
/// can check.
fn smart_wallet_json() -> serde_json::Value {
    let mut json = signed_json(1);
    json["payload"]["signature"] = format!("0x{}", "ab".repeat(100)).into();
    json
}

/// Just after the spec window's `validBefore` (SPEC_NOW + 54).
const AFTER_VALID_BEFORE: u64 = SPEC_NOW + 54 + 30;

#[test]
fn forged_and_edited_headers_are_refused_before_any_lookup() {
    let w = World::new();
    assert_eq!(summary(&w.pay()), s("paid", "premium"));
    let arbiter_calls = w.arbiter.calls().len();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 4] = [
        ("validBefore", |j| j["payload"]["authorization"]["validBefore"] = (SPEC_NOW + 50).to_string().into()),
        ("validAfter", |j| j["payload"]["authorization"]["validAfter"] = (SPEC_NOW - 30).to_string().into()),
        ("from", |j| j["payload"]["authorization"]["from"] = Payer::new(3).address.checksummed().into()),
        ("signature r", |j| {
            let sig = j["payload"]["signature"].as_str().unwrap().to_string();
            let flipped = if &sig[2..3] == "0" { "1" } else { "0" };
            j["payload"]["signature"] = format!("0x{flipped}{}", &sig[3..]).into();
        }),
    ];
    for (name, edit) in edits {
        let mut json = signed_json(1);
        edit(&mut json);
        let header = testkit::header(&json);
        let out = w.pay_at(PaymentHeader::V2(&header), "GET /premium-data", true);
        assert_eq!(summary(&out), s("402", "invalid_exact_evm_payload_signature"), "{name}");
    }
    assert_eq!(w.counts(), (1, 1, 1), "nothing more reached the facilitator or the origin");
    assert_eq!(w.arbiter.calls().len(), arbiter_calls, "no lookup for a forgery");
    assert_eq!(summary(&w.pay()), s("replayed", "premium"), "the genuine header still replays");
}

/// An address with a second `0x` (`0x0x…`) in any address field of a genuine payment: read
/// by a lenient parser as the same address, refused here as malformed before any lookup.
#[test]
fn addresses_with_a_doubled_prefix_are_malformed() {
    let w = World::new();
    for field in ["from", "to"] {
        let mut json = signed_json(1);
        let value = json["payload"]["authorization"][field].as_str().unwrap().to_string();
        json["payload"]["authorization"][field] = format!("0x{value}").into();
        let out = w.pay_at(PaymentHeader::V2(&testkit::header(&json)), "GET /premium-data", true);
        assert_eq!(summary(&out).0, "400", "{field}: {:?}", summary(&out));
    }
    assert_eq!(w.counts(), (0, 0, 0));
    assert!(w.arbiter.calls().is_empty(), "no lookup");
}

#[test]
fn signatures_that_cannot_be_checked_locally_go_to_the_facilitator() {
    let w = World::new();
    let header = testkit::header(&smart_wallet_json());
    assert_eq!(summary(&w.pay_at(PaymentHeader::V2(&header), "GET /premium-data", true)), s("paid", "premium"));
    assert_eq!(w.counts(), (1, 1, 1));
}

#[test]
fn a_late_retry_gets_the_stored_answer() {
    let w = World::new();
    let first = settlement(&w.pay());
    w.clock.set(AFTER_VALID_BEFORE);
    let calls = w.arbiter.calls().len();
    let late = w.pay();
    assert_eq!(summary(&late), s("replayed", "premium"));
    assert_eq!(settlement(&late), first);
    assert_eq!(w.counts(), (1, 1, 1));
    assert_eq!(w.arbiter.ops()[calls..], ["claim"], "one arbiter call");
}

#[test]
fn a_late_retry_resolves_an_unknown_settlement() {
    type Case = (&'static str, Result<SettleResponse, UpstreamError>, (String, String), State);
    let cases: Vec<Case> = vec![
        (
            "nonce used",
            Ok(settle_refused("invalid_exact_evm_nonce_already_used")),
            s("replayed", "premium"),
            State::Settled,
        ),
        ("duplicate settlement", Ok(settle_refused("duplicate_settlement")), s("replayed", "premium"), State::Settled),
        (
            "the facilitator checks the window first",
            Ok(settle_refused("invalid_exact_evm_payload_authorization_valid_before")),
            s("502", "settlement_unknown"),
            State::Settling,
        ),
        (
            "another refusal proves nothing",
            Ok(settle_refused("insufficient_funds")),
            s("502", "settlement_unknown"),
            State::Settling,
        ),
        (
            "prose",
            Ok(settle_refused("execution reverted: FiatTokenV2: authorization is used")),
            s("502", "settlement_unknown"),
            State::Settling,
        ),
        ("still down", timed_out(), s("502", "settlement_unknown"), State::Settling),
    ];
    for (name, second, want, state) in cases {
        let w = World::new();
        w.facilitator.then_settle(timed_out());
        assert_eq!(summary(&w.pay()), s("502", "settlement_unknown"), "{name}");
        w.clock.set(AFTER_VALID_BEFORE);
        w.facilitator.then_settle(second);
        assert_eq!(summary(&w.pay()), want, "{name}");
        assert_eq!(w.counts(), (1, 1, 2), "{name}: no new verify or origin call, one resubmission");
        assert_eq!(w.record().state, state, "{name}");
    }
}

#[test]
fn a_waiting_duplicate_polls_about_a_dozen_times() {
    let w = World::new();
    let held = w.claimed_elsewhere(SPEC_NOW * 1000 + 60_000);
    w.arbiter.put_record(&w.key(), held);
    assert_eq!(summary(&w.pay()), s("409", "payment_in_progress"));
    let polls = w.arbiter.ops().iter().filter(|op| *op == "claim").count();
    assert!((5..=12).contains(&polls), "{polls} claims in one wait");
    let waited = w.clock.slept_ms();
    assert!((4_990..=5_000).contains(&waited), "waited {waited} ms");
}

#[test]
fn settle_refusals_carry_no_upstream_text() {
    let payer = Payer::new(1).address.checksummed();
    for (raw, shown) in [
        ("Error: connect ECONNREFUSED 10.1.2.3:443 secret-internal-detail", "settlement_failed"),
        ("insufficient_funds", "insufficient_funds"),
    ] {
        let w = World::new();
        w.facilitator.then_settle(Ok(SettleResponse {
            success: false,
            error_reason: Some(raw.into()),
            payer: Some("evil".into()),
            transaction: "oops<script>".into(),
            network: "<script>x</script>".into(),
            extensions: None,
        }));
        let Outcome::Refused { failure, settle_header: Some(header) } = w.pay() else { panic!("{raw}: not refused") };
        assert_eq!(failure.reason(), shown, "{raw}");
        let json = decoded(&header);
        assert_eq!(
            json,
            serde_json::json!({"success": false, "errorReason": shown, "payer": payer, "transaction": "", "network": "eip155:84532"}),
            "{raw}"
        );
    }
}

#[test]
fn a_settlement_is_sealed_with_our_payer_and_network_and_a_plain_transaction() {
    for (tx, shown) in [("0xabc", "0xabc"), ("paper:0x12", "paper:0x12"), ("0xabc\"><script>", ""), ("", "")] {
        let w = World::new();
        w.facilitator.then_settle(Ok(SettleResponse {
            transaction: tx.into(),
            payer: Some("evil".into()),
            network: "<script>".into(),
            ..settled_ok()
        }));
        let out = w.pay();
        if tx.is_empty() {
            // An empty transaction with success is not a settlement (the HTTP parser refuses
            // it upstream); here the fake hands it over anyway and it is sealed as unknown.
            assert_eq!(summary(&out).0, "paid");
        }
        let settlement = settlement(&out);
        let json = decoded(&settlement.header);
        assert_eq!(json["transaction"], shown, "{tx}");
        assert_eq!(json["payer"], Payer::new(1).address.checksummed(), "{tx}");
        assert_eq!(json["network"], "eip155:84532", "{tx}");
        let claims = verify_receipt(&settlement.receipt, &w.signer.public_key(), w.signer.kid()).unwrap();
        assert_eq!((claims.transaction.as_str(), claims.payer.as_str()), (shown, json["payer"].as_str().unwrap()));
    }
}

#[test]
fn records_expire_after_a_short_grace_unknown_settlements_after_a_week() {
    let valid_before = SPEC_NOW + 54;
    let w = World::new();
    w.pay();
    assert_eq!(w.record().expires_at, valid_before + crate::once::REPLAY_GRACE_SECONDS);
    let unknown = World::new();
    unknown.facilitator.then_settle(timed_out());
    unknown.pay();
    assert_eq!(unknown.record().expires_at, valid_before + crate::once::SETTLING_RETENTION_SECONDS);
}

#[test]
fn a_response_that_cannot_be_replayed_is_never_settled_on_a_retry() {
    let w = World::new();
    *w.origin.body.borrow_mut() = vec![b'x'; crate::once::MAX_STORED_BODY + 1];
    w.facilitator.then_settle(timed_out());
    let first = w.pay_at(paid_header(), "POST /premium-data", false);
    assert_eq!(summary(&first), s("502", "settlement_unknown"));
    for _ in 0..2 {
        let retry = w.pay_at(paid_header(), "POST /premium-data", false);
        assert_eq!(summary(&retry), s("502", "settlement_unknown"));
    }
    assert_eq!(w.counts(), (1, 1, 1), "no resubmission: it would charge for what cannot be delivered");
    assert_eq!(w.record().state, State::Settling);
}

#[test]
fn content_is_settled_failures_pass_uncharged_protocol_switches_are_refused() {
    for (status, want, settled) in [
        (200, "paid", true),
        (204, "paid", true),
        (302, "paid", true),
        (303, "paid", true),
        (304, "origin", false),
        (404, "origin", false),
        (503, "origin", false),
        (101, "502", false),
        (600, "502", false),
    ] {
        let w = World::new();
        w.origin.status.set(status);
        let out = w.pay();
        assert_eq!(summary(&out).0, want, "{status}");
        assert_eq!(w.facilitator.settles.get(), u32::from(settled), "{status}");
        if !settled {
            assert_eq!(w.record().state, State::Released, "{status}: the payment may be used again");
        }
    }
}

#[test]
fn a_settled_smart_wallet_payment_with_an_edited_window_is_a_conflict_not_a_replay() {
    let w = World::new();
    let mut json = smart_wallet_json();
    let header = testkit::header(&json);
    assert_eq!(summary(&w.pay_at(PaymentHeader::V2(&header), "GET /premium-data", true)), s("paid", "premium"));
    json["payload"]["authorization"]["validBefore"] = (SPEC_NOW + 50).to_string().into();
    let edited = testkit::header(&json);
    let out = w.pay_at(PaymentHeader::V2(&edited), "GET /premium-data", true);
    assert_eq!(summary(&out), s("409", "payment_conflict"));
    assert_eq!(w.counts(), (1, 1, 1));
}

#[test]
fn a_first_settle_refusal_releases_a_resumed_one_does_not() {
    let w = World::new();
    w.facilitator.then_settle(Ok(settle_refused("insufficient_funds")));
    assert_eq!(summary(&w.pay()), s("402", "insufficient_funds"));
    assert_eq!(w.record().state, State::Released, "the first settle said no: nothing was charged");
    let again = World::new();
    again.facilitator.then_settle(timed_out());
    again.pay();
    again.facilitator.then_settle(Ok(settle_refused("invalid_exact_evm_payload_authorization_valid_before")));
    assert_eq!(summary(&again.pay()), s("502", "settlement_unknown"));
    assert_eq!(again.record().state, State::Settling, "after an unknown outcome, a refusal proves nothing");
}
