// The official x402 middleware (`@x402/hono` 2.27) as a Cloudflare Worker: the "A" side of
// the A/B benchmark (bench/ab.mjs). The same priced route as the repo's wrangler.toml
// (`GET /premium/*`, $0.01, same payTo / network / asset), a facilitator reached over HTTP
// (FACILITATOR_URL, the bench's stub), every other path passed to ORIGIN_URL.
//
// Initialisation: `paymentMiddlewareFromHTTPServer(..., syncFacilitatorOnStart = false)`, and
// the first priced request fetches the facilitator's /supported itself. A promise must not
// be created by one request and awaited by another (workerd: "promise created by a request
// that has since ended"), so no request waits on another's initialisation: until the
// first initialisation has finished, each priced request runs its own. The benchmark sends
// one priced request alone before any load, so later ones find it done.
import { Hono } from "hono";
import { paymentMiddlewareFromHTTPServer, x402HTTPResourceServer, x402ResourceServer } from "@x402/hono";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { ExactEvmScheme } from "@x402/evm/exact/server";

const PRICED = "/premium/*";

let app = null;
let httpServer = null;
let initialized = false;

function build(env) {
  const facilitator = new HTTPFacilitatorClient({ url: env.FACILITATOR_URL });
  const resourceServer = new x402ResourceServer(facilitator).register(env.NETWORK, new ExactEvmScheme());
  const routes = {
    [`GET ${PRICED}`]: {
      accepts: {
        scheme: "exact",
        network: env.NETWORK,
        payTo: env.PAY_TO,
        price: {
          amount: env.PRICE_ATOMIC,
          asset: env.ASSET,
          extra: { name: env.ASSET_NAME, version: env.ASSET_VERSION },
        },
        maxTimeoutSeconds: Number(env.MAX_TIMEOUT_SECONDS),
      },
      description: env.DESCRIPTION,
      mimeType: env.MIME_TYPE,
    },
  };
  httpServer = new x402HTTPResourceServer(resourceServer, routes);
  const origin = env.ORIGIN_URL.replace(/\/+$/, "");
  const toOrigin = (c) => {
    const url = new URL(c.req.url);
    return fetch(origin + url.pathname + url.search, c.req.raw);
  };

  const hono = new Hono();
  hono.use(PRICED, async (_c, next) => {
    if (!initialized) {
      await httpServer.initialize();
      initialized = true;
    }
    return next();
  });
  hono.use(paymentMiddlewareFromHTTPServer(httpServer, undefined, undefined, false));
  // The paid answer: in-process (the middleware then makes 2 subrequests, verify and
  // settle), or from the origin like x402-edge when MW_PAID_FROM_ORIGIN is "true".
  hono.get(PRICED, (c) =>
    env.MW_PAID_FROM_ORIGIN === "true" ? toOrigin(c) : c.json({ ok: true, path: c.req.path, method: c.req.method }),
  );
  hono.all("*", toOrigin);
  return hono;
}

export default {
  fetch(request, env, ctx) {
    app ??= build(env);
    return app.fetch(request, env, ctx);
  },
};
