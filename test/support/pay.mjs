// Client side of x402 "exact" on EVM for the tests and the pay CLI: signs EIP-3009
// TransferWithAuthorization messages with viem and encodes v2 / v1 payment headers.
import { randomBytes } from "node:crypto";

const TRANSFER_WITH_AUTHORIZATION = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "validAfter", type: "uint256" },
  { name: "validBefore", type: "uint256" },
  { name: "nonce", type: "bytes32" },
];

/** x402 v1 network names by EVM chain id. */
export const V1_NETWORKS = {
  1: "ethereum",
  8453: "base",
  84532: "base-sepolia",
  137: "polygon",
  80002: "polygon-amoy",
  43114: "avalanche",
  43113: "avalanche-fuji",
  1329: "sei",
  1328: "sei-testnet",
};

/** Standard base64 of the JSON of `value`. */
export function encodeHeader(value) {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64");
}

/** Parses a standard-base64 JSON header value; throws with the header's name when absent. */
export function decodeHeader(value, name = "header") {
  if (value === null || value === undefined) throw new Error(`${name} header is missing`);
  return JSON.parse(Buffer.from(value, "base64").toString("utf8"));
}

/** The decoded `PAYMENT-REQUIRED` header of a response (x402 v2 PaymentRequired). */
export function decodePaymentRequired(res) {
  return decodeHeader(res.headers.get("payment-required"), "PAYMENT-REQUIRED");
}

/** The decoded `PAYMENT-RESPONSE` header of a response (x402 v2 SettleResponse). */
export function decodePaymentResponse(res) {
  return decodeHeader(res.headers.get("payment-response"), "PAYMENT-RESPONSE");
}

/**
 * Signs an "exact" EVM payment for `requirements` (a v2 PaymentRequirements from a 402).
 * Defaults: validAfter = now - 600, validBefore = now + maxTimeoutSeconds, a random nonce,
 * value = amount, to = payTo. Returns `{ v2Header, v1Header, authorization, signature }`.
 */
export async function signExactPayment({
  account,
  requirements,
  resourceUrl,
  now = Math.floor(Date.now() / 1000),
  validAfter,
  validBefore,
  nonce,
  value,
  to,
}) {
  const chainId = Number(String(requirements.network).split(":")[1]);
  const authorization = {
    from: account.address,
    to: to ?? requirements.payTo,
    value: String(value ?? requirements.amount),
    validAfter: String(validAfter ?? now - 600),
    validBefore: String(validBefore ?? now + Number(requirements.maxTimeoutSeconds)),
    nonce: nonce ?? `0x${randomBytes(32).toString("hex")}`,
  };
  const signature = await account.signTypedData({
    domain: {
      name: requirements.extra?.name,
      version: requirements.extra?.version,
      chainId,
      verifyingContract: requirements.asset,
    },
    types: { TransferWithAuthorization: TRANSFER_WITH_AUTHORIZATION },
    primaryType: "TransferWithAuthorization",
    message: {
      ...authorization,
      value: BigInt(authorization.value),
      validAfter: BigInt(authorization.validAfter),
      validBefore: BigInt(authorization.validBefore),
    },
  });
  const payload = { signature, authorization };
  const v2 = { x402Version: 2, resource: { url: resourceUrl }, accepted: requirements, payload };
  const v1 = {
    x402Version: 1,
    scheme: "exact",
    network: V1_NETWORKS[chainId] ?? requirements.network,
    payload,
  };
  return { v2Header: encodeHeader(v2), v1Header: encodeHeader(v1), authorization, signature };
}

/** A payment header (v2 or v1, standard base64 JSON) with `edit(payload)` applied to its JSON. */
export function editHeader(header, edit) {
  const payload = decodeHeader(header, "payment");
  edit(payload);
  return encodeHeader(payload);
}
