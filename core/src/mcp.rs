//! MCP tools priced at the edge: the x402 MCP transport (`specs/transports-v2/mcp.md`, the
//! tool-result binding) in front of any MCP server that speaks Streamable HTTP.
//!
//! `[vars.MCP."/mcp"]` names an endpoint and `tools` prices tool names (exact, or globs
//! with `*`), each like a route (price, description, options, policy). At the endpoint,
//! only `POST` bodies are read ([`classify`]): a `tools/call` of a priced tool is the
//! paywall's; `tools/list` passes and its answer gets each priced tool's price
//! ([`priced_list`]); everything else passes untouched. A priced call without
//! `params._meta["x402/payment"]` is answered with the payment-required tool result
//! ([`payment_required`]); with one, the payment goes through the same escrow as an HTTP
//! route, the server gets the call without the payment, its answer (JSON or an SSE
//! stream) is judged ([`judge`]: a tool error or a JSON-RPC error is not charged), and
//! the paid result carries the settlement and the receipt in its `_meta` ([`deliver`]).

pub mod sse;

use serde_json::{Map, Value};

use crate::challenge::Challenge;
use crate::codec::{base64_decode, to_json};
use crate::discovery::text::Obj;
use crate::error::{Failure, RequestError};
use crate::json::{JsonError, Reader};
use crate::path::NormalPath;
use crate::routes::PricedRoute;

/// Where a payment travels: `params._meta["x402/payment"]`.
pub const PAYMENT_META: &str = "x402/payment";
/// Where the settlement comes back: `result._meta["x402/payment-response"]`.
pub const RESPONSE_META: &str = "x402/payment-response";
/// Where the signed receipt comes back: `result._meta["x402/receipt"]`.
pub const RECEIPT_META: &str = "x402/receipt";
/// Where `tools/list` shows a priced tool's price: `tools[i]._meta["x402/price"]`.
pub const PRICE_META: &str = "x402/price";
/// The `error` of a payment-required result when no payment was sent.
pub const MISSING: &str = "payment required: send an x402 PaymentPayload in _meta[\"x402/payment\"]";

/// A tool name pattern: 1-128 of letters, digits, `_`, `-`, `.`, `/` (MCP's tool name
/// grammar, with `/` as some servers use it), and `*` for any run of them. A called name
/// may be any 1-128 printable ASCII characters (see `classify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolGlob(String);

impl ToolGlob {
    /// Parses a tool key of the configuration.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let ok = |c: char| c.is_ascii_alphanumeric() || "_-./*".contains(c);
        if text.is_empty() || text.len() > 128 || !text.chars().all(ok) {
            return Err("a tool name is 1-128 of A-Z a-z 0-9 _ - . / (and * for any run)");
        }
        Ok(Self(text.to_string()))
    }

    /// The pattern as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches (case-sensitive, as MCP tool names are).
    pub fn matches(&self, name: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = name.strip_prefix(first) else { return false };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

/// One MCP endpoint of this host.
#[derive(Debug)]
pub struct McpEndpoint {
    /// The path as configured.
    pub path: String,
    /// Its match key (lower case).
    pub key: String,
    /// The priced tools, first match wins.
    pub tools: Vec<(ToolGlob, PricedRoute)>,
}

/// The endpoint `path` is at: in every reading of the path (`/mcp;jsessionid=1` is `/mcp`
/// to a servlet container), the endpoint's own path or one under it (a server mounted at
/// `/mcp`, as an Express router is, answers `/mcp/x` too); the longest such endpoint.
pub fn endpoint_at<'e>(endpoints: &'e [McpEndpoint], path: &NormalPath) -> Option<&'e McpEndpoint> {
    endpoints.iter().filter(|e| at_or_under(&e.key, path)).max_by_key(|e| e.key.len())
}

/// Whether `path`, in any of its readings, is `key` (a match key) or a path under it.
pub fn at_or_under(key: &str, path: &NormalPath) -> bool {
    is_under(key, path.match_key()) || path.readings().iter().any(|r| is_under(key, r))
}

/// Whether the match key `path` is `key` or a path under it (`/mcp/x` under `/mcp`).
pub fn is_under(key: &str, path: &str) -> bool {
    path.strip_prefix(key.trim_end_matches('/')).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What an endpoint that prices tools refuses before it reads a request (its server could
/// read such a request as another call than the paywall does): a body on any method but
/// `POST` (a server that honours `?_method=POST`, as Hono's `methodOverride` does, runs it
/// as a call), a compressed body, or one in a charset other than UTF-8 or ASCII (the
/// SDK's Express app decodes UTF-7). `None` for an endpoint that prices nothing.
pub fn refuses(
    endpoint: &McpEndpoint,
    method: &str,
    has_body: bool,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Option<RequestError> {
    if endpoint.tools.is_empty() {
        return None;
    }
    if !method.eq_ignore_ascii_case("POST") {
        return has_body.then_some(RequestError::MethodOverride);
    }
    if crate::overrides::is_encoded(content_encoding) {
        return Some(RequestError::EncodedBody);
    }
    // The body is read as UTF-8: Latin-1 too would read its bytes otherwise.
    let unusual = crate::overrides::names_charset_but(content_type, &["utf-8", "utf8", "us-ascii", "ascii"]);
    unusual.then_some(RequestError::UnusualCharset)
}

impl McpEndpoint {
    /// The priced tool `name` is, if any: its route, named `mcp:<endpoint>#<name>`.
    pub fn tool(&self, name: &str) -> Option<PricedRoute> {
        let (_, route) = self.tools.iter().find(|(glob, _)| glob.matches(name))?;
        Some(PricedRoute { pattern: format!("mcp:{}#{name}", self.path), ..route.clone() })
    }
}

/// What to do with a `POST` to an endpoint.
#[derive(Debug)]
pub enum Call {
    /// Send it to the server as it is, and its answer back as it is.
    Pass,
    /// A `tools/list`: send it on, then price the answer ([`priced_list`]).
    List {
        /// The request's id, as JSON.
        id: String,
    },
    /// Answer this JSON-RPC text; the server is not called.
    Answer(String),
    /// A call of a priced tool.
    Priced {
        /// The request's id, as JSON.
        id: String,
        /// The tool's name.
        name: String,
        /// The tool's route.
        tool: Box<PricedRoute>,
        /// The payment, as JSON text (`None`: none was sent).
        payment: Option<String>,
        /// The request to send the server: the same, without the payment.
        forward: Vec<u8>,
        /// What the payment is bound to: the endpoint, the tool and its arguments.
        binding: String,
    },
}

/// A JSON text of bytes (read as UTF-8 text: one JSON reader in the bundle, not two).
fn parse(bytes: &[u8]) -> Option<Value> {
    serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

/// JSON-RPC's error codes used here.
pub const PARSE_ERROR: i64 = -32700;
/// The request is not a valid JSON-RPC request.
pub const INVALID_REQUEST: i64 = -32600;
/// The request's params are not what the method takes.
pub const INVALID_PARAMS: i64 = -32602;
/// The paywall could not make the answer (the server's was missing or unreadable).
pub const INTERNAL_ERROR: i64 = -32603;
/// A payment the paywall refused for a reason other than the requirements (a rate, a
/// block, a facilitator down, a payment in progress).
pub const PAYMENT_REFUSED: i64 = -32042;

/// A JSON-RPC error answer.
pub fn error(id: &str, code: i64, message: &str, data: Option<&str>) -> String {
    let error = Obj::new().raw("code", &code.to_string()).str("message", message).maybe("data", data).end();
    Obj::new().str("jsonrpc", "2.0").raw("id", id).raw("error", &error).end()
}

fn tools_call_name(request: &Map<String, Value>) -> Option<&str> {
    (request.get("method")?.as_str()? == "tools/call").then_some(())?;
    request.get("params")?.get("name")?.as_str()
}

/// A key as readers that match keys to fields without regard to case compare it (Go's
/// `encoding/json` folds `ſ` to `s` and the Kelvin sign to `k` too).
fn folded(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether a request (or each request of a batch), where it decides what is called (at its
/// top level, in `params`, in `params._meta`), names a key twice in any letter case, or
/// spells a member of the protocol (`method`, `name`, …) in another case. Readers differ
/// on which key wins (serde_json and `JSON.parse` the last, others the first) and on case
/// (Go's match keys without it), so such a body could be one call here and another at the
/// server.
fn repeats_a_key(text: &str) -> bool {
    fn object(text: &str, depth: u8) -> Result<bool, JsonError> {
        let mut reader = Reader::new(text);
        let mut seen = std::collections::BTreeSet::new();
        let mut repeated = false;
        reader.members(|r, key| {
            let raw = r.raw()?;
            let fold = folded(&key);
            let inner = (depth == 0 && fold == "params") || (depth == 1 && fold == "_meta");
            if inner && raw.trim_start().starts_with('{') && object(raw, depth + 1)? {
                repeated = true;
            }
            // A member of the protocol spelled in another case: one reader's `method`.
            let members: &[&str] = match depth {
                0 => &["jsonrpc", "id", "method", "params", "result", "error"],
                1 => &["name", "arguments", "_meta"],
                _ => &[PAYMENT_META],
            };
            repeated |= members.contains(&fold.as_str()) && fold != key;
            repeated |= !seen.insert(fold);
            Ok(())
        })?;
        Ok(repeated)
    }
    let mut reader = Reader::new(text);
    if text.trim_start().starts_with('[') {
        let mut repeated = false;
        let read = reader.array(|r| {
            let raw = r.raw()?;
            if raw.trim_start().starts_with('{') && object(raw, 0)? {
                repeated = true;
            }
            Ok(())
        });
        return read.is_ok() && repeated;
    }
    object(text, 0).unwrap_or(false)
}

/// Whether a paid call's id is one whose answer is found whatever reads it: a string, or
/// an integer a JavaScript number holds exactly (`1.0`, `1e0` or 2^53 + 1 come back
/// from a JavaScript server as another number).
fn is_exact_id(id: &Value) -> bool {
    const EXACT: u64 = 1 << 53;
    match id {
        Value::String(_) => true,
        Value::Number(n) => {
            n.as_u64().is_some_and(|n| n <= EXACT) || n.as_i64().is_some_and(|n| n.unsigned_abs() <= EXACT)
        }
        _ => false,
    }
}

/// Judges a `POST` body sent to `endpoint`.
pub fn classify(endpoint: &McpEndpoint, body: &[u8]) -> Call {
    // An endpoint that prices nothing has nothing a malformed body could hide.
    let strict = !endpoint.tools.is_empty();
    if strict && std::str::from_utf8(body).is_ok_and(repeats_a_key) {
        let why = "Invalid Request: a key given twice, or a member spelled in another case";
        return Call::Answer(error("null", INVALID_REQUEST, why, None));
    }
    let value: Value = match parse(body) {
        Some(v) => v,
        None if strict => return Call::Answer(error("null", PARSE_ERROR, "Parse error", None)),
        None => return Call::Pass,
    };
    match value {
        Value::Array(items) => batch(endpoint, items),
        value => one(endpoint, value, strict),
    }
}

/// Judges one message of a body.
fn one(endpoint: &McpEndpoint, value: Value, strict: bool) -> Call {
    let request = match value {
        Value::Object(map) => map,
        _ if strict => return Call::Answer(error("null", INVALID_REQUEST, "Invalid Request", None)),
        _ => return Call::Pass,
    };
    let id = request.get("id").map_or_else(|| "null".to_string(), to_json);
    let is_request = request.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && request.get("method").is_some_and(Value::is_string);
    let is_response = request.contains_key("result") || request.contains_key("error");
    if !is_request {
        if is_response || !strict {
            return Call::Pass;
        }
        return Call::Answer(error(&id, INVALID_REQUEST, "Invalid Request", None));
    }
    if request.get("method").and_then(Value::as_str) == Some("tools/list") && request.contains_key("id") {
        return Call::List { id };
    }
    let Some(name) = tools_call_name(&request).map(str::to_string) else {
        if request.get("method").and_then(Value::as_str) == Some("tools/call") && strict {
            return Call::Answer(error(&id, INVALID_REQUEST, "Invalid Request: params.name must be a string", None));
        }
        return Call::Pass;
    };
    // A name a server could read as another (trimmed, case- or Unicode-folded) is refused
    // before any lookup; other printable ASCII (`github:create_issue`) is a name.
    let plain = !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_graphic());
    if strict && !plain {
        let why = "Invalid params: a tool name is 1-128 printable ASCII characters, no spaces";
        return Call::Answer(error(&id, INVALID_PARAMS, why, None));
    }
    let Some(tool) = endpoint.tool(&name) else { return Call::Pass };
    if !request.get("id").is_some_and(is_exact_id) {
        let why = "Invalid Request: a paid tool call needs an id, a string or an integer of at most 2^53";
        return Call::Answer(error(&id, INVALID_REQUEST, why, None));
    }
    priced(endpoint, request, id, name, tool)
}

fn priced(
    endpoint: &McpEndpoint,
    mut request: Map<String, Value>,
    id: String,
    name: String,
    tool: PricedRoute,
) -> Call {
    let params = request.get_mut("params").and_then(Value::as_object_mut);
    let meta = params.and_then(|p| p.get_mut("_meta")).and_then(Value::as_object_mut);
    let payment = match meta.and_then(|m| m.remove(PAYMENT_META)) {
        None => None,
        Some(p @ Value::Object(_)) => Some(to_json(&p)),
        Some(_) => {
            let why = "Invalid params: _meta[\"x402/payment\"] must be a PaymentPayload object";
            return Call::Answer(error(&id, INVALID_PARAMS, why, None));
        }
    };
    if let Some(params) = request.get_mut("params").and_then(Value::as_object_mut) {
        if params.get("_meta").and_then(Value::as_object).is_some_and(Map::is_empty) {
            params.remove("_meta");
        }
    }
    let arguments = request.get("params").and_then(|p| p.get("arguments")).map_or_else(|| "null".into(), to_json);
    let digest = crate::codec::base64url_encode(&crate::crypto::sha256(arguments.as_bytes())[..18]);
    let binding = format!("POST {}#{name}?{digest}", endpoint.path);
    let forward = to_json(&Value::Object(request)).into_bytes();
    Call::Priced { id, name, tool: Box::new(tool), payment, forward, binding }
}

/// A batch: it passes unless one of its messages, judged on its own, is the paywall's (a
/// call of a priced tool, which may not be batched as each paid call is its own escrow, or
/// one the paywall would refuse): then every request in it is answered `-32600`.
fn batch(endpoint: &McpEndpoint, items: Vec<Value>) -> Call {
    let strict = !endpoint.tools.is_empty();
    if items.is_empty() {
        if !strict {
            return Call::Pass;
        }
        return Call::Answer(error("null", INVALID_REQUEST, "Invalid Request: an empty batch", None));
    }
    let ids: Vec<Option<String>> = items
        .iter()
        .map(|item| {
            (item.get("method").is_none() || item.get("id").is_some())
                .then(|| item.get("id").map_or_else(|| "null".into(), to_json))
        })
        .collect();
    let held =
        items.into_iter().any(|item| matches!(one(endpoint, item, strict), Call::Priced { .. } | Call::Answer(_)));
    if !held {
        return Call::Pass;
    }
    let why = "Invalid Request: a paid tool call may not be batched; send it on its own";
    let answers: Vec<String> = ids.into_iter().flatten().map(|id| error(&id, INVALID_REQUEST, why, None)).collect();
    if answers.is_empty() {
        // Notifications alone get no answers; the refusal is still said, once.
        return Call::Answer(error("null", INVALID_REQUEST, why, None));
    }
    Call::Answer(crate::discovery::text::array(answers))
}

/// The tool result for a priced call without an acceptable payment: `isError`, the v2
/// `PaymentRequired` as `structuredContent` and, JSON-encoded, as `content[0].text`;
/// `reason` is why a payment was refused (`None`: none was sent).
pub fn payment_required(id: &str, tool: &PricedRoute, name: &str, reason: Option<&str>) -> String {
    let challenge = Challenge::new(tool, &format!("mcp://tool/{name}"), Some(reason.unwrap_or(MISSING)));
    let required = to_json(&challenge.v2);
    let content = format!(r#"[{{"type":"text","text":{}}}]"#, to_json(&required));
    let result = Obj::new().raw("isError", "true").raw("structuredContent", &required).raw("content", &content).end();
    Obj::new().str("jsonrpc", "2.0").raw("id", id).raw("result", &result).end()
}

/// The answer to a priced call the paywall refused: the payment-required result with the
/// reason when the client may pay again, else a JSON-RPC error naming the reason (and the
/// seconds to wait, when there is a wait).
pub fn refusal(id: &str, tool: &PricedRoute, name: &str, failure: &Failure) -> String {
    let reason = failure.reason();
    if failure.wants_challenge() {
        return payment_required(id, tool, name, Some(&reason));
    }
    let wait = failure.retry_after().map(|s| s.to_string());
    let data = Obj::new()
        .str("reason", &reason)
        .raw("status", &failure.status().to_string())
        .maybe("retryAfterSeconds", wait.as_deref())
        .end();
    error(id, PAYMENT_REFUSED, &reason, Some(&data))
}

/// How the server answered a paid call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// A tool result that is not an error: worth the price.
    Result,
    /// A tool result with `isError: true`, or a JSON-RPC error: not charged.
    ToolError,
    /// No answer to the call in the body.
    Missing,
}

/// The answer to the call `id`: a response (see [`is_response`]) with that id. Judging and
/// delivering find the same message by it.
fn same_id(message: &Value, id: &Value) -> bool {
    message.get("id") == Some(id) && is_response(message)
}

/// The server's answer to the call `id` (JSON text) in `body`, an `application/json`
/// message or batch, or a `text/event-stream`.
pub fn judge(body: &[u8], content_type: &str, id: &str) -> Judged {
    let Ok(id) = serde_json::from_str::<Value>(id) else { return Judged::Missing };
    let found = if is_event_stream(content_type) {
        sse::events(body).into_iter().find_map(|e| e.message().filter(|m| same_id(m, &id)))
    } else {
        let value = parse(body);
        match value {
            Some(Value::Array(items)) => items.into_iter().find(|m| same_id(m, &id)),
            Some(m) if same_id(&m, &id) => Some(m),
            _ => None,
        }
    };
    match found {
        None => Judged::Missing,
        Some(m) if m.get("error").is_some() => Judged::ToolError,
        Some(m) if m.pointer("/result/isError") == Some(&Value::Bool(true)) => Judged::ToolError,
        Some(_) => Judged::Result,
    }
}

/// Whether a content type is `text/event-stream`.
pub fn is_event_stream(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Rewrites the answer to `id` in `body` (JSON or SSE) with `edit`; other messages and
/// events are kept as they are, in order. `None` when there is no such answer.
fn rewrite(body: &[u8], content_type: &str, id: &str, edit: impl Fn(&mut Value)) -> Option<Vec<u8>> {
    let id: Value = serde_json::from_str(id).ok()?;
    rewrite_first(body, content_type, |m| same_id(m, &id), edit)
}

/// Rewrites the first message `wanted` picks in `body` (JSON or SSE) with `edit`.
fn rewrite_first(
    body: &[u8],
    content_type: &str,
    wanted: impl Fn(&Value) -> bool,
    edit: impl Fn(&mut Value),
) -> Option<Vec<u8>> {
    if is_event_stream(content_type) {
        return sse::rewrite(body, wanted, edit);
    }
    let mut value = parse(body)?;
    match &mut value {
        Value::Array(items) => edit(items.iter_mut().find(|m| wanted(m))?),
        m if wanted(m) => edit(m),
        _ => return None,
    }
    Some(to_json(&value).into_bytes())
}

/// A JSON-RPC response (not a request the server sends the client, not a notification).
fn is_response(message: &Value) -> bool {
    message.get("id").is_some()
        && message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some())
}

/// The paid answer: the server's answer to the call (the one response in `body`: a
/// stored answer was made for the first of a payment's requests, whose id may differ) as
/// the answer to `id`, its result with `_meta["x402/payment-response"]` (the settlement,
/// from its `PAYMENT-RESPONSE` value) and `_meta["x402/receipt"]`.
pub fn deliver(body: &[u8], content_type: &str, id: &str, settlement_header: &str, receipt: &str) -> Option<Vec<u8>> {
    let settlement = parse(&base64_decode(settlement_header).ok()?)?;
    let id: Value = serde_json::from_str(id).ok()?;
    rewrite_first(body, content_type, is_response, |message| {
        if let Some(m) = message.as_object_mut() {
            m.insert("id".into(), id.clone());
        }
        let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) else { return };
        let meta = result.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(RESPONSE_META.into(), settlement.clone());
            meta.insert(RECEIPT_META.into(), Value::String(receipt.to_string()));
        }
    })
}

/// A `tools/list` answer with each priced tool's `_meta["x402/price"]` (the price, what it
/// is paid in, and every accepted option). `None` when the body holds no answer to `id`.
pub fn priced_list(endpoint: &McpEndpoint, body: &[u8], content_type: &str, id: &str) -> Option<Vec<u8>> {
    rewrite(body, content_type, id, |message| {
        let Some(tools) = message.pointer_mut("/result/tools").and_then(Value::as_array_mut) else { return };
        for tool in tools.iter_mut().filter_map(Value::as_object_mut) {
            let Some(route) = tool.get("name").and_then(Value::as_str).and_then(|n| endpoint.tool(n)) else { continue };
            let Ok(price) = serde_json::from_str::<Value>(&crate::discovery::price_info(&route)) else { continue };
            let meta = tool.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(PRICE_META.into(), price);
            }
        }
    })
}

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod tests;
