// The operator's dashboard in real headless Chromium (Debian chromium + playwright-core),
// against the built Worker in workerd, after real paper-mode payments and a refused one:
// the login, the totals, a filter that changes them, the tables; no console error. A
// screenshot is kept in test-artifacts/ (not committed).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { signFor, HOOK } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";

const TOKEN = "a-dashboard-token-for-the-tests";
const CHROMIUM = "/usr/bin/chromium";
const CASE = { timeout: 60_000 };
// A paper balance of two payments: a third is refused by the facilitator (rejected).
const stack = useStack({ vars: { FACILITATOR_URL: "paper", PAPER_BALANCE: "$0.02" }, secrets: { ADMIN_TOKEN: TOKEN } });
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}, HOOK);
after(() => browser?.close(), HOOK);

async function pay(path, account) {
  const p = await signFor(stack.worker, path, account);
  const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": p.v2Header } });
  await res.arrayBuffer();
  return res.status;
}

test("the dashboard logs in, shows the right totals, filters change them, no console errors", CASE, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: bash .ci/setup installs it`);
  const alice = privateKeyToAccount(generatePrivateKey());
  const bob = privateKeyToAccount(generatePrivateKey());
  assert.equal(await pay("/premium/one", alice), 200);
  assert.equal(await pay("/premium/two", alice), 200);
  assert.equal(await pay("/premium/broke", alice), 402, "a third payment is more than the balance: rejected");
  assert.equal(await pay("/premium/three", bob), 200);
  stack.origin.respondWith(503, "down");
  try {
    assert.equal(await pay("/premium/four", bob), 503, "refused by the origin: refunded");
  } finally {
    stack.origin.reset();
  }

  const base = (await stack.worker.mf.ready).origin;
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  await page.goto(`${base}/_x402/`);
  assert.equal(await page.isVisible("#login"), true);
  await page.fill("#token", "wrong-token-wrong-token");
  await page.click("#login-form button");
  await page.waitForFunction(() => document.getElementById("login-error").textContent !== "");
  assert.equal(await page.textContent("#login-error"), "Wrong token.");

  await page.fill("#token", TOKEN);
  await page.click("#login-form button");
  await page.waitForSelector("#board:not([hidden])");
  await page.waitForFunction(() => document.getElementById("settled-count").textContent === "3");
  assert.equal(await page.textContent("#settled-amount"), "30000");
  assert.equal(await page.textContent("#refunded-count"), "1");
  assert.equal(await page.textContent("#rejected-count"), "1");
  assert.equal(await page.textContent("#error"), "");
  await page.waitForFunction(() => document.querySelectorAll("#recent tbody tr").length === 3);
  // A bar per day of the window (30 days and the end), one of them with the revenue.
  const bars = await page.$$eval("#chart rect", (rs) => rs.map((r) => Number(r.getAttribute("height"))));
  assert.ok(bars.length >= 30 && bars.length <= 32, `${bars.length} bars`);
  assert.equal(bars.filter((h) => h > 0).length, 1, "one day of revenue");
  assert.match(await page.textContent("#failures tbody"), /origin_failed/);
  assert.match(await page.textContent("#failures tbody"), /insufficient_funds/);
  // Each recent payment links its receipt, which the paywall serves.
  const links = await page.$$eval("#recent tbody a", (as) => as.map((a) => a.getAttribute("href")));
  assert.equal(links.length, 3);
  const receipt = await page.evaluate(async (href) => (await fetch(href)).json(), links[0]);
  assert.equal(receipt.status, "settled");
  assert.match(await page.textContent("#routes tbody"), /GET \/premium\/\*/);
  const payers = await page.$$eval("#payers tbody tr", (rows) => rows.map((r) => r.children[0].textContent));
  assert.deepEqual(payers, [alice.address.toLowerCase(), bob.address.toLowerCase()]);
  mkdirSync("test-artifacts", { recursive: true });
  await page.screenshot({ path: "test-artifacts/dashboard.png", fullPage: true });

  // A payer filter narrows every figure.
  await page.fill("#payer", bob.address);
  await page.click("#filters button");
  await page.waitForFunction(() => document.getElementById("settled-count").textContent === "1");
  assert.equal(await page.textContent("#settled-amount"), "10000");
  await page.waitForFunction(() => document.querySelectorAll("#recent tbody tr").length === 1);
  assert.match(await page.textContent("#recent tbody"), new RegExp(bob.address, "i"));
  // A payer looked up, blocked and unblocked from the page: the changes are listed.
  await page.fill("#payer-address", bob.address);
  await page.click("#payer-form button");
  await page.waitForSelector("#payer-view:not([hidden])");
  await page.waitForFunction(() => document.getElementById("payer-state").textContent.includes("may pay"));
  assert.match(await page.textContent("#payer-spend tbody"), /\*\s*10000/);
  await page.click("#payer-block");
  await page.waitForFunction(() => document.getElementById("payer-state").textContent.includes("blocked by you"));
  await page.waitForFunction(() => document.querySelectorAll("#policy tbody tr").length === 1);
  assert.match(await page.textContent("#policy tbody"), /operator_block/);
  await page.click("#payer-unblock");
  await page.waitForFunction(() => document.getElementById("payer-state").textContent.includes("may pay"));
  await page.waitForFunction(() => document.querySelectorAll("#policy tbody tr").length === 2);
  // A window with nothing in it.
  await page.fill("#payer", "");
  await page.fill("#since", "2001-01-01");
  await page.fill("#until", "2001-01-02");
  await page.click("#filters button");
  await page.waitForFunction(() => document.getElementById("settled-count").textContent === "0");

  // On a phone's width, nothing is wider than the screen.
  await page.setViewportSize({ width: 375, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  await page.screenshot({ path: "test-artifacts/dashboard-phone.png", fullPage: true });

  // The session is a cookie the page cannot read; logging out ends it.
  assert.equal(await page.evaluate(() => document.cookie), "");
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  const res = await page.evaluate(async () => (await fetch("/_x402/summary")).status);
  assert.equal(res, 401);
  assert.deepEqual(problems.filter((p) => !p.includes("401")), []);
});
