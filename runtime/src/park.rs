//! The one park/unpark protocol under every blocking primitive.
//!
//! A primitive that must wait records an [`Unparker`] for the current
//! context (a goroutine or a plain OS thread) in its wait queue, releases its
//! lock, and calls [`park`]. Whoever satisfies the wait takes the entry out
//! of the queue and calls [`Unparker::unpark`].
//!
//! # Contract
//! The protocol is token based, like `std::thread::park`: `unpark` leaves a
//! token if the target is not parked yet, and `park` consumes a token and
//! returns at once. So a wakeup that races with the park is never lost. A
//! `park` may also return spuriously (for a thread, whenever the OS says so;
//! for a goroutine, when a stale token from an earlier wait is still set),
//! so every caller re-checks its own condition in a loop.
//!
//! # Goroutine states (`G::park_state`)
//! ```text
//!   RUNNING --unpark--> NOTIFIED --park--> RUNNING          (token consumed)
//!   RUNNING --park: switch out, then worker CASes--> PARKED
//!   PARKED  --unpark CAS--> RUNNING + pushed on a run queue  (exactly once)
//! ```
//! The goroutine does not mark itself `PARKED`: it switches to its worker,
//! and the worker does, after the switch is complete. An unparker can
//! therefore never push a goroutine whose stack is still in use, and only the
//! unparker whose CAS moves it out of `PARKED` pushes it, so it is resumed by
//! exactly one worker.
//!
//! # Orderings
//! `unpark`'s CAS is `Release` (or `AcqRel`): everything the waker wrote
//! before it (the value handed over, the dequeued waiter) is visible to the
//! parked side, which reads the state with `Acquire` (the token fast path) or
//! gets there through the run queue, which itself synchronises. The worker's
//! `RUNNING -> PARKED` CAS is `AcqRel` so the unparker that sees `PARKED`
//! also sees the coroutine's saved context.

use crate::goroutine::{self, GRef};
use std::time::Instant;

/// Who to wake: a goroutine or an OS thread blocked in a goro primitive.
#[derive(Clone)]
pub(crate) enum Unparker {
    /// A goroutine; woken onto the waker's run queue.
    Goroutine(GRef),
    /// A plain thread blocked in `std::thread::park`.
    Thread(std::thread::Thread),
}

impl Unparker {
    /// The current goroutine, or the current thread outside goroutines.
    pub(crate) fn current() -> Unparker {
        match goroutine::current() {
            Some(g) => Unparker::Goroutine(g),
            None => Unparker::Thread(std::thread::current()),
        }
    }

    /// Wakes the target, or leaves it a token if it is not parked yet.
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Goroutine(g) => goroutine::unpark(g),
            Unparker::Thread(t) => t.unpark(),
        }
    }

    /// Whether both wake the same goroutine or thread.
    pub(crate) fn same(&self, other: &Unparker) -> bool {
        match (self, other) {
            (Unparker::Goroutine(a), Unparker::Goroutine(b)) => std::sync::Arc::ptr_eq(a, b),
            (Unparker::Thread(a), Unparker::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }
}

/// Parks the current goroutine (or blocks the current thread) until
/// unparked. May return spuriously; see the module note.
pub(crate) fn park() {
    if !goroutine::park_current() {
        std::thread::park();
    }
}

/// As [`park`], but returns by `deadline` at the latest. Returns whether the
/// deadline has passed.
pub(crate) fn park_until(deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    if !goroutine::park_current_until(deadline) {
        std::thread::park_timeout(deadline - now);
    }
    Instant::now() >= deadline
}
