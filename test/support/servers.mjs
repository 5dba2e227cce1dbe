// Real HTTP servers on 127.0.0.1 for the end-to-end tests: a recording server, a programmable
// origin and a programmable x402 facilitator fake. Every server records what it was sent.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";

/**
 * Starts an HTTP server on 127.0.0.1 with an OS-chosen port.
 * `handler(req, res, call)` answers; `call` is the recorded request
 * `{ method, path, headers, body }` (path includes the query, body is text).
 * Returns `{ url, port, calls, close() }`; `close()` also drops open (hanging) connections.
 */
export async function startServer(handler) {
  const calls = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const call = {
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    calls.push(call);
    try {
      await handler(req, res, call);
    } catch (err) {
      if (!res.headersSent) res.writeHead(599, { "content-type": "text/plain" });
      res.end(`test server handler threw: ${err?.message ?? err}`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    server,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (a server was bound to it and closed). */
export async function closedPort() {
  const s = await startServer((_req, res) => res.end());
  await s.close();
  return s.port;
}

/**
 * A fake origin. By default answers 200 `{"ok":true,"path":...,"method":...}`.
 * `respondWith(status, body, headers)` changes the answer for every later request
 * (body: string, or an object sent as JSON); `reset()` goes back to the default.
 */
export async function startOrigin() {
  let override = null;
  const srv = await startServer((_req, res, call) => {
    if (override) {
      const { status, body, headers } = override;
      const text = typeof body === "string" ? body : JSON.stringify(body);
      const type = typeof body === "string" ? "text/plain; charset=utf-8" : "application/json";
      res.writeHead(status, { "content-type": type, ...headers });
      res.end(text);
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true, path: call.path, method: call.method }));
  });
  return Object.assign(srv, {
    respondWith(status, body = "", headers = {}) {
      override = { status, body, headers };
    },
    reset() {
      override = null;
    },
  });
}

function payerOf(request) {
  return request?.paymentPayload?.payload?.authorization?.from;
}

const defaultAnswers = {
  verify: (request) => ({ status: 200, body: { isValid: true, payer: payerOf(request) } }),
  settle: (request) => ({
    status: 200,
    body: {
      success: true,
      transaction: `0x${randomBytes(32).toString("hex")}`,
      network: request?.paymentRequirements?.network,
      payer: payerOf(request),
    },
  }),
};

/** Canned facilitator behaviours for `facilitator.verifyWith(...)` / `settleWith(...)`. */
export const answers = {
  /** verify: `{isValid:false, invalidReason}` with HTTP `status` (facilitators use 200 or 400). */
  invalid: (invalidReason = "insufficient_funds", status = 400) => (request) => ({
    status,
    body: { isValid: false, invalidReason, payer: payerOf(request) },
  }),
  /** settle: `{success:false, errorReason}`. */
  fail: (errorReason = "unexpected_settle_error", status = 200) => (request) => ({
    status,
    body: { success: false, errorReason, transaction: "", network: request?.paymentRequirements?.network, payer: payerOf(request) },
  }),
  /** never answers (the connection stays open until the fake is closed). */
  hang: () => () => ({ hang: true }),
  /** HTTP 500 with a non-JSON body. */
  garbage: (status = 500, text = "<html>upstream exploded: secret-internal-detail</html>") => () => ({
    status,
    raw: text,
  }),
};

/**
 * A fake x402 facilitator: POST /verify and POST /settle taking
 * `{x402Version, paymentPayload, paymentRequirements}`. Defaults answer valid / success.
 * `verifyWith(fn)` / `settleWith(fn)` take `(request) => ({status, body} | {status, raw} | {hang:true})`,
 * e.g. `answers.invalid("insufficient_funds")`. `count.verify` / `count.settle` count calls;
 * `requests.verify` / `requests.settle` hold the parsed request bodies.
 */
export async function startFacilitator() {
  const behaviour = { ...defaultAnswers };
  const count = { verify: 0, settle: 0, other: 0 };
  const requests = { verify: [], settle: [] };
  const srv = await startServer((req, res, call) => {
    const endpoint = new URL(call.path, "http://x").pathname.replace(/^\/+/, "");
    if (req.method !== "POST" || !(endpoint in defaultAnswers)) {
      count.other += 1;
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "not found" }));
      return;
    }
    count[endpoint] += 1;
    let request = null;
    try {
      request = JSON.parse(call.body);
    } catch {
      request = null;
    }
    requests[endpoint].push(request);
    const answer = behaviour[endpoint](request);
    if (answer.hang) return; // keep the socket open; close() destroys it
    if (answer.raw !== undefined) {
      res.writeHead(answer.status, { "content-type": "text/html" });
      res.end(answer.raw);
      return;
    }
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });
  return Object.assign(srv, {
    count,
    requests,
    verifyWith(fn) {
      behaviour.verify = fn;
    },
    settleWith(fn) {
      behaviour.settle = fn;
    },
    reset() {
      Object.assign(behaviour, defaultAnswers);
    },
  });
}

/**
 * Asserts that `facilitator` (startFacilitator) was never asked to settle one authorization
 * twice: every `/settle` request so far names another EIP-3009 nonce.
 */
export function assertSettledOnce(facilitator) {
  const nonces = facilitator.requests.settle.map((r) => String(r?.paymentPayload?.payload?.authorization?.nonce).toLowerCase());
  const twice = nonces.filter((n, i) => nonces.indexOf(n) !== i);
  if (twice.length > 0) throw new Error(`/settle was called again for nonce(s) ${[...new Set(twice)].join(", ")}`);
}
