//! Exactly once: a retry or a concurrent duplicate of a payment never charges twice and
//! gets the same answer.
//!
//! Every payment has an idempotency key ([`PaymentKey`]: scheme, network, asset, payer,
//! payTo, amount, EIP-3009 nonce) and a record. The record's authority is an arbiter with
//! a strongly consistent, atomic claim (a Durable Object with SQLite storage, sharded by
//! payer, see [`payer_shard`]; see [`record::apply`]); nothing else holds records, so a retry costs one arbiter
//! call. The claim is written before any facilitator call; no lock is held across a
//! fetch: the claim row is the lock, with a lease. The arbiter settles payments itself
//! (`ArbiterRequest::Settle`): it writes `settling`, calls `/settle` and writes the
//! outcome, so that a fresh paid request talks to it twice.
//!
//! ## States and transitions
//!
//! ```text
//!            claim (new key, or Released, or Claimed whose lease ran out)
//!   (none) ─────────────────────────────► Claimed ──verify invalid──────────► Rejected (final)
//!                                           │  ├─verify unreachable─────────► Released
//!                                           │  └─origin down / failed / 304─► Released
//!                                           │ origin 2xx/3xx: response stored
//!                                           ▼
//!                                        Settling ──settle success─────────► Settled (final)
//!                                           │  ├─settle refused────────────► Released
//!                                           │  └─settle timeout / dropped──► Settling, lease ended
//!                                           │ claim after the lease ran out (a retry)
//!                                           ▼
//!                                        Settling (taken over): the same signed payload is
//!                                        settled again; "nonce already used" for it means the
//!                                        first attempt landed → Settled, never charged twice
//! ```
//!
//! - A duplicate that finds a live claim (Claimed/Settling within its lease) waits a
//!   bounded time for the final answer, then gets 409 `payment_in_progress` with
//!   `Retry-After`. It never calls the origin or `/settle`.
//! - A retry that finds a final record with the same resource and payload gets the stored
//!   answer: the same status, headers, body and receipt (Settled), or the same refusal
//!   (Rejected). `/settle` is not called again and the origin is not run again.
//! - A payment found under another resource (any state but Released) is a replay: 402
//!   `payment_already_used`, before any facilitator call. The same key with another
//!   signature is 409 `payment_conflict`.
//! - With the `payment-identifier` extension, the id is bound to the first payload it
//!   came with (first writer wins): the same id with another payload is 409
//!   `payment_identifier_conflict`; a malformed id is 400.
//! - Response bodies up to [`MAX_STORED_BODY`] are stored. Past it, a retry of a settled
//!   GET is fetched from the origin again without charging; other methods get 409
//!   `payment_already_settled` with the settlement.
//!
//! ## What the payer sees when settlement is uncertain
//!
//! - `/settle` times out or the connection drops: 502 `settlement_unknown` with
//!   `Retry-After`. Retrying the same request (same payment header) resubmits the same
//!   signed authorization, which can settle on chain only once.
//! - That resubmission succeeds: 200 with the content and the receipt.
//! - The facilitator answers "nonce already used" for it: the first attempt landed;
//!   200 with the content, a receipt whose `transaction` is empty (unknown), no second
//!   charge.
//! - The facilitator refuses it for another reason: still 502 `settlement_unknown`, the
//!   record stays `settling`, nothing served. Such a refusal proves nothing about the
//!   first attempt (a facilitator may check the window or the balance before the nonce,
//!   or answer in prose), so it is never taken for "not charged".
//! - A worker that died after settling and before writing the record leaves `Settling`;
//!   the first retry after the lease takes over and resolves it the same way.
//!
//! Known limit: a worker that dies while the origin is running leaves `Claimed`; a retry
//! after the lease runs the origin again (the payer is still charged at most once).

pub mod key;
pub mod record;
pub mod tally;

pub use key::{fingerprint, PaymentKey};
pub use record::{
    apply, ArbiterReply, ArbiterRequest, IdBinding, Record, Row, SettleOrder, State, StoredResponse, StoredSettlement,
};

/// The number of arbiter shards; a payment's shard is its payer's ([`payer_shard`]).
pub const SHARDS: u32 = 16;

/// The arbiter shard of a payer, and so of all its payments: the payer's tally (caps,
/// rates, the operator's block) and its payments' records are in one object, so that a
/// claim and its reservation are one atomic step.
pub fn payer_shard(payer: &crate::address::EvmAddress, shards: u32) -> u32 {
    crate::crypto::shard_of(&tally_row(payer), shards)
}

/// The row of a payer's tally (`payer:` and its lower-case address).
pub fn tally_row(payer: &crate::address::EvmAddress) -> String {
    format!("payer:{}", crate::codec::hex_encode_0x(&payer.0))
}

/// Largest response body stored for replay (bytes).
pub const MAX_STORED_BODY: usize = 512 * 1024;

/// How long past `validBefore` a settled or rejected record (and a claim) is kept: a
/// retry of the same payment header within it gets the stored answer. Short on purpose:
/// whoever holds a copy of the header can replay it until then.
pub const REPLAY_GRACE_SECONDS: u64 = 10 * 60;

/// How long past `validBefore` a `settling` record (settlement outcome unknown) is kept,
/// so that a late retry can still resolve it.
pub const SETTLING_RETENTION_SECONDS: u64 = 7 * 24 * 60 * 60;

/// Facilitator reason codes (x402) that mean this authorization was already settled:
/// EVM `exact` (official TypeScript, Go and Python facilitators, and our paper one) and
/// the generic duplicate-settlement code of the spec.
pub const ALREADY_SETTLED_REASONS: &[&str] = &["invalid_exact_evm_nonce_already_used", "duplicate_settlement"];
