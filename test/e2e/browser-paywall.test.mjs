// The browser paywall page (www/paywall.html) paying in real headless Chromium against the
// built Worker in workerd, in paper mode: a test EIP-1193 wallet (viem) pays an HTML and a
// JSON route and the content, the transaction and the receipt appear in place; the page's
// own paper wallet pays and its balance goes down; a declined signature, an unfunded payer,
// a refused chain switch and an origin failure get their plain messages and charge nothing.
// Screenshots (desktop, phone) go to test-artifacts/ (git-ignored).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { HOOK } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";
import { installWallet, launchBrowser, watchPage } from "../support/browser-wallet.mjs";

const CASE = { timeout: 60_000 };
const ARTICLE = "<!doctype html><title>Article</title><h1>The paid article</h1><p>Forty-two reasons to pay.</p>";
const PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const DESKTOP = { width: 1100, height: 900 };
/** A phone's screen (a page resized to it later does not repaint its sandboxed frame in shots). */
const PHONE = { width: 375, height: 740 };
const paper = useStack({ vars: { FACILITATOR_URL: "paper" } });
const poor = useStack({ vars: { FACILITATOR_URL: "paper", PAPER_BALANCE: "$0.001" } });
let browser;

before(async () => {
  browser = await launchBrowser();
  mkdirSync("test-artifacts", { recursive: true });
}, HOOK);
after(() => browser?.close(), HOOK);

const base = async (stack) => (await stack.worker.mf.ready).origin;
const text = (page, selector) => page.innerText(selector).then((t) => t.replace(/\s+/g, " ").trim());
/** How many requests for `path` the origin has had (the browser also asks for /favicon.ico). */
const served = (stack, path) => stack.origin.calls.filter((c) => c.path === path).length;

/** A fresh page (own context: own sessionStorage) with a test wallet for a fresh account. */
async function open(stack, path, walletOptions = {}, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const account = privateKeyToAccount(generatePrivateKey());
  const wallet = await installWallet(page, account, walletOptions);
  const seen = watchPage(page);
  const res = await page.goto(`${await base(stack)}${path}`);
  assert.equal(res.status(), 402, "the paywall page comes with 402");
  assert.ok(res.headers()["payment-required"], "and the PAYMENT-REQUIRED header");
  return { context, page, account, wallet, seen };
}

/** Waits for the status region to report an outcome (ok or err), returns its text. */
async function outcome(page) {
  await page.waitForSelector("#status.ok, #status.err");
  return text(page, "#status");
}

/** Only the Worker's own origin was asked for anything. */
async function assertOnlyOwnRequests(stack, seen) {
  const own = await base(stack);
  const foreign = seen.requests.filter((u) => !u.startsWith(`${own}/`) && !u.startsWith("data:") && u !== "about:srcdoc");
  assert.deepEqual(foreign, [], "the page fetched nothing but the paywall's own endpoints");
}

test("a browser wallet pays an HTML route: the article appears in a sandboxed frame, with the transaction and the receipt", CASE, async () => {
  paper.origin.respondWith(200, ARTICLE, { "content-type": "text/html; charset=utf-8" });
  const { context, page, account, wallet, seen } = await open(paper, "/premium/article");
  try {
    // What is sold, from the embedded challenge.
    assert.equal(await text(page, "#description"), "Premium articles");
    assert.equal(await text(page, "#price"), "$0.01");
    assert.equal(await text(page, "#atomic"), "10000 atomic units of USDC");
    assert.equal(await text(page, "#network"), "Base Sepolia (eip155:84532)");
    assert.equal(await text(page, "#pay-to"), PAY_TO);
    assert.equal(await page.isVisible("#paper"), true, "paper mode offers the paper wallet");
    const boxes = () => Promise.all(["#description", "details", "#status", "#result"].map((s) => page.locator(s).boundingBox().then((b) => [s, b.y])));
    const before = await boxes();
    const reserved = await page.evaluate(() => parseFloat(getComputedStyle(document.getElementById("result")).minHeight));
    assert.ok(reserved >= 300, `the result area reserves its space (min-height ${reserved}px)`);

    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    assert.equal(await outcome(page), "Paid $0.01. Here is your content.");
    assert.equal(served(paper, "/premium/article"), 1, "the origin served it once");

    // The wallet was asked to add Base Sepolia (it did not know it), then switch, then sign.
    const methods = wallet.calls.map((c) => c.method);
    assert.deepEqual(methods.filter((m) => m.startsWith("wallet_")), ["wallet_switchEthereumChain", "wallet_addEthereumChain", "wallet_switchEthereumChain"]);
    const added = wallet.calls.find((c) => c.method === "wallet_addEthereumChain").params[0];
    assert.equal(added.chainId, "0x14a34");
    assert.equal(added.chainName, "Base Sepolia");
    assert.deepEqual(added.rpcUrls, ["https://sepolia.base.org"]);
    assert.equal(wallet.signed.length, 1);
    const signed = wallet.signed[0];
    assert.deepEqual(signed.domain, { name: "USDC", version: "2", chainId: 84532, verifyingContract: "0x036CbD53842c5426634e7929541eC2318f3dCF7e" });
    assert.equal(signed.message.from, account.address);
    assert.equal(signed.message.to, PAY_TO);
    assert.equal(signed.message.value, "10000");
    assert.equal(Number(signed.message.validBefore) - Number(signed.message.validAfter), 660);
    assert.match(signed.message.nonce, /^0x[0-9a-f]{64}$/);

    // The content, sandboxed without scripts.
    assert.equal(await page.getAttribute("#content iframe", "sandbox"), "");
    const frame = page.frameLocator("#content iframe");
    assert.equal(await frame.locator("h1").textContent(), "The paid article");
    assert.equal(await frame.locator("p").textContent(), "Forty-two reasons to pay.");

    // The transaction and the receipt are the paid response's.
    assert.equal(seen.paid.length, 1);
    assert.equal(seen.paid[0].status, 200);
    const settlement = JSON.parse(Buffer.from(seen.paid[0].headers["payment-response"], "base64").toString());
    const claims = JSON.parse(Buffer.from(seen.paid[0].headers["payment-receipt"].split(".")[1], "base64url").toString());
    const tx = await text(page, "#transaction");
    assert.ok(tx.includes(settlement.transaction) && settlement.transaction.startsWith("paper:0x"), tx);
    assert.ok(tx.includes("Base Sepolia (eip155:84532)"), tx);
    assert.ok(tx.includes(account.address), tx);
    const receipt = await text(page, "#receipt");
    assert.ok(claims.jti && receipt.includes(`Receipt id ${claims.jti}`), receipt);
    assert.ok(receipt.includes(`10000 atomic units to ${PAY_TO}`), receipt);
    assert.ok(receipt.includes("GET /premium/*"), receipt);

    // No layout shift: nothing on the page moved; the result filled its reserved area (and on).
    assert.deepEqual(await boxes(), before);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Your content", "focus moves to the result");
    await page.screenshot({ path: "test-artifacts/paywall-paid.png", fullPage: true });

    // On a phone's width nothing is wider than the screen.
    await page.setViewportSize(PHONE);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await assertOnlyOwnRequests(paper, seen);
    // The page itself comes with 402, which Chromium logs; nothing else may fail.
    assert.deepEqual(seen.problems.filter((p) => !/status of 402/.test(p)), []);
  } finally {
    paper.origin.reset();
    await context.close();
  }
});

test("a browser wallet pays a JSON route: the JSON is shown pretty-printed", CASE, async () => {
  const { context, page, seen } = await open(paper, "/reports/42", { chainId: 84532, known: [84532] });
  try {
    assert.equal(await text(page, "#price"), "$0.05");
    await page.keyboard.press("Tab"); // keyboard only: the first button is the wallet's
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Pay with Test Wallet");
    await page.keyboard.press("Enter");
    assert.equal(await outcome(page), "Paid $0.05. Here is your content.");
    const shown = await page.textContent("#content pre");
    assert.deepEqual(JSON.parse(shown), { ok: true, path: "/reports/42", method: "GET" });
    assert.ok(shown.includes('\n  "path": "/reports/42"'), `pretty-printed: ${shown}`);
    assert.match(await text(page, "#receipt"), /50000 atomic units/);
    await assertOnlyOwnRequests(paper, seen);
  } finally {
    await context.close();
  }
});

test("the paper wallet pays on a phone: its address and balance are shown, and the balance goes down by the price", CASE, async () => {
  paper.origin.respondWith(200, ARTICLE, { "content-type": "text/html; charset=utf-8" });
  const { context, page, seen } = await open(paper, "/premium/paper", {}, PHONE);
  try {
    await page.waitForFunction(() => /USDC/.test(document.getElementById("paper-balance").textContent));
    assert.equal(await text(page, "#paper-balance"), "10.000000 USDC (10000000 atomic units)");
    const address = await text(page, "#paper-address");
    assert.match(address, /^0x[0-9a-fA-F]{40}$/);
    const ledger = await (await paper.worker.fetch(`/.well-known/x402/paper/balances/${address.toLowerCase()}`)).json();
    assert.equal(ledger.payer, address, "the page's address is the checksummed one the paywall names");

    await page.click("#pay-paper");
    assert.equal(await outcome(page), "Paid $0.01. Here is your content.");
    assert.equal(await page.frameLocator("#content iframe").locator("h1").textContent(), "The paid article");
    assert.ok((await text(page, "#transaction")).includes(address), "the paper wallet paid");
    await page.waitForFunction(() => document.getElementById("paper-balance").textContent.startsWith("9.99"));
    assert.equal(await text(page, "#paper-balance"), "9.990000 USDC (9990000 atomic units)");
    const after = await (await paper.worker.fetch(`/.well-known/x402/paper/balances/${address.toLowerCase()}`)).json();
    assert.equal(after.balances[0].amount, "9990000");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await page.screenshot({ path: "test-artifacts/paywall-paper-phone.png", fullPage: true });
    await page.locator("#content iframe").scrollIntoViewIfNeeded();
    await page.screenshot({ path: "test-artifacts/paywall-paper-phone-content.png" });

    // The key stays for the session: a reload shows the same wallet and its balance.
    await page.reload();
    assert.equal(await text(page, "#paper-address"), address);
    await page.waitForFunction(() => document.getElementById("paper-balance").textContent.startsWith("9.99"));
    await assertOnlyOwnRequests(paper, seen);
  } finally {
    paper.origin.reset();
    await context.close();
  }
});

test("a declined signature (4001) gets its plain message and no payment is sent", CASE, async () => {
  const { context, page, wallet, seen } = await open(paper, "/premium/declined", { chainId: 84532, known: [84532], rejectSignature: true });
  try {
    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    assert.equal(await outcome(page), "You declined the request in your wallet. Nothing was paid. (user_rejected)");
    assert.equal(await page.getAttribute("#status", "role"), "status");
    assert.equal(wallet.signed.length, 0);
    assert.equal(seen.paid.length, 0, "no request carried a payment");
    assert.equal(served(paper, "/premium/declined"), 0);
    assert.equal(await page.isEnabled("button.wallet"), true, "the button can be pressed again");
  } finally {
    await context.close();
  }
});

test("a wallet that refuses to switch networks is told which network pays; nothing is signed", CASE, async () => {
  const { context, page, wallet, seen } = await open(paper, "/premium/switch", { rejectSwitch: true });
  try {
    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    assert.equal(
      await outcome(page),
      "Your wallet stayed on another network; this page is paid on Base Sepolia. Switch networks and pay again. (wrong_chain)",
    );
    assert.equal(wallet.signed.length, 0);
    assert.equal(seen.paid.length, 0);
  } finally {
    await context.close();
  }
});

test("an unfunded payer gets the insufficient-funds message; nothing is served", CASE, async () => {
  const { context, page, seen } = await open(poor, "/premium/too-dear", { chainId: 84532, known: [84532] });
  try {
    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    assert.equal(
      await outcome(page),
      "This wallet does not hold enough USDC on Base Sepolia to pay $0.01. (insufficient_funds)",
    );
    assert.equal(seen.paid.length, 1);
    assert.equal(seen.paid[0].status, 402);
    assert.equal(served(poor, "/premium/too-dear"), 0, "the origin was not asked");
    assert.equal(await page.textContent("#result"), "");
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: "test-artifacts/paywall-refused-phone.png", fullPage: true });
  } finally {
    await context.close();
  }
});

test("an origin failure says the payer was not charged", CASE, async () => {
  paper.origin.respondWith(503, "down for maintenance");
  const { context, page, account } = await open(paper, "/premium/down", { chainId: 84532, known: [84532] });
  try {
    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    assert.equal(await outcome(page), "The site behind the paywall failed (HTTP 503). You were not charged. (HTTP 503)");
    const ledger = await (await paper.worker.fetch(`/.well-known/x402/paper/balances/${account.address}`)).json();
    assert.equal(ledger.balances[0].amount, "10000000", "the paper balance is whole");
  } finally {
    paper.origin.reset();
    await context.close();
  }
});
