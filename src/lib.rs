//! x402-edge, the Worker: the thin edge layer over `x402_edge_core`.
//!
//! It turns bindings into a typed [`Setup`] once per isolate, asks the core what to do
//! with each request ([`decide`]), runs the escrow flow ([`flow::pay`]) with ports made
//! of Workers APIs (fetch, KV, `Date.now`), and turns the outcome into a response. No
//! payment decision is made here.
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod arbiter;
mod bindings;
mod net;
mod origin;
mod reply;

use worker::{event, Context, Env, Request, Response, Result};
use x402_edge_core::challenge::resource_info;
use x402_edge_core::config::{Config, FacilitatorSetting, Setup};
use x402_edge_core::decide::{decide, Decision, RequestParts};
use x402_edge_core::error::Failure;
use x402_edge_core::facilitator::{Either, HttpFacilitator};
use x402_edge_core::flow::{self, Outcome, Ports, Target, Timing};
use x402_edge_core::paper::PaperFacilitator;
use x402_edge_core::respond;

use crate::arbiter::EdgeArbiter;
pub use crate::arbiter::PaymentArbiter;
use crate::net::{EdgeClock, EdgeHttp, EdgeKv};
use crate::origin::EdgeOrigin;

/// The HTML paywall page shown to browsers (filled in by the core).
const PAYWALL_HTML: &str = include_str!("../www/paywall.html");

/// The KV namespace binding (paper balances and used nonces).
const KV_BINDING: &str = "X402_KV";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let setup = bindings::setup(&env);
    let headers = req.headers();
    let get = |name: &str| headers.get(name).ok().flatten();
    let (acrm, signature, x_payment) =
        (get("Access-Control-Request-Method"), get("PAYMENT-SIGNATURE"), get("X-PAYMENT"));
    let url = req.url()?;
    let method = req.inner().method();
    let parts = RequestParts {
        method: &method,
        path: url.path(),
        access_control_request_method: acrm.as_deref(),
        payment_signature: signature.as_deref(),
        x_payment: x_payment.as_deref(),
    };
    let html = get("Accept").is_some_and(|a| a.contains("text/html")).then_some(PAYWALL_HTML);
    let resource_url = url.to_string();
    match decide(&setup, &parts) {
        Decision::Free { path, origin } => origin::pass(&req, &url, path.forward(), origin).await,
        Decision::Jwks(signer) => reply::send(respond::jwks(signer.jwks_json())),
        Decision::Preflight => reply::send(respond::preflight(get("Access-Control-Request-Headers").as_deref())),
        Decision::Challenge { route, .. } => reply::send(respond::challenge(route, &resource_url, None, html)),
        Decision::Refuse(failure) => refuse(&failure, &setup),
        Decision::Pay { config, route, path, header } => {
            let resource = resource_info(route, &resource_url);
            let binding = flow::binding(&method, path.forward(), url.query());
            let target =
                Target { route, resource: &resource, binding: &binding, refetchable: flow::is_refetchable(&method) };
            let origin = EdgeOrigin::new(&req, &url, path.forward(), &config.origin)?;
            let facilitator = facilitator(config, &env)?;
            let cache = EdgeKv(env.kv(KV_BINDING)?);
            let token = net::claim_token()?;
            let ports = Ports {
                facilitator: &facilitator,
                origin: &origin,
                clock: &EdgeClock,
                signer: &config.signer,
                arbiter: &EdgeArbiter { env: &env },
                cache: &cache,
                claim_token: &token,
                timing: Timing::for_facilitator_timeout(config.facilitator.timeout_ms()),
            };
            match flow::pay(target, header, ports).await {
                Outcome::Paid { response, settlement } => reply::delivered(response, &settlement),
                Outcome::OriginFailed(response) => Ok(response),
                Outcome::Refused { failure, settle_header } => {
                    if let Failure::Upstream(e) = &failure {
                        worker::console_error!("x402-edge: {e}");
                    }
                    reply::send(respond::refusal(&failure, Some((route, &resource_url)), settle_header, html))
                }
            }
        }
    }
}

fn refuse(failure: &Failure, setup: &Setup) -> Result<Response> {
    if let (Failure::Misconfigured, Setup::Broken { error, .. }) = (failure, setup) {
        worker::console_error!("x402-edge: paywall misconfigured: {error}");
    }
    reply::send(respond::refusal(failure, None, None, None))
}

type EdgeFacilitator = Either<PaperFacilitator<EdgeKv, EdgeClock>, HttpFacilitator<EdgeHttp>>;

fn facilitator(config: &Config, env: &Env) -> Result<EdgeFacilitator> {
    Ok(match &config.facilitator {
        FacilitatorSetting::Paper { starting_balance } => {
            Either::Left(PaperFacilitator::new(EdgeKv(env.kv(KV_BINDING)?), EdgeClock, *starting_balance))
        }
        FacilitatorSetting::Http { url, timeout_ms } => {
            Either::Right(HttpFacilitator::new(url, EdgeHttp { timeout_ms: *timeout_ms }))
        }
    })
}

#[cfg(test)]
mod tests;
