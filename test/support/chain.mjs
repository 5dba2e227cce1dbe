// Exactly-once test helpers: a counting x402 facilitator on 127.0.0.1 that models a chain
// (an EIP-3009 nonce is charged at most once), and helpers to compare paid answers.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startServer } from "./servers.mjs";
import { decodeHeader, encodeHeader } from "./pay.mjs";

/** The reason a facilitator gives when an authorization's nonce was already used on chain. */
export const NONCE_USED = "invalid_exact_evm_nonce_already_used";

function authorizationOf(request) {
  return request?.paymentPayload?.payload?.authorization ?? {};
}

/**
 * A fake facilitator that keeps a chain: `/settle` of a nonce that was never charged charges
 * it (a new transaction hash) and answers success; `/settle` of a charged nonce answers
 * `{success:false, errorReason: NONCE_USED}`; `/verify` of a charged nonce answers
 * `{isValid:false, invalidReason: NONCE_USED}`, else valid.
 *
 * Counts: `count.verify`, `count.settle`, `count.charges` (totals), `nonce(n)` →
 * `{verify, settle, charged}` for one nonce (0x… hex, any case).
 * `nextSettle({delayMs, charge, answer})` plans the next `/settle` call: the chain step runs
 * when the call arrives (unless `charge:false`: the call never reaches the chain), then the
 * answer waits `delayMs` (longer than FACILITATOR_TIMEOUT_MS = the worker gives up first);
 * `answer(request)` → `{status, body}` replaces the chain's answer.
 * `verifyWith(fn)` replaces every `/verify` answer (`fn(request)` → `{status, body}`).
 */
export async function startChainFacilitator() {
  const count = { verify: 0, settle: 0, charges: 0, other: 0 };
  const perNonce = new Map();
  const transactions = new Map();
  const plans = [];
  const timers = new Set();
  let verifyOverride = null;

  const stats = (nonce) => {
    const n = String(nonce).toLowerCase();
    if (!perNonce.has(n)) perNonce.set(n, { verify: 0, settle: 0, charged: false });
    return perNonce.get(n);
  };
  const sleep = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function chainSettle(request) {
    const auth = authorizationOf(request);
    const s = stats(auth.nonce);
    const base = { network: request?.paymentRequirements?.network, payer: auth.from };
    if (s.charged) {
      return { status: 200, body: { success: false, errorReason: NONCE_USED, transaction: "", ...base } };
    }
    s.charged = true;
    count.charges += 1;
    const transaction = `0x${randomBytes(32).toString("hex")}`;
    transactions.set(String(auth.nonce).toLowerCase(), transaction);
    return { status: 200, body: { success: true, transaction, ...base } };
  }

  const srv = await startServer(async (req, res, call) => {
    const endpoint = new URL(call.path, "http://x").pathname.replace(/^\/+/, "");
    let request = null;
    try {
      request = JSON.parse(call.body);
    } catch {
      request = null;
    }
    let answer;
    if (req.method === "POST" && endpoint === "verify") {
      count.verify += 1;
      const auth = authorizationOf(request);
      const s = stats(auth.nonce);
      s.verify += 1;
      answer = verifyOverride
        ? verifyOverride(request)
        : s.charged
          ? { status: 200, body: { isValid: false, invalidReason: NONCE_USED, payer: auth.from } }
          : { status: 200, body: { isValid: true, payer: auth.from } };
    } else if (req.method === "POST" && endpoint === "settle") {
      count.settle += 1;
      stats(authorizationOf(request).nonce).settle += 1;
      const plan = plans.shift() ?? {};
      const onChain = plan.charge === false ? null : chainSettle(request);
      answer = plan.answer ? plan.answer(request) : onChain;
      if (!answer) answer = { status: 200, body: { success: false, errorReason: "unexpected_settle_error" } };
      if (plan.delayMs) await sleep(plan.delayMs);
    } else {
      count.other += 1;
      answer = { status: 404, body: { error: "not found" } };
    }
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });

  const closeServer = srv.close;
  return Object.assign(srv, {
    count,
    /** Per-nonce counts `{verify, settle, charged}` (zeros for an unseen nonce). */
    nonce(n) {
      return { ...stats(n) };
    },
    /** The transaction hash that charged a nonce, if any. */
    transaction(n) {
      return transactions.get(String(n).toLowerCase());
    },
    nextSettle(plan = {}) {
      plans.push(plan);
    },
    verifyWith(fn) {
      verifyOverride = fn;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return closeServer();
    },
  });
}

/** Reads a response completely: `{status, headers (lowercase names), body (text)}`. */
export async function snapshot(res) {
  const body = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body };
}

/** Headers a replay must repeat exactly (when the first answer had them). */
export const PAID_HEADERS = ["content-type", "payment-response", "x-payment-response", "payment-receipt"];

/** Asserts that `got` is the same paid answer as `want` (status, body, PAID_HEADERS). */
export function assertSameAnswer(got, want, what = "retry") {
  assert.equal(got.status, want.status, `${what}: status ${got.status}, want ${want.status}: ${got.body}`);
  assert.equal(got.body, want.body, `${what}: body`);
  for (const name of PAID_HEADERS) {
    assert.equal(got.headers[name], want.headers[name], `${what}: header ${name}`);
  }
}

/** The v2 header `v2Header` with `extensions["payment-identifier"].info.id = id` added. */
export function withPaymentId(v2Header, id) {
  const payload = decodeHeader(v2Header, "PAYMENT-SIGNATURE");
  payload.extensions = { ...(payload.extensions ?? {}), "payment-identifier": { info: { required: false, id } } };
  return encodeHeader(payload);
}

/** `n` parallel copies of `fn(i)`, settled in order. */
export function storm(n, fn) {
  return Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}

/**
 * Plans the next `/settle` of `facilitator` (startChainFacilitator) per `plan` (delayMs longer
 * than the Worker's FACILITATOR_TIMEOUT_MS), calls `send()` (→ a snapshot) and asserts the
 * 502 settlement_unknown with Retry-After and no PAYMENT-RESPONSE. Returns the answer.
 */
export async function assertSettlementUnknown(facilitator, send, plan) {
  facilitator.nextSettle(plan);
  const unknown = await send();
  assert.equal(unknown.status, 502, unknown.body);
  assert.deepEqual(JSON.parse(unknown.body), { error: "settlement_unknown" });
  assert.match(unknown.headers["retry-after"] ?? "", /^[1-9][0-9]*$/, "502 has Retry-After");
  assert.equal(unknown.headers["payment-response"], undefined);
  return unknown;
}
