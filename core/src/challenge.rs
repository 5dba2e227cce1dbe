//! The 402 challenge: one response that speaks x402 v2 (base64 `PaymentRequired` in the
//! `PAYMENT-REQUIRED` header) and v1 (`PaymentRequirementsResponse` as the JSON body) at
//! once, so clients of either version can pay. Browsers get the HTML paywall page
//! instead of the JSON body, with the same header.

use serde_json::Value;

use crate::codec::{base64_encode, to_json};
use crate::discovery::bazaar::params_for;
use crate::discovery::ParamSlot;
use crate::routes::PricedRoute;
use crate::x402::{Exactly, PaymentRequiredV1, PaymentRequiredV2, ResourceInfo};

/// Stand-ins for the per-request values while a template is built, JSON-escaped by serde
/// as `\u0001…`. A configured text equal to one would be split as a hole:
/// [`ChallengeTemplate::of`] checks its template and refuses such a route's.
const URL_SLOT: &str = "\u{1}url\u{1}";
const ERROR_SLOT: &str = "\u{1}error\u{1}";
/// The stand-in for the bazaar extension's path parameters (an object, per URL).
const PARAMS_SLOT: &str = "\u{1}params\u{1}";

/// A route's challenge as JSON text with holes for the two things that change per
/// request, the resource URL and the error: the requirements, checksummed addresses and
/// extensions are rendered once per isolate instead of on every 402.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeTemplate {
    v2: Vec<Piece>,
    v1: Vec<Piece>,
    /// The bazaar extension's path parameters, read from each URL.
    params: Vec<ParamSlot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Url,
    Error,
    Params,
}

impl ChallengeTemplate {
    /// The template of `route`'s challenge, if it renders what [`Challenge`] renders: a
    /// configured text holding a slot's stand-in would be split as a hole, so the template
    /// is checked against two direct renders, and refused (`None`: render each challenge
    /// directly) when either differs.
    pub fn of(route: &PricedRoute) -> Option<Self> {
        let stand_in = route.bazaar.as_ref().map(|b| b.with_params(Value::String(PARAMS_SLOT.into())));
        let c = Challenge::render(route, URL_SLOT, Some(ERROR_SLOT), stand_in);
        let params = route.bazaar.as_ref().map(|b| b.slots().to_vec()).unwrap_or_default();
        let template = Self { v2: pieces(&to_json(&c.v2)), v1: pieces(&to_json(&c.v1)), params };
        let probes = [("https://probe.invalid/a/b/c", None), ("https://probe.invalid/b?c", Some("probe_reason"))];
        probes
            .into_iter()
            .all(|(url, reason)| {
                let direct = Challenge::new(route, url, reason);
                template.header(url, reason) == direct.header() && template.body(url, reason) == direct.body()
            })
            .then_some(template)
    }

    /// The `PAYMENT-REQUIRED` header value, as [`Challenge::header`] renders it.
    pub fn header(&self, resource_url: &str, reason: Option<&str>) -> String {
        let params = (!self.params.is_empty()).then(|| to_json(&params_for(&self.params, resource_url)));
        base64_encode(fill(&self.v2, resource_url, reason.unwrap_or(V2_MISSING), params.as_deref()).as_bytes())
    }

    /// The JSON body, as [`Challenge::body`] renders it.
    pub fn body(&self, resource_url: &str, reason: Option<&str>) -> String {
        fill(&self.v1, resource_url, reason.unwrap_or(V1_MISSING), None)
    }
}

/// Splits rendered JSON at the JSON strings of the two slots.
fn pieces(json: &str) -> Vec<Piece> {
    let url = to_json(URL_SLOT);
    let error = to_json(ERROR_SLOT);
    let params = to_json(PARAMS_SLOT);
    let mut out = Vec::new();
    let mut rest = json;
    loop {
        let next = [
            (rest.find(&url), Piece::Url, url.len()),
            (rest.find(&error), Piece::Error, error.len()),
            (rest.find(&params), Piece::Params, params.len()),
        ]
        .into_iter()
        .filter_map(|(at, piece, len)| at.map(|at| (at, piece, len)))
        .min_by_key(|(at, _, _)| *at);
        let Some((at, piece, len)) = next else { break };
        out.push(Piece::Text(rest[..at].to_string()));
        out.push(piece);
        rest = &rest[at + len..];
    }
    out.push(Piece::Text(rest.to_string()));
    out
}

/// The JSON text with the slots filled: the URL and error as JSON strings, the path
/// parameters as the JSON object given.
fn fill(pieces: &[Piece], resource_url: &str, error: &str, params: Option<&str>) -> String {
    let url = to_json(resource_url);
    let error = to_json(error);
    let mut out =
        String::with_capacity(pieces.iter().map(|p| if let Piece::Text(t) = p { t.len() } else { url.len() }).sum());
    for piece in pieces {
        out.push_str(match piece {
            Piece::Text(text) => text,
            Piece::Url => &url,
            Piece::Error => &error,
            Piece::Params => params.unwrap_or("{}"),
        });
    }
    out
}

/// The v2 `error` when no payment was sent.
pub const V2_MISSING: &str = "PAYMENT-SIGNATURE header is required";
/// The v1 `error` when no payment was sent.
pub const V1_MISSING: &str = "X-PAYMENT header is required";

/// A rendered challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// The v2 requirements.
    pub v2: PaymentRequiredV2,
    /// The v1 requirements.
    pub v1: PaymentRequiredV1,
}

impl Challenge {
    /// The challenge for `route` at `resource_url`; `reason` replaces the default
    /// "header is required" error when a payment was refused.
    pub fn new(route: &PricedRoute, resource_url: &str, reason: Option<&str>) -> Self {
        let bazaar = route.bazaar.as_ref().map(|b| b.with_params(params_for(b.slots(), resource_url)));
        Self::render(route, resource_url, reason, bazaar)
    }

    /// [`Challenge::new`] with the bazaar extension given (a template's stand-in).
    fn render(route: &PricedRoute, resource_url: &str, reason: Option<&str>, bazaar: Option<Value>) -> Self {
        let resource = resource_info(route, resource_url);
        let v1_accepts = route.options.iter().filter_map(|o| o.to_v1(&resource)).collect();
        let v2 = PaymentRequiredV2 {
            x402_version: Exactly,
            error: Some(reason.unwrap_or(V2_MISSING).to_string()),
            accepts: route.options.iter().map(|o| o.to_v2()).collect(),
            resource,
            extensions: Some(extensions(bazaar)),
        };
        let v1 = PaymentRequiredV1 {
            x402_version: Exactly,
            error: reason.unwrap_or(V1_MISSING).to_string(),
            accepts: v1_accepts,
        };
        Self { v2, v1 }
    }

    /// The `PAYMENT-REQUIRED` header value: standard base64 of the v2 JSON.
    pub fn header(&self) -> String {
        base64_encode(to_json(&self.v2).as_bytes())
    }

    /// The JSON body (v1).
    pub fn body(&self) -> String {
        to_json(&self.v1)
    }
}

/// The extensions advertised in a v2 challenge: `payment-identifier` (optional client
/// idempotency ids) in every one, and the route's `bazaar` (discovery) when it has one.
pub fn extensions(bazaar: Option<Value>) -> serde_json::Map<String, serde_json::Value> {
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "required": { "type": "boolean" },
            "id": { "type": "string", "minLength": 16, "maxLength": 128, "pattern": "^[A-Za-z0-9_-]+$" }
        },
        "required": ["required"]
    });
    let mut map = serde_json::Map::new();
    if let Some(bazaar) = bazaar {
        map.insert("bazaar".to_string(), bazaar);
    }
    map.insert(
        crate::payment::PAYMENT_IDENTIFIER.to_string(),
        serde_json::json!({ "info": { "required": false }, "schema": schema }),
    );
    map
}

/// The v2 `ResourceInfo` of a route at a URL.
pub fn resource_info(route: &PricedRoute, resource_url: &str) -> ResourceInfo {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    ResourceInfo {
        url: resource_url.to_string(),
        description: non_empty(&route.description),
        mime_type: non_empty(&route.mime_type),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::codec::base64_decode;
    use crate::payment::tests::spec_option;

    fn spec_route() -> PricedRoute {
        PricedRoute {
            pattern: "GET /premium-data".into(),
            description: "Access to premium market data".into(),
            mime_type: "application/json".into(),
            options: vec![spec_option()],
            template: Default::default(),
            policy: Default::default(),
            doc: Default::default(),
            bazaar: None,
        }
    }

    /// The `PAYMENT-REQUIRED` example of specs/transports-v2/http.md.
    const SPEC_PAYMENT_REQUIRED: &str = "eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQQVlNRU5ULVNJR05BVFVSRSBoZWFkZXIgaXMgcmVxdWlyZWQiLCJyZXNvdXJjZSI6eyJ1cmwiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9wcmVtaXVtLWRhdGEiLCJkZXNjcmlwdGlvbiI6IkFjY2VzcyB0byBwcmVtaXVtIG1hcmtldCBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAwIiwiYXNzZXQiOiIweDAzNkNiRDUzODQyYzU0MjY2MzRlNzkyOTU0MWVDMjMxOGYzZENGN2UiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsIm1heFRpbWVvdXRTZWNvbmRzIjo2MCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19";

    /// The v1 example of specs/x402-specification-v1.md §5.1.1.
    const SPEC_V1_BODY: &str = r#"{
      "x402Version": 1,
      "error": "X-PAYMENT header is required",
      "accepts": [{
        "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "10000",
        "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "resource": "https://api.example.com/premium-data",
        "description": "Access to premium market data", "mimeType": "application/json",
        "outputSchema": null, "maxTimeoutSeconds": 60,
        "extra": { "name": "USDC", "version": "2" }
      }]
    }"#;

    #[test]
    fn v2_header_is_the_spec_example_byte_for_byte() {
        let mut c = Challenge::new(&spec_route(), "https://api.example.com/premium-data", None);
        assert!(c.v2.extensions.as_ref().unwrap().contains_key("payment-identifier"));
        // The spec's example advertises no extensions; ours adds payment-identifier.
        c.v2.extensions = None;
        assert_eq!(c.header(), SPEC_PAYMENT_REQUIRED);
        let parsed: PaymentRequiredV2 = serde_json::from_slice(&base64_decode(&c.header()).unwrap()).unwrap();
        assert_eq!(parsed, c.v2);
    }

    #[test]
    fn v1_body_equals_the_spec_example() {
        let c = Challenge::new(&spec_route(), "https://api.example.com/premium-data", None);
        let mut want: Value = serde_json::from_str(SPEC_V1_BODY).unwrap();
        // The one deliberate difference: a null outputSchema is left out (x402-fetch 1.2
        // refuses null there).
        assert_eq!(want["accepts"][0].as_object_mut().unwrap().remove("outputSchema"), Some(Value::Null));
        let got: Value = serde_json::from_str(&c.body()).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn templates_render_what_the_challenge_renders() {
        let mut route = spec_route();
        let mut base = spec_option();
        base.network = crate::network::Network { chain_id: 8453 };
        route.options.push(base);
        route.description = "quotes \" and \\ and </script> and \u{1}".into();
        let template = ChallengeTemplate::of(&route).unwrap();
        for url in ["https://api.example.com/premium-data", "https://x.test/p?a=\"b\"&c=\\", "http://h/\u{1}url\u{1}"] {
            for reason in [None, Some("insufficient_funds"), Some("quote \" in reason")] {
                let c = Challenge::new(&route, url, reason);
                assert_eq!(template.header(url, reason), c.header(), "{url} {reason:?}");
                assert_eq!(template.body(url, reason), c.body(), "{url} {reason:?}");
            }
        }
    }

    #[test]
    fn a_configured_text_holding_a_slot_is_rendered_directly() {
        // An asset name, version or description holding a slot's stand-in would be split
        // as a hole: such a route gets no template, and its 402s are rendered directly.
        for edit in [
            (|r: &mut PricedRoute| r.options[0].asset_name = URL_SLOT.into()) as fn(&mut PricedRoute),
            |r| r.options[0].asset_version = ERROR_SLOT.into(),
            |r| r.description = URL_SLOT.into(),
        ] {
            let mut route = spec_route();
            edit(&mut route);
            assert!(ChallengeTemplate::of(&route).is_none());
            let url = "https://x.test/p";
            let reply = crate::respond::challenge(&route, url, None, None);
            assert_eq!(reply.body, Challenge::new(&route, url, None).body());
        }
        assert!(ChallengeTemplate::of(&spec_route()).is_some(), "an ordinary route has one");
    }

    #[test]
    fn a_refusal_reason_replaces_the_default_error() {
        let c = Challenge::new(&spec_route(), "https://x.test/p", Some("insufficient_funds"));
        assert_eq!(c.v2.error.as_deref(), Some("insufficient_funds"));
        assert_eq!(c.v1.error, "insufficient_funds");
    }

    #[test]
    fn options_without_a_v1_name_are_left_out_of_v1_only() {
        let mut route = spec_route();
        let mut local = spec_option();
        local.network = crate::network::Network { chain_id: 31_337 };
        route.options.push(local);
        let c = Challenge::new(&route, "https://x.test/p", None);
        assert_eq!(c.v2.accepts.len(), 2);
        assert_eq!(c.v1.accepts.len(), 1);
    }
}
