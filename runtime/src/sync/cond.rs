//! [`Cond`]: Go's `sync.Cond`, a condition variable over a goro
//! [`Mutex`](super::Mutex).
//!
//! # Design
//! A FIFO wait queue. `wait` enqueues the caller *while it still holds the
//! mutex*, then unlocks, parks, and locks again once woken. `signal`
//! dequeues and wakes the first waiter, `broadcast` all of them. Because a
//! waiter is queued before the mutex is released, a `signal` sent by
//! anybody who took the mutex after that release finds it: no wakeup is
//! lost, which is exactly Go's guarantee (its `notifyList` tickets give the
//! same order). Waiters are woken in the order they started waiting, and a
//! `wait` never returns spuriously (callers should still loop on their
//! condition: another goroutine may take the mutex first and change it).
//!
//! Unlike Go's `Cond`, the mutex is not bound at construction: each `wait`
//! uses the mutex of the guard it is given, as std's `Condvar` does.
//!
//! # Orderings
//! None of its own: the queue orders the wakeups (`Release`/`Acquire`, see
//! `waitq`) and the mutex orders the data.

use super::mutex::MutexGuard;
use super::waitq::{WaitQueue, WOKEN};
use crate::park::WaitReason;
use std::fmt;
use std::time::{Duration, Instant};

/// A condition variable: goroutines (or threads) wait on it for a change
/// that another signals, as Go's `sync.Cond`.
///
/// ```
/// use goro::sync::{Cond, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Cond::new()));
/// let pair2 = pair.clone();
/// goro::go!(move || {
///     let (ready, cond) = &*pair2;
///     *ready.lock() = true;
///     cond.signal();
/// });
/// let (ready, cond) = &*pair;
/// let mut guard = ready.lock();
/// while !*guard {
///     guard = cond.wait(guard);
/// }
/// ```
pub struct Cond {
    queue: WaitQueue<()>,
}

impl Cond {
    /// A condition variable nobody waits on.
    ///
    /// ```
    /// static COND: goro::sync::Cond = goro::sync::Cond::new();
    /// COND.signal(); // nobody waits: nothing happens
    /// ```
    pub const fn new() -> Cond {
        Cond {
            queue: WaitQueue::new(()),
        }
    }

    /// Unlocks the guard's mutex, waits until signalled, and locks the
    /// mutex again before returning its guard (Go's `Wait`). A goroutine
    /// parks; a thread blocks.
    ///
    /// ```
    /// use goro::sync::{Cond, Mutex};
    /// use std::sync::Arc;
    ///
    /// let state = Arc::new((Mutex::new(0), Cond::new()));
    /// let s = state.clone();
    /// goro::go!(move || {
    ///     *s.0.lock() = 7;
    ///     s.1.broadcast();
    /// });
    /// let mut n = state.0.lock();
    /// while *n == 0 {
    ///     n = state.1.wait(n);
    /// }
    /// assert_eq!(*n, 7);
    /// ```
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = MutexGuard::mutex(&guard);
        let ticket = self.queue.lock().enqueue(0);
        drop(guard);
        ticket.wait(WaitReason::Cond.here());
        mutex.lock()
    }

    /// Waits while `condition` holds, as std's `Condvar::wait_while`:
    /// returns the guard once `condition` is false.
    ///
    /// ```
    /// use goro::sync::{Cond, Mutex};
    /// use std::sync::Arc;
    ///
    /// let state = Arc::new((Mutex::new(Vec::new()), Cond::new()));
    /// let s = state.clone();
    /// goro::go!(move || {
    ///     s.0.lock().push(1);
    ///     s.1.signal();
    /// });
    /// let items = state.1.wait_while(state.0.lock(), |v| v.is_empty());
    /// assert_eq!(*items, [1]);
    /// ```
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// As [`wait`](Cond::wait), but gives up after `timeout`. Returns the
    /// guard and whether the wait timed out (a signal that raced with the
    /// timeout counts as received: it is not lost).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let m = goro::sync::Mutex::new(());
    /// let cond = goro::sync::Cond::new();
    /// let (_guard, timed_out) = cond.wait_timeout(m.lock(), Duration::from_millis(1));
    /// assert!(timed_out);
    /// ```
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return (self.wait(guard), false);
        };
        let mutex = MutexGuard::mutex(&guard);
        let ticket = self.queue.lock().enqueue(0);
        drop(guard);
        let timed_out = ticket
            .wait_until(deadline, WaitReason::Cond.here())
            .is_none()
            && {
                let withdrawn = self.queue.lock().remove(&ticket);
                if !withdrawn {
                    ticket.wait(WaitReason::Cond.here()); // a signal dequeued us: take it
                }
                withdrawn
            };
        (mutex.lock(), timed_out)
    }

    /// Wakes the goroutine (or thread) that has waited longest, if any
    /// (Go's `Signal`). Holding the mutex while signalling is allowed but
    /// not required.
    ///
    /// ```
    /// goro::sync::Cond::new().signal();
    /// ```
    pub fn signal(&self) {
        let wake = self.queue.lock().dequeue();
        if let Some(wake) = wake {
            wake.wake(WOKEN);
        }
    }

    /// Wakes every waiter (Go's `Broadcast`).
    ///
    /// ```
    /// goro::sync::Cond::new().broadcast();
    /// ```
    pub fn broadcast(&self) {
        let waiters = self.queue.lock().dequeue_all();
        waiters.wake(WOKEN);
    }
}

impl Default for Cond {
    fn default() -> Cond {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}
