// The browser paywall paying on a chain, in real headless Chromium: x402-edge (workerd) in
// front of the official TypeScript facilitator, which settles our TestUSDC on a local anvil
// (chain id 84532). A test EIP-1193 wallet (viem, anvil's funded account) pays from the page;
// the content appears, and the chain shows exactly one Transfer of the price from the payer
// to PAY_TO in the transaction the page names. An unfunded account is told so, and moves
// nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { getAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { installWallet, launchBrowser, watchPage } from "../support/browser-wallet.mjs";
import { startOrigin } from "../support/servers.mjs";
import { startWorker } from "../support/worker.mjs";
import { anvilAccount, startChain } from "../interop/chain.mjs";
import { startOfficialFacilitator } from "../interop/facilitator.mjs";

const CASE = { timeout: 60_000 };
const SETUP = { timeout: 90_000 };
const PRICE = 10_000n;
const ARTICLE = "<!doctype html><title>On chain</title><h1>Settled on chain</h1>";
const payer = anvilAccount(3);
const PAY_TO = getAddress(anvilAccount(2).address);

let chain;
let facilitator;
let origin;
let worker;
let browser;
before(async () => {
  chain = await startChain({ payers: [payer.address], fund: 1_000_000n });
  facilitator = await startOfficialFacilitator({ chain: chain.chain, account: anvilAccount(1) });
  origin = await startOrigin();
  origin.respondWith(200, ARTICLE, { "content-type": "text/html; charset=utf-8" });
  worker = await startWorker({
    vars: { ORIGIN_URL: origin.url, FACILITATOR_URL: facilitator.url, NETWORK: "eip155:84532", ASSET: getAddress(chain.token.address), PAY_TO },
  });
  browser = await launchBrowser();
  mkdirSync("test-artifacts", { recursive: true });
}, SETUP);
after(async () => {
  await browser?.close();
  await worker?.close();
  await origin?.close();
  await facilitator?.close();
  await chain?.stop();
}, SETUP);

async function open(path, account) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const wallet = await installWallet(page, account, { chainId: 1, known: [1, 84532] });
  const seen = watchPage(page);
  const res = await page.goto(`${(await worker.mf.ready).origin}${path}`);
  assert.equal(res.status(), 402);
  return { context, page, wallet, seen };
}

async function outcome(page) {
  await page.waitForSelector("#status.ok, #status.err");
  return (await page.innerText("#status")).replace(/\s+/g, " ").trim();
}

test("the browser wallet pays on the local chain: the content appears and one Transfer of the price moves", CASE, async () => {
  const before = { payer: await chain.balanceOf(payer.address), payTo: await chain.balanceOf(PAY_TO) };
  const { context, page, wallet, seen } = await open("/premium/on-chain", payer);
  try {
    assert.equal(await page.isVisible("#paper"), false, "no paper wallet with a real facilitator");
    assert.equal((await page.innerText("#pay-to")).trim(), PAY_TO);
    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    assert.equal(await outcome(page), "Paid $0.01. Here is your content.");
    assert.equal(await page.frameLocator("#content iframe").locator("h1").textContent(), "Settled on chain");
    assert.equal(wallet.chainId(), 84532, "the wallet was switched to the route's chain");
    assert.equal(facilitator.count.settle, 1);

    // The transaction the page shows is the settlement's, and it moved the price once.
    const settlement = JSON.parse(Buffer.from(seen.paid[0].headers["payment-response"], "base64").toString());
    assert.match(settlement.transaction, /^0x[0-9a-f]{64}$/i);
    assert.ok((await page.innerText("#transaction")).includes(settlement.transaction));
    assert.equal(
      await page.getAttribute("#transaction a", "href"),
      `https://sepolia.basescan.org/tx/${settlement.transaction}`,
      "a link to the explorer (never fetched)",
    );
    const transfers = await chain.transfersIn(settlement.transaction);
    assert.equal(transfers.length, 1);
    assert.equal(getAddress(transfers[0].from), payer.address);
    assert.equal(getAddress(transfers[0].to), PAY_TO);
    assert.equal(transfers[0].value, PRICE);
    assert.equal((await chain.transfersFrom(payer.address)).length, 1, "one transfer from the payer in all");
    assert.equal(await chain.balanceOf(payer.address), before.payer - PRICE);
    assert.equal(await chain.balanceOf(PAY_TO), before.payTo + PRICE);
    await page.screenshot({ path: "test-artifacts/paywall-chain.png", fullPage: true });
  } finally {
    await context.close();
  }
});

test("an unfunded account on the chain gets the insufficient-funds message; nothing moves", CASE, async () => {
  const broke = privateKeyToAccount(generatePrivateKey());
  const payTo = await chain.balanceOf(PAY_TO);
  const { context, page, seen } = await open("/premium/no-funds", broke);
  try {
    await page.getByRole("button", { name: "Pay with Test Wallet" }).click();
    // The official facilitator's own code, shown beside the plain sentence.
    assert.equal(
      await outcome(page),
      "This wallet does not hold enough USDC on Base Sepolia to pay $0.01. (invalid_exact_evm_insufficient_balance)",
    );
    assert.equal(seen.paid[0].status, 402);
    assert.equal(await chain.balanceOf(PAY_TO), payTo);
    assert.equal(origin.calls.filter((c) => c.path === "/premium/no-funds").length, 0);
  } finally {
    await context.close();
  }
});
