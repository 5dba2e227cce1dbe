//! Hash primitives shared by the EVM code (keccak-256) and the receipt key id (SHA-256).

use sha2::Digest;
use tiny_keccak::{Hasher, Keccak};

/// keccak-256 (the Ethereum hash, not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    hasher.update(data);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// The shard (0..shards) a text belongs to: the first four bytes of its SHA-256.
pub fn shard_of(text: &str, shards: u32) -> u32 {
    let digest = sha256(text.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hex_encode_0x;

    #[test]
    fn known_digests() {
        assert_eq!(
            hex_encode_0x(&keccak256(b"")),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex_encode_0x(&sha256(b"abc")),
            "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
