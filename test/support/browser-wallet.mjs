// Headless Chromium (Debian chromium + playwright-core) and a test EIP-1193 wallet for the
// browser paywall tests. The wallet lives in node, backed by a viem account; the page gets
// `window.ethereum` and an EIP-6963 announcement whose `request` calls it through
// `page.exposeFunction`. It keeps a chain id, knows some chains (switching to another answers
// 4902 until `wallet_addEthereumChain`), and records every call.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

/** Debian's chromium (bash .ci/setup installs it). */
export const CHROMIUM = "/usr/bin/chromium";

/** Launches headless Chromium; throws a clear error when it is missing. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: bash .ci/setup installs it`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

const rpcError = (code, message) => ({ error: { code, message } });

/** viem's form of eth_signTypedData_v4's JSON: no EIP712Domain type, uints as bigints. */
function forViem(typed) {
  const { EIP712Domain, ...types } = typed.types;
  const uints = new Set((types[typed.primaryType] ?? []).filter((f) => /^uint/.test(f.type)).map((f) => f.name));
  const message = Object.fromEntries(Object.entries(typed.message).map(([k, v]) => [k, uints.has(k) ? BigInt(v) : v]));
  return { domain: typed.domain, types, primaryType: typed.primaryType, message };
}

/**
 * Installs a test wallet for `account` (a viem local account) in `page`, before any page
 * script runs. Options: `chainId` (the wallet's chain at start, default 1), `known` (chain
 * ids it can switch to without adding, default [1]), `rejectSignature` (answer
 * eth_signTypedData_v4 with 4001), `rejectSwitch` (answer wallet_switchEthereumChain with
 * 4001), `name` (EIP-6963 name, default "Test Wallet"), `announce` (false: only
 * `window.ethereum`, no EIP-6963, as an older wallet). Returns `{ calls, signed, chainId() }`:
 * `calls` every `{method, params}`, `signed` the typed data objects it signed.
 */
export async function installWallet(page, account, { chainId = 1, known = [1], rejectSignature = false, rejectSwitch = false, name = "Test Wallet", announce = true } = {}) {
  const state = { chain: chainId, known: new Set(known) };
  const calls = [];
  const signed = [];
  const hex = (n) => `0x${n.toString(16)}`;
  async function handle(method, params) {
    calls.push({ method, params });
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return { result: [account.address] };
      case "eth_chainId":
        return { result: hex(state.chain) };
      case "wallet_switchEthereumChain": {
        if (rejectSwitch) return rpcError(4001, "User rejected the request.");
        const id = parseInt(params?.[0]?.chainId, 16);
        if (!state.known.has(id)) return rpcError(4902, `Unrecognized chain ID ${hex(id)}.`);
        state.chain = id;
        return { result: null };
      }
      case "wallet_addEthereumChain": {
        const chain = params?.[0] ?? {};
        if (!chain.chainName || !chain.rpcUrls?.length || !chain.nativeCurrency) return rpcError(-32602, "Invalid chain parameters.");
        state.known.add(parseInt(chain.chainId, 16));
        return { result: null };
      }
      case "eth_signTypedData_v4": {
        const [from, json] = params ?? [];
        if (String(from).toLowerCase() !== account.address.toLowerCase()) return rpcError(4100, "Unknown account.");
        if (rejectSignature) return rpcError(4001, "User rejected the request.");
        const typed = JSON.parse(json);
        // A real wallet refuses typed data for another chain than the one it is on.
        if (Number(typed.domain?.chainId) !== state.chain) return rpcError(-32602, "Provided chainId does not match the active chain.");
        const signature = await account.signTypedData(forViem(typed));
        signed.push(typed);
        return { result: signature };
      }
      default:
        return rpcError(4200, `Unsupported method ${method}.`);
    }
  }
  await page.exposeFunction("__x402TestWallet", (method, params) =>
    handle(method, params).catch((e) => rpcError(-32603, String(e?.message ?? e))),
  );
  await page.addInitScript(
    ({ name, uuid, announce: eip6963 }) => {
      const provider = {
        async request({ method, params }) {
          const answer = await window.__x402TestWallet(method, params ?? null);
          if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
          return answer.result;
        },
        on() {},
        removeListener() {},
      };
      window.ethereum = provider;
      if (!eip6963) return;
      const info = Object.freeze({ uuid, name, icon: "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>", rdns: "test.x402-edge.wallet" });
      const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
      window.addEventListener("eip6963:requestProvider", announce);
      announce();
    },
    { name, uuid: randomUUID(), announce },
  );
  return { calls, signed, chainId: () => state.chain };
}

/**
 * Watches what `page` sends: `{ requests, paid }`, every request's URL, and the paid
 * responses (requests carrying PAYMENT-SIGNATURE) as `{status, headers}` once answered.
 */
export function watchPage(page) {
  const requests = [];
  const paid = [];
  const problems = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("response", async (res) => {
    if (res.request().headers()["payment-signature"]) paid.push({ status: res.status(), headers: await res.allHeaders() });
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  return { requests, paid, problems };
}
