// Raw HTTP/1.1 to the Worker: any method string, any path bytes, straight to Miniflare's own
// socket on 127.0.0.1 with node:http. `dispatchFetch` (undici) refuses methods such as
// TRACE and normalises some paths; this does not. Note that workerd itself answers
// `501 ERROR: Unrecognized request method.` (plain text, before any Worker code) for
// methods it does not know at all (FOO, TRACK, M-SEARCH, BREW).
import assert from "node:assert/strict";
import { request } from "node:http";
import { signRequired } from "./flow.mjs";
import { decodeHeader } from "./pay.mjs";

/** Per-request deadline of rawRequest, ms. */
export const RAW_TIMEOUT_MS = 8_000;

/**
 * Sends one request to `worker` (from startWorker): `{method, path, headers, body,
 * timeoutMs}` (body: string or Buffer). A new connection each time (`agent: false`: workerd
 * hangs up kept-alive connections after a 500). Resolves `{status, headers (lowercase
 * names), body (text), bytes (Buffer)}`; rejects on a transport error or after `timeoutMs`.
 */
export async function rawRequest(worker, { method = "GET", path = "/", headers = {}, body, timeoutMs = RAW_TIMEOUT_MS } = {}) {
  const entry = new URL(await worker.mf.ready);
  const payload = body === undefined ? undefined : Buffer.from(body);
  const sent = { ...headers };
  const framed = Object.keys(sent).some((n) => ["content-length", "transfer-encoding"].includes(n.toLowerCase()));
  if (payload && !framed) {
    sent["content-length"] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: entry.hostname, port: entry.port, method, path, headers: sent, agent: false });
    const done = (err, answer) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer);
    };
    const timer = setTimeout(() => {
      req.destroy();
      done(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("response", (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", (err) => done(err));
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        done(null, { status: res.statusCode, headers: res.headers, body: bytes.toString("utf8"), bytes });
      });
    });
    // CONNECT / Upgrade answers hand the socket over instead of a response body.
    for (const event of ["connect", "upgrade"]) {
      req.on(event, (res, socket) => {
        socket.destroy();
        done(null, { status: res.statusCode, headers: res.headers, body: "", bytes: Buffer.alloc(0) });
      });
    }
    req.on("error", (err) => done(err));
    req.end(payload);
  });
}

/** The decoded PAYMENT-REQUIRED header of a raw answer. */
export function rawPaymentRequired(answer) {
  return decodeHeader(answer.headers["payment-required"], "PAYMENT-REQUIRED");
}

/**
 * Sends `req` (rawRequest options) without payment, asserts the 402 and signs its first
 * requirement with `account` (`sign`: signExactPayment overrides), as flow.mjs signFor.
 */
export async function rawSignFor(worker, req, account, sign = {}) {
  const answer = await rawRequest(worker, req);
  assert.equal(answer.status, 402, `${req.method} ${req.path} without payment: ${answer.status} ${answer.body}`);
  return signRequired(rawPaymentRequired(answer), account, sign);
}
