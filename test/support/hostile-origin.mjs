// A real HTTP origin on 127.0.0.1 that reads requests the way common non-servlet frameworks
// do, so that a request the paywall lets through as free actually gets premium content when
// the two disagree about what was asked for:
//
// - path: resolved like the WHATWG URL parser (`new URL(url, base).pathname`), then
//   percent-decoded segment by segment; `;params` are kept (not stripped as servlets do);
//   matched case-insensitively (as IIS does);
// - method overrides (Express method-override, Rails, Laravel): the headers
//   `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` on any method, and
//   `_method` in the query string or an `application/x-www-form-urlencoded` body on POST;
// - path overrides (IIS URL Rewrite, Symfony): `X-Original-URL` and `X-Rewrite-URL` replace
//   the path.
//
// The priced resources of wrangler.toml (GET/HEAD /premium/*, any method /reports/:id,
// POST /api/score), judged on the effective method and path, answer 200
// `{"premium":true,"method":…,"path":…}`; everything else 200 `{"premium":false,…}`.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startServer } from "./servers.mjs";

const METHOD_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"];
const PATH_HEADERS = ["x-original-url", "x-rewrite-url"];
/** Every header some framework reads as another method or path (lower case). */
export const OVERRIDE_HEADERS = [...METHOD_HEADERS, ...PATH_HEADERS];

/** Decodes one path segment as a framework router would; a bad escape stays as sent. */
function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The path a WHATWG-style router sees for a request target (path, optional query). */
export function whatwgPath(target) {
  const { pathname } = new URL(target, "http://o");
  return pathname.split("/").map(decodeSegment).join("/");
}

/** The method and path a permissive framework acts on, and whether it is a priced resource. */
export function effectiveRequest({ method, path: target, headers, body }) {
  let effectiveMethod = method.toUpperCase();
  const methodHeader = METHOD_HEADERS.find((h) => headers[h]);
  if (methodHeader) {
    effectiveMethod = String(headers[methodHeader]).toUpperCase();
  } else if (effectiveMethod === "POST") {
    const query = new URL(target, "http://o").searchParams;
    const form = /application\/x-www-form-urlencoded/i.test(headers["content-type"] ?? "")
      ? new URLSearchParams(body)
      : new URLSearchParams();
    const override = query.get("_method") ?? form.get("_method");
    if (override) effectiveMethod = override.toUpperCase();
  }
  const pathHeader = PATH_HEADERS.find((h) => headers[h]);
  const path = whatwgPath(pathHeader ? String(headers[pathHeader]) : target);
  return { method: effectiveMethod, path, premium: isPriced(effectiveMethod, path) };
}

/** wrangler.toml's priced routes, matched case-insensitively on the decoded path. */
function isPriced(method, path) {
  if ((method === "GET" || method === "HEAD") && /^\/premium(\/.*)?$/i.test(path)) return true;
  if (/^\/reports\/[^/]+\/?$/i.test(path)) return true;
  return method === "POST" && /^\/api\/score\/?$/i.test(path);
}

/** `n` bytes of JSON-safe text that change every 64 bytes (truncation or reordering shows). */
function filler(n) {
  let out = "";
  for (let i = 0; out.length < n; i += 1) out += `${String(i).padStart(10, "0")}${"abcdefghij".repeat(6)}`.slice(0, 64);
  return out.slice(0, n);
}

/**
 * Starts the hostile origin. Every call is recorded in `calls` like startServer's, with
 * `effective: {method, path, premium}` added. `behave(plan)` changes how later requests are
 * answered until `behave()` resets it:
 * - `{hang: true}`: never answer (the socket stays open until `close()`);
 * - `{streamBytes: n}`: answer a body of about `n` bytes in chunks, without Content-Length.
 * `streamed` lists `{length, sha256}` of each streamed body sent.
 */
export async function startHostileOrigin() {
  let plan = {};
  const streamed = [];
  const srv = await startServer(async (_req, res, call) => {
    const effective = effectiveRequest(call);
    call.effective = effective;
    if (plan.hang) return;
    const text = JSON.stringify({ ...effective, rawUrl: call.path });
    if (!plan.streamBytes) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(text);
      return;
    }
    const body = Buffer.from(`${text.slice(0, -1)},"pad":"${filler(plan.streamBytes)}"}`);
    streamed.push({ length: body.length, sha256: sha256(body) });
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    const chunk = 64 * 1024;
    for (let at = 0; at < body.length; at += chunk) {
      if (!res.write(body.subarray(at, at + chunk))) await new Promise((resolve) => res.once("drain", resolve));
    }
    res.end();
  });
  return Object.assign(srv, {
    streamed,
    behave(next = {}) {
      plan = next;
    },
  });
}

/** Hex SHA-256 of a Buffer or string. */
export function sha256(data) {
  return createHash("sha256").update(data).digest("hex");
}

/** True when `body` (text) carries the hostile origin's premium content. */
export function isPremium(body) {
  return /"premium"\s*:\s*true/.test(body);
}

/**
 * The overarching property: an answer (`{status, headers (lowercase names), body}`) carries
 * premium content only with a successful settlement in PAYMENT-RESPONSE.
 */
export function assertNoFreePremium(answer, what = "answer") {
  if (!isPremium(answer.body)) return;
  const header = answer.headers["payment-response"];
  assert.ok(header, `${what}: premium content without PAYMENT-RESPONSE (status ${answer.status}): ${answer.body.slice(0, 200)}`);
  const settle = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  assert.equal(settle.success, true, `${what}: premium content with an unsuccessful settlement`);
}

/** Asserts a paid answer: 200 with premium content and a successful PAYMENT-RESPONSE. */
export function assertPaidPremium(answer, what = "paid answer") {
  assert.equal(answer.status, 200, `${what}: ${answer.body.slice(0, 300)}`);
  assert.ok(isPremium(answer.body), `${what}: no premium content: ${answer.body.slice(0, 200)}`);
  assertNoFreePremium(answer, what);
}
