// MCP tools paid on a chain (issue 12): the SDK's MCP client pays x402-edge (workerd via
// Miniflare) with a PaymentPayload from the official @x402/core client in
// `_meta["x402/payment"]`; the Worker asks the official TypeScript facilitator, which settles
// our TestUSDC on a local anvil; the MCP server (SDK, JSON and SSE answers) runs the tool.
// The chain is the judge: exactly one Transfer of the price from the payer to PAY_TO per paid
// call, none for a retry of the same payment, none for a tool that failed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { verifyReceipt } from "../support/jws.mjs";
import { analysisText, BROKEN_TEXT, callPaid, connectMcp, MCP_VARS, mcpPayer, startMcpServer } from "../support/mcp.mjs";
import { startWorker } from "../support/worker.mjs";
import { anvilAccount, startChain } from "./chain.mjs";
import { startOfficialFacilitator } from "./facilitator.mjs";

const CHAIN_TEST = { timeout: 30_000 };
const SETUP = { timeout: 60_000 };
const PRICE = 10_000n;
const TX_HASH = /^0x[0-9a-f]{64}$/i;
const MODES = ["json", "sse"];
const payers = { json: anvilAccount(3), sse: anvilAccount(4), broken: anvilAccount(5) };
const PAY_TO = getAddress(anvilAccount(2).address);

let chain;
let facilitator;
const servers = {};
const workers = {};
before(async () => {
  chain = await startChain({ payers: Object.values(payers).map((a) => a.address), fund: 1_000_000n });
  facilitator = await startOfficialFacilitator({ chain: chain.chain, account: anvilAccount(1) });
  for (const mode of MODES) {
    servers[mode] = await startMcpServer({ json: mode === "json" });
    workers[mode] = await startWorker({
      vars: {
        ORIGIN_URL: servers[mode].url,
        FACILITATOR_URL: facilitator.url,
        NETWORK: "eip155:84532",
        ASSET: getAddress(chain.token.address),
        PAY_TO,
        ...MCP_VARS,
      },
    });
  }
}, SETUP);
after(async () => {
  for (const mode of MODES) {
    await workers[mode]?.close();
    await servers[mode]?.close();
  }
  await facilitator?.close();
  await chain?.stop();
}, SETUP);

const same = (a, b) => a.toLowerCase() === b.toLowerCase();

/** The official client, opted in to paying with our TestUSDC (not a well-known asset). */
function payerFor(account) {
  return mcpPayer(account, {
    allowedAssets: [{ network: "eip155:84532", asset: getAddress(chain.token.address), maxAmountPerPayment: "1000000" }],
  });
}

async function balances(payer) {
  return { payer: await chain.balanceOf(payer), payTo: await chain.balanceOf(PAY_TO) };
}

async function withMcp(worker, fn) {
  const mcp = await connectMcp(worker);
  try {
    return await fn(mcp);
  } finally {
    await mcp.close();
  }
}

for (const mode of MODES) {
  test(`[${mode}] a paid MCP tool call settles on chain: one Transfer of the price; a retry moves nothing more`, CHAIN_TEST, async () => {
    const account = payers[mode];
    const worker = workers[mode];
    const server = servers[mode];
    const was = await balances(account.address);
    const settles = facilitator.count.settle;
    await withMcp(worker, async (mcp) => {
      const runs = server.count("financial_analysis");
      const paid = await callPaid(mcp, payerFor(account), "financial_analysis", { ticker: "ETH" });
      assert.ok(same(paid.required.accepts[0].asset, chain.token.address), "the tool asks for the chain's token");
      const { result } = paid;
      assert.ok(!result.isError, JSON.stringify(result).slice(0, 400));
      assert.deepEqual(result.content, [{ type: "text", text: analysisText("ETH", runs + 1) }]);
      const settle = result._meta?.["x402/payment-response"];
      assert.equal(settle?.success, true, JSON.stringify(result._meta));
      assert.match(settle.transaction, TX_HASH);
      assert.equal(settle.network, "eip155:84532");
      assert.ok(same(settle.payer, account.address));

      const transfers = await chain.transfersIn(settle.transaction);
      assert.equal(transfers.length, 1, `one Transfer in ${settle.transaction}, got ${transfers.length}`);
      assert.ok(same(transfers[0].from, account.address), `Transfer from ${transfers[0].from}`);
      assert.ok(same(transfers[0].to, PAY_TO), `Transfer to ${transfers[0].to}`);
      assert.equal(transfers[0].value, PRICE);

      const jwks = await (await worker.fetch("/.well-known/jwks.json")).json();
      const claims = verifyReceipt(result._meta["x402/receipt"], jwks);
      assert.equal(claims.transaction, settle.transaction);
      assert.ok(same(claims.asset, chain.token.address));

      const retry = await paid.again();
      assert.deepEqual(retry, result, "the retry gets the stored result");
      assert.equal(server.count("financial_analysis"), runs + 1, "the tool ran once");
    });
    assert.equal(facilitator.count.settle - settles, 1, "one settle");
    const moved = await chain.transfersFrom(account.address);
    assert.equal(moved.length, 1, `one Transfer from the payer in all, got ${moved.length}`);
    const now = await balances(account.address);
    assert.equal(was.payer - now.payer, PRICE, "the payer paid the price once");
    assert.equal(now.payTo - was.payTo, PRICE, "PAY_TO got the price once");
  });
}

test("a tool that fails is not settled: nothing moves on chain", CHAIN_TEST, async () => {
  const account = payers.broken;
  const worker = workers.sse;
  const settles = facilitator.count.settle;
  await withMcp(worker, async (mcp) => {
    const { result } = await callPaid(mcp, payerFor(account), "broken", {});
    assert.equal(result.isError, true);
    assert.deepEqual(result.content, [{ type: "text", text: BROKEN_TEXT }]);
    assert.equal(result._meta?.["x402/payment-response"], undefined);
  });
  assert.equal(facilitator.count.settle, settles, "no settle");
  assert.deepEqual(await chain.transfersFrom(account.address), []);
  assert.equal(await chain.balanceOf(account.address), 1_000_000n);
});
