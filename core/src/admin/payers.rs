//! The operator's view of one payer and its changes (`{ADMIN_PATH}payers/{address}`): what
//! its caps and rates have counted today, the operator's block and cap, and the requests
//! that change them. The arbiter shard of the payer keeps the tally (`once::tally`) and
//! writes each change as a `policy` ledger event.

use serde::Serialize;

use super::AdminError;
use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::ledger;
use crate::once::tally::{PayerChange, Tally};
use crate::policy::{Policy, Rate, GLOBAL};

/// What a payer request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayerAction {
    /// `GET payers/{address}`.
    View,
    /// `POST payers/{address}/block`.
    Block,
    /// `POST payers/{address}/unblock`.
    Unblock,
    /// `PUT payers/{address}/cap` with `{"cap":"$2"}` (or `null`: back to the configured cap).
    Cap,
}

/// The address and action of `rest` (`payers/…`), checked against `method`.
pub fn payer_endpoint(method: &str, rest: &str) -> Option<Result<(EvmAddress, PayerAction), AdminError>> {
    let tail = rest.strip_prefix("payers/")?;
    let (address, action) = tail.split_once('/').unwrap_or((tail, ""));
    let (action, wanted) = match action {
        "" => (PayerAction::View, "GET"),
        "block" => (PayerAction::Block, "POST"),
        "unblock" => (PayerAction::Unblock, "POST"),
        "cap" => (PayerAction::Cap, "PUT"),
        _ => return Some(Err(AdminError::NotFound)),
    };
    let allowed = method.eq_ignore_ascii_case(wanted) || (wanted == "GET" && crate::http::is_get_or_head(method));
    if !allowed {
        return Some(Err(AdminError::MethodNotAllowed));
    }
    Some(EvmAddress::parse(address).map(|a| (a, action)).map_err(|_| AdminError::BadParameter("address")))
}

/// The change a request makes (`None` for a view), from its body (`PUT cap`: a JSON object
/// `{"cap": "$2" | "2000000" | null}` in the cap units of `policy`).
pub fn change_of(action: PayerAction, body: &[u8], policy: &Policy) -> Result<Option<PayerChange>, AdminError> {
    Ok(match action {
        PayerAction::View => None,
        PayerAction::Block => Some(PayerChange::Block),
        PayerAction::Unblock => Some(PayerChange::Unblock),
        PayerAction::Cap => {
            let text = std::str::from_utf8(body).map_err(|_| AdminError::BadParameter("cap"))?;
            let mut cap = None;
            crate::json::whole(text, |r| {
                r.object(|r, key| {
                    if key != "cap" || cap.is_some() {
                        return Err(r.error("cap"));
                    }
                    cap = Some(r.string_or_null()?);
                    Ok(())
                })
            })
            .map_err(|_| AdminError::BadParameter("cap"))?;
            let cap = match cap.ok_or(AdminError::BadParameter("cap"))? {
                Some(text) => Some(
                    Amount::parse_price(text.trim(), policy.decimals).map_err(|_| AdminError::BadParameter("cap"))?,
                ),
                None => None,
            };
            Some(PayerChange::Cap(cap))
        }
    })
}

/// The ledger's view of an operator's change: the payer, and the cap it sets.
pub fn policy_payment(payer: &EvmAddress, change: Option<&PayerChange>) -> ledger::Payment {
    let amount = match change {
        Some(PayerChange::Cap(Some(cap))) => cap.to_string(),
        _ => String::new(),
    };
    ledger::Payment {
        payment_key: String::new(),
        payer: payer.checksummed(),
        pay_to: String::new(),
        amount,
        asset: String::new(),
        network: String::new(),
        x402_version: 0,
        route: String::new(),
        method: String::new(),
        path: String::new(),
        facilitator: String::new(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    payer: String,
    /// Blocked by the operator.
    blocked: bool,
    /// Refused by `blockedPayers` / `allowedPayers` (the global lists).
    blocked_by_config: bool,
    /// The operator's cap, in cap units.
    cap: Option<String>,
    day: String,
    spend: Vec<Spend<'a>>,
    rates: Vec<RateView<'a>>,
    rate_limited_this_minute: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spend<'a> {
    /// `*` for every route without its own cap, else the route.
    scope: &'a str,
    settled: String,
    in_flight: String,
    /// The cap that applies, if any (cap units), and in dollars.
    cap: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateView<'a> {
    scope: &'a str,
    limit: String,
    remaining: u32,
    reset_ms: u64,
}

fn scope_name(scope: &str) -> &str {
    if scope == GLOBAL {
        "*"
    } else {
        scope
    }
}

/// The payer's view as JSON, from its tally (as the arbiter answered it, rolled to now),
/// the global policy and the routes' own.
pub fn view_json<'p>(
    payer: &EvmAddress,
    tally: &Tally,
    global: &'p Policy,
    routes: impl Iterator<Item = &'p Policy>,
    now_ms: u64,
) -> String {
    let policies: Vec<&Policy> = std::iter::once(global).chain(routes).collect();
    let mut caps: Vec<(&str, Option<u128>)> =
        vec![(GLOBAL, tally.cap.or(global.daily_cap.as_ref().map(|c| c.limit)).map(|a| a.0))];
    let mut rates: Vec<(&str, Rate)> = Vec::new();
    for p in &policies {
        if let Some(c) = &p.daily_cap {
            if c.scope != GLOBAL && !caps.iter().any(|(s, _)| *s == c.scope) {
                caps.push((&c.scope, Some(c.limit.0)));
            }
        }
        if let Some(r) = &p.rate {
            if !rates.iter().any(|(s, _)| *s == r.scope) {
                rates.push((&r.scope, r.limit));
            }
        }
    }
    let held = |scope: &str| {
        tally.holds.iter().filter(|h| h.scope == scope && h.day == tally.day).map(|h| h.amount.0).sum::<u128>()
    };
    let settled = |scope: &str| tally.settled.iter().filter(|(s, _)| s == scope).map(|(_, a)| a.0).sum::<u128>();
    let spend = caps
        .iter()
        .map(|(scope, cap)| Spend {
            scope: scope_name(scope),
            settled: settled(scope).to_string(),
            in_flight: held(scope).to_string(),
            cap: cap.map(|c| c.to_string()),
        })
        .collect();
    let rate_views = rates
        .iter()
        .map(|(scope, rate)| {
            let tat = tally.rates.iter().find(|(s, _)| s == scope).map_or(0, |(_, t)| *t);
            let state = rate.state(tat, now_ms);
            let unit = match rate.period_ms {
                1_000 => "second",
                60_000 => "minute",
                3_600_000 => "hour",
                _ => "day",
            };
            RateView {
                scope: scope_name(scope),
                limit: format!("{}/{unit}", rate.count),
                remaining: state.remaining,
                reset_ms: state.reset_ms,
            }
        })
        .collect();
    let minute = now_ms / 60_000;
    crate::codec::to_json(&View {
        payer: payer.checksummed(),
        blocked: tally.blocked,
        blocked_by_config: global.admits(payer).is_err(),
        cap: tally.cap.map(|c| c.to_string()),
        day: crate::ledger::iso8601(now_ms)[..10].to_string(),
        spend,
        rates: rate_views,
        rate_limited_this_minute: if tally.limited.0 == minute { tally.limited.1 } else { 0 },
    })
}
