//! The runtime's timers: per-worker heaps of deadlines behind sleeps,
//! timeouts, `after`, `tick`, tickers and context deadlines.
//!
//! # Design
//! Each worker owns a heap of timers (Go keeps one per P). A timer goes into
//! the heap of the worker that creates it, so inserting is an uncontended
//! lock. An entry is 16 bytes, a deadline and a tagged pointer. The "heap"
//! is a [`Queue`]: a FIFO run for deadlines that arrive in order (every
//! timer of one fixed timeout does, so `sleep(d)` in a loop costs O(1)
//! and touches memory sequentially), and a 4-ary min-heap for the rest (as
//! Go's; the four children of a node share one or two cache lines, and a
//! pop from 100,000 entries walks 9 levels instead of a binary heap's 17).
//! 100,000 pending sleeps cost 100,000 entries and no thread. A
//! hierarchical wheel would insert in O(1) but needs a resolution and a
//! tick; the heap fires each timer at its exact deadline. Equal deadlines
//! fire in an unspecified (but deterministic) order, as in Go.
//!
//! An entry fires one of two kinds of timer:
//! - a [`Callback`]: an allocated one-shot callback (`after`, tickers, alarms,
//!   contexts), which may be cancelled from anywhere;
//! - a goroutine's [`Sleep`]: the timer every goroutine carries for its own
//!   timed parks (`sleep`, `recv_timeout`, ...), so a park with a deadline
//!   allocates nothing. It has at most one entry queued at a time: a park
//!   that finds its goroutine's entry still queued (an earlier park was
//!   woken before its deadline, and the entry waits to be popped) uses a
//!   one-shot [`Callback`] instead. A queued entry keeps its goroutine's
//!   memory (the `G`, not its stack), so a goroutine whose timed park was
//!   cancelled is freed only when that entry is popped at its deadline or
//!   dropped by a rebuild (as Go keeps a stopped timer until it is cleaned).
//!   When it fires, the popper prefetches the sleeper's stack around where
//!   it parked (recorded at `arm`): after milliseconds asleep those lines
//!   have left the cache, and the resume would miss on them one by one.
//!   Popping from a run, it also prefetches the record of the goroutine
//!   (or callback) [`PREFETCH_AHEAD`] entries behind, so that a firing of
//!   thousands of sleeps at once does not miss on each record in turn.
//!
//! Who fires timers:
//! - a running worker checks its own heap on every scheduling round (one
//!   atomic load while nothing is due) and every heap each 61st round, so a
//!   worker stuck in a long goroutine does not hold its timers back for long;
//! - an idle worker sleeps until the earliest deadline of *all* heaps (one
//!   of them is the "timer watcher"), so an idle program wakes only when the
//!   next timer is due and otherwise uses no CPU.
//!
//! A firing pops one entry at a time and runs its action after releasing the
//! heap's lock (a callback may add timers to the same heap), so it needs no
//! buffer. A timer is cancelled by flipping its state; the heap entry stays
//! until it is popped (lazy deletion), and a heap that holds mostly
//! cancelled entries is rebuilt without them on the next insert.
//!
//! Whether a timer fired tells its waiter that the deadline has passed (the
//! firing worker read the clock at or after it), so a woken sleeper need not
//! read the clock again.
//!
//! # Orderings
//! A [`Callback`]'s `state` goes `PENDING -> FIRED` or `PENDING -> CANCELLED`
//! exactly once by CAS (`AcqRel`), so it fires at most once, `cancel` knows
//! whether it prevented the fire, and the CAS's winner alone takes the
//! timer's action (no lock).
//!
//! A [`Sleep`] goes `IDLE -> ARMED` (its goroutine arms it and queues its
//! entry), then `ARMED -> IDLE` (popped: fired) or `ARMED -> STALE` (its
//! goroutine woke first and cancelled it), and `STALE -> IDLE` when the
//! entry is popped. The goroutine moves it out of `IDLE` only, after an
//! `Acquire` load that sees the popper's `AcqRel` swap: the popper has
//! finished reading the slot (`owner`) by then. The goroutine's writes to
//! the slot reach the popper through the heap's lock (it queues the entry
//! after writing; the popper pops it under the same lock). The goroutine's
//! cancel is a CAS (`AcqRel`) racing the popper's swap, so exactly one of
//! them wins an `ARMED` timer.
//!
//! Each heap publishes its earliest deadline in `earliest` with `SeqCst`
//! whenever an insert lowers it, paired with the scheduler's `SeqCst` read of
//! the sleeping watcher's deadline (a Dekker pair in `timer_added`: either
//! the inserter sees that the watcher sleeps too long and wakes it, or the
//! watcher sees the new deadline before it sleeps). An insert that does not
//! lower it needs no such pairing: the insert that set the lower value did
//! it. `earliest` may be below the true minimum (a stale entry, or a pop
//! not yet published), never above, so no due timer is overlooked.

use crate::clock::{to_nanos, NEVER};
use crate::goroutine::{GRef, Runnable};
use crate::scheduler;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// [`Callback`] states.
const PENDING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

/// [`Sleep`] states.
const IDLE: u8 = 0;
const ARMED: u8 = 1;
const STALE: u8 = 2;

/// What a [`Callback`] runs when it fires: a short non-blocking callback, on a
/// worker's scheduler stack.
type Action = Box<dyn FnOnce() + Send>;

/// A [`Callback`]'s shared state.
struct State {
    state: AtomicU8,
    /// Taken by whoever moves `state` out of `PENDING` (see `take_action`).
    action: UnsafeCell<Option<Action>>,
    /// The heap holding the entry.
    heap: &'static TimerHeap,
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

/// A pending one-shot timer. Dropping it does not cancel it.
pub(crate) struct Callback(Arc<State>);

impl Callback {
    /// Runs `f` (which must not block) at `deadline` on a worker.
    pub(crate) fn call_at(deadline: Instant, f: impl FnOnce() + Send + 'static) -> Callback {
        Callback::call_at_nanos(to_nanos(deadline), f)
    }

    /// As [`Callback::call_at`], for a deadline in nanoseconds (see
    /// `clock::to_nanos`).
    pub(crate) fn call_at_nanos(when: u64, f: impl FnOnce() + Send + 'static) -> Callback {
        Callback::in_heap(current_heap(), when, Box::new(f))
    }

    /// A timer queued in `heap`.
    fn in_heap(heap: &'static TimerHeap, when: u64, action: Action) -> Callback {
        let state = Arc::new(State {
            state: AtomicU8::new(PENDING),
            action: UnsafeCell::new(Some(action)),
            heap,
        });
        heap.insert(when, Target::timer(state.clone()));
        Callback(state)
    }

    /// Stops the timer. Returns true if that prevented it from firing.
    pub(crate) fn cancel(&self) -> bool {
        let stopped = self.0.take_action(CANCELLED).is_some();
        if stopped {
            self.0.heap.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        stopped
    }
}

/// A goroutine's own timer for its timed parks (see the module note). Lives
/// in the goroutine; only that goroutine arms and cancels it.
pub(crate) struct Sleep {
    /// `IDLE`, `ARMED` or `STALE`.
    state: AtomicU8,
    /// The goroutine, while an entry is queued: the entry owns this strong
    /// reference (a thin `Runnable` word, one word in the record). Written
    /// by the goroutine while `IDLE`, read by the popper.
    owner: UnsafeCell<*mut u8>,
}

// SAFETY: `owner` is written only by the goroutine while the slot is IDLE
// (no entry queued, so no popper reads it), and read only by the popper of
// the slot's entry, which that write happens before (through the heap lock);
// the popper is done reading before its swap to IDLE, which the goroutine
// acquires before it writes again (see the module note). The pointee is a
// `G`, which is `Send + Sync`.
unsafe impl Sync for Sleep {}

impl Default for Sleep {
    fn default() -> Sleep {
        Sleep {
            state: AtomicU8::new(IDLE),
            owner: UnsafeCell::new(std::ptr::null_mut()),
        }
    }
}

impl Sleep {
    /// Arms the slot to wake `g` (its goroutine, the caller) at `when`,
    /// queuing an entry that keeps `g`. Returns the heap that holds it, or
    /// hands `g` back if the entry of an earlier park is still queued.
    pub(crate) fn arm(&self, g: GRef, when: u64) -> Result<&'static TimerHeap, GRef> {
        if self.state.load(Ordering::Acquire) != IDLE {
            return Err(g);
        }
        // SAFETY: IDLE, so no entry is queued and no popper reads `owner`
        // (see the `Sync` impl).
        unsafe { *self.owner.get() = Runnable::new(g).into_raw() };
        self.state.store(ARMED, Ordering::Relaxed);
        let heap = current_heap();
        heap.insert(when, Target::sleep(self));
        Ok(heap)
    }

    /// Cancels the armed slot after its goroutine's park returned; `heap`
    /// is what [`Sleep::arm`] returned. Returns true if the timer fired
    /// (its deadline has passed), false if this prevented the fire.
    pub(crate) fn cancel(&self, heap: &TimerHeap) -> bool {
        // Fired: the popper moved it to IDLE (the usual end of a sleep).
        if self.state.load(Ordering::Acquire) == IDLE {
            return true;
        }
        let stopped = self
            .state
            .compare_exchange(ARMED, STALE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if stopped {
            heap.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        !stopped
    }
}

/// What a heap entry fires: a tagged pointer that owns one strong
/// reference, to a [`Callback`]'s `State` (tag 0) or to the goroutine whose
/// [`Sleep`] it points at (tag 1).
struct Target(usize);

/// How far ahead in a run of deadlines a firing prefetches the next
/// timers' records: a firing of thousands of sleeps at once would
/// otherwise miss on each goroutine's record in turn.
const PREFETCH_AHEAD: usize = 8;

/// The tag bit of a [`Target`] that points at a [`Sleep`].
const SLEEP_TAG: usize = 1;

/// What a popped entry's timer does now that it fired.
enum Due {
    /// Run a [`Callback`]'s callback.
    Call(Action),
    /// Wake a goroutine whose [`Sleep`] fired.
    Wake(Runnable),
}

impl Target {
    /// Owns `state`'s reference.
    fn timer(state: Arc<State>) -> Target {
        Target(Arc::into_raw(state) as usize)
    }

    /// The entry of an armed `slot`; owns the reference in `slot.owner`.
    fn sleep(slot: &Sleep) -> Target {
        // A `Sleep` is aligned to at least 8, so the tag bit is free.
        Target(slot as *const Sleep as usize | SLEEP_TAG)
    }

    /// The [`Sleep`] it points at, if it is one.
    fn as_sleep(&self) -> Option<&Sleep> {
        // SAFETY: a tagged target was made from a live `Sleep` inside a
        // goroutine that the target keeps alive (it owns a reference).
        (self.0 & SLEEP_TAG != 0).then(|| unsafe { &*((self.0 & !SLEEP_TAG) as *const Sleep) })
    }

    /// Whether its timer may still fire (else the entry is dead weight).
    fn pending(&self) -> bool {
        match self.as_sleep() {
            Some(slot) => slot.state.load(Ordering::Relaxed) == ARMED,
            // SAFETY: untagged, so made by `Target::timer` from an Arc whose
            // reference it still owns.
            None => {
                unsafe { &*(self.0 as *const State) }
                    .state
                    .load(Ordering::Relaxed)
                    == PENDING
            }
        }
    }

    /// Starts loading what [`settle`](Self::settle) and the wake will
    /// touch: the lines of the goroutine's record around its `Sleep` (its
    /// park state and stack hint too), or the callback's state.
    fn prefetch(&self) {
        let at = self.0 & !SLEEP_TAG;
        if self.0 & SLEEP_TAG != 0 {
            crate::stack::prefetch_range(at.wrapping_sub(128), 192);
        } else {
            crate::stack::prefetch_range(at, 64);
        }
    }

    /// Consumes the popped entry: marks its timer fired if it was pending,
    /// and returns what to do (`None`: it had been cancelled); releases the
    /// reference it owned.
    fn settle(self) -> Option<Due> {
        match self.as_sleep() {
            Some(slot) => {
                // SAFETY: the slot's entry is queued, so the goroutine does
                // not write `owner` until the swap below (see `Sleep`).
                let owner = unsafe { *slot.owner.get() };
                let was = slot.state.swap(IDLE, Ordering::AcqRel);
                // SAFETY: `owner` came from `Runnable::into_raw` in
                // `Sleep::arm`, and this entry owns that reference. `slot`
                // may be freed once it is dropped; it is not touched again.
                let g = unsafe { Runnable::from_raw(owner) };
                if was != ARMED {
                    return None;
                }
                // Where its stack stood as it switched out: a hint.
                crate::stack::prefetch_stack(g.parked_sp.load(Ordering::Relaxed));
                Some(Due::Wake(g))
            }
            None => {
                // SAFETY: untagged: made by `Target::timer` from
                // `Arc::into_raw`, and this entry owns that reference.
                let state = unsafe { Arc::from_raw(self.0 as *const State) };
                state.take_action(FIRED).flatten().map(Due::Call)
            }
        }
    }
}

// SAFETY: a Target is an owned reference to a `State` or a `G`, both
// `Send + Sync`.
unsafe impl Send for Target {}

impl Due {
    /// Runs the fired timer's action.
    fn run(self) {
        match self {
            Due::Call(f) => f(),
            Due::Wake(g) => crate::park::unpark(g),
        }
    }
}

/// The calling worker's timer heap (worker 0's for a plain thread).
fn current_heap() -> &'static TimerHeap {
    scheduler::runtime().timers(scheduler::current_worker_index().unwrap_or(0))
}

/// One worker's heap of timers.
pub(crate) struct TimerHeap {
    heap: Mutex<Queue<Target>>,
    /// Earliest deadline in the heap (nanos since the clock's epoch) or [`NEVER`];
    /// never above the true minimum (see the module note).
    earliest: AtomicU64,
    /// Entries in the heap that were cancelled.
    cancelled: AtomicUsize,
}

impl Default for TimerHeap {
    fn default() -> TimerHeap {
        TimerHeap {
            heap: Mutex::new(Queue::default()),
            earliest: AtomicU64::new(NEVER),
            cancelled: AtomicUsize::new(0),
        }
    }
}

impl TimerHeap {
    /// Queues `target` to fire at `when`, and tells the scheduler if that is
    /// the heap's new earliest deadline.
    fn insert(&self, when: u64, target: Target) {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        if heap.len() >= 64 && self.cancelled.load(Ordering::Relaxed) > heap.len() / 2 {
            self.drop_cancelled(&mut heap);
        }
        heap.push(when, target);
        // Every store to `earliest` is made under the lock, so a relaxed
        // read sees the latest value.
        let (first, old) = (heap.first(), self.earliest.load(Ordering::Relaxed));
        if first != old {
            self.earliest.store(first, Ordering::SeqCst);
        }
        drop(heap);
        if first < old {
            scheduler::runtime().timer_added(first);
        }
    }

    /// Rebuilds the heap without its cancelled entries.
    fn drop_cancelled(&self, heap: &mut Queue<Target>) {
        for target in heap.remove_where(|t| !t.pending()) {
            // A cancelled timer stays cancelled, so it settles to nothing.
            let due = target.settle();
            debug_assert!(due.is_none());
        }
        self.cancelled.store(0, Ordering::Relaxed);
        self.earliest.store(heap.first(), Ordering::SeqCst);
    }

    /// The earliest deadline, possibly of a cancelled timer.
    pub(crate) fn earliest(&self) -> u64 {
        self.earliest.load(Ordering::SeqCst)
    }

    /// Fires every timer due at `now`. Returns how many fired.
    pub(crate) fn fire_due(&self, now: u64) -> usize {
        let traced = crate::trace::slice_begins();
        let mut fired = 0;
        while self.earliest() <= now {
            let Some(target) = self.pop_due(now) else {
                break;
            };
            match target.settle() {
                Some(due) => {
                    due.run();
                    fired += 1;
                }
                // A cancelled timer or sleep: one fewer cancelled entry.
                None => {
                    self.cancelled.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        if fired > 0 {
            let fired = fired as u32;
            crate::trace::slice_ends(traced, crate::trace::Slice::Timers { fired });
        }
        fired
    }

    /// Pops the earliest entry if it is due at `now`, and prefetches the
    /// record of the entry [`PREFETCH_AHEAD`] behind it in the run.
    fn pop_due(&self, now: u64) -> Option<Target> {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let target = heap.pop_if_due(now);
        if let Some(ahead) = heap.run.get(PREFETCH_AHEAD) {
            ahead.item.prefetch();
        }
        self.earliest.store(heap.first(), Ordering::SeqCst);
        target
    }
}

/// Pending items in deadline order: a FIFO `run` of deadlines that never
/// decrease, and a [`Heap`] for the rest. A deadline at least as late as
/// the last one in the run joins the run: every timer of one fixed timeout
/// does (`sleep(d)` in a loop, a per-request timeout), and costs O(1) and
/// sequential memory instead of a heap walk over cold cache lines.
struct Queue<T> {
    run: VecDeque<Entry<T>>,
    heap: Heap<T>,
}

impl<T> Default for Queue<T> {
    fn default() -> Queue<T> {
        Queue {
            run: VecDeque::new(),
            heap: Heap::default(),
        }
    }
}

impl<T> Queue<T> {
    fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }

    /// The earliest deadline, or [`NEVER`] when empty.
    fn first(&self) -> u64 {
        self.run_first().min(self.heap.first())
    }

    /// The earliest deadline in the run, or [`NEVER`].
    fn run_first(&self) -> u64 {
        self.run.front().map_or(NEVER, |e| e.when)
    }

    fn push(&mut self, when: u64, item: T) {
        if self.run.back().is_none_or(|last| last.when <= when) {
            self.run.push_back(Entry { when, item });
        } else {
            self.heap.push(when, item);
        }
    }

    /// Removes and returns the earliest item if its deadline is `<= now`.
    fn pop_if_due(&mut self, now: u64) -> Option<T> {
        let run = self.run_first();
        if run > self.heap.first() {
            return self.heap.pop_if_due(now);
        }
        if run > now {
            return None;
        }
        self.run.pop_front().map(|e| e.item)
    }

    /// Removes every item `dead` holds for, returning them.
    fn remove_where(&mut self, mut dead: impl FnMut(&T) -> bool) -> Vec<T> {
        let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.run)
            .into_iter()
            .partition(|e| dead(&e.item));
        self.run = kept.into();
        let mut removed: Vec<T> = removed.into_iter().map(|e| e.item).collect();
        removed.extend(self.heap.remove_where(dead));
        removed
    }
}

/// A 4-ary min-heap of `T`s keyed by a deadline: node `i`'s children are
/// `4i+1 ..= 4i+4`.
struct Heap<T> {
    entries: Vec<Entry<T>>,
}

/// A heap entry: a deadline and what fires then.
struct Entry<T> {
    /// Nanoseconds since the clock's epoch.
    when: u64,
    item: T,
}

/// Children per node.
const ARITY: usize = 4;

impl<T> Default for Heap<T> {
    fn default() -> Heap<T> {
        Heap {
            entries: Vec::new(),
        }
    }
}

impl<T> Heap<T> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The earliest deadline, or [`NEVER`] when empty.
    fn first(&self) -> u64 {
        self.entries.first().map_or(NEVER, |e| e.when)
    }

    fn push(&mut self, when: u64, item: T) {
        self.entries.push(Entry { when, item });
        self.sift_up(self.entries.len() - 1);
    }

    /// Removes and returns the earliest item if its deadline is `<= now`.
    fn pop_if_due(&mut self, now: u64) -> Option<T> {
        if self.first() > now {
            return None;
        }
        let top = self.entries.swap_remove(0);
        if !self.entries.is_empty() {
            let hole = self.sift_down_to_bottom(0);
            self.sift_up(hole);
        }
        Some(top.item)
    }

    /// Removes every item `dead` holds for, returning them; re-heapifies.
    fn remove_where(&mut self, mut dead: impl FnMut(&T) -> bool) -> Vec<T> {
        let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| dead(&e.item));
        self.entries = kept;
        for i in (0..self.entries.len() / ARITY + 1).rev() {
            self.sift_down(i);
        }
        removed.into_iter().map(|e| e.item).collect()
    }

    /// Moves entry `i` up while it is earlier than its parent.
    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.entries[parent].when <= self.entries[i].when {
                break;
            }
            self.entries.swap(i, parent);
            i = parent;
        }
    }

    /// Moves entry `i` down while a child is earlier.
    fn sift_down(&mut self, mut i: usize) {
        while let Some(child) = self.earliest_child(i) {
            if self.entries[i].when <= self.entries[child].when {
                break;
            }
            self.entries.swap(i, child);
            i = child;
        }
    }

    /// Moves entry `i` down to a leaf along the earliest children,
    /// regardless of its own deadline (it came from the bottom, so it will
    /// mostly belong there); returns where it ended up.
    fn sift_down_to_bottom(&mut self, mut i: usize) -> usize {
        while let Some(child) = self.earliest_child(i) {
            self.entries.swap(i, child);
            i = child;
        }
        i
    }

    /// The index of `i`'s earliest child, if it has any.
    fn earliest_child(&self, i: usize) -> Option<usize> {
        let first = ARITY * i + 1;
        let last = (first + ARITY).min(self.entries.len());
        (first..last).min_by_key(|&c| self.entries[c].when)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A xorshift generator: deterministic test data without a dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Bursts of rising deadlines (the run) mixed with random ones (the
    /// heap), popped by a clock that advances, some removed on the way:
    /// every item comes out once, when due, in deadline order.
    #[test]
    fn the_queue_pops_each_item_once_in_deadline_order() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut queue = Queue::default();
        let (mut whens, mut out) = (Vec::new(), Vec::new());
        let (mut now, mut last_popped) = (0, 0);
        for round in 0..200u64 {
            let rising = round % 3 == 0;
            for k in 0..rng.below(300) {
                let when = now + if rising { k * 7 } else { rng.below(5000) };
                queue.push(when, whens.len());
                whens.push(when);
            }
            if round % 50 == 49 {
                out.extend(queue.remove_where(|&id| id % 5 == 0));
            }
            now += rng.below(400);
            while let Some(id) = queue.pop_if_due(now) {
                assert!(whens[id] <= now, "popped before due");
                assert!(last_popped <= whens[id], "out of deadline order");
                last_popped = whens[id];
                out.push(id);
            }
            assert!(queue.first() > now);
        }
        while let Some(id) = queue.pop_if_due(NEVER - 1) {
            assert!(last_popped <= whens[id], "out of deadline order");
            last_popped = whens[id];
            out.push(id);
        }
        assert_eq!(queue.len(), 0);
        out.sort_unstable();
        assert!(
            out.iter().copied().eq(0..whens.len()),
            "each item exactly once"
        );
    }

    /// Random inserts, cancels and clock steps, with a stretch of mostly
    /// cancels so the heap is rebuilt: every timer not cancelled fires
    /// exactly once, never before its deadline, and in deadline order; no
    /// cancelled one fires; `cancel` is true exactly for a pending timer.
    #[test]
    fn each_timer_not_cancelled_fires_once_in_order() {
        let heap: &'static TimerHeap = Box::leak(Box::default());
        let fired = Arc::new(Mutex::new(Vec::new()));
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut timers, mut cancelled, mut done) = (Vec::new(), Vec::new(), Vec::new());
        let mut now = 0;
        for step in 0..30_000 {
            // In the stretch, mostly cancels of recent (pending) timers.
            let stretch = (10_000..15_000).contains(&step);
            let roll = rng.below(12);
            let cancel_odds = if stretch { 5 } else { 2 };
            if roll < 6 {
                let (id, when) = (timers.len(), now + rng.below(10_000));
                let fired = fired.clone();
                let f = move || fired.lock().unwrap().push((id, when));
                timers.push(Callback::in_heap(heap, when, Box::new(f)));
                cancelled.push(false);
                done.push(false);
            } else if roll < 6 + cancel_odds && !timers.is_empty() {
                let n = timers.len() as u64;
                let i = if stretch {
                    n - 1 - rng.below(n.min(50))
                } else {
                    rng.below(n)
                } as usize;
                let stopped = timers[i].cancel();
                assert_eq!(stopped, !done[i]);
                cancelled[i] |= stopped;
                done[i] = true;
            } else {
                now += rng.below(300);
                let before = fired.lock().unwrap().len();
                heap.fire_due(now);
                let fired = fired.lock().unwrap();
                for &(id, when) in &fired[before..] {
                    assert!(when <= now, "fired early");
                    done[id] = true;
                }
            }
        }
        heap.fire_due(NEVER - 1);
        assert_eq!(heap.earliest(), NEVER);
        let fired = fired.lock().unwrap().clone();
        assert!(fired.windows(2).all(|w| w[0].1 <= w[1].1), "out of order");
        let mut ids: Vec<usize> = fired.iter().map(|&(id, _)| id).collect();
        ids.sort_unstable();
        let live: Vec<usize> = (0..timers.len()).filter(|&i| !cancelled[i]).collect();
        let missing: Vec<_> = live
            .iter()
            .filter(|i| ids.binary_search(i).is_err())
            .take(5)
            .collect();
        let extra: Vec<_> = ids
            .iter()
            .filter(|i| live.binary_search(i).is_err())
            .take(5)
            .collect();
        assert!(
            ids.len() == live.len() && missing.is_empty() && extra.is_empty(),
            "fired {} want {}; missing {missing:?}, extra {extra:?}",
            ids.len(),
            live.len()
        );
    }
}
