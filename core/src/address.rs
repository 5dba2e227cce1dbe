//! EVM addresses: 20 bytes, parsed from `0x` hex. An all-lower or all-upper address is
//! accepted as is; a mixed-case one must carry a correct EIP-55 checksum (a typo in a
//! `payTo` would otherwise send money nowhere). Shown with the EIP-55 checksum.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::hex_decode_fixed;
use crate::crypto::keccak256;

/// A 20-byte EVM account or contract address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvmAddress(pub [u8; 20]);

/// Why a string is not an EVM address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Not `0x` followed by 40 hex digits.
    NotHex,
    /// Mixed case whose EIP-55 checksum is wrong.
    BadChecksum,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotHex => "expected 0x followed by 40 hex digits",
            Self::BadChecksum => "mixed-case address with a wrong EIP-55 checksum",
        })
    }
}

impl EvmAddress {
    /// Parses `0x` + 40 hex digits, checking EIP-55 when the case is mixed.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let digits = text.strip_prefix("0x").ok_or(AddressError::NotHex)?;
        // The decoder takes the text with its one prefix (it strips one itself): given the
        // digits, it would read `0x0x…` as an address too.
        let bytes = hex_decode_fixed::<20>(text).map_err(|_| AddressError::NotHex)?;
        let address = Self(bytes);
        let has_lower = digits.bytes().any(|c| c.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper && address.checksummed()[2..] != *digits {
            return Err(AddressError::BadChecksum);
        }
        Ok(address)
    }

    /// The EIP-55 mixed-case form.
    pub fn checksummed(&self) -> String {
        let lower = crate::codec::hex_encode_0x(&self.0);
        let hash = keccak256(&lower.as_bytes()[2..]);
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower[2..].chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 15;
            out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
        }
        out
    }

    /// The address left-padded to a 32-byte ABI word.
    pub fn abi_word(&self) -> [u8; 32] {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(&self.0);
        word
    }
}

impl fmt::Display for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.checksummed())
    }
}

impl fmt::Debug for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.checksummed())
    }
}

impl Serialize for EvmAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.checksummed())
    }
}

impl<'de> Deserialize<'de> for EvmAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_examples() {
        // The EIP-55 specification's own examples.
        for good in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a = EvmAddress::parse(good).unwrap();
            assert_eq!(a.checksummed(), good);
            assert_eq!(EvmAddress::parse(&good.to_lowercase()).unwrap(), a);
        }
    }

    #[test]
    fn bad_addresses() {
        for (input, want) in [
            ("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressError::NotHex),
            ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", AddressError::NotHex),
            ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", AddressError::NotHex),
            ("0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressError::NotHex),
            ("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressError::BadChecksum),
            // A second prefix, as a lenient reader strips it (found by a generated admin path).
            ("0x0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", AddressError::NotHex),
            ("0x0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", AddressError::NotHex),
            ("0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", AddressError::NotHex),
        ] {
            assert_eq!(EvmAddress::parse(input), Err(want), "{input}");
        }
    }

    /// Generated texts: an address parses only from `0x` and exactly 40 hex digits.
    #[test]
    fn generated_texts_parse_only_as_0x_and_40_digits() {
        let mut rng = crate::testkit::Rng(0xADD7);
        let pieces = ["0x", "0X", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "5a", "ae", "x", " ", "+", "00"];
        for _ in 0..20_000 {
            let text: String = (0..1 + rng.below(4)).map(|_| rng.pick(&pieces)).collect();
            if EvmAddress::parse(&text).is_ok() {
                let digits = text.strip_prefix("0x").unwrap_or_default();
                assert!(digits.len() == 40 && digits.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
            }
        }
    }
}
