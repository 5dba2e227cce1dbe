// A tiny demo site for `npm run dev`: the origin the paywall stands in front of.
//   GET  /            free home page (HTML)
//   GET  /premium/*   an HTML article (priced in wrangler.toml)
//   GET  /reports/:id a JSON report (priced)
//   POST /api/score   JSON score of the posted document (priced)
//   *    /free/*      anything, echoed as JSON
// Usage: node test/demo-origin.mjs [port]   (default 8788, env PORT also works)
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? process.env.PORT ?? 8788);
const host = "127.0.0.1";

function send(res, status, type, body) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

const page = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>
`;

const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");
  const url = new URL(req.url, `http://${host}:${port}`);
  const path = url.pathname;
  console.log(`origin: ${req.method} ${req.url}`);

  if (path === "/" && req.method === "GET") {
    return send(res, 200, "text/html; charset=utf-8", page("x402-edge demo", `
<p>This page is free. These cost a little (paper money in local dev):</p>
<ul><li><a href="/premium/hello">/premium/hello</a> (HTML article)</li>
<li><a href="/reports/42">/reports/42</a> (JSON report)</li>
<li><code>POST /api/score</code> (JSON API)</li></ul>
<p><a href="/free/anything">/free/anything</a> is free too.</p>`));
  }
  if (path.startsWith("/premium/") && req.method === "GET") {
    const slug = escape(decodeURIComponent(path.slice("/premium/".length)) || "index");
    return send(res, 200, "text/html; charset=utf-8", page(`Premium: ${slug}`, `
<p>You paid for this article. Thank you for supporting the demo origin.</p>`));
  }
  const report = path.match(/^\/reports\/([^/]+)$/);
  if (report && req.method === "GET") {
    return send(res, 200, "application/json", JSON.stringify({
      id: decodeURIComponent(report[1]),
      title: "Demo market report",
      generatedAt: new Date().toISOString(),
      figures: { revenue: 1234567, growth: 0.042 },
    }));
  }
  if (path === "/api/score" && req.method === "POST") {
    const score = Math.min(100, Math.round(body.length / 10));
    return send(res, 200, "application/json", JSON.stringify({ score, length: body.length, received: body.slice(0, 200) }));
  }
  if (path === "/free" || path.startsWith("/free/")) {
    return send(res, 200, "application/json", JSON.stringify({
      free: true, method: req.method, path: req.url, body,
    }));
  }
  send(res, 404, "application/json", JSON.stringify({ error: "not_found", path }));
});

server.listen(port, host, () => console.log(`demo origin on http://${host}:${port}`));
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
