//! Turns: one holder at a time among the tasks of one thread, in the order they asked.
//! A Durable Object runs its requests on one thread but interleaves them at every `await`;
//! a step that reads, waits and then writes (a paper settle's balance check and debit in
//! KV) takes a turn so that no other such step runs in between. Runtime-free: it wakes
//! through the executor's `Waker`s.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A queue of turns (see the module docs).
#[derive(Default)]
pub struct Turns(RefCell<Queue>);

#[derive(Default)]
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
}

/// A place in the queue: the turn while held; dropping it passes the turn on (or gives
/// up the place when its turn had not come).
pub struct Turn<'t> {
    turns: &'t Turns,
    ticket: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut queue = self.turns.0.borrow_mut();
        if queue.serving == self.ticket {
            queue.pass();
        } else {
            queue.gone.push(self.ticket);
        }
    }
}

impl Turns {
    /// Waits for every earlier turn to end, then holds the turn until the result drops.
    pub async fn take(&self) -> Turn<'_> {
        let ticket = {
            let mut queue = self.0.borrow_mut();
            queue.next += 1;
            queue.next - 1
        };
        // Made before the wait: a task dropped while it waits gives its place up.
        let turn = Turn { turns: self, ticket };
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

    use super::Turns;
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
        let turns = Rc::new(Turns::default());
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
}
