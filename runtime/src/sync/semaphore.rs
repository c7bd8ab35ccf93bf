//! [`Semaphore`]: a weighted semaphore, as Go's
//! `golang.org/x/sync/semaphore`.
//!
//! # Design
//! The number of permits held (`held`) lives under the wait queue's lock,
//! and each waiter's weight is its queue tag. `acquire(w)` takes `w` at once
//! only if they are free *and nobody waits*; otherwise it queues. `release`
//! gives permits back and then admits waiters from the front, strictly in
//! order: it stops at the first waiter that does not fit, even if a smaller
//! one behind it would. So a large request is not starved by a stream of
//! small ones (x/sync's rule). Permits are handed over: the releaser counts
//! them as held on the waiter's behalf before it wakes it.
//!
//! A waiter that gives up (`acquire_timeout`) withdraws from the queue; if
//! it was at the front, the waiters behind it may now fit, so it admits
//! them (x/sync does the same for a cancelled context).
//!
//! # Invariants
//! - `held <= size` at all times; `held` counts the permits of every holder
//!   and of every waiter already admitted but not yet running.
//! - If the queue is not empty, its front waiter does not fit.
//!
//! # Orderings
//! None of its own: the count is under the queue's mutex, and handed-over
//! permits are published by the queue's `Release`/`Acquire` wake.

use super::waitq::{Locked, WaitQueue, WakeAll, WOKEN};
use crate::park::WaitReason;
use std::fmt;
use std::time::{Duration, Instant};

/// A weighted semaphore for goroutines and threads: `size` permits, taken
/// and returned in any amounts, granted in FIFO order.
///
/// ```
/// use goro::sync::{Semaphore, WaitGroup};
/// use std::sync::Arc;
///
/// // At most 2 of the 10 goroutines work at once.
/// let sem = Arc::new(Semaphore::new(2));
/// let wg = WaitGroup::new();
/// for _ in 0..10 {
///     let sem = sem.clone();
///     wg.go(move || {
///         sem.acquire(1);
///         // ... work ...
///         sem.release(1);
///     });
/// }
/// wg.wait();
/// ```
pub struct Semaphore {
    size: usize,
    /// Permits held, and the waiters with their weights.
    queue: WaitQueue<usize>,
}

impl Semaphore {
    /// A semaphore with `size` free permits.
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(3);
    /// assert!(sem.try_acquire(3));
    /// ```
    pub const fn new(size: usize) -> Semaphore {
        Semaphore {
            size,
            queue: WaitQueue::new(0),
        }
    }

    /// Takes `weight` permits, waiting until they are free and every
    /// earlier waiter has been served. A goroutine parks; a thread blocks.
    ///
    /// # Panics
    /// If `weight` exceeds the size (it could never be granted; x/sync
    /// would block until its context is cancelled).
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(4);
    /// sem.acquire(3);
    /// assert!(!sem.try_acquire(2));
    /// sem.release(3);
    /// ```
    #[track_caller]
    pub fn acquire(&self, weight: usize) {
        let ticket = {
            let mut queue = self.queue.lock();
            if self.admit_now(&mut queue, weight) {
                return;
            }
            queue.enqueue(weight)
        };
        ticket.wait(WaitReason::Semaphore.here());
    }

    /// Takes `weight` permits if they are free and nobody waits; never
    /// waits. Returns whether it took them.
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(1);
    /// assert!(sem.try_acquire(1));
    /// assert!(!sem.try_acquire(1));
    /// ```
    pub fn try_acquire(&self, weight: usize) -> bool {
        let mut queue = self.queue.lock();
        weight <= self.size && self.admit_now(&mut queue, weight)
    }

    /// As [`acquire`](Semaphore::acquire), but gives up after `timeout`.
    /// Returns whether the permits were taken.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = goro::sync::Semaphore::new(1);
    /// sem.acquire(1);
    /// assert!(!sem.acquire_timeout(1, Duration::from_millis(1)));
    /// sem.release(1);
    /// assert!(sem.acquire_timeout(1, Duration::from_millis(1)));
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, weight: usize, timeout: Duration) -> bool {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            self.acquire(weight);
            return true;
        };
        let ticket = {
            let mut queue = self.queue.lock();
            if self.admit_now(&mut queue, weight) {
                return true;
            }
            queue.enqueue(weight)
        };
        if ticket
            .wait_until(deadline, WaitReason::Semaphore.here())
            .is_some()
        {
            return true;
        }
        let mut queue = self.queue.lock();
        if !queue.remove(&ticket) {
            // A release admitted us as the deadline passed: keep them.
            drop(queue);
            ticket.wait(WaitReason::Semaphore.here());
            return true;
        }
        // Whoever was behind us may fit now.
        let admitted = self.admit_waiters(&mut queue);
        drop(queue);
        admitted.wake(WOKEN);
        false
    }

    /// Returns `weight` permits and admits the waiters that now fit, in
    /// order.
    ///
    /// # Panics
    /// If more permits are released than are held
    /// (`"semaphore: released more than held"`, as x/sync).
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(2);
    /// sem.acquire(2);
    /// sem.release(2);
    /// assert!(sem.try_acquire(2));
    /// ```
    pub fn release(&self, weight: usize) {
        let mut queue = self.queue.lock();
        let held = queue.state();
        *held = held
            .checked_sub(weight)
            .unwrap_or_else(|| panic!("semaphore: released more than held"));
        let admitted = self.admit_waiters(&mut queue);
        drop(queue);
        admitted.wake(WOKEN);
    }

    /// Under the lock: takes `weight` permits for a newcomer if they are
    /// free and nobody waits.
    fn admit_now(&self, queue: &mut Locked<'_, usize>, weight: usize) -> bool {
        assert!(
            weight <= self.size,
            "semaphore: acquire of {weight} permits exceeds the size {}",
            self.size
        );
        let held = *queue.state();
        let fits = queue.is_empty() && self.size - held >= weight;
        if fits {
            *queue.state() = held + weight;
        }
        fits
    }

    /// Under the lock: dequeues the front waiters that fit, counting their
    /// permits as held; stops at the first that does not.
    fn admit_waiters(&self, queue: &mut Locked<'_, usize>) -> WakeAll {
        let mut admitted = WakeAll::new();
        while let Some(weight) = queue.front_tag() {
            let held = *queue.state();
            if self.size - held < weight {
                break;
            }
            *queue.state() = held + weight;
            admitted.push(queue.dequeue().expect("front exists"));
        }
        admitted
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = *self.queue.lock().state();
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("held", &held)
            .finish_non_exhaustive()
    }
}
