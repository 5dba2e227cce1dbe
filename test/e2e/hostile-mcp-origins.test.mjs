// An outside probe of x402-edge (paper mode, in workerd), against the MCP endpoint behind
// the MCP SDK's own recommended server setups (helper review after issue 12): `createMcpExpressApp()` (express.json(),
// which decodes a body in the charset its Content-Type names, UTF-7 included) and a Hono
// app with Hono's `methodOverride` middleware. A test that fails names a way through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { Hono } from "hono";
import { methodOverride } from "hono/method-override";
import { serve } from "@hono/node-server";
import { z } from "zod";
import { ACCEPT, MCP_VARS, mcpPayer, paymentRequiredOf, readMcpAnswer } from "../support/mcp.mjs";
import { rawRequest } from "../support/raw.mjs";
import { useStack } from "../support/stack.mjs";

const CASE = { timeout: 30_000 };
const PAPER = { FACILITATOR_URL: "paper", ORIGIN_TIMEOUT_MS: "3000" };

/** A stateless MCP server (a fresh McpServer per request, as the SDK's examples do) with the priced tool. */
function mcpServer(runs) {
  const server = new McpServer({ name: "probe", version: "1.0.0" });
  server.registerTool(
    "financial_analysis",
    { description: "priced at the edge", inputSchema: { ticker: z.string() } },
    async ({ ticker }) => {
      runs.push(ticker);
      return { content: [{ type: "text", text: `PAID CONTENT for ${ticker}` }] };
    },
  );
  server.registerTool("echo", { description: "free", inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  return server;
}

/** The SDK's recommended Express setup: createMcpExpressApp() (express.json()) + the Node transport. */
async function startExpressMcp() {
  const runs = [];
  const app = createMcpExpressApp();
  // app.use: the transport answers at /mcp and under it (a mount, as Express routers are mounted).
  app.use("/mcp", async (req, res) => {
    const server = mcpServer(runs);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  const listener = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${listener.address().port}`,
    runs,
    close: () => new Promise((resolve) => {
      listener.closeAllConnections();
      listener.close(() => resolve());
    }),
  };
}

/** A Hono app (the SDK's web-standard transport) with Hono's methodOverride({ query: "_method" }). */
async function startHonoMcp() {
  const runs = [];
  const app = new Hono();
  app.use("*", methodOverride({ app, query: "_method" }));
  app.all("/mcp", async (c) => {
    const server = mcpServer(runs);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(c.req.raw);
  });
  const listener = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${listener.address().port}`,
    runs,
    close: () => new Promise((resolve) => {
      listener.closeAllConnections?.();
      listener.close(() => resolve());
    }),
  };
}

const HEADERS = { "content-type": "application/json", accept: ACCEPT, "mcp-protocol-version": "2025-06-18" };
const call = (id, ticker, extra = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "financial_analysis", arguments: { ticker }, ...extra },
});
/** `text` in UTF-7 (RFC 2152): `+`, modified base64 of its UTF-16BE, `-`. */
const utf7 = (text) => `+${Buffer.from(text, "utf16le").swap16().toString("base64").replace(/=+$/, "")}-`;

/** Asserts that a priced call without payment through `stack` gets the payment-required result, unrun. */
async function assertChallenged(stack) {
  const runs = stack.origin.runs.length;
  const res = await readMcpAnswer(await stack.worker.fetch("/mcp", {
    method: "POST", headers: HEADERS, body: JSON.stringify(call(1, "PLAIN")),
  }));
  assert.ok(paymentRequiredOf(res.json?.result), res.body.slice(0, 300));
  assert.equal(stack.origin.runs.length, runs);
}

// ---------------------------------------------------------------------------------------
// 1. The SDK's Express app: express.json() decodes the body in its declared charset.

const express = useStack({ origin: startExpressMcp, vars: { ...PAPER, ...MCP_VARS } });

test("holds: behind createMcpExpressApp, a priced call without payment gets the payment-required result", CASE, async () => {
  await assertChallenged(express);
  // and the free tool runs (the server works behind the Worker)
  const free = await readMcpAnswer(await express.worker.fetch("/mcp", {
    method: "POST", headers: HEADERS,
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } }),
  }));
  assert.equal(free.json?.result?.content?.[0]?.text, "hi", free.body.slice(0, 300));
});

test("a body in charset=utf-7 (express.json decodes it) does not run a priced tool unpaid", CASE, async () => {
  const runs = express.origin.runs.length;
  // The Worker reads UTF-8: method "+AHQAbwBv…-" (no tools/call, passed untouched). express.json
  // reads UTF-7: method "tools/call".
  const body = `{"jsonrpc":"2.0","id":7,"method":"${utf7("tools/call")}","params":{"name":"financial_analysis","arguments":{"ticker":"UTF7"}}}`;
  const got = [];
  for (const type of ["application/json; charset=utf-7", "application/json;charset=UTF-7", "application/json; charset=\"utf-7\""]) {
    const res = await express.worker.fetch("/mcp", { method: "POST", headers: { ...HEADERS, "content-type": type }, body });
    got.push(`${type}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  }
  assert.equal(express.origin.runs.length, runs, `the priced tool ran unpaid:\n${got.join("\n")}`);
});

test("a paid call in charset=utf-7: the arguments the payment is bound to (and the ledger shows) are the ones that run", CASE, async () => {
  // Pay for a cheap-looking call (ticker A) in UTF-8; the server, reading UTF-7, would run
  // another argument. With no other price this is one payment buying a call it was not bound to.
  const runs = express.origin.runs.length;
  const payer = mcpPayer(privateKeyToAccount(generatePrivateKey()));
  const challenge = await readMcpAnswer(await express.worker.fetch("/mcp", {
    method: "POST", headers: HEADERS, body: JSON.stringify(call("c", "A")),
  }));
  const required = paymentRequiredOf(challenge.json.result);
  const payload = await payer.payload(required);
  // The payment is bound to the ticker `A+AEI-` as the paywall reads it; a server reading
  // the body as UTF-7 would run `AB`.
  const text = JSON.stringify(call("p", "A", { _meta: { "x402/payment": payload } })).replace('"ticker":"A"', `"ticker":"A${utf7("B")}"`);
  const res = await express.worker.fetch("/mcp", { method: "POST", headers: { ...HEADERS, "content-type": "application/json; charset=utf-7" }, body: text });
  const answer = await res.text();
  const ran = express.origin.runs.slice(runs);
  // Refused before anything runs (415 unsupported_charset), or run with the very arguments paid for.
  const refused = res.status === 415 && ran.length === 0;
  assert.ok(refused || (ran.length === 1 && ran[0] === `A${utf7("B")}`), `${res.status}, ran ${JSON.stringify(ran)}: ${answer.slice(0, 200)}`);
});

// ---------------------------------------------------------------------------------------
// 2. Hono's methodOverride: a PUT (or PATCH, DELETE, OPTIONS) with ?_method=POST is a POST.

const hono = useStack({ origin: startHonoMcp, vars: { ...PAPER, ...MCP_VARS } });

test("holds: behind Hono, a priced POST without payment gets the payment-required result", CASE, async () => {
  await assertChallenged(hono);
});

test("PUT/PATCH/DELETE/OPTIONS /mcp?_method=POST (Hono methodOverride) does not run a priced tool unpaid", CASE, async () => {
  const runs = hono.origin.runs.length;
  const got = [];
  for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS"]) {
    for (const query of ["_method=POST", "_method=post", "%5Fmethod=POST"]) {
      const res = await rawRequest(hono.worker, {
        method,
        path: `/mcp?${query}`,
        headers: HEADERS,
        body: JSON.stringify(call(`${method}-${query}`, `${method}-${query}`)),
      });
      got.push(`${method} ?${query}: ${res.status} ${res.body.slice(0, 160)}`);
    }
  }
  // A body framed by chunks beside a `Content-Length: 0` (read as no body by a length check).
  for (const method of ["PUT", "DELETE"]) {
    const framing = { ...HEADERS, "transfer-encoding": "chunked", "content-length": "0" };
    const res = await rawRequest(hono.worker, { method, path: "/mcp?_method=POST", headers: framing, body: JSON.stringify(call(`${method}-chunked`, "chunked")) })
      .catch((e) => ({ status: "transport", body: String(e.message) }));
    got.push(`${method} chunked + CL 0: ${res.status} ${res.body.slice(0, 160)}`);
  }
  // A CORS preflight (OPTIONS with Access-Control-Request-Method) at a priced endpoint is
  // judged as the OPTIONS it is: one with a body is refused.
  const preflight = await rawRequest(hono.worker, {
    method: "OPTIONS",
    path: "/mcp?_method=POST",
    headers: { ...HEADERS, origin: "http://127.0.0.1", "access-control-request-method": "POST" },
    body: JSON.stringify(call("preflight", "preflight")),
  });
  got.push(`OPTIONS+ACRM ?_method=POST: ${preflight.status} ${preflight.body.slice(0, 160)}`);
  assert.deepEqual(hono.origin.runs.slice(runs), [], `the priced tool ran unpaid:\n${got.join("\n")}`);
});

test("POST /mcp/anything (an Express router mounted at /mcp answers it) does not run a priced tool unpaid", CASE, async () => {
  const runs = express.origin.runs.length;
  const got = [];
  for (const path of ["/mcp/x", "/mcp/mcp", "/MCP/x/y"]) {
    const res = await rawRequest(express.worker, { method: "POST", path, headers: HEADERS, body: JSON.stringify(call(path, path)) });
    got.push(`${path}: ${res.status} ${res.body.slice(0, 160)}`);
  }
  assert.deepEqual(express.origin.runs.slice(runs), [], `the priced tool ran unpaid:\n${got.join("\n")}`);
});

// ---------------------------------------------------------------------------------------
// 3. Public endpoints: odd input never a 5xx, never a hang.

const plain = useStack({ vars: { FACILITATOR_URL: "paper" } });

test("holds: payer, receipt, balance and discovery endpoints answer odd input without a 5xx", CASE, async () => {
  const bad = [];
  const probes = [
    ["GET", "/.well-known/x402/receipts/"],
    ["GET", "/.well-known/x402/receipts/%C3%A9"],
    ["GET", `/.well-known/x402/receipts/${"z".repeat(4000)}`],
    ["GET", "/.well-known/x402/receipts/%F0%9F%92%A9x"],
    ["GET", "/.well-known/x402/paper/balances/%C3%A9"],
    ["GET", `/.well-known/x402/paper/balances/0x${"g".repeat(40)}`],
    ["GET", "/.well-known/x402/nonce?x=%00"],
    ["POST", "/.well-known/x402/payments", "{\"message\":\"x402-edge: read my payments\\nHost: 127.0.0.1\\nPayer: 0x0000000000000000000000000000000000000000\\nNonce: a\\nExpires: 9999-99-99T99:99:99.999Z\",\"signature\":\"0x\"}"],
    ["POST", "/.well-known/x402/payments", "[".repeat(5000)],
    ["POST", "/.well-known/x402/payments", `{"message":"${"\\u0000".repeat(20000)}","signature":"0x"}`],
    ["POST", "/.well-known/x402/payments", "\u00ff\u00fe{"],
    ["GET", "/openapi.json?%zz"],
    ["GET", "/llms.txt", undefined, { "if-none-match": "W/\"" + "x".repeat(8000) + "\"" }],
    ["GET", "/.well-known/x402", undefined, { host: "localhost:1" }],
  ];
  for (const [method, path, body, headers = {}] of probes) {
    const res = await rawRequest(plain.worker, { method, path, body, headers });
    if (res.status >= 500) bad.push(`${method} ${path.slice(0, 60)}: ${res.status} ${res.body.slice(0, 120)}`);
  }
  assert.deepEqual(bad, []);
});
