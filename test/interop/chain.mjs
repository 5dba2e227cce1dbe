// A local EVM chain for the interop suite: anvil (npm @foundry-rs/anvil-linux-amd64) with
// Base Sepolia's chain id on 127.0.0.1, our TestUSDC compiled in-process by npm solc and
// deployed with viem, a Multicall3 stand-in, and funded payers (anvil's default accounts).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  parseEventLogs,
  publicActions,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Base Sepolia's chain id, so v1 ("base-sepolia") and v2 ("eip155:84532") clients accept it. */
export const CHAIN_ID = 84532;
/** Where the official facilitator looks for Multicall3. */
export const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
/** Anvil's default mnemonic: its ten accounts hold 10 000 ETH each. */
const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

/** Anvil default account `i` as a viem local account. */
export function anvilAccount(i) {
  return mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i });
}

/**
 * Compiles the suite's Solidity files with solc-js (in-process). Returns
 * `{ TestUSDC, Multicall3Lite }`, each `{ abi, bytecode, deployedBytecode }`.
 */
export function compileContracts() {
  const files = ["TestUSDC.sol", "Multicall3Lite.sol"];
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(files.map((f) => [f, { content: readFileSync(join(HERE, f), "utf8") }])),
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join("\n")}`);
  const pick = (file, name) => {
    const c = output.contracts[file][name];
    return {
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
  };
  return { TestUSDC: pick("TestUSDC.sol", "TestUSDC"), Multicall3Lite: pick("Multicall3Lite.sol", "Multicall3Lite") };
}

/** Starts anvil on 127.0.0.1 with an OS-chosen port; resolves `{ rpcUrl, stop() }`. */
export async function startAnvil({ timeoutMs = 20_000 } = {}) {
  const bin = join(dirname(require.resolve("@foundry-rs/anvil-linux-amd64/package.json")), "bin", "anvil");
  const child = spawn(
    bin,
    ["--host", "127.0.0.1", "--port", "0", "--chain-id", String(CHAIN_ID), "--accounts", "10"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  const rpcUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`anvil did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk;
      const m = /Listening on (127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`anvil exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  child.stdout.resume();
  child.stderr.resume();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // If the test process ends without stop() (a crash, a timeout), do not leave anvil behind.
  const orphanGuard = () => child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  return {
    rpcUrl,
    async stop() {
      process.removeListener("exit", orphanGuard);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A viem chain for the local anvil. */
export function localChain(rpcUrl) {
  return defineChain({
    id: CHAIN_ID,
    name: "anvil (Base Sepolia chain id)",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** A viem wallet client (with public actions) for `account` on the local chain, polling fast. */
export function walletFor(chain, account) {
  return createWalletClient({ account, chain, transport: http(), pollingInterval: 50 }).extend(publicActions);
}

/**
 * Starts anvil, deploys TestUSDC (account 0), places the Multicall3 stand-in and mints
 * `fund` atomic units to each of `payers` (addresses). Returns
 * `{ rpcUrl, chain, publicClient, token: {address, abi}, balanceOf(addr), transfersIn(hash), stop() }`.
 */
export async function startChain({ payers = [], fund = 1_000_000n } = {}) {
  const contracts = compileContracts();
  const anvil = await startAnvil();
  try {
    const chain = localChain(anvil.rpcUrl);
    const publicClient = createPublicClient({ chain, transport: http(), pollingInterval: 50 });
    const deployer = walletFor(chain, anvilAccount(0));

    const existing = await publicClient.getCode({ address: MULTICALL3 });
    if (!existing || existing === "0x") {
      const test = createTestClient({ chain, mode: "anvil", transport: http() });
      await test.setCode({ address: MULTICALL3, bytecode: contracts.Multicall3Lite.deployedBytecode });
    }

    const { abi, bytecode } = contracts.TestUSDC;
    const deployHash = await deployer.deployContract({ abi, bytecode });
    const deployed = await publicClient.waitForTransactionReceipt({ hash: deployHash });
    const address = deployed.contractAddress;
    for (const payer of payers) {
      const hash = await deployer.writeContract({ address, abi, functionName: "mint", args: [payer, fund] });
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") throw new Error(`mint to ${payer} failed`);
    }

    return {
      rpcUrl: anvil.rpcUrl,
      chain,
      publicClient,
      token: { address, abi },
      /** The token balance of `owner` (bigint). */
      balanceOf(owner) {
        return publicClient.readContract({ address, abi, functionName: "balanceOf", args: [owner] });
      },
      /** The token's decoded `Transfer` events in the transaction `hash` (throws when it is not mined). */
      async transfersIn(hash) {
        const receipt = await publicClient.getTransactionReceipt({ hash });
        const logs = receipt.logs.filter((l) => l.address.toLowerCase() === address.toLowerCase());
        return parseEventLogs({ abi, eventName: "Transfer", logs }).map((l) => l.args);
      },
      /** Every `Transfer` of the token from `from` since the deployment (decoded args). */
      async transfersFrom(from) {
        const logs = await publicClient.getContractEvents({
          address,
          abi,
          eventName: "Transfer",
          args: { from },
          fromBlock: deployed.blockNumber,
        });
        return logs.map((l) => ({ ...l.args, transactionHash: l.transactionHash }));
      },
      stop: () => anvil.stop(),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}
