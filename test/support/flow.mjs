// Steps the e2e tests share: ask for a priced resource, read the challenge, pay.
import assert from "node:assert/strict";
import { decodeHeader, decodePaymentRequired, signExactPayment } from "./pay.mjs";
import { BASE } from "./worker.mjs";

/** Per-test options: every e2e test is bounded in time. */
export const TEST = { timeout: 10_000 };
/** Options for before/after hooks that start or stop servers and workerd. */
export const HOOK = { timeout: 30_000 };

/** `worker.fetch(path)` for a path, `worker.fetchUrl(url)` for a full URL (another host). */
export function fetchAt(worker, pathOrUrl, init = {}) {
  return /^https?:\/\//.test(pathOrUrl) ? worker.fetchUrl(pathOrUrl, init) : worker.fetch(pathOrUrl, init);
}

/** The full URL of a path (on BASE) or URL, as fetchAt requests it. */
export function urlOf(pathOrUrl) {
  return /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : BASE + pathOrUrl;
}

/**
 * Requests `path` (or a full URL) without payment, asserts the 402 and returns
 * `{ res, required, requirements, body }` (requirements = required.accepts[0]).
 */
export async function challenge(worker, path, init = {}) {
  const res = await fetchAt(worker, path, init);
  const body = await res.text();
  assert.equal(res.status, 402, `${path} without payment: want 402, got ${res.status}: ${body}`);
  const required = decodePaymentRequired(res);
  return { res, required, requirements: required.accepts[0], body };
}

/**
 * Asks for `path` (or a full URL), signs the challenge's first requirement with `account`
 * (`sign` overrides signExactPayment's options) and returns the signed payment plus its
 * requirements.
 */
export async function signFor(worker, path, account, sign = {}, init = {}) {
  const { required } = await challenge(worker, path, init);
  return signRequired(required, account, sign, urlOf(path));
}

/**
 * Signs the first requirement of a decoded PAYMENT-REQUIRED `required` with `account`
 * (`sign` overrides signExactPayment's options; `url` stands in for a missing resource URL).
 * Returns the signed payment plus `requirements` and `required`.
 */
export async function signRequired(required, account, sign = {}, url = undefined) {
  const requirements = required.accepts[0];
  const payment = await signExactPayment({ account, requirements, resourceUrl: required.resource?.url ?? url, ...sign });
  return { ...payment, requirements, required };
}

/** Asserts a JSON error body `{error: reason}` and returns the parsed body. */
export async function assertError(res, status, reason) {
  return assertErrorAnswer({ status: res.status, body: await res.text() }, status, reason);
}

/**
 * assertError for an answer already read (`{status, body}`, e.g. from chain.mjs `snapshot`
 * or raw.mjs `rawRequest`); `what` names it in messages.
 */
export function assertErrorAnswer(answer, status, reason, what = "answer") {
  const text = answer.body;
  assert.equal(answer.status, status, `${what}: want ${status}, got ${answer.status}: ${text}`);
  let body;
  assert.doesNotThrow(() => (body = JSON.parse(text)), `${what}: error body is not JSON: ${text}`);
  if (reason instanceof RegExp) assert.match(body.error, reason, what);
  else assert.equal(body.error, reason, what);
  return body;
}

/**
 * Asserts a refused payment on an answer already read (`{status, headers, body}`): 402, the
 * v1 body's and a fresh PAYMENT-REQUIRED's `error` are `reason`, no PAYMENT-RESPONSE unless
 * `settled` allows one. Returns the decoded PAYMENT-REQUIRED.
 */
export function assertRechallenged(answer, reason, what = "answer", { settled = false } = {}) {
  assert.equal(answer.status, 402, `${what}: want 402 ${reason}, got ${answer.status}: ${answer.body.slice(0, 300)}`);
  assert.equal(JSON.parse(answer.body).error, reason, `${what}: body error`);
  const required = decodeHeader(answer.headers["payment-required"], "PAYMENT-REQUIRED");
  assert.equal(required.error, reason, `${what}: PAYMENT-REQUIRED error`);
  assert.ok(required.accepts?.length >= 1, `${what}: a fresh challenge`);
  if (!settled) assert.equal(answer.headers["payment-response"], undefined, `${what}: PAYMENT-RESPONSE`);
  return required;
}

/** Resolves once the wall clock has passed `unixSeconds` (whole seconds since the epoch). */
export function sleepUntil(unixSeconds) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, unixSeconds * 1000 - Date.now())));
}

/** Stable reason strings are snake_case. */
export const REASON = /^[a-z][a-z0-9_]*$/;

/**
 * Runs `check(item)` (async, asserting) for every item and fails once at the end, listing
 * every item that failed and why: a table test reports the whole table, not its first miss.
 */
export async function assertEvery(items, check) {
  const misses = [];
  for (const item of items) {
    try {
      await check(item);
    } catch (err) {
      misses.push(`- ${typeof item === "string" ? item : JSON.stringify(item)}: ${err.message.split("\n")[0]}`);
    }
  }
  assert.equal(misses.length, 0, `${misses.length} of ${items.length} failed:\n${misses.join("\n")}`);
}
