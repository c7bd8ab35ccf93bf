//! Timers: the runtime's clock for sleeps, timeouts, `after` and `tick`.
//!
//! # Design
//! Each worker owns a binary heap of timers (Go keeps one per P). A timer
//! goes into the heap of the worker that creates it, so inserting is an
//! uncontended lock; a binary heap gives O(log n) insert and pop with no
//! tuning, and 100,000 pending sleeps cost one heap entry (40 bytes) each and
//! no thread. A hierarchical wheel would insert in O(1) but needs a
//! resolution and a tick; the heap fires each timer at its exact deadline.
//!
//! Who fires timers:
//! - a running worker checks its own heap on every scheduling round (one
//!   atomic load while nothing is due) and every heap each 61st round, so a
//!   worker stuck in a long goroutine does not hold its timers back for long;
//! - an idle worker sleeps until the earliest deadline of *all* heaps (one
//!   of them is the "timer watcher"), so an idle program wakes only when the
//!   next timer is due and otherwise uses no CPU.
//!
//! A timer is cancelled by flipping its state; the heap entry stays until it
//! is popped (lazy deletion), and a heap that holds mostly cancelled entries
//! is rebuilt without them on the next insert.
//!
//! # Orderings
//! Each timer's `state` goes `PENDING -> FIRED` or `PENDING -> CANCELLED`
//! exactly once by CAS (`AcqRel`), so a timer fires at most once, `cancel`
//! knows whether it prevented the fire, and the CAS's winner alone takes the
//! timer's action (no lock). Each heap publishes its earliest
//! deadline in `earliest` with `SeqCst`, paired with the scheduler's
//! `SeqCst` read of the sleeping watcher's deadline (a Dekker pair: either
//! the inserter sees that the watcher sleeps too long and wakes it, or the
//! watcher sees the new deadline before it sleeps).

use crate::park::Unparker;
use crate::scheduler;
use std::cell::UnsafeCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const PENDING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

/// No deadline.
pub(crate) const NEVER: u64 = u64::MAX;

/// What a timer does when it fires. Runs on a worker's scheduler stack, so
/// it must not block.
pub(crate) enum Action {
    /// Wake a parked goroutine or thread.
    Unpark(Unparker),
    /// Run a short non-blocking callback.
    Call(Box<dyn FnOnce() + Send>),
}

struct State {
    state: AtomicU8,
    /// Taken by whoever moves `state` out of `PENDING` (see `take_action`).
    action: UnsafeCell<Option<Action>>,
    /// Index of the heap holding the entry.
    heap: usize,
}

// SAFETY: `action` is written once, at construction (before the State is
// shared), and afterwards touched only by the one thread whose CAS moved
// `state` out of PENDING; the CAS's Acquire orders that after construction.
unsafe impl Sync for State {}

impl State {
    /// Moves the timer from `PENDING` to `to`; the winner gets the action.
    fn take_action(&self, to: u8) -> Option<Option<Action>> {
        self.state
            .compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // SAFETY: we won the CAS, so no one else touches `action` again.
        Some(unsafe { (*self.action.get()).take() })
    }
}

/// A pending timer. Dropping it does not cancel it.
pub(crate) struct Timer(Arc<State>);

impl Timer {
    /// Wakes `who` at `deadline`.
    pub(crate) fn unpark_at(deadline: Instant, who: Unparker) -> Timer {
        Timer::at(deadline, Action::Unpark(who))
    }

    /// Runs `f` (which must not block) at `deadline` on a worker.
    pub(crate) fn call_at(deadline: Instant, f: impl FnOnce() + Send + 'static) -> Timer {
        Timer::at(deadline, Action::Call(Box::new(f)))
    }

    fn at(deadline: Instant, action: Action) -> Timer {
        let rt = scheduler::runtime();
        let heap = scheduler::current_worker_index().unwrap_or(0);
        let state = Arc::new(State {
            state: AtomicU8::new(PENDING),
            action: UnsafeCell::new(Some(action)),
            heap,
        });
        let when = to_nanos(deadline);
        rt.timers(heap).insert(when, state.clone());
        rt.timer_added(when);
        Timer(state)
    }

    /// Stops the timer. Returns true if that prevented it from firing.
    pub(crate) fn cancel(&self) -> bool {
        let stopped = self.0.take_action(CANCELLED).is_some();
        if stopped {
            scheduler::runtime()
                .timers(self.0.heap)
                .cancelled
                .fetch_add(1, Ordering::Relaxed);
        }
        stopped
    }
}

/// One worker's heap of timers.
pub(crate) struct TimerHeap {
    heap: Mutex<Heap>,
    /// Earliest deadline in the heap (nanos since [`epoch`]) or [`NEVER`].
    earliest: AtomicU64,
    /// Entries in the heap that were cancelled.
    cancelled: AtomicUsize,
}

/// A heap of entries, and the insertion counter that orders equal deadlines.
#[derive(Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Entry {
    when: u64,
    seq: u64,
    state: Arc<State>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        (self.when, self.seq).cmp(&(other.when, other.seq))
    }
}

impl Default for TimerHeap {
    fn default() -> TimerHeap {
        TimerHeap {
            heap: Mutex::new(Heap::default()),
            earliest: AtomicU64::new(NEVER),
            cancelled: AtomicUsize::new(0),
        }
    }
}

impl TimerHeap {
    fn insert(&self, when: u64, state: Arc<State>) {
        let mut locked = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        locked.seq += 1;
        let seq = locked.seq;
        let heap = &mut locked.entries;
        let cancelled = self.cancelled.load(Ordering::Relaxed);
        if heap.len() >= 64 && cancelled > heap.len() / 2 {
            heap.retain(|e| e.0.state.state.load(Ordering::Relaxed) == PENDING);
            self.cancelled.store(0, Ordering::Relaxed);
        }
        heap.push(Reverse(Entry { when, seq, state }));
        let first = heap.peek().map_or(NEVER, |e| e.0.when);
        self.earliest.store(first, Ordering::SeqCst);
    }

    /// The earliest deadline, possibly of a cancelled timer.
    pub(crate) fn earliest(&self) -> u64 {
        self.earliest.load(Ordering::SeqCst)
    }

    /// Fires every timer due at `now`. Returns how many fired.
    pub(crate) fn fire_due(&self, now: u64) -> usize {
        if self.earliest() > now {
            return 0;
        }
        let mut due = Vec::new();
        {
            let mut locked = self.heap.lock().unwrap_or_else(|p| p.into_inner());
            let heap = &mut locked.entries;
            while heap.peek().is_some_and(|e| e.0.when <= now) {
                let Reverse(entry) = heap.pop().expect("peeked");
                due.push(entry.state);
            }
            let first = heap.peek().map_or(NEVER, |e| e.0.when);
            self.earliest.store(first, Ordering::SeqCst);
        }
        let mut fired = 0;
        for state in due {
            let Some(action) = state.take_action(FIRED) else {
                self.cancelled.fetch_sub(1, Ordering::Relaxed);
                continue;
            };
            match action {
                Some(Action::Unpark(who)) => who.unpark(),
                Some(Action::Call(f)) => f(),
                None => {}
            }
            fired += 1;
        }
        fired
    }
}

/// The instant timer deadlines count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `t` as nanoseconds since [`epoch`] (0 for instants before it).
pub(crate) fn to_nanos(t: Instant) -> u64 {
    let since = t.saturating_duration_since(epoch());
    u64::try_from(since.as_nanos()).unwrap_or(NEVER - 1)
}

/// Now, in nanoseconds since [`epoch`].
pub(crate) fn now_nanos() -> u64 {
    to_nanos(Instant::now())
}

/// How long from now until `when` (zero if past).
pub(crate) fn until(when: u64) -> Duration {
    Duration::from_nanos(when.saturating_sub(now_nanos()))
}
