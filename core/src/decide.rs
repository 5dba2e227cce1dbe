//! The one decision function: given the loaded setup and a request's method, path,
//! host and payment headers, what happens to the request. No I/O; the async escrow
//! (`flow`) and the edge plumbing act on the [`Decision`].
//!
//! In order: the path is normalised and judged on every reading common origins give it
//! (`bad_path` when they would serve different routes); a `_method` override that would
//! change the price is refused (the edge may first have to read the body:
//! [`Decision::ReadBody`]); free routes pass; a priced route is refused for a host outside
//! `ALLOWED_HOSTS` and, in paper mode, for a host that is not loopback (unless
//! `PAPER_PUBLIC`); then it is challenged, or its payment goes to the escrow flow.

use crate::config::{Config, OriginSecret, OriginSetting, Setup};
use crate::error::{Code, Failure, PaymentError, RequestError};
use crate::overrides::{is_encoded, is_unusual_charset, mentions_method, price_may_change};
use crate::path::{normalise_target, NormalPath};
use crate::payment::PaymentHeader;
use crate::receipt::ReceiptSigner;
use crate::routes::PricedRoute;
use crate::routes::{Ambiguous, RoutePattern, RouteTable};

/// Where the public receipt key is served (JWKS).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Where a payer reads a receipt back: `{RECEIPTS_PATH}{receiptId}`.
pub const RECEIPTS_PATH: &str = "/.well-known/x402/receipts/";

/// The parts of a request the decision needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// HTTP method, exactly as the client sent it.
    pub method: &'a str,
    /// The URL path, raw (percent-encoded as received), without the query.
    pub path: &'a str,
    /// The query string, without `?` (`None` when the URL has no `?`).
    pub query: Option<&'a str>,
    /// The scheme of the request URL (`https`).
    pub scheme: &'a str,
    /// `host[:port]` of the request URL (the `Host` header).
    pub host: &'a str,
    /// `Content-Type`, `Content-Encoding` and `Cookie`: needed only where a method
    /// override could change the price, so the edge may leave them out until the decision
    /// asks for the body ([`Decision::ReadBody`]), and fill them in with it.
    pub content_type: Option<&'a str>,
    /// See [`RequestParts::content_type`].
    pub content_encoding: Option<&'a str>,
    /// See [`RequestParts::content_type`].
    pub cookie: Option<&'a str>,
    /// Whether the body may name a method override ([`mentions_method`]); `None` until
    /// the edge has read it (it does so only when asked by [`Decision::ReadBody`]).
    pub body_override: Option<bool>,
    /// `Access-Control-Request-Method`, on a CORS preflight.
    pub access_control_request_method: Option<&'a str>,
    /// `PAYMENT-SIGNATURE` (x402 v2).
    pub payment_signature: Option<&'a str>,
    /// `X-PAYMENT` (x402 v1).
    pub x_payment: Option<&'a str>,
}

impl RequestParts<'_> {
    /// Records what the edge found in a body it was asked to read.
    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.body_override = Some(mentions_method(body));
        self
    }
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
        /// Sent with it, when configured.
        secret: Option<&'c OriginSecret>,
    },
    /// An admin API request (`ADMIN_PATH`): `rest` is the path after it (`""` for the
    /// dashboard), `None` for a path under it only by another reading (no such page).
    Admin {
        /// The configuration (its admin token, and what the pages show).
        config: &'c Config,
        /// The path after `ADMIN_PATH`, lower case.
        rest: Option<String>,
    },
    /// A payer asks for a stored receipt (`id` as sent: receipt ids are case-sensitive).
    Receipt {
        /// The receipt id.
        id: String,
    },
    /// A payer asks for a nonce to sign (`GET /.well-known/x402/nonce`).
    Nonce(&'c ReceiptSigner),
    /// A payer reads its own ledger events with a signed message.
    PayerLedger(&'c Config),
    /// A discovery document (never priced; see `discovery`).
    Discovery {
        /// The configuration the document is made from.
        config: &'c Config,
        /// Which.
        doc: crate::discovery::Doc,
        /// The origin the document names (`PUBLIC_ORIGIN`, or the request's).
        origin: String,
    },
    /// A request to an MCP endpoint: a `POST`'s body decides (see `mcp`); any other method
    /// passes to the server (without `Last-Event-ID` where tools are priced: a resumed
    /// stream could replay a paid call's result that was withheld).
    Mcp {
        /// The configuration.
        config: &'c Config,
        /// The endpoint.
        endpoint: &'c crate::mcp::McpEndpoint,
        /// The normalised path.
        path: NormalPath,
    },
    /// A payer reads its paper balances (paper mode only): `address` as sent.
    PaperBalances {
        /// The configuration (its routes name the tokens).
        config: &'c Config,
        /// The last path segment.
        address: String,
    },
    /// Serve the receipt public key (JWKS) of this signer.
    Jwks(&'c ReceiptSigner),
    /// Answer a CORS preflight for a priced route.
    Preflight,
    /// Priced, no payment: answer 402.
    Challenge {
        /// The route.
        route: &'c PricedRoute,
        /// The resource's URL (public origin, normalised path, query).
        resource_url: String,
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
        /// The resource's URL (public origin, normalised path, query).
        resource_url: String,
    },
    /// A request where a `_method` field in the body would change the price: read the body
    /// (at most [`crate::overrides::BODY_SCAN_LIMIT`] bytes, else 413), then decide again
    /// with [`RequestParts::with_body`].
    ReadBody,
    /// Refuse before anything else happens.
    Refuse(Failure),
}

/// Decides what happens to a request.
pub fn decide<'c, 'r>(setup: &'c Setup, req: &RequestParts<'r>) -> Decision<'c, 'r> {
    let Ok(path) = normalise_target(req.path, req.query) else { return refuse(RequestError::BadPath) };
    let preflight = req.method.eq_ignore_ascii_case("OPTIONS") && req.access_control_request_method.is_some();
    let claimed = |admin: &Option<crate::config::Admin>| admin.as_ref().is_some_and(|a| a.claims(&path, req.path));
    let config = match setup {
        Setup::Ready(config) => config,
        // Never the origin's: a broken setup's admin paths answer 500.
        Setup::Broken { admin, .. } if claimed(admin) => return Decision::Refuse(Failure::Misconfigured(None)),
        Setup::Broken { mcp, .. } if mcp.iter().any(|p| crate::mcp::at_or_under(p, &path)) => {
            return Decision::Refuse(Failure::Misconfigured(None))
        }
        Setup::Broken { priced: Some(table), origin: Some(origin), origin_secret, .. }
            if path.match_key() != JWKS_PATH =>
        {
            return match priced_by(table, req, &path) {
                Err(_) => refuse(RequestError::BadPath),
                Ok((None, _)) => overridden(table, req, &path).unwrap_or(Decision::Free {
                    path,
                    origin,
                    secret: origin_secret.as_ref(),
                }),
                Ok((Some(_), _)) => Decision::Refuse(Failure::Misconfigured(None)),
            };
        }
        Setup::Broken { .. } => return Decision::Refuse(Failure::Misconfigured(None)),
    };
    if let Some(admin) = config.admin.as_ref().filter(|_| claimed(&config.admin)) {
        let rest = admin.rest(path.match_key()).map(str::to_string);
        return Decision::Admin { config, rest };
    }
    if let Some(doc) = config.discovery.doc_at(path.match_key()) {
        if preflight {
            return Decision::Preflight;
        }
        if !config.site.allows(req.host) {
            return refuse(RequestError::UnknownHost);
        }
        let origin = config.site.resource_url(req.scheme, req.host, "", None);
        return Decision::Discovery { config, doc, origin };
    }
    if let Some(endpoint) = crate::mcp::endpoint_at(&config.mcp, &path) {
        // A preflight is the server's where nothing is priced; a GET (the event stream)
        // or a DELETE (a session's end) passes through the endpoint's own door (see
        // `Decision::Mcp`), which refuses a body on any method but POST.
        if preflight && endpoint.tools.is_empty() {
            return Decision::Free { path, origin: &config.origin, secret: config.origin_secret.as_ref() };
        }
        if !config.site.allows(req.host) {
            return refuse(RequestError::UnknownHost);
        }
        if let Some(cause) = config.paper_refuses(req.host) {
            return Decision::Refuse(Failure::Misconfigured(Some(cause.to_string())));
        }
        return Decision::Mcp { config, endpoint, path };
    }
    if path.match_key() == crate::payer::NONCE_PATH && !preflight {
        return Decision::Nonce(&config.signer);
    }
    if path.match_key() == crate::payer::PAYMENTS_PATH && !preflight {
        return Decision::PayerLedger(config);
    }
    let paper = matches!(config.facilitator, crate::config::FacilitatorSetting::Paper { .. });
    let balances = path.match_key().strip_prefix(crate::paper::BALANCES_PATH);
    if paper && balances.is_some_and(|rest| !rest.contains('/')) && !preflight {
        let address = path.forward().rsplit('/').next().unwrap_or_default();
        return Decision::PaperBalances { config, address: address.to_string() };
    }
    if path.match_key().starts_with(RECEIPTS_PATH) && !preflight {
        let id = path.forward().rsplit('/').next().unwrap_or_default();
        return Decision::Receipt { id: id.to_string() };
    }
    if path.match_key() == JWKS_PATH && !preflight {
        return Decision::Jwks(&config.signer);
    }
    let Ok((found, preflight)) = priced_by(&config.routes, req, &path) else { return refuse(RequestError::BadPath) };
    // A preflight is checked as the OPTIONS it is: an origin may act on its body.
    if let Some(decision) = overridden(&config.routes, req, &path) {
        return decision;
    }
    let Some((_, route)) = found else {
        return Decision::Free { path, origin: &config.origin, secret: config.origin_secret.as_ref() };
    };
    if preflight {
        return Decision::Preflight;
    }
    if !config.site.allows(req.host) {
        return refuse(RequestError::UnknownHost);
    }
    if let Some(cause) = config.paper_refuses(req.host) {
        return Decision::Refuse(Failure::Misconfigured(Some(cause.to_string())));
    }
    let resource_url = config.site.resource_url(req.scheme, req.host, path.forward(), req.query);
    let header = match (req.payment_signature, req.x_payment) {
        (Some(_), Some(_)) => return Decision::Refuse(PaymentError::Malformed(Code::AmbiguousPaymentHeaders).into()),
        (Some(v2), None) => PaymentHeader::V2(v2),
        (None, Some(v1)) => PaymentHeader::V1(v1),
        (None, None) => return Decision::Challenge { route, resource_url },
    };
    Decision::Pay { config, route, path, header, resource_url }
}

/// A route found in a table, if any.
type Found<'t, T> = Option<(&'t RoutePattern, &'t T)>;

/// The route `req` is priced by, and whether it is answered as a preflight. A preflight is
/// judged by the method it asks about; when the table leaves that free, it is forwarded as
/// the `OPTIONS` it is, so it is judged as one (an Express `app.options` handler ran
/// unpaid behind a route pricing `OPTIONS`).
fn priced_by<'t, T>(
    table: &'t RouteTable<T>,
    req: &RequestParts<'_>,
    path: &NormalPath,
) -> Result<(Found<'t, T>, bool), Ambiguous> {
    let asked = req.access_control_request_method.filter(|_| req.method.eq_ignore_ascii_case("OPTIONS"));
    if let Some(method) = asked {
        if let Some(found) = table.find_path(method, path)? {
            return Ok((Some(found), true));
        }
    }
    Ok((table.find_path(req.method, path)?, false))
}

fn refuse<'c, 'r>(e: RequestError) -> Decision<'c, 'r> {
    Decision::Refuse(e.into())
}

/// The decision forced by a method override, where one could change the price (see
/// `overrides`): refused when the query, the cookie or the body may name one, or when the
/// body cannot be looked into; the body is read first when it has not been yet.
fn overridden<'c, 'r, T>(
    routes: &RouteTable<T>,
    req: &RequestParts<'_>,
    path: &NormalPath,
) -> Option<Decision<'c, 'r>> {
    if !price_may_change(routes, req.method, path) {
        return None;
    }
    // A body that cannot be looked into is refused as such, before what a look found.
    if is_encoded(req.content_encoding) {
        return Some(refuse(RequestError::EncodedBody));
    }
    if is_unusual_charset(req.content_type) {
        return Some(refuse(RequestError::UnusualCharset));
    }
    let named = |text: Option<&str>| text.is_some_and(|t| mentions_method(t.as_bytes()));
    if named(req.query) || named(req.cookie) || req.body_override == Some(true) {
        return Some(refuse(RequestError::MethodOverride));
    }
    req.body_override.is_none().then_some(Decision::ReadBody)
}

#[cfg(test)]
mod tests;
