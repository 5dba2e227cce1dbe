// The official TypeScript x402 facilitator (@x402/core + @x402/evm, exact scheme, v2 and v1)
// behind a small HTTP server on 127.0.0.1, settling on the suite's local chain.
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmSchemeV1 } from "@x402/evm/exact/v1/facilitator";
import { startServer } from "../support/servers.mjs";
import { CHAIN_ID, walletFor } from "./chain.mjs";

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
}

/**
 * Starts the facilitator for `chain` (from startChain) with `account` paying gas.
 * POST /verify and POST /settle take `{x402Version, paymentPayload, paymentRequirements}` and
 * answer the facilitator's VerifyResponse / SettleResponse (200), or 500 `{error}` when it throws;
 * GET /supported answers its supported kinds. Settles run one at a time (one key, one nonce
 * sequence). Returns startServer's handle plus `count` ({verify, settle}) and `results`.
 */
export async function startOfficialFacilitator({ chain, account }) {
  const client = walletFor(chain, account);
  const signer = toFacilitatorEvmSigner({ ...client, address: account.address }, { confirmationTimeoutMs: 15_000 });
  const facilitator = new x402Facilitator()
    .register(`eip155:${CHAIN_ID}`, new ExactEvmScheme(signer))
    .registerV1("base-sepolia", new ExactEvmSchemeV1(signer));

  const count = { verify: 0, settle: 0 };
  const results = { verify: [], settle: [] };
  let settleQueue = Promise.resolve();
  const serialised = (fn) => {
    const run = settleQueue.then(fn, fn);
    settleQueue = run.catch(() => {});
    return run;
  };

  const srv = await startServer(async (req, res, call) => {
    const path = new URL(call.path, "http://x").pathname;
    if (req.method === "GET" && path === "/supported") {
      send(res, 200, facilitator.getSupported());
      return;
    }
    const endpoint = { "/verify": "verify", "/settle": "settle" }[path];
    if (req.method !== "POST" || !endpoint) {
      send(res, 404, { error: "not found" });
      return;
    }
    let body;
    try {
      body = JSON.parse(call.body);
    } catch {
      send(res, 400, { error: "body is not JSON" });
      return;
    }
    count[endpoint] += 1;
    const { paymentPayload, paymentRequirements } = body ?? {};
    try {
      const result =
        endpoint === "verify"
          ? await facilitator.verify(paymentPayload, paymentRequirements)
          : await serialised(() => facilitator.settle(paymentPayload, paymentRequirements));
      results[endpoint].push(result);
      send(res, 200, result);
    } catch (err) {
      results[endpoint].push({ thrown: err?.message ?? String(err) });
      send(res, 500, { error: err?.message ?? String(err) });
    }
  });
  return Object.assign(srv, { count, results, address: account.address });
}
