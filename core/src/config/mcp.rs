//! `[vars.MCP]`: MCP endpoints of this host and the tools priced at each (see `mcp`).
//!
//! ```toml
//! [vars.MCP."/mcp".tools.financial_analysis]
//! price = "$0.01"
//! [vars.MCP."/mcp".tools."search_*"]
//! price = "2500"
//! ```
//! An endpoint's path is a plain path (as a document's), not one the paywall answers
//! itself or a discovery document's; each tool is read as a route (price, description,
//! mimeType, extraOptions, policy) and named `mcp:<path>#<tool>`.

use std::cell::OnceCell;

use super::raw::{mcp_tools, OrderedRoutes, RawRoute};
use super::{priced_route, Defaults};
use crate::discovery::{doc_path, Discovery, RouteDoc};
use crate::error::ConfigError;
use crate::mcp::{is_under, McpEndpoint, ToolGlob};
use crate::policy::{Policy, RawPolicy};
use crate::routes::{PricedRoute, RoutePattern, RouteTable};

/// The endpoints of `MCP`, in order.
pub(super) fn endpoints(
    raw: Option<&OrderedRoutes>,
    defaults: &Defaults,
    policy: &Policy,
    discovery: &Discovery,
    routes: &RouteTable<PricedRoute>,
    admin_path: Option<&str>,
) -> Result<Vec<McpEndpoint>, ConfigError> {
    let mut out: Vec<McpEndpoint> = Vec::new();
    for (path, body) in raw.map(|r| r.0.as_slice()).unwrap_or_default() {
        let field = format!("MCP[{path:?}]");
        let path = doc_path(path, &field)?;
        let key = path.to_ascii_lowercase();
        if out.iter().any(|e| e.key == key) {
            return Err(ConfigError::new(&field, "two endpoints at one path"));
        }
        if discovery.doc_at(&key).is_some() {
            return Err(ConfigError::new(&field, "a discovery document is served at this path"));
        }
        // Every path under the endpoint is the endpoint's: none of the paywall's own may be.
        let own = [
            crate::decide::JWKS_PATH,
            crate::decide::RECEIPTS_PATH,
            crate::payer::NONCE_PATH,
            crate::payer::PAYMENTS_PATH,
            crate::paper::BALANCES_PATH,
        ];
        let docs = discovery.paths.iter().flatten().map(String::as_str);
        if let Some(taken) = own.into_iter().chain(docs).chain(admin_path).find(|p| is_under(&key, p)) {
            return Err(ConfigError::new(&field, format!("the paywall serves {taken} under this path")));
        }
        // The endpoint is the MCP layer's for every method and every path under it: a route
        // that would price one of them (`/*` too) would be silently overruled.
        if let Some((pattern, _)) = routes.iter().find(|(p, _)| p.reaches(&key)) {
            return Err(ConfigError::new(
                &field,
                format!(
                    "the route {pattern} prices this path (or one under it) too: its tools are priced here, so leave the endpoint out of ROUTES"
                ),
            ));
        }
        if admin_path.is_some_and(|a| is_under(a, &key)) {
            return Err(ConfigError::new(&field, "the admin API is served at this path"));
        }
        let tools = mcp_tools(body.get()).map_err(|e| ConfigError::new(&field, e))?;
        let mut priced: Vec<(ToolGlob, PricedRoute)> = Vec::new();
        for (name, tool) in &tools.0 {
            let at = format!("{field}.tools[{name:?}]");
            let glob = ToolGlob::parse(name).map_err(|e| ConfigError::new(&at, e))?;
            if priced.iter().any(|(g, _)| *g == glob) {
                return Err(ConfigError::new(&at, "a tool named twice"));
            }
            let raw_tool = RawRoute::from_json(tool.get()).map_err(|e| ConfigError::new(&at, e))?;
            if raw_tool.input.is_some() || raw_tool.output.is_some() || raw_tool.discoverable.is_some() {
                return Err(ConfigError::new(
                    &at,
                    "a tool's schemas are the server's (tools/list): no input, output or discoverable here",
                ));
            }
            let scope = format!("mcp:{path}#{name}");
            let own = match &raw_tool.policy {
                Some(json) => {
                    let place = format!("{at}.policy");
                    let table = RawPolicy::from_json(json).map_err(|e| ConfigError::new(&place, e))?;
                    policy.with(&table, &place, &scope)?
                }
                None => policy.clone(),
            };
            let anchor = RoutePattern::parse("POST /").map_err(|e| ConfigError::new(&at, e))?;
            let route = priced_route(&scope, &anchor, raw_tool, defaults, &at)?;
            let doc = RouteDoc { discoverable: false, ..RouteDoc::default() };
            let route = PricedRoute { policy: own, doc, bazaar: None, template: OnceCell::new(), ..route };
            priced.push((glob, route));
        }
        out.push(McpEndpoint { path, key, tools: priced });
    }
    Ok(out)
}
