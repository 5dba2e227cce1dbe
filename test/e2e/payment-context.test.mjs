// The origin's proof of payment: every paid request reaches the origin with PAYMENT-CONTEXT,
// a JWT signed with the receipt key, which an origin verifies with `jose` against the
// Worker's JWKS. A client's own PAYMENT-CONTEXT, in any spelling, never reaches the origin,
// on any route; ORIGIN_SECRET travels on every origin request, and a client's copy of it is
// replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLocalJWKSet, jwtVerify, decodeJwt } from "jose";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { BASE, wranglerConfig } from "../support/worker.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { startServer } from "../support/servers.mjs";
import { useStack } from "../support/stack.mjs";

const ORIGIN_SECRET = "an-origin-secret-of-the-operator";

/**
 * An origin that checks what it is sent, as the README tells an origin to: the context with
 * jose (issuer, audience, type, algorithm, lifetime) against the Worker's JWKS, and the
 * shared secret. It answers what it found, and records it.
 */
async function startCheckingOrigin() {
  let keys = null;
  const seen = [];
  const srv = await startServer(async (req, res, call) => {
    const found = { path: call.path, context: null, error: null, secret: req.headers["x402-origin-secret"] ?? null };
    const jwt = req.headers["payment-context"];
    if (jwt) {
      try {
        const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(keys), {
          issuer: BASE,
          audience: srv.url,
          typ: "x402-context+jwt",
          algorithms: ["EdDSA"],
          maxTokenAge: "60s",
        });
        found.context = { payload, protectedHeader };
      } catch (e) {
        found.error = e.code ?? String(e);
      }
    }
    seen.push(found);
    if (srv.big) {
      // Too large to store for a retry: a retry of the paid GET fetches it again.
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("x".repeat(600 * 1024));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true, verified: found.context !== null }));
  });
  return Object.assign(srv, {
    seen,
    get keys() {
      return keys;
    },
    useKeys(jwks) {
      keys = jwks;
    },
  });
}

const stack = useStack({ origin: startCheckingOrigin, vars: { FACILITATOR_URL: "paper" }, secrets: { ORIGIN_SECRET } });

/** Hands the origin the Worker's JWKS (once). */
async function originKnowsTheKeys() {
  if (stack.origin.keys) return;
  const res = await stack.worker.fetch("/.well-known/jwks.json");
  assert.equal(res.status, 200);
  stack.origin.useKeys(await res.json());
}

test("a paid request reaches the origin with a context the origin verifies with jose", TEST, async () => {
  await originKnowsTheKeys();
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/hello";
  const pay = await signFor(stack.worker, `${path}?lang=en`, account);
  const before = stack.origin.seen.length;
  const res = await stack.worker.fetch(`${path}?lang=en`, {
    headers: { "PAYMENT-SIGNATURE": pay.v2Header, "PAYMENT-CONTEXT": "eyJhbGciOiJub25lIn0.eyJwYXllciI6IjB4In0." },
  });
  assert.equal(res.status, 200, await res.text());
  const seen = stack.origin.seen.slice(before);
  assert.equal(seen.length, 1, "one origin call");
  assert.equal(seen[0].error, null, "the client's forged context was replaced by ours");
  const { payload, protectedHeader } = seen[0].context;
  assert.equal(protectedHeader.alg, "EdDSA");
  assert.equal(typeof protectedHeader.kid, "string");
  assert.equal(payload.iss, BASE);
  assert.equal(payload.aud, stack.origin.url);
  assert.equal(payload.exp - payload.iat, 60);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 30, "issued now");
  assert.match(payload.jti, /^[0-9a-f]{64}$/);
  assert.equal(payload.payer.toLowerCase(), account.address.toLowerCase());
  assert.equal(payload.amount, "10000");
  assert.equal(payload.asset.toLowerCase(), wranglerConfig().vars.ASSET.toLowerCase());
  assert.equal(payload.network, "eip155:84532");
  assert.equal(payload.route, "GET /premium/*");
  assert.equal(payload.method, "GET");
  assert.equal(payload.path, path, "the path, without the query");
  assert.equal(payload.status, "verified");
  assert.equal(seen[0].secret, ORIGIN_SECRET, "a paid request carries the secret too");
});

test("a retry of a settled payment does not reach the origin again, so no second context", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/retry";
  const pay = await signFor(stack.worker, path, account);
  const send = () => stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  const first = await send();
  assert.equal(first.status, 200, await first.text());
  const count = stack.origin.seen.length;
  const again = await send();
  assert.equal(again.status, 200, await again.text());
  assert.equal(stack.origin.seen.length, count, "the stored answer is replayed");
});

test("a settled payment's content fetched again for its retry carries status settled", TEST, async () => {
  await originKnowsTheKeys();
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/large";
  const pay = await signFor(stack.worker, path, account);
  const send = async () => {
    const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
    assert.equal(res.status, 200);
    assert.equal((await res.text()).length, 600 * 1024);
  };
  const before = stack.origin.seen.length;
  stack.origin.big = true;
  try {
    await send();
    await send();
  } finally {
    stack.origin.big = false;
  }
  const seen = stack.origin.seen.slice(before);
  assert.equal(seen.length, 2, "fetched twice, settled once");
  assert.deepEqual(seen.map((s) => s.error), [null, null]);
  assert.deepEqual(seen.map((s) => s.context.payload.status), ["verified", "settled"]);
  assert.equal(seen[0].context.payload.jti, seen[1].context.payload.jti, "one payment");
});

test("a client's PAYMENT-CONTEXT, in any spelling, never reaches the origin (free route)", TEST, async () => {
  const forged = "eyJhbGciOiJub25lIn0.eyJzdGF0dXMiOiJ2ZXJpZmllZCJ9.";
  for (const name of ["PAYMENT-CONTEXT", "payment-context", "Payment_Context", "payment.context"]) {
    const before = stack.origin.calls.length;
    const res = await stack.worker.fetch("/free/x", { headers: { [name]: forged } });
    assert.equal(res.status, 200, name);
    assert.deepEqual(await res.json(), { ok: true, verified: false }, name);
    assert.equal(stack.origin.calls.length, before + 1, name);
    const headers = stack.origin.calls.at(-1).headers;
    for (const [h, v] of Object.entries(headers)) {
      assert.ok(!h.replace(/[^a-z0-9]/g, "").includes("paymentcontext"), `${name}: ${h} reached the origin`);
      assert.notEqual(v, forged, `${name}: the forged value reached the origin as ${h}`);
    }
  }
});

test("a paid route without a payment never reaches the origin, so no context is issued", TEST, async () => {
  const before = stack.origin.calls.length;
  const res = await stack.worker.fetch("/premium/x", { headers: { "PAYMENT-CONTEXT": "x.y.z" } });
  assert.equal(res.status, 402);
  await res.arrayBuffer();
  assert.equal(stack.origin.calls.length, before);
});

test("ORIGIN_SECRET is on every origin request; a client's copy is replaced, not added", TEST, async () => {
  for (const sent of [undefined, "a-guess-by-the-client", ORIGIN_SECRET]) {
    const headers = sent === undefined ? {} : { "X402-Origin-Secret": sent, x402_origin_secret: "underscored-guess" };
    const res = await stack.worker.fetch("/free/secret", { headers });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const got = stack.origin.calls.at(-1).headers;
    assert.equal(got["x402-origin-secret"], ORIGIN_SECRET, `client sent ${sent}`);
    assert.equal(got["x402_origin_secret"], undefined, "an underscored copy is dropped");
  }
  // The secret never shows in a refusal or a challenge.
  const challenge = await stack.worker.fetch("/premium/x");
  const text = JSON.stringify([...challenge.headers]) + (await challenge.text());
  assert.ok(!text.includes(ORIGIN_SECRET));
});

test("a context is only valid for its audience: jose refuses it for another origin", TEST, async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const path = "/premium/audience";
  const pay = await signFor(stack.worker, path, account);
  const before = stack.origin.calls.length;
  const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  assert.equal(res.status, 200, await res.text());
  const jwt = stack.origin.calls.slice(before).map((c) => c.headers["payment-context"]).find(Boolean);
  assert.ok(jwt, "the origin got a context");
  assert.equal(decodeJwt(jwt).aud, stack.origin.url, "its audience is this origin, exactly");
  const keys = createLocalJWKSet(await (await stack.worker.fetch("/.well-known/jwks.json")).json());
  await assert.rejects(jwtVerify(jwt, keys, { issuer: BASE, audience: "https://elsewhere.example" }), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
  // A tampered claim breaks the signature.
  const [h, , s] = jwt.split(".");
  const claims = { ...decodeJwt(jwt), amount: "1" };
  const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
  await assert.rejects(jwtVerify(tampered, keys), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
});
