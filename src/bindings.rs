//! Bindings → typed setup, once per isolate.
//!
//! The `[vars]` named in `VAR_NAMES` are read from the environment (strings, numbers or
//! tables), serialised into one JSON object with `JSON.stringify` (which keeps the order
//! of the route table) and parsed by the core with the `RECEIPT_SIGNING_KEY`,
//! `ORIGIN_SECRET` and `ADMIN_TOKEN` secrets. The
//! result is cached for the isolate's life; a broken setup's cause is logged with every
//! request it refuses (see `refuse` in lib.rs).

use std::rc::Rc;

use js_sys::{Reflect, JSON};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use x402_edge_core::config::{Config, FacilitatorSetting, Secrets, Setup, VAR_NAMES};
use x402_edge_core::error::Failure;
use x402_edge_core::facilitator::{Either, HttpFacilitator};
use x402_edge_core::paper::PaperFacilitator;

use crate::net::{EdgeClock, EdgeHttp, EdgeKv};

/// The KV namespace binding (the paper facilitator's balances and used nonces).
const KV_BINDING: &str = "X402_KV";

/// The Worker's environment: its bindings by name (vars, secrets, KV, Durable Objects).
#[derive(Clone)]
pub struct Env(JsValue);

impl Env {
    /// The environment object the runtime hands to a handler.
    pub fn new(env: JsValue) -> Self {
        Self(env)
    }

    /// The binding `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<JsValue> {
        Reflect::get(&self.0, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined())
    }

    /// The secret (or string var) `name`.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.as_string())
    }
}

#[wasm_bindgen]
extern "C" {
    /// The handler's execution context.
    pub type Context;
    /// Keeps the isolate alive until `promise` settles.
    #[wasm_bindgen(method, js_name = waitUntil)]
    pub fn wait_until(this: &Context, promise: &js_sys::Promise);
}

impl Context {
    /// The context object the runtime hands to a handler.
    pub fn new(ctx: JsValue) -> Self {
        ctx.unchecked_into()
    }

    /// Another handle on the same context.
    pub fn share(&self) -> Self {
        Self::new(AsRef::<JsValue>::as_ref(self).clone())
    }
}

thread_local! {
    static SETUP: std::cell::OnceCell<Rc<Setup>> = const { std::cell::OnceCell::new() };
}

/// The isolate's setup, parsed on first use.
pub fn setup(env: &Env) -> Rc<Setup> {
    SETUP.with(|cell| cell.get_or_init(|| Rc::new(load(env))).clone())
}

pub(crate) fn load(env: &Env) -> Setup {
    let mut json = String::from("{");
    for name in VAR_NAMES {
        let Some(value) = env.get(name) else { continue };
        let Some(text) = JSON::stringify(&value).ok().and_then(|s| s.as_string()) else { continue };
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&x402_edge_core::codec::to_json(name));
        json.push(':');
        json.push_str(&text);
    }
    json.push('}');
    let key = env.secret("RECEIPT_SIGNING_KEY");
    let (origin_secret, admin_token) = (env.secret("ORIGIN_SECRET"), env.secret("ADMIN_TOKEN"));
    Setup::load(
        &json,
        Secrets {
            receipt_signing_key: key.as_deref(),
            origin_secret: origin_secret.as_deref(),
            admin_token: admin_token.as_deref(),
        },
    )
}

/// The facilitator the configuration names: paper (its ledger in KV) or HTTP.
pub type EdgeFacilitator = Either<PaperFacilitator<EdgeKv, EdgeClock>, HttpFacilitator<EdgeHttp>>;

/// The configured facilitator; paper mode without its KV binding is a deployment fault.
pub fn facilitator(config: &Config, env: &Env) -> Result<EdgeFacilitator, Failure> {
    Ok(match &config.facilitator {
        FacilitatorSetting::Paper { starting_balance, .. } => {
            let kv = env.get(KV_BINDING).filter(JsValue::is_object).ok_or_else(|| {
                Failure::Misconfigured(Some(format!("the KV namespace binding {KV_BINDING} is missing")))
            })?;
            Either::Left(PaperFacilitator::new(EdgeKv(kv), EdgeClock, *starting_balance))
        }
        FacilitatorSetting::Http { url, timeout_ms } => {
            Either::Right(HttpFacilitator::new(url, EdgeHttp { timeout_ms: *timeout_ms }))
        }
    })
}
