// The Worker's module entry: the fetch handler and the arbiter's Durable Object class,
// over the wasm-bindgen glue (bundled with it into build/index.js by .ci/build).
//
// A trap in the wasm (a panic: the crate aborts) terminates the instance. The call that
// trapped fails; the instance is then made afresh, and a call that finds it terminated
// (the trap was in a task run later, or another exception left the wasm: the glue marks
// the instance terminated for those too) is made again on the fresh one: the glue refused
// it before running any of it. (A call whose arguments the glue copies into the dead
// instance before that check may trap there instead: it fails, and the instance is made
// afresh.) Durable Object state lives in storage, so a fresh shard object loses nothing.
import { DurableObject } from "cloudflare:workers";
import { fetch as handle, PaymentArbiter as Shard, __wbg_reset_state as reset } from "./index.js";

let epoch = 0;

function renew() {
  reset();
  epoch++;
}

function run(call) {
  try {
    return call();
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) {
      console.error("x402-edge: the wasm instance trapped; it is made afresh", error);
      renew();
    } else if (error instanceof Error && error.message === "Module terminated") {
      renew();
      return call();
    }
    throw error;
  }
}

export default {
  fetch(request, env, ctx) {
    return run(() => handle(request, env, ctx));
  },
};

/**
 * One shard of payment records, called over RPC (`call`: JSON in, JSON out). The wasm
 * object is made on first use, and again after a trap.
 */
export class PaymentArbiter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.made = -1;
  }

  shard() {
    if (this.made !== epoch) {
      this.wasm = new Shard(this.ctx, this.env);
      this.made = epoch;
    }
    return this.wasm;
  }

  call(request) {
    return run(() => this.shard().call(request));
  }

  /** One page of this shard's ledger (JSON query in, JSON rows out). */
  ledger(query) {
    return run(() => this.shard().ledger(query));
  }

  /** A stored receipt (JSON), or undefined. */
  receipt(id) {
    return run(() => this.shard().receipt(id));
  }

  /** Admits a payer among this minute's payers (`maxPayersPerMinute`): whether it is. */
  admit(scope, minute, payer, max) {
    return run(() => this.shard().admit(scope, minute, payer, max));
  }

  /** Spends a payer's nonce: whether it was still unspent. */
  spend(nonce, expiresAt) {
    return run(() => this.shard().spend(nonce, expiresAt));
  }

  /** The ledger's retention alarm. */
  alarm() {
    return this.prune();
  }

  /** What the alarm does, callable over RPC too (`alarm` itself is reserved). */
  prune() {
    return run(() => this.shard().prune());
  }
}
