//! Operations and the select engine every blocking call goes through.
//!
//! # Design
//! An [`Op`] is one send or receive on one channel: its message slot and
//! its [`Waiter`] live in the caller's frame. A plain `send`/`recv` is an
//! op run alone ([`run_one`]); `select!` and [`Select`](super::Select) run
//! a list of ops ([`select`]), behind the object-safe [`Case`] trait so
//! channels of different message types mix. The algorithm is Go's
//! `selectgo`, with a cheaper first pass:
//! 1. Visit the cases in a random order (a lazy Fisher-Yates shuffle, so the
//!    first ready case found is uniformly random among the ready ones; in
//!    order when biased), locking one channel at a time, and complete the
//!    first that is ready. Most selects end here, having taken one lock.
//! 2. None ready (and blocking allowed): lock every channel in address
//!    order (each once), poll again in the same order (something may have
//!    become ready since pass 1), and if still nothing, enqueue one waiter
//!    per case in that order (two cases on one channel are then served in
//!    random order too), all sharing one [`BlockedOp`], then unlock and park.
//! 3. Woken: the waker already completed one case and unlinked its waiter
//!    (see `waiter`); unlink the others, each under its channel's lock.
//!    On timeout, withdraw first (or find that a waker won the race).
//!
//! A select that must not wait skips pass 1 and decides with every channel
//! locked at once, as Go's `selectgo` does: looking at the cases one at a
//! time, it could find each empty at its own moment although at every
//! moment one of them held a message (not linearizable).
//!
//! A receive from a timer channel (see `timer`) is ready once the clock
//! reaches the channel's due instant, which nobody announces: a wait that
//! includes one ends at the earliest due instant at the latest (the
//! context's deadline), withdraws, and goes round again.
//!
//! A single op skips pass 2's re-poll: it polls and enqueues under one
//! acquisition of its lock, and a goroutine with no deadline then parks
//! holding it (see `park`, "Parking under a lock"): the lock is released by
//! its worker after the switch, so the waker needs no park-state CAS. For
//! a plain `send`/`recv` that path is inlined into their caller down to
//! the switch ([`run_blocking`]; see `goroutine`, "Parking in the caller's
//! frame"); threads, timed waits and one-case selects wait out of line.
//!
//! # Invariants
//! - Holding several channel locks happens only in pass 2, in address
//!   order, so two selects cannot deadlock; every other path holds one.
//! - A closed channel makes its case ready (receive: fails after draining;
//!   send: fails, keeping the value).
//! - A send case whose value is gone (a reused [`Select`](super::Select)
//!   after the value was sent) is never ready, like Go's nil channel.
//!
//! # Orderings
//! None of its own: the channel locks and the context's state word carry
//! everything (see `channel` and `waiter`). The random state is a plain
//! thread-local.

use super::channel::{Channel, MsgSlot, Poll, ProbeSlot, SpinLock};
use super::waiter::{BlockedOp, Deadline, Handoff, Waiter};
use crate::park::{Site, WaitReason, Why};
use std::cell::{Cell, UnsafeCell};
use std::panic::Location;
use std::time::Instant;

/// One operation of a select, with its type erased.
pub(crate) trait Case {
    /// Identifies the channel (its address): the lock order, and which
    /// channel a `Select` case belongs to.
    fn channel_id(&self) -> usize;
    /// Whether this is a receive.
    fn is_recv(&self) -> bool;
    /// The channel's lock.
    fn raw_lock(&self) -> &SpinLock;
    /// Takes the channel's lock.
    fn lock(&self) {
        self.raw_lock().lock();
    }
    /// Releases the channel's lock.
    fn unlock(&self) {
        self.raw_lock().unlock();
    }
    /// Tries to complete the operation.
    ///
    /// # Safety
    /// The caller holds the channel's lock and the op is not enqueued.
    unsafe fn poll(&self) -> Poll;
    /// Enqueues the op's waiter for case `index` of `ctx`.
    ///
    /// # Safety
    /// The caller holds the channel's lock; the op and `ctx` stay unmoved
    /// and alive until [`dequeue`](Case::dequeue) (or a claim) and the
    /// synchronisation the `waiter` module describes.
    unsafe fn enqueue(&self, ctx: &BlockedOp, index: usize);
    /// When a timer channel's message falls due, for a receive from one:
    /// a wait on this op must end then to poll it again.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn due(&self) -> Option<Instant>;
    /// Queues the op's waiter as a watcher for case `index` of `ctx`:
    /// woken by any change of the channel, completing nothing.
    ///
    /// # Safety
    /// As for [`enqueue`](Case::enqueue), and the op is not enqueued.
    unsafe fn watch(&self, ctx: &BlockedOp, index: usize);
    /// Unlinks the op's watcher if still queued.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn unwatch(&self);
    /// Whether the op could complete now, without completing it.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn is_ready(&self) -> bool;
    /// Unlinks the op's waiter if still queued.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn dequeue(&self);
    /// Called once a poll completed the op, with no lock held: a receive
    /// that chose a [`SendProbe`] waits here, still in place, for the
    /// chosen sender to write its message (see `waiter::Handoff`).
    #[inline]
    #[track_caller]
    fn settle(&self) {}
    /// Gives up a selected op without completing it: a [`SendProbe`]
    /// chosen by a receiver tells it that no value comes (the receiver
    /// then finds its slot empty, as on a closed channel).
    fn abandon(&self) {}
    /// Readies the op for another run: clears a receive's old message.
    /// Called with no lock held, never while enqueued.
    fn reset(&self);
    /// Tries to complete the operation under its channel's lock, taken and
    /// released here (one dynamic call for the three steps).
    ///
    /// # Safety
    /// The op is not enqueued.
    #[inline]
    unsafe fn poll_now(&self) -> Poll {
        self.lock();
        // SAFETY: locked just now; not enqueued by the caller's contract.
        let poll = unsafe { self.poll() };
        self.unlock();
        poll
    }
}

/// A reference to one case of a select (public only for `select!`'s
/// expansion, through `chan::__private`).
#[derive(Clone, Copy)]
pub struct Arm<'a>(pub(crate) &'a (dyn Case + 'a));

/// A send or receive of one `T` on one channel.
pub(crate) struct Op<'a, T> {
    chan: &'a Channel<T>,
    recv: bool,
    /// The message, and where a receive paired with a [`SendProbe`] waits
    /// for it ([`Case::settle`]) before the engine returns, so before the
    /// op is moved, read or dropped.
    slot: MsgSlot<T>,
    waiter: Waiter<T>,
}

impl<'a, T> Op<'a, T> {
    /// A receive on `chan`.
    pub(crate) fn recv(chan: &'a Channel<T>) -> Op<'a, T> {
        Op::new(chan, true, None)
    }

    /// A send of `msg` on `chan`.
    pub(crate) fn send(chan: &'a Channel<T>, msg: T) -> Op<'a, T> {
        Op::new(chan, false, Some(msg))
    }

    fn new(chan: &'a Channel<T>, recv: bool, slot: Option<T>) -> Op<'a, T> {
        Op {
            chan,
            recv,
            slot: MsgSlot::new(slot),
            waiter: Waiter::new(),
        }
    }

    /// The message: received (receive) or not sent (send).
    pub(crate) fn into_msg(self) -> Option<T> {
        self.slot.into_inner()
    }

    /// Takes the message out, leaving the op empty.
    pub(crate) fn take_msg(&mut self) -> Option<T> {
        self.slot.get_mut().take()
    }
}

impl<T> Case for Op<'_, T> {
    fn channel_id(&self) -> usize {
        self.chan as *const Channel<T> as usize
    }

    fn is_recv(&self) -> bool {
        self.recv
    }

    fn raw_lock(&self) -> &SpinLock {
        self.chan.raw_lock()
    }

    #[inline(always)] // into `run_one` and `run_blocking`: the fast path
    unsafe fn poll(&self) -> Poll {
        // SAFETY: the caller holds the lock; the slot is ours while the op
        // is not enqueued.
        let (state, slot) = unsafe { (self.chan.state(), &mut *self.slot.msg()) };
        match (self.recv, slot.is_some()) {
            (true, _) => state.recv(slot, self.slot.handoff()),
            (false, true) => state.send(slot),
            (false, false) => Poll::Pending,
        }
    }

    #[inline]
    unsafe fn enqueue(&self, ctx: &BlockedOp, index: usize) {
        // SAFETY: the caller holds the lock.
        let state = unsafe { self.chan.state() };
        // SAFETY: as above; reading our own slot, not yet shared.
        if !self.recv && unsafe { (*self.slot.msg()).is_none() } {
            return;
        }
        // SAFETY: the caller keeps the op and `ctx` in place until dequeued.
        unsafe {
            state
                .queue(self.recv)
                .push(&self.waiter, ctx, index, self.slot.msg())
        };
        // A queued waiter is something a counterpart could complete with.
        if !state.watchers().is_empty() {
            state.notify_except(ctx);
        }
    }

    unsafe fn watch(&self, ctx: &BlockedOp, index: usize) {
        // SAFETY: the caller holds the lock and keeps the op and `ctx` in
        // place until unwatched.
        unsafe {
            self.chan
                .state()
                .watchers()
                .push(&self.waiter, ctx, index, self.slot.msg())
        };
    }

    unsafe fn unwatch(&self) {
        // SAFETY: the caller holds the lock; our waiter, if linked, is in
        // the watchers' queue (an op watches only when not enqueued).
        unsafe { self.chan.state().watchers().remove(&self.waiter) };
    }

    #[inline]
    unsafe fn due(&self) -> Option<Instant> {
        // SAFETY: the caller holds the lock.
        self.recv
            .then(|| unsafe { self.chan.state() }.due())
            .flatten()
    }

    unsafe fn is_ready(&self) -> bool {
        // SAFETY: the caller holds the lock; the slot is ours while the op
        // is not enqueued.
        let (state, slot) = unsafe { (self.chan.state(), &*self.slot.msg()) };
        match (self.recv, slot.is_some()) {
            (true, _) => state.recv_ready(),
            (false, true) => state.send_ready(),
            (false, false) => false,
        }
    }

    #[inline]
    unsafe fn dequeue(&self) {
        // SAFETY: the caller holds the lock; our waiter, if linked, is in
        // the queue of our direction.
        unsafe { self.chan.state().queue(self.recv).remove(&self.waiter) };
    }

    #[inline]
    #[track_caller]
    fn settle(&self) {
        self.slot.handoff().wait();
    }

    fn reset(&self) {
        if self.recv {
            // SAFETY: not enqueued, and settled, so nobody else touches the
            // slot.
            drop(unsafe { (*self.slot.msg()).take() });
        }
    }
}

/// A send that is given its value only after a select chose it
/// ([`Select::send`](super::Select::send), crossbeam's form): the select
/// completes it by finding that the channel can take a value now, and the
/// caller then sends. A receive waiting then is paired with the probe
/// (`State::pair_probe`): committed to it, it waits for the value, as
/// crossbeam's selected send owns its receiver. Waiting, the probe sits in
/// the channel's queue of senders with an empty slot: a receiver that
/// claims it chooses it (see `channel`), and the caller's send then meets
/// that receiver or takes the place it freed (unless another sender was
/// quicker).
pub(crate) struct SendProbe<'a, T> {
    chan: &'a Channel<T>,
    /// Empty, and where the receiver paired with the probe is recorded.
    slot: UnsafeCell<ProbeSlot<T>>,
    waiter: Waiter<T>,
}

impl<'a, T> SendProbe<'a, T> {
    /// A send on `chan` whose value comes later.
    pub(crate) fn new(chan: &'a Channel<T>) -> SendProbe<'a, T> {
        SendProbe {
            chan,
            slot: UnsafeCell::new(ProbeSlot::new()),
            waiter: Waiter::new(),
        }
    }

    /// Sends `msg` now that the probe was selected: straight into the slot
    /// of the receiver that chose it, if one did; else as a plain send
    /// (which may wait, should another sender have taken the place).
    /// Returns the message if the channel is closed.
    #[track_caller]
    pub(crate) fn complete(&self, msg: T) -> Option<T> {
        // SAFETY: the probe is not queued (its select returned), so only we
        // touch its slot.
        match unsafe { (*self.slot.get()).take_partner() } {
            Some((slot, handoff, receiver)) => {
                // SAFETY: the receiver that recorded itself waits in its
                // handoff, keeping its slot alive and untouched, until we
                // deliver; we are the sender it chose.
                unsafe {
                    *slot = Some(msg);
                    Handoff::deliver(handoff);
                }
                receiver.unpark();
                None
            }
            None => {
                let op = Op::send(self.chan, msg);
                run_blocking(&op, Location::caller());
                op.into_msg()
            }
        }
    }
}

impl<T> Case for SendProbe<'_, T> {
    fn channel_id(&self) -> usize {
        self.chan as *const Channel<T> as usize
    }

    fn is_recv(&self) -> bool {
        false
    }

    fn raw_lock(&self) -> &SpinLock {
        self.chan.raw_lock()
    }

    unsafe fn poll(&self) -> Poll {
        // SAFETY: the caller holds the lock; the probe is not queued, so
        // its slot is ours.
        let (state, slot) = unsafe { (self.chan.state(), &*self.slot.get()) };
        if state.pair_probe(slot.partner()) {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    unsafe fn enqueue(&self, ctx: &BlockedOp, index: usize) {
        // SAFETY: the caller holds the lock.
        let state = unsafe { self.chan.state() };
        // SAFETY: the caller keeps the probe and `ctx` in place until
        // dequeued; a claimer finds the slot empty and records itself in it
        // (see `channel`).
        unsafe {
            state.queue(false).push(
                &self.waiter,
                ctx,
                index,
                ProbeSlot::as_slot(self.slot.get()),
            )
        };
        if !state.watchers().is_empty() {
            state.notify_except(ctx);
        }
    }

    unsafe fn due(&self) -> Option<Instant> {
        None
    }

    unsafe fn watch(&self, ctx: &BlockedOp, index: usize) {
        // SAFETY: the caller holds the lock and keeps the probe and `ctx`
        // in place until unwatched.
        unsafe {
            self.chan.state().watchers().push(
                &self.waiter,
                ctx,
                index,
                ProbeSlot::as_slot(self.slot.get()),
            )
        };
    }

    unsafe fn unwatch(&self) {
        // SAFETY: the caller holds the lock; our waiter, if linked, is a
        // watcher (a probe watches only when not enqueued).
        unsafe { self.chan.state().watchers().remove(&self.waiter) };
    }

    unsafe fn is_ready(&self) -> bool {
        // SAFETY: the caller holds the lock.
        unsafe { self.chan.state() }.send_ready()
    }

    unsafe fn dequeue(&self) {
        // SAFETY: the caller holds the lock; our waiter, if linked, is in
        // the senders' queue.
        unsafe { self.chan.state().queue(false).remove(&self.waiter) };
    }

    fn abandon(&self) {
        // SAFETY: as in `complete`.
        if let Some((_, handoff, receiver)) = unsafe { (*self.slot.get()).take_partner() } {
            // SAFETY: as in `complete`; the receiver's slot stays empty.
            unsafe { Handoff::deliver(handoff) };
            receiver.unpark();
        }
    }

    fn reset(&self) {
        self.abandon();
    }
}

/// Waits until one of `cases` could complete, without completing it
/// (crossbeam's `Select::ready`): returns its index, or `None` if
/// `deadline` passed first. Each look locks every channel at once, as a
/// select that must not wait does; between looks every case watches its
/// channel, and any change there wakes it to look again.
#[track_caller]
pub(crate) fn ready(cases: &[Arm<'_>], biased: bool, deadline: Deadline) -> Option<usize> {
    let why = WaitReason::Select.here();
    let n = cases.len();
    with_scratch(n, |scratch| {
        let (order, locks) = scratch.split_at_mut(n);
        sort_locks(cases, locks);
        loop {
            shuffle(order, biased);
            lock_all(cases, locks);
            let mut due: Option<Instant> = None;
            for &i in order.iter() {
                // SAFETY: every channel is locked.
                if unsafe { cases[i].0.is_ready() } {
                    unlock_all(cases, locks);
                    return Some(i);
                }
                // SAFETY: locked.
                if let Some(at) = unsafe { cases[i].0.due() } {
                    due = Some(due.map_or(at, |d| d.min(at)));
                }
            }
            if deadline == Deadline::Now {
                unlock_all(cases, locks);
                return None;
            }
            let until = earlier(deadline, due);
            let ctx = BlockedOp::new(true);
            for &i in order.iter() {
                // SAFETY: locked; the cases and `ctx` outlive the
                // unwatching below.
                unsafe { cases[i].0.watch(&ctx, i) };
            }
            unlock_all(cases, locks);
            let woken = ctx.wait(until, why);
            for case in cases {
                case.0.lock();
                // SAFETY: locked.
                unsafe { case.0.unwatch() };
                case.0.unlock();
            }
            if woken.is_none() && until == deadline {
                return None;
            }
        }
    })
}

/// Runs one op until it completes, however long that takes: a plain
/// blocking `send` or `recv`. Inlined into the caller down to the switch
/// when a goroutine parks (see "Parking in the caller's frame" in
/// `goroutine`); a plain thread waits out of line.
#[inline(always)]
pub(crate) fn run_blocking<C: Case + ?Sized>(op: &C, at: Site) {
    op.lock();
    // SAFETY: locked; not enqueued.
    if let Poll::Ready(wake) = unsafe { op.poll() } {
        op.unlock();
        wake_up(wake);
        op.settle();
        return;
    }
    // SAFETY: locked, and not enqueued: the poll found nothing.
    if !unsafe { park_here(op, at) } {
        wait_queued(op, Deadline::Never, at);
    }
}

/// Runs one op until it completes or `deadline` passes. Returns whether it
/// completed (then its slot tells how). Inlined: most ops complete at once,
/// and then cost a lock, a poll and an unlock; the waiting is out of line.
#[inline]
pub(crate) fn run_one<C: Case + ?Sized>(op: &C, deadline: Deadline, at: Site) -> bool {
    op.lock();
    // SAFETY: locked; not enqueued.
    if let Poll::Ready(wake) = unsafe { op.poll() } {
        op.unlock();
        wake_up(wake);
        op.settle();
        return true;
    }
    if deadline == Deadline::Now {
        op.unlock();
        return false;
    }
    wait_one(op, deadline, at)
}

/// Why a goroutine waiting on `op` waits, for `dump`.
fn wait_reason<C: Case + ?Sized>(op: &C) -> WaitReason {
    if op.is_recv() {
        WaitReason::ChanReceive
    } else {
        WaitReason::ChanSend
    }
}

/// A goroutine's wait with no deadline: enqueues `op` and parks holding
/// its channel lock (see `park::park_unlocking`); returns once a
/// waker completed it. False, with the lock still held and nothing
/// enqueued, when the caller is a plain thread or the channel a timer's.
///
/// # Safety
/// The caller holds `op`'s lock and `op` is not enqueued.
#[inline(always)]
unsafe fn park_here<C: Case + ?Sized>(op: &C, at: Site) -> bool {
    // SAFETY: we hold the lock. A timer channel's wait is bounded by its
    // due instant, which this untimed park cannot do.
    if unsafe { op.due() }.is_some() {
        return false;
    }
    let ctx = BlockedOp::for_parked();
    // SAFETY: we hold the channel lock. The handle goes into `ctx`, whose
    // waiter only a holder of the lock takes out, claiming it (it is the
    // context's one waiter and has no deadline), and the claimer wakes it
    // once (`Claimed::finish` moves it out, the channel hands it to
    // `Unparker::unpark`). `op` and `ctx` stay put on our stack while we
    // are parked.
    let parked = unsafe {
        crate::park::park_unlocking(op.raw_lock(), wait_reason(op).at(at), |me| {
            ctx.set_unparker(crate::park::Unparker::Parked(me));
            op.enqueue(&ctx, 0);
        })
    };
    debug_assert!(
        !parked || ctx.is_done(),
        "only the claimer wakes a parked waiter"
    );
    parked
}

/// The rest of [`run_one`] when the op must wait: called with the lock
/// held (the op not enqueued), releases it. A goroutine with no deadline
/// parks holding the lock.
#[inline(never)]
fn wait_one<C: Case + ?Sized>(op: &C, deadline: Deadline, at: Site) -> bool {
    // SAFETY: locked; not enqueued.
    if deadline == Deadline::Never && unsafe { park_here(op, at) } {
        return true;
    }
    wait_queued(op, deadline, at)
}

/// The general wait, for a plain thread, a deadline or a timer channel:
/// called with the lock held (the op not enqueued), enqueues the op,
/// releases the lock and waits; withdraws the op if `deadline` passes
/// first. A receive from a timer channel also wakes when the timer falls
/// due, and polls again.
#[inline(never)]
fn wait_queued<C: Case + ?Sized>(op: &C, deadline: Deadline, at: Site) -> bool {
    loop {
        // SAFETY: locked.
        let until = earlier(deadline, unsafe { op.due() });
        let ctx = BlockedOp::new(until != Deadline::Never);
        // SAFETY: locked; `op` and `ctx` outlive the wait and the dequeue
        // below.
        unsafe { op.enqueue(&ctx, 0) };
        op.unlock();
        if ctx.wait(until, wait_reason(op).at(at)).is_some() {
            // A receive paired with a send whose value comes later waits
            // for it here.
            op.settle();
            return true;
        }
        op.lock();
        // SAFETY: locked.
        unsafe { op.dequeue() };
        // SAFETY: locked; no longer enqueued.
        if let Poll::Ready(wake) = unsafe { op.poll() } {
            op.unlock();
            wake_up(wake);
            op.settle();
            return true;
        }
        if until == deadline {
            op.unlock();
            return false;
        }
    }
}

/// The earlier of `deadline` and a timer's `due` instant.
fn earlier(deadline: Deadline, due: Option<Instant>) -> Deadline {
    match (deadline, due) {
        (Deadline::At(at), Some(due)) if at <= due => deadline,
        (Deadline::Now, _) | (_, None) => deadline,
        (_, Some(due)) => Deadline::At(due),
    }
}

#[inline]
fn wake_up(wake: Option<crate::park::Unparker>) {
    if let Some(who) = wake {
        who.unpark();
    }
}

/// Selects one of `cases` and completes it: returns its index, or `None`
/// if `deadline` passed first (immediately for [`Deadline::Now`]).
///
/// Receive cases must not hold a message from an earlier run (a reused
/// [`Select`](super::Select) resets them first).
#[track_caller]
pub(crate) fn select(cases: &[Arm<'_>], biased: bool, deadline: Deadline) -> Option<usize> {
    let why = WaitReason::Select.here();
    if let [only] = cases {
        return run_one(only.0, deadline, why.at).then_some(0);
    }
    let n = cases.len();
    with_scratch(n, |scratch| {
        let (order, locks) = scratch.split_at_mut(n);
        if deadline == Deadline::Now {
            shuffle(order, biased);
            let chosen = poll_locked(cases, order, locks);
            crate::scheduler::preempt_point();
            return chosen;
        }
        if let Some(i) = poll_each(cases, order, biased) {
            crate::scheduler::preempt_point();
            return Some(i);
        }
        match deadline {
            _ if n == 0 => sleep_until(deadline, why),
            _ => block(cases, order, locks, deadline, why),
        }
    })
}

/// Fills `order` with the cases' indices, shuffled unless `biased`.
fn shuffle(order: &mut [usize], biased: bool) {
    for (k, slot) in order.iter_mut().enumerate() {
        *slot = k;
    }
    if !biased {
        for k in 0..order.len().saturating_sub(1) {
            let j = k + random_below(order.len() - k);
            order.swap(k, j);
        }
    }
}

/// A select that must not wait, Go's way: with every channel locked at
/// once, poll in `order` and complete the first ready case. Polling each
/// under its own lock instead would not be linearizable: a case found
/// empty may fill before the last is polled, and the select report
/// nothing ready although at every moment something was.
fn poll_locked(cases: &[Arm<'_>], order: &[usize], locks: &mut [usize]) -> Option<usize> {
    sort_locks(cases, locks);
    lock_all(cases, locks);
    // SAFETY: every channel is locked; nothing is enqueued.
    match unsafe { complete_first_ready(cases, order, locks) } {
        Ok(i) => Some(i),
        Err(_) => {
            unlock_all(cases, locks);
            None
        }
    }
}

/// Polls `cases` in `order` and completes the first ready one: its index,
/// with every channel unlocked and its counterpart woken. If none is
/// ready, the channels stay locked and the error is when the first timer
/// channel among them falls due, if any.
///
/// # Safety
/// Every channel of `cases` is locked (`lock_all` with `locks`), and none
/// of the cases is enqueued.
unsafe fn complete_first_ready(
    cases: &[Arm<'_>],
    order: &[usize],
    locks: &[usize],
) -> Result<usize, Option<Instant>> {
    let mut due: Option<Instant> = None;
    for &i in order {
        // SAFETY: locked and not enqueued (the caller's contract).
        if let Poll::Ready(wake) = unsafe { cases[i].0.poll() } {
            unlock_all(cases, locks);
            wake_up(wake);
            cases[i].0.settle();
            return Ok(i);
        }
        // SAFETY: locked.
        if let Some(at) = unsafe { cases[i].0.due() } {
            due = Some(due.map_or(at, |d| d.min(at)));
        }
    }
    Err(due)
}

/// Pass 1: each case under its own lock, in random (or given) order.
/// Leaves `order` holding the order used.
fn poll_each(cases: &[Arm<'_>], order: &mut [usize], biased: bool) -> Option<usize> {
    for (k, slot) in order.iter_mut().enumerate() {
        *slot = k;
    }
    for k in 0..cases.len() {
        if !biased && cases.len() - k > 1 {
            let j = k + random_below(cases.len() - k);
            order.swap(k, j);
        }
        // SAFETY: nothing is enqueued yet.
        if let Poll::Ready(wake) = unsafe { cases[order[k]].0.poll_now() } {
            wake_up(wake);
            cases[order[k]].0.settle();
            return Some(order[k]);
        }
    }
    None
}

/// Passes 2 and 3: lock all, re-poll, enqueue, wait, withdraw. A wait
/// that ends because a timer channel's message fell due (not the
/// caller's deadline) goes round again.
fn block(
    cases: &[Arm<'_>],
    order: &[usize],
    locks: &mut [usize],
    deadline: Deadline,
    why: Why,
) -> Option<usize> {
    sort_locks(cases, locks);
    loop {
        lock_all(cases, locks);
        // SAFETY: every channel is locked; nothing enqueued yet.
        let due = match unsafe { complete_first_ready(cases, order, locks) } {
            Ok(i) => return Some(i),
            Err(due) => due,
        };
        let until = earlier(deadline, due);
        let ctx = BlockedOp::new(true);
        // In poll order: when two cases share a channel, the one queued
        // first is served first, so that must be random too.
        for &i in order {
            // SAFETY: locked; the cases and `ctx` outlive the withdrawal
            // below.
            unsafe { cases[i].0.enqueue(&ctx, i) };
        }
        unlock_all(cases, locks);
        let won = ctx.wait(until, why);
        for (i, case) in cases.iter().enumerate() {
            if won != Some(i) {
                case.0.lock();
                // SAFETY: locked.
                unsafe { case.0.dequeue() };
                case.0.unlock();
            }
        }
        if let Some(i) = won {
            cases[i].0.settle();
            return won;
        }
        if until == deadline {
            return None;
        }
    }
}

/// Fills `locks` with the cases' indices in lock (address) order.
fn sort_locks(cases: &[Arm<'_>], locks: &mut [usize]) {
    for (k, slot) in locks.iter_mut().enumerate() {
        *slot = k;
    }
    locks.sort_unstable_by_key(|&i| cases[i].0.channel_id());
}

/// Locks the channels of `cases` in the sorted order `locks`, each once.
fn lock_all(cases: &[Arm<'_>], locks: &[usize]) {
    each_channel_once(cases, locks, |case| case.lock());
}

fn unlock_all(cases: &[Arm<'_>], locks: &[usize]) {
    each_channel_once(cases, locks, |case| case.unlock());
}

fn each_channel_once(cases: &[Arm<'_>], locks: &[usize], f: impl Fn(&dyn Case)) {
    let mut last = None;
    for &i in locks {
        let id = cases[i].0.channel_id();
        if last != Some(id) {
            f(cases[i].0);
            last = Some(id);
        }
    }
}

/// A select with no cases: nothing can ever be ready.
fn sleep_until(deadline: Deadline, why: Why) -> Option<usize> {
    loop {
        match deadline {
            Deadline::At(at) if crate::park::park_until(at, why) => return None,
            Deadline::At(_) => {}
            Deadline::Never | Deadline::Now => crate::park::park(why),
        }
    }
}

/// Runs `f` on `2 * n` scratch indices, on the stack when small (room for
/// the common selects of a few arms: zeroing more would cost more than the
/// rest of a two-arm select's bookkeeping).
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [usize]) -> R) -> R {
    const INLINE: usize = 4;
    if n <= INLINE {
        let mut buf = [0usize; 2 * INLINE];
        f(&mut buf[..2 * n])
    } else {
        f(&mut vec![0; 2 * n])
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A uniformly random number in `0..n` (`n > 0`) from a per-thread
/// xorshift64*. Never inlined: the thread may change across a park (see
/// the `goroutine` module note on thread-locals).
#[inline(never)]
fn random_below(n: usize) -> usize {
    let x = crate::testing::seed::seeded_random().unwrap_or_else(|| {
        RNG.with(|rng| {
            let mut x = rng.get();
            if x == 0 {
                x = seed();
            }
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            rng.set(x);
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        })
    });
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// A distinct non-zero seed per thread.
fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    // Relaxed: any distinct value will do.
    let mut z = NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}
