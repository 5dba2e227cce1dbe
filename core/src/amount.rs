//! Token amounts in atomic units, and the price syntax of the route table.
//!
//! A price is either a dollar amount (`"$0.01"`, for USD stablecoins, scaled by the
//! asset's decimals) or a whole number of atomic units (`"10000"`). A dollar price with
//! more decimals than the asset has is an error, never a silent truncation.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in the asset's smallest unit (EIP-3009 `value`, x402 `amount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

/// Why a price or amount was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal number of the accepted forms.
    Syntax,
    /// More fractional digits than the asset's decimals.
    TooPrecise {
        /// Decimals the asset has.
        decimals: u8,
    },
    /// Does not fit in the supported range.
    TooLarge,
    /// A price of zero (a free route is declared by leaving it out of the table).
    Zero,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax => f.write_str("expected \"$<dollars>[.<cents>]\" or whole atomic units"),
            Self::TooPrecise { decimals } => {
                write!(f, "more decimal places than the asset's {decimals}")
            }
            Self::TooLarge => f.write_str("amount too large"),
            Self::Zero => f.write_str("price must be greater than zero"),
        }
    }
}

impl Amount {
    /// Parses a plain decimal integer string (the wire form of atomic units).
    pub fn parse_atomic(text: &str) -> Result<Self, AmountError> {
        if text.is_empty() || text.len() > 39 || !text.bytes().all(|c| c.is_ascii_digit()) {
            return Err(AmountError::Syntax);
        }
        text.parse::<u128>().map(Amount).map_err(|_| AmountError::TooLarge)
    }

    /// Parses a configured price: `"$1.50"` scaled by `decimals`, or atomic units.
    pub fn parse_price(text: &str, decimals: u8) -> Result<Self, AmountError> {
        let amount = match text.strip_prefix('$') {
            Some(dollars) => Self::parse_decimal(dollars, decimals)?,
            None => Self::parse_atomic(text)?,
        };
        if amount.0 == 0 {
            return Err(AmountError::Zero);
        }
        Ok(amount)
    }

    fn parse_decimal(text: &str, decimals: u8) -> Result<Self, AmountError> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
            return Err(AmountError::Syntax);
        }
        if frac.len() > usize::from(decimals) {
            return Err(AmountError::TooPrecise { decimals });
        }
        let scale = 10u128.checked_pow(u32::from(decimals)).ok_or(AmountError::TooLarge)?;
        let whole: u128 = whole.parse().map_err(|_| AmountError::TooLarge)?;
        let frac_scaled: u128 = if frac.is_empty() {
            0
        } else {
            let f: u128 = frac.parse().map_err(|_| AmountError::TooLarge)?;
            f * 10u128.pow(u32::from(decimals) - frac.len() as u32)
        };
        whole.checked_mul(scale).and_then(|w| w.checked_add(frac_scaled)).map(Amount).ok_or(AmountError::TooLarge)
    }

    /// Formats as a dollar string with the asset's decimals, trailing zeros trimmed
    /// (`10000` with 6 decimals → `"$0.01"`).
    pub fn to_dollars(self, decimals: u8) -> String {
        let scale = 10u128.pow(u32::from(decimals));
        let whole = self.0 / scale;
        let frac = self.0 % scale;
        if frac == 0 {
            return format!("${whole}");
        }
        let frac = format!("{frac:0width$}", width = usize::from(decimals));
        let frac = frac.trim_end_matches('0');
        let frac = if frac.len() < 2 { format!("{frac:0<2}") } else { frac.to_string() };
        format!("${whole}.{frac}")
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_atomic(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        for (input, decimals, want) in [
            ("$0.01", 6, Ok(Amount(10_000))),
            ("$1", 6, Ok(Amount(1_000_000))),
            ("$1.5", 6, Ok(Amount(1_500_000))),
            ("$0.000001", 6, Ok(Amount(1))),
            ("$0.0000001", 6, Err(AmountError::TooPrecise { decimals: 6 })),
            ("10000", 6, Ok(Amount(10_000))),
            ("$0", 6, Err(AmountError::Zero)),
            ("0", 6, Err(AmountError::Zero)),
            ("$", 6, Err(AmountError::Syntax)),
            ("$1.", 6, Err(AmountError::Syntax)),
            ("$.5", 6, Err(AmountError::Syntax)),
            ("$-1", 6, Err(AmountError::Syntax)),
            ("1.5", 6, Err(AmountError::Syntax)),
            ("$1,00", 6, Err(AmountError::Syntax)),
            (" $1", 6, Err(AmountError::Syntax)),
            ("+5", 6, Err(AmountError::Syntax)),
            ("$1e3", 6, Err(AmountError::Syntax)),
            ("999999999999999999999999999999999999999", 6, Err(AmountError::TooLarge)),
            ("$340282366920938463463374607431768211455", 6, Err(AmountError::TooLarge)),
        ] {
            assert_eq!(Amount::parse_price(input, decimals), want, "{input}");
        }
    }

    #[test]
    fn dollars_display() {
        for (atomic, want) in [(10_000, "$0.01"), (1_000_000, "$1"), (1_234_567, "$1.234567"), (100_000, "$0.10")] {
            assert_eq!(Amount(atomic).to_dollars(6), want, "{atomic}");
        }
    }
}
