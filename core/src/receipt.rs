//! Signed payment receipts: the x402 `offer-receipt` extension in its JWS format.
//!
//! This module owns the receipt signing key (an ed25519 seed read from the
//! `RECEIPT_SIGNING_KEY` secret), the receipt claims, the JWS Compact Serialization
//! (`base64url(header).base64url(payload).base64url(signature)`, `alg` `EdDSA`), the
//! key id (an RFC 7638 JWK thumbprint), the JWKS document that publishes the public
//! key, and verification of a receipt against that key.
//!
//! Flow served: only after the origin has answered successfully and the payment has
//! been settled does `flow` build [`ReceiptClaims`], sign them with
//! [`ReceiptSigner::sign`] and attach [`receipt_extension`] to the settle response as
//! `extensions["offer-receipt"]`. Anyone holding the JWKS (served by the Worker) can
//! check a receipt offline with [`verify`].
//!
//! Signing is deterministic (RFC 8032, no noise), so the same key and claims always give
//! the same receipt and no random number source is needed at the edge.

#[cfg(test)]
use ed25519_compact::Signature;
use ed25519_compact::{KeyPair, PublicKey, SecretKey, Seed};
use serde_json::{Map, Value};

use crate::codec::{base64_decode, base64url_decode, base64url_encode, hex_decode_fixed, to_json, DecodeError};
use crate::crypto::sha256;

/// The JWS `alg` every receipt carries.
const ALG: &str = "EdDSA";
/// The JWS `typ` every receipt carries.
pub(crate) const TYP: &str = "x402-receipt+jws";
/// The only receipt claims version this module issues and accepts.
#[cfg(test)]
const VERSION: u8 = 1;
/// The public key of the all-zero seed. `ed25519_compact` refuses to derive it (it panics
/// in `KeyPair::from_seed`), so [`ReceiptSigner::from_seed`] builds that key pair itself
/// rather than panic. [`ReceiptSigner::from_secret`] never gets there: it refuses the
/// all-zero seed as a placeholder.
const ZERO_SEED_PUBLIC_KEY: [u8; 32] = [
    0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8, 0xd0, 0x2a, 0x6f, 0x0d, 0x73, 0x65, 0x32, 0x15,
    0x77, 0x1d, 0xe2, 0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29,
];

/// The claims a receipt signs.
///
/// Serialised in this field order, with these camelCase names, as the JWS payload:
/// the x402 `offer-receipt` fields (`version` … `transaction`) followed by this
/// project's additions (`amount`, `asset`, `payTo`, `route`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptClaims {
    /// Receipt format version; always 1.
    pub version: u8,
    /// CAIP-2 network id, e.g. `eip155:84532`.
    pub network: String,
    /// The URL of the resource that was paid for.
    pub resource_url: String,
    /// The payer's address.
    pub payer: String,
    /// When the receipt was issued, in unix seconds.
    pub issued_at: u64,
    /// The settlement transaction (hash or facilitator reference).
    pub transaction: String,
    /// The amount paid, in the asset's atomic units, as a decimal string.
    pub amount: String,
    /// The token contract address that was paid in.
    pub asset: String,
    /// The address that was paid.
    pub pay_to: String,
    /// The route pattern that priced the request, e.g. `GET /premium/*`.
    pub route: String,
    /// The receipt's id ([`ReceiptSigner::receipt_id`]): the ledger's `receiptId`.
    pub jti: String,
}

/// Why a signing key could not be loaded.
///
/// Its `Display` never includes the key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The secret is empty (after trimming) or is the all-zero placeholder seed.
    Missing,
    /// The secret has characters that are not hex or base64, or malformed base64.
    BadEncoding,
    /// The secret does not hold exactly 32 bytes.
    BadLength,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyError::Missing => "receipt signing key is missing (empty or an all-zero placeholder)",
            KeyError::BadEncoding => "receipt signing key is neither hex nor base64",
            KeyError::BadLength => {
                "receipt signing key is not a 32-byte ed25519 seed \
                 (64 hex digits or 43 base64url characters)"
            }
        })
    }
}

impl std::error::Error for KeyError {}

/// Signs receipts with an ed25519 key (seed from the `RECEIPT_SIGNING_KEY` secret).
pub struct ReceiptSigner {
    key_pair: KeyPair,
    kid: String,
}

impl ReceiptSigner {
    /// Loads the signer from the secret's text.
    ///
    /// Accepts the 32-byte seed as 64 hex digits (optional `0x`, either case) or as
    /// base64url/base64 (43 characters, or 44 with one `=`). Surrounding whitespace is
    /// trimmed. A `0x` prefix or exactly 64 characters means hex; 43 or 44 characters
    /// mean base64 (the base64url alphabet is tried first, then the standard one).
    /// The all-zero seed is refused as [`KeyError::Missing`]: it is a placeholder, not
    /// a key.
    pub fn from_secret(text: &str) -> Result<Self, KeyError> {
        let seed = parse_seed(text.trim())?;
        if seed == [0u8; 32] {
            return Err(KeyError::Missing);
        }
        Ok(Self::from_seed(seed))
    }

    /// Builds the signer from the raw 32-byte ed25519 seed (RFC 8032 secret key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key_pair = match KeyPair::try_from_seed(Seed::new(seed)) {
            Ok(key_pair) => key_pair,
            // `try_from_seed` only refuses the all-zero seed.
            Err(_) => {
                let mut secret = [0u8; 64];
                secret[32..].copy_from_slice(&ZERO_SEED_PUBLIC_KEY);
                KeyPair { pk: PublicKey::new(ZERO_SEED_PUBLIC_KEY), sk: SecretKey::new(secret) }
            }
        };
        let kid = thumbprint(&key_pair.pk);
        Self { key_pair, kid }
    }

    /// RFC 7638 JWK thumbprint of the public key: base64url(SHA-256 of the exact string
    /// `{"crv":"Ed25519","kty":"OKP","x":"<b64url pubkey>"}`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        *self.key_pair.pk
    }

    /// The JWS compact string for the claims (payload = serde_json of the claims).
    ///
    /// Header: exactly `{"alg":"EdDSA","kid":"<kid>","typ":"x402-receipt+jws"}`.
    /// `claims.version` should be 1: [`verify`] refuses any other version.
    pub fn sign(&self, claims: &ReceiptClaims) -> String {
        // An empty payload (see `to_json`) would be refused by `verify` as
        // `ReceiptError::Payload`, never mis-read.
        self.sign_jws(TYP, to_json(claims).as_bytes())
    }

    /// The JWS compact string of `payload` under the header
    /// `{"alg":"EdDSA","kid":"<kid>","typ":"<typ>"}` (`typ` must need no JSON escaping).
    pub(crate) fn sign_jws(&self, typ: &str, payload: &[u8]) -> String {
        // The kid is base64url, so it needs no JSON escaping.
        let header = format!(r#"{{"alg":"{ALG}","kid":"{}","typ":"{typ}"}}"#, self.kid);
        let mut jws = base64url_encode(header.as_bytes());
        jws.push('.');
        jws.push_str(&base64url_encode(payload));
        let signature = self.key_pair.sk.sign(jws.as_bytes(), None);
        jws.push('.');
        jws.push_str(&base64url_encode(signature.as_ref()));
        jws
    }

    /// The receipt id of a payment key: 128 bits derived from the signing key and the
    /// payment key (base64url, 22 characters). Unguessable without the key, and the same
    /// for every receipt of one payment, so a settlement resumed after a crash names the
    /// same receipt.
    pub fn receipt_id(&self, payment_key: &str) -> String {
        base64url_encode(&self.derive(b"x402-edge/receipt-id/v1\0", payment_key.as_bytes())[..16])
    }

    /// 32 bytes derived from the signing key, a domain and `data`: SHA-256 of the seed,
    /// the domain and the data. Unguessable without the key; the same for the same input.
    pub(crate) fn derive(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        let mut input = Vec::with_capacity(32 + domain.len() + data.len());
        input.extend_from_slice(&self.key_pair.sk[..32]);
        input.extend_from_slice(domain);
        input.extend_from_slice(data);
        sha256(&input)
    }

    /// JWKS document publishing the public key:
    /// `{"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA","use":"sig"}]}`.
    pub fn jwks_json(&self) -> String {
        // `x` and `kid` are base64url, so they need no JSON escaping.
        format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{}","kid":"{}","alg":"{ALG}","use":"sig"}}]}}"#,
            base64url_encode(self.key_pair.pk.as_ref()),
            self.kid
        )
    }
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

#[cfg(test)]
/// Why a receipt failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptError {
    /// Not three base64url (unpadded) segments.
    Format,
    /// The header is not a JSON object, its `alg` is not `EdDSA`, its `typ` is not
    /// `x402-receipt+jws`, or it has a `crit` member.
    Header,
    /// The header's `kid` is missing or is not the expected one.
    UnknownKey,
    /// The signature does not verify under the public key.
    BadSignature,
    /// The signed payload is not a version-1 [`ReceiptClaims`] object.
    Payload,
}

#[cfg(test)]
impl std::fmt::Display for ReceiptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReceiptError::Format => "receipt is not a compact JWS",
            ReceiptError::Header => "receipt header is not an EdDSA x402 receipt header",
            ReceiptError::UnknownKey => "receipt was not signed by the expected key id",
            ReceiptError::BadSignature => "receipt signature does not verify",
            ReceiptError::Payload => "receipt payload is not valid receipt claims",
        })
    }
}

#[cfg(test)]
impl std::error::Error for ReceiptError {}

#[cfg(test)]
/// Verifies a JWS receipt against a public key (checks alg EdDSA, kid equals the expected
/// kid, signature, and decodes claims).
///
/// Checks run in this order, and the first failure is returned: shape and base64url
/// of the three segments ([`ReceiptError::Format`]), header ([`ReceiptError::Header`]),
/// `kid` ([`ReceiptError::UnknownKey`]), signature ([`ReceiptError::BadSignature`]),
/// then the claims ([`ReceiptError::Payload`]). The payload is only parsed once the
/// signature has verified.
pub fn verify(jws: &str, public_key: &[u8; 32], kid: &str) -> Result<ReceiptClaims, ReceiptError> {
    let mut segments = jws.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(ReceiptError::Format);
    };
    let header = decode_segment(header_b64)?;
    let payload = decode_segment(payload_b64)?;
    let signature = decode_segment(signature_b64)?;

    let header: Map<String, Value> = serde_json::from_slice(&header).map_err(|_| ReceiptError::Header)?;
    if header.get("alg").and_then(Value::as_str) != Some(ALG)
        || header.contains_key("crit")
        || header.get("typ").is_some_and(|typ| typ.as_str() != Some(TYP))
    {
        return Err(ReceiptError::Header);
    }
    if header.get("kid").and_then(Value::as_str) != Some(kid) {
        return Err(ReceiptError::UnknownKey);
    }

    let signature = Signature::from_slice(&signature).map_err(|_| ReceiptError::BadSignature)?;
    // The signing input is the exact ASCII of the first two segments and the dot.
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = jws.get(..signed_len).ok_or(ReceiptError::Format)?;
    PublicKey::new(*public_key).verify(signing_input.as_bytes(), &signature).map_err(|_| ReceiptError::BadSignature)?;

    let claims: ReceiptClaims = serde_json::from_slice(&payload).map_err(|_| ReceiptError::Payload)?;
    if claims.version != VERSION {
        return Err(ReceiptError::Payload);
    }
    Ok(claims)
}

/// The settle-response extension value `{"info":{"receipt":{"format":"jws","signature":jws}}}`,
/// carried as `extensions["offer-receipt"]`.
pub fn receipt_extension(jws: &str) -> Value {
    let mut receipt = Map::new();
    receipt.insert("format".to_owned(), Value::String("jws".to_owned()));
    receipt.insert("signature".to_owned(), Value::String(jws.to_owned()));
    let mut info = Map::new();
    info.insert("receipt".to_owned(), Value::Object(receipt));
    let mut extension = Map::new();
    extension.insert("info".to_owned(), Value::Object(info));
    Value::Object(extension)
}

/// RFC 7638 thumbprint of an Ed25519 OKP JWK (members in lexicographic order, no spaces).
fn thumbprint(public_key: &PublicKey) -> String {
    let jwk = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, base64url_encode(public_key.as_ref()));
    base64url_encode(&sha256(jwk.as_bytes()))
}

#[cfg(test)]
/// Decodes one JWS segment: base64url without padding (RFC 7515 §2).
fn decode_segment(segment: &str) -> Result<Vec<u8>, ReceiptError> {
    if segment.contains('=') {
        return Err(ReceiptError::Format);
    }
    base64url_decode(segment).map_err(|_| ReceiptError::Format)
}

/// Reads the trimmed secret text as a 32-byte seed (see [`ReceiptSigner::from_secret`]):
/// the same seed however it is written (hex with or without `0x`, either case, base64url
/// or standard base64) gives the same bytes.
pub fn parse_seed(text: &str) -> Result<[u8; 32], KeyError> {
    if text.is_empty() {
        return Err(KeyError::Missing);
    }
    if let Some(digits) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return parse_hex(digits);
    }
    let base64_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_' | b'=');
    if !text.bytes().all(base64_char) {
        return Err(KeyError::BadEncoding);
    }
    match text.len() {
        64 => parse_hex(text),
        43 | 44 => parse_base64(text),
        _ => Err(KeyError::BadLength),
    }
}

fn parse_hex(digits: &str) -> Result<[u8; 32], KeyError> {
    if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(KeyError::BadEncoding);
    }
    hex_decode_fixed::<32>(digits).map_err(|err| match err {
        DecodeError::BadChar => KeyError::BadEncoding,
        DecodeError::BadLength | DecodeError::NonCanonical => KeyError::BadLength,
    })
}

fn parse_base64(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = base64url_decode(text).or_else(|_| base64_decode(text)).map_err(|_| KeyError::BadEncoding)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::BadLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{base64_encode, hex_encode_0x};

    fn h<const N: usize>(hex: &str) -> [u8; N] {
        hex_decode_fixed::<N>(hex).unwrap()
    }

    fn hex_vec(hex: &str) -> Vec<u8> {
        hex.as_bytes()
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    const SEED_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const SEED_2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

    /// RFC 8032 §7.1 (TEST 1, TEST 2). TEST 2's signature was checked against two
    /// independent copies of the RFC vectors and against Node/OpenSSL `crypto.sign`.
    /// The third row is the all-zero seed (no RFC vector; values from Node/OpenSSL),
    /// which exercises the key pair `from_seed` builds by hand.
    const VECTORS: [(&str, &str, &str, &str); 3] = [
        (
            SEED_1,
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            SEED_2,
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
            "",
            "8f895b3cafe2c9506039d0e2a66382568004674fe8d237785092e40d6aaf483e4fc60168705f31f101596138ce21aa357c0d32a064f423dc3ee4aa3abf53f803",
        ),
    ];

    #[test]
    fn rfc8032_vectors() {
        for (seed, public, message, signature) in VECTORS {
            let signer = ReceiptSigner::from_seed(h(seed));
            assert_eq!(hex_encode_0x(&signer.public_key()), format!("0x{public}"), "{seed}");
            let message = hex_vec(message);
            let signed = signer.key_pair.sk.sign(&message, None);
            assert_eq!(hex_encode_0x(signed.as_ref()), format!("0x{signature}"), "{seed}");
            PublicKey::new(h(public)).verify(&message, &Signature::new(h(signature))).unwrap();
        }
    }

    fn golden_claims() -> ReceiptClaims {
        ReceiptClaims {
            version: 1,
            network: "eip155:84532".to_owned(),
            resource_url: "https://api.example.com/premium/report?id=7&fmt=json".to_owned(),
            payer: "0x857b06519E91e3A54538791bDbb0E22373e36b66".to_owned(),
            issued_at: 1_750_000_000,
            transaction: format!("0x{}", "ab".repeat(32)),
            amount: "10000".to_owned(),
            asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".to_owned(),
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".to_owned(),
            route: "GET /premium/*".to_owned(),
            jti: "r7QhBjzQ2d2q8h6Zl8Kq1A".to_owned(),
        }
    }

    /// Computed independently with Node's `crypto` (OpenSSL ed25519, `JSON.stringify`
    /// of the claims in field order, `Buffer.toString('base64url')`).
    const GOLDEN_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const GOLDEN_KID: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    const GOLDEN_JWS: &str = concat!(
        "eyJhbGciOiJFZERTQSIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsiLCJ0eXAiOiJ4NDAyLXJlY2VpcHQrandzIn0",
        ".",
        "eyJ2ZXJzaW9uIjoxLCJuZXR3b3JrIjoiZWlwMTU1Ojg0NTMyIiwicmVzb3VyY2VVcmwiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9wcmVtaXVtL3JlcG9ydD9pZD03JmZtdD1qc29uIiwicGF5ZXIiOiIweDg1N2IwNjUxOUU5MWUzQTU0NTM4NzkxYkRiYjBFMjIzNzNlMzZiNjYiLCJpc3N1ZWRBdCI6MTc1MDAwMDAwMCwidHJhbnNhY3Rpb24iOiIweGFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWIiLCJhbW91bnQiOiIxMDAwMCIsImFzc2V0IjoiMHgwMzZDYkQ1Mzg0MmM1NDI2NjM0ZTc5Mjk1NDFlQzIzMThmM2RDRjdlIiwicGF5VG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJyb3V0ZSI6IkdFVCAvcHJlbWl1bS8qIiwianRpIjoicjdRaEJqelEyZDJxOGg2Wmw4S3ExQSJ9",
        ".",
        "qv_NIGDj5P8zgXBCSkkgvX7dAcf8Z9BGcmMazh6X5tDvkb0ovmacieLDrdUgVVNqqgr0CAGuCPYfQrsmk1B7CQ",
    );

    /// Computed independently with Node's `crypto` (SHA-256 of the seed, the domain and the
    /// payment key, the first 16 bytes, base64url).
    #[test]
    fn receipt_ids_are_derived_from_the_key_and_the_payment() {
        let signer = golden_signer();
        assert_eq!(signer.receipt_id(&"ab".repeat(32)), "tL0rjWDUsgQ_EW9BL6retQ");
        assert_eq!(signer.receipt_id("k"), signer.receipt_id("k"), "the same payment, the same id");
        assert_ne!(signer.receipt_id("k"), signer.receipt_id("l"));
        assert_ne!(signer.receipt_id("k"), ReceiptSigner::from_seed(h(SEED_2)).receipt_id("k"), "another key");
    }

    fn golden_signer() -> ReceiptSigner {
        ReceiptSigner::from_seed(h(SEED_1))
    }

    #[test]
    fn golden_receipt_matches_independent_implementation() {
        let signer = golden_signer();
        assert_eq!(signer.kid(), GOLDEN_KID);
        assert_eq!(base64url_encode(&signer.public_key()), GOLDEN_X);
        assert_eq!(signer.sign(&golden_claims()), GOLDEN_JWS);
        assert_eq!(verify(GOLDEN_JWS, &signer.public_key(), GOLDEN_KID), Ok(golden_claims()));
    }

    #[test]
    fn header_and_payload_are_exactly_as_specified() {
        let jws = golden_signer().sign(&golden_claims());
        let parts: Vec<&str> = jws.split('.').collect();
        let header = String::from_utf8(base64url_decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, format!(r#"{{"alg":"EdDSA","kid":"{GOLDEN_KID}","typ":"x402-receipt+jws"}}"#));
        let payload = String::from_utf8(base64url_decode(parts[1]).unwrap()).unwrap();
        let keys: Vec<usize> = [
            "\"version\":1,",
            "\"network\":",
            "\"resourceUrl\":",
            "\"payer\":",
            "\"issuedAt\":1750000000,",
            "\"transaction\":",
            "\"amount\":\"10000\"",
            "\"asset\":",
            "\"payTo\":",
            "\"route\":\"GET /premium/*\"",
        ]
        .iter()
        .map(|key| payload.find(key).unwrap_or_else(|| panic!("{key} missing in {payload}")))
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "field order: {payload}");
    }

    #[test]
    fn round_trip_with_second_key() {
        let signer = ReceiptSigner::from_seed(h(SEED_2));
        let mut claims = golden_claims();
        claims.route = "POST /api/\"quoted\"\\ü\n".to_owned();
        let jws = signer.sign(&claims);
        assert_eq!(verify(&jws, &signer.public_key(), signer.kid()), Ok(claims));
        assert_ne!(signer.kid(), GOLDEN_KID);
    }

    /// Re-signs arbitrary header and payload bytes with the golden key, to reach the
    /// checks that sit behind a valid signature.
    fn forge(header: &str, payload: &str) -> String {
        let signer = golden_signer();
        let input = format!("{}.{}", base64url_encode(header.as_bytes()), base64url_encode(payload.as_bytes()));
        let signature = signer.key_pair.sk.sign(input.as_bytes(), None);
        format!("{input}.{}", base64url_encode(signature.as_ref()))
    }

    fn replace_char(segment: &str, at: usize) -> String {
        let mut bytes = segment.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn tampered_receipts_fail() {
        let signer = golden_signer();
        let pk = signer.public_key();
        let other = ReceiptSigner::from_seed(h(SEED_2));
        let parts: Vec<&str> = GOLDEN_JWS.split('.').collect();
        let (head, body, sig) = (parts[0], parts[1], parts[2]);
        let good_header = format!(r#"{{"alg":"EdDSA","kid":"{GOLDEN_KID}","typ":"{TYP}"}}"#);
        let good_payload = String::from_utf8(base64url_decode(body).unwrap()).unwrap();
        let b64 = |text: &str| base64url_encode(text.as_bytes());
        let none_header = b64(&good_header.replace("EdDSA", "none"));
        // Header edits that keep it acceptable, so only the signature can catch them.
        let spaced_header = b64(&good_header.replacen(',', ", ", 1));
        let other_kid_header = b64(&good_header.replace(GOLDEN_KID, other.kid()));
        let std_sig = base64_encode(&base64url_decode(sig).unwrap());
        let with_payload = |from: &str, to: &str| forge(&good_header, &good_payload.replace(from, to));
        let with_header = |header: &str| forge(header, &good_payload);

        // Checked against the golden public key and kid.
        let cases: Vec<(&str, String, ReceiptError)> = vec![
            ("payload char", format!("{head}.{}.{sig}", replace_char(body, 10)), ReceiptError::BadSignature),
            ("signature char", format!("{head}.{body}.{}", replace_char(sig, 5)), ReceiptError::BadSignature),
            ("header space", format!("{spaced_header}.{body}.{sig}"), ReceiptError::BadSignature),
            ("empty signature", format!("{head}.{body}."), ReceiptError::BadSignature),
            ("short signature", format!("{head}.{body}.{}", &sig[..84]), ReceiptError::BadSignature),
            ("alg none", format!("{none_header}.{body}.{sig}"), ReceiptError::Header),
            ("alg none, no signature", format!("{none_header}.{body}."), ReceiptError::Header),
            ("other key's receipt", other.sign(&golden_claims()), ReceiptError::UnknownKey),
            ("two segments", format!("{head}.{body}"), ReceiptError::Format),
            ("four segments", format!("{GOLDEN_JWS}.{sig}"), ReceiptError::Format),
            ("one segment", head.to_owned(), ReceiptError::Format),
            ("empty", String::new(), ReceiptError::Format),
            ("plus in payload", format!("{head}.+{}.{sig}", &body[1..]), ReceiptError::Format),
            ("slash in signature", format!("{head}.{body}.{}/", &sig[..85]), ReceiptError::Format),
            ("space before header", format!(" {GOLDEN_JWS}"), ReceiptError::Format),
            ("padded signature", format!("{GOLDEN_JWS}=="), ReceiptError::Format),
            ("standard base64 signature", format!("{head}.{body}.{std_sig}"), ReceiptError::Format),
            ("header not json", with_header("not json"), ReceiptError::Header),
            ("header not object", with_header("[1]"), ReceiptError::Header),
            ("alg missing", with_header(&format!(r#"{{"kid":"{GOLDEN_KID}"}}"#)), ReceiptError::Header),
            ("alg HS256", with_header(&good_header.replace("EdDSA", "HS256")), ReceiptError::Header),
            ("alg lower case", with_header(&good_header.replace("EdDSA", "eddsa")), ReceiptError::Header),
            ("typ JWT", with_header(&good_header.replace(TYP, "JWT")), ReceiptError::Header),
            ("crit", with_header(&good_header.replace("}", r#","crit":["b64"]}"#)), ReceiptError::Header),
            ("kid missing", with_header(r#"{"alg":"EdDSA"}"#), ReceiptError::UnknownKey),
            ("kid case", with_header(&good_header.replace("kPrK", "kprK")), ReceiptError::UnknownKey),
            ("payload not json", forge(&good_header, "nope"), ReceiptError::Payload),
            ("payload extra field", with_payload("{", r#"{"x":1,"#), ReceiptError::Payload),
            ("payload missing field", with_payload(r#","route":"GET /premium/*""#, ""), ReceiptError::Payload),
            ("payload version 2", with_payload(r#""version":1"#, r#""version":2"#), ReceiptError::Payload),
            ("payload amount number", with_payload(r#""10000""#, "10000"), ReceiptError::Payload),
        ];
        for (name, jws, want) in cases {
            assert_eq!(verify(&jws, &pk, GOLDEN_KID), Err(want), "{name}: {jws}");
        }

        // The untouched receipt, checked against the wrong key material.
        let keys: [(&str, [u8; 32], &str, ReceiptError); 3] = [
            ("wrong kid", pk, other.kid(), ReceiptError::UnknownKey),
            ("wrong public key", other.public_key(), GOLDEN_KID, ReceiptError::BadSignature),
            ("other key entirely", other.public_key(), other.kid(), ReceiptError::UnknownKey),
        ];
        for (name, key, kid, want) in keys {
            assert_eq!(verify(GOLDEN_JWS, &key, kid), Err(want), "{name}");
        }
        let swapped = format!("{other_kid_header}.{body}.{sig}");
        assert_eq!(verify(&swapped, &other.public_key(), other.kid()), Err(ReceiptError::BadSignature));

        // The helpers themselves produce receipts that verify, so every row above fails for
        // the reason it names and not because the helper is broken.
        assert_eq!(verify(&with_header(&good_header), &pk, GOLDEN_KID), Ok(golden_claims()));
        assert_eq!(verify(&with_payload("", ""), &pk, GOLDEN_KID), Ok(golden_claims()));
    }

    #[test]
    fn from_secret_accepts_hex_and_base64() {
        let seed: [u8; 32] = h(SEED_1);
        let accepted = [
            SEED_1.to_owned(),
            format!("0x{SEED_1}"),
            format!("0X{SEED_1}"),
            SEED_1.to_uppercase(),
            format!("0x{}", SEED_1.to_uppercase()),
            format!("  \n{SEED_1}\t\r\n"),
            base64url_encode(&seed),
            format!("{}=", base64url_encode(&seed)),
            base64_encode(&seed),
            base64_encode(&seed).trim_end_matches('=').to_owned(),
            format!(" {} \n", base64_encode(&seed)),
        ];
        // The seed's base64 forms must use both alphabets' distinct symbols for the rows
        // above to test both decoders.
        assert!(base64url_encode(&seed).contains(['-', '_']) && base64_encode(&seed).contains(['+', '/']));
        for text in accepted {
            let signer = ReceiptSigner::from_secret(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(signer.kid(), GOLDEN_KID, "{text:?}");
        }
    }

    #[test]
    fn from_secret_refuses_bad_keys_without_leaking_them() {
        let seed: [u8; 32] = h(SEED_1);
        let url = base64url_encode(&seed);
        let std = base64_encode(&seed);
        let rejected = [
            ("", KeyError::Missing),
            ("  \n\t ", KeyError::Missing),
            (&"0".repeat(64), KeyError::Missing),
            (&format!("0x{}", "0".repeat(64)), KeyError::Missing),
            (&"A".repeat(43), KeyError::Missing),
            (&SEED_1[..62], KeyError::BadLength),
            (&format!("{SEED_1}00"), KeyError::BadLength),
            (&format!("0x{}", &SEED_1[..62]), KeyError::BadLength),
            (&format!("0x{SEED_1}0"), KeyError::BadLength),
            (&url[..42], KeyError::BadLength),
            (&format!("{url}AA"), KeyError::BadLength),
            (&format!("{}AAAA", &url[..40]), KeyError::BadLength),
            ("0x", KeyError::BadLength),
            (&format!("{}g", &SEED_1[..63]), KeyError::BadEncoding),
            (&format!("0x{}z", &SEED_1[..63]), KeyError::BadEncoding),
            (&format!("0x{}", &url[..42]), KeyError::BadEncoding),
            (&format!("{} {}", &SEED_1[..32], &SEED_1[33..]), KeyError::BadEncoding),
            (&format!("{}!", &url[..42]), KeyError::BadEncoding),
            (&format!("{}=", &url[..42]), KeyError::BadEncoding),
            (&format!("={}", &url[..42]), KeyError::BadEncoding),
            // Both alphabets at once ('+' and '_'): neither decoder accepts it.
            (&format!("+{}", &url[1..]), KeyError::BadEncoding),
            (&format!("{}-", &std[..43]), KeyError::BadEncoding),
            ("\"secret\"", KeyError::BadEncoding),
            ("ключ", KeyError::BadEncoding),
        ];
        for (text, want) in rejected {
            let err = ReceiptSigner::from_secret(text).map(|s| s.kid().to_owned());
            assert_eq!(err, Err(want.clone()), "{text:?}");
            let shown = want.to_string();
            let trimmed = text.trim();
            if trimmed.len() >= 8 {
                for window in trimmed.as_bytes().windows(8) {
                    let window = String::from_utf8_lossy(window);
                    assert!(!shown.contains(&*window), "{shown:?} leaks {window:?}");
                }
            }
            assert!(!shown.is_empty());
        }
    }

    #[test]
    fn debug_shows_kid_not_seed() {
        let signer = golden_signer();
        let want = format!(r#"ReceiptSigner {{ kid: "{GOLDEN_KID}", .. }}"#);
        assert_eq!(format!("{signer:?}"), want);
        let pretty = format!("{signer:#?}");
        let seed: [u8; 32] = h(SEED_1);
        for needle in [&SEED_1[..8], &base64url_encode(&seed)[..8], "157,", "0x9d"] {
            assert!(!pretty.contains(needle), "{pretty} leaks {needle}");
        }
    }

    #[test]
    fn jwks_publishes_the_public_key() {
        for seed in [SEED_1, SEED_2] {
            let signer = ReceiptSigner::from_seed(h(seed));
            let jwks: Value = serde_json::from_str(&signer.jwks_json()).unwrap();
            let keys = jwks["keys"].as_array().unwrap();
            assert_eq!(keys.len(), 1);
            let key = keys[0].as_object().unwrap();
            assert_eq!(key.len(), 6, "{key:?}");
            for (field, want) in
                [("kty", "OKP"), ("crv", "Ed25519"), ("kid", signer.kid()), ("alg", "EdDSA"), ("use", "sig")]
            {
                assert_eq!(key[field], want, "{field}");
            }
            let x = base64url_decode(key["x"].as_str().unwrap()).unwrap();
            assert_eq!(x, signer.public_key());
        }
        assert!(golden_signer().jwks_json().contains(GOLDEN_X));
    }

    #[test]
    fn extension_wraps_the_jws() {
        let ext = receipt_extension(GOLDEN_JWS);
        let want: Value =
            serde_json::from_str(&format!(r#"{{"info":{{"receipt":{{"format":"jws","signature":"{GOLDEN_JWS}"}}}}}}"#))
                .unwrap();
        assert_eq!(ext, want);
        assert_eq!(ext["info"]["receipt"]["signature"], GOLDEN_JWS);
    }

    #[test]
    fn claims_json_is_strict() {
        for (json, ok) in [
            (serde_json::to_string(&golden_claims()).unwrap(), true),
            (r#"{"version":1}"#.to_owned(), false),
            (serde_json::to_string(&golden_claims()).unwrap().replace("\"payTo\"", "\"pay_to\""), false),
        ] {
            assert_eq!(serde_json::from_str::<ReceiptClaims>(&json).is_ok(), ok, "{json}");
        }
    }
}
