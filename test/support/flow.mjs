// Steps the e2e tests share: ask for a priced resource, read the challenge, pay.
import assert from "node:assert/strict";
import { decodePaymentRequired, signExactPayment } from "./pay.mjs";
import { BASE } from "./worker.mjs";

/** Per-test options: every e2e test is bounded in time. */
export const TEST = { timeout: 10_000 };
/** Options for before/after hooks that start or stop servers and workerd. */
export const HOOK = { timeout: 30_000 };

/**
 * Requests `path` without payment, asserts the 402 and returns
 * `{ res, required, requirements, body }` (requirements = required.accepts[0]).
 */
export async function challenge(worker, path, init = {}) {
  const res = await worker.fetch(path, init);
  const body = await res.text();
  assert.equal(res.status, 402, `${path} without payment: want 402, got ${res.status}: ${body}`);
  const required = decodePaymentRequired(res);
  return { res, required, requirements: required.accepts[0], body };
}

/**
 * Asks for `path`, signs the challenge's first requirement with `account` (`sign` overrides
 * signExactPayment's options) and returns the signed payment plus its requirements.
 */
export async function signFor(worker, path, account, sign = {}, init = {}) {
  const { requirements, required } = await challenge(worker, path, init);
  const payment = await signExactPayment({
    account,
    requirements,
    resourceUrl: required.resource?.url ?? BASE + path,
    ...sign,
  });
  return { ...payment, requirements, required };
}

/** Asserts a JSON error body `{error: reason}` and returns the parsed body. */
export async function assertError(res, status, reason) {
  const text = await res.text();
  assert.equal(res.status, status, `want ${status}, got ${res.status}: ${text}`);
  let body;
  assert.doesNotThrow(() => (body = JSON.parse(text)), `error body is not JSON: ${text}`);
  if (reason instanceof RegExp) assert.match(body.error, reason);
  else assert.equal(body.error, reason);
  return body;
}

/** Stable reason strings are snake_case. */
export const REASON = /^[a-z][a-z0-9_]*$/;
