//! Identities of a payment: the idempotency key derived from the signed authorization,
//! the fingerprint of the exact signed payload, and the client's optional
//! `payment-identifier` id.

use std::fmt;

use crate::codec::hex_encode_0x;
use crate::crypto::sha256;
use crate::payment::Payment;
use crate::requirements::PaymentOption;

/// The idempotency key of a payment: SHA-256 over scheme, network, asset, payer, payTo,
/// amount and the EIP-3009 nonce. One authorization, one key, whatever the header's
/// JSON looks like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentKey(pub String);

impl PaymentKey {
    /// Derives the key of `payment` made for `option`.
    pub fn derive(payment: &Payment, option: &PaymentOption) -> Self {
        let auth = &payment.evm.authorization;
        let mut data = Vec::with_capacity(160);
        data.extend_from_slice(b"x402-edge/payment-key/v1\0exact\0");
        data.extend_from_slice(&option.network.chain_id.to_be_bytes());
        data.extend_from_slice(&option.asset.0);
        data.extend_from_slice(&auth.from.0);
        data.extend_from_slice(&auth.to.0);
        data.extend_from_slice(&auth.value.0.to_be_bytes());
        data.extend_from_slice(&auth.nonce.0);
        Self(hex_encode_0x(&sha256(&data))[2..].to_string())
    }

    /// The arbiter shard (0..shards) this key belongs to.
    pub fn shard(&self, shards: u32) -> u32 {
        crate::crypto::shard_of(&self.0, shards)
    }
}

impl fmt::Display for PaymentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fingerprint of the signed payload: the key (which covers every other signed
/// field), the validity window and the signature bytes. Two payloads that differ in any
/// signed field or in the signature are not "the same payment", so a stored answer is
/// given only to the exact payload that earned it.
pub fn fingerprint(key: &PaymentKey, payment: &Payment) -> String {
    let auth = &payment.evm.authorization;
    let mut data = key.0.as_bytes().to_vec();
    data.extend_from_slice(&auth.valid_after.to_be_bytes());
    data.extend_from_slice(&auth.valid_before.to_be_bytes());
    data.extend_from_slice(&payment.evm.signature.0);
    hex_encode_0x(&sha256(&data))[2..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::tests::spec_option;
    use crate::payment::{decode, PaymentHeader};
    use crate::x402::tests::SPEC_PAYMENT_SIGNATURE;

    #[test]
    fn key_depends_on_every_signed_field_and_not_on_json_shape() {
        let p = decode(PaymentHeader::V2(SPEC_PAYMENT_SIGNATURE)).unwrap();
        let option = spec_option();
        let k = PaymentKey::derive(&p, &option);
        assert_eq!(k.0.len(), 64);
        let mut other_nonce = p.clone();
        other_nonce.evm.authorization.nonce.0[0] ^= 1;
        let mut other_value = p.clone();
        other_value.evm.authorization.value.0 += 1;
        let mut other_from = p.clone();
        other_from.evm.authorization.from.0[19] ^= 1;
        let mut other_to = p.clone();
        other_to.evm.authorization.to.0[0] ^= 1;
        for (name, q) in [("nonce", other_nonce), ("value", other_value), ("from", other_from), ("to", other_to)] {
            assert_ne!(PaymentKey::derive(&q, &option), k, "{name}");
        }
        let mut other_asset = option.clone();
        other_asset.asset.0[0] ^= 1;
        assert_ne!(PaymentKey::derive(&p, &other_asset), k);
        // The v1 form of the same authorization has the same key.
        let json: serde_json::Value =
            serde_json::from_slice(&crate::codec::base64_decode(SPEC_PAYMENT_SIGNATURE).unwrap()).unwrap();
        let v1 =
            serde_json::json!({"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":json["payload"]});
        let v1 = decode(PaymentHeader::V1(&crate::codec::base64_encode(v1.to_string().as_bytes()))).unwrap();
        assert_eq!(PaymentKey::derive(&v1, &option), k);
        // A different signature, or another window, is a different fingerprint under the
        // same key: every signed field is covered by the key or the fingerprint.
        let mut resigned = p.clone();
        resigned.evm.signature.0[5] ^= 1;
        let mut later = p.clone();
        later.evm.authorization.valid_before += 1;
        let mut earlier = p.clone();
        earlier.evm.authorization.valid_after -= 1;
        for (name, q) in [("signature", &resigned), ("validBefore", &later), ("validAfter", &earlier)] {
            assert_eq!(PaymentKey::derive(q, &option), k, "{name}");
            assert_ne!(fingerprint(&k, q), fingerprint(&k, &p), "{name}");
        }
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        let id = crate::payment::PaymentId::parse("pay_7d5d747be160e280504c099d984bcfe0").unwrap();
        assert_eq!(id.shard(16), id.shard(16));
        assert!(id.shard(16) < 16);
        assert_eq!(id.shard(1), 0);
        assert_eq!(id.shard(0), 0);
    }
}
