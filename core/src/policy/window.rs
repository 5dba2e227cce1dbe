//! Time windows of the policy: the UTC day of a daily cap, and the rate of paid requests
//! as a token bucket kept as a generic cell rate (GCRA): a payer may make `count` requests
//! at once, then one every `period / count` (a bucket of `count` that refills at the
//! rate). One number of state per payer and scope, no window edge to game, and the wait
//! is known to the millisecond.
//!
//! Pure arithmetic on a clock reading the caller passes in: tests inject any time.

use std::fmt;

const DAY_MS: u64 = 86_400_000;

/// The UTC day (days since the unix epoch) of `now_ms`.
pub fn utc_day(now_ms: u64) -> u64 {
    now_ms / DAY_MS
}

/// Seconds from `now_ms` to the next UTC midnight (at least 1).
pub fn next_utc_day_s(now_ms: u64) -> u64 {
    ((utc_day(now_ms) + 1) * DAY_MS - now_ms).div_ceil(1000).max(1)
}

/// A rate: `count` paid requests per `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period (1..=1 000 000).
    pub count: u32,
    /// The period (a second, a minute, an hour or a day), in ms.
    pub period_ms: u64,
}

/// Why a rate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateError(String);

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: expected \"<count>/<second|minute|hour|day>\", count 1..=1000000", self.0)
    }
}

/// Where a payer stands against a rate, for the operator's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Requests that may be made right now.
    pub remaining: u32,
    /// Milliseconds until the full burst is available again.
    pub reset_ms: u64,
}

impl Rate {
    /// Parses `"60/minute"` (also `second`, `hour`, `day`).
    pub fn parse(text: &str) -> Result<Self, RateError> {
        let bad = || RateError(text.to_string());
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = (!count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()))
            .then(|| count.parse().ok())
            .flatten()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(bad)?;
        let period_ms = match unit {
            "second" => 1_000,
            "minute" => 60_000,
            "hour" => 3_600_000,
            "day" => DAY_MS,
            _ => return Err(bad()),
        };
        Ok(Self { count, period_ms })
    }

    /// The spacing of requests at the sustained rate (µs).
    fn interval_us(self) -> u64 {
        (self.period_ms * 1000 / u64::from(self.count)).max(1)
    }

    /// How far the theoretical arrival time may run ahead of now (µs): the burst.
    fn tolerance_us(self) -> u64 {
        self.period_ms * 1000 - self.interval_us()
    }

    /// Whether a request at `now_ms` conforms, given the stored theoretical arrival time
    /// `tat_us`: `Ok(new tat)` to store, or `Err(ms to wait)`.
    pub fn take(self, tat_us: u64, now_ms: u64) -> Result<u64, u64> {
        let now_us = now_ms * 1000;
        let ahead = tat_us.saturating_sub(now_us);
        if ahead > self.tolerance_us() {
            return Err((ahead - self.tolerance_us()).div_ceil(1000).max(1));
        }
        Ok(tat_us.max(now_us) + self.interval_us())
    }

    /// When the stored time `tat_us` may be forgotten (unix ms): past it, a payer has its
    /// full burst again.
    pub fn forget_after_ms(tat_us: u64) -> u64 {
        tat_us.div_ceil(1000)
    }

    /// Where a payer stands at `now_ms`.
    pub fn state(self, tat_us: u64, now_ms: u64) -> RateState {
        let ahead = tat_us.saturating_sub(now_ms * 1000);
        let remaining = match self.tolerance_us().checked_sub(ahead) {
            Some(room) => room / self.interval_us() + 1,
            None => 0,
        };
        RateState { remaining: u32::try_from(remaining).unwrap_or(u32::MAX), reset_ms: ahead.div_ceil(1000) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        for (text, want) in [
            ("60/minute", Some((60, 60_000))),
            ("10/second", Some((10, 1_000))),
            ("1000/hour", Some((1000, 3_600_000))),
            ("5/day", Some((5, DAY_MS))),
            (" 1/second ", Some((1, 1_000))),
            ("60/fortnight", None),
            ("0/minute", None),
            ("1000001/second", None),
            ("-1/minute", None),
            ("+1/minute", None),
            ("1.5/minute", None),
            ("60 / minute", None),
            ("60/Minute", None),
            ("/minute", None),
            ("60", None),
            ("99999999999999999999/minute", None),
        ] {
            assert_eq!(Rate::parse(text).ok().map(|r| (r.count, r.period_ms)), want, "{text}");
        }
    }

    #[test]
    fn a_burst_of_count_then_one_per_interval() {
        let rate = Rate::parse("60/minute").unwrap();
        let t0 = 1_700_000_000_000;
        let mut tat = 0;
        for i in 0..60 {
            tat = rate.take(tat, t0).unwrap_or_else(|w| panic!("request {i} refused, wait {w}"));
        }
        assert_eq!(rate.take(tat, t0), Err(1000), "the 61st waits a second");
        assert_eq!(rate.take(tat, t0 + 999), Err(1));
        assert_eq!(rate.state(tat, t0), RateState { remaining: 0, reset_ms: 60_000 });
        tat = rate.take(tat, t0 + 1000).expect("one more after a second");
        assert!(rate.take(tat, t0 + 1000).is_err());
        // After a full period of quiet the whole burst is back.
        assert_eq!(rate.state(tat, t0 + 61_000).remaining, 60);
        assert!(Rate::forget_after_ms(tat) <= t0 + 61_000);
    }

    /// Generated request times: over any window no more than the bucket (`count`) plus
    /// its refill during the window pass, and `remaining` says whether the next one will.
    #[test]
    fn generated_arrivals_never_exceed_the_rate() {
        let mut rng = crate::testkit::Rng(0x5A7E);
        for _ in 0..200 {
            let rate = Rate { count: 1 + rng.below(20) as u32, period_ms: [1_000, 60_000][rng.below(2)] };
            let (mut now, mut tat, mut passed) = (1_000_000u64, 0u64, Vec::new());
            for _ in 0..300 {
                now += rng.below(rate.period_ms as usize / 4 + 1) as u64;
                let predicted = rate.state(tat, now).remaining;
                match rate.take(tat, now) {
                    Ok(next) => {
                        assert!(predicted > 0, "{rate:?} remaining 0 but passed");
                        tat = next;
                        passed.push(now);
                    }
                    Err(wait) => {
                        assert_eq!(predicted, 0, "{rate:?} refused with {predicted} remaining");
                        assert!(rate.take(tat, now + wait).is_ok(), "{rate:?} still refused after its wait");
                    }
                }
            }
            let interval_ms = rate.period_ms as f64 / f64::from(rate.count);
            for (i, start) in passed.iter().enumerate() {
                for span in [rate.period_ms / 10, rate.period_ms, 3 * rate.period_ms] {
                    let within = passed[i..].iter().take_while(|t| **t < start + span).count();
                    let allowed = f64::from(rate.count) + (span as f64 / interval_ms).ceil();
                    assert!(within as f64 <= allowed, "{rate:?}: {within} within {span} ms");
                }
            }
        }
    }

    #[test]
    fn utc_days() {
        let midnight = 20_000 * DAY_MS;
        assert_eq!(utc_day(midnight - 1), 19_999);
        assert_eq!(utc_day(midnight), 20_000);
        assert_eq!(next_utc_day_s(midnight - 1), 1);
        assert_eq!(next_utc_day_s(midnight), 86_400);
        assert_eq!(next_utc_day_s(midnight + 1), 86_400);
        assert_eq!(next_utc_day_s(midnight + 43_200_000), 43_200);
    }
}
