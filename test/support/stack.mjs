// The usual stack of an end-to-end test file: an origin on 127.0.0.1, optionally a
// facilitator, and the built Worker in Miniflare in front of them (ORIGIN_URL and
// FACILITATOR_URL pointed at them), started before the file's first test and stopped after
// its last.
import { after, before } from "node:test";
import { HOOK } from "./flow.mjs";
import { startOrigin } from "./servers.mjs";
import { startWorker } from "./worker.mjs";

/**
 * `useStack({ facilitator, origin, vars, secrets, omit })` → `{ origin, facilitator, worker }`,
 * filled in before the first test. `facilitator`: a function starting one (e.g.
 * startFacilitator), or none (paper mode or a route without payment); `origin`: a function
 * starting the origin (default startOrigin); `vars`, `secrets`, `omit`: as for startWorker;
 * `worker: false` starts no Worker (the file's tests start their own).
 */
export function useStack({ facilitator: startFacilitator, origin: start = startOrigin, vars = {}, secrets, omit, worker = true } = {}) {
  const stack = { origin: undefined, facilitator: undefined, worker: undefined };
  before(async () => {
    stack.origin = await start();
    stack.facilitator = startFacilitator ? await startFacilitator() : undefined;
    const facilitatorUrl = stack.facilitator ? { FACILITATOR_URL: stack.facilitator.url } : {};
    if (!worker) return;
    stack.worker = await startWorker({
      vars: { ORIGIN_URL: stack.origin.url, ...facilitatorUrl, ...vars },
      secrets,
      omit,
    });
  }, HOOK);
  after(async () => {
    await stack.worker?.close();
    await stack.facilitator?.close();
    await stack.origin?.close();
  }, HOOK);
  return stack;
}
