//! Alerts to the operator (`ALERT_WEBHOOK_URL`): a payer hit its cap, was rate limited more
//! than `ALERT_RATE_LIMITED_PER_MINUTE` times in a minute, or was refused as blocked.
//!
//! The arbiter shard of the payer decides, in the step that refuses, whether a refusal
//! raises one (the first per payer and reason each minute: see `once::tally`), so the
//! dedupe holds across isolates. The Worker sends it off the response path (`waitUntil`),
//! under a deadline, with one retry; a lost alert never delays or fails a request.
//!
//! The body is a JWS in the flattened JSON form (RFC 7515 §7.2.2), signed with the receipt
//! key (EdDSA, `kid` as in the JWKS), `typ` [`ALERT_TYP`], so that it is never taken for a
//! receipt or a payment context. Its `jti` is the same for a resent alert.

use serde::Serialize;

use crate::codec::{hex_encode_0x, to_json};
use crate::crypto::sha256;
use crate::error::Code;
use crate::receipt::ReceiptSigner;

/// The JWS `typ` of an alert.
pub const ALERT_TYP: &str = "x402-alert+jwt";

/// Rate-limited refusals a minute past which a payer raises an alert, by default.
pub const DEFAULT_RATE_LIMITED_PER_MINUTE: u32 = 10;

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Why: `payer_daily_cap_exceeded`, `payer_rate_limited` or `payer_blocked`.
    pub reason: Code,
    /// The payer (EIP-55).
    pub payer: String,
    /// The route pattern of the refused request.
    pub route: String,
    /// When (unix ms).
    pub time_ms: u64,
}

/// Where alerts go: the edge sends them after the response (tests keep them).
pub trait Alerts {
    /// Sends `alert` (signed as `body`) without delaying the request.
    fn raise(&self, alert: &Alert, body: String);
}

/// No alerts (none configured).
pub struct NoAlerts;

impl Alerts for NoAlerts {
    fn raise(&self, _: &Alert, _: String) {}
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
    jti: String,
    alert: &'a str,
    payer: &'a str,
    route: &'a str,
    minute: String,
}

/// The alert's body: a flattened JWS of its claims (`iss` the paywall's origin).
pub fn body(signer: &ReceiptSigner, alert: &Alert, iss: &str) -> String {
    let minute = crate::ledger::iso8601(alert.time_ms / 60_000 * 60_000);
    let id = format!("{}\0{}\0{}", alert.payer.to_ascii_lowercase(), alert.reason.code(), alert.time_ms / 60_000);
    let claims = Claims {
        iss,
        iat: alert.time_ms / 1000,
        jti: hex_encode_0x(&sha256(id.as_bytes()))[2..34].to_string(),
        alert: alert.reason.code(),
        payer: &alert.payer,
        route: &alert.route,
        minute,
    };
    let compact = signer.sign_jws(ALERT_TYP, to_json(&claims).as_bytes());
    let mut parts = compact.split('.');
    let (protected, payload, signature) =
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    format!(r#"{{"protected":"{protected}","payload":"{payload}","signature":"{signature}"}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::base64url_decode;

    #[test]
    fn an_alert_is_a_flattened_jws_the_receipt_key_verifies() {
        let signer = ReceiptSigner::from_seed([7; 32]);
        let alert = Alert {
            reason: Code::PayerRateLimited,
            payer: "0xAbC".into(),
            route: "GET /x".into(),
            time_ms: 90_061_000,
        };
        let json: serde_json::Value = serde_json::from_str(&body(&signer, &alert, "https://api.example")).unwrap();
        let (p, pl, s) = (
            json["protected"].as_str().unwrap(),
            json["payload"].as_str().unwrap(),
            json["signature"].as_str().unwrap(),
        );
        let compact = format!("{p}.{pl}.{s}");
        let header: serde_json::Value = serde_json::from_slice(&base64url_decode(p).unwrap()).unwrap();
        assert_eq!(header["typ"], ALERT_TYP);
        assert_eq!(header["kid"], signer.kid());
        let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(pl).unwrap()).unwrap();
        assert_eq!(claims["alert"], "payer_rate_limited");
        assert_eq!(claims["payer"], "0xAbC");
        assert_eq!(claims["iss"], "https://api.example");
        assert_eq!(claims["minute"], "1970-01-02T01:01:00.000Z");
        let key = ed25519_compact::PublicKey::new(signer.public_key());
        let sig = ed25519_compact::Signature::from_slice(&base64url_decode(s).unwrap()).unwrap();
        let signed = &compact[..compact.rfind('.').unwrap()];
        key.verify(signed.as_bytes(), &sig).expect("signed with the receipt key");
        // The same alert a second later in the minute has the same id; another minute not.
        let again = body(&signer, &Alert { time_ms: alert.time_ms + 1_000, ..alert.clone() }, "https://api.example");
        let later = body(&signer, &Alert { time_ms: alert.time_ms + 60_000, ..alert.clone() }, "https://api.example");
        let jti = |b: &str| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            let c: serde_json::Value =
                serde_json::from_slice(&base64url_decode(v["payload"].as_str().unwrap()).unwrap()).unwrap();
            c["jti"].as_str().unwrap().to_string()
        };
        assert_eq!(jti(&again), claims["jti"]);
        assert_ne!(jti(&later), claims["jti"]);
    }
}
