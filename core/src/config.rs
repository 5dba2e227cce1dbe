//! Configuration from the Worker's environment bindings, parsed once per isolate into
//! typed values (parse, don't validate).
//!
//! The edge layer collects the bindings named in [`VAR_NAMES`] into one JSON object
//! (wrangler `[vars]`, tables allowed) and hands it here with the `RECEIPT_SIGNING_KEY`
//! secret. Raw structs deny unknown fields; every value is converted once into a newtype,
//! so an invalid value cannot exist past [`Setup::load`].
//!
//! A bad configuration fails closed: [`Setup::Broken`] keeps the route patterns when they
//! could be read, so free routes still pass while priced ones answer 500
//! `paywall_misconfigured`; when even the patterns are unreadable, every route answers 500.

use std::cell::OnceCell;

use serde_json::value::RawValue;

use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::discovery::{Bazaar, RouteDoc, MAX_HEADER_BYTES};
use crate::error::ConfigError;
use crate::network::Network;
use crate::policy::{Policy, RawPolicy};
use crate::receipt::parse_seed;
use crate::receipt::ReceiptSigner;
use crate::requirements::PaymentOption;
use crate::routes::{PricedRoute, RoutePattern, RouteTable};

mod mcp;
mod raw;
mod site;

use raw::{BoolVar, OrderedRoutes, RawConfig, RawOption, RawRoute};

use site::{facilitator_url, split_url, webhook_url};
pub use site::{is_loopback, Site};

/// The binding names read from the environment (the secret is passed apart).
pub const VAR_NAMES: &[&str] = &[
    "PAY_TO",
    "NETWORK",
    "ASSET",
    "ASSET_NAME",
    "ASSET_VERSION",
    "ASSET_DECIMALS",
    "MAX_TIMEOUT_SECONDS",
    "FACILITATOR_URL",
    "FACILITATOR_TIMEOUT_MS",
    "PAPER_BALANCE",
    "PAPER_PUBLIC",
    "ORIGIN_URL",
    "ORIGIN_TIMEOUT_MS",
    "PUBLIC_ORIGIN",
    "ALLOWED_HOSTS",
    "LEDGER_RETENTION_DAYS",
    "ADMIN_PATH",
    "ALERT_WEBHOOK_URL",
    "ALERT_RATE_LIMITED_PER_MINUTE",
    "POLICY",
    "DISCOVERY",
    "ROUTES",
    "MCP",
];

/// The development receipt key shipped in `.dev.vars`. It is public, so it may sign only
/// paper receipts: with a real facilitator it is refused as misconfiguration.
pub const DEV_RECEIPT_SIGNING_KEY: &str = "8f1e3a5c7b9d2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a1c3e5b7d9f2a4c6e8b0d1f";

const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 60;
const DEFAULT_FACILITATOR_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_PAPER_BALANCE: &str = "$10";
/// How long ledger events are kept (days), unless `LEDGER_RETENTION_DAYS` says otherwise.
pub const DEFAULT_LEDGER_RETENTION_DAYS: u64 = 90;

/// Who verifies and settles payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacilitatorSetting {
    /// The built-in paper facilitator: real signature checks, no money moves.
    Paper {
        /// Paper balance of a payer seen for the first time (in the default asset).
        starting_balance: Amount,
        /// `PAPER_PUBLIC`: serve priced routes in paper mode on any host. Otherwise paper
        /// mode prices only requests for a loopback host in front of a loopback origin
        /// (a paper paywall deployed by accident gives nothing away).
        public: bool,
    },
    /// An x402 facilitator over HTTP.
    Http {
        /// Base URL (`https://…`, or `http://` on loopback), no trailing slash.
        url: String,
        /// Per-call timeout.
        timeout_ms: u64,
    },
}

impl FacilitatorSetting {
    /// The deadline of one facilitator call (paper mode answers in-process; its leases use
    /// the default).
    pub fn timeout_ms(&self) -> u64 {
        match self {
            Self::Http { timeout_ms, .. } => *timeout_ms,
            Self::Paper { .. } => DEFAULT_FACILITATOR_TIMEOUT_MS,
        }
    }
}

/// The secrets, passed apart from the vars (never logged, never in an error: its `Debug`
/// says only which are set).
#[derive(Clone, Copy, Default)]
pub struct Secrets<'a> {
    /// `RECEIPT_SIGNING_KEY`: the ed25519 seed that signs receipts and payment contexts.
    pub receipt_signing_key: Option<&'a str>,
    /// `ORIGIN_SECRET`: a shared value sent to the origin with every request.
    pub origin_secret: Option<&'a str>,
    /// `ADMIN_TOKEN`: enables the admin API (secret or plain var).
    pub admin_token: Option<&'a str>,
}

impl std::fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("receipt_signing_key", &self.receipt_signing_key.map(|_| ".."))
            .field("origin_secret", &self.origin_secret.map(|_| ".."))
            .field("admin_token", &self.admin_token.map(|_| ".."))
            .finish()
    }
}

impl<'a> From<Option<&'a str>> for Secrets<'a> {
    /// The receipt key alone.
    fn from(receipt_signing_key: Option<&'a str>) -> Self {
        Self { receipt_signing_key, origin_secret: None, admin_token: None }
    }
}

/// The admin API: where, and the token that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `ADMIN_PATH` as a route match key: lower case, no trailing slash (`/_x402`).
    pub base: String,
    /// `ADMIN_TOKEN`.
    pub token: crate::admin::AdminToken,
}

impl Admin {
    /// The admin path as configured, with its trailing slash (`/_x402/`).
    pub fn path(&self) -> String {
        format!("{}/", self.base)
    }

    /// What a request path (its match key) asks of the admin API: `Some("")` for the
    /// dashboard, `Some("ledger.jsonl")`…, `None` when it is not under the admin path.
    pub fn rest<'p>(&self, match_key: &'p str) -> Option<&'p str> {
        if match_key == self.base {
            return Some("");
        }
        match_key.strip_prefix(self.base.as_str())?.strip_prefix('/')
    }

    /// Whether a request is under the admin path by any reading of it: its match key, the
    /// other readings origins give it (`;parameters`, trailing dots, front controllers), or
    /// its raw path (a browser sends the session cookie to `/_x402/..%2fx`). Such a request
    /// is the admin API's, never the origin's.
    pub fn claims(&self, path: &crate::path::NormalPath, raw: &str) -> bool {
        // The raw path, compared without a lower-cased copy (every request pays for this).
        let base = self.base.as_bytes();
        let raw_under = raw.len() >= base.len()
            && raw.as_bytes()[..base.len()].eq_ignore_ascii_case(base)
            && matches!(raw.as_bytes().get(base.len()), None | Some(b'/'));
        raw_under || self.rest(path.match_key()).is_some() || path.readings().iter().any(|r| self.rest(r).is_some())
    }
}

/// `ADMIN_PATH` (default `/_x402/`) and `ADMIN_TOKEN`: the admin API, when a token is set.
fn admin(path: Option<&str>, token: Option<&str>) -> Result<Option<Admin>, ConfigError> {
    let Some(token) = token.map(crate::admin::AdminToken::parse).transpose()?.flatten() else { return Ok(None) };
    let path = path.map(str::trim).filter(|p| !p.is_empty()).unwrap_or(crate::admin::DEFAULT_ADMIN_PATH);
    let bad = |why: &str| Err(ConfigError::new("ADMIN_PATH", why));
    if !path.starts_with('/') || !path.ends_with('/') || path.len() < 3 {
        return bad("must start and end with '/' and name at least one segment, e.g. \"/_x402/\"");
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty() && *s != "." && *s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    if !segments.iter().all(plain) {
        return bad("segments of letters, digits and - . _ ~ only");
    }
    Ok(Some(Admin { base: format!("/{}", segments.join("/")).to_ascii_lowercase(), token }))
}

/// The request header the origin secret travels in.
pub const ORIGIN_SECRET_HEADER: &str = "X402-Origin-Secret";

/// `ORIGIN_SECRET`: sent as [`ORIGIN_SECRET_HEADER`] on every request to the origin, for
/// origins that can only compare a shared value. 16 to 512 visible ASCII characters (a
/// header value that no runtime rewrites); its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct OriginSecret(String);

impl OriginSecret {
    /// Shortest accepted secret (characters).
    pub const MIN_LEN: usize = 16;
    /// Longest accepted secret (characters).
    pub const MAX_LEN: usize = 512;

    /// Reads the secret; surrounding whitespace is trimmed, and an empty one is none.
    pub fn parse(text: &str) -> Result<Option<Self>, ConfigError> {
        Ok(shared_secret(text, "ORIGIN_SECRET")?.map(Self))
    }

    /// The value to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecret(..)")
    }
}

/// A shared secret's text (`ORIGIN_SECRET`, `ADMIN_TOKEN`): trimmed, none when empty,
/// else 16 to 512 visible ASCII characters. An error names `field`, never the value.
pub(crate) fn shared_secret(text: &str, field: &'static str) -> Result<Option<String>, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| Err(ConfigError::new(field, why));
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("only visible ASCII characters (no spaces or control characters)");
    }
    if text.len() < OriginSecret::MIN_LEN {
        return bad("shorter than 16 characters");
    }
    if text.len() > OriginSecret::MAX_LEN {
        return bad("longer than 512 characters");
    }
    Ok(Some(text.to_string()))
}

/// Where paid and free requests are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginSetting {
    /// The site's own origin (the Worker runs on a route in front of it).
    SameSite,
    /// A fixed base URL; the request path and query are appended.
    Url(String),
}

/// The parsed, typed configuration.
#[derive(Debug)]
pub struct Config {
    /// Priced routes; anything else is free.
    pub routes: RouteTable<PricedRoute>,
    /// Facilitator.
    pub facilitator: FacilitatorSetting,
    /// Origin.
    pub origin: OriginSetting,
    /// Sent to the origin with every request (`ORIGIN_SECRET`).
    pub origin_secret: Option<OriginSecret>,
    /// Deadline of a paid request's origin call, body included (`ORIGIN_TIMEOUT_MS`).
    pub origin_timeout_ms: u64,
    /// Public origin and allowed hosts.
    pub site: Site,
    /// Receipt signing key.
    pub signer: ReceiptSigner,
    /// How long ledger events are kept (`LEDGER_RETENTION_DAYS`, 1–3650).
    pub ledger_retention_days: u64,
    /// The admin API, when `ADMIN_TOKEN` is set.
    pub admin: Option<Admin>,
    /// Alerts, when `ALERT_WEBHOOK_URL` is set.
    pub alerts: Option<AlertSetting>,
    /// The global policy (`[vars.POLICY]`); each route holds its own effective one.
    pub policy: Policy,
    /// `DISCOVERY`: the documents' paths and the bazaar switch.
    pub discovery: crate::discovery::Discovery,
    /// `MCP`: the MCP endpoints and their priced tools.
    pub mcp: Vec<crate::mcp::McpEndpoint>,
}

/// Where alerts go (see `alert`).
#[derive(Clone, PartialEq, Eq)]
pub struct AlertSetting {
    /// `ALERT_WEBHOOK_URL` (may hold a secret: never logged).
    pub url: String,
    /// `ALERT_RATE_LIMITED_PER_MINUTE`: a payer raises an alert past this many rate-limited
    /// refusals in a minute (default 10).
    pub rate_limited_per_minute: u32,
}

impl std::fmt::Debug for AlertSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSetting")
            .field("url", &"..")
            .field("rate_limited_per_minute", &self.rate_limited_per_minute)
            .finish()
    }
}

impl Config {
    /// The priced route named `pattern` (as records and settle orders name it): a route
    /// of the table, or an MCP tool (`mcp:<endpoint>#<tool>`).
    pub fn route_named(&self, pattern: &str) -> Option<std::borrow::Cow<'_, PricedRoute>> {
        if let Some(route) = self.routes.iter().map(|(_, r)| r).find(|r| r.pattern == pattern) {
            return Some(std::borrow::Cow::Borrowed(route));
        }
        let (path, tool) = pattern.strip_prefix("mcp:")?.split_once('#')?;
        let endpoint = self.mcp.iter().find(|e| e.path == path)?;
        endpoint.tool(tool).map(std::borrow::Cow::Owned)
    }

    /// Why this request may not be priced here, if it may not: paper mode answers only on
    /// a loopback host unless `PAPER_PUBLIC` is set. The cause is for the log.
    pub fn paper_refuses(&self, host: &str) -> Option<&'static str> {
        match self.facilitator {
            FacilitatorSetting::Paper { public: false, .. } if !is_loopback(host) => Some(
                "paper mode serves priced routes only to a loopback host (127.0.0.1, localhost, [::1]); \
                 set FACILITATOR_URL to a real facilitator, or PAPER_PUBLIC = \"true\" for a public demo",
            ),
            _ => None,
        }
    }
}

/// The outcome of loading configuration: ready, or broken with what is still known.
// One per isolate, made once: boxing the larger variant would only add an indirection to
// every request's reading of it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Setup {
    /// Everything parsed.
    Ready(Config),
    /// Something is wrong. `priced` holds the route patterns if they parsed, so free
    /// routes can still pass; `None` means every request is treated as priced.
    Broken {
        /// The first problem found, for the log.
        error: ConfigError,
        /// The route patterns, when they could be read (and the origin too).
        priced: Option<RouteTable<()>>,
        /// The origin, when it could be read (free routes still go there).
        origin: Option<OriginSetting>,
        /// The origin secret (free routes still carry it).
        origin_secret: Option<OriginSecret>,
        /// The admin API when it could be read: its paths answer 500, not the origin.
        admin: Option<Admin>,
        /// The MCP endpoints' paths (lower case): they answer 500, not the origin (a
        /// priced tool call must never pass unpaid).
        mcp: Vec<String>,
    },
}

/// The defaults every route option starts from.
struct Defaults {
    pay_to: EvmAddress,
    network: Network,
    asset: EvmAddress,
    asset_name: String,
    asset_version: String,
    decimals: u8,
    max_timeout_seconds: u64,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, ConfigError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::new(field, "missing")),
    }
}

impl Setup {
    /// Parses the bindings (a JSON object of [`VAR_NAMES`]) and the secrets (the
    /// receipt key alone converts into [`Secrets`]).
    pub fn load<'s>(vars_json: &str, secrets: impl Into<Secrets<'s>>) -> Setup {
        let secrets = secrets.into();
        let broken = |error| Setup::Broken {
            error,
            priced: None,
            origin: None,
            origin_secret: None,
            admin: None,
            mcp: Vec::new(),
        };
        let raw = match RawConfig::from_json(vars_json) {
            Ok(raw) => raw,
            Err(e) => return broken(ConfigError::new("bindings", e)),
        };
        let routes = match parse_route_list(raw.ROUTES.as_ref()) {
            Ok(routes) => routes,
            Err(error) => return broken(error),
        };
        let origin = match origin(raw.ORIGIN_URL.as_deref()) {
            Ok(origin) => origin,
            Err(error) => return broken(error),
        };
        let origin_secret = match secrets.origin_secret.map(OriginSecret::parse).transpose() {
            Ok(secret) => secret.flatten(),
            Err(error) => return broken(error),
        };
        // A shared secret sent in clear text over the internet is anybody's.
        if let (Some(_), OriginSetting::Url(url)) = (&origin_secret, &origin) {
            let plain = split_url(url).is_ok_and(|(scheme, host, _)| scheme == "http" && !site::is_loopback_name(host));
            if plain {
                return broken(ConfigError::new(
                    "ORIGIN_SECRET",
                    "would be sent in clear text: ORIGIN_URL must be https:// (or a loopback http://)",
                ));
            }
        }
        let admin = match admin(raw.ADMIN_PATH.as_deref(), secrets.admin_token) {
            Ok(admin) => admin,
            Err(error) => return broken(error),
        };
        let admin_path = admin.as_ref().map(Admin::path);
        let built =
            build(&raw, &routes, origin.clone(), origin_secret.clone(), secrets.receipt_signing_key, admin_path);
        match built {
            Ok(config) => Setup::Ready(Config { admin, ..config }),
            Err(error) => {
                let priced = Some(routes.patterns());
                let mcp = raw.MCP.iter().flat_map(|m| m.0.iter()).map(|(path, _)| path.to_ascii_lowercase()).collect();
                Setup::Broken { error, priced, origin: Some(origin), origin_secret, admin, mcp }
            }
        }
    }
}

/// The route table with each route still raw: its key as written and its JSON body.
type RawRoutes<'a> = RouteTable<(&'a str, &'a RawValue)>;

fn parse_route_list(value: Option<&OrderedRoutes>) -> Result<RawRoutes<'_>, ConfigError> {
    let mut entries = Vec::new();
    for (key, body) in value.map(|o| o.0.as_slice()).unwrap_or_default() {
        let pattern = RoutePattern::parse(key).map_err(|e| ConfigError::new(format!("ROUTES[{key:?}]"), e))?;
        entries.push((pattern, (key.as_str(), &**body)));
    }
    RouteTable::new(entries).map_err(|d| ConfigError::new("ROUTES", format!("duplicate pattern {}", d.0)))
}

fn build(
    raw: &RawConfig,
    routes: &RawRoutes<'_>,
    origin: OriginSetting,
    origin_secret: Option<OriginSecret>,
    key: Option<&str>,
    admin_path: Option<String>,
) -> Result<Config, ConfigError> {
    let defaults = defaults(raw)?;
    let discovery = crate::discovery::Discovery::parse(raw.DISCOVERY.as_ref(), admin_path.as_deref())?;
    let facilitator = facilitator(raw, &defaults)?;
    if let FacilitatorSetting::Paper { public: false, .. } = facilitator {
        let local = match &origin {
            OriginSetting::Url(url) => split_url(url).is_ok_and(|(_, host, _)| site::is_loopback_name(host)),
            OriginSetting::SameSite => false,
        };
        if !local {
            return Err(ConfigError::new(
                "FACILITATOR_URL",
                "paper mode needs a loopback ORIGIN_URL (127.0.0.1, localhost, [::1]); \
                 set a real facilitator, or PAPER_PUBLIC = \"true\" for a public demo",
            ));
        }
    }
    let key = key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ConfigError::new("RECEIPT_SIGNING_KEY", "missing secret"))?;
    let seed = parse_seed(key).map_err(|e| ConfigError::new("RECEIPT_SIGNING_KEY", e))?;
    if parse_seed(DEV_RECEIPT_SIGNING_KEY) == Ok(seed) && !matches!(facilitator, FacilitatorSetting::Paper { .. }) {
        return Err(ConfigError::new(
            "RECEIPT_SIGNING_KEY",
            "the public development key may sign only paper receipts; run `wrangler secret put RECEIPT_SIGNING_KEY`",
        ));
    }
    let signer = ReceiptSigner::from_secret(key).map_err(|e| ConfigError::new("RECEIPT_SIGNING_KEY", e))?;
    let origin_timeout_ms = match &raw.ORIGIN_TIMEOUT_MS {
        Some(v) => v.parse("ORIGIN_TIMEOUT_MS")?,
        None => DEFAULT_ORIGIN_TIMEOUT_MS,
    };
    if !(100..=120_000).contains(&origin_timeout_ms) {
        return Err(ConfigError::new("ORIGIN_TIMEOUT_MS", "must be 100..=120000"));
    }
    let ledger_retention_days = match &raw.LEDGER_RETENTION_DAYS {
        Some(v) => v.parse("LEDGER_RETENTION_DAYS")?,
        None => DEFAULT_LEDGER_RETENTION_DAYS,
    };
    if !(1..=3650).contains(&ledger_retention_days) {
        return Err(ConfigError::new("LEDGER_RETENTION_DAYS", "must be 1..=3650"));
    }
    let alerts = match raw.ALERT_WEBHOOK_URL.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => {
            let url = webhook_url(url).map_err(|why| ConfigError::new("ALERT_WEBHOOK_URL", why))?;
            let n = match &raw.ALERT_RATE_LIMITED_PER_MINUTE {
                Some(v) => v.parse("ALERT_RATE_LIMITED_PER_MINUTE")?,
                None => u64::from(crate::alert::DEFAULT_RATE_LIMITED_PER_MINUTE),
            };
            let rate_limited_per_minute = u32::try_from(n)
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| ConfigError::new("ALERT_RATE_LIMITED_PER_MINUTE", "must be 1..=1000000"))?;
            Some(AlertSetting { url, rate_limited_per_minute })
        }
        None => None,
    };
    let site = Site {
        public_origin: site::public_origin(raw.PUBLIC_ORIGIN.as_deref())?,
        allowed_hosts: site::allowed_hosts(raw.ALLOWED_HOSTS.as_ref().map(|l| l.to_vec("ALLOWED_HOSTS")).transpose()?)?,
    };
    let policy = match &raw.POLICY {
        Some(json) => {
            let table = RawPolicy::from_json(json).map_err(|e| ConfigError::new("POLICY", e))?;
            Policy::base(defaults.decimals).with(&table, "POLICY", crate::policy::GLOBAL)?
        }
        None => Policy::base(defaults.decimals),
    };
    let routes = routes.try_map(|pattern, (key, body)| {
        let field = format!("ROUTES[{key:?}]");
        let raw_route = RawRoute::from_json(body.get()).map_err(|e| ConfigError::new(&field, e))?;
        let own = match &raw_route.policy {
            Some(json) => {
                let at = format!("{field}.policy");
                let table = RawPolicy::from_json(json).map_err(|e| ConfigError::new(&at, e))?;
                policy.with(&table, &at, key)?
            }
            None => policy.clone(),
        };
        let route = priced_route(key, pattern, raw_route, &defaults, &field)?;
        let bazaar = match discovery.bazaar {
            true => Bazaar::of(pattern, &route.doc, &route.mime_type).map_err(|_| {
                ConfigError::new(
                    format!("{field}.input.body"),
                    "give the body schema an `example`: catalogs validate the example against the schema, \
                     and none can be made from this one",
                )
            })?,
            false => None,
        };
        if let Some(path) = discovery.taken_by(pattern) {
            return Err(ConfigError::new(
                &field,
                format!(
                    "prices {path}, where a discovery document is served: move the document \
                     (DISCOVERY) or switch it off, or move the route"
                ),
            ));
        }
        let route = PricedRoute { policy: own, bazaar, ..route };
        if route.bazaar.is_some() {
            let probe = crate::challenge::Challenge::new(&route, "https://api.example.com/", None);
            let len = probe.header().len();
            if len > MAX_HEADER_BYTES {
                return Err(ConfigError::new(
                    format!("{field}.input"),
                    format!(
                        "with the bazaar extension the PAYMENT-REQUIRED header is {len} bytes, over {MAX_HEADER_BYTES}: \
                         shorten the schemas, or set discoverable = false"
                    ),
                ));
            }
        }
        Ok(route)
    })?;
    let mcp = mcp::endpoints(raw.MCP.as_ref(), &defaults, &policy, &discovery, &routes, admin_path.as_deref())?;
    Ok(Config {
        routes,
        facilitator,
        origin,
        origin_secret,
        origin_timeout_ms,
        site,
        signer,
        ledger_retention_days,
        admin: None,
        alerts,
        policy,
        discovery,
        mcp,
    })
}

fn defaults(raw: &RawConfig) -> Result<Defaults, ConfigError> {
    let pay_to = EvmAddress::parse(required(&raw.PAY_TO, "PAY_TO")?).map_err(|e| ConfigError::new("PAY_TO", e))?;
    let network =
        Network::parse_caip2(required(&raw.NETWORK, "NETWORK")?).map_err(|e| ConfigError::new("NETWORK", e))?;
    let asset = EvmAddress::parse(required(&raw.ASSET, "ASSET")?).map_err(|e| ConfigError::new("ASSET", e))?;
    let asset_name = required(&raw.ASSET_NAME, "ASSET_NAME")?.to_string();
    let asset_version = required(&raw.ASSET_VERSION, "ASSET_VERSION")?.to_string();
    let decimals = raw
        .ASSET_DECIMALS
        .as_ref()
        .ok_or_else(|| ConfigError::new("ASSET_DECIMALS", "missing"))?
        .parse("ASSET_DECIMALS")?;
    let decimals = u8::try_from(decimals)
        .ok()
        .filter(|d| *d <= 36)
        .ok_or_else(|| ConfigError::new("ASSET_DECIMALS", "must be 0..=36"))?;
    let max_timeout_seconds = match &raw.MAX_TIMEOUT_SECONDS {
        Some(v) => v.parse("MAX_TIMEOUT_SECONDS")?,
        None => DEFAULT_MAX_TIMEOUT_SECONDS,
    };
    if !(1..=86_400).contains(&max_timeout_seconds) {
        return Err(ConfigError::new("MAX_TIMEOUT_SECONDS", "must be 1..=86400"));
    }
    Ok(Defaults { pay_to, network, asset, asset_name, asset_version, decimals, max_timeout_seconds })
}

fn facilitator(raw: &RawConfig, defaults: &Defaults) -> Result<FacilitatorSetting, ConfigError> {
    let url = required(&raw.FACILITATOR_URL, "FACILITATOR_URL")?;
    if url == "paper" {
        let text = raw.PAPER_BALANCE.as_deref().unwrap_or(DEFAULT_PAPER_BALANCE);
        let starting_balance =
            Amount::parse_price(text, defaults.decimals).map_err(|e| ConfigError::new("PAPER_BALANCE", e))?;
        let public = BoolVar::parse(raw.PAPER_PUBLIC.as_ref(), "PAPER_PUBLIC")?;
        return Ok(FacilitatorSetting::Paper { starting_balance, public });
    }
    let url = facilitator_url(url).map_err(|why| ConfigError::new("FACILITATOR_URL", why))?;
    let timeout_ms = match &raw.FACILITATOR_TIMEOUT_MS {
        Some(v) => v.parse("FACILITATOR_TIMEOUT_MS")?,
        None => DEFAULT_FACILITATOR_TIMEOUT_MS,
    };
    if !(100..=60_000).contains(&timeout_ms) {
        return Err(ConfigError::new("FACILITATOR_TIMEOUT_MS", "must be 100..=60000"));
    }
    Ok(FacilitatorSetting::Http { url, timeout_ms })
}

fn origin(value: Option<&str>) -> Result<OriginSetting, ConfigError> {
    let url = value.map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Ok(OriginSetting::SameSite);
    }
    let (scheme, _, _) = split_url(url).map_err(|why| ConfigError::new("ORIGIN_URL", why))?;
    if scheme != "http" && scheme != "https" {
        return Err(ConfigError::new("ORIGIN_URL", "expected http:// or https://"));
    }
    Ok(OriginSetting::Url(url.trim_end_matches('/').to_string()))
}

fn priced_route(
    key: &str,
    pattern: &RoutePattern,
    raw: RawRoute,
    d: &Defaults,
    field: &str,
) -> Result<PricedRoute, ConfigError> {
    let doc = RouteDoc::parse(pattern, raw.input.as_ref(), raw.output.as_ref(), raw.discoverable, field)?;
    let main = RawOption {
        price: raw.price,
        network: None,
        asset: None,
        asset_name: None,
        asset_version: None,
        asset_decimals: None,
        pay_to: None,
    };
    let mut options = Vec::with_capacity(1 + raw.extra_options.len());
    for (i, opt) in std::iter::once(main).chain(raw.extra_options).enumerate() {
        let at = if i == 0 { format!("{field}.price") } else { format!("{field}.extraOptions[{}]", i - 1) };
        let option = payment_option(opt, d, &at)?;
        if options.iter().any(|o: &PaymentOption| o.network == option.network && o.asset == option.asset) {
            return Err(ConfigError::new(at, "two options for the same network and asset"));
        }
        options.push(option);
    }
    let text = |value: Option<String>, name: &str| match value {
        Some(v) if v.chars().any(char::is_control) => {
            Err(ConfigError::new(format!("{field}.{name}"), "control characters are not allowed"))
        }
        v => Ok(v.unwrap_or_default()),
    };
    Ok(PricedRoute {
        pattern: key.to_string(),
        description: text(raw.description, "description")?,
        mime_type: text(raw.mime_type, "mimeType")?,
        options,
        template: OnceCell::new(),
        policy: Policy::default(),
        doc,
        bazaar: None,
    })
}

fn payment_option(raw: RawOption, d: &Defaults, at: &str) -> Result<PaymentOption, ConfigError> {
    let network = match raw.network {
        Some(n) => Network::parse_caip2(&n).map_err(|e| ConfigError::new(format!("{at}.network"), e))?,
        None => d.network,
    };
    let asset = match raw.asset {
        Some(a) => EvmAddress::parse(&a).map_err(|e| ConfigError::new(format!("{at}.asset"), e))?,
        None => d.asset,
    };
    let pay_to = match raw.pay_to {
        Some(p) => EvmAddress::parse(&p).map_err(|e| ConfigError::new(format!("{at}.payTo"), e))?,
        None => d.pay_to,
    };
    let decimals = raw.asset_decimals.unwrap_or(d.decimals);
    let amount = Amount::parse_price(raw.price.trim(), decimals).map_err(|e| ConfigError::new(at, e))?;
    Ok(PaymentOption {
        network,
        asset,
        asset_name: raw.asset_name.unwrap_or_else(|| d.asset_name.clone()),
        asset_version: raw.asset_version.unwrap_or_else(|| d.asset_version.clone()),
        decimals,
        pay_to,
        amount,
        max_timeout_seconds: d.max_timeout_seconds,
    })
}

#[cfg(test)]
mod tests;
