//! Waiters: how a blocked operation sits in a channel's queue and how
//! whoever completes it hands the result over.
//!
//! # Design
//! A blocked operation (a plain `send`/`recv`, or a whole `select`) owns one
//! [`BlockedOp`] and one [`Waiter`] per channel operation, all living on the
//! blocked goroutine's (or thread's) stack: the owner cannot return before
//! every waiter is out of its queue, so the nodes need no allocation. A
//! waiter sits in its channel's [`WaitQueue`] (an intrusive FIFO list guarded
//! by the channel lock) and points at the shared context and at the message
//! slot (`Option<T>`) of its operation: a send waiter's slot holds the value
//! to send, a receive waiter's slot is `None` until a value is put there.
//!
//! The context's `state` word decides which of a select's waiters wins:
//! ```text
//!   WAITING --claim(case), a waker holding the case's channel lock--> CLAIMED(case)
//!   CLAIMED(case) --the same waker, after moving the message--> DONE(case)
//!   WAITING --the owner, on timeout--> ABORTED
//! ```
//! A waker pops waiters off the front of a queue (FIFO) and claims the first
//! whose context is still `WAITING`; losers (their select already won
//! elsewhere, or timed out) are unlinked on the way and skipped. The winner
//! moves the message between the two slots, takes the owner's [`Unparker`]
//! out of the context, stores `DONE`, and wakes the owner *after* releasing
//! the channel lock. So the pairing of two parties is committed atomically
//! by the one CAS of the claim, under the lock of the channel they meet on.
//!
//! A goroutine's plain blocking `send`/`recv` makes its context with
//! [`BlockedOp::for_parked`] and parks holding the channel lock
//! (`park::park_unlocking`): its unparker is an
//! [`Unparker::Parked`], which the claimer moves out in `finish` exactly as
//! any other, and waking it readies it directly.
//!
//! # Invariants
//! - A waiter is linked in at most one queue, and only touched under the
//!   lock of that queue's channel, until it is unlinked.
//! - Nobody touches a context or a waiter after storing `DONE` into it: the
//!   owner may return (and free its stack) as soon as it sees `DONE`. That is
//!   why the unparker is moved out before `DONE` is stored.
//! - An owner that did not win `DONE` for a waiter (its other cases, or all
//!   of them after an abort) takes that waiter's channel lock before
//!   returning, so a waker that popped the waiter and is failing its claim
//!   under that lock is finished with the context first.
//! - The active party of an operation is never in a queue itself, so an
//!   operation never pairs with its own waiters.
//!
//! # Orderings
//! - Claim and abort CAS (`Relaxed`): only the atomicity of the
//!   read-modify-write matters (exactly one of them leaves `WAITING`). A
//!   context with one waiter and no deadline skips the claim CAS: only
//!   holders of its one channel lock can reach it, and unlinking the waiter
//!   under that lock already makes the claim exclusive. The
//!   data a claimer reads (slot, unparker) was written by the owner before it
//!   enqueued under the channel lock the claimer now holds, and the data it
//!   writes is published by the `DONE` store; an owner whose abort succeeded
//!   takes the channel lock before touching its waiters again.
//! - `DONE` store (`Release`) / owner's load (`Acquire`): the owner sees the
//!   message the claimer moved into or out of its slot, and that the claimer
//!   no longer touches the context or waiters.

use crate::park::{self, Unparker, WaitReason, Why};
use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CLAIMED: usize = 2;
const DONE: usize = 3;
const TAG: usize = 3;
const SHIFT: u32 = 2;

/// When a blocking operation gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Never block: poll once.
    Now,
    /// Block until this instant at the latest.
    At(Instant),
    /// Block for as long as it takes.
    Never,
}

impl Deadline {
    /// The deadline `timeout` from now (`Never` if that overflows).
    pub(crate) fn after(timeout: std::time::Duration) -> Deadline {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }
}

/// The shared state of one blocked operation (all cases of a select).
pub(crate) struct BlockedOp {
    state: AtomicUsize,
    /// Taken by the claimer (under the channel lock) to wake the owner.
    unparker: UnsafeCell<Option<Unparker>>,
    /// Whether claims race: several waiters (a select) or a deadline (the
    /// owner may abort). Otherwise the context has one waiter in one queue
    /// and only holders of that queue's lock touch it, so unlinking the
    /// waiter is the claim and no CAS is needed.
    contended: bool,
    /// An async operation's (`chan::future`): its owner cannot wait in a
    /// [`Handoff`], so no send whose value comes later may claim it.
    is_future: bool,
}

impl BlockedOp {
    /// A context for the current goroutine or thread, waiting; `contended`
    /// as described on the field.
    pub(crate) fn new(contended: bool) -> BlockedOp {
        BlockedOp {
            state: AtomicUsize::new(WAITING),
            unparker: UnsafeCell::new(Some(Unparker::current())),
            contended,
            is_future: false,
        }
    }

    /// A context for one waiter of a goroutine that parks holding the
    /// waiter's channel lock (`park::park_unlocking`); its handle is
    /// given with [`set_unparker`](Self::set_unparker) before it is queued.
    /// Uncontended: no deadline, one queue.
    pub(crate) fn for_parked() -> BlockedOp {
        BlockedOp {
            state: AtomicUsize::new(WAITING),
            unparker: UnsafeCell::new(None),
            contended: false,
            is_future: false,
        }
    }

    /// A context for an async operation's one waiter, woken by `waker`
    /// (see `chan::future`). Uncontended, as [`for_parked`](Self::for_parked).
    pub(crate) fn for_future(waker: Unparker) -> BlockedOp {
        BlockedOp {
            state: AtomicUsize::new(WAITING),
            unparker: UnsafeCell::new(Some(waker)),
            contended: false,
            is_future: true,
        }
    }

    /// Records who to wake, in a context made by
    /// [`for_parked`](Self::for_parked); before its waiter is queued, so no
    /// claimer can be looking.
    #[inline]
    pub(crate) fn set_unparker(&self, unparker: Unparker) {
        // SAFETY: the context is not reachable by anybody else yet, and
        // `for_parked` left no unparker there to drop.
        unsafe { self.unparker.get().write(Some(unparker)) };
    }

    /// Replaces who to wake (an async waiter given a new waker, see
    /// `chan::future`) and returns the old one, to drop after unlocking.
    ///
    /// # Safety
    /// The caller holds the lock of the channel whose queue holds the
    /// context's one waiter, and has seen it not done under that lock: no
    /// claimer has taken the unparker, and none can look meanwhile.
    pub(crate) unsafe fn replace_unparker(&self, unparker: Unparker) -> Option<Unparker> {
        // SAFETY: by the contract, nobody else touches the cell now.
        unsafe { (*self.unparker.get()).replace(unparker) }
    }

    /// Whether a waker has completed the operation.
    pub(crate) fn is_done(&self) -> bool {
        self.done().is_some()
    }

    /// Claims the context for `case`; false if it is claimed or aborted.
    #[inline]
    fn try_claim(&self, case: usize) -> bool {
        if !self.contended {
            // One waiter, one queue, no abort: the caller unlinked the only
            // waiter under the lock, so nobody else can claim.
            return true;
        }
        let claimed = (case << SHIFT) | CLAIMED;
        self.state
            .compare_exchange(WAITING, claimed, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The case that completed, once the claimer is done with us.
    fn done(&self) -> Option<usize> {
        let state = self.state.load(Ordering::Acquire);
        (state & TAG == DONE).then_some(state >> SHIFT)
    }

    /// Withdraws the context on timeout; false if a waker claimed it first.
    fn try_abort(&self) -> bool {
        debug_assert!(self.contended, "an uncontended context cannot time out");
        self.state
            .compare_exchange(WAITING, ABORTED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Parks until a waker completes one of our cases (its index is
    /// returned) or `deadline` passes and we withdraw first (`None`). After
    /// `None` the caller must still unlink every waiter under its lock.
    pub(crate) fn wait(&self, deadline: Deadline, why: Why) -> Option<usize> {
        let mut deadline = deadline;
        loop {
            if let Some(case) = self.done() {
                return Some(case);
            }
            match deadline {
                Deadline::At(at) if park::park_until(at, why) => {
                    if self.try_abort() {
                        return None;
                    }
                    // Claimed: the claimer stores DONE and then wakes us.
                    deadline = Deadline::Never;
                }
                Deadline::At(_) => {}
                Deadline::Never | Deadline::Now => park::park(why),
            }
        }
    }
}

impl Drop for BlockedOp {
    /// A claimer always takes a parked goroutine's handle out before the
    /// goroutine runs again to drop its context. Should a bug ever leave
    /// one here, dropping it would give back a reference nobody counted
    /// (see [`BlockedOp::for_parked`]): the goroutine is leaked instead, the
    /// failure that cannot corrupt memory.
    fn drop(&mut self) {
        let unparker = self.unparker.get_mut();
        if matches!(unparker, Some(Unparker::Parked(_))) {
            debug_assert!(false, "a parked goroutine's handle was never woken");
            std::mem::forget(unparker.take());
        }
    }
}

/// One operation's node in a channel's wait queue. Lives in the blocked
/// operation's frame; all fields are touched only under the channel lock.
pub(crate) struct Waiter<T> {
    ctx: Cell<*const BlockedOp>,
    case: Cell<usize>,
    slot: Cell<*mut Option<T>>,
    prev: Cell<*const Waiter<T>>,
    next: Cell<*const Waiter<T>>,
    linked: Cell<bool>,
}

impl<T> Waiter<T> {
    /// An unlinked waiter.
    pub(crate) fn new() -> Waiter<T> {
        Waiter {
            ctx: Cell::new(ptr::null()),
            case: Cell::new(0),
            slot: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            linked: Cell::new(false),
        }
    }
}

/// A FIFO of waiters, guarded by its channel's lock (`&mut` access to the
/// queue is only had through that lock).
pub(crate) struct WaitQueue<T> {
    head: *const Waiter<T>,
    tail: *const Waiter<T>,
    /// Waiters linked, stale ones (an aborted select's) included.
    len: usize,
}

impl<T> WaitQueue<T> {
    /// An empty queue.
    pub(crate) const fn new() -> WaitQueue<T> {
        WaitQueue {
            head: ptr::null(),
            tail: ptr::null(),
            len: 0,
        }
    }

    /// How many waiters are linked: at least as many as a loop of
    /// [`claim`](Self::claim) will claim.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no waiter is linked.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Claims and completes every waiter whose operation is still
    /// waiting, except those of `except`, handing each one's handle to
    /// `wake`; unlinks them and the stale ones. For watchers: their owner
    /// only learns that something changed.
    pub(crate) fn claim_all_except(
        &mut self,
        except: *const BlockedOp,
        mut wake: impl FnMut(Unparker),
    ) {
        let mut next = self.head;
        // SAFETY: a linked waiter is valid; the owner of one we complete
        // takes this channel's lock, which we hold, before it returns, so
        // the next waiter (maybe of the same owner) is still valid too.
        while let Some(w) = unsafe { next.as_ref() } {
            next = w.next.get();
            let ctx = w.ctx.get();
            if ptr::eq(ctx, except) {
                continue;
            }
            // SAFETY: linked in this queue.
            unsafe { self.remove(w) };
            // SAFETY: as above, the context is alive.
            if unsafe { (*ctx).try_claim(w.case.get()) } {
                let claimed = Claimed {
                    ctx,
                    case: w.case.get(),
                    slot: w.slot.get(),
                };
                wake(claimed.finish());
            }
        }
    }

    /// Whether a waiter whose operation is still waiting is linked (stale
    /// waiters of a select that already won elsewhere, or timed out, do
    /// not count): a counterpart could complete with it now.
    pub(crate) fn has_waiting(&self) -> bool {
        let mut next = self.head;
        // SAFETY: linked waiters, and the contexts they point at, are alive
        // while linked, and we hold the queue's lock (`&self` is only had
        // through it).
        while let Some(w) = unsafe { next.as_ref() } {
            // SAFETY: as above.
            if unsafe { (*w.ctx.get()).state.load(Ordering::Relaxed) } == WAITING {
                return true;
            }
            next = w.next.get();
        }
        false
    }

    /// Appends `waiter` for case `case` of `ctx`, with message slot `slot`.
    ///
    /// # Safety
    /// `waiter`, `ctx` and `slot` must stay valid and unmoved until the
    /// waiter is unlinked (by [`remove`](Self::remove) or by a claim) and the
    /// owner has synchronised with the claimer as the module note describes.
    /// `waiter` must not be linked.
    pub(crate) unsafe fn push(
        &mut self,
        waiter: &Waiter<T>,
        ctx: &BlockedOp,
        case: usize,
        slot: *mut Option<T>,
    ) {
        debug_assert!(!waiter.linked.get());
        waiter.ctx.set(ctx);
        waiter.case.set(case);
        waiter.slot.set(slot);
        waiter.prev.set(self.tail);
        waiter.next.set(ptr::null());
        waiter.linked.set(true);
        self.len += 1;
        if self.tail.is_null() {
            self.head = waiter;
        } else {
            // SAFETY: a linked waiter is valid (push's contract).
            unsafe { (*self.tail).next.set(waiter) };
        }
        self.tail = waiter;
    }

    /// Unlinks `waiter` if it is still linked.
    ///
    /// # Safety
    /// A linked `waiter` must be linked in this queue.
    pub(crate) unsafe fn remove(&mut self, waiter: &Waiter<T>) {
        if !waiter.linked.replace(false) {
            return;
        }
        self.len -= 1;
        let (prev, next) = (waiter.prev.get(), waiter.next.get());
        // SAFETY: the neighbours of a linked waiter are linked, hence valid.
        unsafe {
            match prev.as_ref() {
                Some(p) => p.next.set(next),
                None => self.head = next,
            }
            match next.as_ref() {
                Some(n) => n.prev.set(prev),
                None => self.tail = prev,
            }
        }
    }

    /// Unlinks and returns the first waiter.
    fn pop(&mut self) -> Option<&Waiter<T>> {
        // SAFETY: a linked waiter is valid until it is unlinked, and after
        // that until its owner synchronises with us through the channel lock
        // we hold (module note), which outlives the returned borrow.
        let first = unsafe { self.head.as_ref()? };
        // SAFETY: the head is linked in this queue.
        unsafe { self.remove(first) };
        Some(first)
    }

    /// Claims the first waiter whose operation is still waiting, unlinking
    /// it and every stale waiter before it. The caller must
    /// [`finish`](Claimed::finish) the claim before releasing the lock.
    #[inline]
    pub(crate) fn claim(&mut self) -> Option<Claimed<T>> {
        while let Some(w) = self.pop() {
            let ctx = w.ctx.get();
            // SAFETY: the context of a waiter we just unlinked under the lock
            // is alive (module note: its owner takes this lock first).
            if unsafe { (*ctx).try_claim(w.case.get()) } {
                return Some(Claimed::of(w));
            }
        }
        None
    }

    /// As [`claim`](Self::claim), passing over (and leaving queued) the
    /// waiters of async operations, which cannot wait in a [`Handoff`]:
    /// for a send whose value comes later (see `op::SendProbe`).
    pub(crate) fn claim_blocking(&mut self) -> Option<Claimed<T>> {
        let mut next = self.head;
        // SAFETY: a linked waiter is valid (see `pop`), and so is the
        // context of one (module note: its owner takes this lock first).
        while let Some(w) = unsafe { next.as_ref() } {
            next = w.next.get();
            // SAFETY: as above.
            if unsafe { (*w.ctx.get()).is_future } {
                continue;
            }
            // SAFETY: linked in this queue.
            unsafe { self.remove(w) };
            let ctx = w.ctx.get();
            // SAFETY: as in `claim`.
            if unsafe { (*ctx).try_claim(w.case.get()) } {
                return Some(Claimed::of(w));
            }
        }
        None
    }
}

/// A waiter whose operation a waker has won: the owner stays blocked until
/// [`finish`](Claimed::finish).
#[must_use = "a claimed waiter stays blocked until finished"]
pub(crate) struct Claimed<T> {
    ctx: *const BlockedOp,
    case: usize,
    slot: *mut Option<T>,
}

impl<T> Claimed<T> {
    /// The claim of `w`'s operation, won.
    #[inline(always)]
    fn of(w: &Waiter<T>) -> Claimed<T> {
        Claimed {
            ctx: w.ctx.get(),
            case: w.case.get(),
            slot: w.slot.get(),
        }
    }

    /// The claimed operation's message slot, as a pointer.
    pub(crate) fn slot_ptr(&self) -> *mut Option<T> {
        self.slot
    }

    /// The claimed operation's message slot.
    pub(crate) fn slot(&mut self) -> &mut Option<T> {
        // SAFETY: the owner is blocked until `finish` (it cannot abort a
        // claimed context), so its slot is alive, and we are its only user.
        unsafe { &mut *self.slot }
    }

    /// Completes the claim and returns whom to wake, which the caller must
    /// do after releasing the channel lock.
    pub(crate) fn finish(self) -> Unparker {
        // SAFETY: as for `slot`: the context is alive until the DONE store
        // below, and only the claimer touches `unparker` once claimed.
        unsafe {
            let ctx = &*self.ctx;
            let unparker = (*ctx.unparker.get()).take().expect("claimed only once");
            ctx.state
                .store((self.case << SHIFT) | DONE, Ordering::Release);
            unparker
        }
    }
}

const IDLE: usize = 0;
const AWAITING: usize = 1;
const DELIVERED: usize = 2;

/// Where a receive that chose a waiting send whose value comes later (a
/// `Select` send case, see `op::SendProbe`) waits for that value: the
/// receive has completed, as far as every channel is concerned, and only
/// its message is still on its way from the chosen sender. The receiver's
/// handle to wake it is kept by the sender (in its probe slot), so this is
/// one word, which costs every operation nothing to carry.
///
/// ```text
///   IDLE --the receiver, under the channel lock--> AWAITING
///   AWAITING --the sender, after writing the slot--> DELIVERED
///   DELIVERED --the receiver, once it has seen it--> IDLE
/// ```
/// Orderings: the receiver's `arm` is published to the sender by the
/// sender's claim (`DONE` store, `Release`; the sender's `Acquire` load);
/// the `DELIVERED` store (`Release`) and the receiver's load (`Acquire`)
/// publish the message. The sender touches nothing of the receiver's after
/// that store.
pub(crate) struct Handoff(AtomicUsize);

impl Handoff {
    /// Nothing awaited.
    pub(crate) const fn new() -> Handoff {
        Handoff(AtomicUsize::new(IDLE))
    }

    /// Awaits a message. Called under the lock of the channel whose sender
    /// is chosen, before that sender is woken.
    pub(crate) fn arm(&self) {
        self.0.store(AWAITING, Ordering::Relaxed);
    }

    /// Waits until an awaited message has been delivered (at once if none
    /// is awaited).
    #[inline]
    #[track_caller]
    pub(crate) fn wait(&self) {
        if self.0.load(Ordering::Acquire) != IDLE {
            self.wait_slow();
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn wait_slow(&self) {
        while self.0.load(Ordering::Acquire) != DELIVERED {
            park::park(WaitReason::ChanReceive.here());
        }
        self.0.store(IDLE, Ordering::Relaxed);
    }

    /// Marks the awaited message delivered (the caller has written it into
    /// the receiver's slot, or left it empty); the caller then wakes the
    /// receiver with the handle it kept.
    ///
    /// # Safety
    /// The handoff is `AWAITING`, and the caller is the sender it was
    /// armed for. The receiver may be gone once this returns.
    pub(crate) unsafe fn deliver(this: *const Handoff) {
        // SAFETY: the receiver waits for this store before it returns, so
        // the handoff is alive until it.
        unsafe { (*this).0.store(DELIVERED, Ordering::Release) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` counts linked waiters through pushes, removals (a second
    /// removal of the same waiter is a no-op) and claims, which also
    /// unlink the stale waiters they skip.
    #[test]
    fn len_counts_linked_waiters() {
        let mut queue = WaitQueue::<u8>::new();
        let (fresh, stale) = (BlockedOp::new(true), BlockedOp::new(true));
        assert!(stale.try_claim(0), "nothing else claims it here");
        let waiters: Vec<Waiter<u8>> = (0..4).map(|_| Waiter::new()).collect();
        let mut slots = [None, None, None, None];
        for (i, (waiter, slot)) in waiters.iter().zip(&mut slots).enumerate() {
            let ctx = if i == 0 { &stale } else { &fresh };
            // SAFETY: the waiters, contexts and slots outlive the queue's
            // use of them (all in this frame; the queue is emptied below).
            unsafe { queue.push(waiter, ctx, i, slot) };
        }
        assert_eq!(queue.len(), 4);
        // SAFETY: linked in this queue.
        unsafe { queue.remove(&waiters[3]) };
        // SAFETY: no longer linked: a no-op.
        unsafe { queue.remove(&waiters[3]) };
        assert_eq!(queue.len(), 3);
        // The stale first waiter is skipped and unlinked; the second claimed.
        let claimed = queue.claim().expect("a waiting waiter");
        assert_eq!(queue.len(), 1);
        drop(claimed.finish());
        // SAFETY: linked in this queue.
        unsafe { queue.remove(&waiters[2]) };
        assert_eq!(queue.len(), 0);
        assert!(queue.claim().is_none());
    }
}
