//! The admin API at the edge (see the core's `admin`): auth, the ledger merged from the
//! arbiter's shards and streamed, the summary, the dashboard page, login and logout.

use std::cell::RefCell;
use std::time::Duration;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{ReadableStream, Request, Response};
use x402_edge_core::admin::{
    form_pairs, parse_page, AdminError, Cursor, Endpoint, LedgerParams, Line, Merger, Summary, PAGE, SESSION_COOKIE,
    SESSION_SECONDS,
};
use x402_edge_core::config::{Admin, Config};
use x402_edge_core::error::Failure;
use x402_edge_core::ledger::{csv_header, csv_row};

use crate::arbiter::namespace;
use crate::bindings::Env;
use crate::inbound::{read_body, Inbound};
use crate::net::{now_ms, settled, timer};
use crate::reply;

/// The dashboard page.
const DASHBOARD_HTML: &str = include_str!("../www/dashboard.html");

use x402_edge_core::once::SHARDS;

/// Lines written to the body at once.
const CHUNK_BYTES: usize = 16 * 1024;

#[wasm_bindgen(module = "/src/js/edge.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = ledgerCall)]
    fn ledger_call(namespace: &JsValue, name: &str, query: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = bodyStream)]
    fn body_stream() -> Array;
    #[wasm_bindgen(catch, js_name = streamed)]
    fn streamed(status: u16, body: &ReadableStream, headers: &str) -> Result<Response, JsValue>;
}

thread_local! {
    /// Wrong credentials per client (this isolate's view): how many in a row, and when
    /// the last was. Bounded: the oldest half is dropped when it is full.
    static FAILURES: RefCell<Vec<(String, u32, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Clients remembered for slowing down.
const MAX_CLIENTS: usize = 1024;

/// How long a client's wrong tries are remembered.
const FORGET_MS: u64 = 15 * 60 * 1000;

/// The delay before answering a wrong credential: none for the first few, then doubling
/// from 250 ms up to 8 s. Returns the client's count.
fn note_failure(client: &str) -> (u32, Duration) {
    let now = now_ms();
    let count = FAILURES.with(|f| {
        let mut f = f.borrow_mut();
        f.retain(|(_, _, t)| now.saturating_sub(*t) <= FORGET_MS);
        if f.len() >= MAX_CLIENTS {
            // The oldest half goes (the list is kept oldest first).
            f.drain(..MAX_CLIENTS / 2);
        }
        let (count, _) = match f.iter().position(|(c, _, _)| c == client) {
            Some(i) => {
                let (c, n, _) = f.remove(i);
                (n, c)
            }
            None => (0, String::new()),
        };
        f.push((client.to_string(), count + 1, now));
        count + 1
    });
    let delay = if count <= 3 { 0 } else { (250u64 << (count - 4).min(5)).min(8_000) };
    (count, Duration::from_millis(delay))
}

fn forget_failures(client: &str) {
    FAILURES.with(|f| f.borrow_mut().retain(|(c, _, _)| c != client));
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
/// gives it.
fn client_of(inbound: &Inbound) -> String {
    inbound.header("CF-Connecting-IP").unwrap_or_else(|| "unknown".into())
}

/// A wrong or missing credential: slowed down after a few, then 401.
async fn unauthorized(inbound: &Inbound) -> Result<Response, Failure> {
    let (_, delay) = note_failure(&client_of(inbound));
    if !delay.is_zero() {
        timer(delay).await;
    }
    refused(&AdminError::Unauthorized)
}

/// One admin request (`rest`: the path after `ADMIN_PATH`).
pub async fn serve(
    req: &Request,
    inbound: &Inbound,
    env: &Env,
    config: &Config,
    rest: &str,
) -> Result<Response, Failure> {
    let Some(admin) = &config.admin else { return refused(&AdminError::NotFound) };
    let endpoint = match Endpoint::of(&inbound.method, rest) {
        Ok(e) => e,
        Err(e) => return refused(&e),
    };
    let now = now_ms();
    if endpoint.guarded() {
        let authorization = inbound.header("Authorization");
        let cookie = inbound.header("Cookie");
        if !admin.token.authorizes(authorization.as_deref(), cookie.as_deref(), now / 1000) {
            return unauthorized(inbound).await;
        }
        forget_failures(&client_of(inbound));
    }
    let query = inbound.url().query;
    match endpoint {
        Endpoint::Dashboard => answer(200, "text/html; charset=utf-8", dashboard(admin), dashboard_policy()),
        Endpoint::Login => login(req, inbound, admin, now).await,
        Endpoint::Logout => answer(204, "application/json", String::new(), vec![("Set-Cookie", cookie(admin, "", 0))]),
        Endpoint::LedgerJsonl | Endpoint::LedgerCsv => {
            let params = match LedgerParams::parse(query, now) {
                Ok(p) => p,
                Err(e) => return refused(&e),
            };
            ledger(env, admin, params, endpoint == Endpoint::LedgerCsv).await
        }
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
async fn login(req: &Request, inbound: &Inbound, admin: &Admin, now: u64) -> Result<Response, Failure> {
    let body = read_body(req, inbound).await?;
    let form = String::from_utf8_lossy(&body.bytes).into_owned();
    let token = form_pairs(&form).into_iter().find(|(k, _)| k == "token").map(|(_, v)| v).unwrap_or_default();
    if !admin.token.admits(&token) {
        return unauthorized(inbound).await;
    }
    forget_failures(&client_of(inbound));
    let session = admin.token.session(now / 1000);
    answer(204, "application/json", String::new(), vec![("Set-Cookie", cookie(admin, &session, SESSION_SECONDS))])
}

/// One page of one shard, as the arbiter answers it.
async fn read_page(
    namespace: &JsValue,
    shard: u32,
    query: &x402_edge_core::ledger::Query,
) -> Result<Vec<Line>, Failure> {
    let json = x402_edge_core::codec::to_json(query);
    let answer = settled(ledger_call(namespace, &format!("shard-{shard}"), &json)).await.map_err(|e| {
        Failure::Upstream(x402_edge_core::error::UpstreamError::Store(x402_edge_core::ports::StoreError(format!(
            "ledger shard {shard}: {e}"
        ))))
    })?;
    let text = answer.as_string().unwrap_or_default();
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
}

impl<'a> Reader<'a> {
    fn new(namespace: &'a JsValue, params: &'a LedgerParams, keys: bool) -> Self {
        Self { namespace, params, keys, merger: Merger::new(SHARDS), given: 0, last: None, more: false }
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
            extra.push(("Link", format!("<{path}?{}>; rel=\"next\"", next_query(&params, &next))));
        }
    }
    let parts = body_stream();
    let readable: ReadableStream = parts.get(0).unchecked_into();
    let (write, close, abort): (Function, Function, Function) =
        (parts.get(1).unchecked_into(), parts.get(2).unchecked_into(), parts.get(3).unchecked_into());
    let content_type = if csv { "text/csv; charset=utf-8" } else { "application/x-ndjson; charset=utf-8" };
    let mut h = headers(content_type);
    h.extend(extra);
    let joined: String = h.iter().map(|(n, v)| format!("{n}\n{v}\n")).collect();
    let response = streamed(200, &readable, &joined).map_err(|e| Failure::Internal(format!("ledger body: {e:?}")))?;
    // The same read again, with the lines: written a chunk at a time as the merge goes
    // (memory: a page per shard and one chunk).
    spawn_local(async move {
        let mut chunk = if csv { csv_header() } else { String::new() };
        let mut lines = Reader::new(&ns, &params, false);
        let ok = loop {
            match lines.next().await {
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

/// The query of the next page: the same filters, the cursor.
fn next_query(p: &LedgerParams, cursor: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut q = format!("since={}&until={}&limit={}&cursor={cursor}", p.since_ms, p.until_ms, p.limit);
    if let Some(payer) = &p.payer {
        q.push_str(&format!("&payer={payer}"));
    }
    if let Some(route) = &p.route {
        q.push_str(&format!("&route={}", enc(route)));
    }
    if let Some(event) = p.event {
        q.push_str(&format!("&event={}", event.as_str()));
    }
    q
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
