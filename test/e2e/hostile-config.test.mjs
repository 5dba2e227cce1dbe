// Hostile deployments: configurations that look fine but give money or trust away. Paper
// mode (no money moves) prices routes only when it runs locally (loopback Host and origin)
// unless PAPER_PUBLIC opts in; the public development receipt key is refused with a real
// facilitator however it is written; a missing Durable Object binding, or a missing KV
// binding in paper mode (its ledger), is a JSON 500 paywall_misconfigured; challenges and receipts name PUBLIC_ORIGIN, not the client's Host,
// and ALLOWED_HOSTS refuses priced requests for other hosts (421 unknown_host).
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { snapshot } from "../support/chain.mjs";
import { assertErrorAnswer, assertEvery, fetchAt, signFor, TEST } from "../support/flow.mjs";
import { assertNoFreePremium, assertPaidPremium, startHostileOrigin } from "../support/hostile-origin.mjs";
import { verifyReceipt } from "../support/jws.mjs";
import { decodeHeader } from "../support/pay.mjs";
import { assertSettledOnce, startFacilitator } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";
import { TEST_RECEIPT_KEY, withWorker } from "../support/worker.mjs";

/** The public development key of .dev.vars (RECEIPT_SIGNING_KEY). */
const DEV_KEY = "8f1e3a5c7b9d2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a1c3e5b7d9f2a4c6e8b0d1f";
const PUBLIC = "http://paywall.example";
const SLOW = { timeout: 30_000 };

const stack = useStack({ origin: startHostileOrigin, facilitator: startFacilitator, worker: false });
afterEach(() => assertSettledOnce(stack.facilitator));

const fresh = () => privateKeyToAccount(generatePrivateKey());
/** Worker vars in front of the hostile origin, in paper mode unless `vars` say otherwise. */
const paper = (vars = {}) => ({ vars: { ORIGIN_URL: stack.origin.url, ...vars } });
/** Worker vars in front of the hostile origin with the fake HTTP facilitator. */
const withFacilitator = (vars = {}) => paper({ FACILITATOR_URL: stack.facilitator.url, ...vars });

/** Signs for `url` (a path on BASE or a full URL) as the challenge there says, pays `target` with it. */
async function pay(worker, url, target = url) {
  const payment = await signFor(worker, url, fresh());
  const answer = await snapshot(await fetchAt(worker, target, { headers: { "PAYMENT-SIGNATURE": payment.v2Header } }));
  return { payment, answer };
}

/** GETs `url` (no payment) and returns the snapshot and the origin calls it caused. */
async function get(worker, url) {
  const before = stack.origin.calls.length;
  const answer = await snapshot(await fetchAt(worker, url));
  return { answer, calls: stack.origin.calls.slice(before) };
}

/** Asserts the JSON 500 paywall_misconfigured with no premium content. */
function assertMisconfigured(answer, what) {
  assertNoFreePremium(answer, what);
  assertErrorAnswer(answer, 500, "paywall_misconfigured", what);
}

test("paper mode on a public host: priced routes 500 paywall_misconfigured, free routes pass; loopback hosts pay", SLOW, async () => {
  // main: paper mode answers http://paywall.example/premium/x with a 402 and "pays" a
  // payment sent there (200 with the premium content): no money moves on a public host.
  await withWorker(paper(), async (w) => {
    assertMisconfigured((await get(w, `${PUBLIC}/premium/x`)).answer, "challenge on a public host");
    const { answer } = await pay(w, "/premium/x", `${PUBLIC}/premium/x`);
    assertMisconfigured(answer, "payment on a public host");

    const free = await get(w, `${PUBLIC}/free/x`);
    assert.equal(free.answer.status, 200, free.answer.body);
    assert.equal(free.calls.length, 1, "free routes still reach the origin");

    const loopback = ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787", "http://localhost"];
    await assertEvery(loopback, async (host) => {
      assertPaidPremium((await pay(w, `${host}/premium/local`)).answer);
    });
  });
});

test("paper mode in front of a non-loopback ORIGIN_URL: priced routes 500 paywall_misconfigured", TEST, async () => {
  // main: a 402 challenge (and a paid request would be "paid" in paper and sent to the
  // public origin). Only unpaid priced requests are sent here: they never reach an origin.
  await withWorker({ vars: { ORIGIN_URL: "https://origin.invalid" } }, async (w) => {
    for (const path of ["/premium/x", "/reports/1"]) assertMisconfigured((await get(w, path)).answer, path);
  });
});

test("PAPER_PUBLIC=true opts a public host into paper mode; without it the same request is refused", SLOW, async () => {
  // main: the public host gets a 402 and pays without the opt-in too.
  await withWorker(paper(), async (w) => {
    assertMisconfigured((await get(w, `${PUBLIC}/premium/opt-in`)).answer, "without PAPER_PUBLIC");
  });
  await withWorker(paper({ PAPER_PUBLIC: "true" }), async (w) => {
    assertPaidPremium((await pay(w, `${PUBLIC}/premium/opt-in`)).answer, "with PAPER_PUBLIC");
  });
});

test("the public development receipt key is refused with a real facilitator however it is written", SLOW, async () => {
  // main: only the exact text of .dev.vars (and its upper case) is refused; "0x"+hex,
  // base64url and padded base64 of the same 32 bytes are accepted (402 challenge), so the
  // public key would sign receipts for real payments.
  const bytes = Buffer.from(DEV_KEY, "hex");
  const spellings = {
    "0x + hex": `0x${DEV_KEY}`,
    "upper-case hex": DEV_KEY.toUpperCase(),
    base64url: bytes.toString("base64url"),
    "base64, padded": bytes.toString("base64"),
    "lower-case hex": DEV_KEY,
  };
  await assertEvery(Object.keys(spellings), async (name) => {
    await withWorker({ ...withFacilitator(), secrets: { RECEIPT_SIGNING_KEY: spellings[name] } }, async (w) => {
      assertMisconfigured((await get(w, "/premium/x")).answer);
    });
  });
  // Another key written in base64url still works.
  const own = Buffer.from(TEST_RECEIPT_KEY, "hex").toString("base64url");
  await withWorker({ ...withFacilitator(), secrets: { RECEIPT_SIGNING_KEY: own } }, async (w) => {
    assert.equal((await get(w, "/premium/x")).answer.status, 402, "a private key in base64url");
  });
});

test("a missing arbiter binding, or KV binding in paper mode: a paid request gets a JSON 500 paywall_misconfigured", SLOW, async () => {
  // main: without X402_KV the runtime answers a plain-text 500 "INTERNAL SERVER ERROR";
  // without X402_ARBITER the answer is 503 storage_unavailable (as if storage were down).
  // KV holds only the paper ledger: with an HTTP facilitator the flow does not use it.
  const cases = [["X402_KV", paper()], ["X402_ARBITER", withFacilitator()]];
  await assertEvery(cases, async ([binding, vars]) => {
    await withWorker({ ...vars, omit: [binding] }, async (w) => {
      const settles = stack.facilitator.count.settle;
      const { answer } = await pay(w, "/premium/x");
      assertMisconfigured(answer);
      assert.equal(answer.headers["access-control-allow-origin"], "*", "CORS on the error");
      assert.equal(answer.headers["cache-control"], "no-store", "not cacheable");
      assert.equal(stack.facilitator.count.settle, settles, "nothing settled");
    });
  });
});

test("with an HTTP facilitator and no KV binding, a payment is paid once and its retry replayed", SLOW, async () => {
  // Exactly-once lives in the arbiter alone: the KV namespace is the paper ledger's.
  await withWorker({ ...withFacilitator(), omit: ["X402_KV"] }, async (w) => {
    const settles = stack.facilitator.count.settle;
    const payment = await signFor(w, "/premium/x", fresh());
    const send = async () =>
      snapshot(await fetchAt(w, "/premium/x", { headers: { "PAYMENT-SIGNATURE": payment.v2Header } }));
    const first = await send();
    assertPaidPremium(first);
    const again = await send();
    assert.equal(again.status, 200, again.body);
    assert.equal(again.body, first.body, "the same content");
    assert.equal(again.headers["payment-response"], first.headers["payment-response"], "the same settlement");
    assert.equal(stack.facilitator.count.settle - settles, 1, "settled once");
  });
});

test("PUBLIC_ORIGIN names the resource in challenges and receipts, whatever the Host", TEST, async () => {
  // main: resource.url and the receipt's resourceUrl carry the client's Host
  // (http://attacker.test/...), so a receipt names a site the operator does not control.
  const want = "https://api.example.com/premium/x?y=1";
  await withWorker(withFacilitator({ PUBLIC_ORIGIN: "https://api.example.com" }), async (w) => {
    const url = "http://attacker.test/premium/x?y=1";
    const { answer, payment } = await pay(w, url);
    assert.equal(payment.required.resource.url, want, "PAYMENT-REQUIRED resource.url");
    assertPaidPremium(answer);
    const jwks = await (await w.fetch("/.well-known/jwks.json")).json();
    assert.equal(verifyReceipt(answer.headers["payment-receipt"], jwks).resourceUrl, want, "receipt resourceUrl");
    const settle = decodeHeader(answer.headers["payment-response"], "PAYMENT-RESPONSE");
    const receipt = settle.extensions?.["offer-receipt"]?.info?.receipt?.signature;
    assert.equal(verifyReceipt(receipt, jwks).resourceUrl, want, "PAYMENT-RESPONSE receipt resourceUrl");
  });
});

test("ALLOWED_HOSTS: a priced request for another host is 421 unknown_host; free routes there pass", TEST, async () => {
  // main: http://attacker.test/premium/x gets a 402 challenge naming attacker.test, and a
  // payment sent there is verified, served and settled.
  await withWorker(withFacilitator({ ALLOWED_HOSTS: "api.example.com, 127.0.0.1:8787" }), async (w) => {
    const counts = { ...stack.facilitator.count };
    const unknown = await get(w, "http://attacker.test/premium/x");
    assertNoFreePremium(unknown.answer);
    assertErrorAnswer(unknown.answer, 421, "unknown_host");
    const { answer } = await pay(w, "/premium/x", "http://attacker.test/premium/x");
    assertNoFreePremium(answer);
    assertErrorAnswer(answer, 421, "unknown_host", "paid, another host");
    assert.deepEqual(stack.facilitator.count, counts, "no facilitator call for an unknown host");

    const free = await get(w, "http://attacker.test/free/x");
    assert.equal(free.answer.status, 200, free.answer.body);
    assert.equal(free.calls.length, 1);
    for (const url of ["/premium/x", "https://api.example.com/premium/x"]) {
      assert.equal((await get(w, url)).answer.status, 402, url);
    }
  });
});
