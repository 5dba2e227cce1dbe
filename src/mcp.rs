//! MCP endpoints at the edge (see the core's `mcp`): a `POST`'s body is read (at most
//! `BODY_SCAN_LIMIT`) and judged; calls that pass go to the server untouched, `tools/list`
//! answers come back priced, and a paid tool call runs the escrow with an origin that
//! judges the server's answer (`EdgeOrigin::for_mcp_call`).

use js_sys::Uint8Array;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};
use x402_edge_core::challenge::resource_info;
use x402_edge_core::codec::base64_encode;
use x402_edge_core::config::Config;
use x402_edge_core::error::Failure;
use x402_edge_core::flow::{Delivery, Forward, Outcome, Target};
use x402_edge_core::mcp::{self, Call, McpEndpoint};
use x402_edge_core::path::NormalPath;
use x402_edge_core::respond::Reply;
use x402_edge_core::PaymentHeader;

use crate::bindings::{Context, Env};
use crate::inbound::{read_body, Inbound, ReadBody};
use crate::origin::{self, header_pairs, Body, EdgeOrigin, Outbound, MCP_JUDGED};
use crate::reply;

/// A JSON-RPC answer the paywall makes itself (HTTP 200).
fn answer(json: String) -> Result<Response, Failure> {
    let headers = vec![("Content-Type", "application/json".to_string()), ("Cache-Control", "no-store".to_string())];
    reply::quick(&Reply { status: 200, headers, body: json }).map_err(|e| Failure::Internal(format!("{e:?}")))
}

/// The whole body of a response, with its status and headers.
async fn whole(response: &Response) -> Result<Vec<u8>, Failure> {
    let unreadable = |e| Failure::Upstream(x402_edge_core::error::UpstreamError::OriginUnavailable(format!("{e:?}")));
    let promise = response.array_buffer().map_err(unreadable)?;
    let buffer = JsFuture::from(promise).await.map_err(unreadable)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A response re-made with `body` (and `status`), its headers kept but the length and
/// the paywall's mark.
fn remade(status: u16, response_headers: &web_sys::Headers, body: &[u8]) -> Result<Response, Failure> {
    let mut headers = header_pairs(response_headers);
    headers.retain(|(n, _)| x402_edge_core::once::record::keep_header(n) && !n.eq_ignore_ascii_case(MCP_JUDGED));
    reply::rebuild(status, &headers, &[], body).map_err(|e| Failure::Internal(format!("{e:?}")))
}

/// A request other than a `POST` at `endpoint` (the event stream, a session's end): passed
/// on, without `Last-Event-ID` where tools are priced (a server that keeps its streams'
/// events would replay, to a resumed stream, a paid call's result the paywall withheld).
async fn pass_other(
    inbound: &Inbound,
    req: &Request,
    outbound: Outbound<'_>,
    strict: bool,
) -> Result<Response, Failure> {
    if !strict || inbound.header("Last-Event-ID").is_none() {
        return origin::pass_later(outbound).await;
    }
    let copy = Request::new_with_request(req).map_err(|e| Failure::Internal(format!("{e:?}")))?;
    copy.headers().delete("Last-Event-ID").map_err(|e| Failure::Internal(format!("{e:?}")))?;
    origin::pass_later(Outbound { req: &copy, ..outbound }).await
}

/// A request to `endpoint`.
pub async fn serve(
    req: &Request,
    inbound: &Inbound,
    env: &Env,
    config: &Config,
    endpoint: &McpEndpoint,
    path: &NormalPath,
    ctx: Option<&Context>,
) -> Result<Response, Failure> {
    let url = inbound.url();
    let outbound = |body| Outbound {
        req,
        url,
        method: &inbound.method,
        path: path.forward(),
        origin: &config.origin,
        secret: config.origin_secret.as_ref(),
        body,
    };
    let (content_type, encoding) = (inbound.header("Content-Type"), inbound.header("Content-Encoding"));
    // A length counts only without a chunked framing (as `read_body` reads it).
    let empty = inbound.header("Transfer-Encoding").is_none()
        && inbound.header("Content-Length").is_some_and(|n| n.trim() == "0");
    let has_body = req.body().is_some() && !empty;
    let refusal = mcp::refuses(endpoint, &inbound.method, has_body, content_type.as_deref(), encoding.as_deref());
    if let Some(refusal) = refusal {
        return Err(Failure::Request(refusal));
    }
    if !inbound.method.eq_ignore_ascii_case("POST") {
        return pass_other(inbound, req, outbound(&Body::Stream), !endpoint.tools.is_empty()).await;
    }
    let read = read_body(req, inbound).await?;
    match mcp::classify(endpoint, &read.bytes) {
        Call::Pass => origin::pass_later(outbound(&Body::Read(read))).await,
        Call::Answer(json) => answer(json),
        Call::List { id } => {
            let response = origin::pass_later(outbound(&Body::Read(read))).await?;
            let content_type = response.headers().get("Content-Type").ok().flatten().unwrap_or_default();
            if !(200..300).contains(&response.status()) {
                return Ok(response);
            }
            // Read whole, within the origin's deadline and the body limit: a list that
            // does not end, or is too large, is an error rather than a hung request.
            let Some(stream) = response.body() else { return Ok(response) };
            let deadline = std::time::Duration::from_millis(config.origin_timeout_ms);
            let limit = x402_edge_core::overrides::BODY_SCAN_LIMIT;
            let read = crate::net::in_time(crate::body::read_prefix(&stream, limit), deadline, || ()).await;
            let Some(body) = read.ok().filter(|p| p.complete).map(|p| p.bytes) else {
                return answer(mcp::error(
                    &id,
                    mcp::INTERNAL_ERROR,
                    "the server's tools/list answer did not end within the limits",
                    None,
                ));
            };
            match mcp::priced_list(endpoint, &body, &content_type, &id) {
                Some(priced) => remade(response.status(), &response.headers(), &priced),
                None => remade(response.status(), &response.headers(), &body),
            }
        }
        Call::Priced { id, tool, payment: None, name, .. } => answer(mcp::payment_required(&id, &tool, &name, None)),
        Call::Priced { id, tool, payment: Some(payment), name, forward, binding } => {
            let header = base64_encode(payment.as_bytes());
            let js = Uint8Array::from(forward.as_slice());
            let body = Body::Read(ReadBody { bytes: forward, js });
            let out = outbound(&body);
            let (audience, origin_path) = (out.audience(), out.origin_path());
            let resource = resource_info(&tool, &format!("mcp://tool/{name}"));
            let target = Target {
                route: &tool,
                resource: &resource,
                binding: &binding,
                refetchable: false,
                forward: Forward { audience: &audience, method: "POST", path: &origin_path },
            };
            let origin = EdgeOrigin::new(out, config.origin_timeout_ms)?.for_mcp_call(id.clone());
            match crate::escrow(config, env, ctx, target, PaymentHeader::V2(&header), &origin).await? {
                Outcome::Paid { response, settlement } => {
                    let (status, headers, body) = match response {
                        Delivery::Live(r) => (r.status(), header_pairs(&r.headers()), whole(&r).await?),
                        Delivery::Stored(copy) => (copy.status, copy.headers, copy.body.unwrap_or_default()),
                    };
                    let content_type = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    // Settled, so the answer goes out: with its receipts where the result is
                    // found (judging found it), as the server sent it otherwise.
                    let paid = mcp::deliver(&body, &content_type, &id, &settlement.header, &settlement.receipt)
                        .unwrap_or(body);
                    let kept: Vec<(String, String)> =
                        headers.into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case(MCP_JUDGED)).collect();
                    reply::rebuild(status, &kept, &[], &paid).map_err(|e| Failure::Internal(format!("{e:?}")))
                }
                Outcome::OriginFailed(response) => {
                    let mark = response.headers().get(MCP_JUDGED).ok().flatten();
                    let body = whole(&response).await?;
                    match mark.as_deref() {
                        // The server's own answer: passed as it came, uncharged.
                        Some("tool-error") => remade(200, &response.headers(), &body),
                        Some("asks-client") => {
                            let why = "a paid tool may not ask the client anything mid-call (sampling, elicitation, \
                                       roots, ping): the call was stopped and not charged";
                            answer(mcp::error(&id, mcp::PAYMENT_REFUSED, why, None))
                        }
                        Some(_) => {
                            answer(mcp::error(&id, mcp::INTERNAL_ERROR, "the server sent no answer to the call", None))
                        }
                        None => remade(response.status(), &response.headers(), &body),
                    }
                }
                Outcome::Refused { failure, .. } => {
                    crate::log(&failure, None);
                    answer(mcp::refusal(&id, &tool, &name, &failure))
                }
            }
        }
    }
}
