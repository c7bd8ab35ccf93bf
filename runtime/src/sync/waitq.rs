//! The wait queue every primitive in `sync` parks on.
//!
//! # Design
//! A [`WaitQueue<S>`] is a short-held `std::sync::Mutex` around a FIFO of
//! waiters plus `S`, the primitive's own state that must change atomically
//! with the queue (a semaphore's count, a barrier's arrivals). A primitive
//! that must wait locks the queue ([`WaitQueue::lock`]), re-checks its
//! condition under the lock, enqueues a [`Ticket`], drops the lock and only
//! then parks in [`Ticket::wait`]. Whoever satisfies the wait takes the
//! waiter out under the lock ([`Locked::dequeue`], [`Locked::dequeue_all`])
//! and wakes it with a *status* after dropping the lock ([`Wake::wake`]).
//!
//! The std mutex is never held across a park: a goroutine may resume on
//! another OS thread, and a pthread mutex must be unlocked by the thread
//! that locked it. Critical sections here are a few pointer moves.
//!
//! # Invariants
//! - A waiter is in the queue at most once; it is woken by exactly the one
//!   party that dequeued it, and only after it was dequeued.
//! - A waiter's status goes from [`WAITING`] to a non-zero value exactly
//!   once; [`Ticket::wait`] returns that value. Park may return spuriously
//!   (see `crate::park`), so the waiter loops on its status and never on the
//!   park itself.
//! - The waiter's record is shared by an `Arc`, so a waker that stored the
//!   status may still call `unpark` after the waiter has returned and gone.
//!
//! # Orderings
//! [`Wake::wake`] stores the status with `Release` and [`Ticket::wait`]
//! loads it with `Acquire`: everything the waker did before waking (handing
//! over a lock, a permit, a count) is visible to the woken waiter. The
//! queue itself is ordered by its std mutex.

use crate::park::{self, Unparker, Why};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The status of a waiter nobody has woken yet; any other value is the
/// wake reason, chosen by the primitive.
pub(crate) const WAITING: u8 = 0;

/// The generic "you were woken" status.
pub(crate) const WOKEN: u8 = 1;

/// One parked goroutine or thread.
struct Waiter {
    unparker: Unparker,
    /// What the waiter asks for (a semaphore weight); 0 when unused.
    tag: usize,
    status: AtomicU8,
}

/// A FIFO of parked waiters and the state `S` that goes with it.
pub(crate) struct WaitQueue<S> {
    inner: Mutex<Inner<S>>,
}

struct Inner<S> {
    state: S,
    waiters: VecDeque<Arc<Waiter>>,
}

impl<S> WaitQueue<S> {
    /// An empty queue with initial state `state`.
    pub(crate) const fn new(state: S) -> WaitQueue<S> {
        WaitQueue {
            inner: Mutex::new(Inner {
                state,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Locks the queue. Hold the result briefly and never across a park.
    pub(crate) fn lock(&self) -> Locked<'_, S> {
        // Nothing panics while the queue is locked except allocation
        // failure, which aborts; poisoning can be ignored.
        Locked(self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A locked [`WaitQueue`].
pub(crate) struct Locked<'a, S>(MutexGuard<'a, Inner<S>>);

impl<S> Locked<'_, S> {
    /// The primitive's state.
    pub(crate) fn state(&mut self) -> &mut S {
        &mut self.0.state
    }

    /// Enqueues the current goroutine (or thread) at the back, asking for
    /// `tag`. Drop the lock, then [`Ticket::wait`].
    pub(crate) fn enqueue(&mut self, tag: usize) -> Ticket {
        let waiter = Waiter::current(tag);
        self.0.waiters.push_back(waiter.clone());
        Ticket(waiter)
    }

    /// As [`enqueue`](Self::enqueue), but at the front (a waiter that has
    /// waited before goes first, as Go's semaphore does for mutex waiters).
    pub(crate) fn enqueue_front(&mut self, tag: usize) -> Ticket {
        let waiter = Waiter::current(tag);
        self.0.waiters.push_front(waiter.clone());
        Ticket(waiter)
    }

    /// The tag of the first waiter, if any.
    pub(crate) fn front_tag(&self) -> Option<usize> {
        self.0.waiters.front().map(|w| w.tag)
    }

    /// Whether nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.waiters.is_empty()
    }

    /// Takes the first waiter out; wake it after dropping the lock.
    pub(crate) fn dequeue(&mut self) -> Option<Wake> {
        self.0.waiters.pop_front().map(Wake)
    }

    /// Takes every waiter out; wake them after dropping the lock.
    pub(crate) fn dequeue_all(&mut self) -> WakeAll {
        WakeAll(std::mem::take(&mut self.0.waiters))
    }

    /// Takes `ticket`'s waiter out of the queue if it is still there (a
    /// timed-out wait withdrawing). Returns whether it was there; if not,
    /// somebody dequeued it and has woken it or is about to.
    pub(crate) fn remove(&mut self, ticket: &Ticket) -> bool {
        let queue = &mut self.0.waiters;
        match queue.iter().position(|w| Arc::ptr_eq(w, &ticket.0)) {
            Some(i) => {
                queue.remove(i);
                true
            }
            None => false,
        }
    }
}

impl Waiter {
    fn current(tag: usize) -> Arc<Waiter> {
        Arc::new(Waiter {
            unparker: Unparker::current(),
            tag,
            status: AtomicU8::new(WAITING),
        })
    }
}

/// The waiting side of an enqueued waiter.
#[must_use = "an enqueued waiter must wait for its wakeup"]
pub(crate) struct Ticket(Arc<Waiter>);

impl Ticket {
    /// Parks until woken, recording `why`; returns the status the waker
    /// gave.
    pub(crate) fn wait(&self, why: Why) -> u8 {
        loop {
            let status = self.0.status.load(Ordering::Acquire);
            if status != WAITING {
                return status;
            }
            park::park(why);
        }
    }

    /// Parks until woken or `deadline`. `None` when the deadline passed
    /// first: the waiter may still be queued, so the caller must lock the
    /// queue and [`Locked::remove`] it, and if that fails (a wake raced with
    /// the timeout) take the wake with [`Ticket::wait`], which then returns
    /// at once.
    pub(crate) fn wait_until(&self, deadline: Instant, why: Why) -> Option<u8> {
        loop {
            let status = self.0.status.load(Ordering::Acquire);
            if status != WAITING {
                return Some(status);
            }
            if park::park_until(deadline, why) {
                let status = self.0.status.load(Ordering::Acquire);
                return (status != WAITING).then_some(status);
            }
        }
    }
}

/// A dequeued waiter, to be woken once the queue's lock is dropped.
#[must_use = "a dequeued waiter must be woken"]
pub(crate) struct Wake(Arc<Waiter>);

impl Wake {
    /// Wakes the waiter; its [`Ticket::wait`] returns `status` (non-zero).
    pub(crate) fn wake(self, status: u8) {
        debug_assert_ne!(status, WAITING);
        // Release: see the module note. The waiter may return and drop its
        // ticket right after this store; our `Arc` keeps the record alive
        // for the unpark, which at worst leaves a stale token.
        self.0.status.store(status, Ordering::Release);
        self.0.unparker.clone().unpark();
    }
}

/// Every waiter a [`Locked::dequeue_all`] took, to be woken after the lock
/// is dropped.
#[must_use = "dequeued waiters must be woken"]
pub(crate) struct WakeAll(VecDeque<Arc<Waiter>>);

impl WakeAll {
    /// Nobody to wake yet.
    pub(crate) fn new() -> WakeAll {
        WakeAll(VecDeque::new())
    }

    /// Adds a dequeued waiter.
    pub(crate) fn push(&mut self, wake: Wake) {
        self.0.push_back(wake.0);
    }

    /// Wakes them all, in queue order, with `status`.
    pub(crate) fn wake(self, status: u8) {
        for waiter in self.0 {
            Wake(waiter).wake(status);
        }
    }
}
