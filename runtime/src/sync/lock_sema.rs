//! A counting semaphore for the inside of the sync primitives (Go's
//! `runtime.semacquire`/`semrelease`), under [`Mutex`](super::Mutex) and
//! [`RwLock`](super::RwLock).
//!
//! # Design
//! `count` is the number of tokens; `acquire` takes one, parking while
//! there is none; `release` adds one and wakes the first waiter, which then
//! competes for it (a newcomer may take it first; the waiter then queues
//! again at the front). With `handoff`, `release` takes the token itself on
//! behalf of the waiter it wakes, so nobody can barge in between, and yields
//! the processor so the waiter runs at once: that is how a starving mutex
//! hands itself over. Unlike Go, which hashes every semaphore into one
//! global table, each primitive owns its semaphore and queue.
//!
//! # No lost wakeups
//! `nwait` counts the queued waiters and only changes under the queue lock.
//! `acquire` increments `nwait` and then retries the count; `release`
//! increments the count and then reads `nwait`. Both pairs are `SeqCst` (a
//! Dekker pair): either the acquirer sees the new token, or the releaser
//! sees the waiter, locks the queue, and finds it there (the increment and
//! the enqueue happen in one critical section).
//!
//! # Orderings
//! The count is `SeqCst` for the pair above, and a token carries no data:
//! the primitives publish their data through their own state words. The
//! wake itself is `Release`/`Acquire` (see `waitq`).

use super::waitq::{WaitQueue, WOKEN};
use crate::park::Why;
use std::sync::atomic::{AtomicU32, Ordering};

/// The status of a waiter whose token the releaser took for it.
const HANDOFF: u8 = 2;

/// A counting semaphore whose waiters park.
pub(crate) struct LockSema {
    count: AtomicU32,
    nwait: AtomicU32,
    queue: WaitQueue<()>,
}

impl LockSema {
    /// A semaphore with no tokens.
    pub(crate) const fn new() -> LockSema {
        LockSema {
            count: AtomicU32::new(0),
            nwait: AtomicU32::new(0),
            queue: WaitQueue::new(()),
        }
    }

    /// Takes a token if there is one.
    fn try_acquire(&self) -> bool {
        let mut count = self.count.load(Ordering::SeqCst);
        while count > 0 {
            match self.count.compare_exchange_weak(
                count,
                count - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => count = now,
            }
        }
        false
    }

    /// Takes a token, parking until there is one. A waiter that has waited
    /// before passes `lifo` to queue at the front.
    pub(crate) fn acquire(&self, lifo: bool, why: Why) {
        if self.try_acquire() {
            return;
        }
        loop {
            let ticket = {
                let mut queue = self.queue.lock();
                self.nwait.fetch_add(1, Ordering::SeqCst);
                if self.try_acquire() {
                    self.nwait.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                if lifo {
                    queue.enqueue_front(0)
                } else {
                    queue.enqueue(0)
                }
            };
            if ticket.wait(why) == HANDOFF || self.try_acquire() {
                return;
            }
        }
    }

    /// Adds a token and wakes the first waiter. With `handoff`, the token
    /// goes to that waiter directly and the caller, if a goroutine, yields
    /// so the waiter runs next.
    pub(crate) fn release(&self, handoff: bool) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.nwait.load(Ordering::SeqCst) == 0 {
            return;
        }
        let wake = {
            let mut queue = self.queue.lock();
            let wake = queue.dequeue();
            if wake.is_some() {
                self.nwait.fetch_sub(1, Ordering::Relaxed);
            }
            wake
        };
        let Some(wake) = wake else {
            return;
        };
        if handoff && self.try_acquire() {
            wake.wake(HANDOFF);
            if crate::current_id().is_some() {
                crate::yield_now();
            }
        } else {
            wake.wake(WOKEN);
        }
    }
}
