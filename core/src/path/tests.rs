//! Path normalisation: the rule table, the readings other origins give a path, and
//! generated paths that must normalise stably. (Generated paths judged by reference
//! resolvers against the route table are in `decide/tests.rs`.)
use super::*;
use PathError::*;

fn pair(raw: &str) -> Result<(String, String), PathError> {
    normalise(raw).map(|p| (p.match_key().to_owned(), p.forward().to_owned()))
}

#[test]
fn normalises_and_refuses() {
    for (input, want) in [
        ("/", Ok(("/", "/"))),
        ("//", Ok(("/", "/"))),
        ("/premium/x", Ok(("/premium/x", "/premium/x"))),
        ("/premium/../premium/x", Ok(("/premium/x", "/premium/x"))),
        ("/%70remium/x", Ok(("/premium/x", "/premium/x"))),
        ("//premium/x", Ok(("/premium/x", "/premium/x"))),
        ("/premium//x", Ok(("/premium/x", "/premium/x"))),
        ("/premium%2Fx", Ok(("/premium/x", "/premium/x"))),
        ("/premium;v=1/x", Ok(("/premium;v=1/x", "/premium;v=1/x"))),
        ("/premium/x;v=1", Ok(("/premium/x;v=1", "/premium/x;v=1"))),
        ("/free/..;/premium/x", Err(DotSegmentWithParameters)),
        ("/free/%2e%2e%3b/premium/x", Err(DotSegmentWithParameters)),
        ("/premium/..%3B/anything", Err(DotSegmentWithParameters)),
        ("/premium/.%2e;/x", Err(DotSegmentWithParameters)),
        ("/premium/%2E%2E%3bjsessionid=1/x", Err(DotSegmentWithParameters)),
        ("/x/..;/..;/", Err(DotSegmentWithParameters)),
        ("/a/.;x/b", Err(DotSegmentWithParameters)),
        ("/a/...;x/b", Ok(("/a/...;x/b", "/a/...;x/b"))),
        ("/;x/premium", Ok(("/;x/premium", "/;x/premium"))),
        ("/..;/premium", Err(DotSegmentWithParameters)),
        ("/%u0070remium", Err(BadPercentEncoding)),
        ("/premium%2fx", Ok(("/premium/x", "/premium/x"))),
        ("/PREMIUM/X", Ok(("/premium/x", "/PREMIUM/X"))),
        ("/premium/x/", Ok(("/premium/x", "/premium/x/"))),
        ("/premium/", Ok(("/premium", "/premium/"))),
        ("/premium/./x", Ok(("/premium/x", "/premium/x"))),
        ("/premium/x/.", Ok(("/premium/x", "/premium/x/"))),
        ("/premium/%2e", Ok(("/premium", "/premium/"))),
        ("/premium/..", Ok(("/", "/"))),
        ("/a/%2E%2E/premium/x", Ok(("/premium/x", "/premium/x"))),
        ("/a/.%2e/premium/x", Ok(("/premium/x", "/premium/x"))),
        ("/a/.../b", Ok(("/a/.../b", "/a/.../b"))),
        ("/caf%C3%A9", Ok(("/café", "/caf%C3%A9"))),
        ("/CAF%C3%89", Ok(("/cafÉ", "/CAF%C3%89"))),
        ("/café", Ok(("/café", "/caf%C3%A9"))),
        ("/a b", Ok(("/a b", "/a%20b"))),
        ("/a%3Fb%23c", Ok(("/a?b#c", "/a%3Fb%23c"))),
        ("/100%25", Ok(("/100%", "/100%25"))),
        ("/~u/it's:@x", Ok(("/~u/it's:@x", "/~u/it's:@x"))),
        ("/%2e%2e/premium/x", Err(EscapesRoot)),
        ("/..", Err(EscapesRoot)),
        ("/a/../..", Err(EscapesRoot)),
        ("/..%2f", Err(EscapesRoot)),
        ("/premium%252fx", Err(DoubleEncoded)),
        ("/%252e%252e/x", Err(DoubleEncoded)),
        ("/premium%00x", Err(ControlOrNul)),
        ("/premium%09x", Err(ControlOrNul)),
        ("/x%7F", Err(ControlOrNul)),
        ("/x\ny", Err(ControlOrNul)),
        ("/premium\\x", Err(Backslash)),
        ("/premium%5cx", Err(Backslash)),
        ("/%zz", Err(BadPercentEncoding)),
        ("/%4", Err(BadPercentEncoding)),
        ("/%4g", Err(BadPercentEncoding)),
        ("/x%", Err(BadPercentEncoding)),
        ("/%C3%28", Err(NotUtf8)),
        ("/%ff", Err(NotUtf8)),
        ("premium", Err(NotAbsolute)),
        ("", Err(NotAbsolute)),
        ("%2Fpremium", Err(NotAbsolute)),
    ] {
        let want = want.map(|(k, f)| (k.to_owned(), f.to_owned()));
        assert_eq!(pair(input), want, "{input}");
    }
}

#[test]
fn length_limit() {
    for (len, want) in [(MAX_PATH_LEN, true), (MAX_PATH_LEN + 1, false)] {
        let raw = format!("/{}", "a".repeat(len - 1));
        assert_eq!(normalise(&raw).is_ok(), want, "{len}");
    }
    assert_eq!(normalise(&format!("/{}", "a".repeat(MAX_PATH_LEN))), Err(TooLong));
}

#[test]
fn generated_paths_are_stable() {
    const ALPHABET: &[u8] = b"/.%2eEfFaPx;\\";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap_or(0) % n
    };
    let (mut oks, mut errs) = (0, 0);
    for _ in 0..600 {
        let len = next(16);
        let mut raw = String::from(if next(10) == 0 { "" } else { "/" });
        for _ in 0..len {
            raw.push(char::from(ALPHABET[next(ALPHABET.len())]));
        }
        let Ok(p) = normalise(&raw) else {
            errs += 1;
            continue;
        };
        oks += 1;
        let key = p.match_key();
        let again = normalise(p.forward()).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(again.match_key(), key, "{raw}");
        assert_eq!(again.forward(), p.forward(), "{raw}");
        assert!(key.starts_with('/'), "{raw}");
        assert!(key == "/" || !key.ends_with('/'), "{raw}");
        assert_eq!(key, key.to_ascii_lowercase(), "{raw}");
        for bad in ["/../", "/./", "//"] {
            assert!(!key.contains(bad), "{raw} -> {key}");
        }
        assert!(!key.ends_with("/..") && !key.ends_with("/."), "{raw} -> {key}");
    }
    assert!(oks > 50 && errs > 50, "{oks} ok, {errs} refused");
}

#[test]
fn readings_other_origins_give_a_path() {
    for (input, want) in [
        ("/plain/path", Ok(vec![])),
        ("/premium;v=1/x", Ok(vec!["/premium/x"])),
        ("/premium/x;v=1", Ok(vec!["/premium/x"])),
        ("/premium./x", Ok(vec!["/premium/x"])),
        ("/premium%20/x", Ok(vec!["/premium/x"])),
        ("/prem%C4%B1um", Ok(vec!["/premium"])),
        ("/%EF%BC%B0remium", Ok(vec!["/premium"])),
        ("/a/%EF%BC%8E%EF%BC%8E/premium", Ok(vec!["/premium"])),
        ("/api/score::$DATA", Ok(vec!["/api/score"])),
        ("/reports/urn:x", Ok(vec!["/reports/urn"])),
        ("/a/..%20/b", Ok(vec!["/b"])),
        ("/(S(x))/premium/x", Ok(vec!["/premium/x"])),
        ("/pro/(S(abc))tected", Ok(vec!["/protected", "/pro/tected"])),
        ("/(A(x))/(S(y))/premium", Ok(vec!["/premium"])),
        ("/a(b)/c", Ok(vec![])),
        ("/index.php/premium/x", Ok(vec!["/premium/x"])),
        ("/app/INDEX.PHP/premium", Ok(vec!["/premium"])),
        ("/index.php", Ok(vec![])),
        ("/..%20/x", Err(EscapesRoot)),
        ("/PREMIU~1/x", Err(ShortName)),
        ("/a/FILE~12.HTM", Err(ShortName)),
        ("/%EF%BC%B0REMIU%EF%BD%9E1/x", Err(ShortName)),
        ("/~user1/x", Ok(vec![])),
        ("/a~b/x", Ok(vec![])),
        ("/toolong~1/x", Ok(vec![])),
    ] {
        let got = normalise(input).map(|p| p.readings().to_vec());
        let want = want.map(|keys| keys.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, want, "{input}");
    }
    let several = normalise("/a;b/c.").unwrap();
    let mut keys = several.readings().to_vec();
    keys.sort();
    assert_eq!(keys, ["/a/c", "/a/c.", "/a;b/c"]);
}
