// MCP tools priced at the edge (issue 12), paper mode: a real MCP server (the SDK's McpServer
// over Streamable HTTP, stateful sessions) behind the Worker, in both answer modes (JSON and
// SSE), and the SDK's Client in front, paying as the x402 MCP transport says: the
// payment-required tool result, a PaymentPayload from the official @x402/core client with the
// @x402/evm exact scheme in `_meta["x402/payment"]`, the settlement and the signed receipt in
// the result's `_meta`. Raw JSON-RPC for what the SDK never sends (malformed bodies, batches)
// and to read SSE answers event by event.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { verifyReceipt } from "../support/jws.mjs";
import {
  analysisText,
  BROKEN_TEXT,
  callPaid,
  connectMcp,
  ECHO_META,
  MCP_VARS,
  mcpPayer,
  paymentRequiredOf,
  progressInto,
  PROTOCOL_VERSION,
  rawPoster,
  rawSession,
  REQUEST,
  responseWithId,
  SERVER_HEADER,
  serverSaw,
  startMcpServer,
} from "../support/mcp.mjs";
import { answers, startFacilitator } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";
import { wranglerConfig } from "../support/worker.mjs";

const CASE = { timeout: 20_000 };
const TOKEN = "an-admin-token-for-the-mcp-tests";
const { PAY_TO, ASSET, NETWORK } = wranglerConfig().vars;
const PRICE = { financial_analysis: 10_000n, search_docs: 2_500n, broken: 10_000n };
/** A paper transaction (marked so nobody takes it for a real one). */
const TX_HASH = /^(paper:)?0x[0-9a-f]{64}$/i;
const MODES = ["json", "sse"];

const stacks = Object.fromEntries(
  MODES.map((mode) => [
    mode,
    useStack({
      origin: () => startMcpServer({ json: mode === "json" }),
      vars: { FACILITATOR_URL: "paper", ...MCP_VARS },
      secrets: { ADMIN_TOKEN: TOKEN },
    }),
  ]),
);
/** A stack with a fake facilitator, for a settlement that fails. */
const failing = useStack({
  origin: () => startMcpServer({ json: true }),
  facilitator: startFacilitator,
  vars: MCP_VARS,
});

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();
const freshPayer = () => mcpPayer(privateKeyToAccount(generatePrivateKey()));

/** Runs `fn(mcp)` with an SDK client connected to `stack`'s Worker, then closes it. */
async function withMcp(stack, fn) {
  const mcp = await connectMcp(stack.worker);
  try {
    return await fn(mcp);
  } finally {
    await mcp.close();
  }
}

/** The paper balance of `address` (atomic units) as the Worker reports it. */
async function balance(worker, address) {
  const res = await worker.fetch(`/.well-known/x402/paper/balances/${address}`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return BigInt(body.balances[0].amount);
}

async function jwks(worker) {
  const res = await worker.fetch("/.well-known/jwks.json");
  assert.equal(res.status, 200);
  return res.json();
}

/** Asserts what a priced tool is paid in (the route defaults of wrangler.toml). */
function assertPaidIn(req, amount, what) {
  assert.ok(req, `${what}: a requirement`);
  assert.equal(req.scheme, "exact", `${what}: scheme`);
  assert.equal(req.network, NETWORK, `${what}: network`);
  assert.equal(req.amount, String(amount), `${what}: amount`);
  assert.ok(same(req.asset, ASSET), `${what}: asset ${req.asset}`);
  assert.ok(same(req.payTo, PAY_TO), `${what}: payTo ${req.payTo}`);
}

/** Asserts the whole PaymentRequirements a priced tool asks for (as an HTTP route's). */
function assertRequirement(req, amount, what) {
  assertPaidIn(req, amount, what);
  assert.equal(req.maxTimeoutSeconds, 60, `${what}: maxTimeoutSeconds`);
  assert.deepEqual(req.extra, { name: "USDC", version: "2" }, `${what}: extra`);
}

/**
 * Asserts a payment-required tool result as the MCP transport spec shows it: isError,
 * structuredContent = the v2 PaymentRequired for `mcp://tool/<tool>`, content[0].text = the same
 * object as JSON. Returns the PaymentRequired.
 */
function assertPaymentRequired(result, tool, amount, what = tool) {
  assert.equal(result.isError, true, `${what}: isError: ${JSON.stringify(result).slice(0, 300)}`);
  const required = result.structuredContent;
  assert.ok(required && typeof required === "object", `${what}: structuredContent`);
  assert.equal(required.x402Version, 2, `${what}: x402Version`);
  assert.equal(required.resource?.url, `mcp://tool/${tool}`, `${what}: resource.url`);
  assert.equal(typeof required.error, "string", `${what}: error`);
  assert.ok(required.error.length > 0, `${what}: error`);
  assert.equal(result.content?.[0]?.type, "text", `${what}: content[0] is text`);
  assert.deepEqual(JSON.parse(result.content[0].text), required, `${what}: content[0].text is the same PaymentRequired`);
  assert.ok(Array.isArray(required.accepts) && required.accepts.length >= 1, `${what}: accepts`);
  assertRequirement(required.accepts[0], amount, what);
  assert.equal(result._meta?.["x402/payment-response"], undefined, `${what}: no settlement`);
  return required;
}

/** Asserts a paid, settled tool result for `payer`; returns the SettlementResponse and the receipt's claims. */
async function assertSettled(worker, result, payer, tool, amount) {
  assert.ok(!result.isError, `paid ${tool}: not an error: ${JSON.stringify(result).slice(0, 400)}`);
  const settle = result._meta?.["x402/payment-response"];
  assert.ok(settle, `paid ${tool}: _meta["x402/payment-response"]: ${JSON.stringify(result._meta)}`);
  assert.equal(settle.success, true, JSON.stringify(settle));
  assert.match(settle.transaction, TX_HASH);
  assert.equal(settle.network, NETWORK);
  assert.ok(same(settle.payer, payer.account.address), `settlement payer ${settle.payer}`);
  const claims = verifyReceipt(result._meta["x402/receipt"], await jwks(worker));
  assert.equal(claims.transaction, settle.transaction, "the receipt names the settlement's transaction");
  assert.equal(claims.amount, String(amount));
  assert.ok(same(claims.payer, payer.account.address));
  assert.ok(same(claims.payTo, PAY_TO));
  assert.equal(claims.resourceUrl, `mcp://tool/${tool}`, "the receipt names the tool");
  return { settle, claims };
}

/** Asserts that no request the MCP server got since `from` carried a payment. */
function assertNoPaymentReachedServer(server, from, what) {
  assert.ok(!serverSaw(server, "x402/payment", from), `${what}: the MCP server saw "x402/payment"`);
  for (const e of server.executions) assert.equal(e.meta?.["x402/payment"], undefined, `${what}: a tool ran with _meta["x402/payment"]`);
}

for (const mode of MODES) {
  const stack = stacks[mode];
  const server = () => stack.origin;

  test(`[${mode}] initialize, tools/list and resources pass; tools/list shows x402/price on priced tools only`, CASE, async () => {
    const calls = server().calls.length;
    await withMcp(stack, async (mcp) => {
      assert.ok(server().sessions().includes(mcp.transport.sessionId), "initialize reached the server, which opened the session");
      const { tools } = await mcp.client.listTools(undefined, REQUEST);
      const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
      assert.deepEqual(Object.keys(byName).sort(), ["broken", "echo", "financial_analysis", "search_docs"]);

      const fa = byName.financial_analysis._meta?.["x402/price"];
      assert.ok(fa, `financial_analysis has _meta["x402/price"]: ${JSON.stringify(byName.financial_analysis)}`);
      assert.equal(fa.price, "$0.01");
      assert.equal(fa.amount, "10000");
      assert.ok(same(fa.asset, ASSET));
      assert.equal(fa.network, NETWORK);
      assert.ok(same(fa.payTo, PAY_TO));
      assert.equal(fa.scheme, "exact");
      assert.ok(Array.isArray(fa.accepts) && fa.accepts.length >= 1, "x402/price.accepts");
      assertPaidIn(fa.accepts[0], PRICE.financial_analysis, "tools/list financial_analysis");

      const sd = byName.search_docs._meta?.["x402/price"];
      assert.ok(sd, "search_docs (glob search_*) has _meta[\"x402/price\"]");
      assert.equal(sd.price, "$0.0025", "the price in dollars (2500 atomic units of a 6-decimal token)");
      assert.equal(sd.amount, "2500");
      assertPaidIn(sd.accepts?.[0], PRICE.search_docs, "tools/list search_docs");
      assert.equal(byName.broken._meta?.["x402/price"]?.amount, "10000", "broken is priced");

      assert.deepEqual(byName.echo._meta, ECHO_META, "the free tool's own _meta is unchanged");
      assert.equal(byName.echo.description, "Echo the text back (free)");

      const read = await mcp.client.readResource({ uri: "doc://readme" }, REQUEST);
      assert.equal(read.contents[0].text, "the free readme");
    });
    const methods = server().calls.slice(calls).filter((c) => c.method === "POST").map((c) => JSON.parse(c.body).method);
    for (const m of ["initialize", "notifications/initialized", "tools/list", "resources/read"]) {
      assert.ok(methods.includes(m), `${m} reached the server: ${methods}`);
    }
  });

  test(`[${mode}] an unpriced tool passes untouched`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const runs = server().count("echo");
      const result = await mcp.client.callTool({ name: "echo", arguments: { text: "hello edge" } }, undefined, REQUEST);
      assert.deepEqual(result, { content: [{ type: "text", text: "hello edge" }] });
      assert.equal(server().count("echo"), runs + 1);
    });
  });

  test(`[${mode}] a priced tool without payment gets the payment-required result; the server is not called`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const calls = server().calls.length;
      const runs = server().executions.length;
      const fa = await mcp.client.callTool({ name: "financial_analysis", arguments: { ticker: "AAPL" } }, undefined, REQUEST);
      const required = assertPaymentRequired(fa, "financial_analysis", PRICE.financial_analysis);
      assert.equal(required.resource.description, "Deep financial analysis");
      assert.deepEqual(paymentRequiredOf(fa), required);
      const sd = await mcp.client.callTool({ name: "search_docs", arguments: { query: "x402" } }, undefined, REQUEST);
      assertPaymentRequired(sd, "search_docs", PRICE.search_docs);

      // The same on the wire: HTTP 200, the request's own id.
      const raw = rawPoster(stack.worker, { sessionId: mcp.transport.sessionId });
      const answer = await raw.call("tools/call", { name: "financial_analysis", arguments: { ticker: "MSFT" } }, 4711);
      assert.equal(answer.status, 200, answer.body);
      const msg = responseWithId(answer, 4711);
      assert.equal(msg.jsonrpc, "2.0");
      assertPaymentRequired(msg.result, "financial_analysis", PRICE.financial_analysis, "raw tools/call");

      assert.equal(server().executions.length, runs, "no tool ran");
      assert.ok(!serverSaw(server(), "tools/call", calls), "no tools/call reached the server");
    });
  });

  test(`[${mode}] paid: the content, the settlement and a receipt that verifies; the server runs once, without the payment`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const payer = freshPayer();
      const was = await balance(stack.worker, payer.account.address);
      const calls = server().calls.length;
      const runs = server().count("financial_analysis");
      const { result, payload } = await callPaid(mcp, payer, "financial_analysis", { ticker: "AAPL" });
      assert.equal(payload.x402Version, 2, "the official client made a v2 PaymentPayload");
      assert.deepEqual(result.content, [{ type: "text", text: analysisText("AAPL", runs + 1) }]);
      await assertSettled(stack.worker, result, payer, "financial_analysis", PRICE.financial_analysis);
      assert.equal(server().count("financial_analysis"), runs + 1, "the tool ran once");
      const ran = server().executions.filter((e) => e.name === "financial_analysis").at(-1);
      assert.deepEqual(ran.args, { ticker: "AAPL" }, "the server got the arguments");
      assert.equal(ran.sessionId, mcp.transport.sessionId, "in the client's session");
      assertNoPaymentReachedServer(server(), calls, "paid call");
      assert.equal(was - (await balance(stack.worker, payer.account.address)), PRICE.financial_analysis, "charged the price once");

      // A tool priced by a glob, with its own price.
      const docs = await callPaid(mcp, payer, "search_docs", { query: "receipts" });
      assert.match(docs.result.content[0].text, /^results for receipts/);
      await assertSettled(stack.worker, docs.result, payer, "search_docs", PRICE.search_docs);
    });
  });

  test(`[${mode}] a wrong amount is refused with the reason; the server is not called and nothing is charged`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const payer = freshPayer();
      const was = await balance(stack.worker, payer.account.address);
      const runs = server().executions.length;
      const { result } = await callPaid(mcp, payer, "financial_analysis", { ticker: "AAPL" }, {
        tamper: (required) => {
          required.accepts[0].amount = "5000";
          return required;
        },
      });
      const again = assertPaymentRequired(result, "financial_analysis", PRICE.financial_analysis, "wrong amount");
      assert.equal(again.error, "invalid_exact_evm_payload_authorization_value_mismatch");
      assert.equal(server().executions.length, runs, "no tool ran");
      assert.equal(await balance(stack.worker, payer.account.address), was, "nothing charged");
    });
  });

  test(`[${mode}] a tool error passes to the client and is not charged`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const payer = freshPayer();
      const was = await balance(stack.worker, payer.account.address);
      const runs = server().count("broken");
      const { result } = await callPaid(mcp, payer, "broken", {});
      assert.equal(result.isError, true);
      assert.deepEqual(result.content, [{ type: "text", text: BROKEN_TEXT }], "the tool's own error");
      assert.equal(paymentRequiredOf(result), undefined, "not a payment error");
      assert.equal(result._meta?.["x402/payment-response"], undefined, "no settlement");
      assert.equal(server().count("broken"), runs + 1, "the tool ran");
      assert.equal(await balance(stack.worker, payer.account.address), was, "nothing charged");
    });
  });

  test(`[${mode}] a retry of the same payment gets the stored result: same transaction, one run, one charge`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const payer = freshPayer();
      const was = await balance(stack.worker, payer.account.address);
      const runs = server().count("financial_analysis");
      const first = await callPaid(mcp, payer, "financial_analysis", { ticker: "NVDA" });
      const { settle } = await assertSettled(stack.worker, first.result, payer, "financial_analysis", PRICE.financial_analysis);
      const second = await first.again();
      assert.deepEqual(second, first.result, "the stored result");
      // On the wire: the stored result answers the retry's own id.
      const raw = rawPoster(stack.worker, { sessionId: mcp.transport.sessionId });
      const params = { name: "financial_analysis", arguments: { ticker: "NVDA" }, _meta: { "x402/payment": first.payload } };
      const answer = await raw.call("tools/call", params, "retry-on-the-wire");
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(responseWithId(answer, "retry-on-the-wire").result, first.result);
      assert.equal(second._meta["x402/payment-response"].transaction, settle.transaction);
      assert.equal(server().count("financial_analysis"), runs + 1, "the tool ran once");
      assert.equal(was - (await balance(stack.worker, payer.account.address)), PRICE.financial_analysis, "one charge");
    });
  });

  test(`[${mode}] 20 concurrent duplicates of one paid call: one run, one charge, one answer`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const payer = freshPayer();
      const was = await balance(stack.worker, payer.account.address);
      const runs = server().count("financial_analysis");
      const challenge = await mcp.client.callTool({ name: "financial_analysis", arguments: { ticker: "TSLA" } }, undefined, REQUEST);
      const payload = await payer.payload(assertPaymentRequired(challenge, "financial_analysis", PRICE.financial_analysis));
      const params = { name: "financial_analysis", arguments: { ticker: "TSLA" }, _meta: { "x402/payment": payload } };
      const results = await Promise.all(Array.from({ length: 20 }, () => mcp.client.callTool(params, undefined, REQUEST)));
      await assertSettled(stack.worker, results[0], payer, "financial_analysis", PRICE.financial_analysis);
      results.forEach((r, i) => assert.deepEqual(r, results[0], `answer #${i}`));
      assert.equal(server().count("financial_analysis"), runs + 1, "the tool ran once");
      assert.equal(was - (await balance(stack.worker, payer.account.address)), PRICE.financial_analysis, "one charge");
    });
  });

  test(`[${mode}] the ledger records MCP payments with route mcp:/mcp#<tool>`, CASE, async () => {
    await withMcp(stack, async (mcp) => {
      const payer = freshPayer();
      const { result } = await callPaid(mcp, payer, "financial_analysis", { ticker: "IBM" });
      const { settle } = await assertSettled(stack.worker, result, payer, "financial_analysis", PRICE.financial_analysis);
      const res = await stack.worker.fetch(`/_x402/ledger.jsonl?payer=${payer.account.address}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const events = text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      assert.deepEqual(events.map((e) => e.event), ["locked", "released"], text);
      for (const e of events) {
        assert.equal(e.route, "mcp:/mcp#financial_analysis");
        assert.equal(e.amount, "10000");
      }
      assert.equal(events[1].transaction, settle.transaction);
    });
  });

  test(`[${mode}] Mcp-Session-Id and other headers pass both ways; GET streams and DELETE pass`, CASE, async () => {
    const mcp = await connectMcp(stack.worker);
    const from = server().calls.length;
    let sessionId;
    try {
      sessionId = mcp.transport.sessionId;
      assert.ok(sessionId, "the client got a session id through the Worker");
      assert.ok(server().sessions().includes(sessionId), "the server's own session id");
      await mcp.client.callTool({ name: "echo", arguments: { text: "s" } }, undefined, REQUEST);
      const init = mcp.seen[0];
      assert.equal(init.got["mcp-session-id"], sessionId, "initialize answer: Mcp-Session-Id");
      const echo = mcp.seen.filter((s) => s.method === "POST").at(-1);
      assert.equal(echo.got["mcp-session-id"], sessionId, "tools/call answer: Mcp-Session-Id");
      assert.equal(echo.got[SERVER_HEADER], mode, "the server's own header comes back");
      const echoCall = server().calls.slice(from).find((c) => c.method === "POST" && c.body.includes('"echo"'));
      assert.ok(echoCall, "the echo call reached the server");
      assert.equal(echoCall.headers["mcp-session-id"], sessionId, "the server got Mcp-Session-Id");
      assert.ok(echoCall.headers["mcp-protocol-version"], "the server got MCP-Protocol-Version");
      assert.equal(echoCall.headers["mcp-protocol-version"], echo.sent["mcp-protocol-version"]);

      // The standalone GET stream of a session of its own (one per session): passes, streams.
      const raw = await rawSession(stack.worker);
      const get = await stack.worker.fetch("/mcp", { headers: { accept: "text/event-stream", "mcp-session-id": raw.sessionId, "mcp-protocol-version": PROTOCOL_VERSION } });
      assert.equal(get.status, 200);
      assert.match(get.headers.get("content-type") ?? "", /^text\/event-stream/);
      await get.body?.cancel();
      assert.ok(server().calls.some((c) => c.method === "GET" && c.headers["mcp-session-id"] === raw.sessionId), "the GET reached the server");

      await mcp.transport.terminateSession();
      const del = mcp.seen.find((s) => s.method === "DELETE");
      assert.equal(del?.status, 200, "DELETE answered by the server");
      assert.ok(server().closed.includes(sessionId), "the server closed the session");
    } finally {
      await mcp.close();
    }
  });
}

test("[sse] notifications before the result arrive in order; the paid result carries the settlement", CASE, async () => {
  const stack = stacks.sse;
  await withMcp(stack, async (mcp) => {
    const payer = freshPayer();
    mcp.events.length = 0;
    const { result } = await callPaid(mcp, payer, "financial_analysis", { ticker: "AMD", notes: 3 }, {
      options: { onprogress: progressInto(mcp.events) },
    });
    await assertSettled(stack.worker, result, payer, "financial_analysis", PRICE.financial_analysis);
    assert.deepEqual(mcp.events, [1, 2, 3].flatMap((i) => [
      { kind: "log", data: `financial_analysis note ${i} of 3` },
      { kind: "progress", progress: i, total: 3 },
    ]), "logs and progress, in order (the progress token reached the server)");

    // The same on the wire: one SSE stream, the notifications, then the response.
    const required = paymentRequiredOf(await mcp.client.callTool({ name: "financial_analysis", arguments: { ticker: "AMD" } }, undefined, REQUEST));
    const payload = await payer.payload(required);
    const raw = rawPoster(stack.worker, { sessionId: mcp.transport.sessionId });
    const answer = await raw.call("tools/call", {
      name: "financial_analysis",
      arguments: { ticker: "AMD", notes: 2 },
      _meta: { progressToken: "wire-1", "x402/payment": payload },
    }, "wire");
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.type, "text/event-stream", "the server's SSE answer stays a stream");
    assert.deepEqual(answer.messages.map((m) => m.method ?? `response:${m.id}`), [
      "notifications/message", "notifications/progress", "notifications/message", "notifications/progress", "response:wire",
    ], answer.body);
    assert.deepEqual(answer.messages.filter((m) => m.method === "notifications/progress").map((m) => m.params.progressToken), ["wire-1", "wire-1"]);
    const last = answer.messages.at(-1);
    assert.equal(last.result._meta?.["x402/payment-response"]?.success, true, JSON.stringify(last));
    assert.ok(last.result._meta["x402/receipt"], "the receipt");
  });
});

test("malformed JSON-RPC is -32700, valid JSON that is not a request -32600: HTTP 200, the server is not called", CASE, async () => {
  const stack = stacks.json;
  const raw = rawPoster(stack.worker);
  const calls = stack.origin.calls.length;
  const cases = [
    ['{"jsonrpc":"2.0","id":1,"method":', -32700],
    ["not json at all", -32700],
    ["", -32700],
    ["42", -32600],
    ['"tools/call"', -32600],
    ["null", -32600],
    ['{"foo":"bar"}', -32600],
    ['{"jsonrpc":"2.0","id":3}', -32600],
  ];
  const misses = [];
  for (const [body, code] of cases) {
    const answer = await raw.post(body);
    let got;
    try {
      got = JSON.parse(answer.body);
    } catch {
      got = undefined;
    }
    const ok = answer.status === 200 && got?.jsonrpc === "2.0" && got?.error?.code === code && (code !== -32700 || got.id === null);
    if (!ok) misses.push(`${JSON.stringify(body)}: want 200 ${code}, got ${answer.status} ${answer.body.slice(0, 200)}`);
  }
  assert.deepEqual(misses, []);
  assert.equal(stack.origin.calls.length, calls, "the server is not called");
});

test("a body over 1 MiB is 413 and does not reach the server", CASE, async () => {
  const stack = stacks.json;
  const calls = stack.origin.calls.length;
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "financial_analysis", arguments: { ticker: "x".repeat(1024 * 1024) } } });
  const answer = await rawPoster(stack.worker).post(body);
  assert.equal(answer.status, 413, answer.body.slice(0, 200));
  assert.equal(stack.origin.calls.length, calls, "the server is not called");
});

for (const mode of MODES) {
  test(`[${mode}] a batch without a priced call passes; one with a priced call gets -32600 for each request, unforwarded`, CASE, async () => {
    const stack = stacks[mode];
    const session = await rawSession(stack.worker);
    const runs = stack.origin.count("echo");
    const free = await session.post([
      { jsonrpc: "2.0", id: "b1", method: "tools/call", params: { name: "echo", arguments: { text: "one" } } },
      { jsonrpc: "2.0", id: "b2", method: "resources/read", params: { uri: "doc://readme" } },
    ]);
    assert.equal(free.status, 200, free.body);
    assert.deepEqual(responseWithId(free, "b1").result, { content: [{ type: "text", text: "one" }] });
    assert.equal(responseWithId(free, "b2").result.contents[0].text, "the free readme");
    assert.equal(stack.origin.count("echo"), runs + 1);

    const calls = stack.origin.calls.length;
    const priced = await session.post([
      { jsonrpc: "2.0", id: "p1", method: "tools/call", params: { name: "echo", arguments: { text: "two" } } },
      { jsonrpc: "2.0", id: "p2", method: "tools/call", params: { name: "financial_analysis", arguments: { ticker: "AAPL" } } },
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "nothing" } },
    ]);
    assert.equal(priced.status, 200, priced.body);
    assert.ok(Array.isArray(priced.json), `a JSON array: ${priced.body}`);
    assert.deepEqual(priced.json.map((m) => [m.jsonrpc, m.id, m.error?.code]).sort(), [["2.0", "p1", -32600], ["2.0", "p2", -32600]]);
    assert.equal(stack.origin.calls.length, calls, "nothing forwarded");
    assert.equal(stack.origin.count("echo"), runs + 1, "not even the free call");
  });
}

test("a failed settlement withholds the tool's content: the settlement-failure result, with the reason", CASE, async () => {
  const stack = failing;
  stack.facilitator.settleWith(answers.fail("insufficient_funds"));
  try {
    await withMcp(stack, async (mcp) => {
      const runs = stack.origin.count("financial_analysis");
      const { result } = await callPaid(mcp, freshPayer(), "financial_analysis", { ticker: "GME" });
      const required = assertPaymentRequired(result, "financial_analysis", PRICE.financial_analysis, "settle failed");
      assert.equal(required.error, "insufficient_funds");
      assert.ok(!JSON.stringify(result).includes("Financial analysis for GME"), "the tool's content is withheld");
      assert.equal(stack.origin.count("financial_analysis"), runs + 1, "the tool ran (escrow: verify, run, settle)");
      assert.equal(stack.facilitator.count.settle, 1);
    });
  } finally {
    stack.facilitator.reset();
  }
});
