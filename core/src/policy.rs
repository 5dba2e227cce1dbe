//! Per-payer policy (`[vars.POLICY]`, and a route's own `policy` over it), judged on the
//! payer recovered from the authorization (never a claimed field), before any facilitator
//! call: a refused payer is charged nothing.
//!
//! - `blockedPayers` / `allowedPayers`: judged by the Worker from the configuration (403
//!   `payer_blocked`); the operator's run-time blocks are kept by the arbiter (see
//!   `once::tally`).
//! - `payerDailyCap` and `payerRate`: counted by the arbiter shard of the payer, in the
//!   same atomic step as the claim (see `once::tally`). Each has a *scope*: the global
//!   one, or a route's own when the route sets the key; a route with its own key has its
//!   own counter, kept apart from the global one.
//! - `maxPayersPerMinute`: distinct payers a minute, counted by one object for all
//!   shards (per scope likewise); `0` is unlimited.
//!
//! Caps are in the default asset's units (`ASSET_DECIMALS`): `"$5"` or atomic units. A
//! payment in an asset with other decimals counts at the same face value (rounded up).

pub mod window;

use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::error::ConfigError;
use crate::json::{JsonError, Reader};

pub use window::{next_utc_day_s, utc_day, Rate, RateState};

/// The keys of a policy table.
const KEYS: [&str; 5] = ["payerDailyCap", "payerRate", "maxPayersPerMinute", "blockedPayers", "allowedPayers"];

/// The most `maxPayersPerMinute` may be (each admitted payer is a stored row a minute).
pub const MAX_PAYERS_PER_MINUTE: u64 = 100_000;

/// The scope of the global keys (a route's own keys have the route's pattern).
pub const GLOBAL: &str = "";

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

/// A limit and the scope whose counter it is judged on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped<T> {
    /// [`GLOBAL`], or the pattern of the route that set it.
    pub scope: String,
    /// The limit.
    pub limit: T,
}

/// Who may pay, and how much and how often.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Refused outright.
    pub blocked: Vec<EvmAddress>,
    /// When not empty, only these may pay.
    pub allowed: Vec<EvmAddress>,
    /// Settled and in-flight amount per payer per UTC day (default asset units).
    pub daily_cap: Option<Scoped<Amount>>,
    /// Paid requests per payer.
    pub rate: Option<Scoped<Rate>>,
    /// Distinct payers per minute (`None`: unlimited).
    pub max_payers: Option<Scoped<u32>>,
    /// The decimals of cap units (the default asset's).
    pub decimals: u8,
}

/// Why a payer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// Blocked, or not on a non-empty allow list (403 `payer_blocked`).
    Blocked,
}

impl Policy {
    /// No limits, caps counted with `decimals` (the default asset's).
    pub fn base(decimals: u8) -> Self {
        Self { decimals, ..Self::default() }
    }

    /// This policy with `raw`'s keys over it (a route's own over the global one). `field`
    /// names the table in errors, `scope` is the scope of its limits (a cap more precise
    /// than the cap units is an error).
    pub fn with(&self, raw: &RawPolicy, field: &str, scope: &str) -> Result<Policy, ConfigError> {
        let mut p = self.clone();
        for (key, json) in &raw.0 {
            let at = format!("{field}.{key}");
            let fail = |why: String| ConfigError::new(&at, why);
            match key.as_str() {
                "blockedPayers" => p.blocked = addresses(json).map_err(fail)?,
                "allowedPayers" => p.allowed = addresses(json).map_err(fail)?,
                "payerDailyCap" => {
                    let text = string(json).map_err(fail)?;
                    let cap = Amount::parse_price(text.trim(), self.decimals)
                        .map_err(|e| ConfigError::new(&at, format!("{text:?}: {e}")))?;
                    p.daily_cap = Some(Scoped { scope: scope.to_string(), limit: cap });
                }
                "payerRate" => {
                    let text = string(json).map_err(fail)?;
                    let limit = Rate::parse(&text).map_err(|e| ConfigError::new(&at, e))?;
                    p.rate = Some(Scoped { scope: scope.to_string(), limit });
                }
                _ => {
                    let n = crate::json::whole(json, |r| r.u64())
                        .ok()
                        .filter(|n| *n <= MAX_PAYERS_PER_MINUTE)
                        .ok_or_else(|| fail(format!("expected a whole number 0..={MAX_PAYERS_PER_MINUTE}")))?;
                    p.max_payers = u32::try_from(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .map(|limit| Scoped { scope: scope.to_string(), limit });
                }
            }
        }
        Ok(p)
    }

    /// Whether `payer` (the recovered signer) may pay by the configured lists. Addresses
    /// compare as bytes: any letter case of an address is the same address.
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

/// A payment's amount in cap units (the default asset's decimals), rounded up: a payment
/// never counts for less than it is worth.
pub fn in_cap_units(amount: Amount, decimals: u8, cap_decimals: u8) -> u128 {
    let diff = u32::from(decimals.abs_diff(cap_decimals));
    let scale = 10u128.checked_pow(diff);
    match (decimals > cap_decimals, scale) {
        (true, Some(scale)) => amount.0.div_ceil(scale),
        // More decimals than any u128 amount has digits: any non-zero amount is one unit.
        (true, None) => u128::from(amount.0 > 0),
        (false, Some(scale)) => amount.0.saturating_mul(scale),
        (false, None) => u128::MAX,
    }
}

fn string(json: &str) -> Result<String, String> {
    crate::json::whole(json, |r| r.string()).map_err(|e| format!("expected a string ({e})"))
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
mod tests;
