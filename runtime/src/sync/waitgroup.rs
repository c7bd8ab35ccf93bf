//! [`WaitGroup`]: Go's `sync.WaitGroup`, shared by cloning.
//!
//! # Design
//! One `u64` word holds the counter (`state >> 1`) and a `WAITERS` bit
//! (`state & 1`) saying that somebody waits in the queue.
//! - `add`/`done` is one CAS when nobody waits (a CAS rather than a
//!   `fetch_add` so that a counter that would go negative is refused before
//!   it changes, and the group stays usable after the panic).
//! - `wait` returns at once on a zero counter; otherwise it locks the queue,
//!   sets `WAITERS` (only while the counter is non-zero), enqueues itself,
//!   unlocks and parks.
//! - The `add` that takes the counter to zero while `WAITERS` is set goes
//!   the slow way: it locks the queue, installs "zero, no waiters" in one
//!   CAS, and wakes everybody queued.
//!
//! Clones share the word through a [`Prepaid`] handle, not an `Arc`: a
//! goroutine spawning in a loop clones the group for every goroutine, and
//! an `Arc`'s count would cross between its core and the cores that drop
//! the clones each time.
//!
//! Go detects "Add concurrently with Wait" and "reused before the previous
//! Wait returned" as misuse and panics. Here both are fine: `WAITERS` is
//! only set or cleared under the queue lock, together with enqueueing or
//! draining, so the zero transition wakes exactly the waiters of the round
//! that ended, and a waiter of the next round (which needs the counter to
//! be non-zero again to queue) cannot be woken by it.
//!
//! # Invariants
//! - `WAITERS` set implies the counter is non-zero and the queue is not
//!   empty; both change only under the queue lock.
//!
//! # Orderings
//! Every change of the word is a read-modify-write with `Release` (`AcqRel`
//! on the slow path), so a `wait` whose `Acquire` load sees zero has
//! synchronised with every `done` before it (they form one release
//! sequence). Waiters that parked are woken by the zero-installing CAS's
//! owner, whose `AcqRel` CAS read that same release sequence, through the
//! queue's `Release`/`Acquire` wake.

use super::prepaid::Prepaid;
use super::waitq::{WaitQueue, WOKEN};
use crate::park::WaitReason;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

const WAITERS: u64 = 1;
const COUNT_SHIFT: u32 = 1;
/// Largest counter value.
const MAX_COUNT: u64 = u64::MAX >> COUNT_SHIFT;

struct Inner {
    state: AtomicU64,
    queue: WaitQueue<()>,
}

/// Waits for a collection of goroutines (or threads) to finish, as Go's
/// `sync.WaitGroup`.
///
/// [`add`](WaitGroup::add) the number of tasks, have each call
/// [`done`](WaitGroup::done) when it finishes, and [`wait`](WaitGroup::wait)
/// until all have. Clones share one counter (Go passes `*WaitGroup`).
/// Any number of goroutines and threads may wait; the group can be reused
/// as soon as its counter is back at zero.
///
/// ```
/// use goro::sync::WaitGroup;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let wg = WaitGroup::new();
/// let finished = Arc::new(AtomicUsize::new(0));
/// for _ in 0..8 {
///     wg.add(1);
///     let (wg, finished) = (wg.clone(), finished.clone());
///     goro::go!(move || {
///         finished.fetch_add(1, Ordering::Relaxed);
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(finished.load(Ordering::Relaxed), 8);
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    /// Shared by the clones, which are cheap to make in a spawning loop
    /// (see `prepaid`).
    inner: Prepaid<Inner>,
}

impl WaitGroup {
    /// A group with a zero counter.
    ///
    /// ```
    /// goro::sync::WaitGroup::new().wait(); // zero: returns at once
    /// ```
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Prepaid::new(Inner {
                state: AtomicU64::new(0),
                queue: WaitQueue::new(()),
            }),
        }
    }

    /// Adds `delta` (which may be negative) to the counter. When it reaches
    /// zero, every waiter is released.
    ///
    /// # Panics
    /// With Go's message `"sync: negative WaitGroup counter"` if the counter
    /// would go below zero; the counter is then left unchanged.
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.add(2);
    /// wg.add(-2);
    /// wg.wait();
    /// ```
    #[inline]
    pub fn add(&self, delta: isize) {
        let state = &self.inner.state;
        let mut old = state.load(Ordering::Relaxed);
        loop {
            let count = new_count(old, delta);
            if count == 0 && old & WAITERS != 0 {
                return self.release_waiters(delta);
            }
            let new = count << COUNT_SHIFT | old & WAITERS;
            match state.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => old = now,
            }
        }
    }

    /// Decrements the counter by one: a task finished.
    ///
    /// # Panics
    /// If the counter is already zero (`"sync: negative WaitGroup counter"`).
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// wg.wait();
    /// ```
    #[inline]
    pub fn done(&self) {
        self.add(-1);
    }

    /// Waits until the counter is zero. A goroutine parks; a thread blocks.
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.add(1);
    /// let wg2 = wg.clone();
    /// goro::go!(move || wg2.done());
    /// wg.wait();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        if self.count() == 0 {
            return;
        }
        let ticket = {
            let mut queue = self.inner.queue.lock();
            if !self.announce_waiter() {
                return;
            }
            queue.enqueue(0)
        };
        ticket.wait(WaitReason::WaitGroup.here());
    }

    /// Runs `f` in a new goroutine counted in the group: adds one now and
    /// calls `done` when `f` returns or panics (Go 1.25's `WaitGroup.Go`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// let wg = goro::sync::WaitGroup::new();
    /// let sum = Arc::new(AtomicU32::new(0));
    /// for i in 1..=4 {
    ///     let sum = sum.clone();
    ///     wg.go(move || {
    ///         sum.fetch_add(i, Ordering::Relaxed);
    ///     });
    /// }
    /// wg.wait();
    /// assert_eq!(sum.load(Ordering::Relaxed), 10);
    /// ```
    pub fn go<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        struct DoneOnDrop(WaitGroup);
        impl Drop for DoneOnDrop {
            fn drop(&mut self) {
                self.0.done();
            }
        }
        self.add(1);
        let done = DoneOnDrop(self.clone());
        crate::spawn(move || {
            let _done = done;
            f();
        });
    }

    /// The counter (a snapshot).
    fn count(&self) -> u64 {
        self.inner.state.load(Ordering::Acquire) >> COUNT_SHIFT
    }

    /// Under the queue lock: sets `WAITERS` unless the counter is zero.
    /// Returns whether the caller must wait.
    fn announce_waiter(&self) -> bool {
        let state = &self.inner.state;
        let mut old = state.load(Ordering::Acquire);
        loop {
            if old >> COUNT_SHIFT == 0 {
                return false;
            }
            if old & WAITERS != 0 {
                return true;
            }
            match state.compare_exchange_weak(
                old,
                old | WAITERS,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => old = now,
            }
        }
    }

    /// The slow path of an `add` of `delta` that may bring the counter to
    /// zero while somebody waits.
    #[cold]
    fn release_waiters(&self, delta: isize) {
        let state = &self.inner.state;
        let mut queue = self.inner.queue.lock();
        // `WAITERS` cannot change while we hold the lock; the counter can.
        let mut old = state.load(Ordering::Relaxed);
        loop {
            let count = new_count(old, delta);
            let new = if count == 0 {
                0
            } else {
                count << COUNT_SHIFT | old & WAITERS
            };
            match state.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) if count == 0 => break,
                Ok(_) => return,
                Err(now) => old = now,
            }
        }
        let waiters = queue.dequeue_all();
        drop(queue);
        waiters.wake(WOKEN);
    }
}

/// The counter of `state` after adding `delta`; panics as Go does if it
/// would go negative.
fn new_count(state: u64, delta: isize) -> u64 {
    let count = i128::from(state >> COUNT_SHIFT) + delta as i128;
    if count < 0 {
        panic!("sync: negative WaitGroup counter");
    }
    match u64::try_from(count) {
        Ok(count) if count <= MAX_COUNT => count,
        _ => panic!("sync: WaitGroup counter overflow"),
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}
