//! Turns: one holder at a time among the tasks of one thread, in the order they asked.
//! A Durable Object runs its requests on one thread but interleaves them at every `await`;
//! a step that reads, waits and then writes (a paper settle's balance check and debit in
//! KV) takes a turn so that no other such step for the same key runs in between.
//! Runtime-free: it wakes through the executor's `Waker`s, and a bounded wait sleeps on
//! the [`Clock`] port.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::ports::Clock;

/// A queue of turns (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct Turns(Rc<RefCell<Queue>>);

#[derive(Debug, Default)]
struct Queue {
    /// The ticket the next `take` gets.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// Tickets given up before their turn came (a task dropped while it waited).
    gone: Vec<u64>,
    /// Who waits.
    waiting: Vec<Waker>,
}

impl Queue {
    /// The turn passes to the next ticket not given up; every waiter looks again.
    fn pass(&mut self) {
        self.serving += 1;
        while let Some(at) = self.gone.iter().position(|t| *t == self.serving) {
            self.gone.swap_remove(at);
            self.serving += 1;
        }
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
    }

    /// Nobody holds a turn or waits for one.
    fn idle(&self) -> bool {
        self.serving == self.next
    }
}

/// A place in the queue: the turn while held; dropping it passes the turn on (or gives
/// up the place when its turn had not come).
pub struct Turn {
    queue: Rc<RefCell<Queue>>,
    ticket: u64,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut queue = self.queue.borrow_mut();
        if queue.serving == self.ticket {
            queue.pass();
        } else {
            queue.gone.push(self.ticket);
        }
    }
}

impl Turns {
    /// Waits for every earlier turn to end, then holds the turn until the result drops.
    async fn take(&self) -> Turn {
        let ticket = {
            let mut queue = self.0.borrow_mut();
            queue.next += 1;
            queue.next - 1
        };
        // Made before the wait: a task dropped while it waits gives its place up.
        let turn = Turn { queue: self.0.clone(), ticket };
        poll_fn(|cx| {
            let mut queue = self.0.borrow_mut();
            if queue.serving == ticket {
                return Poll::Ready(());
            }
            queue.waiting.push(cx.waker().clone());
            Poll::Pending
        })
        .await;
        turn
    }

    /// [`Turns::take`], waiting at most `ms` on `clock`: `None` when the turn did not
    /// come in time (the place is given up).
    pub async fn take_within<C: Clock>(&self, clock: &C, ms: u64) -> Option<Turn> {
        first(self.take(), clock.sleep(ms)).await
    }
}

/// The output of `work` if it ends before `timer` does.
async fn first<T>(work: impl Future<Output = T>, timer: impl Future<Output = ()>) -> Option<T> {
    let (mut work, mut timer) = (pin!(work), pin!(timer));
    poll_fn(|cx| {
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Turns per key (a payer's balance): one queue each, forgotten when idle.
#[derive(Debug, Default, Clone)]
pub struct KeyedTurns(Rc<RefCell<Vec<(String, Turns)>>>);

impl KeyedTurns {
    /// The queue of `key` (made on first use); idle queues of other keys are dropped, so
    /// the list holds only keys with a settle under way.
    pub fn of(&self, key: &str) -> Turns {
        let mut list = self.0.borrow_mut();
        list.retain(|(k, t)| k == key || !t.0.borrow().idle());
        if let Some((_, turns)) = list.iter().find(|(k, _)| k == key) {
            return turns.clone();
        }
        let turns = Turns::default();
        list.push((key.to_string(), turns.clone()));
        turns
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    use futures_executor::{LocalPool, LocalSpawner};
    use futures_task::LocalSpawn;

    use super::{KeyedTurns, Turns};
    use crate::testkit::Rng;

    /// Lets the other tasks run once (a stand-in for an `await` on I/O).
    fn yield_now() -> impl Future<Output = ()> {
        struct Yield(bool);
        impl Future for Yield {
            type Output = ();
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                if self.0 {
                    return Poll::Ready(());
                }
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
        Yield(false)
    }

    fn spawn(spawner: &LocalSpawner, f: impl Future<Output = ()> + 'static) {
        spawner.spawn_local_obj(Box::pin(f).into()).expect("spawn");
    }

    /// `tasks` read-wait-write steps on a shared balance of `balance`, each debiting 1
    /// when it saw at least 1: (the balance left, the debits made).
    fn run(tasks: usize, balance: u64, with_turns: bool, seed: u64) -> (u64, u64) {
        let mut pool = LocalPool::new();
        let turns = Turns::default();
        let state = Rc::new(RefCell::new((balance, 0u64)));
        let mut rng = Rng(seed);
        for _ in 0..tasks {
            let (turns, state) = (turns.clone(), state.clone());
            let waits = 1 + rng.below(3);
            spawn(&pool.spawner(), async move {
                let _turn = if with_turns { Some(turns.take().await) } else { None };
                let seen = state.borrow().0;
                for _ in 0..waits {
                    yield_now().await;
                }
                if seen >= 1 {
                    let mut s = state.borrow_mut();
                    s.0 = seen - 1;
                    s.1 += 1;
                }
            });
        }
        pool.run();
        let s = *state.borrow();
        s
    }

    #[test]
    fn steps_that_hold_a_turn_never_interleave() {
        // Generated runs: with turns no debit is lost and none overdraws.
        for seed in 1..200u64 {
            let tasks = 2 + (seed as usize % 9);
            let balance = seed % 5;
            let (left, served) = run(tasks, balance, true, seed * 7919);
            assert_eq!(served, balance.min(tasks as u64), "seed {seed}");
            assert_eq!(left + served, balance, "seed {seed}: every debit kept");
        }
        // The same steps without turns lose debits: the check can tell.
        let lost = (1..200u64).any(|seed| {
            let (left, served) = run(8, 3, false, seed * 7919);
            left + served != 3
        });
        assert!(lost, "interleaving was never seen: the check proves nothing");
    }

    #[test]
    fn a_waiter_dropped_before_its_turn_gives_its_place_up() {
        let turns = Turns::default();
        LocalPool::new().run_until(async {
            let first = turns.take().await;
            // A second waiter, polled once (queued), then dropped.
            let mut second = Box::pin(turns.take());
            let waker = futures_task::noop_waker();
            assert!(second.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
            drop(second);
            drop(first);
            // The third gets the turn at once (else this never finishes).
            drop(turns.take().await);
            // And a waiter behind a holder gets it when the holder drops.
            let holder = turns.take().await;
            let mut next = Box::pin(turns.take());
            assert!(next.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
            drop(holder);
            assert!(next.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
        });
    }

    #[test]
    fn a_bounded_wait_gives_up_and_keys_do_not_wait_for_each_other() {
        let clock = crate::fakes::FixedClock::new(1_000);
        let keyed = KeyedTurns::default();
        LocalPool::new().run_until(async {
            let held = keyed.of("payer:a").take().await;
            // Another payer's queue is its own: its turn comes at once.
            let other = keyed.of("payer:b").take_within(&clock, 10).await;
            assert!(other.is_some(), "another key waited");
            drop(other);
            // The same payer's waits, bounded: the fake clock's sleep ends at once, the turn
            // is held, so the wait gives up (and its place).
            assert!(keyed.of("payer:a").take_within(&clock, 10).await.is_none());
            drop(held);
            assert!(keyed.of("payer:a").take_within(&clock, 10).await.is_some(), "free again");
            // Idle queues are forgotten.
            let _ = keyed.of("payer:c");
            assert_eq!(keyed.0.borrow().len(), 1, "only the queue asked for is kept");
        });
    }
}
