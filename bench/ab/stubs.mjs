// The stub upstreams of the A/B benchmark (bench/ab.mjs), in a process of their own so that
// their CPU is not counted with a server's: an origin that answers every request at once,
// and an x402 facilitator whose /verify says valid and whose /settle says success, at once
// (no chain). Both on 127.0.0.1, OS-chosen ports. Prints one JSON line when listening:
// `{"origin": url, "facilitator": url}`. Calls are counted: `GET {facilitator}/__counts`
// answers `{origin, verify, settle, supported, other}` and `POST {facilitator}/__reset`
// zeroes them. Exits when its stdin closes (the benchmark is gone).
import { createServer } from "node:http";

const count = { origin: 0, verify: 0, settle: 0, supported: 0, other: 0 };
let tx = 0;

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function listen(server) {
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

const origin = createServer(async (req, res) => {
  await readBody(req);
  count.origin += 1;
  json(res, 200, { ok: true, path: req.url, method: req.method });
});

const facilitator = createServer(async (req, res) => {
  const body = await readBody(req);
  const path = new URL(req.url, "http://stub").pathname;
  if (req.method === "GET" && path === "/__counts") return json(res, 200, count);
  if (req.method === "POST" && path === "/__reset") {
    for (const k of Object.keys(count)) count[k] = 0;
    return json(res, 200, count);
  }
  if (req.method === "GET" && path === "/supported") {
    count.supported += 1;
    return json(res, 200, {
      kinds: [{ x402Version: 2, scheme: "exact", network: process.env.STUB_NETWORK ?? "eip155:84532" }],
      extensions: [],
      signers: {},
    });
  }
  let request = null;
  try {
    request = JSON.parse(body);
  } catch {
    request = null;
  }
  const payer = request?.paymentPayload?.payload?.authorization?.from;
  const network = request?.paymentRequirements?.network;
  if (req.method === "POST" && path === "/verify") {
    count.verify += 1;
    return json(res, 200, { isValid: true, payer });
  }
  if (req.method === "POST" && path === "/settle") {
    count.settle += 1;
    tx += 1;
    return json(res, 200, { success: true, transaction: `0x${tx.toString(16).padStart(64, "0")}`, network, payer });
  }
  count.other += 1;
  return json(res, 404, { error: "not found" });
});

const urls = { origin: await listen(origin), facilitator: await listen(facilitator) };
process.stdout.write(`${JSON.stringify(urls)}\n`);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
