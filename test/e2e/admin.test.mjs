// The operator's admin API in workerd: Bearer and session-cookie auth (401 otherwise, slowed
// down when repeated), the ledger as JSON lines and CSV with filters and cursor paging, the
// summary, the dashboard page; and without ADMIN_TOKEN, the admin paths are ordinary routes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { FIELDS } from "../support/ledger.mjs";
import { signFor, TEST } from "../support/flow.mjs";
import { useStack } from "../support/stack.mjs";
import { withWorker } from "../support/worker.mjs";

const TOKEN = "an-admin-token-for-the-e2e-tests";
const CASE = { timeout: 30_000 };
const stack = useStack({ vars: { FACILITATOR_URL: "paper" }, secrets: { ADMIN_TOKEN: TOKEN } });
const bearer = { authorization: `Bearer ${TOKEN}` };

async function payOnce(path, account) {
  const pay = await signFor(stack.worker, path, account);
  const res = await stack.worker.fetch(path, { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
  assert.equal(res.status, 200, await res.text());
}

const payers = [privateKeyToAccount(generatePrivateKey()), privateKeyToAccount(generatePrivateKey())];
let paid = false;
/** Three paid requests (two payers, two paths) and one origin failure, once per file. */
async function ledgerWithPayments() {
  if (paid) return;
  paid = true;
  await payOnce("/premium/admin-a", payers[0]);
  await payOnce("/premium/admin-b", payers[0]);
  await payOnce("/premium/admin-a", payers[1]);
  stack.origin.respondWith(500, "down");
  try {
    const pay = await signFor(stack.worker, "/premium/admin-c", payers[1]);
    const res = await stack.worker.fetch("/premium/admin-c", { headers: { "PAYMENT-SIGNATURE": pay.v2Header } });
    assert.equal(res.status, 500);
    await res.arrayBuffer();
  } finally {
    stack.origin.reset();
  }
}

const lines = async (res) => (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));

let client = 0;
/** A client address of its own per request (wrong tries are slowed down per client). */
const fresh = () => ({ "cf-connecting-ip": `198.51.100.${++client % 250}` });

test("no credentials, a wrong token or a forged cookie: 401 JSON, and the token is never echoed", TEST, async () => {
  for (const headers of [{}, { authorization: "Bearer nope" }, { authorization: `Basic ${TOKEN}` }, { cookie: "x402_admin=9999999999.forged" }]) {
    for (const path of ["/_x402/summary", "/_x402/ledger.jsonl", "/_x402/ledger.csv"]) {
      const res = await stack.worker.fetch(path, { headers: { ...headers, ...fresh() } });
      assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.deepEqual(await res.json(), { error: "admin_unauthorized" });
      assert.equal(res.headers.get("access-control-allow-origin"), null, "no CORS on admin answers");
    }
  }
  const res = await stack.worker.fetch("/_x402/nothing", { headers: bearer });
  assert.equal(res.status, 404);
  const text = await res.text();
  assert.ok(!text.includes(TOKEN));
});

test("repeated wrong tokens from one client get it refused for a while, even with the right one", CASE, async () => {
  const client = { "cf-connecting-ip": "2001:db8:1:2:aaaa::9" };
  const send = async (headers) => {
    const res = await stack.worker.fetch("/_x402/summary", { headers: { ...client, ...headers } });
    return { status: res.status, retry: res.headers.get("retry-after"), body: await res.text() };
  };
  for (let i = 0; i < 4; i++) assert.equal((await send({ authorization: "Bearer wrong-token" })).status, 401, `try ${i + 1}`);
  // After the 4th wrong try in a row: 429 at once for 250 ms, whatever is presented, so
  // that guesses cannot be raced; another address in the same /64 is the same client.
  const refused = await send({ ...bearer, "cf-connecting-ip": "2001:db8:1:2:bbbb::1" });
  assert.deepEqual([refused.status, refused.retry, JSON.parse(refused.body)], [429, "1", { error: "admin_rate_limited" }]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await send(bearer)).status, 200, "the right token once the block has passed");
  assert.equal((await send({ authorization: "Bearer wrong-token" })).status, 401, "a success forgets the failures");
  // Asking without credentials (a logged-out page) is not a wrong try.
  const other = { "cf-connecting-ip": "203.0.113.77" };
  for (let i = 0; i < 8; i++) {
    const res = await stack.worker.fetch("/_x402/summary", { headers: other });
    await res.arrayBuffer();
    assert.equal(res.status, 401);
  }
});

test("the session cookie and the token never reach the origin, by any reading of the admin path", CASE, async () => {
  const login = await stack.worker.fetch("/_x402/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...fresh() },
    body: `token=${TOKEN}`,
  });
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const before = stack.origin.calls.length;
  for (const path of ["/_x402/..%2fleak", "/_X402/..%2Fleak", "/_x402;a/summary", "/_x402./summary", "/index.php/_x402/summary"]) {
    const res = await stack.worker.fetch(path, { headers: { cookie, ...bearer } });
    assert.equal(res.status, 404, path);
    await res.arrayBuffer();
  }
  assert.equal(stack.origin.calls.length, before, "none of them reached the origin");
  // A free route sent with the session cookie: the origin gets the other cookies only.
  const free = await stack.worker.fetch("/free/with-cookies", { headers: { cookie: `a=1; ${cookie}; b=2` } });
  await free.arrayBuffer();
  assert.equal(stack.origin.calls.at(-1).headers.cookie, "a=1; b=2");
  const only = await stack.worker.fetch("/free/with-cookies", { headers: { cookie } });
  await only.arrayBuffer();
  assert.equal(stack.origin.calls.at(-1).headers.cookie, undefined);
  // A cookie planted first (a sibling domain's) does not lock the operator out.
  const planted = await stack.worker.fetch("/_x402/summary", { headers: { cookie: `x402_admin=junk; ${cookie}`, ...fresh() } });
  assert.equal(planted.status, 200);
  await planted.arrayBuffer();
});

test("the admin API refuses plain http off loopback: the token would travel in clear text", TEST, async () => {
  const res = await stack.worker.fetchUrl("http://paywall.example/_x402/summary", { headers: bearer });
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { error: "admin_needs_https" });
  const ok = await stack.worker.fetchUrl("https://paywall.example/_x402/summary", { headers: { ...bearer, ...fresh() } });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
});

test("ledger.jsonl: every event, oldest first; filters by payer, event and route", CASE, async () => {
  await ledgerWithPayments();
  const all = await lines(await stack.worker.fetch("/_x402/ledger.jsonl", { headers: bearer }));
  const mine = all.filter((e) => payers.some((p) => p.address.toLowerCase() === e.payer.toLowerCase()));
  assert.deepEqual(mine.map((e) => e.event), ["locked", "released", "locked", "released", "locked", "released", "locked", "refunded"]);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].time <= all[i].time, "oldest first");
  const by = async (q) => lines(await stack.worker.fetch(`/_x402/ledger.jsonl?${q}`, { headers: bearer }));
  const payer = payers[0].address.toUpperCase().replace("0X", "0x");
  assert.deepEqual((await by(`payer=${payer}`)).map((e) => `${e.event} ${e.path}`), [
    "locked /premium/admin-a",
    "released /premium/admin-a",
    "locked /premium/admin-b",
    "released /premium/admin-b",
  ]);
  const released = await by(`event=released&payer=${payers[1].address}`);
  assert.deepEqual(released.map((e) => e.path), ["/premium/admin-a"]);
  assert.equal((await by("route=GET%20/premium/*&event=refunded")).filter((e) => e.path === "/premium/admin-c").length, 1);
  assert.equal((await by("route=GET%20/other")).length, 0);
  const bad = await stack.worker.fetch("/_x402/ledger.jsonl?payer=0x12", { headers: bearer });
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { error: "bad_parameter", parameter: "payer" });
});

test("limit and cursor page through the ledger, each event once", CASE, async () => {
  await ledgerWithPayments();
  const all = await lines(await stack.worker.fetch("/_x402/ledger.jsonl", { headers: bearer }));
  const pages = [];
  let next = "/_x402/ledger.jsonl?limit=3";
  for (let guard = 0; next && guard < 100; guard++) {
    const res = await stack.worker.fetch(next, { headers: bearer });
    assert.equal(res.status, 200);
    const page = await lines(res);
    assert.ok(page.length <= 3);
    pages.push(...page);
    const link = res.headers.get("link");
    const cursor = res.headers.get("x402-next-cursor");
    if (cursor) {
      assert.match(link, /^<\/_x402\/ledger\.jsonl\?[^>]*cursor=/);
      next = link.slice(1, link.indexOf(">"));
    } else {
      assert.equal(link, null);
      next = null;
    }
  }
  assert.deepEqual(pages, all);
});

test("ledger.csv: a header row of the JSON field names, one row per event", CASE, async () => {
  await ledgerWithPayments();
  const res = await stack.worker.fetch(`/_x402/ledger.csv?payer=${payers[1].address}`, { headers: bearer });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/csv/);
  const rows = (await res.text()).split("\r\n").filter(Boolean);
  assert.equal(rows[0], FIELDS.join(","));
  assert.equal(rows.length, 1 + 4);
  const event = FIELDS.indexOf("event");
  assert.deepEqual(rows.slice(1).map((r) => r.split(",")[event]), ['"locked"', '"released"', '"locked"', '"refunded"']);
  assert.ok(rows.slice(1).every((r) => r.startsWith('"') && r.endsWith('"')), "every cell quoted");
});

test("summary: settled totals, per day, per route, failures by reason, top payers", CASE, async () => {
  await ledgerWithPayments();
  const s = await (await stack.worker.fetch("/_x402/summary", { headers: bearer })).json();
  const all = await lines(await stack.worker.fetch("/_x402/ledger.jsonl", { headers: bearer }));
  const released = all.filter((e) => e.event === "released");
  assert.equal(s.totals.settled.count, released.length);
  assert.equal(s.totals.settled.amount, String(released.reduce((a, e) => a + BigInt(e.amount), 0n)));
  assert.ok(s.totals.refunded.reasons.origin_failed >= 1);
  assert.equal(s.days.reduce((a, d) => a + d.settled.count, 0), released.length);
  assert.ok(s.routes.some((r) => r.key === "GET /premium/*"));
  const top = s.topPayers.find((p) => p.payer === payers[0].address.toLowerCase());
  assert.deepEqual(top.settled, { count: 2, amount: "20000" });
});

test("login sets an HttpOnly Secure SameSite=Strict session that opens the API; logout ends it", CASE, async () => {
  const wrong = await stack.worker.fetch("/_x402/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "token=nope" });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);
  const res = await stack.worker.fetch("/_x402/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: TOKEN }).toString(),
  });
  assert.equal(res.status, 204);
  const setCookie = res.headers.get("set-cookie");
  assert.match(setCookie, /^x402_admin=\d+\.[A-Za-z0-9_-]+; Path=\/_x402\/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict$/);
  assert.ok(!setCookie.includes(TOKEN));
  const cookie = setCookie.split(";")[0];
  const ok = await stack.worker.fetch("/_x402/summary", { headers: { cookie } });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
  const out = await stack.worker.fetch("/_x402/logout", { method: "POST", headers: { cookie } });
  assert.equal(out.status, 204);
  assert.match(out.headers.get("set-cookie"), /^x402_admin=; Path=\/_x402\/; Max-Age=0;/);
  assert.equal((await stack.worker.fetch("/_x402/login")).status, 405, "login is a POST");
});

test("the dashboard page is served with a strict policy and no third-party script", TEST, async () => {
  const res = await stack.worker.fetch("/_x402/");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/html/);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  const html = await res.text();
  assert.ok(html.includes('const API = "/_x402/"'));
  assert.ok(!/<script[^>]+src=/i.test(html) && !/https?:\/\/(?!x402\.org)/.test(html.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, "")));
});

test("without ADMIN_TOKEN the admin paths are ordinary routes, passed to the origin", CASE, async () => {
  await withWorker({ vars: { ORIGIN_URL: stack.origin.url, FACILITATOR_URL: "paper" } }, async (worker) => {
    const before = stack.origin.calls.length;
    const res = await worker.fetch("/_x402/summary", { headers: bearer });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, path: "/_x402/summary", method: "GET" });
    assert.equal(stack.origin.calls.length, before + 1);
  });
});
