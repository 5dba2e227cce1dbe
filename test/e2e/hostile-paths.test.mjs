// Hostile paths: `;parameters` that hide dot segments. Servlet containers strip `;params`
// before routing, WHATWG-style routers (and the hostile origin) keep them, so `..;` is a
// parent step for one reader and a plain name for the other. A segment whose `;`-stripped
// form is `.` or `..` is refused (400 bad_path, origin not called), and so is a path that
// prices differently depending on whether `;params` are stripped; a path that prices the
// same either way works as usual. Paths go raw (exact bytes) to the Worker's socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertErrorAnswer, assertEvery, TEST } from "../support/flow.mjs";
import { assertNoFreePremium, startHostileOrigin } from "../support/hostile-origin.mjs";
import { decodePaymentRequired } from "../support/pay.mjs";
import { rawRequest } from "../support/raw.mjs";
import { useStack } from "../support/stack.mjs";

const stack = useStack({ origin: startHostileOrigin });

/** GETs `path` raw and returns the answer with the origin calls it caused. */
async function get(path) {
  const before = stack.origin.calls.length;
  const answer = await rawRequest(stack.worker, { path });
  return { answer, calls: stack.origin.calls.slice(before) };
}

/** Asserts 400 bad_path, no origin call and no premium content for `path`. */
async function assertBadPath(path) {
  const { answer, calls } = await get(path);
  assertNoFreePremium(answer);
  assertErrorAnswer(answer, 400, "bad_path");
  assert.deepEqual(calls.map((c) => c.path), [], "the origin was called");
}

test("dot segments carrying ;params are refused: 400 bad_path, origin not called", TEST, async () => {
  // main: every `..;` spelling below under /premium is priced as its parent (a free path)
  // and forwarded as sent; the hostile origin reads /premium/..;/x and serves 200
  // {"premium":true} without payment. /premium/.;/x and /free/..;/premium/x get a 402
  // (no leak, but the dot segment is not refused); /x/..;/..;/premium/a is already 400.
  await assertEvery(
    [
      "/premium/..;/anything",
      "/premium/..%3B/anything",
      "/premium/%2e%2e;/x",
      "/premium/.%2e;/x",
      "/premium/%2E%2E%3b/x",
      "/premium/..;jsessionid=1/x",
      "/premium/%2e%2e%3Bjsessionid=abc/x",
      "/premium/x/..;/..;/y",
      "/PREMIUM/..;/x",
      "/premium/..;",
      "/premium/..;%2Fx",
      "/premium/.;/x",
      "/x/..;/..;/premium/a",
      "/free/..;/premium/x",
    ],
    assertBadPath,
  );
});

test("a path priced only when ;params are stripped is refused; one priced the same either way works", TEST, async () => {
  // main: /premium;v=1/x and /reports;x=1/1 are priced as /premium/x and /reports/1 (402),
  // while a WHATWG-style router reads the segments `premium;v=1` / `reports;x=1`: the price
  // depends on the reader, which is not refused.
  await assertEvery(["/premium;v=1/x", "/reports;x=1/1", "/PREMIUM;a=b/c"], assertBadPath);

  const priced = await get("/premium/x;v=1");
  assert.equal(priced.answer.status, 402, `/premium/x;v=1: ${priced.answer.body}`);
  assert.equal(decodePaymentRequired({ headers: new Headers(priced.answer.headers) }).x402Version, 2);
  assert.equal(priced.calls.length, 0, "a challenge does not call the origin");

  const free = await get("/free/a;b");
  assert.equal(free.answer.status, 200, free.answer.body);
  assert.deepEqual(free.calls.map((c) => c.path), ["/free/a;b"], "the origin gets the free path unchanged");
  assert.equal(JSON.parse(free.answer.body).premium, false);
});
