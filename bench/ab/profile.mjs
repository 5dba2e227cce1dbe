// CPU profiles of every worker in a Miniflare instance (its workerd inspector), taken while
// some load runs: where a request's CPU goes, inside x402-edge's isolate and around it
// (Miniflare's entry worker, its storage and outbound services). Used by
// `node bench/ab.mjs --profile CASE`; never by a test.

/** A Chrome DevTools Protocol session over the inspector's WebSocket. */
async function session(url) {
  const ws = new WebSocket(url);
  const pending = new Map();
  let next = 0;
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${message.error.message} (${url})`));
    else waiter.resolve(message.result);
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`inspector: cannot connect to ${url}`));
  });
  return {
    send(method, params = {}) {
      const id = ++next;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

/**
 * Runs `work()` with the V8 sampling profiler on in every worker the inspector on `port`
 * lists; their profiles, as `[{ id, profile }]`.
 */
export async function profileWorkers(port, work, intervalUs = 100) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const sessions = [];
  for (const target of targets) {
    const s = await session(target.webSocketDebuggerUrl);
    await s.send("Profiler.enable");
    await s.send("Profiler.setSamplingInterval", { interval: intervalUs });
    sessions.push({ id: target.id, s });
  }
  for (const { s } of sessions) await s.send("Profiler.start");
  try {
    await work();
  } finally {
    for (const entry of sessions) entry.profile = (await entry.s.send("Profiler.stop")).profile;
    for (const { s } of sessions) s.close();
  }
  return sessions.map(({ id, profile }) => ({ id, profile }));
}

/**
 * Sampled time in a profile (µs, idle and GC apart) and the functions with the most self
 * time: `{ busyUs, idleUs, gcUs, top: [{ name, selfUs }] }`.
 */
export function summarize(profile, count = 25) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas ?? [];
  let busyUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  profile.samples.forEach((nodeId, i) => {
    const us = deltas[i + 1] ?? deltas[i] ?? 0;
    const frame = nodes.get(nodeId)?.callFrame ?? { functionName: "?" };
    const name = frame.functionName || "(anonymous)";
    if (name === "(idle)" || name === "(program)") return void (idleUs += us);
    if (name === "(garbage collector)") gcUs += us;
    busyUs += us;
    const where = frame.url ? ` ${frame.url.split("/").pop()}:${frame.lineNumber + 1}` : "";
    const key = `${name}${where}`;
    self.set(key, (self.get(key) ?? 0) + us);
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, selfUs]) => ({ name, selfUs }));
  return { busyUs, idleUs, gcUs, top };
}
