//! The admin API at the edge (see the core's `admin`): auth, the ledger merged from the
//! arbiter's shards and streamed, the summary, the dashboard page, login and logout.

use std::cell::RefCell;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{ReadableStream, Request, Response};
use x402_edge_core::admin::payers::{change_of, policy_payment, view_json, PayerAction};
use x402_edge_core::admin::{
    form_pairs, parse_page, AdminError, Cursor, Endpoint, LedgerParams, Line, Merger, Summary, PAGE, SESSION_COOKIE,
    SESSION_SECONDS,
};
use x402_edge_core::config::{Admin, Config};
use x402_edge_core::error::{Failure, UpstreamError};
use x402_edge_core::flow::STORE_TIMEOUT_MS;
use x402_edge_core::ledger::{csv_header, csv_row};

use crate::arbiter::{call_shard, namespace, EdgeArbiter};
use crate::bindings::Env;
use crate::inbound::{read_body, Inbound};
use crate::net::now_ms;
use crate::reply;

/// The dashboard page.
const DASHBOARD_HTML: &str = include_str!("../www/dashboard.html");

use x402_edge_core::once::{payer_shard, tally_row, ArbiterReply, ArbiterRequest, SHARDS};
use x402_edge_core::ports::Arbiter;
use x402_edge_core::EvmAddress;

/// Lines written to the body at once.
const CHUNK_BYTES: usize = 16 * 1024;

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    #[wasm_bindgen(js_name = bodyStream)]
    fn body_stream() -> Array;
}

/// One client's wrong credentials: how many in a row, when the last was, and until when
/// it is refused without a look at what it presents.
struct Strikes {
    client: String,
    count: u32,
    last_ms: u64,
    blocked_until_ms: u64,
}

thread_local! {
    /// Wrong credentials per client (this isolate's view), oldest first. Bounded: the oldest
    /// half is dropped when it is full.
    static FAILURES: RefCell<Vec<Strikes>> = const { RefCell::new(Vec::new()) };
}

/// Clients remembered for slowing down.
const MAX_CLIENTS: usize = 1024;

/// How long a client's wrong tries are remembered.
const FORGET_MS: u64 = 15 * 60 * 1000;

/// How long a client is refused after its `count`-th wrong credential in a row: not at
/// all for the first three, then 250 ms doubling up to 8 s.
fn block_ms(count: u32) -> u64 {
    if count <= 3 {
        0
    } else {
        (250u64 << (count - 4).min(5)).min(8_000)
    }
}

/// Notes a wrong credential from `client`.
fn note_failure(client: &str) {
    let now = now_ms();
    FAILURES.with(|f| {
        let mut f = f.borrow_mut();
        f.retain(|s| now.saturating_sub(s.last_ms) <= FORGET_MS);
        if f.len() >= MAX_CLIENTS {
            // The oldest half goes (the list is kept oldest first).
            f.drain(..MAX_CLIENTS / 2);
        }
        let count = f.iter().position(|s| s.client == client).map_or(0, |i| f.remove(i).count) + 1;
        f.push(Strikes { client: client.to_string(), count, last_ms: now, blocked_until_ms: now + block_ms(count) });
    });
}

/// Until when `client` is refused (unix ms), if it is now.
fn blocked(client: &str) -> Option<u64> {
    let now = now_ms();
    FAILURES.with(|f| f.borrow().iter().find(|s| s.client == client).map(|s| s.blocked_until_ms)).filter(|t| *t > now)
}

fn forget_failures(client: &str) {
    FAILURES.with(|f| f.borrow_mut().retain(|s| s.client != client));
}

/// The security headers every admin answer carries (no CORS: the data is credentialed).
fn headers(content_type: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", content_type.to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
        ("X-Frame-Options", "DENY".to_string()),
    ]
}

fn answer(
    status: u16,
    content_type: &str,
    body: String,
    extra: Vec<(&'static str, String)>,
) -> Result<Response, Failure> {
    let mut h = headers(content_type);
    h.extend(extra);
    reply::quick(&x402_edge_core::respond::Reply { status, headers: h, body })
        .map_err(|e| Failure::Internal(format!("admin answer: {e:?}")))
}

fn refused(e: &AdminError) -> Result<Response, Failure> {
    let extra = match e {
        AdminError::Unauthorized => vec![("WWW-Authenticate", "Bearer realm=\"x402-edge\"".to_string())],
        AdminError::MethodNotAllowed => vec![("Allow", "GET, HEAD, POST".to_string())],
        _ => Vec::new(),
    };
    answer(e.status(), "application/json", e.body(), extra)
}

/// Who is asking, for slowing down wrong credentials: the client's address as Cloudflare
/// gives it, an IPv6 address by its /64 (one host holds a whole /64).
fn client_of(inbound: &Inbound) -> String {
    let ip = inbound.header("CF-Connecting-IP").unwrap_or_else(|| "unknown".into());
    if ip.contains(':') {
        let groups: Vec<&str> = ip.split(':').take(4).collect();
        return format!("{}::/64", groups.join(":")).to_ascii_lowercase();
    }
    ip
}

/// A client refused for its wrong tries: 429 with `Retry-After`, whatever it presents.
fn too_many(until_ms: u64) -> Result<Response, Failure> {
    let seconds = until_ms.saturating_sub(now_ms()).div_ceil(1000).max(1);
    let body = r#"{"error":"admin_rate_limited"}"#.to_string();
    answer(429, "application/json", body, vec![("Retry-After", seconds.to_string())])
}

/// A wrong credential (counted: from the fourth in a row the client is refused for a
/// while), or none (not counted: a page asking whether it is logged in), then 401.
fn unauthorized(inbound: &Inbound, presented: bool) -> Result<Response, Failure> {
    if presented {
        note_failure(&client_of(inbound));
    }
    refused(&AdminError::Unauthorized)
}

/// One admin request (`rest`: the path after `ADMIN_PATH`; `None`: under it only by
/// another reading of the path, no page).
pub async fn serve(
    req: &Request,
    inbound: &Inbound,
    env: &Env,
    config: &Config,
    rest: Option<&str>,
) -> Result<Response, Failure> {
    let (Some(admin), Some(rest)) = (&config.admin, rest) else { return refused(&AdminError::NotFound) };
    let endpoint = match Endpoint::of(&inbound.method, rest) {
        Ok(e) => e,
        Err(e) => return refused(&e),
    };
    // The token and the session cookie never travel in clear text (but on loopback).
    let url = inbound.url();
    if url.scheme != "https" && !x402_edge_core::config::is_loopback(url.authority) {
        return answer(403, "application/json", r#"{"error":"admin_needs_https"}"#.into(), Vec::new());
    }
    let now = now_ms();
    if endpoint.guarded() || endpoint == Endpoint::Login {
        if let Some(until) = blocked(&client_of(inbound)) {
            return too_many(until);
        }
    }
    if endpoint.guarded() {
        let authorization = inbound.header("Authorization");
        let cookie = inbound.header("Cookie");
        if !admin.token.authorizes(&config.signer, authorization.as_deref(), cookie.as_deref(), now / 1000) {
            let presented = authorization.is_some() || cookie.as_deref().is_some_and(|c| c.contains(SESSION_COOKIE));
            return unauthorized(inbound, presented);
        }
        forget_failures(&client_of(inbound));
    }
    let query = inbound.url().query;
    match endpoint {
        Endpoint::Dashboard => answer(200, "text/html; charset=utf-8", dashboard(admin), dashboard_policy()),
        Endpoint::Login => login(req, inbound, admin, &config.signer, now).await,
        Endpoint::Logout => answer(204, "application/json", String::new(), vec![("Set-Cookie", cookie(admin, "", 0))]),
        Endpoint::LedgerJsonl | Endpoint::LedgerCsv => {
            let params = match LedgerParams::parse(query, now) {
                Ok(p) => p,
                Err(e) => return refused(&e),
            };
            ledger(env, admin, params, endpoint == Endpoint::LedgerCsv).await
        }
        Endpoint::Payer(address, action) => payer(req, inbound, env, config, address, action, now).await,
        Endpoint::Summary => {
            // A summary reads everything in its window: no limit, no cursor.
            let params = match LedgerParams::parse(query, now) {
                Ok(p) if p.cursor.is_none() => LedgerParams { limit: u32::MAX, ..p },
                Ok(_) => return refused(&AdminError::BadParameter("cursor")),
                Err(e) => return refused(&e),
            };
            summary(env, &params).await
        }
    }
}

/// A payer's view, after the operator's change when the request makes one.
async fn payer(
    req: &Request,
    inbound: &Inbound,
    env: &Env,
    config: &Config,
    address: EvmAddress,
    action: PayerAction,
    now: u64,
) -> Result<Response, Failure> {
    let body = match action {
        PayerAction::Cap => read_body(req, inbound).await?.bytes,
        _ => Vec::new(),
    };
    let change = match change_of(action, &body, &config.policy) {
        Ok(change) => change,
        Err(e) => return refused(&e),
    };
    let ledger = policy_payment(&address, change.as_ref());
    let request = ArbiterRequest::Payer { row: tally_row(&address), change, ledger, now_ms: now };
    let arbiter = EdgeArbiter::new(env, STORE_TIMEOUT_MS)?;
    let reply = arbiter.call(payer_shard(&address, SHARDS), &request).await;
    match reply.map_err(|e| Failure::Upstream(UpstreamError::Store(e)))? {
        ArbiterReply::Payer { mut tally } => {
            tally.roll(now);
            let routes = config.routes.iter().map(|(_, r)| &r.policy);
            answer(200, "application/json", view_json(&address, &tally, &config.policy, routes, now), Vec::new())
        }
        other => Err(Failure::Internal(format!("the payer's shard answered {other:?}"))),
    }
}

/// The dashboard page, told where the API is.
fn dashboard(admin: &Admin) -> String {
    DASHBOARD_HTML.replace("{{ADMIN_PATH}}", &admin.path())
}

/// The page runs only its own inline script and style, and fetches only this origin.
fn dashboard_policy() -> Vec<(&'static str, String)> {
    let csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
               img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    vec![("Content-Security-Policy", csp.to_string())]
}

/// The session cookie (`value` empty and `max_age` 0 clear it).
fn cookie(admin: &Admin, value: &str, max_age: u64) -> String {
    format!("{SESSION_COOKIE}={value}; Path={}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict", admin.path())
}

/// `POST login` with a form `token=…`: 204 with the session cookie, or 401 (slowed down).
async fn login(
    req: &Request,
    inbound: &Inbound,
    admin: &Admin,
    key: &x402_edge_core::ReceiptSigner,
    now: u64,
) -> Result<Response, Failure> {
    let body = read_body(req, inbound).await?;
    let form = String::from_utf8_lossy(&body.bytes).into_owned();
    let token = form_pairs(&form).into_iter().find(|(k, _)| k == "token").map(|(_, v)| v).unwrap_or_default();
    if !admin.token.admits(&token) {
        return unauthorized(inbound, true);
    }
    forget_failures(&client_of(inbound));
    let session = admin.token.session(key, now / 1000);
    answer(204, "application/json", String::new(), vec![("Set-Cookie", cookie(admin, &session, SESSION_SECONDS))])
}

/// One page of one shard, as the arbiter answers it.
async fn read_page(
    namespace: &JsValue,
    shard: u32,
    query: &x402_edge_core::ledger::Query,
) -> Result<Vec<Line>, Failure> {
    let json = x402_edge_core::codec::to_json(query);
    let answer = call_shard(namespace, shard, "ledger", &[json.into()], STORE_TIMEOUT_MS).await;
    let text = answer.map_err(|e| Failure::Upstream(UpstreamError::Store(e)))?.as_string().unwrap_or_default();
    parse_page(&text).map_err(|e| Failure::Internal(format!("ledger shard {shard}: {e}")))
}

/// The merged ledger, read a page per shard at a time: at most `limit` lines, in order.
struct Reader<'a> {
    namespace: &'a JsValue,
    params: &'a LedgerParams,
    /// Positions only (empty lines).
    keys: bool,
    merger: Merger,
    given: u64,
    /// The cursor of the last line given.
    last: Option<Cursor>,
    /// Whether a line beyond the limit exists (known once [`Reader::next`] said `None`).
    more: bool,
    /// The last line to give (what an earlier read of the same page ended at).
    stop: Option<Cursor>,
}

impl<'a> Reader<'a> {
    fn new(namespace: &'a JsValue, params: &'a LedgerParams, keys: bool) -> Self {
        Self { namespace, params, keys, merger: Merger::new(SHARDS), given: 0, last: None, more: false, stop: None }
    }

    /// The same read, ending at `stop` (the positions read first): a line written between
    /// the two reads neither moves the page's end nor is lost from the next page.
    fn until(mut self, stop: Cursor) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The next line, `None` at the end or at the limit.
    async fn next(&mut self) -> Result<Option<Line>, Failure> {
        while let Some((shard, from)) = self.merger.wants() {
            let mut q = match from {
                None => self.params.first_query(shard, PAGE),
                Some((time, seq)) => self.params.next_query(time, seq, PAGE),
            };
            q.keys = self.keys;
            let lines = read_page(self.namespace, shard, &q).await?;
            self.merger.feed(shard, lines, PAGE);
        }
        let Some((line, cursor)) = self.merger.take() else { return Ok(None) };
        if self.stop.is_some_and(|stop| x402_edge_core::admin::after(Some(stop), &cursor)) {
            return Ok(None);
        }
        if self.given == u64::from(self.params.limit) {
            self.more = true;
            return Ok(None);
        }
        self.given += 1;
        self.last = Some(cursor);
        Ok(Some(line))
    }
}

/// `ledger.jsonl` / `ledger.csv`: the next cursor is found first (positions only), so that
/// it can go in the headers; then the lines are streamed, a chunk at a time.
async fn ledger(env: &Env, admin: &Admin, params: LedgerParams, csv: bool) -> Result<Response, Failure> {
    let file = if csv { "ledger.csv" } else { "ledger.jsonl" };
    stream_ledger(env, params, csv, Some(&format!("{}{file}", admin.path())), Vec::new()).await
}

/// The ledger read by `params`, streamed as JSON lines (or CSV); `link`: the URL path of
/// the next page's `Link` (none: only `X402-Next-Cursor` names it); `extra` headers.
pub async fn stream_ledger(
    env: &Env,
    params: LedgerParams,
    csv: bool,
    link: Option<&str>,
    mut extra: Vec<(&'static str, String)>,
) -> Result<Response, Failure> {
    let ns = namespace(env)?;
    let mut positions = Reader::new(&ns, &params, true);
    while positions.next().await?.is_some() {}
    let (end, more) = (positions.last, positions.more);
    if let (Some(end), true) = (end, more) {
        let next = end.text();
        extra.push(("X402-Next-Cursor", next.clone()));
        if let Some(path) = link {
            extra.push(("Link", format!("<{path}?{}>; rel=\"next\"", params.next_page(&end))));
        }
    }
    let parts = body_stream();
    let readable: ReadableStream = parts.get(0).unchecked_into();
    let (write, close, abort): (Function, Function, Function) =
        (parts.get(1).unchecked_into(), parts.get(2).unchecked_into(), parts.get(3).unchecked_into());
    let content_type = if csv { "text/csv; charset=utf-8" } else { "application/x-ndjson; charset=utf-8" };
    let mut h = headers(content_type);
    h.extend(extra);
    let response =
        reply::streaming(200, &readable, &h).map_err(|e| Failure::Internal(format!("ledger body: {e:?}")))?;
    // The same read again, with the lines: written a chunk at a time as the merge goes
    // (memory: a page per shard and one chunk).
    spawn_local(async move {
        let mut chunk = if csv { csv_header() } else { String::new() };
        // Nothing in the page: the body is the header alone.
        let mut lines = end.map(|end| Reader::new(&ns, &params, false).until(end));
        let ok = loop {
            let next = match lines.as_mut() {
                Some(lines) => lines.next().await,
                None => Ok(None),
            };
            match next {
                Ok(Some(line)) if csv => chunk.push_str(&csv_row(&line.json).unwrap_or_default()),
                Ok(Some(line)) => {
                    chunk.push_str(&line.json);
                    chunk.push('\n');
                }
                Ok(None) => break chunk.is_empty() || write_text(&write, &chunk).await,
                Err(_) => break false,
            }
            if chunk.len() >= CHUNK_BYTES && !write_text(&write, &std::mem::take(&mut chunk)).await {
                break false;
            }
        };
        let _ = if ok {
            close.call0(&JsValue::UNDEFINED)
        } else {
            abort.call1(&JsValue::UNDEFINED, &JsValue::from_str("the ledger read failed"))
        };
    });
    Ok(response)
}

async fn write_text(write: &Function, text: &str) -> bool {
    match write.call1(&JsValue::UNDEFINED, &JsValue::from_str(text)) {
        Ok(p) => JsFuture::from(Promise::from(p)).await.is_ok(),
        Err(_) => false,
    }
}

/// `summary`: every event of the window folded into the totals (memory: the totals).
async fn summary(env: &Env, params: &LedgerParams) -> Result<Response, Failure> {
    let ns = namespace(env)?;
    let mut s = Summary::default();
    let mut lines = Reader::new(&ns, params, false);
    while let Some(line) = lines.next().await? {
        s.add(&line.json);
    }
    answer(200, "application/json", s.to_json(params.since_ms, params.until_ms), Vec::new())
}
