//! Per-payer policy (`[vars.POLICY]`, and a route's own `policy` over it), judged on the
//! payer recovered from the authorization (never a claimed field), before any claim or
//! facilitator call: a refused payer is charged nothing.
//!
//! This build enforces `blockedPayers` and `allowedPayers` (403 `payer_blocked`, a
//! `rejected` ledger event). `payerDailyCap`, `payerRate` and `maxPayersPerMinute` need
//! counters kept by the arbiter; until they are enforced, a configuration that sets them is
//! refused, so that no operator believes a cap protects them when it does not.

use crate::address::EvmAddress;
use crate::error::ConfigError;
use crate::json::{JsonError, Reader};

/// The keys of a policy table.
const KEYS: [&str; 5] = ["payerDailyCap", "payerRate", "maxPayersPerMinute", "blockedPayers", "allowedPayers"];

/// The keys this build cannot enforce yet.
const NOT_YET: [&str; 3] = ["payerDailyCap", "payerRate", "maxPayersPerMinute"];

/// A policy table as written: the keys present, each with its JSON value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPolicy(Vec<(String, String)>);

impl RawPolicy {
    /// Reads a policy table (a JSON object of [`KEYS`]); an unknown or repeated key is an
    /// error naming it.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        let read = crate::json::whole(json, |r: &mut Reader<'_>| {
            r.object(|r, key| {
                if !KEYS.contains(&key) {
                    return Err(r.error(
                        "a policy key (payerDailyCap, payerRate, maxPayersPerMinute, blockedPayers, allowedPayers)",
                    ));
                }
                keys.push((key.to_string(), r.raw()?.to_string()));
                Ok(())
            })
        });
        read.map_err(|e: JsonError| e.to_string())?;
        Ok(Self(keys))
    }
}

/// Who may pay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Refused outright.
    pub blocked: Vec<EvmAddress>,
    /// When not empty, only these may pay.
    pub allowed: Vec<EvmAddress>,
}

/// Why a payer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// Blocked, or not on a non-empty allow list (403 `payer_blocked`).
    Blocked,
}

impl Policy {
    /// This policy with `raw`'s keys over it (a route's own over the global one); `field`
    /// names the table in errors.
    pub fn with(&self, raw: &RawPolicy, field: &str) -> Result<Policy, ConfigError> {
        let mut p = self.clone();
        for (key, json) in &raw.0 {
            let at = format!("{field}.{key}");
            if NOT_YET.contains(&key.as_str()) {
                return Err(ConfigError::new(
                    at,
                    "is not enforced by this build yet: remove it (a cap that does not hold would mislead)",
                ));
            }
            let list = addresses(json).map_err(|why| ConfigError::new(&at, why))?;
            match key.as_str() {
                "blockedPayers" => p.blocked = list,
                _ => p.allowed = list,
            }
        }
        Ok(p)
    }

    /// Whether `payer` (the recovered signer) may pay. Addresses compare as bytes: any
    /// letter case of an address is the same address.
    pub fn admits(&self, payer: &EvmAddress) -> Result<(), PolicyRefusal> {
        let blocked = self.blocked.contains(payer);
        let not_allowed = !self.allowed.is_empty() && !self.allowed.contains(payer);
        if blocked || not_allowed {
            Err(PolicyRefusal::Blocked)
        } else {
            Ok(())
        }
    }
}

/// A JSON list of addresses, any letter case (a mixed-case one must be a right EIP-55
/// checksum).
fn addresses(json: &str) -> Result<Vec<EvmAddress>, String> {
    let mut out = Vec::new();
    let mut bad = None;
    crate::json::whole(json, |r| {
        r.array(|r| {
            let text = r.string()?;
            match EvmAddress::parse(text.trim()) {
                Ok(a) => out.push(a),
                Err(e) => bad = Some(format!("{text:?} is not an address: {e}")),
            }
            Ok(())
        })
    })
    .map_err(|e| format!("expected a list of addresses ({e})"))?;
    match bad {
        Some(why) => Err(why),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Payer, Rng};

    fn raw(json: &str) -> RawPolicy {
        RawPolicy::from_json(json).unwrap()
    }

    #[test]
    fn blocked_and_allowed_payers_any_letter_case() {
        let (a, b, c) = (Payer::new(1).address, Payer::new(2).address, Payer::new(3).address);
        let lower = |x: &EvmAddress| x.checksummed().to_ascii_lowercase();
        let global =
            Policy::default().with(&raw(&format!(r#"{{"blockedPayers":["{}"]}}"#, lower(&a))), "POLICY").unwrap();
        assert_eq!(global.admits(&a), Err(PolicyRefusal::Blocked));
        assert_eq!(global.admits(&b), Ok(()));
        // A route's own allow list over the global block list.
        let route = global.with(&raw(&format!(r#"{{"allowedPayers":["{}"]}}"#, b.checksummed())), "r").unwrap();
        assert_eq!(route.admits(&a), Err(PolicyRefusal::Blocked), "still blocked");
        assert_eq!(route.admits(&b), Ok(()));
        assert_eq!(route.admits(&c), Err(PolicyRefusal::Blocked), "not on the allow list");
        // An empty list lifts the global one for a route.
        let open = global.with(&raw(r#"{"blockedPayers":[]}"#), "r").unwrap();
        assert_eq!(open.admits(&a), Ok(()));
    }

    #[test]
    fn bad_policies_name_their_field() {
        let p = Policy::default();
        for (json, field) in [
            (r#"{"blockedPayers":["0x123"]}"#, "POLICY.blockedPayers"),
            (r#"{"allowedPayers":"0x857b06519E91e3A54538791bDbb0E22373e36b66"}"#, "POLICY.allowedPayers"),
            (r#"{"blockedPayers":["0x857B06519E91e3A54538791bDbb0E22373e36b66"]}"#, "POLICY.blockedPayers"),
            (r#"{"payerDailyCap":"$5"}"#, "POLICY.payerDailyCap"),
            (r#"{"payerRate":"60/minute"}"#, "POLICY.payerRate"),
            (r#"{"maxPayersPerMinute":0}"#, "POLICY.maxPayersPerMinute"),
        ] {
            assert_eq!(p.with(&raw(json), "POLICY").unwrap_err().field, field, "{json}");
        }
        assert!(RawPolicy::from_json(r#"{"payerCap":"$5"}"#).is_err(), "an unknown key");
        assert!(RawPolicy::from_json(r#"{"blockedPayers":[],"blockedPayers":[]}"#).is_err(), "a repeated key");
        assert!(RawPolicy::from_json("[]").is_err());
    }

    /// Generated address lists in every letter case: the same payers are blocked.
    #[test]
    fn generated_lists_block_exactly_their_payers() {
        let mut rng = Rng(0xB10C);
        let payers: Vec<EvmAddress> = (1..=6).map(|n| Payer::new(n).address).collect();
        for _ in 0..300 {
            let listed: Vec<&EvmAddress> = payers.iter().filter(|_| rng.below(2) == 1).collect();
            let texts: Vec<String> = listed
                .iter()
                .map(|a| match rng.below(3) {
                    0 => a.checksummed(),
                    1 => a.checksummed().to_ascii_lowercase(),
                    _ => format!("0x{}", a.checksummed()[2..].to_ascii_uppercase()),
                })
                .collect();
            let json = format!(r#"{{"blockedPayers":{}}}"#, serde_json::to_string(&texts).unwrap());
            let p = Policy::default().with(&raw(&json), "POLICY").unwrap();
            for a in &payers {
                assert_eq!(p.admits(a).is_err(), listed.contains(&a), "{json}");
            }
        }
    }
}
