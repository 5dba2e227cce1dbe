//! The reader against serde_json, on fixed and generated inputs.

use serde_json::Value;

use super::*;
use crate::testkit::Rng;

fn string_of(json: &str) -> Result<String, JsonError> {
    let mut r = Reader::new(json);
    let s = r.string()?;
    r.end()?;
    Ok(s)
}

fn skips(json: &str) -> bool {
    let mut r = Reader::new(json);
    r.skip().is_ok() && r.end().is_ok()
}

#[test]
fn strings_unescape_as_json_says() {
    for (json, want) in [
        (r#""""#, ""),
        (r#""a\"b\\c\/d""#, "a\"b\\c/d"),
        (r#""\b\f\n\r\t""#, "\u{8}\u{c}\n\r\t"),
        (r#""\u00e9\u20AC""#, "é€"),
        (r#""\ud83d\ude00""#, "😀"),
        ("\"é😀\"", "é😀"),
    ] {
        assert_eq!(string_of(json).as_deref(), Ok(want), "{json}");
    }
    for bad in [
        "\"abc",
        r#""\x""#,
        r#""\u12""#,
        r#""\ud83d""#,
        r#""\ud83dx""#,
        r#""\ude00""#,
        r#""\ud83d\u0041""#,
        "\"a\nb\"",
        "\"\u{1}\"",
        "abc",
        r#""a" x"#,
    ] {
        assert!(string_of(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn whole_numbers_only() {
    let read = |json: &str| {
        let mut r = Reader::new(json);
        r.u64().and_then(|n| r.end().map(|_| n))
    };
    for (json, want) in [("0", 0), (" 7 ", 7), ("18446744073709551615", u64::MAX)] {
        assert_eq!(read(json), Ok(want), "{json}");
    }
    for bad in ["", "-1", "01", "1.0", "1e3", "18446744073709551616", "x", "1 2"] {
        assert!(read(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn objects_arrays_and_literals() {
    let mut r = Reader::new(r#" { "a" : [true, false, null], "b": {"c": -1.5e-3}, "d": "x" } "#);
    let mut seen = Vec::new();
    r.object(|r, key| {
        seen.push(key.to_string());
        if key == "a" {
            let mut items = Vec::new();
            r.array(|r| {
                items.push(if r.null()? { None } else { Some(r.bool()?) });
                Ok(())
            })?;
            assert_eq!(items, [Some(true), Some(false), None]);
            Ok(())
        } else {
            r.skip()
        }
    })
    .unwrap();
    r.end().unwrap();
    assert_eq!(seen, ["a", "b", "d"]);
    for bad in [
        "{",
        "{\"a\"}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "nul",
        "tru",
        "-",
        "1.",
        "1e",
        "00",
    ] {
        assert!(!skips(bad), "{bad:?}");
    }
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
    assert!(!skips(&deep), "nesting is bounded");
}

/// A random string of awkward characters: quotes, backslashes, controls, non-ASCII, astral.
fn awkward(rng: &mut Rng) -> String {
    let alphabet = [
        'a', 'Z', '0', '"', '\\', '/', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é', '€', '\u{2028}', '😀', '\u{ffff}',
        ' ',
    ];
    (0..rng.below(12)).map(|_| rng.pick(&alphabet)).collect()
}

#[test]
fn generated_strings_read_back_as_serde_json_wrote_them() {
    let mut rng = Rng(0x5eed_1234);
    for _ in 0..2_000 {
        let s = awkward(&mut rng);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(string_of(&json), Ok(s.clone()), "{json}");
        // Every \u escape form too (serde_json writes most characters raw).
        let escaped: String = s.encode_utf16().map(|u| format!("\\u{u:04x}")).collect::<Vec<_>>().concat();
        assert_eq!(string_of(&format!("\"{escaped}\"")), Ok(s), "{escaped}");
    }
}

/// A random JSON value, at most `depth` deep.
fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 1),
        2 => serde_json::json!(rng.next() >> rng.below(64)),
        3 => serde_json::json!((rng.next() as i64 as f64) / 1e3),
        4 => Value::String(awkward(rng)),
        5 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => Value::Object((0..rng.below(4)).map(|_| (awkward(rng), value(rng, depth - 1))).collect()),
    }
}

#[test]
fn generated_texts_are_accepted_exactly_when_the_json_grammar_accepts_them() {
    let mut rng = Rng(0xfeed_f00d);
    for _ in 0..2_000 {
        let json = serde_json::to_string(&value(&mut rng, 4)).unwrap();
        assert!(skips(&json), "{json}");
        // Cut, or one character replaced by a JSON-significant one: the verdicts agree.
        let chars: Vec<char> = json.chars().collect();
        let at = rng.below(chars.len());
        let mutated: String = match rng.below(2) {
            0 => chars[..at].iter().collect(),
            _ => {
                let mut c = chars.clone();
                c[at] = rng.pick(&['"', '\\', ',', ':', '[', ']', '{', '}', '0', '-', '.', 'e', 'n', ' ', 'u']);
                c.into_iter().collect()
            }
        };
        // serde_json also refuses a number beyond f64's range (which the grammar allows),
        // sometimes before it sees a grammar error: no verdict to compare with.
        let theirs = match serde_json::from_str::<Value>(&mutated) {
            Err(e) if e.to_string().contains("number out of range") => continue,
            verdict => verdict.is_ok(),
        };
        assert_eq!(skips(&mutated), theirs, "{mutated}");
    }
}

#[test]
fn a_key_twice_is_refused_in_a_read_object_and_passed_over_in_a_skipped_one() {
    let text = r#"{"a":1,"b":{"c":1,"c":2},"a":3}"#;
    let mut r = Reader::new(text);
    let mut keys = Vec::new();
    let read = r.object(|r, key| {
        keys.push(key.to_string());
        r.skip()
    });
    assert_eq!(read.map_err(|e| e.expected), Err("each field once"));
    assert_eq!(keys, ["a", "b"], "refused at the second `a`, before its value is read");
    assert!(skips(text), "a value passed over is any JSON");
    // In another letter case it is the same key to a case-insensitive reader: refused too.
    let mut r = Reader::new(r#"{"authorization":1,"Authorization":2}"#);
    assert_eq!(r.object(|r, _| r.skip()).map_err(|e| e.expected), Err("each field once"));
}
