//! The event model, its JSON and CSV forms, and the dates.

use super::*;
use crate::testkit::Rng;

fn payment() -> Payment {
    Payment {
        payment_key: "ab".repeat(32),
        payer: "0x857b06519E91e3A54538791bDbb0E22373e36b66".into(),
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".into(),
        amount: "10000".into(),
        asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into(),
        network: "eip155:84532".into(),
        x402_version: 2,
        route: "GET /premium/*".into(),
        method: "GET".into(),
        path: "/premium/hello".into(),
        facilitator: "paper".into(),
    }
}

#[test]
fn a_line_holds_every_field_in_order() {
    let mut e = LedgerEvent::new(1_764_657_600_123, EventKind::Released, &payment(), "owner-1");
    e.transaction = Some("0xabc".into());
    e.receipt_id = Some("r1".into());
    let line = e.to_json_line();
    assert!(!line.contains('\n'));
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value.as_object().unwrap().len(), FIELDS.len());
    let at: Vec<usize> = FIELDS.iter().map(|f| line.find(&format!("\"{f}\":")).expect(f)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "the JSON fields are the CSV columns, in order: {line}");
    assert_eq!(value["time"], "2025-12-02T06:40:00.123Z");
    assert_eq!(value["event"], "released");
    assert_eq!(value["x402Version"], 2);
    assert_eq!(value["reason"], serde_json::Value::Null);
    assert_eq!(value["receiptId"], "r1");
}

#[test]
fn an_event_id_names_its_step() {
    let p = payment();
    let locked = LedgerEvent::new(1, EventKind::Locked, &p, "owner-1");
    assert_eq!(locked.id(), LedgerEvent::new(99, EventKind::Locked, &p, "owner-1").id(), "time is not part of it");
    assert_ne!(locked.id(), LedgerEvent::new(1, EventKind::Locked, &p, "owner-2").id(), "another claim");
    assert_ne!(locked.id(), LedgerEvent::new(1, EventKind::Refunded, &p, "owner-1").id());
    let a = LedgerEvent::new(1, EventKind::Rejected, &p, "GET /a").because("payment_already_used");
    let b = LedgerEvent::new(1, EventKind::Rejected, &p, "GET /a").because("payment_conflict");
    assert_ne!(a.id(), b.id());
    assert_eq!(locked.payer_key(), p.payer.to_ascii_lowercase());
}

#[test]
fn csv_rows_quote_and_defuse_what_a_spreadsheet_would_run() {
    let mut p = payment();
    p.method = "-2+3".into();
    p.path = "/a,\"b\"\r\n=c".into();
    let mut e = LedgerEvent::new(0, EventKind::Rejected, &p, "x").because("=HYPERLINK(\"x\")");
    e.transaction = None;
    let row = csv_row(&e.to_json_line()).unwrap();
    assert!(row.ends_with("\r\n"));
    assert!(row.contains(",\"'-2+3\","), "{row}");
    assert!(row.contains(",\"/a,\"\"b\"\"\r\n=c\","), "{row}");
    assert!(row.contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{row}");
    assert!(row.starts_with("\"1970-01-01T00:00:00.000Z\",\"rejected\","));
    // A `;` inside a cell stays inside it for a spreadsheet that splits on `;`.
    let mut p = payment();
    p.path = "/premium/x;=HYPERLINK(1);".into();
    let row = csv_row(&LedgerEvent::new(0, EventKind::Released, &p, "x").to_json_line()).unwrap();
    assert!(row.contains(",\"/premium/x;=HYPERLINK(1);\","), "{row}");
    assert_eq!(csv_header(), format!("{}\r\n", FIELDS.join(",")));
    assert_eq!(csv_row("not json"), None);
}

/// Generated events: every CSV row has exactly the header's columns when read back by
/// RFC 4180 rules, and each cell is the JSON field (defused when it starts like a formula).
#[test]
fn generated_events_round_trip_through_csv() {
    let mut rng = Rng(0x1ED6E2);
    let pieces = ["a", ",", "\"", "\r", "\n", "=", "-", "@", " ", "é", "\t", "/x"];
    for _ in 0..500 {
        let mut p = payment();
        let mut text = || (0..rng.below(8)).map(|_| rng.pick(&pieces)).collect::<String>();
        p.path = text();
        p.method = text();
        let reason = text();
        let e = LedgerEvent::new(rng.next() % 4_000_000_000_000, EventKind::Refunded, &p, "s").because(&reason);
        let row = csv_row(&e.to_json_line()).unwrap();
        let cells = read_csv_record(&row);
        assert_eq!(cells.len(), FIELDS.len(), "{row:?}");
        let defused =
            |s: &str| if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.into() };
        assert_eq!(cells[10], defused(&p.method));
        assert_eq!(cells[11], defused(&p.path));
        assert_eq!(cells[14], defused(&reason));
        assert_eq!(cells[0], iso8601(e.time_ms));
    }
}

/// A minimal RFC 4180 reader for one record ending in CRLF.
fn read_csv_record(row: &str) -> Vec<String> {
    let body = row.strip_suffix("\r\n").expect("CRLF-terminated");
    let (mut cells, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, body.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => cells.push(std::mem::take(&mut cell)),
            (_, c) => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[test]
fn dates_known_instants() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(iso8601(1_764_657_600_123), "2025-12-02T06:40:00.123Z");
    assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    assert_eq!(parse_iso8601("2025-12-02T06:40:00.123Z"), Some(1_764_657_600_123));
    assert_eq!(parse_iso8601("2025-12-02"), Some(1_764_633_600_000));
    assert_eq!(parse_iso8601("2025-12-02T06:40Z"), Some(1_764_657_600_000));
    for bad in [
        "",
        "2025-13-01",
        "2025-02-29",
        "2025-12-02T24:00Z",
        "2025-12-02T06:40:00",
        "1969-12-31",
        "2025-1-02",
        "+2025-12-02",
        "2025-12-02T06:40:00.12Z",
    ] {
        assert_eq!(parse_iso8601(bad), None, "{bad}");
    }
    assert_eq!(parse_iso8601("2024-02-29"), Some(1_709_164_800_000));
}

/// Generated instants: written and read back unchanged; one day later is 86 400 000 ms
/// later; every written date is valid for the calendar.
#[test]
fn generated_dates_round_trip() {
    let mut rng = Rng(0xDA7E);
    for _ in 0..20_000 {
        let ms = rng.next() % 8_000_000_000_000;
        let text = iso8601(ms);
        assert_eq!(parse_iso8601(&text), Some(ms), "{text}");
        let day = &text[..10];
        assert_eq!(parse_iso8601(day), Some(ms - ms % 86_400_000), "{day}");
    }
    // Mutations never panic, and whatever parses writes back to itself.
    let alphabet = b"0123456789-T:.Z+x ";
    for _ in 0..20_000 {
        let mut text = iso8601(rng.next() % 8_000_000_000_000).into_bytes();
        let i = rng.below(text.len());
        text[i] = rng.pick(alphabet);
        let text = String::from_utf8(text).unwrap();
        if let Some(ms) = parse_iso8601(&text) {
            assert_eq!(iso8601(ms), text, "{text}");
        }
    }
}

/// Generated queries read back as written; a cut or a bad event name is refused.
#[test]
fn generated_queries_round_trip() {
    let mut rng = Rng(0x9E7);
    let texts = ["", "0xab", "GET /premium/*", "a\"b\\c\u{1}é"];
    for _ in 0..2000 {
        let q = Query {
            from_ms: rng.next() >> 12,
            after_seq: (rng.next() >> 2) as i64 - (1 << 61),
            until_ms: rng.next() >> 12,
            payer: (rng.below(2) == 1).then(|| rng.pick(&texts).to_ascii_lowercase()),
            route: (rng.below(2) == 1).then(|| rng.pick(&texts).to_string()),
            event: (rng.below(2) == 1).then(|| rng.pick(&[EventKind::Locked, EventKind::Rejected])),
            limit: rng.next() as u32,
            keys: rng.below(2) == 1,
        };
        let json = to_json(&q);
        assert_eq!(Query::from_json(&json), Ok(q), "{json}");
        let cut = (0..=rng.below(json.len())).rev().find(|&i| json.is_char_boundary(i)).unwrap_or(0);
        assert!(Query::from_json(&json[..cut]).is_err(), "{}", &json[..cut]);
    }
    let q = r#"{"from_ms":0,"after_seq":-1,"until_ms":1,"limit":1,"payer":"0xABcd"}"#;
    assert_eq!(Query::from_json(q).unwrap().payer.as_deref(), Some("0xabcd"), "addresses compare case-insensitively");
    let q = r#"{"from_ms":0,"after_seq":-1,"until_ms":1,"limit":1,"event":"spent"}"#;
    assert!(Query::from_json(q).is_err());
    let q = r#"{"from_ms":0,"after_seq":-1,"until_ms":1,"limit":1,"event":"released"}"#;
    assert_eq!(Query::from_json(q).unwrap().event, Some(EventKind::Released));
}

#[test]
fn receipt_ids_name_their_shard() {
    assert_eq!(receipt_shard("f0123456789abcdefABCDE_-"), None, "23 characters, not 24");
    assert_eq!(receipt_shard("f0123456789abcdefABCD_-"), Some(15));
    assert_eq!(receipt_shard("00123456789abcdefABCD_-"), Some(0));
    for bad in
        ["", "g0123456789abcdefABCD_-", "F0123456789abcdefABCD_-x", "f0123456789abcdefABC=_-", "é0123456789abcdefABCD_"]
    {
        assert_eq!(receipt_shard(bad), None, "{bad}");
    }
    let mut e = LedgerEvent::new(1_764_657_600_123, EventKind::Released, &payment(), "o");
    assert_eq!(e.receipt_json(), None, "no receipt, nothing to keep");
    e.receipt_id = Some("30123456789abcdefABCD_-".into());
    e.receipt = Some("h.p.s".into());
    e.transaction = Some("0xabc".into());
    let (id, body) = e.receipt_json().unwrap();
    assert_eq!(id, "30123456789abcdefABCD_-");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["status"].as_str(), v["receipt"].as_str()), (Some("settled"), Some("h.p.s")));
    assert_eq!((v["settledAt"].as_str(), v["transaction"].as_str()), (Some("2025-12-02T06:40:00.123Z"), Some("0xabc")));
    assert_eq!(v["payer"], payment().payer);
}
