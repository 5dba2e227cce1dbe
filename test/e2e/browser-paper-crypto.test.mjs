// The paper wallet's own crypto in www/paywall.html (keccak-256, secp256k1 ECDSA with a
// recovery id, EIP-55 addresses, the EIP-712 digest of TransferWithAuthorization), checked
// against viem: the page's signatures recover to its address and pass viem's verification.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { hashTypedData, keccak256, recoverTypedDataAddress, verifyTypedData, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { paywallCrypto } from "../support/paywall-page.mjs";

const X = paywallCrypto();
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function typedData(from) {
  return {
    types: X.typeList,
    primaryType: "TransferWithAuthorization",
    domain: { name: "USDC", version: "2", chainId: 84532, verifyingContract: "0x036CbD53842c5426634e7929541eC2318f3dCF7e" },
    message: {
      from,
      to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
      value: "10000",
      validAfter: "1700000000",
      validBefore: "1700000060",
      nonce: toHex(randomBytes(32)),
    },
  };
}

/** viem's form of the typed data: no EIP712Domain type, bigint values. */
function forViem(td) {
  const { EIP712Domain, ...types } = td.types;
  const m = td.message;
  return {
    domain: td.domain,
    types,
    primaryType: td.primaryType,
    message: { ...m, value: BigInt(m.value), validAfter: BigInt(m.validAfter), validBefore: BigInt(m.validBefore) },
  };
}

test("keccak-256 matches viem on every padding boundary and on random inputs", () => {
  const lengths = [0, 1, 31, 32, 55, 56, 64, 134, 135, 136, 137, 200, 271, 272, 273, 1000];
  for (const n of lengths) {
    const bytes = new Uint8Array(randomBytes(n));
    assert.equal(`0x${X.hex(X.keccak(bytes))}`, keccak256(bytes), `length ${n}`);
  }
  assert.equal(`0x${X.hex(X.keccak(new Uint8Array()))}`, "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
});

test("addresses: the page's EIP-55 address of a key is viem's", () => {
  for (let i = 0; i < 8; i++) {
    const key = generatePrivateKey();
    assert.equal(X.address(BigInt(key)), privateKeyToAccount(key).address, key);
  }
  assert.equal(X.address(1n), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
});

test("the EIP-712 digest is viem's hashTypedData", () => {
  for (let i = 0; i < 4; i++) {
    const td = typedData(privateKeyToAccount(generatePrivateKey()).address);
    assert.equal(`0x${X.hex(X.digest(td))}`, hashTypedData(forViem(td)));
  }
});

test("signatures: 65 bytes r||s||v, v 27 or 28, low s, recover to the signer, verified by viem", async () => {
  const vs = new Set();
  for (let i = 0; i < 12; i++) {
    const d = X.scalar();
    const address = X.address(d);
    const td = typedData(address);
    const signature = X.sign(X.digest(td), d);
    assert.match(signature, /^0x[0-9a-f]{130}$/);
    const s = BigInt(`0x${signature.slice(66, 130)}`);
    const v = parseInt(signature.slice(130), 16);
    assert.ok(s > 0n && s <= N >> 1n, "low s");
    assert.ok(v === 27 || v === 28, `v = ${v}`);
    vs.add(v);
    assert.equal(await recoverTypedDataAddress({ ...forViem(td), signature }), address);
    assert.equal(await verifyTypedData({ ...forViem(td), address, signature }), true);
  }
  assert.equal(vs.size, 2, "both recovery ids seen in 12 signatures (1 in 2048 to fail by chance)");
});

test("random scalars are in [1, n-1] and differ", () => {
  const seen = new Set();
  for (let i = 0; i < 16; i++) {
    const k = X.scalar();
    assert.ok(k > 0n && k < N);
    seen.add(k);
  }
  assert.equal(seen.size, 16);
});
