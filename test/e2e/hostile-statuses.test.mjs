// Hostile origin statuses (found by an attack on the first fix): a status no client
// response can carry (600, 999) made the worker crate panic while rebuilding the response,
// killing every request in the isolate; a paid redirect is content (a presigned download,
// the end of priced work) and is settled; a 304 delivers nothing and is not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { snapshot } from "../support/chain.mjs";
import { assertErrorAnswer, signFor, TEST } from "../support/flow.mjs";
import { decodePaymentResponse } from "../support/pay.mjs";
import { startFacilitator, startServer } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";

/** An origin whose last path segment names the status it answers (`…/s600`, `…/s302`). */
function startStatusOrigin() {
  return startServer((_req, res, call) => {
    const status = Number(/\/s(\d{3})(?:\?|$)/.exec(call.path)?.[1] ?? 200);
    const headers = { "content-type": "application/json" };
    if (status >= 300 && status < 400) headers.location = "https://cdn.example/report.pdf?X-Amz-Signature=abc";
    res.writeHead(status, headers);
    res.end(status === 304 ? undefined : JSON.stringify({ premium: true, status }));
  });
}

const stack = useStack({ origin: startStatusOrigin, facilitator: startFacilitator });
const fresh = () => privateKeyToAccount(generatePrivateKey());

async function pay(path) {
  const p = await signFor(stack.worker, path, fresh());
  return stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": p.v2Header } }).then(snapshot);
}

test("an out-of-range origin status is 502 origin_unavailable JSON, and the isolate keeps serving", TEST, async () => {
  // first fix: a plain-text 500 and a panic ("Reinitializing Wasm application") that also
  // failed every request in flight.
  // Signed first, so that the paid request is in flight while the bad statuses come back.
  const p = await signFor(stack.worker, "/premium/s200", fresh());
  const inFlight = stack.worker.fetch("/premium/s200", { headers: { "PAYMENT-SIGNATURE": p.v2Header } }).then(snapshot);
  const answers = await Promise.all(["/free/s600", "/free/s999"].map((path) => stack.worker.fetch(path).then(snapshot)));
  for (const [i, path] of ["/free/s600", "/free/s999"].entries()) assertErrorAnswer(answers[i], 502, "origin_unavailable", path);
  const other = await inFlight;
  assert.equal(other.status, 200, `a paid request in flight meanwhile: ${other.body}`);
  const settles = stack.facilitator.count.settle;
  const paid = await pay("/premium/s600");
  assertErrorAnswer(paid, 502, "origin_unavailable", "paid, origin says 600");
  assert.equal(stack.facilitator.count.settle, settles, "nothing settled");
});

test("a paid redirect is settled and passed on; a 304 is passed on uncharged", TEST, async () => {
  const settles = stack.facilitator.count.settle;
  const redirect = await pay("/premium/s302");
  assert.equal(redirect.status, 302, redirect.body);
  assert.equal(redirect.headers.location, "https://cdn.example/report.pdf?X-Amz-Signature=abc");
  assert.equal(decodePaymentResponse({ headers: new Headers(redirect.headers) }).success, true);
  assert.equal(stack.facilitator.count.settle, settles + 1, "the redirect was paid for");
  const notModified = await pay("/premium/s304");
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers["payment-response"], undefined, "nothing settled for a 304");
  assert.equal(stack.facilitator.count.settle, settles + 1);
});

test("a 101 without a WebSocket on a free route is 502 JSON, not a panic", TEST, async () => {
  // second round: is_passable let it through and the worker crate panicked rebuilding it.
  const { createServer } = await import("node:net");
  const raw = createServer((socket) => {
    socket.once("data", () => socket.end("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: nothing\r\n\r\n"));
  });
  await new Promise((resolve) => raw.listen(0, "127.0.0.1", resolve));
  const { startWorker } = await import("../support/worker.mjs");
  const worker = await startWorker({ vars: { ORIGIN_URL: `http://127.0.0.1:${raw.address().port}` } });
  try {
    const answer = await worker.fetch("/free/x").then(snapshot);
    assertErrorAnswer(answer, 502, "origin_unavailable", "101 without a WebSocket");
  } finally {
    await worker.close();
    await new Promise((resolve) => raw.close(resolve));
  }
});
