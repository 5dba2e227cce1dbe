//! Test-only fakes of the ports: an in-memory [`MemoryKv`] that can be told to fail or
//! to lose writes, a [`FixedClock`] that moves only when told, and an in-memory arbiter
//! ([`MemoryArbiter`], and [`SettlingArbiter`] over it, which carries settle orders out
//! as the Durable Object does). Shared by every module's tests; never compiled into the
//! product.
//!
//! Both implement their trait for `&Self` too, so a test can hand a reference to the
//! code under test and still inspect or reconfigure the fake afterwards.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::facilitator::Facilitator;
use crate::flow::settle_order;
use crate::ledger::LedgerEvent;
use crate::once::tally::Tally;
use crate::once::{apply, ArbiterReply, ArbiterRequest, Record, Row};
use crate::ports::{Arbiter, Clock, KvStore, StoreError};
use crate::receipt::ReceiptSigner;
use crate::routes::PricedRoute;

/// An in-memory [`KvStore`]: key → (value, TTL seconds as given to `put`).
///
/// TTLs are recorded, not enforced: nothing expires. Failure modes are switched with the
/// public cells; `puts` counts every put, failed ones included.
#[derive(Debug, Default)]
pub(crate) struct MemoryKv {
    entries: RefCell<BTreeMap<String, (String, Option<u64>)>>,
    /// Every `get` fails with a [`StoreError`].
    pub(crate) fail_gets: Cell<bool>,
    /// Every `put` fails with a [`StoreError`] and stores nothing.
    pub(crate) fail_puts: Cell<bool>,
    /// Once this many `put` calls have been made, every further `put` fails (a store
    /// that dies part-way through a sequence of writes).
    pub(crate) fail_puts_after: Cell<Option<usize>>,
    puts: Cell<usize>,
    put_log: RefCell<Vec<String>>,
}

impl MemoryKv {
    /// An empty store that works.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Stores a value directly (test setup), counted as neither get nor put.
    pub(crate) fn insert(&self, key: &str, value: &str, ttl_seconds: Option<u64>) {
        self.entries.borrow_mut().insert(key.to_string(), (value.to_string(), ttl_seconds));
    }

    /// The value under `key`, read directly (not counted, never fails).
    pub(crate) fn value(&self, key: &str) -> Option<String> {
        self.entries.borrow().get(key).map(|(v, _)| v.clone())
    }

    /// The TTL `key` was stored with: `None` if absent, `Some(None)` if without expiry.
    pub(crate) fn ttl(&self, key: &str) -> Option<Option<u64>> {
        self.entries.borrow().get(key).map(|(_, ttl)| *ttl)
    }

    /// How many entries are stored.
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether nothing is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// How many `put` calls were made (failed and lost ones included).
    pub(crate) fn puts(&self) -> usize {
        self.puts.get()
    }

    /// The keys of the `put` calls that stored something, in call order.
    pub(crate) fn put_log(&self) -> Vec<String> {
        self.put_log.borrow().clone()
    }
}

impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if self.fail_gets.get() {
            return Err(StoreError(format!("memory kv: get {key} failed (fail_gets)")));
        }
        Ok(self.value(key))
    }

    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), StoreError> {
        let earlier = self.puts.get();
        self.puts.set(earlier + 1);
        if self.fail_puts.get() || self.fail_puts_after.get().is_some_and(|n| earlier >= n) {
            return Err(StoreError(format!("memory kv: put {key} failed (fail_puts)")));
        }
        self.insert(key, value, ttl_seconds);
        self.put_log.borrow_mut().push(key.to_string());
        Ok(())
    }
}

impl KvStore for &MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        (**self).get(key).await
    }

    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), StoreError> {
        (**self).put(key, value, ttl_seconds).await
    }
}

/// A [`Clock`] that reads what it was set to; `sleep` moves it forward instead of
/// waiting, so bounded waits end at once in tests.
#[derive(Debug, Default)]
pub(crate) struct FixedClock {
    secs: Cell<u64>,
    extra_ms: Cell<u64>,
    slept: Cell<u64>,
}

impl FixedClock {
    /// A clock stopped at `now` (unix seconds).
    pub(crate) fn new(now: u64) -> Self {
        Self { secs: Cell::new(now), extra_ms: Cell::new(0), slept: Cell::new(0) }
    }

    /// Moves the clock to `now`.
    pub(crate) fn set(&self, now: u64) {
        self.secs.set(now);
        self.extra_ms.set(0);
    }

    /// Moves the clock forward by `seconds`.
    pub(crate) fn advance(&self, seconds: u64) {
        self.secs.set(self.secs.get().saturating_add(seconds));
    }

    /// Milliseconds spent in `sleep` so far.
    pub(crate) fn slept_ms(&self) -> u64 {
        self.slept.get()
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.secs.get().saturating_add(self.extra_ms.get() / 1000)
    }

    fn now_ms(&self) -> u64 {
        self.secs.get().saturating_mul(1000).saturating_add(self.extra_ms.get())
    }

    async fn sleep(&self, ms: u64) {
        self.extra_ms.set(self.extra_ms.get() + ms);
        self.slept.set(self.slept.get() + ms);
    }
}

impl Clock for &FixedClock {
    fn now_unix(&self) -> u64 {
        (**self).now_unix()
    }

    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }

    async fn sleep(&self, ms: u64) {
        (**self).sleep(ms).await
    }
}

/// An in-memory arbiter running the real transition function ([`apply`]) over a map,
/// with switchable failures: every call fails, or writes are lost.
#[derive(Debug, Default)]
pub(crate) struct MemoryArbiter {
    rows: RefCell<BTreeMap<String, Row>>,
    /// Every call fails with a [`StoreError`].
    pub(crate) fail: Cell<bool>,
    /// Calls answer as usual but nothing is written.
    pub(crate) lose_writes: Cell<bool>,
    /// Writes of a record in this state answer as usual but are lost (with their events).
    pub(crate) lose_state: Cell<Option<crate::once::State>>,
    /// Lock writes (a claimed record marked `locked`) answer as usual but are lost.
    pub(crate) lose_locks: Cell<bool>,
    calls: RefCell<Vec<String>>,
    /// The ledger, in the order written: one event per id, as the store keeps it.
    events: RefCell<Vec<LedgerEvent>>,
    /// Payers' tallies, by row.
    tallies: RefCell<BTreeMap<String, Tally>>,
    /// The payers admitted per scope and minute (`Arbiter::admit`).
    minutes: RefCell<BTreeMap<(String, u64), std::collections::BTreeSet<String>>>,
}

impl MemoryArbiter {
    /// The stored record under `row`, if it is one.
    pub(crate) fn record(&self, row: &str) -> Option<Record> {
        match self.rows.borrow().get(row) {
            Some(Row::Record(r)) => Some(r.clone()),
            _ => None,
        }
    }

    /// Replaces a stored record (test setup).
    pub(crate) fn put_record(&self, row: &str, record: Record) {
        self.rows.borrow_mut().insert(row.to_string(), Row::Record(record));
    }

    /// The operations seen, as `op@shard`.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// The operations seen, names only (`claim`, `advance`, `bind_id`, `settle`).
    pub(crate) fn ops(&self) -> Vec<String> {
        self.calls().iter().map(|c| c.split('@').next().unwrap_or_default().to_string()).collect()
    }

    /// A payer's tally, by row (`payer:<address>`).
    pub(crate) fn tally(&self, row: &str) -> Option<Tally> {
        self.tallies.borrow().get(row).cloned()
    }

    /// Whether no row is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.borrow().is_empty()
    }

    /// The ledger events written, oldest first.
    pub(crate) fn events(&self) -> Vec<LedgerEvent> {
        self.events.borrow().clone()
    }

    /// The ledger as `event` or `event:reason` words, oldest first.
    pub(crate) fn ledger(&self) -> Vec<String> {
        self.events
            .borrow()
            .iter()
            .map(|e| match &e.reason {
                Some(r) => format!("{}:{r}", e.event.as_str()),
                None => e.event.as_str().to_string(),
            })
            .collect()
    }
}

impl MemoryArbiter {
    /// One atomic step (load, apply, write), as the Durable Object takes it; not logged.
    pub(crate) fn step(&self, request: ArbiterRequest) -> Result<ArbiterReply, StoreError> {
        if self.fail.get() {
            return Err(StoreError("arbiter down".into()));
        }
        let row = request.row().to_string();
        let stored = request.record_row().and_then(|r| self.rows.borrow().get(r).cloned());
        let tally_row = request.tally_row(stored.as_ref());
        let before = tally_row.as_ref().and_then(|t| self.tally(t)).unwrap_or_default();
        let mut tally = before.clone();
        let (write, reply, events) = apply(stored, &mut tally, request);
        let doomed = match &write {
            Some(Row::Record(r)) => self.lose_state.get() == Some(r.state) || (self.lose_locks.get() && r.locked),
            _ => false,
        };
        if self.lose_writes.get() || doomed {
            // The row and its events are lost together.
            return Ok(reply);
        }
        if let Some(w) = write {
            self.rows.borrow_mut().insert(row, w);
        }
        if let Some(t) = tally_row.filter(|_| tally != before) {
            self.tallies.borrow_mut().insert(t, tally);
        }
        // In the same step as the row (or alone, for a refusal at the claim), one per id.
        let mut ledger = self.events.borrow_mut();
        for event in events {
            if !ledger.iter().any(|e| e.id() == event.id()) {
                ledger.push(event);
            }
        }
        Ok(reply)
    }

    fn log(&self, shard: u32, request: &ArbiterRequest) {
        let op = match request {
            ArbiterRequest::BindId { .. } => "bind_id",
            ArbiterRequest::Claim { .. } => "claim",
            ArbiterRequest::Advance { .. } => "advance",
            ArbiterRequest::Refuse { .. } => "refuse",
            ArbiterRequest::Payer { .. } => "payer",
            ArbiterRequest::Settle { .. } => "settle",
        };
        self.calls.borrow_mut().push(format!("{op}@{shard}"));
    }
}

/// A plain [`MemoryArbiter`] answers a settle order `Unsettleable` (`apply` does not
/// carry orders out): see [`SettlingArbiter`].
impl Arbiter for MemoryArbiter {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> Result<ArbiterReply, StoreError> {
        self.log(shard, request);
        self.step(request.clone())
    }

    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
        self.calls.borrow_mut().push("admit@payers".into());
        if self.fail.get() {
            return Err(StoreError("arbiter down".into()));
        }
        let mut minutes = self.minutes.borrow_mut();
        let seen = minutes.entry((scope.to_string(), minute)).or_default();
        if seen.contains(payer) {
            return Ok(true);
        }
        if seen.len() >= max as usize {
            return Ok(false);
        }
        Ok(seen.insert(payer.to_string()))
    }
}

/// The arbiter as the Durable Object is: [`MemoryArbiter`] rows, and settle orders carried
/// out with [`settle_order`] against this facilitator, clock, signer and route.
pub(crate) struct SettlingArbiter<'a, F, C> {
    pub(crate) rows: &'a MemoryArbiter,
    pub(crate) facilitator: &'a F,
    pub(crate) clock: &'a C,
    pub(crate) signer: &'a ReceiptSigner,
    pub(crate) route: &'a PricedRoute,
}

impl<F: Facilitator, C: Clock> Arbiter for SettlingArbiter<'_, F, C> {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> Result<ArbiterReply, StoreError> {
        let ArbiterRequest::Settle { row, record, order } = request else {
            return self.rows.call(shard, request).await;
        };
        self.rows.log(shard, request);
        if self.rows.fail.get() {
            return Err(StoreError("arbiter down".into()));
        }
        let route = |pattern: &str| (pattern == self.route.pattern).then_some(std::borrow::Cow::Borrowed(self.route));
        let write = |request| self.rows.step(request);
        Ok(settle_order(row, record.clone(), order, route, self.facilitator, self.clock, self.signer, write).await)
    }

    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
        self.rows.admit(scope, payer, minute, max).await
    }
}

impl Arbiter for &MemoryArbiter {
    async fn call(&self, shard: u32, request: &ArbiterRequest) -> Result<ArbiterReply, StoreError> {
        (**self).call(shard, request).await
    }

    async fn admit(&self, scope: &str, payer: &str, minute: u64, max: u32) -> Result<bool, StoreError> {
        (**self).admit(scope, payer, minute, max).await
    }
}

/// Keeps the alerts raised.
#[derive(Debug, Default)]
pub(crate) struct KeptAlerts(pub(crate) RefCell<Vec<(crate::alert::Alert, String)>>);

impl crate::alert::Alerts for KeptAlerts {
    fn raise(&self, alert: &crate::alert::Alert, body: String) {
        self.0.borrow_mut().push((alert.clone(), body));
    }
}

#[cfg(test)]
mod tests {
    use futures_executor::block_on;

    use super::*;

    /// Writes through any `KvStore` (here: the `&MemoryKv` impl).
    fn put_through<K: KvStore>(kv: K, key: &str) -> Result<(), StoreError> {
        block_on(kv.put(key, "x", None))
    }

    /// Reads any `Clock` (here: the `&FixedClock` impl).
    fn now_through<C: Clock>(clock: C) -> u64 {
        clock.now_unix()
    }

    #[test]
    fn memory_kv_stores_counts_and_fails_on_demand() {
        let kv = MemoryKv::new();
        assert!(kv.is_empty());
        assert_eq!(block_on(kv.get("a")), Ok(None));
        assert_eq!(block_on(kv.put("a", "1", Some(60))), Ok(()));
        assert_eq!(block_on(kv.put("b", "2", None)), Ok(()));
        assert_eq!(block_on(kv.get("a")), Ok(Some("1".into())));
        assert_eq!((kv.len(), kv.ttl("a"), kv.ttl("b"), kv.ttl("c")), (2, Some(Some(60)), Some(None), None));
        assert_eq!(kv.put_log(), ["a", "b"]);

        kv.fail_gets.set(true);
        assert!(block_on(kv.get("a")).is_err());
        kv.fail_gets.set(false);

        kv.fail_puts.set(true);
        assert!(block_on(kv.put("a", "changed", None)).is_err());
        kv.fail_puts.set(false);
        assert_eq!(kv.value("a").as_deref(), Some("1"));

        // 3 puts so far; the 4th succeeds, the 5th fails.
        kv.fail_puts_after.set(Some(4));
        assert_eq!(put_through(&kv, "d"), Ok(()));
        assert!(put_through(&kv, "e").is_err());

        assert_eq!(kv.puts(), 5);
        assert_eq!(kv.put_log(), ["a", "b", "d"]);
        assert_eq!((kv.len(), kv.value("e")), (3, None));
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(100);
        assert_eq!(clock.now_unix(), 100);
        clock.advance(5);
        assert_eq!(now_through(&clock), 105);
        clock.set(7);
        assert_eq!(clock.now_unix(), 7);
    }
}
