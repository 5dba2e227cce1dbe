//! x402-edge, the Worker: the thin edge layer over `x402_edge_core`.
//!
//! It turns bindings into a typed [`Setup`] once per isolate, asks the core what to do
//! with each request ([`decide`]), runs the escrow flow ([`flow::pay`]) with ports made
//! of Workers APIs (fetch, KV, the arbiter Durable Object, `Date.now`), and turns the
//! outcome into a response. No payment decision is made here, and no error escapes to
//! the runtime: every failure becomes a [`Failure`] and goes through the core's one
//! mapping to a JSON answer (`respond::refusal`).
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod admin;
mod alert;
mod arbiter;
mod bindings;
mod body;
mod inbound;
mod mcp;
mod net;
mod origin;
mod payer;
mod reply;

use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;
use web_sys::Response;
use x402_edge_core::challenge::resource_info;
use x402_edge_core::config::{Config, FacilitatorSetting, Setup};
use x402_edge_core::decide::{decide, Decision};
use x402_edge_core::error::Failure;
use x402_edge_core::flow::{self, Forward, Outcome, Ports, Target, Timing};
use x402_edge_core::PaymentHeader;
use x402_edge_core::{discovery, respond};

use x402_edge_core::alert::{Alerts, NoAlerts};

use crate::alert::EdgeAlerts;
use crate::arbiter::EdgeArbiter;
pub use crate::arbiter::PaymentArbiter;
use crate::bindings::{Context, Env};
use crate::inbound::Inbound;
use crate::net::{log_error, EdgeClock};
use crate::origin::{Body, EdgeOrigin, Outbound};

/// The HTML paywall page shown to browsers (filled in by the core; `{{MODE}}` here).
const PAYWALL_HTML: &str = include_str!("../www/paywall.html");

thread_local! {
    /// The page with its mode filled in, made on first use: paper, live.
    static PAGES: [std::cell::OnceCell<&'static str>; 2] = const { [std::cell::OnceCell::new(), std::cell::OnceCell::new()] };
}

/// The paywall page for this setup: `{{MODE}}` is `paper` when the paper facilitator
/// settles (the page offers its paper wallet), else `live`. Made once per isolate and mode.
fn paywall_page(setup: &Setup) -> &'static str {
    let paper = matches!(setup, Setup::Ready(c) if matches!(c.facilitator, FacilitatorSetting::Paper { .. }));
    let mode = if paper { "paper" } else { "live" };
    PAGES.with(|pages| {
        *pages[usize::from(!paper)].get_or_init(|| Box::leak(PAYWALL_HTML.replace("{{MODE}}", mode).into_boxed_str()))
    })
}

/// The Worker's fetch handler, exported as `fetch` (the entry, src/js/entry.js, calls it
/// with the request, the environment and the context). What the paywall answers itself without
/// waiting (a challenge, the JWKS, a preflight, a refusal) is returned at once; a free
/// request returns the origin's promise as it is; the rest is a promise of the answer.
#[wasm_bindgen(js_name = fetch)]
pub fn entry(req: web_sys::Request, env: JsValue, ctx: JsValue) -> JsValue {
    let env = Env::new(env);
    let setup = bindings::setup(&env);
    let inbound = match Inbound::read(&req) {
        Ok(inbound) => inbound,
        Err(failure) => return refuse(&failure, Some(&setup)).into(),
    };
    if inbound.carries_payment() {
        let ctx = Context::new(ctx);
        return later(setup.clone(), async move { to_the_end(req, inbound, env, setup, &ctx).await });
    }
    let decision = decide(&setup, &inbound.parts());
    let answer = match decision {
        Decision::Free { ref path, origin, secret } => {
            let url = inbound.url();
            let method = &inbound.method;
            let outbound =
                Outbound { req: &req, url, method, path: path.forward(), origin, secret, body: &Body::Stream };
            return match origin::pass(outbound) {
                Ok(promise) => promise.into(),
                Err(failure) => refuse(&failure, Some(&setup)).into(),
            };
        }
        // Read the body, decide again: later (this decision is not made a second time).
        Decision::ReadBody => {
            return later(setup.clone(), async move { handle(&req, &inbound, &env, &setup, true, None).await })
        }
        // A call to an MCP endpoint may carry a payment in its body: it goes to its end too.
        Decision::Mcp { .. } if inbound.method.eq_ignore_ascii_case("POST") => {
            let ctx = Context::new(ctx);
            return later(setup.clone(), async move { to_the_end(req, inbound, env, setup, &ctx).await });
        }
        Decision::Admin { .. }
        | Decision::Receipt { .. }
        | Decision::PayerLedger(_)
        | Decision::PaperBalances { .. }
        | Decision::Mcp { .. } => {
            return later(setup.clone(), async move { handle(&req, &inbound, &env, &setup, false, None).await })
        }
        // A request with a payment goes `to_the_end` before any decision is made.
        Decision::Pay { .. } => Err(Failure::Internal("a payment decided without its header".into())),
        Decision::Jwks(signer) => quick(respond::jwks(signer.jwks_json())),
        Decision::Discovery { config, doc, ref origin } => document(&inbound, config, doc, origin),
        Decision::Nonce(signer) => payer::nonce(&inbound, signer),
        Decision::Preflight => quick(respond::preflight(inbound.header("Access-Control-Request-Headers").as_deref())),
        Decision::Challenge { route, resource_url } if !inbound.accepts_html() => {
            let make = || respond::challenge(route, &resource_url, None, None);
            reply::challenge(&route.pattern, &resource_url, make).map_err(|e| Failure::Internal(format!("{e:?}")))
        }
        Decision::Challenge { route, resource_url } => {
            quick(respond::challenge(route, &resource_url, None, Some(paywall_page(&setup))))
        }
        Decision::Refuse(failure) => Err(failure),
    };
    answer.unwrap_or_else(|failure| refuse(&failure, Some(&setup))).into()
}

/// A discovery document, or its 304 (`If-None-Match`).
fn document(
    inbound: &Inbound,
    config: &Config,
    doc: discovery::Doc,
    origin: &str,
) -> std::result::Result<Response, Failure> {
    let if_none_match = inbound.header("If-None-Match");
    quick(discovery::answer(config, doc, origin, &inbound.method, if_none_match.as_deref()))
}

/// A promise of the answer `work` makes (a refusal if it fails).
fn later(
    setup: Rc<Setup>,
    work: impl std::future::Future<Output = std::result::Result<web_sys::Response, Failure>> + 'static,
) -> JsValue {
    future_to_promise(async move {
        let response = work.await.unwrap_or_else(|failure| refuse(&failure, Some(&setup)));
        Ok(JsValue::from(response))
    })
    .into()
}

/// A reply of the paywall's own as a response, built in one call.
fn quick(reply: respond::Reply) -> std::result::Result<web_sys::Response, Failure> {
    reply::quick(&reply).map_err(|e| Failure::Internal(format!("{e:?}")))
}

/// Runs a request with a payment inside `wait_until`, so that it goes to its end even if
/// the client goes away: a claim, a settlement under way and its record are finished
/// (the escrow never strands a payment half-way because a client disconnected), and a
/// retry finds the final answer. The response comes back through a channel.
async fn to_the_end(
    req: web_sys::Request,
    inbound: Inbound,
    env: Env,
    setup: Rc<Setup>,
    ctx: &Context,
) -> std::result::Result<web_sys::Response, Failure> {
    let (answer, answered) = oneshot::channel();
    let kept = ctx.share();
    ctx.wait_until(&future_to_promise(async move {
        let _ = answer.send(handle(&req, &inbound, &env, &setup, false, Some(&kept)).await);
        Ok(JsValue::UNDEFINED)
    }));
    answered.await.unwrap_or_else(|_| Err(Failure::Internal("the paid request ended without an answer".into())))
}

/// One request, start to end; any failure comes back as a [`Failure`]. `body_first`: the
/// decision already asked for the body; `ctx`: the context that keeps alerts alive (a paid
/// request's).
async fn handle(
    req: &web_sys::Request,
    inbound: &Inbound,
    env: &Env,
    setup: &Setup,
    body_first: bool,
    ctx: Option<&Context>,
) -> std::result::Result<Response, Failure> {
    let body_headers;
    let mut body = Body::Stream;
    let mut decision = if body_first { Decision::ReadBody } else { decide(setup, &inbound.parts()) };
    if let Decision::ReadBody = decision {
        let read = inbound::read_body(req, inbound).await?;
        body_headers = inbound.body_headers();
        decision = decide(setup, &body_headers.apply(inbound.parts(), &read.bytes));
        body = Body::Read(read);
    }
    let html = || inbound.accepts_html().then(|| paywall_page(setup));
    let url = inbound.url();
    let method = &inbound.method;
    let outbound = |path, origin, secret| Outbound { req, url, method, path, origin, secret, body: &body };
    match decision {
        Decision::Free { ref path, origin, secret } => {
            origin::pass_later(outbound(path.forward(), origin, secret)).await
        }
        Decision::Jwks(signer) => quick(respond::jwks(signer.jwks_json())),
        Decision::Discovery { config, doc, ref origin } => document(inbound, config, doc, origin),
        Decision::Receipt { ref id } => quick(respond::receipt(arbiter::stored_receipt(env, id).await?)),
        Decision::Nonce(signer) => payer::nonce(inbound, signer),
        Decision::PayerLedger(config) => Box::pin(payer::payments(req, inbound, env, config)).await,
        Decision::PaperBalances { config, ref address } => payer::paper_balances(inbound, env, config, address).await,
        Decision::Mcp { config, endpoint, ref path } => {
            Box::pin(mcp::serve(req, inbound, env, config, endpoint, path, ctx)).await
        }
        // Boxed: the admin pages' states stay out of every request's future.
        Decision::Admin { config, ref rest } => {
            Box::pin(admin::serve(req, inbound, env, config, rest.as_deref())).await
        }
        Decision::Preflight => quick(respond::preflight(inbound.header("Access-Control-Request-Headers").as_deref())),
        Decision::Challenge { route, resource_url } => quick(respond::challenge(route, &resource_url, None, html())),
        // The body was read: a second request for it is a bug, not the client's fault.
        Decision::ReadBody => Err(Failure::Internal("the decision asked for the body twice".into())),
        Decision::Refuse(failure) => Err(failure),
        Decision::Pay { config, route, ref path, header, ref resource_url } => {
            let resource = resource_info(route, resource_url);
            let binding = flow::binding(&inbound.method, path.forward(), url.query);
            let forward = outbound(path.forward(), &config.origin, config.origin_secret.as_ref());
            let (audience, origin_path) = (forward.audience(), forward.origin_path());
            let target = Target {
                route,
                resource: &resource,
                binding: &binding,
                refetchable: flow::is_refetchable(&inbound.method),
                forward: Forward { audience: &audience, method: &inbound.method, path: &origin_path },
            };
            let origin = EdgeOrigin::new(forward, config.origin_timeout_ms)?;
            match escrow(config, env, ctx, target, header, &origin).await? {
                Outcome::Paid { response, settlement } => match reply::delivered(response, &settlement) {
                    Ok(response) => Ok(response),
                    Err(e) => {
                        // Settled, but the response could not be built: say so with the
                        // settlement; a retry replays the stored answer.
                        let failure = Failure::Internal(format!("paid response: {e:?}"));
                        log(&failure, Some(setup));
                        quick(respond::refusal(&failure, None, Some(settlement.header), None))
                    }
                },
                Outcome::OriginFailed(response) => Ok(response),
                Outcome::Refused { failure, settle_header } => {
                    log(&failure, Some(setup));
                    quick(respond::refusal(&failure, Some((route, resource_url)), settle_header, html()))
                }
            }
        }
    }
}

/// Runs a payment through the escrow flow with ports made of Workers APIs: the configured
/// facilitator, the arbiter, alerts (when a context keeps them alive) and `origin`.
pub(crate) async fn escrow(
    config: &Config,
    env: &Env,
    ctx: Option<&Context>,
    target: Target<'_>,
    header: PaymentHeader<'_>,
    origin: &EdgeOrigin,
) -> std::result::Result<Outcome<Response>, Failure> {
    let facilitator = bindings::facilitator(config, env)?;
    let timing = Timing::new(config.facilitator.timeout_ms(), config.origin_timeout_ms);
    // A settle order may take as long as its lease covers: `/settle` (in paper mode up to
    // four KV calls) and the arbiter's writes.
    let arbiter = EdgeArbiter::new(env, timing.settle_lease_ms)?;
    let token = net::claim_token().map_err(Failure::Internal)?;
    let webhook = config.alerts.as_ref().zip(ctx).map(|(a, ctx)| (EdgeAlerts::new(&a.url, ctx), a));
    let ports = Ports {
        alerts: webhook.as_ref().map_or(&NoAlerts as &dyn Alerts, |(w, _)| w),
        alert_after: webhook.as_ref().map(|(_, a)| a.rate_limited_per_minute),
        facilitator: &facilitator,
        origin,
        clock: &EdgeClock,
        signer: &config.signer,
        arbiter: &arbiter,
        claim_token: &token,
        timing,
    };
    Ok(flow::pay(target, header, ports).await)
}

/// Logs what the client is not told: upstream and configuration causes.
pub(crate) fn log(failure: &Failure, setup: Option<&Setup>) {
    match (failure, setup) {
        (Failure::Misconfigured(None), Some(Setup::Broken { error, .. })) => {
            log_error(&format!("x402-edge: paywall misconfigured: {error}"))
        }
        (Failure::Misconfigured(Some(cause)), _) => log_error(&format!("x402-edge: paywall misconfigured: {cause}")),
        (Failure::Upstream(e), _) => log_error(&format!("x402-edge: {e}")),
        (Failure::Internal(e), _) => log_error(&format!("x402-edge: internal error: {e}")),
        _ => {}
    }
}

/// The one answer to a failure outside the escrow flow: the core's JSON refusal, or a
/// fixed JSON 500 should even that response fail to build.
pub(crate) fn refuse(failure: &Failure, setup: Option<&Setup>) -> web_sys::Response {
    log(failure, setup);
    reply::quick(&respond::refusal(failure, None, None, None)).unwrap_or_else(|e| {
        log_error(&format!("x402-edge: cannot build the error response: {e:?}"));
        reply::last_resort()
    })
}

#[cfg(test)]
mod tests;
