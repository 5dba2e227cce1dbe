// Hostile bodies on a path where a method override would change the price: the paywall
// reads the body to look for one, so the body's framing is an attacker's input. A body
// declared (Content-Length) or streamed (chunked) past the scan limit is refused unread
// or as soon as the limit is crossed; within it, the override is found whatever the
// framing, and a benign body reaches the origin byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertErrorAnswer, assertEvery, TEST } from "../support/flow.mjs";
import { assertNoFreePremium, startHostileOrigin } from "../support/hostile-origin.mjs";
import { rawRequest } from "../support/raw.mjs";
import { useStack } from "../support/stack.mjs";

/** BODY_SCAN_LIMIT in core/src/overrides.rs. */
const SCAN_LIMIT = 1024 * 1024;
const SLOW = { timeout: 30_000 };

const stack = useStack({ origin: startHostileOrigin });

const form = { "content-type": "application/x-www-form-urlencoded" };
const chunked = { ...form, "transfer-encoding": "chunked" };

async function send(req) {
  const before = stack.origin.calls.length;
  const answer = await rawRequest(stack.worker, req);
  return { answer, calls: stack.origin.calls.slice(before) };
}

async function assertRefused(req, status, reason, what) {
  const { answer, calls } = await send(req);
  assertNoFreePremium(answer, what);
  assertErrorAnswer(answer, status, reason, what);
  assert.equal(calls.length, 0, `${what}: the origin was called`);
}

test("a body past the scan limit is 413 body_too_large, declared or streamed", SLOW, async () => {
  const big = `a=1&${"x".repeat(SCAN_LIMIT)}&_method=GET`;
  await assertEvery(
    [
      ["declared", { method: "POST", path: "/premium/x", headers: form, body: big }],
      ["chunked", { method: "POST", path: "/premium/x", headers: chunked, body: big }],
      // Both framings: the body is framed by chunked encoding whatever Content-Length says.
      ["chunked, with a small Content-Length", { method: "POST", path: "/premium/x", headers: { ...chunked, "content-length": "5" }, body: big }],
      // A Content-Length past the limit is refused before a byte is read.
      ["declared, body cut short", { method: "POST", path: "/premium/x", headers: { ...form, "content-length": String(SCAN_LIMIT + 1) }, body: "a=1", timeoutMs: 4_000 }],
    ],
    ([what, req]) => assertRefused(req, 413, "body_too_large", what),
  );
});

test("an override is found in a body however it is framed", TEST, async () => {
  await assertEvery(
    [
      ["declared", { method: "POST", path: "/premium/x", headers: form, body: "a=1&_method=GET" }],
      ["chunked", { method: "POST", path: "/premium/x", headers: chunked, body: "a=1&_method=GET" }],
      ["declared, exactly at the limit", { method: "POST", path: "/premium/x", headers: form, body: `_method=GET&${"x".repeat(SCAN_LIMIT - 12)}` }],
    ],
    ([what, req]) => assertRefused(req, 400, "method_override_refused", what),
  );
});

test("a benign body reaches the origin byte for byte, declared or chunked", TEST, async () => {
  const body = `name=w%C3%A9dget&qty=3&note=${"lorem+".repeat(200)}`;
  await assertEvery(["declared", "chunked"], async (what) => {
    const headers = what === "chunked" ? chunked : form;
    const { answer, calls } = await send({ method: "POST", path: "/premium/x", headers, body });
    assert.equal(answer.status, 200, `${what}: ${answer.body.slice(0, 200)}`);
    assertNoFreePremium(answer, what);
    assert.equal(calls.length, 1, `${what}: one origin call`);
    assert.equal(calls[0].method, "POST", what);
    assert.equal(calls[0].body, body, `${what}: the body as sent`);
  });
});
