//! ISO 8601 instants in UTC, both ways, without a date crate.

/// ISO 8601 in UTC with milliseconds: `2026-12-02T06:40:00.123Z`.
pub fn iso8601(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Unix ms of an ISO 8601 UTC instant as [`iso8601`] writes it, or a date alone
/// (`2026-12-02`, midnight UTC); seconds and milliseconds may be left out.
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let y: i64 = number(parts.next()?, 4)?;
    let m: u32 = number(parts.next()?, 2)?;
    let d: u32 = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || y < 1970 {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) as u64 * 86_400_000;
    if let Some(time) = time {
        let (hms, milli) = match time.split_once('.') {
            Some((hms, milli)) => (hms, number::<u64>(milli, 3)?),
            None => (time, 0),
        };
        let mut t = hms.split(':');
        let h: u64 = number(t.next()?, 2)?;
        let min: u64 = number(t.next()?, 2)?;
        let s: u64 = match t.next() {
            Some(s) => number(s, 2)?,
            None => 0,
        };
        if t.next().is_some() || h > 23 || min > 59 || s > 59 {
            return None;
        }
        ms += (h * 3600 + min * 60 + s) * 1000 + milli;
    }
    Some(ms)
}

fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
