// Every refusal the browser paywall page can meet gets a plain sentence, with the code small
// beside it, in real headless Chromium. The facilitator's refusals come through the built
// Worker (workerd) in front of a fake facilitator; the paywall's own policy answers (rate
// limits, blocks, caps, conflicts, storage) are answered to the page's paid request in the
// shape the Worker gives them (status, `{"error"}` body, a 402's v2 header). The wallet here
// is an older one: window.ethereum only, no EIP-6963.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { HOOK } from "../support/flow.mjs";
import { answers, startFacilitator } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";
import { installWallet, launchBrowser, watchPage } from "../support/browser-wallet.mjs";

const CASE = { timeout: 60_000 };
const stack = useStack({ facilitator: startFacilitator });
let browser;
before(async () => {
  browser = await launchBrowser();
}, HOOK);
after(() => browser?.close(), HOOK);

const EXPIRED = "The payment authorization expired before it was used. Pay again.";
const WINDOW = "The payment's time window was refused. Check that your device's clock is right, then pay again.";
const SERVICE_DOWN = "The payment service is not answering right now. You were not charged. Try again in a minute.";
const USED = "This payment was already used. Pay again for a fresh one.";

/** A page of `path` with a legacy wallet; `answer` (when set) answers every paid request. */
async function open(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await installWallet(page, privateKeyToAccount(generatePrivateKey()), { chainId: 84532, known: [84532], announce: false });
  const seen = watchPage(page);
  const res = await page.goto(`${(await stack.worker.mf.ready).origin}${path}`);
  assert.equal(res.status(), 402);
  return { context, page, seen };
}

/** Pays once and returns the status region's text when the attempt has ended. */
async function attempt(page) {
  await page.click("button.wallet");
  await page.waitForSelector("#status.err, #status.ok");
  await page.waitForSelector("button.wallet:not([disabled])");
  return (await page.innerText("#status")).replace(/\s+/g, " ").trim();
}

test("the facilitator's refusals, through the Worker, each get their sentence and code", CASE, async () => {
  const { context, page, seen } = await open("/premium/refused");
  try {
    assert.deepEqual(await page.$$eval("button.wallet", (bs) => bs.map((b) => b.textContent)), ["Pay with browser wallet"]);
    assert.equal(await page.isVisible("#paper"), false, "no paper wallet in live mode");
    const cases = [
      [answers.invalid("insufficient_funds"), "This wallet does not hold enough USDC on Base Sepolia to pay $0.01. (insufficient_funds)"],
      [answers.invalid("invalid_exact_evm_payload_authorization_valid_before"), `${EXPIRED} (invalid_exact_evm_payload_authorization_valid_before)`],
      [answers.invalid("invalid_exact_evm_payload_authorization_valid_after"), `${WINDOW} (invalid_exact_evm_payload_authorization_valid_after)`],
      [answers.invalid("invalid_network"), "The payment was made for another network; this page is paid on Base Sepolia. (invalid_network)"],
      [answers.invalid("invalid_exact_evm_payload_signature"), "The paywall could not verify the wallet's signature. Nothing was charged. (invalid_exact_evm_payload_signature)"],
      [answers.invalid("invalid_exact_evm_nonce_already_used"), `${USED} (invalid_exact_evm_nonce_already_used)`],
      [answers.invalid("Some prose, not a code"), "The payment was refused. (payment_rejected)"],
      [answers.garbage(500), `${SERVICE_DOWN} (facilitator_unavailable)`],
    ];
    for (const [verify, want] of cases) {
      stack.facilitator.verifyWith(verify);
      assert.equal(await attempt(page), want);
    }
    assert.equal(stack.facilitator.count.settle, 0, "nothing was settled");
    assert.equal(stack.origin.calls.filter((c) => c.path === "/premium/refused").length, 0, "nothing was served");
    assert.equal(seen.paid.length, cases.length);
  } finally {
    stack.facilitator.reset();
    await context.close();
  }
});

test("the paywall's own refusals (limits, blocks, caps, conflicts, storage, settlement) each get their sentence", CASE, async () => {
  const { context, page } = await open("/premium/policy");
  const v2 = (error) => Buffer.from(JSON.stringify({ x402Version: 2, error, accepts: [] })).toString("base64");
  const json = (status, error, headers = {}) => ({ status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ error }) });
  const cases = [
    [json(429, "payer_rate_limited", { "retry-after": "3" }), "This wallet is paying too often. Wait a little and try again. (payer_rate_limited)"],
    [json(429, "too_many_payers", { "retry-after": "3" }), "Too many people are paying right now. Wait a little and try again. (too_many_payers)"],
    [json(403, "payer_blocked"), "This wallet may not pay on this site. (payer_blocked)"],
    [
      json(402, "payer_daily_cap_exceeded", { "payment-required": v2("payer_daily_cap_exceeded") }),
      "This wallet reached its daily spending limit here. Try again tomorrow (UTC). (payer_daily_cap_exceeded)",
    ],
    [json(402, "payment_already_used", { "payment-required": v2("payment_already_used") }), "This payment was already used for another request. Pay again for a fresh one. (payment_already_used)"],
    [json(409, "payment_in_progress", { "retry-after": "5" }), "This payment is still being processed. Try again in a moment. (payment_in_progress)"],
    [json(502, "settlement_unknown", { "retry-after": "2" }), "The payment did not confirm in time. Try again: you will not be charged twice. (settlement_unknown)"],
    [json(503, "storage_unavailable"), "The paywall could not record the payment right now. You were not charged. Try again in a minute. (storage_unavailable)"],
    [json(502, "origin_unavailable"), "The site behind the paywall did not answer. You were not charged. (origin_unavailable)"],
    [json(504, "facilitator_timeout"), `${SERVICE_DOWN} (facilitator_timeout)`],
    [json(500, "paywall_misconfigured"), "This paywall is not set up correctly, so nothing can be paid now. The site's owner has to fix it. (paywall_misconfigured)"],
    [{ status: 500, body: "<h1>Internal Server Error</h1>", headers: { "content-type": "text/html" } }, "The site behind the paywall failed (HTTP 500). You were not charged. (HTTP 500)"],
    [{ status: 404, body: "not here" }, "The site refused the request (HTTP 404). You were not charged. (HTTP 404)"],
  ];
  let answer;
  await page.route("**/premium/policy", (route) =>
    route.request().headers()["payment-signature"] ? route.fulfill(answer) : route.continue(),
  );
  try {
    for (const [reply, want] of cases) {
      answer = reply;
      assert.equal(await attempt(page), want, JSON.stringify(reply));
    }
  } finally {
    await context.close();
  }
});

test("no browser wallet: the button says how to get one", CASE, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${(await stack.worker.mf.ready).origin}/premium/no-wallet`);
    await page.click("button.wallet");
    await page.waitForSelector("#status.err");
    assert.equal(
      (await page.innerText("#status")).replace(/\s+/g, " ").trim(),
      "No browser wallet was found. Install one (or enable it for this site) and reload the page. (no_wallet)",
    );
  } finally {
    await context.close();
  }
});
