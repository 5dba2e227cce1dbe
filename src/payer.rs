//! The payer's side at the edge (see the core's `payer`): nonces to sign, and a payer's
//! own ledger events for a message it signed.

use web_sys::{Request, Response};
use x402_edge_core::admin::LedgerParams;
use x402_edge_core::config::Config;
use x402_edge_core::error::Failure;
use x402_edge_core::facilitator::Either;
use x402_edge_core::payer::{check, issue_nonce, PayerError};
use x402_edge_core::respond::Reply;
use x402_edge_core::ReceiptSigner;

use crate::arbiter::spend_nonce;
use crate::bindings::Env;
use crate::inbound::{read_body, Inbound};
use crate::net::now_ms;
use crate::reply;

/// Public, like the JWKS: any origin may ask.
fn headers() -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "application/json".to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("Access-Control-Allow-Origin", "*".to_string()),
        ("Access-Control-Expose-Headers", "X402-Next-Cursor".to_string()),
    ]
}

fn answer(status: u16, body: String) -> Result<Response, Failure> {
    reply::quick(&Reply { status, headers: headers(), body }).map_err(|e| Failure::Internal(format!("{e:?}")))
}

/// `GET /.well-known/x402/nonce`.
pub fn nonce(inbound: &Inbound, signer: &ReceiptSigner) -> Result<Response, Failure> {
    if !x402_edge_core::http::is_get_or_head(&inbound.method) {
        return answer(405, r#"{"error":"method_not_allowed"}"#.into());
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| Failure::Internal(format!("no randomness for a nonce: {e}")))?;
    let (nonce, expires) = issue_nonce(signer, random, now_ms() / 1000);
    let expires_at = x402_edge_core::ledger::iso8601(expires * 1000);
    answer(200, format!(r#"{{"nonce":"{nonce}","expiresAt":"{expires_at}"}}"#))
}

/// `POST /.well-known/x402/payments` with a signed message: the payer's events.
pub async fn payments(req: &Request, inbound: &Inbound, env: &Env, config: &Config) -> Result<Response, Failure> {
    if !inbound.method.eq_ignore_ascii_case("POST") {
        return answer(405, r#"{"error":"method_not_allowed"}"#.into());
    }
    let refuse = |e: PayerError| answer(e.status(), e.body());
    let body = read_body(req, inbound).await?;
    let text = String::from_utf8_lossy(&body.bytes);
    let now = now_ms();
    let checked = match check(&text, inbound.url().authority, now / 1000, &config.signer) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    if !spend_nonce(env, &checked.nonce, checked.nonce_expires_s).await? {
        return refuse(PayerError::Unauthorized("the nonce was used already"));
    }
    let params = match LedgerParams::parse(Some(&checked.query), now) {
        Ok(p) => p,
        Err(e) => return answer(e.status(), e.body()),
    };
    let cors = vec![
        ("Access-Control-Allow-Origin", "*".to_string()),
        ("Access-Control-Expose-Headers", "X402-Next-Cursor".to_string()),
    ];
    crate::admin::stream_ledger(env, params, false, None, cors).await
}

/// `GET {paper::BALANCES_PATH}{address}` (paper mode): the payer's paper balance of each
/// token the routes accept, for the browser paywall's paper wallet.
pub async fn paper_balances(inbound: &Inbound, env: &Env, config: &Config, address: &str) -> Result<Response, Failure> {
    if !x402_edge_core::http::is_get_or_head(&inbound.method) {
        return answer(405, r#"{"error":"method_not_allowed"}"#.into());
    }
    let Either::Left(paper) = crate::bindings::facilitator(config, env)? else {
        return Err(Failure::Internal("paper balances asked of a live facilitator".into()));
    };
    let options = config.routes.iter().flat_map(|(_, route)| route.options.iter());
    match paper.balances_json(address, options).await.map_err(|e| Failure::Upstream(e.into()))? {
        Some(json) => answer(200, json),
        None => answer(400, r#"{"error":"invalid_address"}"#.into()),
    }
}
