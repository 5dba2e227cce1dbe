// The browser paywall page (www/paywall.html) as the tests read it: its inline crypto script
// (keccak-256, secp256k1, the EIP-3009 digest of the paper wallet) evaluated in node.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { runInNewContext } from "node:vm";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The page template's text. */
export function paywallTemplate() {
  return readFileSync(join(ROOT, "www", "paywall.html"), "utf8");
}

/** The page's `<script id="x402-crypto">` evaluated in a fresh context: its `X` object. */
export function paywallCrypto() {
  const m = /<script id="x402-crypto">([\s\S]*?)<\/script>/.exec(paywallTemplate());
  if (!m) throw new Error('www/paywall.html has no <script id="x402-crypto">');
  return runInNewContext(`${m[1]}\nX`, { crypto: globalThis.crypto, TextEncoder, BigInt, Uint8Array, Array, Number, Object, parseInt });
}
