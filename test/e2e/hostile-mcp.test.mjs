// A hostile review of the MCP transport (issue 12), paper mode, in workerd: what a client
// sends to get a priced tool's result unpaid or uncharged, and what a real MCP server (the
// SDK's McpServer over Streamable HTTP) does with it behind the Worker. A test that fails
// names a way through; the rest show what holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { EmptyResultSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  ACCEPT,
  callPaid,
  connectMcp,
  MCP_VARS,
  mcpPayer,
  paymentRequiredOf,
  rawPoster,
  rawSession,
  responseWithId,
  startMcpServer,
} from "../support/mcp.mjs";
import { rawRequest } from "../support/raw.mjs";
import { startServer } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";

const CASE = { timeout: 30_000 };
const PAPER = { FACILITATOR_URL: "paper", ORIGIN_TIMEOUT_MS: "3000" };
const freshPayer = () => mcpPayer(privateKeyToAccount(generatePrivateKey()));

/** The paper balance of `address` (atomic units). */
async function balance(worker, address) {
  const res = await worker.fetch(`/.well-known/x402/paper/balances/${address}`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return BigInt(body.balances[0].amount);
}

/** A raw session's PaymentPayload for `name(args)`: the challenge asked for, then signed by `payer`. */
async function paymentFor(session, payer, name, args) {
  const answer = await session.call("tools/call", { name, arguments: args }, "challenge");
  const required = paymentRequiredOf(responseWithId(answer, "challenge").result);
  assert.ok(required, `a payment-required result: ${answer.body.slice(0, 300)}`);
  return payer.payload(required);
}

// ---------------------------------------------------------------------------------------
// 1. An id a JavaScript server writes back in another spelling.

const json = useStack({ origin: () => startMcpServer({ json: true }), vars: { ...PAPER, ...MCP_VARS } });

test("a paid call with id 1.0 is charged and delivered, or refused before the tool runs", CASE, async () => {
  const server = json.origin;
  const session = await rawSession(json.worker);
  const payer = freshPayer();
  const args = { ticker: "FLOAT" };
  const payload = await paymentFor(session, payer, "financial_analysis", args);
  const was = await balance(json.worker, payer.account.address);
  const runs = server.count("financial_analysis");
  const body = JSON.stringify({ jsonrpc: "2.0", id: 424242, method: "tools/call",
    params: { name: "financial_analysis", arguments: args, _meta: { "x402/payment": payload } } }).replace("424242", "1.0");
  const first = await session.post(body);
  const second = await session.post(body);
  const ran = server.count("financial_analysis") - runs;
  const paid = was - (await balance(json.worker, payer.account.address));
  // Refused before the tool runs (an id the server could write back otherwise): -32600.
  const why = `the tool ran ${ran} time(s) for one payment, the payer was charged ${paid}; the client got ` +
    `${first.body.slice(0, 200)} then ${second.body.slice(0, 200)}`;
  assert.deepEqual([ran, paid], [0, 0n], why);
  for (const answer of [first, second]) assert.equal(answer.json?.error?.code, -32600, why);
});

// ---------------------------------------------------------------------------------------
// 2. An endpoint spelling a servlet container (Tomcat, Jetty: the Java MCP SDK's servlet
// transport, Spring AI) reads as /mcp: `;parameters` dropped from each segment.

/** The MCP test server behind a front that routes as a servlet container does. */
async function servletFront() {
  const inner = await startMcpServer({ json: true });
  const front = await startServer(async (req, res, call) => {
    const [path, query] = call.path.split("?");
    const routed = path.split("/").map((s) => s.split(";")[0]).join("/") + (query === undefined ? "" : `?${query}`);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([n]) => !["host", "content-length", "connection", "transfer-encoding"].includes(n)),
    );
    const answer = await fetch(inner.url + routed, {
      method: req.method,
      headers,
      body: ["GET", "HEAD"].includes(req.method) ? undefined : call.body,
    });
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  const closeFront = front.close;
  return Object.assign(front, {
    inner,
    async close() {
      await closeFront();
      await inner.close();
    },
  });
}

const servlet = useStack({ origin: servletFront, vars: { ...PAPER, ...MCP_VARS } });

test("POST /mcp;jsessionid=… (the endpoint, on a servlet origin) does not run a priced tool unpaid", CASE, async () => {
  const inner = servlet.origin.inner;
  const session = await rawSession(servlet.worker);
  const runs = inner.count("financial_analysis");
  const headers = { ...session.headers };
  const call = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "financial_analysis", arguments: { ticker: "SEMI" } } };
  const got = [];
  for (const path of ["/mcp;jsessionid=0123", "/mcp;v=2"]) {
    const res = await servlet.worker.fetch(path, { method: "POST", headers, body: JSON.stringify(call) });
    got.push(`${path}: ${res.status} ${(await res.text()).slice(0, 160)}`);
  }
  assert.equal(inner.count("financial_analysis"), runs, `the priced tool ran unpaid:\n${got.join("\n")}`);
});

// ---------------------------------------------------------------------------------------
// 3. A priced tool that asks the client something before it answers (sampling,
// elicitation, roots, or just ping): the request travels on the call's own SSE stream.

/** A real MCP server (SSE answers, sessions) whose priced tool `ask_first` pings the client first. */
async function askingServer() {
  const transports = new Map();
  let runs = 0;
  const srv = await startServer(async (req, res, call) => {
    const sessionId = req.headers["mcp-session-id"];
    const body = req.method === "POST" ? JSON.parse(call.body) : undefined;
    let transport = sessionId && transports.get(sessionId);
    if (!transport) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      const server = new McpServer({ name: "asking", version: "1.0.0" });
      server.registerTool("ask_first", { description: "pings the client, then answers", inputSchema: {} }, async (_args, extra) => {
        runs += 1;
        await extra.sendRequest({ method: "ping" }, EmptyResultSchema);
        return { content: [{ type: "text", text: "answered after the client's pong" }] };
      });
      await server.connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  const close = srv.close;
  return Object.assign(srv, {
    runs: () => runs,
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {});
      return close();
    },
  });
}

const asking = useStack({
  origin: askingServer,
  vars: { ...PAPER, MCP: { "/mcp": { tools: { ask_first: { price: "$0.01" } } } } },
});

// A paid tool whose server asks the client something mid-call (sampling, elicitation,
// roots, a ping) cannot finish: the client sees nothing of the call's stream until the call
// is settled. The paywall stops such a call as soon as the request shows in the stream
// (not at the origin's deadline), answers a clear JSON-RPC error and charges nothing.
test("a paid tool that sends the client a request (ping) mid-call is stopped at once, uncharged", CASE, async () => {
  const mcp = await connectMcp(asking.worker);
  try {
    const payer = freshPayer();
    const was = await balance(asking.worker, payer.account.address);
    let outcome;
    try {
      const { result } = await callPaid(mcp, payer, "ask_first", {});
      outcome = result;
    } catch (err) {
      outcome = { thrown: String(err?.message ?? err) };
    }
    assert.match(JSON.stringify(outcome), /may not ask the client anything mid-call/, JSON.stringify(outcome).slice(0, 300));
    assert.equal(await balance(asking.worker, payer.account.address), was, "nothing charged");
  } finally {
    await mcp.close();
  }
});

// ---------------------------------------------------------------------------------------
// What holds: spellings of a priced call the SDK server reads as one.

test("holds: escaped, duplicated, compressed, batched and mis-typed spellings of a priced call never run it unpaid", CASE, async () => {
  const server = json.origin;
  const session = await rawSession(json.worker);
  const runs = server.count("financial_analysis");
  const calls = server.calls.length;
  const priced = '"params":{"name":"financial_analysis","arguments":{"ticker":"X"}}';
  const bodies = [
    `{"jsonrpc":"2.0","id":1,"method":"tools\\/call",${priced}}`,
    `{"jsonrpc":"2.0","id":2,"method":"tools\\u002fcall","params":{"name":"\\u0066inancial_analysis","arguments":{"ticker":"X"}}}`,
    `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","name":"financial_analysis","arguments":{"ticker":"X"}}}`,
    `{"jsonrpc":"2.0","id":4,"method":"ping","method":"tools/call",${priced}}`,
    `{"jsonrpc":"2.0","id":5,"method":"tools/call",${priced},"result":{}}`,
    `[{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":6,"method":"tools\\/call",${priced}}]`,
    `\ufeff{"jsonrpc":"2.0","id":7,"method":"tools/call",${priced}}`,
    `{"jsonrpc":"2.0","id":8,"method":"tools/call",${priced}} {"jsonrpc":"2.0","id":9,"method":"tools/call",${priced}}`,
    `{"jsonrpc":"2.0","id":10,"method":"tools/call",${priced}`,
    `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"financial_analysis","arguments":{"ticker":"X"},"_meta":{"x402/payment":"e30="}}}`,
  ];
  const seen = [];
  for (const body of bodies) {
    for (const type of ["application/json", "text/plain"]) {
      const res = await session.post(body, { "content-type": type });
      seen.push(`${res.status} ${res.body.slice(0, 100)}`);
    }
  }
  const gz = gzipSync(Buffer.from(`{"jsonrpc":"2.0","id":12,"method":"tools/call",${priced}}`));
  const zipped = await json.worker.fetch("/mcp", {
    method: "POST",
    headers: { ...session.headers, "content-encoding": "gzip" },
    body: gz,
  });
  seen.push(`gzip: ${zipped.status} ${(await zipped.text()).slice(0, 100)}`);
  // (GET opens the session's event stream, which does not end: not sent here.)
  for (const method of ["PUT", "PATCH", "DELETE"]) {
    const res = await rawRequest(json.worker, {
      method,
      path: "/mcp",
      headers: { ...session.headers, "x-http-method-override": "POST" },
      body: `{"jsonrpc":"2.0","id":13,"method":"tools/call",${priced}}`,
    });
    seen.push(`${method}: ${res.status} ${res.body.slice(0, 80)}`);
  }
  for (const path of ["/MCP", "/mcp/", "//mcp", "/x/../mcp", "/%6Dcp", "/mcp?x=1"]) {
    const res = await rawRequest(json.worker, {
      method: "POST",
      path,
      headers: { ...session.headers },
      body: `{"jsonrpc":"2.0","id":14,"method":"tools/call",${priced}}`,
    });
    const answer = JSON.parse(res.body);
    seen.push(`${path}: ${res.status} ${res.body.slice(0, 80)}`);
    assert.ok(paymentRequiredOf(answer.result), `${path}: the payment-required result: ${res.body.slice(0, 200)}`);
  }
  assert.equal(server.count("financial_analysis"), runs, `a priced tool ran unpaid:\n${seen.join("\n")}`);
  const reached = server.calls.slice(calls).filter((c) => c.body.includes("financial_analysis") && c.body.includes("tools"));
  assert.deepEqual(reached.map((c) => `${c.method} ${c.body.slice(0, 80)}`).filter((c) => c.startsWith("POST")), [],
    "no priced tools/call POST reached the server unpaid");
});

test("holds: one payment buys one call: not another tool, not other arguments, not a batch; a retry replays", CASE, async () => {
  const server = json.origin;
  const session = await rawSession(json.worker);
  const payer = freshPayer();
  const payload = await paymentFor(session, payer, "financial_analysis", { ticker: "ONE" });
  const was = await balance(json.worker, payer.account.address);
  const runs = server.count("financial_analysis");
  const callWith = (id, name, args) => ({ jsonrpc: "2.0", id, method: "tools/call",
    params: { name, arguments: args, _meta: { "x402/payment": payload } } });
  const paid = await session.post(callWith(1, "financial_analysis", { ticker: "ONE" }));
  const settle = responseWithId(paid, 1).result?._meta?.["x402/payment-response"];
  assert.ok(settle?.success, paid.body.slice(0, 300));
  const retry = await session.post(callWith("again", "financial_analysis", { ticker: "ONE" }));
  assert.equal(responseWithId(retry, "again").result._meta["x402/payment-response"].transaction, settle.transaction);
  const other = await session.post(callWith(2, "financial_analysis", { ticker: "TWO" }));
  const otherTool = await session.post(callWith(3, "search_docs", { query: "x" }));
  const batch = await session.post([callWith(4, "financial_analysis", { ticker: "ONE" }), callWith(5, "financial_analysis", { ticker: "TWO" })]);
  for (const [what, answer, id] of [["other arguments", other, 2], ["another tool", otherTool, 3]]) {
    const m = responseWithId(answer, id);
    assert.ok(m.error || m.result?.isError, `${what}: refused: ${answer.body.slice(0, 200)}`);
  }
  assert.ok(batch.messages.every((m) => m.error?.code === -32600), batch.body);
  assert.equal(server.count("financial_analysis"), runs + 1, "the tool ran once");
  assert.equal(was - (await balance(json.worker, payer.account.address)), 10_000n, "charged once");
});

test("holds: a batch of SSE-accepting requests with a priced call hidden as the second element is refused whole", CASE, async () => {
  const session = await rawSession(json.worker);
  const res = await json.worker.fetch("/mcp", {
    method: "POST",
    headers: { ...session.headers, accept: ACCEPT },
    body: JSON.stringify([
      { jsonrpc: "2.0", id: "a", method: "tools/list" },
      { jsonrpc: "2.0", id: "b", method: "tools/call", params: { name: "search_anything", arguments: {} } },
    ]),
  });
  const answer = await res.json();
  assert.ok(Array.isArray(answer) && answer.length === 2 && answer.every((m) => m.error?.code === -32600), JSON.stringify(answer));
});

// ---------------------------------------------------------------------------------------
// 4. Headers at the endpoint: the paywall's own mark, and a resumed event stream.

/**
 * A scripted MCP server (no SDK): a POST is answered with a success result for its id,
 * spoofing the paywall's internal mark `X402-Edge-Mcp-Judged: tool-error` (as a server that
 * reflects headers might); a GET is an event stream that ends at once.
 */
async function scriptedServer() {
  return startServer(async (req, res, call) => {
    if (req.method !== "POST") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(": nothing to resume\n\n");
      return;
    }
    const body = JSON.parse(call.body);
    if (body.params?.name === "search_redirect") {
      res.writeHead(307, { location: "/elsewhere", "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: body.id, result: { content: [{ type: "text", text: "scripted result" }] } }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "x402-edge-mcp-judged": "tool-error" });
    res.end(JSON.stringify({ jsonrpc: "2.0", id: body.id, result: { content: [{ type: "text", text: "scripted result" }] } }));
  });
}

const scripted = useStack({ origin: scriptedServer, vars: { ...PAPER, ...MCP_VARS } });

test("holds: a server's own X402-Edge-Mcp-Judged mark is ignored: the paid result is charged and delivered with its receipts", CASE, async () => {
  const poster = rawPoster(scripted.worker);
  const payer = freshPayer();
  const was = await balance(scripted.worker, payer.account.address);
  const args = { ticker: "SPOOF" };
  const challenge = await poster.call("tools/call", { name: "financial_analysis", arguments: args }, "c");
  const required = paymentRequiredOf(responseWithId(challenge, "c").result);
  assert.ok(required, challenge.body.slice(0, 300));
  const payload = await payer.payload(required);
  const paid = await poster.call("tools/call", { name: "financial_analysis", arguments: args, _meta: { "x402/payment": payload } }, "p");
  const result = responseWithId(paid, "p").result;
  assert.equal(result?.content?.[0]?.text, "scripted result", paid.body.slice(0, 300));
  assert.equal(result._meta?.["x402/payment-response"]?.success, true, JSON.stringify(result._meta));
  assert.ok(result._meta?.["x402/receipt"], "the signed receipt");
  assert.equal(paid.headers["x402-edge-mcp-judged"], undefined, "the mark does not leave the paywall");
  assert.equal(await balance(scripted.worker, payer.account.address), was - BigInt(required.accepts[0].amount), "charged once");
});

test("a paid call the server answers with a redirect is not charged: no result was delivered", CASE, async () => {
  const poster = rawPoster(scripted.worker);
  const payer = freshPayer();
  const was = await balance(scripted.worker, payer.account.address);
  const challenge = await poster.call("tools/call", { name: "search_redirect", arguments: {} }, "c");
  const required = paymentRequiredOf(responseWithId(challenge, "c").result);
  assert.ok(required, challenge.body.slice(0, 300));
  const payload = await payer.payload(required);
  const paid = await poster.call("tools/call", { name: "search_redirect", arguments: {}, _meta: { "x402/payment": payload } }, "p");
  assert.equal(await balance(scripted.worker, payer.account.address), was, `nothing charged: ${paid.status} ${paid.body.slice(0, 200)}`);
  assert.equal(paid.headers["payment-response"], undefined);
  assert.ok(!paid.body.includes("x402/payment-response"), paid.body.slice(0, 200));
});

test("GET at an endpoint that prices tools reaches the server without Last-Event-ID; the session header passes", CASE, async () => {
  const from = scripted.origin.calls.length;
  const res = await scripted.worker.fetch("/mcp", {
    headers: { accept: "text/event-stream", "mcp-session-id": "s-1", "last-event-id": "paid-call-event-7" },
  });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /nothing to resume/);
  const seen = scripted.origin.calls.slice(from).filter((c) => c.method === "GET");
  assert.equal(seen.length, 1, "the GET reached the server once");
  assert.equal(seen[0].headers["last-event-id"], undefined, "Last-Event-ID is dropped");
  assert.equal(seen[0].headers["mcp-session-id"], "s-1");
});
