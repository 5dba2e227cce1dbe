//! Auth, parameters, the shard merge (against a model of the SQL it pages through) and the
//! summary.

use super::*;
use crate::testkit::Rng;

const TOKEN: &str = "an-admin-token-of-the-operator";

fn token() -> AdminToken {
    AdminToken::parse(TOKEN).unwrap().unwrap()
}

#[test]
fn tokens_are_long_visible_ascii_and_never_shown() {
    assert_eq!(AdminToken::parse("  ").unwrap(), None);
    for bad in ["tiny-tok", "has spaces inside it ok", "ctrl\u{1}-character-in-here", "ünïcödé-token-value-x"] {
        let e = AdminToken::parse(bad).unwrap_err();
        assert_eq!(e.field, "ADMIN_TOKEN");
        assert!(!e.to_string().contains(bad));
    }
    assert!(!format!("{:?}", token()).contains(TOKEN));
}

#[test]
fn bearer_tokens_and_sessions() {
    let t = token();
    let k = crate::receipt::ReceiptSigner::from_seed([5; 32]);
    let now = 1_800_000_000;
    assert!(t.authorizes(&k, Some(&format!("Bearer {TOKEN}")), None, now));
    assert!(t.authorizes(&k, Some(&format!("bearer  {TOKEN} ")), None, now));
    for wrong in ["Bearer nope", "Bearer", "Basic xyz", &format!("Bearer {TOKEN}x"), &format!("Token {TOKEN}")] {
        assert!(!t.authorizes(&k, Some(wrong), None, now), "{wrong}");
    }
    assert!(!t.authorizes(&k, None, None, now));
    let session = t.session(&k, now);
    let cookie = format!("a=1; {SESSION_COOKIE}={session}; b=2");
    assert!(t.authorizes(&k, None, Some(&cookie), now));
    assert!(t.authorizes(&k, None, Some(&cookie), now + SESSION_SECONDS - 1));
    assert!(!t.authorizes(&k, None, Some(&cookie), now + SESSION_SECONDS), "expired");
    // A planted cookie of the same name first does not lock the operator out.
    assert!(t.authorizes(&k, None, Some(&format!("{SESSION_COOKIE}=junk; {cookie}")), now));
    // A wrong Bearer is refused even with a good cookie: what is presented is judged.
    assert!(!t.authorizes(&k, Some("Bearer wrong"), Some(&cookie), now));
    let other = AdminToken::parse("another-token-entirely-0").unwrap().unwrap();
    assert!(!other.admits_session(&k, &session, now), "another token's session");
    let other_key = crate::receipt::ReceiptSigner::from_seed([6; 32]);
    assert!(!t.admits_session(&other_key, &session, now), "another receipt key's session");
    let (exp, seal) = session.split_once('.').unwrap();
    let later: u64 = exp.parse::<u64>().unwrap() + 1;
    assert!(!t.admits_session(&k, &format!("{later}.{seal}"), now), "a moved expiry breaks the seal");
    let far = now + 10 * SESSION_SECONDS;
    assert!(!t.admits_session(&k, &format!("{far}.{}", t.seal(&k, far)), now), "no session outlives its length");
    for junk in ["", ".", "x.y", "+1.abc", &format!("{exp}."), &format!(".{seal}")] {
        assert!(!t.admits_session(&k, junk, now), "{junk}");
    }
}

/// Generated presented tokens: admitted exactly when equal.
#[test]
fn generated_tokens_are_admitted_only_when_equal() {
    let t = token();
    let mut rng = Rng(0xAD31);
    for _ in 0..3000 {
        let mut guess = TOKEN.as_bytes().to_vec();
        match rng.below(4) {
            0 => guess.truncate(rng.below(guess.len())),
            1 => guess.push(rng.pick(b"ax-0")),
            2 => {
                let i = rng.below(guess.len());
                guess[i] = rng.pick(b"ax-0");
            }
            _ => {}
        }
        let guess = String::from_utf8(guess).unwrap();
        assert_eq!(t.admits(&guess), guess == TOKEN, "{guess}");
    }
}

#[test]
fn endpoints_and_their_methods() {
    assert_eq!(Endpoint::of("GET", ""), Ok(Endpoint::Dashboard));
    assert_eq!(Endpoint::of("HEAD", "ledger.jsonl"), Ok(Endpoint::LedgerJsonl));
    assert_eq!(Endpoint::of("get", "ledger.csv"), Ok(Endpoint::LedgerCsv));
    assert_eq!(Endpoint::of("GET", "summary"), Ok(Endpoint::Summary));
    assert_eq!(Endpoint::of("POST", "login"), Ok(Endpoint::Login));
    assert_eq!(Endpoint::of("POST", "logout"), Ok(Endpoint::Logout));
    assert_eq!(Endpoint::of("POST", "summary"), Err(AdminError::MethodNotAllowed));
    assert_eq!(Endpoint::of("GET", "login"), Err(AdminError::MethodNotAllowed));
    assert_eq!(Endpoint::of("GET", "ledger.json"), Err(AdminError::NotFound));
    assert_eq!(Endpoint::of("GET", "summary/"), Err(AdminError::NotFound));
    assert!(Endpoint::LedgerCsv.guarded() && Endpoint::Summary.guarded() && !Endpoint::Login.guarded());
    assert!(!Endpoint::Logout.guarded(), "an expired session's cookie can still be cleared");
}

#[test]
fn form_pairs_decode_like_a_browser_encodes() {
    assert_eq!(
        form_pairs("a=1&b=x+y&c=%2F%e2%82%ac&&d&e=%zz&f=%4"),
        vec![("a".into(), "1".into()), ("b".into(), "x y".into()), ("c".into(), "/€".into()), ("d".into(), "".into())]
    );
    assert_eq!(form_pairs("route=GET+%2Fpremium%2F*"), vec![("route".into(), "GET /premium/*".into())]);
    assert!(form_pairs("x=%ff").is_empty(), "not UTF-8");
    assert!(form_pairs("x=%+1").is_empty(), "not hex");
}

/// Generated strings, encoded as a browser encodes a form, decode back.
#[test]
fn generated_form_values_round_trip() {
    let mut rng = Rng(0xF0A4);
    let pieces = ["a", " ", "+", "%", "&", "=", "é", "€", "/", "*", "\u{1}"];
    for _ in 0..3000 {
        let value: String = (0..rng.below(10)).map(|_| rng.pick(&pieces)).collect();
        let encoded: String = value
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'*' => (b as char).to_string(),
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect();
        assert_eq!(
            form_pairs(&format!("k={encoded}&z=1")),
            vec![("k".into(), value.clone()), ("z".into(), "1".into())]
        );
        assert_eq!(form_pairs(&format!("k={}", form_encode(&value))), vec![("k".into(), value.clone())]);
    }
}

#[test]
fn ledger_parameters() {
    let now = 1_764_657_600_000;
    let p = LedgerParams::parse(None, now).unwrap();
    assert_eq!((p.since_ms, p.until_ms, p.limit), (now + 1 - DEFAULT_WINDOW_MS, now + 1, DEFAULT_LIMIT));
    let p = LedgerParams::parse(
        Some("since=2025-12-01&until=2025-12-02T06%3A00Z&payer=0x857B06519E91E3A54538791BDBB0E22373E36B66&route=GET+%2Fpremium%2F*&event=released&limit=5&cursor=1764633600000.3.17"),
        now,
    )
    .unwrap();
    assert_eq!((p.since_ms, p.until_ms), (1_764_547_200_000, 1_764_655_200_000));
    assert_eq!(p.payer.as_deref(), Some("0x857b06519e91e3a54538791bdbb0e22373e36b66"));
    assert_eq!((p.route.as_deref(), p.event, p.limit), (Some("GET /premium/*"), Some(EventKind::Released), 5));
    assert_eq!(p.cursor, Some(Cursor { time_ms: 1_764_633_600_000, shard: 3, seq: 17 }));
    for (query, name) in [
        ("since=yesterday", "since"),
        ("until=2025-13-01", "until"),
        ("payer=0x123", "payer"),
        ("event=spent", "event"),
        ("limit=0", "limit"),
        ("limit=100001", "limit"),
        ("cursor=1.2", "cursor"),
        ("since=2025-12-02&until=2025-12-01", "since"),
    ] {
        assert_eq!(LedgerParams::parse(Some(query), now), Err(AdminError::BadParameter(name)), "{query}");
    }
    assert_eq!(LedgerParams::parse(Some("since=1000&until=2000"), now).unwrap().since_ms, 1000);
}

/// The next page's query string reads back as the same parameters with the cursor.
#[test]
fn the_next_page_query_reads_back() {
    let now = 1_764_657_600_000;
    let q = "since=2025-12-01&payer=0x857B06519E91E3A54538791BDBB0E22373E36B66&route=GET+%2Fa%26b%3D1&event=refunded&limit=7";
    let p = LedgerParams::parse(Some(q), now).unwrap();
    let cursor = Cursor { time_ms: 1_764_600_000_000, shard: 4, seq: 9 };
    let next = LedgerParams::parse(Some(&p.next_page(&cursor)), now).unwrap();
    assert_eq!(next, LedgerParams { cursor: Some(cursor), ..p });
}

#[test]
fn generated_cursors_round_trip() {
    let mut rng = Rng(0xC0C0);
    for _ in 0..2000 {
        let c = Cursor { time_ms: rng.next() >> 20, shard: rng.below(16) as u32, seq: (rng.next() >> 2) as i64 };
        assert_eq!(Cursor::parse(&c.text()), Some(c));
    }
    for bad in ["", "1.2", "1.2.3.4", "a.1.1", "1..1", "-1.0.0", "1.0.+1", "99999999999999999999.0.0"] {
        assert_eq!(Cursor::parse(bad), None, "{bad}");
    }
}

/// One shard's ledger as the SQL answers a [`Query`] (the model of `ledgerRead`).
fn answer(rows: &[Line], q: &Query) -> Vec<Line> {
    rows.iter()
        .filter(|l| {
            (l.time_ms > q.from_ms || (l.time_ms == q.from_ms && l.seq > q.after_seq)) && l.time_ms < q.until_ms
        })
        .take(q.limit as usize)
        .cloned()
        .collect()
}

/// Runs the merge as the edge does: feeds pages until every shard has a line or is done,
/// takes a line, and stops after `limit` lines; returns the lines and the next cursor.
fn read(shards: &[Vec<Line>], p: &LedgerParams, page: u32) -> (Vec<(u64, u32, i64)>, Option<Cursor>) {
    let mut m = Merger::new(shards.len() as u32);
    let mut out = Vec::new();
    let mut last = None;
    loop {
        while let Some((shard, from)) = m.wants() {
            let q = match from {
                None => p.first_query(shard, page),
                Some((t, s)) => p.next_query(t, s, page),
            };
            m.feed(shard, answer(&shards[shard as usize], &q), page);
        }
        let Some((line, cursor)) = m.take() else { return (out, None) };
        if out.len() as u32 == p.limit {
            return (out, last);
        }
        assert!(after(p.cursor, &cursor), "a line at or before the cursor");
        out.push((line.time_ms, cursor.shard, line.seq));
        last = Some(cursor);
    }
}

/// Generated ledgers over 16 shards (many equal times): every read is the global order
/// (time, shard, seq) within the window, whatever the page size, and pages joined by their
/// cursors are the whole read, each line once.
#[test]
fn generated_ledgers_merge_in_order_and_page_without_loss() {
    let mut rng = Rng(0x3E6E);
    for round in 0..150 {
        let shards: Vec<Vec<Line>> = (0..16)
            .map(|_| {
                let mut t = 1_000;
                (0..rng.below(30) as i64)
                    .map(|seq| {
                        t += rng.below(3) as u64;
                        Line { seq: seq * 2 + 1, time_ms: t, json: String::new() }
                    })
                    .collect()
            })
            .collect();
        let (since, until) = (1_000 + rng.below(10) as u64, 1_000 + rng.below(60) as u64 + 10);
        let mut want: Vec<(u64, u32, i64)> = shards
            .iter()
            .enumerate()
            .flat_map(|(s, rows)| rows.iter().map(move |l| (l.time_ms, s as u32, l.seq)))
            .filter(|(t, _, _)| (since..until).contains(t))
            .collect();
        want.sort();
        let all = LedgerParams {
            since_ms: since,
            until_ms: until,
            payer: None,
            route: None,
            event: None,
            limit: MAX_LIMIT,
            cursor: None,
        };
        let page = 1 + rng.below(7) as u32;
        assert_eq!(read(&shards, &all, page).0, want, "round {round}, page {page}");
        let limit = 1 + rng.below(9) as u32;
        let mut joined = Vec::new();
        let mut cursor = None;
        loop {
            let p = LedgerParams { limit, cursor, ..all.clone() };
            let (lines, next) = read(&shards, &p, page);
            assert!(lines.len() as u32 <= limit);
            joined.extend(lines);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(joined, want, "round {round}: paged by {limit}");
    }
}

#[test]
fn pages_read_as_the_arbiter_writes_them() {
    assert_eq!(
        parse_page(r#"[[1,1764657600123,"{\"a\":1}"],[7,2,""]]"#).unwrap(),
        vec![
            Line { seq: 1, time_ms: 1_764_657_600_123, json: r#"{"a":1}"#.into() },
            Line { seq: 7, time_ms: 2, json: String::new() }
        ]
    );
    assert_eq!(parse_page("[]").unwrap(), vec![]);
    for bad in ["", "[[1,2]]", "[[1,2,\"x\",4]]", "[[-1,2,\"x\"]]", "[[1,2,3]]", "{}", "[[1,2,\"x\"]] x"] {
        assert!(parse_page(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_summary_adds_up_settlements_and_counts_failures() {
    let line = |time: &str, event: &str, payer: &str, route: &str, amount: &str, reason: Option<&str>| {
        serde_json::json!({"time": time, "event": event, "payer": payer, "route": route, "amount": amount, "reason": reason})
            .to_string()
    };
    let mut s = Summary::default();
    let big = "340282366920938463463374607431768211455"; // u128::MAX: saturates, never wraps
    for l in [
        line("2025-12-01T10:00:00.000Z", "locked", "0xA", "GET /a", "10", None),
        line("2025-12-01T10:00:00.001Z", "released", "0xA", "GET /a", "10", None),
        line("2025-12-01T11:00:00.000Z", "released", "0xa", "GET /b", "5", None),
        line("2025-12-02T00:00:00.000Z", "released", "0xB", "GET /a", "1", None),
        line("2025-12-02T01:00:00.000Z", "refunded", "0xB", "GET /a", "1", Some("origin_failed")),
        line("2025-12-02T02:00:00.000Z", "rejected", "0xC", "GET /b", "1", Some("insufficient_funds")),
        line("2025-12-02T03:00:00.000Z", "rejected", "0xC", "GET /b", "1", Some("insufficient_funds")),
        "not json".to_string(),
    ] {
        s.add(&l);
    }
    let v: serde_json::Value = serde_json::from_str(&s.to_json(0, 86_400_000)).unwrap();
    assert_eq!(v["totals"]["settled"], serde_json::json!({"count": 3, "amount": "16"}));
    assert_eq!(v["totals"]["refunded"], serde_json::json!({"count": 1, "reasons": {"origin_failed": 1}}));
    assert_eq!(v["totals"]["rejected"], serde_json::json!({"count": 2, "reasons": {"insufficient_funds": 2}}));
    assert_eq!(v["days"][0]["key"], "2025-12-01");
    assert_eq!(v["days"][0]["settled"]["amount"], "15");
    assert_eq!(v["days"][1]["settled"], serde_json::json!({"count": 1, "amount": "1"}));
    assert_eq!((v["days"][1]["refunded"].as_u64(), v["days"][1]["rejected"].as_u64()), (Some(1), Some(2)));
    assert_eq!(v["routes"][0]["key"], "GET /a");
    assert_eq!(v["routes"][0]["settled"]["amount"], "11");
    assert_eq!(v["topPayers"][0], serde_json::json!({"payer": "0xa", "settled": {"count": 2, "amount": "15"}}));
    assert_eq!(v["since"], "1970-01-01T00:00:00.000Z");
    let recent: Vec<&str> = v["recent"].as_array().unwrap().iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert_eq!(
        recent,
        ["2025-12-02T00:00:00.000Z", "2025-12-01T11:00:00.000Z", "2025-12-01T10:00:00.001Z"],
        "settlements, newest first"
    );
    let mut many = Summary::default();
    for i in 0..(RECENT + 7) {
        many.add(&line(&format!("2025-12-01T10:00:{:02}.000Z", i % 60), "released", "0xA", "GET /a", "1", None));
    }
    let v: serde_json::Value = serde_json::from_str(&many.to_json(0, 1)).unwrap();
    assert_eq!(v["recent"].as_array().unwrap().len(), RECENT);
    s.add(&line("2025-12-03T00:00:00.000Z", "released", "0xD", "GET /a", big, None));
    s.add(&line("2025-12-03T00:00:00.000Z", "released", "0xD", "GET /a", big, None));
    let v: serde_json::Value = serde_json::from_str(&s.to_json(0, 1)).unwrap();
    assert_eq!(v["totals"]["settled"]["amount"], big);
    assert_eq!(v["topPayers"][0]["payer"], "0xd");
}

/// Payer endpoints: each action takes its one method; an address in any letter case;
/// anything else under `payers/` is 404, 405 or 400, never another page.
#[test]
fn payer_endpoints_and_their_attacks() {
    use super::payers::{change_of, PayerAction};
    let a = "0x857b06519e91e3a54538791bdbb0e22373e36b66";
    let upper = format!("0x{}", a[2..].to_ascii_uppercase());
    for (method, rest, want) in [
        ("GET", format!("payers/{a}"), Ok(PayerAction::View)),
        ("HEAD", format!("payers/{upper}"), Ok(PayerAction::View)),
        ("post", format!("payers/{a}/block"), Ok(PayerAction::Block)),
        ("POST", format!("payers/{a}/unblock"), Ok(PayerAction::Unblock)),
        ("PUT", format!("payers/{a}/cap"), Ok(PayerAction::Cap)),
        ("GET", format!("payers/{a}/block"), Err(AdminError::MethodNotAllowed)),
        ("POST", format!("payers/{a}/cap"), Err(AdminError::MethodNotAllowed)),
        ("DELETE", format!("payers/{a}"), Err(AdminError::MethodNotAllowed)),
        ("POST", format!("payers/{a}/block/x"), Err(AdminError::NotFound)),
        ("POST", format!("payers/{a}/Block"), Err(AdminError::NotFound)),
        ("GET", "payers/0x123".to_string(), Err(AdminError::BadParameter("address"))),
        ("GET", "payers/".to_string(), Err(AdminError::BadParameter("address"))),
        ("GET", format!("payers/{a}%2Fblock"), Err(AdminError::BadParameter("address"))),
        ("GET", format!("payers/ {a}"), Err(AdminError::BadParameter("address"))),
    ] {
        let got = Endpoint::of(method, &rest).map(|e| match e {
            Endpoint::Payer(addr, action) => {
                assert_eq!(addr.checksummed().to_ascii_lowercase(), a);
                action
            }
            other => panic!("{rest}: {other:?}"),
        });
        assert_eq!(got, want, "{method} {rest}");
    }
    let policy = crate::policy::Policy::base(6);
    for (body, want) in [
        (r#"{"cap":"$2"}"#, Ok(Some(2_000_000))),
        (r#"{"cap":"2500"}"#, Ok(Some(2_500))),
        (r#"{"cap":null}"#, Ok(None)),
        (r#"{"cap":"$0.0000001"}"#, Err(())),
        (r#"{"cap":"$0"}"#, Err(())),
        (r#"{"cap":2}"#, Err(())),
        (r#"{"cap":"$1","cap":"$9"}"#, Err(())),
        (r#"{"cap":"$1","x":1}"#, Err(())),
        (r#"{}"#, Err(())),
        ("", Err(())),
        ("\u{FEFF}{\"cap\":\"$1\"}", Err(())),
    ] {
        let got = match change_of(PayerAction::Cap, body.as_bytes(), &policy) {
            Ok(Some(crate::once::tally::PayerChange::Cap(cap))) => Ok(cap.map(|c| c.0)),
            Ok(other) => panic!("{body}: {other:?}"),
            Err(e) => {
                assert_eq!(e, AdminError::BadParameter("cap"));
                Err(())
            }
        };
        assert_eq!(got, want, "{body}");
    }
}

/// Generated admin paths under `payers/` and bodies: every one is a payer endpoint or a
/// clean refusal, and a body never panics the cap reader.
#[test]
fn generated_payer_requests_read_or_refuse() {
    let mut rng = crate::testkit::Rng(0xFA7E);
    let pieces =
        ["payers/", "0x857b06519e91e3a54538791bdbb0e22373e36b66", "/", "block", "cap", "%2f", "..", "0x", "ü", ";"];
    let methods = ["GET", "POST", "PUT", "HEAD", "PATCH", "get"];
    let policy = crate::policy::Policy::base(6);
    for _ in 0..3_000 {
        let rest: String = (0..1 + rng.below(5)).map(|_| rng.pick(&pieces)).collect();
        match Endpoint::of(rng.pick(&methods), &rest) {
            Ok(Endpoint::Payer(..)) => assert!(rest.starts_with("payers/0x857b"), "{rest}"),
            Ok(other) => assert!(!rest.starts_with("payers/"), "{rest}: {other:?}"),
            Err(_) => {}
        }
        let body: Vec<u8> = (0..rng.below(24)).map(|_| rng.pick(b"{}\":cap$0.1nul, ")).collect();
        let _ = super::payers::change_of(super::payers::PayerAction::Cap, &body, &policy);
    }
}
