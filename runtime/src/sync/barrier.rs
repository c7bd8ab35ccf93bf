//! [`Barrier`]: std's `Barrier` for goroutines and threads.
//!
//! # Design
//! The number of arrivals lives under the wait queue's lock. Each `wait`
//! counts itself in; all but the `n`-th enqueue and park. The `n`-th, the
//! leader, resets the count for the next round and wakes the whole queue.
//! Since a round's waiters are dequeued together by its leader before the
//! lock is dropped, and the next round's arrivals queue after that, rounds
//! never mix: the barrier is reusable with no generation counter.
//!
//! # Orderings
//! None of its own: arrivals are counted under the queue's mutex (so the
//! leader has synchronised with every arrival of its round) and the wakes
//! are `Release`/`Acquire` (see `waitq`): everything every party did before
//! `wait` is visible to all of them after it.

use super::waitq::{WaitQueue, WOKEN};
use crate::park::WaitReason;
use std::fmt;

/// Lets `n` goroutines (or threads) wait until all have reached a point, as
/// std's `Barrier`. Reusable: after releasing a round it counts the next.
///
/// ```
/// use goro::sync::Barrier;
/// use std::sync::Arc;
///
/// let barrier = Arc::new(Barrier::new(4));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let barrier = barrier.clone();
///         goro::go!(move || barrier.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles.into_iter().map(|h| h.join().unwrap());
/// assert_eq!(leaders.filter(|&leader| leader).count(), 1);
/// ```
pub struct Barrier {
    n: usize,
    /// Arrivals in the current round.
    queue: WaitQueue<usize>,
}

/// What [`Barrier::wait`] returns: whether this caller was the round's
/// leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this caller was the leader: exactly one per round (the last
    /// to arrive).
    ///
    /// ```
    /// assert!(goro::sync::Barrier::new(1).wait().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for rounds of `n` parties (`0` behaves as `1`, as in std).
    ///
    /// ```
    /// let barrier = goro::sync::Barrier::new(1);
    /// barrier.wait(); // the only party: returns at once
    /// ```
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            queue: WaitQueue::new(0),
        }
    }

    /// Waits until `n` parties have called `wait` in this round, then
    /// releases them all at once. A goroutine parks; a thread blocks.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let barrier = Arc::new(goro::sync::Barrier::new(2));
    /// let b = barrier.clone();
    /// let h = goro::go!(move || b.wait().is_leader());
    /// let leader_here = barrier.wait().is_leader();
    /// assert!(leader_here != h.join().unwrap());
    /// ```
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let mut queue = self.queue.lock();
        let arrived = queue.state();
        *arrived += 1;
        if *arrived < self.n {
            let ticket = queue.enqueue(0);
            drop(queue);
            ticket.wait(WaitReason::Barrier.here());
            return BarrierWaitResult { leader: false };
        }
        *arrived = 0;
        let round = queue.dequeue_all();
        drop(queue);
        round.wake(WOKEN);
        BarrierWaitResult { leader: true }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}
