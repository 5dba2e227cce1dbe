//! Nonces, the signed message, and every refusal, with real secp256k1 signatures.

use super::*;
use crate::codec::hex_encode_0x;
use crate::testkit::{Payer, Rng};

const NOW: u64 = 1_800_000_000;
const HOST: &str = "api.example.com";

fn signer() -> ReceiptSigner {
    ReceiptSigner::from_seed([9; 32])
}

fn body(message: &str, signature: &[u8], extra: &str) -> String {
    let m = serde_json::to_string(message).unwrap();
    format!(r#"{{"message":{m},"signature":"{}"{extra}}}"#, hex_encode_0x(signature))
}

fn signed(payer: &Payer, host: &str, expires: u64) -> (String, String) {
    let (nonce, _) = issue_nonce(&signer(), [7; 16], NOW);
    let m = message(host, &payer.address.checksummed(), &nonce, expires);
    (m.clone(), body(&m, &payer.personal_sign(&m), ""))
}

#[test]
fn a_payer_signed_request_is_checked() {
    let payer = Payer::new(3);
    let (_, b) = signed(&payer, HOST, NOW + 120);
    let c = check(&b, "API.example.com", NOW, &signer()).unwrap();
    assert_eq!(c.payer, payer.address.checksummed().to_ascii_lowercase());
    assert_eq!(c.query, format!("payer={}", c.payer));
    assert_eq!(c.nonce_expires_s, NOW + NONCE_SECONDS);
    // The read's parameters pass through, the payer always last (it cannot be another).
    let (nonce, _) = issue_nonce(&signer(), [8; 16], NOW);
    let m = message(HOST, &payer.address.checksummed(), &nonce, NOW + 60);
    let extra = r#","since":"2026-01-01","limit":5,"payer":"0x0000000000000000000000000000000000000001""#;
    let c = check(&body(&m, &payer.personal_sign(&m), extra), HOST, NOW, &signer()).unwrap();
    assert_eq!(c.query, format!("since=2026-01-01&limit=5&payer={}", c.payer));
}

#[test]
fn every_refusal_names_its_reason() {
    let payer = Payer::new(3);
    let other = Payer::new(4);
    let (nonce, _) = issue_nonce(&signer(), [7; 16], NOW);
    let m =
        |host: &str, who: &Payer, nonce: &str, expires: u64| message(host, &who.address.checksummed(), nonce, expires);
    let cases: Vec<(String, &str)> = vec![
        // Signed by another key than the Payer line names.
        (
            body(&m(HOST, &payer, &nonce, NOW + 60), &other.personal_sign(&m(HOST, &payer, &nonce, NOW + 60)), ""),
            "another address",
        ),
        (
            body(
                &m("evil.example", &payer, &nonce, NOW + 60),
                &payer.personal_sign(&m("evil.example", &payer, &nonce, NOW + 60)),
                "",
            ),
            "another host",
        ),
        (body(&m(HOST, &payer, &nonce, NOW), &payer.personal_sign(&m(HOST, &payer, &nonce, NOW)), ""), "expired"),
        (
            body(&m(HOST, &payer, &nonce, NOW + 301), &payer.personal_sign(&m(HOST, &payer, &nonce, NOW + 301)), ""),
            "5 minutes",
        ),
        (
            body(&m(HOST, &payer, "1.x.y", NOW + 60), &payer.personal_sign(&m(HOST, &payer, "1.x.y", NOW + 60)), ""),
            "nonce",
        ),
    ];
    for (b, why) in cases {
        match check(&b, HOST, NOW, &signer()) {
            Err(PayerError::Unauthorized(reason)) => assert!(reason.contains(why), "{reason} / {why}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    // A nonce sealed by another key, or expired.
    let (foreign, _) = issue_nonce(&ReceiptSigner::from_seed([1; 32]), [7; 16], NOW);
    let fm = m(HOST, &payer, &foreign, NOW + 60);
    assert!(matches!(
        check(&body(&fm, &payer.personal_sign(&fm), ""), HOST, NOW, &signer()),
        Err(PayerError::Unauthorized(_))
    ));
    let (old, _) = issue_nonce(&signer(), [7; 16], NOW - NONCE_SECONDS);
    let om = m(HOST, &payer, &old, NOW + 60);
    assert!(matches!(
        check(&body(&om, &payer.personal_sign(&om), ""), HOST, NOW, &signer()),
        Err(PayerError::Unauthorized(_))
    ));
    // Malformed: not JSON, no signature, a bad signature, another message shape.
    let good = m(HOST, &payer, &nonce, NOW + 60);
    for b in [
        "nope".to_string(),
        r#"{"message":"x"}"#.to_string(),
        body(&good, &[1; 64], ""),
        body(&format!("{good}\nExtra: 1"), &payer.personal_sign(&format!("{good}\nExtra: 1")), ""),
        body(&good.replace("Host:", "Hostname:"), &payer.personal_sign(&good), ""),
        body(&good, &payer.personal_sign(&good), r#","since":"a&payer=0x1""#),
    ] {
        assert!(matches!(check(&b, HOST, NOW, &signer()), Err(PayerError::Malformed(_))), "{b}");
    }
}

/// Generated nonces: ours are accepted until they expire; any one-character change is not.
#[test]
fn generated_nonces_are_ours_exactly() {
    let mut rng = Rng(0x0A0C);
    for _ in 0..500 {
        let mut random = [0u8; 16];
        random.iter_mut().for_each(|b| *b = rng.next() as u8);
        let now = NOW + rng.below(1000) as u64;
        let (nonce, expires) = issue_nonce(&signer(), random, now);
        assert_eq!(nonce_expiry(&signer(), &nonce, now), Some(expires));
        assert_eq!(nonce_expiry(&signer(), &nonce, expires), None, "expired");
        let mut bytes = nonce.clone().into_bytes();
        let i = rng.below(bytes.len());
        bytes[i] = rng.pick(b"0aZ.-_");
        let changed = String::from_utf8(bytes).unwrap();
        if changed != nonce {
            assert_eq!(nonce_expiry(&signer(), &changed, now), None, "{changed}");
        }
    }
}
