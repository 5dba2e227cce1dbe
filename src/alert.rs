//! Alerts to the operator's webhook (`ALERT_WEBHOOK_URL`), off the response path: each is
//! posted inside `waitUntil`, under a deadline, with one retry; a failure is only logged
//! (without the URL, which may hold a secret). What raises an alert, and its body, are the
//! core's (`alert`).

use std::time::Duration;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;
use x402_edge_core::alert::{Alert, Alerts};
use x402_edge_core::ports::HttpClient;

use crate::bindings::Context;
use crate::net::{log_error, timer, EdgeHttp};

/// The deadline of one attempt.
const ATTEMPT_MS: u64 = 5_000;

/// The wait before the retry.
const RETRY_AFTER_MS: u64 = 1_000;

/// Posts alerts to a webhook after the response.
pub struct EdgeAlerts {
    url: String,
    ctx: Context,
}

impl EdgeAlerts {
    /// Alerts to `url`, kept alive by `ctx`.
    pub fn new(url: &str, ctx: &Context) -> Self {
        Self { url: url.to_string(), ctx: ctx.share() }
    }
}

impl Alerts for EdgeAlerts {
    fn raise(&self, alert: &Alert, body: String) {
        let url = self.url.clone();
        let what = format!("{} of {}", alert.reason.code(), alert.payer);
        self.ctx.wait_until(&future_to_promise(async move {
            let http = EdgeHttp { timeout_ms: ATTEMPT_MS };
            for attempt in 1..=2 {
                match http.post_json(&url, &body).await {
                    Ok(reply) if (200..300).contains(&reply.status) => break,
                    Ok(reply) => log_error(&format!("x402-edge: alert {what}: the webhook answered {}", reply.status)),
                    Err(e) => log_error(&format!("x402-edge: alert {what}: the webhook {e}")),
                }
                if attempt == 1 {
                    timer(Duration::from_millis(RETRY_AFTER_MS)).await;
                }
            }
            Ok(JsValue::UNDEFINED)
        }));
    }
}
