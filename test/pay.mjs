// Pays for a URL behind the x402-edge paywall, as a person would from a shell.
//   node test/pay.mjs <url> [--v1] [--method POST] [--data TEXT]
// Fetches the URL, reads the 402 challenge, signs an EIP-3009 authorization for its first
// "exact" requirement with PAYER_KEY (0x + 64 hex) or a fresh key, retries with
// PAYMENT-SIGNATURE (or X-PAYMENT with --v1) and prints the status, the decoded
// PAYMENT-RESPONSE, the receipt header and the body.
import { parseArgs } from "node:util";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader, decodePaymentRequired, signExactPayment } from "./support/pay.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    v1: { type: "boolean", default: false },
    method: { type: "string", default: "GET" },
    data: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help || positionals.length !== 1) {
  console.error("usage: node test/pay.mjs <url> [--v1] [--method POST] [--data TEXT]");
  console.error("env PAYER_KEY=0x... signs with that key instead of a fresh one");
  process.exit(values.help ? 0 : 2);
}
const url = positionals[0];
const init = () => ({ method: values.method, body: values.data });

const account = privateKeyToAccount(process.env.PAYER_KEY ?? generatePrivateKey());
console.log(`payer: ${account.address}${process.env.PAYER_KEY ? "" : " (fresh key; set PAYER_KEY to reuse one)"}`);

const first = await fetch(url, init());
console.log(`${values.method} ${url} -> ${first.status}`);
if (first.status !== 402) {
  console.log(await first.text());
  process.exit(first.ok ? 0 : 1);
}
const required = decodePaymentRequired(first);
await first.body?.cancel();
const requirements = required.accepts.find((r) => r.scheme === "exact") ?? required.accepts[0];
console.log(`price: ${requirements.amount} atomic units of ${requirements.asset} on ${requirements.network}, to ${requirements.payTo}`);

const payment = await signExactPayment({
  account,
  requirements,
  resourceUrl: required.resource?.url ?? url,
});
const headers = values.v1 ? { "X-PAYMENT": payment.v1Header } : { "PAYMENT-SIGNATURE": payment.v2Header };
const paid = await fetch(url, { ...init(), headers });
console.log(`paid retry (${values.v1 ? "v1 X-PAYMENT" : "v2 PAYMENT-SIGNATURE"}) -> ${paid.status}`);
const receipt = paid.headers.get("payment-receipt");
for (const name of ["payment-response", "x-payment-response"]) {
  const value = paid.headers.get(name);
  if (!value) continue;
  const decoded = decodeHeader(value, name);
  const inner = decoded.extensions?.["offer-receipt"]?.info?.receipt;
  if (inner?.signature && inner.signature === receipt) inner.signature = "(the JWS in PAYMENT-RECEIPT below)";
  console.log(`${name.toUpperCase()}:`, JSON.stringify(decoded, null, 2));
}
if (receipt) {
  console.log(`PAYMENT-RECEIPT: ${receipt}`);
  const [, claims] = receipt.split(".");
  console.log("receipt claims:", JSON.stringify(JSON.parse(Buffer.from(claims, "base64url").toString("utf8")), null, 2));
  console.log(`(verify against ${new URL("/.well-known/jwks.json", url)})`);
}
const required2 = paid.headers.get("payment-required");
if (required2) console.log("PAYMENT-REQUIRED:", JSON.stringify(decodeHeader(required2), null, 2));
console.log("body:");
console.log(await paid.text());
process.exit(paid.ok ? 0 : 1);
