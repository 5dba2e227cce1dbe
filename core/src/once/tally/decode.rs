//! Reading a tally, a charge and an operator's change as serde writes them (see
//! `record::decode`): tuples as arrays, amounts as decimal strings.

use super::{Charge, Hold, PayerChange, Tally};
use crate::amount::Amount;
use crate::json::{optional, required, whole, JsonError, Reader};
use crate::x402::read::amount;

type Read<T> = Result<T, JsonError>;

/// The items of an array of exactly `N` values, read one by one by `item(index)`.
fn tuple<const N: usize>(r: &mut Reader<'_>, mut item: impl FnMut(&mut Reader<'_>, usize) -> Read<()>) -> Read<()> {
    let mut n = 0;
    r.array(|r| {
        if n == N {
            return Err(r.error("no more items"));
        }
        item(r, n)?;
        n += 1;
        Ok(())
    })?;
    if n == N {
        Ok(())
    } else {
        Err(r.error("more items"))
    }
}

/// `[scope, amount]`.
fn scoped_amount(r: &mut Reader<'_>) -> Read<(String, Amount)> {
    let (mut scope, mut value) = (None, None);
    tuple::<2>(r, |r, i| {
        match i {
            0 => scope = Some(r.string()?),
            _ => value = Some(amount(r)?),
        }
        Ok(())
    })?;
    Ok((required(scope, r, "scope")?, required(value, r, "amount")?))
}

/// `[text, number]`.
fn named_number(r: &mut Reader<'_>) -> Read<(String, u64)> {
    let (mut name, mut value) = (None, None);
    tuple::<2>(r, |r, i| {
        match i {
            0 => name = Some(r.string()?),
            _ => value = Some(r.u64()?),
        }
        Ok(())
    })?;
    Ok((required(name, r, "name")?, required(value, r, "number")?))
}

fn list<T>(r: &mut Reader<'_>, mut item: impl FnMut(&mut Reader<'_>) -> Read<T>) -> Read<Vec<T>> {
    let mut out = Vec::new();
    r.array(|r| item(r).map(|v| out.push(v)))?;
    Ok(out)
}

fn hold(r: &mut Reader<'_>) -> Read<Hold> {
    let (mut key, mut scope, mut value, mut day, mut until_ms, mut settling) = (None, None, None, None, None, false);
    r.object(|r, k| {
        match k {
            "key" => key = Some(r.string()?),
            "scope" => scope = Some(r.string()?),
            "amount" => value = Some(amount(r)?),
            "day" => day = Some(r.u64()?),
            "until_ms" => until_ms = Some(r.u64()?),
            "settling" => settling = r.bool()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Hold {
        key: required(key, r, "key")?,
        scope: required(scope, r, "scope")?,
        amount: required(value, r, "amount")?,
        day: required(day, r, "day")?,
        until_ms: required(until_ms, r, "until_ms")?,
        settling,
    })
}

/// A tally.
pub(crate) fn tally(r: &mut Reader<'_>) -> Read<Tally> {
    let mut t = Tally::default();
    let mut day = None;
    r.object(|r, k| {
        match k {
            "day" => day = Some(r.u64()?),
            "settled" => t.settled = list(r, scoped_amount)?,
            "holds" => t.holds = list(r, hold)?,
            "rates" => t.rates = list(r, named_number)?,
            "limited" => {
                let (mut minute, mut count) = (0, 0);
                tuple::<2>(r, |r, i| {
                    let n = r.u64()?;
                    match i {
                        0 => minute = n,
                        _ => count = u32::try_from(n).map_err(|_| r.error("a count"))?,
                    }
                    Ok(())
                })?;
                t.limited = (minute, count);
            }
            "alerted" => t.alerted = list(r, named_number)?,
            "blocked" => t.blocked = r.bool()?,
            "cap" => t.cap = optional(r, amount)?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    t.day = required(day, r, "day")?;
    Ok(t)
}

/// A charge.
pub(crate) fn charge(r: &mut Reader<'_>) -> Read<Charge> {
    let (mut row, mut value, mut cap, mut rate, mut alert_after) = (None, None, None, None, None);
    r.object(|r, k| {
        match k {
            "row" => row = Some(r.string()?),
            "amount" => value = Some(amount(r)?),
            "cap" => cap = optional(r, scoped_amount)?,
            "rate" => {
                rate = optional(r, |r| {
                    let (mut scope, mut count, mut period) = (None, None, None);
                    tuple::<3>(r, |r, i| {
                        match i {
                            0 => scope = Some(r.string()?),
                            1 => count = Some(u32::try_from(r.u64()?).map_err(|_| r.error("a count"))?),
                            _ => period = Some(r.u64()?),
                        }
                        Ok(())
                    })?;
                    Ok((required(scope, r, "scope")?, required(count, r, "count")?, required(period, r, "period")?))
                })?
            }
            "alert_after" => alert_after = optional(r, |r| u32::try_from(r.u64()?).map_err(|_| r.error("a count")))?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Charge { row: required(row, r, "row")?, amount: required(value, r, "amount")?, cap, rate, alert_after })
}

/// An operator's change: `"block"`, `"unblock"`, `{"cap":…}`.
pub(crate) fn change(r: &mut Reader<'_>) -> Read<PayerChange> {
    if let Ok(unit) = r.string() {
        return match unit.as_str() {
            "block" => Ok(PayerChange::Block),
            "unblock" => Ok(PayerChange::Unblock),
            _ => Err(r.error("a payer change")),
        };
    }
    let mut change = None;
    r.object(|r, k| {
        if k != "cap" || change.is_some() {
            return Err(r.error("a payer change"));
        }
        change = Some(PayerChange::Cap(optional(r, amount)?));
        Ok(())
    })?;
    required(change, r, "a payer change")
}

impl Tally {
    /// A stored tally row.
    pub fn parse(json: &str) -> Result<Tally, JsonError> {
        whole(json, tally)
    }
}
