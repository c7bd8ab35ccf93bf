//! [`Once`]: run an initialisation exactly once, as Go's `sync.Once` and
//! std's `Once`.
//!
//! # Design
//! A state byte, `INCOMPLETE -> RUNNING -> COMPLETE`, and a wait queue.
//! The caller whose CAS moves `INCOMPLETE -> RUNNING` runs the closure; the
//! others park until it finishes. When it returns, the runner stores
//! `COMPLETE` and wakes everybody, who then return.
//!
//! A panicking closure: Go marks the `Once` done anyway (later calls do
//! nothing) and std's `Once` poisons it (later calls panic). Here the runner
//! puts the state back to `INCOMPLETE` and wakes the waiters, so the next
//! caller (a waiter or a later one) runs its own closure: a failed
//! initialisation can be retried, as with std's `OnceLock::get_or_init`.
//!
//! # No lost wakeups
//! A waiter re-checks the state for `RUNNING` under the queue lock before it
//! enqueues; the runner changes the state first and drains the queue under
//! the lock after. So either the waiter sees the new state and does not
//! wait, or it is in the queue before the runner drains it.
//!
//! # Orderings
//! `COMPLETE` is stored with `Release` and read with `Acquire`
//! ([`Once::is_completed`], the fast path), so whoever sees it also sees
//! everything the closure wrote. The claiming CAS is `Acquire` so a retrying
//! runner sees what a failed one left behind.

use super::waitq::{WaitQueue, WOKEN};
use crate::park::WaitReason;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const COMPLETE: u8 = 2;

/// Runs a one-time initialisation, for goroutines and threads (Go's
/// `sync.Once`).
///
/// Callers that arrive while the initialisation runs wait for it (a
/// goroutine parks, a thread blocks). If the closure panics, the `Once` is
/// not completed and a later call runs its own closure (Go would mark it
/// done, std's `Once` would poison it).
///
/// ```
/// use goro::sync::Once;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static INIT: Once = Once::new();
/// static RUNS: AtomicU32 = AtomicU32::new(0);
///
/// let handles: Vec<_> = (0..10)
///     .map(|_| goro::go!(|| INIT.call_once(|| { RUNS.fetch_add(1, Ordering::Relaxed); })))
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
/// ```
pub struct Once {
    state: AtomicU8,
    queue: WaitQueue<()>,
}

impl Once {
    /// A `Once` that has not run.
    ///
    /// ```
    /// static ONCE: goro::sync::Once = goro::sync::Once::new();
    /// assert!(!ONCE.is_completed());
    /// ```
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            queue: WaitQueue::new(()),
        }
    }

    /// Runs `f` if no call has completed yet, and returns once one has.
    /// Concurrent callers wait for the one running; if it panics, one of
    /// them runs its own `f` instead. Calling `call_once` from inside `f`
    /// on the same `Once` deadlocks.
    ///
    /// ```
    /// let once = goro::sync::Once::new();
    /// let mut runs = 0;
    /// once.call_once(|| runs += 1);
    /// once.call_once(|| runs += 1);
    /// assert_eq!(runs, 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        if self.claim() {
            let running = Running(self);
            f();
            std::mem::forget(running);
            self.publish(COMPLETE);
        }
    }

    /// Whether a call has completed. Once true, the closure's effects are
    /// visible to the caller.
    ///
    /// ```
    /// let once = goro::sync::Once::new();
    /// once.call_once(|| {});
    /// assert!(once.is_completed());
    /// ```
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// Waits until the `Once` is complete (false) or the caller has become
    /// the runner (true).
    #[cold]
    #[track_caller]
    fn claim(&self) -> bool {
        loop {
            match self.state.compare_exchange(
                INCOMPLETE,
                RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(COMPLETE) => return false,
                Err(_) => self.wait_while_running(),
            }
        }
    }

    #[track_caller]
    fn wait_while_running(&self) {
        let ticket = {
            let mut queue = self.queue.lock();
            if self.state.load(Ordering::Acquire) != RUNNING {
                return;
            }
            queue.enqueue(0)
        };
        ticket.wait(WaitReason::Once.here());
    }

    /// The runner is done: store the outcome and wake every waiter.
    fn publish(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        let waiters = self.queue.lock().dequeue_all();
        waiters.wake(WOKEN);
    }
}

/// Held by the runner while the closure runs; dropped (rather than
/// forgotten) only when the closure panics, and then lets somebody retry.
struct Running<'a>(&'a Once);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.publish(INCOMPLETE);
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish_non_exhaustive()
    }
}
