//! The one decision function: given the loaded setup and a request's method, path and
//! payment headers, what happens to the request. No I/O; the async escrow (`flow`) and
//! the edge plumbing act on the [`Decision`].

use crate::config::{Config, OriginSetting, PricedRoute, Setup};
use crate::error::{Failure, PaymentError};
use crate::path::{normalise, NormalPath};
use crate::payment::PaymentHeader;
use crate::receipt::ReceiptSigner;

/// Where the public receipt key is served (JWKS).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The parts of a request the decision needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// The URL path, raw (percent-encoded as received), without the query.
    pub path: &'a str,
    /// `Access-Control-Request-Method`, on a CORS preflight.
    pub access_control_request_method: Option<&'a str>,
    /// `PAYMENT-SIGNATURE` (x402 v2).
    pub payment_signature: Option<&'a str>,
    /// `X-PAYMENT` (x402 v1).
    pub x_payment: Option<&'a str>,
}

/// What to do with a request.
#[derive(Debug)]
pub enum Decision<'c, 'r> {
    /// Not priced: pass to the origin at the normalised path.
    Free {
        /// The normalised path.
        path: NormalPath,
        /// Where to.
        origin: &'c OriginSetting,
    },
    /// Serve the receipt public key (JWKS) of this signer.
    Jwks(&'c ReceiptSigner),
    /// Answer a CORS preflight for a priced route.
    Preflight,
    /// Priced, no payment: answer 402.
    Challenge {
        /// The route.
        route: &'c PricedRoute,
        /// The normalised path (for the resource URL).
        path: NormalPath,
    },
    /// Priced, with a payment to check.
    Pay {
        /// The configuration the payment is checked under.
        config: &'c Config,
        /// The route.
        route: &'c PricedRoute,
        /// The normalised path.
        path: NormalPath,
        /// The payment header.
        header: PaymentHeader<'r>,
    },
    /// Refuse before anything else happens.
    Refuse(Failure),
}

/// Decides what happens to a request.
pub fn decide<'c, 'r>(setup: &'c Setup, req: &RequestParts<'r>) -> Decision<'c, 'r> {
    let Ok(path) = normalise(req.path) else { return Decision::Refuse(Failure::BadPath) };
    let preflight = req.method.eq_ignore_ascii_case("OPTIONS") && req.access_control_request_method.is_some();
    let method = if preflight { req.access_control_request_method.unwrap_or_default() } else { req.method };
    let config = match setup {
        Setup::Ready(config) => config,
        Setup::Broken { priced: Some(table), origin: Some(origin), .. }
            if table.find(method, path.match_key()).is_none() && path.match_key() != JWKS_PATH =>
        {
            return Decision::Free { path, origin };
        }
        Setup::Broken { .. } => return Decision::Refuse(Failure::Misconfigured),
    };
    if path.match_key() == JWKS_PATH && !preflight {
        return Decision::Jwks(&config.signer);
    }
    let Some((_, route)) = config.routes.find(method, path.match_key()) else {
        return Decision::Free { path, origin: &config.origin };
    };
    if preflight {
        return Decision::Preflight;
    }
    let header = match (req.payment_signature, req.x_payment) {
        (Some(_), Some(_)) => return Decision::Refuse(PaymentError::Malformed("ambiguous_payment_headers").into()),
        (Some(v2), None) => PaymentHeader::V2(v2),
        (None, Some(v1)) => PaymentHeader::V1(v1),
        (None, None) => return Decision::Challenge { route, path },
    };
    Decision::Pay { config, route, path, header }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    fn setup(vars: serde_json::Value) -> Setup {
        Setup::load(&vars.to_string(), Some(KEY))
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "PAY_TO": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "NETWORK": "eip155:84532",
            "ASSET": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "ASSET_NAME": "USDC", "ASSET_VERSION": "2", "ASSET_DECIMALS": "6",
            "FACILITATOR_URL": "paper",
            "ROUTES": { "GET /premium/*": { "price": "$0.01" }, "POST /api/score": { "price": "$1" } }
        })
    }

    fn kind(d: &Decision<'_, '_>) -> String {
        match d {
            Decision::Free { path, .. } => format!("free {}", path.forward()),
            Decision::Jwks(_) => "jwks".into(),
            Decision::Preflight => "preflight".into(),
            Decision::Challenge { route, .. } => format!("challenge {}", route.pattern),
            Decision::Pay { header: PaymentHeader::V2(_), .. } => "pay v2".into(),
            Decision::Pay { header: PaymentHeader::V1(_), .. } => "pay v1".into(),
            Decision::Refuse(f) => format!("refuse {}", f.reason()),
        }
    }

    #[test]
    fn decisions() {
        let ready = setup(good());
        let req = |method, path| RequestParts { method, path, ..Default::default() };
        for (parts, want) in [
            (req("GET", "/"), "free /"),
            (req("GET", "/free/a%20b"), "free /free/a%20b"),
            (req("GET", "/premium/x"), "challenge GET /premium/*"),
            (req("HEAD", "/premium/x"), "challenge GET /premium/*"),
            (req("get", "/PREMIUM/x"), "challenge GET /premium/*"),
            (req("GET", "/premium/../premium/x"), "challenge GET /premium/*"),
            (req("GET", "/%70remium/x"), "challenge GET /premium/*"),
            (req("GET", "//premium/x"), "challenge GET /premium/*"),
            (req("GET", "/free/..%2fpremium/x"), "challenge GET /premium/*"),
            (req("GET", "/premium"), "challenge GET /premium/*"),
            (req("GET", "/premium;jsessionid=1/x"), "challenge GET /premium/*"),
            (req("GET", "/free/..;/premium/x"), "challenge GET /premium/*"),
            (req("POST", "/premium/x"), "free /premium/x"),
            (req("POST", "/api/score/"), "challenge POST /api/score"),
            (req("GET", "/api/score"), "free /api/score"),
            (req("GET", "/../premium/x"), "refuse bad_path"),
            (req("GET", "/premium%00"), "refuse bad_path"),
            (req("GET", "/.well-known/jwks.json"), "jwks"),
            (RequestParts { payment_signature: Some("x"), ..req("GET", "/premium/x") }, "pay v2"),
            (RequestParts { x_payment: Some("x"), ..req("GET", "/premium/x") }, "pay v1"),
            (
                RequestParts { x_payment: Some("x"), payment_signature: Some("y"), ..req("GET", "/premium/x") },
                "refuse ambiguous_payment_headers",
            ),
            (RequestParts { payment_signature: Some("x"), ..req("GET", "/free") }, "free /free"),
            (RequestParts { access_control_request_method: Some("GET"), ..req("OPTIONS", "/premium/x") }, "preflight"),
            (RequestParts { access_control_request_method: Some("GET"), ..req("OPTIONS", "/free") }, "free /free"),
            (req("OPTIONS", "/premium/x"), "free /premium/x"),
        ] {
            assert_eq!(kind(&decide(&ready, &parts)), want, "{} {}", parts.method, parts.path);
        }
    }

    #[test]
    fn broken_config_fails_closed() {
        let mut bad_price = good();
        bad_price["PAY_TO"] = "0x123".into();
        let mut bad_routes = good();
        bad_routes["ROUTES"]["premium"] = serde_json::json!({ "price": "1" });
        let req = |path| RequestParts { method: "GET", path, ..Default::default() };
        for (setup, path, want) in [
            (setup(bad_price.clone()), "/premium/x", "refuse paywall_misconfigured"),
            (setup(bad_price.clone()), "/%70remium/x", "refuse paywall_misconfigured"),
            (setup(bad_price.clone()), "/free", "free /free"),
            (setup(bad_price), "/.well-known/jwks.json", "refuse paywall_misconfigured"),
            (setup(bad_routes.clone()), "/free", "refuse paywall_misconfigured"),
            (setup(bad_routes), "/premium/x", "refuse paywall_misconfigured"),
        ] {
            assert_eq!(kind(&decide(&setup, &req(path))), want, "{path}");
        }
    }
}
