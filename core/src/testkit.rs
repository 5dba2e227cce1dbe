//! Test-only helpers: payers with real secp256k1 keys that sign EIP-3009 authorizations
//! over an option's EIP-712 domain, so the flow's local signature check sees genuine
//! payments, and the small deterministic generator every generated-input test draws from
//! (failures reproduce).

use k256::ecdsa::SigningKey;
use serde_json::{json, Value};

use crate::address::EvmAddress;
use crate::codec::{base64_encode, hex_encode_0x};
use crate::crypto::keccak256;
use crate::eip712::transfer_with_authorization_digest;
use crate::requirements::PaymentOption;
use crate::x402::{Authorization, Bytes32};

/// The bindings of a paper-mode paywall in front of a loopback origin, without routes: the
/// base that configuration tests add their tables to.
pub(crate) fn base_vars() -> Value {
    json!({
        "PAY_TO": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "NETWORK": "eip155:84532",
        "ASSET": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "ASSET_NAME": "USDC", "ASSET_VERSION": "2", "ASSET_DECIMALS": "6",
        "FACILITATOR_URL": "paper",
        "ORIGIN_URL": "http://127.0.0.1:8788",
    })
}

/// A xorshift generator: deterministic, so a failing generated input reproduces.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A payer with a private key.
pub(crate) struct Payer {
    key: SigningKey,
    /// Its address.
    pub(crate) address: EvmAddress,
}

impl Payer {
    /// The payer whose private key is 31 zero bytes and then `n` (n > 0).
    pub(crate) fn new(n: u8) -> Self {
        let mut secret = [0u8; 32];
        secret[31] = n.max(1);
        let key = SigningKey::from_bytes(&secret.into()).expect("a valid test key");
        let point = key.verifying_key().to_encoded_point(false);
        let hash = keccak256(&point.as_bytes()[1..]);
        let mut address = [0u8; 20];
        address.copy_from_slice(&hash[12..]);
        Self { key, address: EvmAddress(address) }
    }

    /// An authorization from this payer paying `option` exactly, with `nonce_byte` filling
    /// the nonce.
    pub(crate) fn authorization(&self, option: &PaymentOption, valid: (u64, u64), nonce_byte: u8) -> Authorization {
        Authorization {
            from: self.address,
            to: option.pay_to,
            value: option.amount,
            valid_after: valid.0,
            valid_before: valid.1,
            nonce: Bytes32([nonce_byte; 32]),
        }
    }

    /// The 65-byte `personal_sign` (EIP-191) signature of `message`.
    pub(crate) fn personal_sign(&self, message: &str) -> [u8; 65] {
        let digest = crate::payer::personal_digest(message);
        let (signature, recovery) = self.key.sign_prehash_recoverable(&digest).expect("signing works");
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        out
    }

    /// The 65-byte `r ‖ s ‖ v` signature (v = 27 or 28, low s) of `auth` for `option`.
    pub(crate) fn sign(&self, option: &PaymentOption, auth: &Authorization) -> [u8; 65] {
        let digest = transfer_with_authorization_digest(option, auth);
        let (signature, recovery) = self.key.sign_prehash_recoverable(&digest).expect("signing works");
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        out
    }
}

/// The v2 `PaymentPayload` JSON of `auth` with `signature`, accepting `option`.
pub(crate) fn v2_json(option: &PaymentOption, auth: &Authorization, signature: &[u8]) -> Value {
    json!({
        "x402Version": 2,
        "resource": {"url": "https://api.example.com/premium-data"},
        "accepted": {
            "scheme": "exact", "network": option.network.caip2(), "amount": option.amount.to_string(),
            "asset": option.asset.checksummed(), "payTo": option.pay_to.checksummed(), "maxTimeoutSeconds": 60,
            "extra": {"name": option.asset_name, "version": option.asset_version}
        },
        "payload": {
            "signature": hex_encode_0x(signature),
            "authorization": {
                "from": auth.from.checksummed(), "to": auth.to.checksummed(), "value": auth.value.to_string(),
                "validAfter": auth.valid_after.to_string(), "validBefore": auth.valid_before.to_string(),
                "nonce": auth.nonce_hex()
            }
        }
    })
}

/// Base64 of a payload JSON: a header value.
pub(crate) fn header(json: &Value) -> String {
    base64_encode(json.to_string().as_bytes())
}
