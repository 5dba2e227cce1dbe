// MCP on both sides of the paywall, for the MCP tests (issue 12). The server is a real MCP
// server from `@modelcontextprotocol/sdk` (McpServer over the Streamable HTTP transport,
// stateful sessions) on 127.0.0.1; the client is the SDK's Client pointed at the Worker, and
// it pays the way the x402 MCP transport says: the PaymentRequired from the tool result,
// a PaymentPayload made by the official `@x402/core` client with the `@x402/evm` exact scheme,
// sent back in `params._meta["x402/payment"]`. Raw helpers speak JSON-RPC over plain HTTP for
// what the SDK would never send (malformed bodies, batches) and to read SSE event by event.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { x402Client } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { z } from "zod";
import { startServer } from "./servers.mjs";

/** The MCP protocol version the raw helpers speak. */
export const PROTOCOL_VERSION = "2025-06-18";
/** What an MCP client must accept on a POST (the transport spec). */
export const ACCEPT = "application/json, text/event-stream";
/** A header the test server adds to every answer (to see headers pass back unchanged). */
export const SERVER_HEADER = "x-mcp-test-server";
/** The `_meta` the free tool `echo` declares of its own (tools/list must keep it as is). */
export const ECHO_META = { "test/own": { kept: true } };
/** Per-request bound for SDK calls: a lost answer fails the test instead of hanging it. */
export const REQUEST = { timeout: 8_000 };

/** The text `financial_analysis` answers for its `n`-th call (a rerun would differ). */
export const analysisText = (ticker, n) => `Financial analysis for ${ticker}: strong fundamentals (run ${n})`;
/** The text `broken` answers, with `isError: true`. */
export const BROKEN_TEXT = "the tool failed on purpose";

/**
 * Sends `notes` log notifications (`notifications/message`), each followed by a progress
 * notification when the caller asked for progress, before a tool answers: on an SSE answer
 * they come before the result, on the request's own stream.
 */
async function chatter(extra, notes, tool) {
  const token = extra._meta?.progressToken;
  for (let i = 1; i <= notes; i++) {
    await extra.sendNotification({
      method: "notifications/message",
      params: { level: "info", logger: tool, data: `${tool} note ${i} of ${notes}` },
    });
    if (token !== undefined) {
      await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: i, total: notes } });
    }
  }
}

/** Registers the test tools on `server`, recording each execution into `executions`. */
function registerTools(server, executions) {
  const run = (name, fn) => async (args, extra) => {
    executions.push({ name, args, meta: extra._meta ?? null, sessionId: extra.sessionId, requestId: extra.requestId });
    await chatter(extra, args.notes ?? 0, name);
    return fn(args, executions.filter((e) => e.name === name).length);
  };
  const notes = z.number().int().min(0).max(20).optional().describe("log/progress notifications to send before the result");
  server.registerTool(
    "financial_analysis",
    { description: "Financial analysis of a ticker (priced at the edge)", inputSchema: { ticker: z.string(), notes } },
    run("financial_analysis", ({ ticker }, n) => ({ content: [{ type: "text", text: analysisText(ticker, n) }] })),
  );
  server.registerTool(
    "search_docs",
    { description: "Search the docs (priced by the glob search_*)", inputSchema: { query: z.string(), notes } },
    run("search_docs", ({ query }, n) => ({ content: [{ type: "text", text: `results for ${query} (run ${n})` }] })),
  );
  server.registerTool(
    "echo",
    { description: "Echo the text back (free)", inputSchema: { text: z.string(), notes }, _meta: ECHO_META },
    run("echo", ({ text }) => ({ content: [{ type: "text", text }] })),
  );
  server.registerTool(
    "broken",
    { description: "A priced tool that always fails", inputSchema: { notes } },
    run("broken", () => ({ isError: true, content: [{ type: "text", text: BROKEN_TEXT }] })),
  );
  server.registerResource("readme", "doc://readme", { mimeType: "text/plain" }, async (uri) => ({
    contents: [{ uri: uri.href, text: "the free readme" }],
  }));
}

function jsonRpcError(res, status, code, message) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }));
}

const isInitialize = (msg) => (Array.isArray(msg) ? msg : [msg]).some((m) => m?.method === "initialize");

/**
 * Starts a real MCP server on 127.0.0.1 serving `path` (default `/mcp`), stateful (one
 * session, with its own McpServer and transport, per `initialize`). `json: true` answers
 * POSTs with `application/json` (`enableJsonResponse`), `json: false` with
 * `text/event-stream` (SSE; then tool notifications come before the result).
 * Returns startServer's handle (`url`, `calls`: every HTTP request as received, body as text)
 * plus `mode`, `executions` (every tool run: `{name, args, meta, sessionId, requestId}`,
 * `meta` = the request's `_meta` as the server saw it), `count(name)` (runs of a tool),
 * `sessions()` (open session ids), `closed` (ids of sessions ended by DELETE).
 */
export async function startMcpServer({ json = false, path = "/mcp" } = {}) {
  const executions = [];
  const transports = new Map();
  const closed = [];
  const srv = await startServer(async (req, res, call) => {
    res.setHeader(SERVER_HEADER, json ? "json" : "sse");
    if (new URL(call.path, "http://x").pathname !== path) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not an MCP endpoint");
      return;
    }
    const sessionId = req.headers["mcp-session-id"];
    let body;
    if (req.method === "POST") {
      try {
        body = JSON.parse(call.body);
      } catch {
        jsonRpcError(res, 400, -32700, "Parse error (test server)");
        return;
      }
    }
    let transport = sessionId === undefined ? undefined : transports.get(sessionId);
    if (sessionId !== undefined && !transport) {
      jsonRpcError(res, 404, -32001, "Session not found (test server)");
      return;
    }
    if (!transport) {
      if (req.method !== "POST" || !isInitialize(body)) {
        jsonRpcError(res, 400, -32000, "Bad Request: no session (test server)");
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        onsessioninitialized: (id) => transports.set(id, transport),
        onsessionclosed: (id) => {
          transports.delete(id);
          closed.push(id);
        },
      });
      const server = new McpServer({ name: "x402-edge-test-mcp", version: "1.0.0" }, { capabilities: { logging: {} } });
      registerTools(server, executions);
      await server.connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  const closeServer = srv.close;
  return Object.assign(srv, {
    mode: json ? "json" : "sse",
    path,
    executions,
    closed,
    sessions() {
      return [...transports.keys()];
    },
    count(name) {
      return executions.filter((e) => e.name === name).length;
    },
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {});
      transports.clear();
      return closeServer();
    },
  });
}

/** Worker vars for an MCP endpoint: `MCP` as issue 12 configures it (tools priced by name and glob). */
export const MCP_VARS = {
  MCP: {
    "/mcp": {
      tools: {
        financial_analysis: { price: "$0.01", description: "Deep financial analysis" },
        "search_*": { price: "2500" },
        broken: { price: "$0.01", description: "Always fails" },
      },
    },
  },
};

/**
 * The SDK's MCP Client over the Streamable HTTP client transport, connected (initialized)
 * to the Worker `worker` (startWorker) at `path` over real HTTP on 127.0.0.1. Returns
 * `{ client, transport, seen, events, close() }`: `seen` records each HTTP exchange
 * (`{method, status, sent, got}` with request and response headers, lowercase), `events`
 * the notifications received, in order (`{kind: "log", data}` and `{kind: "progress", progress}`
 * when a call passes `onprogress: progressInto(events)`).
 */
export async function connectMcp(worker, { path = "/mcp" } = {}) {
  const base = (await worker.mf.ready).origin;
  const seen = [];
  const fetchLike = async (url, init = {}) => {
    const res = await fetch(url, init);
    seen.push({
      method: init.method ?? "GET",
      status: res.status,
      sent: Object.fromEntries(new Headers(init.headers)),
      got: Object.fromEntries(res.headers),
    });
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(path, base), { fetch: fetchLike });
  const client = new Client({ name: "x402-edge-mcp-tests", version: "1.0.0" }, { capabilities: {} });
  const events = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    events.push({ kind: "log", data: n.params.data });
  });
  await client.connect(transport, REQUEST);
  return {
    client,
    transport,
    seen,
    events,
    async close() {
      await client.close().catch(() => {});
    },
  };
}

/** An `onprogress` callback for SDK requests that appends progress to `events` (as connectMcp's). */
export function progressInto(events) {
  return (p) => events.push({ kind: "progress", progress: p.progress, total: p.total });
}

/**
 * The PaymentRequired of a tool result, read as the MCP transport spec tells clients to:
 * `structuredContent` when it has `x402Version` and `accepts`, else `content[0].text` as JSON.
 * Returns undefined when the result carries none.
 */
export function paymentRequiredOf(result) {
  const sc = result?.structuredContent;
  if (sc && sc.x402Version !== undefined && Array.isArray(sc.accepts)) return sc;
  try {
    const parsed = JSON.parse(result?.content?.[0]?.text);
    if (parsed && parsed.x402Version !== undefined && Array.isArray(parsed.accepts)) return parsed;
  } catch {
    // not JSON: no PaymentRequired
  }
  return undefined;
}

/**
 * A payer with the official x402 v2 client (`x402Client` from `@x402/core/client`, the
 * `@x402/evm` exact scheme registered for `account`). `allowedAssets` opts in tokens that are
 * not well known (the interop TestUSDC), as the client's spend controls require.
 * `payload(paymentRequired)` → the PaymentPayload object for its first acceptable requirement.
 */
export function mcpPayer(account, { allowedAssets } = {}) {
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: account });
  if (allowedAssets) client.setSpendControls({ allowedAssets });
  return {
    account,
    payload: (paymentRequired) => client.createPaymentPayload(paymentRequired),
  };
}

/**
 * Calls tool `name` with `args` through `mcp` (connectMcp) without payment, asserts the
 * payment-required result, pays it with `payer` (mcpPayer) and calls again with
 * `_meta: {"x402/payment": payload}`. `tamper(required)` may change the PaymentRequired
 * before the client pays it (e.g. a lower amount); `meta` adds to the paid call's `_meta`;
 * `options` go to the paid callTool (e.g. `onprogress`).
 * Returns `{ challenge, required, payload, result, again(options) }`: `again` sends the very
 * same paid call once more.
 */
export async function callPaid(mcp, payer, name, args, { tamper, meta = {}, options = {} } = {}) {
  const challenge = await mcp.client.callTool({ name, arguments: args }, undefined, REQUEST);
  const required = paymentRequiredOf(challenge);
  assert.ok(required, `${name} without payment: want a payment-required result, got ${JSON.stringify(challenge).slice(0, 400)}`);
  assert.equal(challenge.isError, true, `${name}: the payment-required result has isError`);
  const toPay = tamper ? tamper(structuredClone(required)) : required;
  const payload = await payer.payload(toPay);
  const params = { name, arguments: args, _meta: { ...meta, "x402/payment": payload } };
  const again = (opts = options) => mcp.client.callTool(params, undefined, { ...REQUEST, ...opts });
  const result = await again();
  return { challenge, required, payload, result, again };
}

/** Parses a `text/event-stream` body into `[{event, id, data}]` (data lines joined by "\n"). */
export function parseSse(text) {
  const events = [];
  for (const block of text.replace(/\r\n?/g, "\n").split("\n\n")) {
    if (!block.trim()) continue;
    const ev = { event: "message", id: undefined, data: [] };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (field === "data") ev.data.push(value);
      else if (field === "event") ev.event = value;
      else if (field === "id") ev.id = value;
    }
    if (ev.data.length > 0) events.push({ ...ev, data: ev.data.join("\n") });
  }
  return events;
}

/**
 * Reads an MCP HTTP answer: `{status, headers, type, body, messages}` where `messages` are
 * the JSON-RPC messages it carries, in order (a JSON body: the object, or the array's items;
 * SSE: each event's data that is JSON; empty data such as priming events is skipped), and
 * `json` the parsed JSON body (JSON answers only).
 */
export async function readMcpAnswer(res) {
  const body = await res.text();
  const type = (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const out = { status: res.status, headers: Object.fromEntries(res.headers), type, body, messages: [], json: undefined };
  if (type === "text/event-stream") {
    for (const ev of parseSse(body)) {
      if (!ev.data.trim()) continue;
      out.messages.push(JSON.parse(ev.data));
    }
  } else if (type === "application/json" && body) {
    out.json = JSON.parse(body);
    out.messages = Array.isArray(out.json) ? out.json : [out.json];
  }
  return out;
}

/**
 * Raw JSON-RPC over HTTP to the Worker `worker` at `path` (no SDK), through `worker.fetch`,
 * with the headers of a session when `sessionId` is given (and `protocolVersion`).
 * `post(body, headers)` POSTs a body (a string as is, anything else as JSON) → readMcpAnswer;
 * `call(method, params, id)` sends a request.
 */
export function rawPoster(worker, { path = "/mcp", sessionId, protocolVersion = PROTOCOL_VERSION } = {}) {
  const headers = { "content-type": "application/json", accept: ACCEPT };
  if (sessionId !== undefined) Object.assign(headers, { "mcp-session-id": sessionId, "mcp-protocol-version": protocolVersion });
  let next = 0;
  const post = async (body, extra = {}) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return readMcpAnswer(await worker.fetch(path, { method: "POST", headers: { ...headers, ...extra }, body: text }));
  };
  return {
    sessionId,
    headers,
    post,
    call(method, params, id = `raw-${++next}`) {
      return post({ jsonrpc: "2.0", id, method, params });
    },
  };
}

/**
 * A raw MCP session (rawPoster) of its own: sends `initialize` and
 * `notifications/initialized` through the Worker and keeps the Mcp-Session-Id. Returns
 * rawPoster's handle plus `init` (the initialize answer).
 */
export async function rawSession(worker, { path = "/mcp" } = {}) {
  const bare = rawPoster(worker, { path });
  const init = await bare.call("initialize", {
    protocolVersion: PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "raw", version: "1.0.0" },
  }, "init");
  assert.equal(init.status, 200, `initialize: ${init.status} ${init.body.slice(0, 300)}`);
  const sessionId = init.headers["mcp-session-id"];
  assert.ok(sessionId, "initialize answer has Mcp-Session-Id");
  const session = rawPoster(worker, { path, sessionId });
  const initialized = await session.post({ jsonrpc: "2.0", method: "notifications/initialized" });
  assert.equal(initialized.status, 202, `notifications/initialized: ${initialized.status} ${initialized.body}`);
  return { ...session, init };
}

/** The one message with JSON-RPC id `id` in `answer.messages` (asserts exactly one). */
export function responseWithId(answer, id) {
  const found = answer.messages.filter((m) => m.id === id && ("result" in m || "error" in m));
  assert.equal(found.length, 1, `one response with id ${JSON.stringify(id)}: ${answer.status} ${answer.body.slice(0, 400)}`);
  return found[0];
}

/** True when any HTTP request `server` (startMcpServer) received, from index `from` on, mentions `text`. */
export function serverSaw(server, text, from = 0) {
  return server.calls.slice(from).some((c) => c.body.includes(text));
}
