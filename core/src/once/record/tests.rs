//! Every transition of `apply`, table-driven.

use super::*;

fn rec(state: State, owner: &str, lease_until_ms: u64) -> Record {
    Record {
        state,
        resource: "GET /premium/a".into(),
        fingerprint: "fp".into(),
        owner: owner.into(),
        lease_until_ms,
        expires_at: 10_000,
        reason: None,
        response: None,
        settlement: None,
        locked: false,
        ledger: None,
        held: None,
    }
}

fn claim_req(owner: &str) -> ArbiterRequest {
    ArbiterRequest::Claim {
        row: "k".into(),
        record: rec(State::Claimed, owner, 2_000),
        now_ms: 1_000,
        fresh: true,
        charge: None,
    }
}

/// A claim for a payment whose validity window has closed: only a record may answer.
fn late_claim_req(owner: &str) -> ArbiterRequest {
    ArbiterRequest::Claim {
        row: "k".into(),
        record: rec(State::Claimed, owner, 2_000),
        now_ms: 1_000,
        fresh: false,
        charge: None,
    }
}

fn name(reply: &ArbiterReply) -> &'static str {
    match reply {
        ArbiterReply::Bound => "bound",
        ArbiterReply::IdConflict => "id_conflict",
        ArbiterReply::Granted { previous: None } => "granted",
        ArbiterReply::Granted { previous: Some(_) } => "granted_takeover",
        ArbiterReply::InFlight { .. } => "in_flight",
        ArbiterReply::Finished { .. } => "finished",
        ArbiterReply::Replay => "replay",
        ArbiterReply::Conflict => "conflict",
        ArbiterReply::Advanced => "advanced",
        ArbiterReply::Recorded { .. } => "recorded",
        ArbiterReply::Blocked { .. } => "blocked",
        ArbiterReply::Capped { .. } => "capped",
        ArbiterReply::RateLimited { .. } => "rate_limited",
        ArbiterReply::Payer { .. } => "payer",
        ArbiterReply::LostClaim => "lost_claim",
        ArbiterReply::NothingToResume => "nothing_to_resume",
        ArbiterReply::SettleDone { .. } => "settle_done",
        ArbiterReply::SettleRefused { .. } => "settle_refused",
        ArbiterReply::SettleUnknown { .. } => "settle_unknown",
        ArbiterReply::Unsettleable { .. } => "unsettleable",
    }
}

#[test]
fn claims_by_stored_state() {
    let other_resource = Record { resource: "GET /premium/b".into(), ..rec(State::Settled, "a", 0) };
    let other_fp = Record { fingerprint: "fp2".into(), ..rec(State::Settled, "a", 0) };
    let released_elsewhere = Record { resource: "GET /other".into(), ..rec(State::Released, "a", 0) };
    for (stored, want, writes, owner_after) in [
        (None, "granted", true, Some("b")),
        (Some(rec(State::Released, "a", 5_000)), "granted", true, Some("b")),
        (Some(released_elsewhere), "granted", true, Some("b")),
        (Some(rec(State::Claimed, "a", 5_000)), "in_flight", false, None),
        (Some(rec(State::Settling, "a", 5_000)), "in_flight", false, None),
        (Some(rec(State::Claimed, "a", 900)), "granted", true, Some("b")),
        (Some(rec(State::Settling, "a", 900)), "granted_takeover", true, Some("b")),
        (Some(rec(State::Settled, "a", 0)), "finished", false, None),
        (Some(rec(State::Rejected, "a", 0)), "finished", false, None),
        (Some(other_resource), "replay", false, None),
        (Some(other_fp), "conflict", false, None),
    ] {
        let label = format!("{stored:?}");
        let (write, reply, _) = apply(stored.map(Row::Record), &mut Tally::default(), claim_req("b"));
        assert_eq!(name(&reply), want, "{label}");
        assert_eq!(write.is_some(), writes, "{label}");
        if let Some(Row::Record(w)) = write {
            assert_eq!(Some(w.owner.as_str()), owner_after, "{label}");
            assert_eq!(w.lease_until_ms, 2_000, "{label}");
        }
    }
}

#[test]
fn late_claims_are_answered_only_from_a_record() {
    let other_fp = Record { fingerprint: "fp2".into(), ..rec(State::Settled, "a", 0) };
    for (stored, want, writes) in [
        (None, "nothing_to_resume", false),
        (Some(rec(State::Released, "a", 5_000)), "nothing_to_resume", false),
        (Some(rec(State::Claimed, "a", 900)), "nothing_to_resume", false),
        (Some(rec(State::Claimed, "a", 5_000)), "in_flight", false),
        (Some(rec(State::Settling, "a", 900)), "granted_takeover", true),
        (Some(rec(State::Settled, "a", 0)), "finished", false),
        (Some(rec(State::Rejected, "a", 0)), "finished", false),
        (Some(other_fp), "conflict", false),
    ] {
        let label = format!("{stored:?}");
        let (write, reply, _) = apply(stored.map(Row::Record), &mut Tally::default(), late_claim_req("b"));
        assert_eq!((name(&reply), write.is_some()), (want, writes), "{label}");
    }
}

#[test]
fn a_takeover_keeps_the_settling_record_and_its_stored_response() {
    let mut settling = rec(State::Settling, "a", 900);
    settling.response = Some(StoredResponse { status: 201, headers: vec![], body: Some(b"x".to_vec()) });
    let (write, reply, _) = apply(Some(Row::Record(settling.clone())), &mut Tally::default(), claim_req("b"));
    let Some(Row::Record(w)) = write else { panic!() };
    assert_eq!(w.state, State::Settling);
    assert_eq!(w.response, settling.response);
    assert_eq!((w.owner.as_str(), w.lease_until_ms), ("b", 2_000));
    assert_eq!(reply, ArbiterReply::Granted { previous: Some(w) }, "the reply is the record as now stored");
}

#[test]
fn in_flight_says_how_long_to_wait() {
    let (_, reply, _) =
        apply(Some(Row::Record(rec(State::Claimed, "a", 1_750))), &mut Tally::default(), claim_req("b"));
    assert_eq!(reply, ArbiterReply::InFlight { retry_after_ms: 750 });
}

#[test]
fn advances_need_the_claim() {
    for (stored, owner, want) in [
        (Some(rec(State::Claimed, "a", 2_000)), "a", "advanced"),
        (Some(rec(State::Claimed, "b", 2_000)), "a", "lost_claim"),
        (None, "a", "lost_claim"),
    ] {
        let req = ArbiterRequest::Advance {
            row: "k".into(),
            record: rec(State::Settled, owner, 0),
            ledger: None,
            charge: None,
        };
        let (write, reply, _) = apply(stored.map(Row::Record), &mut Tally::default(), req);
        assert_eq!(name(&reply), want, "{owner}");
        assert_eq!(write.is_some(), want == "advanced");
    }
}

#[test]
fn a_settle_order_is_not_a_transition() {
    // The arbiter carries orders out itself (`flow::settle_order`); `apply` writes nothing.
    let order = SettleOrder {
        header: "x".into(),
        v1: false,
        route: "GET /a".into(),
        option: 0,
        resource_url: "https://a.example/a".into(),
        resuming: false,
        verified_at_ms: Some(1),
    };
    let req = ArbiterRequest::Settle { row: "k".into(), record: rec(State::Settling, "a", 2_000), order };
    let (write, reply, _) = apply(Some(Row::Record(rec(State::Claimed, "a", 2_000))), &mut Tally::default(), req);
    assert_eq!((write, name(&reply)), (None, "unsettleable"));
}

#[test]
fn id_bindings_are_first_writer_wins() {
    let b = |key: &str, fp: &str| IdBinding { key: key.into(), fingerprint: fp.into(), expires_at: 9 };
    for (stored, wanted, want, writes) in [
        (None, b("k", "f"), "bound", true),
        (Some(b("k", "f")), b("k", "f"), "bound", false),
        (Some(b("k", "f")), b("k", "g"), "id_conflict", false),
        (Some(b("k", "f")), b("j", "f"), "id_conflict", false),
    ] {
        let (write, reply, _) = apply(
            stored.map(Row::Id),
            &mut Tally::default(),
            ArbiterRequest::BindId { row: "id:x".into(), binding: wanted },
        );
        assert_eq!((name(&reply), write.is_some()), (want, writes));
    }
}

#[test]
fn records_round_trip_as_json_with_binary_bodies() {
    let mut r = rec(State::Settled, "a", 0);
    r.response = Some(StoredResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/octet-stream".into())],
        body: Some(vec![0, 159, 146, 150, 255]),
    });
    r.settlement = Some(StoredSettlement { header: "h".into(), receipt: "a.b.c".into(), version: 1 });
    let json = serde_json::to_string(&Row::Record(r.clone())).unwrap();
    assert_eq!(Row::parse(&json).unwrap(), Row::Record(r));
    let id = IdBinding { key: "k".into(), fingerprint: "f".into(), expires_at: 9 };
    assert_eq!(Row::parse(&serde_json::to_string(&Row::Id(id.clone())).unwrap()).unwrap(), Row::Id(id));
    // Rows as stored by earlier builds (untagged) still read the same.
    let stored = r#"{"key":"k","fingerprint":"f","expires_at":9}"#;
    assert!(matches!(Row::parse(stored), Ok(Row::Id(IdBinding { expires_at: 9, .. }))));
    let stored =
        r#"{"state":"claimed","resource":"r","fingerprint":"f","owner":"o","lease_until_ms":1,"expires_at":2}"#;
    assert!(matches!(Row::parse(stored), Ok(Row::Record(Record { state: State::Claimed, expires_at: 2, .. }))));
    assert!(Row::parse(r#"{"key":"k"}"#).is_err() && Row::parse("[]").is_err());
    let req = claim_req("b");
    assert_eq!(ArbiterRequest::from_json(&serde_json::to_string(&req).unwrap()).unwrap(), req);
}

#[test]
fn replayed_headers() {
    for (h, keep) in [
        ("Content-Type", true),
        ("ETag", true),
        ("x-request-id", true),
        ("Set-Cookie", false),
        ("Content-Length", false),
        ("PAYMENT-RESPONSE", false),
        ("cf-ray", false),
        ("Transfer-Encoding", false),
    ] {
        assert_eq!(keep_header(h), keep, "{h}");
    }
}

mod generated {
    use super::*;
    use crate::codec::to_json;
    use crate::testkit::Rng;

    fn text(rng: &mut Rng) -> String {
        let alphabet = ['a', 'Z', '0', '"', '\\', '\n', 'é', '😀', ' ', ':', '{'];
        (0..rng.below(8)).map(|_| rng.pick(&alphabet)).collect()
    }

    fn maybe<T>(rng: &mut Rng, make: impl FnOnce(&mut Rng) -> T) -> Option<T> {
        (rng.below(2) == 1).then(|| make(rng))
    }

    fn record(rng: &mut Rng) -> Record {
        let states = [State::Claimed, State::Settling, State::Settled, State::Released, State::Rejected];
        Record {
            state: rng.pick(&states),
            resource: text(rng),
            fingerprint: text(rng),
            owner: text(rng),
            lease_until_ms: rng.next(),
            expires_at: rng.next() >> rng.below(64),
            reason: maybe(rng, text),
            response: maybe(rng, |rng| StoredResponse {
                status: rng.below(600) as u16,
                headers: (0..rng.below(3)).map(|_| (text(rng), text(rng))).collect(),
                body: maybe(rng, |rng| (0..rng.below(40)).map(|_| rng.next() as u8).collect()),
            }),
            settlement: maybe(rng, |rng| StoredSettlement {
                header: text(rng),
                receipt: text(rng),
                version: rng.below(3) as u8,
            }),
            locked: rng.below(2) == 1,
            ledger: maybe(rng, ledger_payment).map(Box::new),
            held: maybe(rng, text),
        }
    }

    fn amount(rng: &mut Rng) -> crate::amount::Amount {
        crate::amount::Amount(u128::from(rng.next()) << rng.below(64))
    }

    fn charge(rng: &mut Rng) -> Charge {
        Charge {
            row: text(rng),
            amount: amount(rng),
            cap: maybe(rng, |rng| (text(rng), amount(rng))),
            rate: maybe(rng, |rng| (text(rng), rng.next() as u32, rng.next())),
            alert_after: maybe(rng, |rng| rng.next() as u32),
        }
    }

    pub(crate) fn tally(rng: &mut Rng) -> Tally {
        use crate::once::tally::Hold;
        Tally {
            day: rng.next(),
            settled: (0..rng.below(3)).map(|_| (text(rng), amount(rng))).collect(),
            holds: (0..rng.below(3))
                .map(|_| Hold {
                    key: text(rng),
                    scope: text(rng),
                    amount: amount(rng),
                    day: rng.next(),
                    until_ms: rng.next(),
                    settling: rng.below(2) == 1,
                })
                .collect(),
            rates: (0..rng.below(3)).map(|_| (text(rng), rng.next())).collect(),
            limited: (rng.next(), rng.next() as u32),
            alerted: (0..rng.below(3)).map(|_| (text(rng), rng.next())).collect(),
            blocked: rng.below(2) == 1,
            cap: maybe(rng, amount),
        }
    }

    fn change(rng: &mut Rng) -> PayerChange {
        match rng.below(3) {
            0 => PayerChange::Block,
            1 => PayerChange::Unblock,
            _ => PayerChange::Cap(maybe(rng, amount)),
        }
    }

    fn order(rng: &mut Rng) -> SettleOrder {
        SettleOrder {
            header: text(rng),
            v1: rng.below(2) == 1,
            route: text(rng),
            option: rng.below(5),
            resource_url: text(rng),
            resuming: rng.below(2) == 1,
            verified_at_ms: maybe(rng, |rng| rng.next()),
        }
    }

    fn ledger_payment(rng: &mut Rng) -> crate::ledger::Payment {
        crate::ledger::Payment {
            payment_key: text(rng),
            payer: text(rng),
            pay_to: text(rng),
            amount: text(rng),
            asset: text(rng),
            network: text(rng),
            x402_version: rng.below(3) as u8,
            route: text(rng),
            method: text(rng),
            path: text(rng),
            facilitator: text(rng),
        }
    }

    fn note(rng: &mut Rng) -> crate::ledger::Note {
        crate::ledger::Note {
            payment: ledger_payment(rng),
            time_ms: rng.next(),
            verified_at_ms: maybe(rng, |rng| rng.next()),
            reason: maybe(rng, text),
            transaction: maybe(rng, text),
            receipt_id: maybe(rng, text),
            receipt: maybe(rng, text),
        }
    }

    fn request(rng: &mut Rng) -> ArbiterRequest {
        let row = text(rng);
        match rng.below(5) {
            4 => ArbiterRequest::Payer {
                row,
                change: maybe(rng, change),
                ledger: ledger_payment(rng),
                now_ms: rng.next(),
            },
            0 => ArbiterRequest::BindId {
                row,
                binding: IdBinding { key: text(rng), fingerprint: text(rng), expires_at: rng.next() },
            },
            1 => ArbiterRequest::Claim {
                row,
                record: record(rng),
                now_ms: rng.next(),
                fresh: rng.below(2) == 1,
                charge: maybe(rng, charge),
            },
            2 => ArbiterRequest::Advance {
                row,
                record: record(rng),
                ledger: maybe(rng, note),
                charge: maybe(rng, charge),
            },
            3 if rng.below(2) == 1 => {
                let (ledger, reason, now_ms) = (ledger_payment(rng), text(rng), rng.next());
                ArbiterRequest::Refuse { row, ledger, reason, now_ms, alert: maybe(rng, text) }
            }
            _ => ArbiterRequest::Settle { row, record: record(rng), order: order(rng) },
        }
    }

    fn reply(rng: &mut Rng) -> ArbiterReply {
        match rng.below(20) {
            16 => ArbiterReply::Blocked { alert: rng.below(2) == 1 },
            17 => ArbiterReply::Capped { retry_after_s: rng.next(), alert: rng.below(2) == 1 },
            18 => ArbiterReply::RateLimited { retry_after_ms: rng.next(), alert: rng.below(2) == 1 },
            19 => ArbiterReply::Payer { tally: tally(rng) },
            0 => ArbiterReply::Bound,
            1 => ArbiterReply::IdConflict,
            2 => ArbiterReply::Granted { previous: maybe(rng, record) },
            3 => ArbiterReply::InFlight { retry_after_ms: rng.next() },
            4 => ArbiterReply::Finished { record: record(rng) },
            5 => ArbiterReply::Replay,
            6 => ArbiterReply::Conflict,
            7 => ArbiterReply::NothingToResume,
            8 => ArbiterReply::Advanced,
            9 => ArbiterReply::LostClaim,
            10 => ArbiterReply::SettleDone {
                settlement: StoredSettlement { header: text(rng), receipt: text(rng), version: 2 },
            },
            11 => ArbiterReply::SettleRefused { reason: text(rng), header: text(rng) },
            12 => ArbiterReply::SettleUnknown { why: text(rng) },
            13 => ArbiterReply::Recorded { alert: rng.below(2) == 1 },
            _ => ArbiterReply::Unsettleable { why: text(rng) },
        }
    }

    /// Every prefix of `json` but the whole is refused (and none panics).
    fn cuts_refused<T: std::fmt::Debug>(json: &str, read: impl Fn(&str) -> Result<T, crate::json::JsonError>) {
        for (at, _) in json.char_indices().skip(1) {
            assert!(read(&json[..at]).is_err(), "{}", &json[..at]);
        }
    }

    /// Generated stored rows and claims: whenever a claim with a charge is granted afresh
    /// (and so reserves), the claim names the payer's tally for the caller to load, and a
    /// claim that names none changes no tally.
    #[test]
    fn a_claim_that_reserves_always_names_its_tally() {
        let mut rng = Rng(0x7A11_C1A1);
        let states = [State::Claimed, State::Settling, State::Settled, State::Released, State::Rejected];
        let (mut granted, mut skipped) = (0, 0);
        for _ in 0..5_000 {
            let mut existing = rec(rng.pick(&states), "a", rng.below(3_000) as u64);
            existing.fingerprint = ["fp", "other"][rng.below(2)].into();
            existing.resource = ["GET /premium/a", "GET /elsewhere"][rng.below(2)].into();
            let stored = match rng.below(4) {
                0 => None,
                1 => Some(Row::Id(IdBinding { key: "k".into(), fingerprint: "fp".into(), expires_at: 1 })),
                _ => Some(Row::Record(existing)),
            };
            let charge = crate::once::tally::Charge {
                row: "payer:0xabc".into(),
                amount: crate::amount::Amount(1),
                cap: None,
                rate: None,
                alert_after: None,
            };
            let req = ArbiterRequest::Claim {
                row: "k".into(),
                record: rec(State::Claimed, "b", 2_500),
                now_ms: 1_000 + rng.below(2_000) as u64,
                fresh: rng.below(4) > 0,
                charge: Some(charge),
            };
            let named = req.tally_row(stored.as_ref()).is_some();
            let mut tally = Tally::default();
            let (_, reply, _) = apply(stored, &mut tally, req);
            if matches!(reply, ArbiterReply::Granted { previous: None }) {
                granted += 1;
                assert!(named, "a fresh grant reserved in a tally nobody loaded");
                assert_eq!(tally.holds.len(), 1);
            }
            if !named {
                skipped += 1;
                assert_eq!(tally, Tally::default(), "{reply:?}");
            }
        }
        assert!(granted > 100 && skipped > 100, "both kinds generated: {granted} granted, {skipped} skipped");
    }

    #[test]
    fn requests_replies_and_rows_read_back_as_written() {
        let mut rng = Rng(0xa5b1_7e12);
        for i in 0..1_500 {
            let req = request(&mut rng);
            let json = to_json(&req);
            assert_eq!(ArbiterRequest::from_json(&json).as_ref(), Ok(&req), "{json}");
            let rep = reply(&mut rng);
            let json = to_json(&rep);
            assert_eq!(ArbiterReply::from_json(&json).as_ref(), Ok(&rep), "{json}");
            let row = if rng.below(3) == 0 {
                Row::Id(IdBinding { key: text(&mut rng), fingerprint: text(&mut rng), expires_at: rng.next() })
            } else {
                Row::Record(record(&mut rng))
            };
            let t = tally(&mut rng);
            let tally_json = to_json(&t);
            assert_eq!(Tally::parse(&tally_json).as_ref(), Ok(&t), "{tally_json}");
            let json = to_json(&row);
            assert_eq!(Row::parse(&json).as_ref(), Ok(&row), "{json}");
            if i % 50 == 0 {
                cuts_refused(&to_json(&req), ArbiterRequest::from_json);
                cuts_refused(&to_json(&rep), ArbiterReply::from_json);
                cuts_refused(&json, Row::parse);
                cuts_refused(&tally_json, Tally::parse);
            }
        }
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for bad in [
            r#"{"claim":{"row":"k"}}"#,
            r#"{"claim":{"row":"k","record":{"state":"claimed"},"now_ms":1,"fresh":true}}"#,
            r#"{"nope":{"row":"k"}}"#,
            r#"{"advance":{"row":"k","record":{}},"claim":{}}"#,
            r#""claim""#,
            r#"[]"#,
        ] {
            assert!(ArbiterRequest::from_json(bad).is_err(), "{bad}");
        }
        for bad in [
            r#""granted_maybe""#,
            r#"{"bound":{}}"#,
            r#"{"in_flight":{}}"#,
            r#"{"finished":{"record":1}}"#,
            "\"bound\" x",
        ] {
            assert!(ArbiterReply::from_json(bad).is_err(), "{bad}");
        }
        let ok =
            r#"{"state":"claimed","resource":"r","fingerprint":"f","owner":"o","lease_until_ms":1,"expires_at":2}"#;
        assert!(Row::parse(ok).is_ok());
        for bad in [
            ok.replace("claimed", "spent"),
            ok.replace(r#""expires_at":2"#, r#""expires_at":-2"#),
            ok.replace(r#""expires_at":2"#, r#""expires_at":2.5"#),
            ok.replace('}', r#","response":{"status":200,"headers":[["a"]]}}"#),
            ok.replace('}', r#","response":{"status":70000,"headers":[]}}"#),
            ok.replace('}', r#","response":{"status":200,"headers":[],"body":"@@"}}"#),
        ] {
            assert!(Row::parse(&bad).is_err(), "{bad}");
        }
        // Unknown fields are passed over; an absent or null option is none.
        let extra = ok.replace('}', r#","later":{"a":[1,{"b":null}]},"reason":null}"#);
        assert!(matches!(Row::parse(&extra), Ok(Row::Record(Record { reason: None, .. }))));
    }
}

fn ledger_payment() -> crate::ledger::Payment {
    crate::ledger::Payment {
        payment_key: "k".into(),
        payer: "0xP".into(),
        pay_to: "0xT".into(),
        amount: "1".into(),
        asset: "0xA".into(),
        network: "eip155:1".into(),
        x402_version: 2,
        route: "GET /premium/*".into(),
        method: "GET".into(),
        path: "/premium/a".into(),
        facilitator: "paper".into(),
    }
}

fn words(events: &[LedgerEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.reason {
            Some(r) => format!("{}:{r}", e.event.as_str()),
            None => e.event.as_str().to_string(),
        })
        .collect()
}

/// The events of every write, from the raw output of `apply` (no store deduplicates here).
#[test]
fn events_come_only_from_changes_made() {
    let note = |verified: Option<u64>, reason: Option<&str>| Note {
        verified_at_ms: verified,
        reason: reason.map(str::to_string),
        transaction: Some("0xtx".into()),
        receipt_id: Some("rid".into()),
        ..Note::new(ledger_payment(), 5)
    };
    let mut rejected = rec(State::Rejected, "a", 0);
    rejected.reason = Some("insufficient_funds".into());
    let cases: Vec<(State, &str, Record, Note, &[&str])> = vec![
        (State::Claimed, "a", rec(State::Settling, "a", 0), note(Some(3), None), &["locked"]),
        (State::Claimed, "a", rec(State::Settling, "a", 0), note(None, None), &[]),
        (State::Settling, "a", rec(State::Settling, "a", 0), note(Some(3), None), &[]),
        (State::Settling, "a", rec(State::Settled, "a", 0), note(None, None), &["released"]),
        (State::Settled, "a", rec(State::Settled, "a", 0), note(None, None), &[]),
        (State::Released, "a", rec(State::Released, "a", 0), note(Some(3), Some("x")), &[]),
        (
            State::Claimed,
            "a",
            rec(State::Released, "a", 0),
            note(Some(3), Some("origin_failed")),
            &["locked", "refunded:origin_failed"],
        ),
        (
            State::Claimed,
            "a",
            rec(State::Released, "a", 0),
            note(None, Some("facilitator_unavailable")),
            &["rejected:facilitator_unavailable"],
        ),
        (State::Claimed, "a", rejected, note(None, None), &["rejected:insufficient_funds"]),
        (
            State::Settling,
            "a",
            rec(State::Released, "a", 0),
            note(None, Some("insufficient_funds")),
            &["refunded:insufficient_funds"],
        ),
        // Not ours: nothing changes, nothing is written to the ledger.
        (State::Claimed, "b", rec(State::Settling, "a", 0), note(Some(3), None), &[]),
    ];
    for (from, holder, to, note, want) in cases {
        let stored = Some(Row::Record(rec(from, holder, 2_000)));
        let (to_state, to_owner) = (to.state, to.owner.clone());
        let request = ArbiterRequest::Advance { row: "k".into(), record: to, ledger: Some(note), charge: None };
        let (write, _, events) = apply(stored, &mut Tally::default(), request);
        assert_eq!(words(&events), want, "{from:?} -> {to_state:?} held by {holder}");
        assert_eq!(write.is_some(), holder == "a");
        for e in &events {
            assert_eq!(e.step, to_owner);
            let time = if e.event == EventKind::Locked { 3 } else { 5 };
            assert_eq!(e.time_ms, time);
            let settled = e.event == EventKind::Released;
            assert_eq!((e.transaction.is_some(), e.receipt_id.is_some()), (settled, settled));
        }
    }
    // The lock write (claimed, marked locked) is the `locked`; the next step then adds none.
    let lock = Record { locked: true, ..rec(State::Claimed, "a", 2_000) };
    let (_, _, events) = apply(
        Some(Row::Record(rec(State::Claimed, "a", 2_000))),
        &mut Tally::default(),
        ArbiterRequest::Advance {
            row: "k".into(),
            record: lock.clone(),
            ledger: Some(note(Some(3), None)),
            charge: None,
        },
    );
    assert_eq!(words(&events), ["locked"]);
    for (to, want) in
        [(rec(State::Settling, "a", 0), vec![]), (rec(State::Released, "a", 0), vec!["refunded:origin_failed"])]
    {
        let (_, _, events) = apply(
            Some(Row::Record(lock.clone())),
            &mut Tally::default(),
            ArbiterRequest::Advance {
                row: "k".into(),
                record: to,
                ledger: Some(note(Some(3), Some("origin_failed"))),
                charge: None,
            },
        );
        assert_eq!(words(&events), want);
    }
    // A locked claim taken over after its lease: its refund, by the claim that replaces it.
    let claim = |stored: Record| {
        let req = ArbiterRequest::Claim {
            row: "k".into(),
            record: rec(State::Claimed, "b", 9_000),
            now_ms: 3_000,
            fresh: true,
            charge: None,
        };
        let (_, reply, events) = apply(Some(Row::Record(stored)), &mut Tally::default(), req);
        (name(&reply), events)
    };
    let locked =
        || Record { locked: true, ledger: Some(Box::new(ledger_payment())), ..rec(State::Claimed, "a", 2_000) };
    let (reply, events) = claim(locked());
    assert_eq!((reply, words(&events)), ("granted", vec!["refunded:abandoned".to_string()]));
    assert_eq!(events[0].step, "a", "the abandoned claim's own step");
    assert_eq!(claim(Record { lease_until_ms: 5_000, ..locked() }).1, vec![], "still leased: no refund");
    assert_eq!(claim(rec(State::Claimed, "a", 2_000)).1, vec![], "never locked: nothing to refund");

    // A write without a note tells the ledger nothing.
    let (_, _, events) = apply(
        Some(Row::Record(rec(State::Claimed, "a", 2_000))),
        &mut Tally::default(),
        ArbiterRequest::Advance { row: "k".into(), record: rec(State::Released, "a", 0), ledger: None, charge: None },
    );
    assert!(events.is_empty());
}

#[test]
fn refusals_are_one_rejection_per_payment_and_reason() {
    let refuse = |reason: &str| ArbiterRequest::Refuse {
        row: "k".into(),
        ledger: ledger_payment(),
        reason: reason.into(),
        now_ms: 7,
        alert: None,
    };
    let (write, reply, events) =
        apply(Some(Row::Record(rec(State::Settled, "a", 0))), &mut Tally::default(), refuse("payment_already_used"));
    assert_eq!(
        (write, name(&reply), words(&events)),
        (None, "recorded", vec!["rejected:payment_already_used".to_string()])
    );
    let (_, _, again) = apply(None, &mut Tally::default(), refuse("payment_already_used"));
    assert_eq!(events[0].id(), again[0].id(), "the same refusal, whatever the row holds");
    let (_, _, other) = apply(None, &mut Tally::default(), refuse("payment_conflict"));
    assert_ne!(events[0].id(), other[0].id());
    // A replay or a conflict at the claim writes no event itself (the Worker records it).
    let settled = || Some(Row::Record(rec(State::Settled, "a", 0)));
    let mut elsewhere = rec(State::Claimed, "b", 2_000);
    elsewhere.resource = "GET /elsewhere".into();
    let (_, reply, none) = apply(
        settled(),
        &mut Tally::default(),
        ArbiterRequest::Claim { row: "k".into(), record: elsewhere, now_ms: 1_000, fresh: true, charge: None },
    );
    assert_eq!((name(&reply), none.len()), ("replay", 0));
}

/// A charge deferred to the lock write (a payer proven only by verify): reserved once,
/// with the write, at the note's time; refused as a claim's would be, writing nothing;
/// never without a note; never a second time on a record that holds one.
#[test]
fn a_deferred_charge_is_reserved_with_the_lock_or_refused() {
    let charge = crate::once::tally::Charge {
        row: "payer:0xabc".into(),
        amount: crate::amount::Amount(5),
        cap: Some((String::new(), crate::amount::Amount(8))),
        rate: None,
        alert_after: None,
    };
    let lock = |held: Option<&str>| {
        let mut r = Record { locked: true, ..rec(State::Claimed, "a", 2_000) };
        r.held = held.map(str::to_string);
        r
    };
    let advance_row = |row: &str, record: Record, note: bool| ArbiterRequest::Advance {
        row: row.into(),
        record,
        ledger: note.then(|| Note { verified_at_ms: Some(3), ..Note::new(ledger_payment(), 5) }),
        charge: Some(charge.clone()),
    };
    let advance = |record: Record, note: bool| advance_row("k", record, note);
    // The tally the arbiter loads for it: the charge's, until the record holds one.
    let stored = Some(Row::Record(rec(State::Claimed, "a", 2_000)));
    assert_eq!(advance(lock(None), true).tally_row(stored.as_ref()), Some("payer:0xabc".into()));
    let mut tally = Tally::default();
    let (write, reply, events) = apply(stored.clone(), &mut tally, advance(lock(None), true));
    assert_eq!(reply, ArbiterReply::Advanced);
    assert_eq!(words(&events), ["locked"]);
    match write {
        Some(Row::Record(r)) => assert_eq!(r.held.as_deref(), Some("payer:0xabc")),
        other => panic!("{other:?}"),
    }
    assert_eq!((tally.holds.len(), tally.spent("")), (1, 5), "held: counted against the cap");
    // A second payment over the cap (5 + 5 > 8) is refused: nothing written, no event.
    let (write, reply, events) = apply(stored.clone(), &mut tally, advance_row("k2", lock(None), true));
    assert!(matches!(reply, ArbiterReply::Capped { .. }), "{reply:?}");
    assert!(write.is_none() && events.is_empty());
    assert_eq!(tally.holds.len(), 1);
    // Without a note there is no time to judge it at: refused as a lost claim.
    let (write, reply, _) = apply(stored.clone(), &mut Tally::default(), advance(lock(None), false));
    assert_eq!((write.is_none(), reply), (true, ArbiterReply::LostClaim));
    // A record that holds its charge already keeps it: nothing more is reserved.
    let mut holding = rec(State::Claimed, "a", 2_000);
    holding.held = Some("payer:0xabc".into());
    let mut tally = Tally::default();
    let (write, reply, _) = apply(Some(Row::Record(holding)), &mut tally, advance(lock(None), true));
    assert_eq!(reply, ArbiterReply::Advanced);
    assert!(tally.holds.is_empty(), "no second hold");
    assert!(matches!(write, Some(Row::Record(r)) if r.held.as_deref() == Some("payer:0xabc")));
    // Not ours: nothing is reserved.
    let mut tally = Tally::default();
    let theirs = Some(Row::Record(rec(State::Claimed, "b", 2_000)));
    let (_, reply, _) = apply(theirs, &mut tally, advance(lock(None), true));
    assert_eq!((reply, tally.holds.len()), (ArbiterReply::LostClaim, 0));
}
