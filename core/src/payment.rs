//! Payment intake: the `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1) header is decoded,
//! size-limited, into a typed [`Payment`], then checked against the route's payment
//! options before any facilitator is called, in three steps:
//!
//! 1. [`select`]: what the payment is for (scheme, network, asset, payTo, amount);
//! 2. [`check_signature`]: a 65-byte ECDSA signature must recover to `from` (a forgery
//!    costs no storage and no facilitator call); other signatures (smart wallets) are the
//!    facilitator's to judge;
//! 3. [`check_window`]: the validity window. The flow applies it only to a payment seen
//!    for the first time: a retry of a known payment is answered from its record even
//!    after `validBefore`.
//!
//! Decoding happens in two steps so that the answer is right for the client: first the
//! envelope (version, scheme, network); a payment for a scheme or network the route does
//! not take is a 402 with a fresh challenge. Then the `exact` EVM payload; a payload that
//! does not have its shape is a malformed request (400).

use serde_json::value::RawValue;

use crate::address::EvmAddress;
use crate::codec::base64_decode;
use crate::eip712::{recover_signer, transfer_with_authorization_digest};
use crate::error::{Code, PaymentError};
use crate::network::Network;
use crate::requirements::{PaymentOption, SCHEME_EXACT};
use crate::x402::{Envelope, ExactEvmPayload, PaymentPayloadV1, PaymentPayloadV2, RequirementsV2, X402Version};

/// Largest payment header accepted (base64 characters). A real exact-EVM payload is
/// about 1.5 KB; smart-wallet signatures make it longer.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// Seconds of clock skew tolerated between the client and us.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// Seconds an authorization must still be valid for, so that settlement can land.
pub const SETTLE_MARGIN_SECONDS: u64 = 6;

/// Which header carried the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentHeader<'a> {
    /// `PAYMENT-SIGNATURE` (x402 v2).
    V2(&'a str),
    /// `X-PAYMENT` (x402 v1).
    V1(&'a str),
}

impl<'a> PaymentHeader<'a> {
    /// The header's value, as sent.
    pub fn text(&self) -> &'a str {
        match self {
            Self::V2(t) | Self::V1(t) => t,
        }
    }
}

/// A client-chosen idempotency id (x402 `payment-identifier` extension): 16–128
/// characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentId(String);

impl PaymentId {
    /// Parses an id; `None` when it breaks the extension's format.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (16..=128).contains(&text.len())
            && text.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        ok.then(|| Self(text.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The arbiter shard (0..shards) this id belongs to.
    pub fn shard(&self, shards: u32) -> u32 {
        crate::crypto::shard_of(&self.0, shards)
    }
}

/// A decoded payment, version-agnostic.
#[derive(Debug, Clone)]
pub struct Payment {
    /// The protocol version the client spoke.
    pub version: X402Version,
    /// The network, when the name is one we know.
    pub network: Option<Network>,
    /// v2 only: the requirements the client says it accepted.
    pub accepted: Option<RequirementsV2>,
    /// The signed EIP-3009 authorization.
    pub evm: ExactEvmPayload,
    /// The `payment-identifier` id the client sent (v2 extension), if any.
    pub payment_id: Option<PaymentId>,
    /// The payload JSON exactly as the client sent it, forwarded to the facilitator.
    pub raw: Box<RawValue>,
}

/// The extension key of client idempotency ids.
pub const PAYMENT_IDENTIFIER: &str = "payment-identifier";

/// Reads `extensions["payment-identifier"].info.id`: absent is fine, present must be a
/// well-formed id.
fn payment_id(
    extensions: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<Option<PaymentId>, PaymentError> {
    let Some(id) =
        extensions.and_then(|e| e.get(PAYMENT_IDENTIFIER)).and_then(|e| e.get("info")).and_then(|i| i.get("id"))
    else {
        return Ok(None);
    };
    id.as_str().and_then(PaymentId::parse).map(Some).ok_or(PaymentError::Malformed(Code::InvalidPaymentIdentifier))
}

/// Decodes a payment header into a typed payment.
pub fn decode(header: PaymentHeader<'_>) -> Result<Payment, PaymentError> {
    let (version, raw) = payload_json(header)?;
    let bad = |_| PaymentError::Malformed(Code::InvalidPayload);
    let network = network_of(version, Envelope::from_json(raw.get()).map_err(bad)?)?;
    let (evm, accepted, payment_id) = match version {
        X402Version::V2 => {
            let p = PaymentPayloadV2::from_json(raw.get()).map_err(bad)?;
            let id = payment_id(p.extensions.as_ref())?;
            (p.payload, Some(p.accepted), id)
        }
        X402Version::V1 => (PaymentPayloadV1::from_json(raw.get()).map_err(bad)?.payload, None, None),
    };
    Ok(Payment { version, network, accepted, evm, payment_id, raw })
}

/// The header's version and its payload's JSON (size-limited, base64, any JSON value).
fn payload_json(header: PaymentHeader<'_>) -> Result<(X402Version, Box<RawValue>), PaymentError> {
    let (text, version) = match header {
        PaymentHeader::V2(t) => (t, X402Version::V2),
        PaymentHeader::V1(t) => (t, X402Version::V1),
    };
    let text = text.trim();
    if text.len() > MAX_HEADER_LEN {
        return Err(PaymentError::Malformed(Code::PaymentHeaderTooLarge));
    }
    let json = base64_decode(text).map_err(|_| PaymentError::Malformed(Code::InvalidPaymentHeader))?;
    let raw = serde_json::from_slice(&json).map_err(|_| PaymentError::Malformed(Code::InvalidPaymentHeader))?;
    Ok((version, raw))
}

/// The envelope judged: the version the header implies, the `exact` scheme, and the
/// network (`None` when its name is not one we know).
fn network_of(version: X402Version, envelope: Envelope) -> Result<Option<Network>, PaymentError> {
    if envelope.x402_version != u64::from(version.number()) {
        return Err(PaymentError::Malformed(Code::InvalidX402Version));
    }
    let (scheme, network_name) = match (version, envelope.accepted, envelope.scheme, envelope.network) {
        (X402Version::V2, Some(accepted), _, _) => accepted,
        (X402Version::V1, _, Some(s), Some(n)) => (s, n),
        _ => return Err(PaymentError::Malformed(Code::InvalidPayload)),
    };
    if scheme != SCHEME_EXACT {
        return Err(PaymentError::Mismatch(Code::UnsupportedScheme));
    }
    Ok(match version {
        X402Version::V2 => Network::parse_caip2(&network_name).ok(),
        X402Version::V1 => Network::parse_v1(&network_name).ok(),
    })
}

/// Picks the route option this payment is for and checks the payment against it:
/// scheme, network, asset, payTo and amount (not the validity window: see
/// [`check_window`]). Nothing here calls out.
pub fn select<'a>(payment: &Payment, options: &'a [PaymentOption]) -> Result<&'a PaymentOption, PaymentError> {
    let network = payment.network.ok_or(PaymentError::Mismatch(Code::InvalidNetwork))?;
    let on_network: Vec<&PaymentOption> = options.iter().filter(|o| o.network == network).collect();
    if on_network.is_empty() {
        return Err(PaymentError::Mismatch(Code::InvalidNetwork));
    }
    let candidates: Vec<&PaymentOption> = match &payment.accepted {
        Some(accepted) => {
            let asset = EvmAddress::parse(&accepted.asset).map_err(|_| PaymentError::Mismatch(Code::AssetMismatch))?;
            on_network.into_iter().filter(|o| o.asset == asset).collect()
        }
        None => on_network,
    };
    let auth = &payment.evm.authorization;
    let chosen = candidates
        .iter()
        .find(|o| o.pay_to == auth.to && o.amount == auth.value)
        .or_else(|| candidates.first())
        .ok_or(PaymentError::Mismatch(Code::AssetMismatch))?;
    check_terms(payment, chosen)?;
    Ok(chosen)
}

fn check_terms(payment: &Payment, option: &PaymentOption) -> Result<(), PaymentError> {
    let auth = &payment.evm.authorization;
    if let Some(accepted) = &payment.accepted {
        let pay_to = EvmAddress::parse(&accepted.pay_to).ok();
        if pay_to != Some(option.pay_to) {
            return Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadRecipientMismatch));
        }
        if accepted.amount != option.amount {
            return Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadAuthorizationValueMismatch));
        }
    }
    if auth.to != option.pay_to {
        return Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadRecipientMismatch));
    }
    if auth.value != option.amount {
        return Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadAuthorizationValueMismatch));
    }
    Ok(())
}

/// Checks a 65-byte ECDSA signature (`v` in 27, 28, 0, 1) locally: it must recover to
/// `authorization.from` over the option's EIP-712 domain, with a low `s` (as the token
/// contract requires). Any other signature (EIP-1271 / ERC-6492 smart wallets, other
/// lengths) cannot be judged without a chain and is left to the facilitator. `Ok(true)`:
/// the payer is proven here; `Ok(false)`: only the facilitator's verify can prove it, so
/// until then nothing may be counted in its name (see `flow`).
pub fn check_signature(payment: &Payment, option: &PaymentOption) -> Result<bool, PaymentError> {
    let signature = &payment.evm.signature.0;
    let checkable = signature.len() == 65 && matches!(signature[64], 0 | 1 | 27 | 28);
    if !checkable {
        return Ok(false);
    }
    let auth = &payment.evm.authorization;
    let digest = transfer_with_authorization_digest(option, auth);
    match recover_signer(&digest, signature) {
        Ok(signer) if signer == auth.from => Ok(true),
        _ => Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadSignature)),
    }
}

/// Checks the validity window against `now`: valid after (with clock skew), still valid
/// long enough to settle, and no longer than the option allows.
pub fn check_window(payment: &Payment, option: &PaymentOption, now: u64) -> Result<(), PaymentError> {
    let auth = &payment.evm.authorization;
    if auth.valid_after > now + CLOCK_SKEW_SECONDS {
        return Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadAuthorizationValidAfter));
    }
    if auth.valid_before < now + SETTLE_MARGIN_SECONDS {
        return Err(PaymentError::Mismatch(Code::InvalidExactEvmPayloadAuthorizationValidBefore));
    }
    if auth.valid_before > now + option.max_timeout_seconds + CLOCK_SKEW_SECONDS {
        return Err(PaymentError::Mismatch(Code::AuthorizationWindowTooLong));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::amount::Amount;
    use crate::codec::base64_encode;

    /// The spec's example payer, recipient and token (specs/transports-v2/http.md).
    pub(crate) fn spec_option() -> PaymentOption {
        PaymentOption {
            network: Network { chain_id: 84_532 },
            asset: EvmAddress::parse("0x036CbD53842c5426634e7929541eC2318f3dCF7e").unwrap(),
            asset_name: "USDC".into(),
            asset_version: "2".into(),
            decimals: 6,
            pay_to: EvmAddress::parse("0x209693Bc6afc0C5328bA36FaF03C514EF312287C").unwrap(),
            amount: Amount(10_000),
            max_timeout_seconds: 60,
        }
    }

    /// Inside the spec example's validity window (validAfter 1740672089, validBefore 1740672154).
    pub(crate) const SPEC_NOW: u64 = 1_740_672_100;

    fn spec_json() -> serde_json::Value {
        let bytes = base64_decode(crate::x402::tests::SPEC_PAYMENT_SIGNATURE).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn v2_header(json: &serde_json::Value) -> String {
        base64_encode(json.to_string().as_bytes())
    }

    pub(crate) fn v1_json() -> serde_json::Value {
        let v2 = spec_json();
        serde_json::json!({"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":v2["payload"]})
    }

    #[test]
    fn ids() {
        for (id, ok) in [
            ("pay_7d5d747be160e280504c099d984bcfe0", true),
            ("a".repeat(16).as_str(), true),
            ("a".repeat(15).as_str(), false),
            ("a".repeat(128).as_str(), true),
            ("a".repeat(129).as_str(), false),
            ("pay_7d5d747be160e2 80", false),
            ("pay_7d5d747be160e2.80", false),
            ("pay_7d5d747be160é280", false),
        ] {
            assert_eq!(PaymentId::parse(id).is_some(), ok, "{id}");
        }
    }

    #[test]
    fn spec_example_decodes_and_matches() {
        let p = decode(PaymentHeader::V2(crate::x402::tests::SPEC_PAYMENT_SIGNATURE)).unwrap();
        assert_eq!(p.version, X402Version::V2);
        let options = [spec_option()];
        assert_eq!(select(&p, &options), Ok(&options[0]));
        let v1 = decode(PaymentHeader::V1(&v2_header(&v1_json()))).unwrap();
        assert_eq!(v1.network, Some(Network { chain_id: 84_532 }));
        assert_eq!(select(&v1, &options), Ok(&options[0]));
    }

    #[test]
    fn malformed_headers_are_400_reasons() {
        let mut wrong_version = spec_json();
        wrong_version["x402Version"] = 1.into();
        let mut no_sig = spec_json();
        no_sig["payload"].as_object_mut().unwrap().remove("signature");
        let mut bad_nonce = spec_json();
        bad_nonce["payload"]["authorization"]["nonce"] = "0x12".into();
        for (header, want) in [
            ("%%%".to_string(), "invalid_payment_header"),
            (base64_encode(b"not json"), "invalid_payment_header"),
            (base64_encode(b"[1,2]"), "invalid_payload"),
            (base64_encode(b"{}"), "invalid_payload"),
            ("A".repeat(MAX_HEADER_LEN + 4), "payment_header_too_large"),
            (v2_header(&wrong_version), "invalid_x402_version"),
            (v2_header(&no_sig), "invalid_payload"),
            (v2_header(&bad_nonce), "invalid_payload"),
        ] {
            let got = decode(PaymentHeader::V2(&header)).map(|_| ());
            let code = match got {
                Err(PaymentError::Malformed(c)) => c.code(),
                other => panic!("{want}: {other:?}"),
            };
            assert_eq!(code, want, "{}", &header[..header.len().min(40)]);
        }
        // A v2 payload sent in the v1 header is a version error, not a silent upgrade.
        let spec = crate::x402::tests::SPEC_PAYMENT_SIGNATURE;
        assert_eq!(decode(PaymentHeader::V1(spec)).map(|_| ()), Err(PaymentError::Malformed(Code::InvalidX402Version)));
    }

    #[test]
    fn mismatches_are_402_reasons() {
        let options = [spec_option()];
        let other = "0x0000000000000000000000000000000000000001";
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Edit, u64)> = vec![
            ("unsupported_scheme", Box::new(|j| j["accepted"]["scheme"] = "upto".into()), SPEC_NOW),
            ("invalid_network", Box::new(|j| j["accepted"]["network"] = "eip155:8453".into()), SPEC_NOW),
            ("invalid_network", Box::new(|j| j["accepted"]["network"] = "solana:abc".into()), SPEC_NOW),
            ("asset_mismatch", Box::new(move |j| j["accepted"]["asset"] = other.into()), SPEC_NOW),
            (
                "invalid_exact_evm_payload_recipient_mismatch",
                Box::new(move |j| j["payload"]["authorization"]["to"] = other.into()),
                SPEC_NOW,
            ),
            (
                "invalid_exact_evm_payload_recipient_mismatch",
                Box::new(move |j| j["accepted"]["payTo"] = other.into()),
                SPEC_NOW,
            ),
            (
                "invalid_exact_evm_payload_authorization_value_mismatch",
                Box::new(|j| j["payload"]["authorization"]["value"] = "9999".into()),
                SPEC_NOW,
            ),
            (
                "invalid_exact_evm_payload_authorization_value_mismatch",
                Box::new(|j| j["payload"]["authorization"]["value"] = "10001".into()),
                SPEC_NOW,
            ),
            (
                "invalid_exact_evm_payload_authorization_value_mismatch",
                Box::new(|j| j["accepted"]["amount"] = "1".into()),
                SPEC_NOW,
            ),
            ("invalid_exact_evm_payload_authorization_valid_before", Box::new(|_| {}), 1_740_672_150),
            ("invalid_exact_evm_payload_authorization_valid_after", Box::new(|_| {}), 1_740_672_089 - 61),
            (
                "authorization_window_too_long",
                Box::new(|j| j["payload"]["authorization"]["validBefore"] = "1740682154".into()),
                SPEC_NOW,
            ),
        ];
        for (want, edit, now) in cases {
            let mut json = spec_json();
            edit(&mut json);
            let p = decode(PaymentHeader::V2(&v2_header(&json)))
                .and_then(|p| select(&p, &options).and_then(|o| check_window(&p, o, now)));
            let code = match p {
                Err(PaymentError::Mismatch(c)) => c.code(),
                other => panic!("{want} {json}: {other:?}"),
            };
            assert_eq!(code, want, "{json}");
        }
    }

    #[test]
    fn payment_identifier_is_read_and_checked() {
        let mut json = spec_json();
        json["extensions"] = serde_json::json!({"payment-identifier": {"info": {"required": false, "id": "pay_7d5d747be160e280504c099d984bcfe0"}}});
        let p = decode(PaymentHeader::V2(&v2_header(&json))).unwrap();
        assert_eq!(p.payment_id.unwrap().as_str(), "pay_7d5d747be160e280504c099d984bcfe0");
        for bad in [
            serde_json::json!("short"),
            serde_json::json!(12345678901234567_u64),
            serde_json::json!("pay_7d5d747be160e2/80"),
        ] {
            json["extensions"]["payment-identifier"]["info"]["id"] = bad.clone();
            let got = decode(PaymentHeader::V2(&v2_header(&json))).map(|_| ());
            assert_eq!(got, Err(PaymentError::Malformed(Code::InvalidPaymentIdentifier)), "{bad}");
        }
        json["extensions"]["payment-identifier"]["info"].as_object_mut().unwrap().remove("id");
        assert_eq!(decode(PaymentHeader::V2(&v2_header(&json))).unwrap().payment_id, None);
    }

    #[test]
    fn picks_the_option_the_client_paid_for() {
        let cheap = spec_option();
        let mut mainnet = spec_option();
        mainnet.network = Network { chain_id: 8453 };
        mainnet.asset = EvmAddress::parse("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913").unwrap();
        let options = [mainnet, cheap];
        let p = decode(PaymentHeader::V2(crate::x402::tests::SPEC_PAYMENT_SIGNATURE)).unwrap();
        assert_eq!(select(&p, &options), Ok(&options[1]));
    }
}

#[cfg(test)]
mod fuzz {
    //! Generated inputs: header decoding never panics, and whatever it accepts is a
    //! payment whose checks also never panic.
    use super::*;
    use crate::codec::base64_encode;
    use crate::testkit::Rng;

    /// Mutates a valid payload JSON: byte flips, truncation, token splices.
    fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"null",
            b"{}",
            b"[]",
            b"\"\"",
            b"-1",
            b"1e999",
            b"\"0x\"",
            b"true",
            b"\"\\u0000\"",
            b"99999999999999999999999",
        ];
        let mut out = base.to_vec();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 if !out.is_empty() => {
                    let at = rng.below(out.len());
                    out[at] = rng.next() as u8;
                }
                1 if !out.is_empty() => out.truncate(rng.below(out.len())),
                2 => {
                    let at = rng.below(out.len() + 1);
                    let token = TOKENS[rng.below(TOKENS.len())];
                    out.splice(at..at, token.iter().copied());
                }
                _ if !out.is_empty() => {
                    let at = rng.below(out.len());
                    let end = (at + rng.below(16)).min(out.len());
                    out.drain(at..end);
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn decoding_generated_headers_never_panics() {
        let base = crate::codec::base64_decode(crate::x402::tests::SPEC_PAYMENT_SIGNATURE).unwrap();
        let options = [tests::spec_option()];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..3000 {
            let json = mutate(&base, &mut rng);
            let header = base64_encode(&json);
            for h in [PaymentHeader::V2(&header), PaymentHeader::V1(&header)] {
                match decode(h) {
                    Ok(p) => {
                        accepted += 1;
                        if let Ok(o) = select(&p, &options) {
                            let _ = check_signature(&p, o);
                            let _ = check_window(&p, o, tests::SPEC_NOW);
                        }
                    }
                    Err(PaymentError::Malformed(_) | PaymentError::Mismatch(_)) => refused += 1,
                    Err(other) => panic!("decode gave a non-intake error {other:?}"),
                }
            }
            // Printable garbage as the header itself is never a payment.
            let garbage: String = (0..rng.below(64)).map(|_| char::from(rng.next() as u8 % 95 + 32)).collect();
            assert!(decode(PaymentHeader::V2(&garbage)).is_err(), "{garbage:?}");
        }
        assert!(accepted > 50 && refused > 1000, "accepted {accepted}, refused {refused}");
    }

    /// The decoder as it was before the payloads were read by hand: on the serde derives
    /// of the x402 types (kept for the tests). The hand-read decoder must agree with it.
    fn reference(header: PaymentHeader<'_>) -> Result<Payment, PaymentError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SerdeEnvelope {
            x402_version: u64,
            #[serde(default)]
            scheme: Option<String>,
            #[serde(default)]
            network: Option<String>,
            #[serde(default)]
            accepted: Option<Accepted>,
        }
        #[derive(serde::Deserialize)]
        struct Accepted {
            scheme: String,
            network: String,
        }
        let (version, raw) = payload_json(header)?;
        let bad = |_| PaymentError::Malformed(Code::InvalidPayload);
        let e: SerdeEnvelope = serde_json::from_str(raw.get()).map_err(bad)?;
        let accepted = e.accepted.map(|a| (a.scheme, a.network));
        let envelope = Envelope { x402_version: e.x402_version, scheme: e.scheme, network: e.network, accepted };
        let network = network_of(version, envelope)?;
        let (evm, accepted, payment_id) = match version {
            X402Version::V2 => {
                let p: PaymentPayloadV2 = serde_json::from_str(raw.get()).map_err(bad)?;
                let id = payment_id(p.extensions.as_ref())?;
                (p.payload, Some(p.accepted), id)
            }
            X402Version::V1 => (serde_json::from_str::<PaymentPayloadV1>(raw.get()).map_err(bad)?.payload, None, None),
        };
        Ok(Payment { version, network, accepted, evm, payment_id, raw })
    }

    /// `spec` with `members` spliced in after its first brace, as a header.
    fn spec_text_flood(spec: &[u8], members: &str) -> String {
        let text = String::from_utf8(spec.to_vec()).unwrap().replacen('{', &format!("{{{members}"), 1);
        base64_encode(text.as_bytes())
    }

    /// Whether a JSON text has an object with a key twice (in any letter case), anywhere
    /// (judged by serde).
    fn has_repeated_key(json: &[u8]) -> bool {
        struct Repeats(bool);
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Repeats;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Repeats, A::Error> {
                let (mut keys, mut repeats) = (std::collections::BTreeSet::new(), false);
                while let Some((key, inner)) = map.next_entry::<String, Repeats>()? {
                    repeats |= !keys.insert(key.to_ascii_lowercase()) || inner.0;
                }
                Ok(Repeats(repeats))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Repeats, A::Error> {
                let mut repeats = false;
                while let Some(inner) = seq.next_element::<Repeats>()? {
                    repeats |= inner.0;
                }
                Ok(Repeats(repeats))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Repeats, E> {
                Ok(Repeats(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Repeats, E> {
                Ok(Repeats(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Repeats, E> {
                Ok(Repeats(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Repeats, E> {
                Ok(Repeats(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<Repeats, E> {
                Ok(Repeats(false))
            }
            fn visit_unit<E>(self) -> Result<Repeats, E> {
                Ok(Repeats(false))
            }
        }
        impl<'de> serde::Deserialize<'de> for Repeats {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(V)
            }
        }
        serde_json::from_slice::<Repeats>(json).is_ok_and(|r| r.0)
    }

    /// Both decoders give the same payment or the same refusal. The one difference by
    /// design: ours refuses a key given twice anywhere it reads an object (serde only a
    /// known field's), so a text with a repeated key may be refused by ours alone, never
    /// accepted by ours alone.
    fn same(header: PaymentHeader<'_>) {
        let (ours, theirs) = (decode(header), reference(header));
        let json = base64_decode(header.text().trim()).unwrap_or_default();
        if has_repeated_key(&json) && (ours.is_err() || theirs.is_ok()) {
            return;
        }
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"), "{header:?}");
    }

    #[test]
    fn hand_read_payloads_decode_as_the_serde_derives_do() {
        let spec = crate::codec::base64_decode(crate::x402::tests::SPEC_PAYMENT_SIGNATURE).unwrap();
        let v1 = serde_json::to_vec(&tests::v1_json()).unwrap();
        // Splices that make a field twice, a null, a wrong type, an unknown field.
        const SPLICES: &[&str] = &[
            r#""amount":"1","#,
            r#""x402Version":2,"#,
            r#""x402Version":1,"#,
            r#""from":"0x0000000000000000000000000000000000000001","#,
            r#""nonce":null,"#,
            r#""extra":null,"#,
            r#""resource":null,"#,
            r#""extensions":{"payment-identifier":{"info":{"id":"abcdefghijklmnop"}}},"#,
            r#""extensions":[],"#,
            r#""description":null,"#,
            r#""mimeType":7,"#,
            r#""url":"u","#,
            r#""later":{"a":[1,2]},"#,
            r#""scheme":"exact","#,
            r#""network":null,"#,
            r#""signature":"0x","#,
            r#""maxTimeoutSeconds":60.0,"#,
            r#""validAfter":"01","#,
        ];
        let mut rng = Rng(0x0dd5_eed5);
        let mut splices = 0;
        for base in [&spec, &v1] {
            for _ in 0..3000 {
                let json = match rng.below(3) {
                    0 => mutate(base, &mut rng),
                    _ => {
                        // After an opening brace of any object: the splice lands as a field.
                        let opens: Vec<usize> =
                            base.iter().enumerate().filter(|(_, &b)| b == b'{').map(|(i, _)| i).collect();
                        let at = opens[rng.below(opens.len())] + 1;
                        let mut out = base.clone();
                        let splice = SPLICES[rng.below(SPLICES.len())].as_bytes();
                        out.splice(at..at, splice.iter().copied());
                        splices += 1;
                        out
                    }
                };
                let header = base64_encode(&json);
                same(PaymentHeader::V2(&header));
                same(PaymentHeader::V1(&header));
            }
        }
        assert!(splices > 3000);
        // A maximum-size header of distinct keys is refused (the check for repeats is bounded).
        let many: String = (0..1_000).map(|i| format!("\"k{i:04}\":0,")).collect();
        let flood = spec_text_flood(&spec, &many);
        assert!(flood.len() <= MAX_HEADER_LEN);
        assert_eq!(decode(PaymentHeader::V2(&flood)).map(|_| ()), Err(PaymentError::Malformed(Code::InvalidPayload)));
        // A field a Go facilitator reads case-insensitively, sent in two cases: serde keeps
        // the lower-case one and passes over the other; ours refuses the payload, in every
        // object we read.
        for (object, field) in [
            ("\"payload\":{", r#""Authorization":{"from":"0x0000000000000000000000000000000000000001"},"#),
            ("{\"x402Version\"", r#""Payload":{},"#),
            ("\"accepted\":{", r#""PayTo":"0x0000000000000000000000000000000000000001","#),
        ] {
            let spec_text = String::from_utf8(spec.clone()).unwrap();
            let at = spec_text.find(object).unwrap() + object.len();
            let at = if object.ends_with('{') { at } else { at - object.len() + 1 };
            let text = format!("{}{field}{}", &spec_text[..at], &spec_text[at..]);
            let header = base64_encode(text.as_bytes());
            assert!(reference(PaymentHeader::V2(&header)).is_ok(), "{text}");
            assert_eq!(
                decode(PaymentHeader::V2(&header)).map(|_| ()),
                Err(PaymentError::Malformed(Code::InvalidPayload)),
                "{text}"
            );
        }
        // A key twice that serde passes over (unknown to its struct) is refused here too.
        let spec_text = String::from_utf8(spec.clone()).unwrap();
        let twice = spec_text.replacen('{', r#"{"later":1,"later":2,"#, 1);
        let header = base64_encode(twice.as_bytes());
        assert!(reference(PaymentHeader::V2(&header)).is_ok());
        assert_eq!(decode(PaymentHeader::V2(&header)).map(|_| ()), Err(PaymentError::Malformed(Code::InvalidPayload)));
        same(PaymentHeader::V2(crate::x402::tests::SPEC_PAYMENT_SIGNATURE));
    }

    #[test]
    fn a_field_sent_twice_is_refused_in_every_object() {
        let spec = crate::codec::base64_decode(crate::x402::tests::SPEC_PAYMENT_SIGNATURE).unwrap();
        let spec = String::from_utf8(spec).unwrap();
        for (object, field) in [
            ("{\"x402Version\"", r#""x402Version":2,"#),
            ("\"accepted\":{", r#""amount":"10000","#),
            ("\"payload\":{", r#""signature":"0x00","#),
            ("\"authorization\":{", r#""value":"10000","#),
            ("\"resource\":{", r#""url":"https://api.example.com/premium-data","#),
        ] {
            let at = spec.find(object).unwrap() + object.len();
            let at = if object.ends_with('{') { at } else { at - object.len() + 1 };
            let twice = format!("{}{}{}", &spec[..at], field, &spec[at..]);
            let header = base64_encode(twice.as_bytes());
            assert_eq!(
                decode(PaymentHeader::V2(&header)).map(|_| ()),
                Err(PaymentError::Malformed(Code::InvalidPayload)),
                "{twice}"
            );
            same(PaymentHeader::V2(&header));
        }
    }
}
