// The official x402 clients, pointed at a Worker running in Miniflare: `@x402/fetch` (v2) and
// the legacy `x402-fetch` (v1), each over a fetch that goes to `mf.dispatchFetch` and records
// every response status it saw.
import { ExactEvmScheme } from "@x402/evm";
import { wrapFetchWithPaymentFromConfig } from "@x402/fetch";
import { createWalletClient, http } from "viem";
import { baseSepolia } from "viem/chains";
import { wrapFetchWithPayment as wrapFetchWithPaymentV1 } from "x402-fetch";
import { BASE } from "./worker.mjs";

/**
 * A fetch(input, init) for clients that routes to `worker` (from startWorker) and records
 * `{ method, url, status, headers }` of each exchange in `.seen` (headers: what was sent).
 */
export function fetchVia(worker) {
  const seen = [];
  const fetch = async (input, init) => {
    const request = new Request(input, init);
    const method = request.method;
    const body = method === "GET" || method === "HEAD" ? undefined : await request.arrayBuffer();
    const headers = Object.fromEntries(request.headers);
    const res = await worker.mf.dispatchFetch(request.url, { method, headers, body, redirect: "manual" });
    seen.push({ method, url: request.url, status: res.status, headers });
    return res;
  };
  return Object.assign(fetch, { seen });
}

/**
 * `@x402/fetch` (x402 v2) paying with the viem `account` through `worker`. The client's spend
 * controls accept only well-known assets (e.g. USDC on Base Sepolia); `allowedAssets`
 * (`[{network, asset, maxAmountPerPayment?}]`) opts other tokens in, as its docs say.
 * Returns `{ fetch(path, init), seen }`.
 */
export function officialV2Client(worker, account, { allowedAssets } = {}) {
  const via = fetchVia(worker);
  const pay = wrapFetchWithPaymentFromConfig(via, {
    schemes: [{ network: "eip155:*", client: new ExactEvmScheme(account) }],
    ...(allowedAssets ? { spendControls: { allowedAssets } } : {}),
  });
  return { fetch: (path, init) => pay(BASE + path, init), seen: via.seen };
}

/**
 * Legacy `x402-fetch` (x402 v1) paying with a viem wallet client on Base Sepolia's chain id
 * for `account` (signing is local: the transport is never called). `maxValue` in atomic units.
 * Returns `{ fetch(path, init), seen }`.
 */
export function officialV1Client(worker, account, { maxValue = 1_000_000n } = {}) {
  const via = fetchVia(worker);
  const wallet = createWalletClient({ account, chain: baseSepolia, transport: http("http://127.0.0.1:9") });
  const pay = wrapFetchWithPaymentV1(via, wallet, maxValue);
  return { fetch: (path, init) => pay(BASE + path, init), seen: via.seen };
}
