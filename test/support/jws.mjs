// Checks the paywall's signed receipts: compact JWS (EdDSA / Ed25519) against a JWKS, with
// node's own crypto so the check does not share code with the signer.
import { createPublicKey, verify } from "node:crypto";

function b64urlJson(part, what) {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch (err) {
    throw new Error(`receipt ${what} is not base64url JSON: ${err.message}`);
  }
}

/**
 * Verifies a compact JWS `jws` against `jwks` (`{keys:[{kty:"OKP",crv:"Ed25519",x,kid?}]}`).
 * Picks the key by `kid` when the header names one, else tries each Ed25519 key.
 * Returns the decoded payload, or throws with the reason.
 */
export function verifyReceipt(jws, jwks) {
  if (typeof jws !== "string") throw new Error(`receipt is not a string: ${typeof jws}`);
  const parts = jws.split(".");
  if (parts.length !== 3) throw new Error(`receipt has ${parts.length} parts, want 3`);
  const [h, p, s] = parts;
  const header = b64urlJson(h, "header");
  if (header.alg !== "EdDSA" && header.alg !== "Ed25519") {
    throw new Error(`receipt alg ${header.alg}, want EdDSA`);
  }
  const keys = (jwks?.keys ?? []).filter(
    (k) => k.kty === "OKP" && k.crv === "Ed25519" && (header.kid === undefined || k.kid === header.kid),
  );
  if (keys.length === 0) throw new Error(`no Ed25519 key in the JWKS for kid ${header.kid}`);
  const data = Buffer.from(`${h}.${p}`, "ascii");
  const signature = Buffer.from(s, "base64url");
  for (const jwk of keys) {
    const { kty, crv, x } = jwk;
    const key = createPublicKey({ key: { kty, crv, x }, format: "jwk" });
    if (verify(null, data, key, signature)) return b64urlJson(p, "payload");
  }
  throw new Error("receipt signature does not verify against the JWKS");
}
