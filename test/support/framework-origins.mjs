// Real origin frameworks on 127.0.0.1 mirroring wrangler.toml's priced routes (GET/HEAD
// /premium/*, any method /reports/:id, POST /api/score): Express 5 (case-insensitive,
// non-strict routing, a Router mounted at /premium, qs "extended" query parsing, urlencoded
// {extended:true} / json / text bodies, the method-override pattern on POST: header and
// `_method` in the body or query) and Hono on @hono/node-server (methodOverride by form, by
// query and by header). Every run of a priced handler is logged in `premiumRuns` (so a HEAD,
// whose body is dropped, is seen too) and answers `{"premium":true,…}` with `x-premium: 1`.
import express from "express";
import { Hono } from "hono";
import { methodOverride } from "hono/method-override";
import { serve } from "@hono/node-server";
import { createServer } from "node:http";

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function wrap(server, premiumRuns, calls) {
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    premiumRuns,
    calls,
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Express 5 with the method-override pattern (POST only, as the package's default). */
export async function startExpressOrigin() {
  const premiumRuns = [];
  const calls = [];
  const app = express();
  app.set("query parser", "extended");
  app.use((req, _res, next) => {
    calls.push({ method: req.method, url: req.url, headers: req.headers });
    next();
  });
  app.use(express.urlencoded({ extended: true }));
  app.use(express.json());
  app.use(express.text({ type: "text/*" }));
  app.use((req, _res, next) => {
    if (req.method !== "POST") return next();
    const fromBody = req.body && typeof req.body === "object" ? req.body._method : undefined;
    const fromQuery = req.query?._method;
    const fromHeader = req.get("x-http-method-override") ?? req.get("x-method-override") ?? req.get("x-http-method");
    const m = [fromBody, fromQuery, fromHeader].find((v) => typeof v === "string" && v);
    if (m) {
      req.originalMethod = req.method;
      req.method = m.toUpperCase();
    }
    next();
  });
  const premium = (route) => (req, res) => {
    premiumRuns.push({ route, method: req.method, url: req.originalUrl, paid: Boolean(req.get("payment-context")) });
    res.set("x-premium", "1").json({ premium: true, route, method: req.method, url: req.originalUrl });
  };
  const router = express.Router();
  router.get("/{*rest}", premium("GET /premium/*"));
  app.get("/premium", premium("GET /premium/*"));
  app.use("/premium", router);
  app.all("/reports/:id", premium("/reports/:id"));
  app.post("/api/score", premium("POST /api/score"));
  app.use((req, res) => res.json({ premium: false, method: req.method, url: req.originalUrl }));
  const server = await listen(createServer(app));
  return wrap(server, premiumRuns, calls);
}

/** Hono on @hono/node-server with methodOverride by form, query and header. */
export async function startHonoOrigin() {
  const premiumRuns = [];
  const calls = [];
  const app = new Hono();
  app.use("*", async (c, next) => {
    calls.push({ method: c.req.method, url: c.req.url });
    await next();
  });
  app.use("*", methodOverride({ app }));
  app.use("*", methodOverride({ app, query: "_method" }));
  app.use("*", methodOverride({ app, header: "X-HTTP-Method-Override" }));
  const premium = (route) => (c) => {
    premiumRuns.push({ route, method: c.req.method, url: c.req.url, paid: Boolean(c.req.header("payment-context")) });
    c.header("x-premium", "1");
    return c.json({ premium: true, route, method: c.req.method, url: c.req.url });
  };
  app.get("/premium", premium("GET /premium/*"));
  app.get("/premium/*", premium("GET /premium/*"));
  app.all("/reports/:id", premium("/reports/:id"));
  app.post("/api/score", premium("POST /api/score"));
  app.all("*", (c) => c.json({ premium: false, method: c.req.method, url: c.req.url }));
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  return wrap(server, premiumRuns, calls);
}
