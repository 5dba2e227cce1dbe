//! Networks: x402 v2 names EVM chains in CAIP-2 form (`eip155:84532`); x402 v1 used
//! names such as `base-sepolia`. A [`Network`] is an EVM chain id; it renders both ways.

use std::fmt;

use serde::{Serialize, Serializer};

/// An EVM chain, identified by its chain id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    /// EIP-155 chain id.
    pub chain_id: u64,
}

/// The v1 network names the official x402 packages know, with their chain ids.
const V1_NAMES: &[(&str, u64)] = &[
    ("ethereum", 1),
    ("sepolia", 11_155_111),
    ("abstract", 2741),
    ("abstract-testnet", 11_124),
    ("base-sepolia", 84_532),
    ("base", 8453),
    ("avalanche-fuji", 43_113),
    ("avalanche", 43_114),
    ("iotex", 4689),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("polygon", 137),
    ("polygon-amoy", 80_002),
    ("peaq", 3338),
    ("story", 1514),
    ("educhain", 41_923),
    ("skale-base-sepolia", 324_705_682),
    ("megaeth", 4326),
    ("monad", 143),
    ("stable", 988),
    ("stable-testnet", 2201),
];

/// Why a network name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkError;

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a CAIP-2 EVM network such as \"eip155:84532\"")
    }
}

impl Network {
    /// Parses CAIP-2 `eip155:<chain id>` (decimal, no leading zeros, non-zero).
    pub fn parse_caip2(text: &str) -> Result<Self, NetworkError> {
        let id = text.strip_prefix("eip155:").ok_or(NetworkError)?;
        if id.is_empty() || id.starts_with('0') || !id.bytes().all(|c| c.is_ascii_digit()) {
            return Err(NetworkError);
        }
        id.parse().map(|chain_id| Network { chain_id }).map_err(|_| NetworkError)
    }

    /// Parses a v1 network name (`base-sepolia`).
    pub fn parse_v1(text: &str) -> Result<Self, NetworkError> {
        V1_NAMES.iter().find(|(name, _)| *name == text).map(|&(_, chain_id)| Network { chain_id }).ok_or(NetworkError)
    }

    /// The CAIP-2 form.
    pub fn caip2(&self) -> String {
        format!("eip155:{}", self.chain_id)
    }

    /// The v1 name, where one exists.
    pub fn v1_name(&self) -> Option<&'static str> {
        V1_NAMES.iter().find(|&&(_, id)| id == self.chain_id).map(|&(name, _)| name)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "eip155:{}", self.chain_id)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caip2_parsing() {
        for (input, want) in [
            ("eip155:84532", Ok(84_532)),
            ("eip155:1", Ok(1)),
            ("eip155:", Err(NetworkError)),
            ("eip155:0", Err(NetworkError)),
            ("eip155:084532", Err(NetworkError)),
            ("eip155:-1", Err(NetworkError)),
            ("eip155:99999999999999999999999", Err(NetworkError)),
            ("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", Err(NetworkError)),
            ("base-sepolia", Err(NetworkError)),
        ] {
            assert_eq!(Network::parse_caip2(input).map(|n| n.chain_id), want, "{input}");
        }
    }

    #[test]
    fn v1_names_map_both_ways() {
        let n = Network::parse_v1("base-sepolia").unwrap();
        assert_eq!(n.caip2(), "eip155:84532");
        assert_eq!(n.v1_name(), Some("base-sepolia"));
        assert_eq!(Network { chain_id: 31_337 }.v1_name(), None);
        assert_eq!(Network::parse_v1("eip155:84532"), Err(NetworkError));
    }
}
