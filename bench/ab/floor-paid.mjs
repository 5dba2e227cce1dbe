// The paid-path floor of the A/B benchmark: the input and output an exactly-once paid request
// needs in x402-edge's design, and nothing else. No route table, no decoding beyond
// JSON.parse, no signer recovery, no amount checks, no receipt signature: only the five
// subrequests and the three durable writes, in x402-edge's order.
//
//   Worker  -> Durable Object (RPC) claim:   write the claim (1st commit)
//   Worker  -> facilitator /verify
//   Worker  -> origin, body read
//   Worker  -> Durable Object (RPC) settle:  write `settling` with the response (2nd commit),
//              -> facilitator /settle,        write the outcome (3rd commit)
//   answer with PAYMENT-RESPONSE
//
// Its throughput against the middleware's bounds what any implementation of that design can
// reach under Miniflare. Not a product: a refusal here is a 500 (the load script counts it as
// unexpected). Each payment must be new (the claim is an INSERT).
import { DurableObject } from "cloudflare:workers";

const SHARDS = 16;

export class FloorArbiter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS rows (k TEXT PRIMARY KEY, v TEXT NOT NULL, exp INTEGER NOT NULL)");
  }

  claim(key, header) {
    const exp = Date.now() + 60_000;
    this.sql.exec("INSERT INTO rows (k, v, exp) VALUES (?, ?, ?)", key, JSON.stringify({ state: "claimed", header }), exp);
    return { claimed: true };
  }

  async settle(key, response, order) {
    this.sql.exec("UPDATE rows SET v = ? WHERE k = ?", JSON.stringify({ state: "settling", response }), key);
    const res = await fetch(`${this.env.FACILITATOR_URL}/settle`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: order,
    });
    const settled = await res.json();
    if (!settled.success) throw new Error("settle refused");
    this.sql.exec("UPDATE rows SET v = ? WHERE k = ?", JSON.stringify({ state: "settled", response, settled }), key);
    return settled;
  }
}

async function keyOf(header) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(header)));
  return { key: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""), shard: digest[0] % SHARDS };
}

export default {
  async fetch(request, env) {
    const header = request.headers.get("payment-signature");
    if (!header) return new Response("payment required", { status: 402 });
    const payload = JSON.parse(atob(header));
    const requirements = payload.accepted;
    const { key, shard } = await keyOf(header);
    const arbiter = env.FLOOR.getByName(`shard-${shard}`);
    await arbiter.claim(key, header);
    const order = JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: requirements });
    const verified = await (
      await fetch(`${env.FACILITATOR_URL}/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: order })
    ).json();
    if (!verified.isValid) return new Response("verify refused", { status: 500 });
    const url = new URL(request.url);
    const origin = await fetch(env.ORIGIN_URL + url.pathname + url.search);
    const response = { status: origin.status, headers: [...origin.headers], body: await origin.text() };
    const settled = await arbiter.settle(key, response, order);
    const headers = new Headers(response.headers);
    headers.set("PAYMENT-RESPONSE", btoa(JSON.stringify(settled)));
    return new Response(response.body, { status: response.status, headers });
  },
};
