//! x402 wire types for the `exact` EVM scheme, v1 and v2, as the specs in
//! `specs/` of the x402 repository define them. Serialisation of what we send
//! (challenges, facilitator requests) and typed deserialisation of what we receive
//! (payment payloads, facilitator answers are parsed fail-safe in `facilitator`).

use serde::Serialize;
#[cfg(test)]
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::codec::{hex_decode_fixed, hex_encode_0x};

/// The x402 protocol version a message speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum X402Version {
    /// v1: `X-PAYMENT` header, requirements in the 402 JSON body.
    V1,
    /// v2: `PAYMENT-SIGNATURE` header, requirements in the `PAYMENT-REQUIRED` header.
    V2,
}

impl X402Version {
    /// The number on the wire.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }
}

impl Serialize for X402Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

/// A version marker that parses only its own value: `Exactly<2>` accepts `2` and
/// nothing else ("expected x402Version 2, got 1").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exactly<const N: u8>;

impl<const N: u8> Serialize for Exactly<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(N)
    }
}

#[cfg(test)]
impl<'de, const N: u8> Deserialize<'de> for Exactly<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let got = u64::deserialize(d)?;
        if got == u64::from(N) {
            Ok(Self)
        } else {
            Err(serde::de::Error::custom(format_args!("expected x402Version {N}, got {got}")))
        }
    }
}

/// v2 `ResourceInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// URL of the protected resource.
    pub url: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of the expected response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// v2 `PaymentRequirements`, as sent in a challenge and as echoed by clients in
/// `accepted`. Addresses and the network stay strings here: a client's echo is compared
/// field by field against ours, and an unknown network must reach that comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct RequirementsV2 {
    /// Payment scheme (`exact`).
    pub scheme: String,
    /// CAIP-2 network.
    pub network: String,
    /// Atomic units.
    pub amount: Amount,
    /// Token contract address.
    pub asset: String,
    /// Recipient.
    pub pay_to: String,
    /// Maximum time for payment completion.
    pub max_timeout_seconds: u64,
    /// Scheme-specific data (`name`, `version` of the EIP-712 domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// v2 `PaymentRequired`, base64 in the `PAYMENT-REQUIRED` header.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV2 {
    /// Always 2.
    pub x402_version: Exactly<2>,
    /// Why payment is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The protected resource.
    pub resource: ResourceInfo,
    /// Acceptable payment options.
    pub accepts: Vec<RequirementsV2>,
    /// Extensions advertised by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// v1 `PaymentRequirements`, in the 402 JSON body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct RequirementsV1 {
    /// Payment scheme (`exact`).
    pub scheme: String,
    /// v1 network name (`base-sepolia`).
    pub network: String,
    /// Atomic units.
    pub max_amount_required: Amount,
    /// Token contract address.
    pub asset: String,
    /// Recipient.
    pub pay_to: String,
    /// URL of the protected resource.
    pub resource: String,
    /// Human-readable description (required in v1, may be empty).
    pub description: String,
    /// MIME type of the response.
    #[serde(default)]
    pub mime_type: String,
    /// JSON schema of the response. Left out when absent: the legacy `x402-fetch`
    /// client refuses `"outputSchema": null` (it expects an object or nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Maximum time for payment completion.
    pub max_timeout_seconds: u64,
    /// Scheme-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// v1 `PaymentRequirementsResponse`: the 402 JSON body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV1 {
    /// Always 1.
    pub x402_version: Exactly<1>,
    /// Why payment is required.
    pub error: String,
    /// Acceptable payment options (only those with a v1 network name).
    pub accepts: Vec<RequirementsV1>,
}

/// An EIP-3009 `TransferWithAuthorization` as the `exact` EVM payload carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorization {
    /// Payer.
    pub from: EvmAddress,
    /// Recipient.
    pub to: EvmAddress,
    /// Atomic units.
    pub value: Amount,
    /// Valid strictly after this unix time.
    #[serde(with = "unix_string")]
    pub valid_after: u64,
    /// Valid strictly before this unix time.
    #[serde(with = "unix_string")]
    pub valid_before: u64,
    /// 32-byte nonce.
    pub nonce: Bytes32,
}

impl Authorization {
    /// The nonce as `0x` hex.
    pub fn nonce_hex(&self) -> String {
        hex_encode_0x(&self.nonce.0)
    }
}

/// The `exact` EVM scheme payload: signature plus authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct ExactEvmPayload {
    /// EIP-712 signature (65 bytes for an EOA; longer for smart wallets).
    pub signature: HexBytes,
    /// The signed authorization.
    pub authorization: Authorization,
}

/// v2 `PaymentPayload` (`PAYMENT-SIGNATURE`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV2 {
    /// Always 2.
    pub x402_version: Exactly<2>,
    /// The resource the client believes it pays for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The requirements the client chose.
    pub accepted: RequirementsV2,
    /// Scheme payload.
    pub payload: ExactEvmPayload,
    /// Extensions echoed by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// v1 `PaymentPayload` (`X-PAYMENT`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV1 {
    /// Always 1.
    pub x402_version: Exactly<1>,
    /// Payment scheme.
    pub scheme: String,
    /// v1 network name.
    pub network: String,
    /// Scheme payload.
    pub payload: ExactEvmPayload,
}

/// A 32-byte value written as `0x` + 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bytes32(pub [u8; 32]);

impl std::fmt::Debug for Bytes32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex_encode_0x(&self.0))
    }
}

impl Serialize for Bytes32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_encode_0x(&self.0))
    }
}

#[cfg(test)]
impl<'de> Deserialize<'de> for Bytes32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let digits = text.strip_prefix("0x").ok_or_else(|| serde::de::Error::custom("expected 0x-prefixed hex"))?;
        hex_decode_fixed::<32>(digits).map(Bytes32).map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
    }
}

/// Variable-length bytes written as `0x` + hex (at most 4 KiB).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl std::fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex_encode_0x(&self.0))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_encode_0x(&self.0))
    }
}

impl HexBytes {
    /// `0x` and an even number (2 to 8192) of hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix("0x")?;
        if digits.is_empty() || digits.len() % 2 != 0 || digits.len() > 8192 {
            return None;
        }
        let mut out = Vec::with_capacity(digits.len() / 2);
        for pair in digits.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).ok()?;
            out.push(hex_decode_fixed::<1>(s).ok()?[0]);
        }
        Some(HexBytes(out))
    }
}

#[cfg(test)]
impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        HexBytes::parse(&text).ok_or_else(|| serde::de::Error::custom("expected 0x-prefixed hex bytes"))
    }
}

/// Unix times travel as decimal strings (uint256 in EIP-712); we hold them as u64.
mod unix_string {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// 1 to 20 decimal digits, within u64.
    pub fn parse(text: &str) -> Option<u64> {
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }

    #[cfg(test)]
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        use serde::Deserialize;
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom("expected a unix time as a decimal string"))
    }
}

pub(crate) mod read;
pub(crate) use read::Envelope;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::base64_decode;

    /// The `PAYMENT-SIGNATURE` example of specs/transports-v2/http.md.
    pub(crate) const SPEC_PAYMENT_SIGNATURE: &str = "eyJ4NDAyVmVyc2lvbiI6MiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZS5jb20vcHJlbWl1bS1kYXRhIiwiZGVzY3JpcHRpb24iOiJBY2Nlc3MgdG8gcHJlbWl1bSBtYXJrZXQgZGF0YSIsIm1pbWVUeXBlIjoiYXBwbGljYXRpb24vanNvbiJ9LCJhY2NlcHRlZCI6eyJzY2hlbWUiOiJleGFjdCIsIm5ldHdvcmsiOiJlaXAxNTU6ODQ1MzIiLCJhbW91bnQiOiIxMDAwMCIsImFzc2V0IjoiMHgwMzZDYkQ1Mzg0MmM1NDI2NjM0ZTc5Mjk1NDFlQzIzMThmM2RDRjdlIiwicGF5VG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJtYXhUaW1lb3V0U2Vjb25kcyI6NjAsImV4dHJhIjp7Im5hbWUiOiJVU0RDIiwidmVyc2lvbiI6IjIifX0sInBheWxvYWQiOnsic2lnbmF0dXJlIjoiMHgyZDZhNzU4OGQ2YWNjYTUwNWNiZjBkOWE0YTIyN2UwYzUyYzZjMzQwMDhjOGU4OTg2YTEyODMyNTk3NjQxNzM2MDhhMmNlNjQ5NjY0MmUzNzdkNmRhOGRiYmY1ODM2ZTliZDE1MDkyZjllY2FiMDVkZWQzZDYyOTNhZjE0OGI1NzFjIiwiYXV0aG9yaXphdGlvbiI6eyJmcm9tIjoiMHg4NTdiMDY1MTlFOTFlM0E1NDUzODc5MWJEYmIwRTIyMzczZTM2YjY2IiwidG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJ2YWx1ZSI6IjEwMDAwIiwidmFsaWRBZnRlciI6IjE3NDA2NzIwODkiLCJ2YWxpZEJlZm9yZSI6IjE3NDA2NzIxNTQiLCJub25jZSI6IjB4ZjM3NDY2MTNjMmQ5MjBiNWZkYWJjMDg1NmYyYWViMmQ0Zjg4ZWU2MDM3YjhjYzVkMDRhNzFhNDQ2MmYxMzQ4MCJ9fX0=";

    #[test]
    fn spec_payment_signature_decodes_into_typed_payload() {
        let json = base64_decode(SPEC_PAYMENT_SIGNATURE).unwrap();
        let p: PaymentPayloadV2 = serde_json::from_slice(&json).unwrap();
        assert_eq!(p.accepted.amount, Amount(10_000));
        assert_eq!(p.accepted.network, "eip155:84532");
        let a = &p.payload.authorization;
        assert_eq!(a.from.checksummed(), "0x857b06519E91e3A54538791bDbb0E22373e36b66");
        assert_eq!(a.to.checksummed(), "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
        assert_eq!((a.valid_after, a.valid_before), (1_740_672_089, 1_740_672_154));
        assert_eq!(p.payload.signature.0.len(), 65);
        assert_eq!(p.resource.unwrap().url, "https://api.example.com/premium-data");
    }

    #[test]
    fn version_markers_parse_only_their_value() {
        let err = serde_json::from_str::<Exactly<2>>("1").unwrap_err().to_string();
        assert!(err.contains("expected x402Version 2, got 1"), "{err}");
        assert!(serde_json::from_str::<Exactly<1>>("1").is_ok());
        assert!(serde_json::from_str::<Exactly<1>>("\"1\"").is_err());
    }

    #[test]
    fn authorization_fields_are_strict() {
        let good = r#"{"from":"0x857b06519e91e3a54538791bdbb0e22373e36b66","to":"0x209693bc6afc0c5328ba36faf03c514ef312287c","value":"10000","validAfter":"0","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}"#;
        assert!(serde_json::from_str::<Authorization>(good).is_ok());
        for (from, to) in [
            (r#""value":"10000""#, r#""value":10000"#),
            (r#""value":"10000""#, r#""value":"-1""#),
            (r#""validAfter":"0""#, r#""validAfter":"1e3""#),
            (r#""nonce":"0xf3"#, r#""nonce":"f3"#),
            (r#""to":"0x2096"#, r#""to":"0x2O96"#),
            (r#""value":"10000""#, r#""value":"10000","extra":1"#),
        ] {
            let bad = good.replacen(from, to, 1);
            assert!(serde_json::from_str::<Authorization>(&bad).is_err(), "{bad}");
        }
    }
}
