//! The channel itself: one lock, one buffer, two wait queues (Go's `hchan`).
//!
//! # Design: one structure for every flavour
//! crossbeam-channel has three flavours (array, list, zero) because its
//! array and list are lock-free and differ in layout. Here every operation
//! takes the channel's lock once (as Go's channels do), and under that lock
//! the three flavours differ only in the capacity of one ring buffer:
//! - *unbuffered* (`cap == 0`): nothing is ever buffered; a send completes
//!   only by handing its value straight to a waiting receiver (or to a
//!   receiver that finds the sender waiting), so it is a rendezvous;
//! - *bounded* (`cap > 0`): the ring is allocated up front (up to
//!   [`PREALLOC`] slots; growth past that is amortised) and never exceeds
//!   `cap`;
//! - *unbounded* (`cap == usize::MAX`): the ring grows, and shrinks back
//!   once drained so a burst does not pin its memory.
//!
//! Algorithms (all under the lock; see `waiter` for the claim protocol):
//! - send: closed -> fail, keeping the value; a waiting receiver -> hand the
//!   value to it (direct handoff, even on a buffered channel, as in Go:
//!   receivers wait only while the buffer is empty); room -> buffer it;
//!   else the caller blocks.
//! - recv: a buffered value -> take the oldest, and if a sender is blocked
//!   on the full buffer, move its value into the freed place (FIFO kept);
//!   a waiting sender (unbuffered) -> take its value; a timer channel
//!   whose message is due -> take it (see [`Feed`]); closed -> fail;
//!   else the caller blocks.
//! - close: mark closed; complete every waiting receiver with "closed" and
//!   every waiting sender with its value still in its slot (failure).
//! - last receiver gone: senders fail from then on; the waiting ones are
//!   failed as on close, and the buffer is dropped (outside the lock,
//!   oldest first; if a message's destructor panics the rest are leaked).
//! - a waiting send whose value comes later (a `Select` send case, see
//!   `op`) has an empty slot ([`ProbeSlot`]): a receive that claims it has
//!   completed, and waits (outside the lock, [`Handoff`], found from its
//!   slot: [`MsgSlot`]) for the value, which the chosen sender writes
//!   straight into its slot; a receive that frees a place lets it have the
//!   place. Such a send chosen because a receive waits claims that receive
//!   the same way (`pair_probe`), so a select it chose stays chosen; async
//!   receives, which cannot wait there, are passed over.
//! - watchers (a third queue, for waits that complete nothing: see `op`)
//!   are all woken by any change that may make an operation ready: a value
//!   buffered or taken from the buffer, a waiter queued, close, the last
//!   receiver gone.
//!
//! # Invariants
//! - Receivers wait only while nothing is buffered; senders wait only while
//!   the buffer is full. So at most one of the queues holds live waiters.
//!   A message given back by a dropped `recv_async` future (`give_back`)
//!   may take the buffer past its capacity; a receive then refills from a
//!   waiting sender only once it is back below.
//! - Nothing user-defined runs under the lock: messages are only moved
//!   there (dropped ones are taken out and dropped after unlocking), and
//!   nothing there panics short of a broken invariant. Wakeups happen
//!   after unlocking, except those of watchers and of sends whose value
//!   comes later: they are rare, and carrying their handles out to every
//!   unlock would cost every operation.
//! - Every message is in exactly one place: a sender's slot, the buffer, or
//!   a receiver's slot; dropping the channel drops what is buffered.
//!
//! # Orderings
//! The lock is a test-and-test-and-set spin lock: `Acquire` on taking it and
//! `Release` on giving it back order every access to the state. A parking
//! goroutine keeps it only through its own switch to its worker, which
//! releases it right after (`park::park_unlocking`); it is never held
//! across a wait, and critical sections are a few dozen instructions, so
//! spinning is cheaper than any queueing lock (`spin` says how a waiter
//! backs off).
//! The handle counts use `Relaxed` increments (a new handle is made from an
//! existing one, as `Arc` does) and `AcqRel` decrements, so the handle that
//! drops the count to zero sees every earlier handle's work before closing.

use super::waiter::{BlockedOp, Claimed, Handoff, WaitQueue};
use crate::park::Unparker;
pub(crate) use crate::spin::SpinLock;
use std::cell::Cell;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Slots a bounded channel allocates up front.
const PREALLOC: usize = 1024;

/// Capacity standing for "unbounded".
pub(crate) const UNBOUNDED: usize = usize::MAX;

/// Outcome of trying an operation under the lock.
pub(crate) enum Poll {
    /// It must wait.
    Pending,
    /// It completed (successfully or because the channel is closed); wake
    /// this party once the lock is released.
    Ready(Option<Unparker>),
}

/// The message slot of a send whose value comes later
/// (`op::SendProbe`): always empty, and followed by where the receiver that
/// chose it waits for the value.
#[repr(C)]
pub(crate) struct ProbeSlot<T> {
    /// What a receiver finds in the waiting probe: nothing. First, so that
    /// a pointer to it is a pointer to the whole.
    empty: Option<T>,
    partner: Cell<Option<Partner<T>>>,
}

/// The receiver that chose a probe: its slot, its handoff, and who to wake.
pub(crate) type Partner<T> = (*mut Option<T>, *const Handoff, Unparker);

impl<T> ProbeSlot<T> {
    /// An empty slot with no receiver.
    pub(crate) fn new() -> ProbeSlot<T> {
        ProbeSlot {
            empty: None,
            partner: Cell::new(None),
        }
    }

    /// The slot a probe queues its waiter with.
    pub(crate) fn as_slot(this: *mut ProbeSlot<T>) -> *mut Option<T> {
        this.cast()
    }

    /// Where the receiver paired with the probe is kept.
    pub(crate) fn partner(&self) -> &Cell<Option<Partner<T>>> {
        &self.partner
    }

    /// The receiver that chose the probe, taken out.
    pub(crate) fn take_partner(&self) -> Option<Partner<T>> {
        self.partner.take()
    }

    /// The partner cell of the probe slot whose head is `slot`.
    ///
    /// # Safety
    /// `slot` came from [`as_slot`](Self::as_slot) of a live probe slot.
    unsafe fn partner_of<'a>(slot: *mut Option<T>) -> &'a Cell<Option<Partner<T>>> {
        // SAFETY: `repr(C)` puts `empty` at offset 0, so the pointer is the
        // probe slot's (caller's contract).
        unsafe { &(*slot.cast::<ProbeSlot<T>>()).partner }
    }
}

/// An operation's message slot, followed by where a receive paired with a
/// send whose value comes later waits for that value: a claimer finds the
/// [`Handoff`] from the slot's address, the one a queued waiter holds.
#[repr(C)]
pub(crate) struct MsgSlot<T> {
    /// First, so that a pointer to it is a pointer to the whole.
    msg: UnsafeCell<Option<T>>,
    handoff: Handoff,
}

impl<T> MsgSlot<T> {
    /// A slot holding `msg`, awaiting nothing.
    pub(crate) fn new(msg: Option<T>) -> MsgSlot<T> {
        MsgSlot {
            msg: UnsafeCell::new(msg),
            handoff: Handoff::new(),
        }
    }

    /// The message slot, as the queues hold it.
    pub(crate) fn msg(&self) -> *mut Option<T> {
        self.msg.get()
    }

    /// Where a paired receive waits for its value.
    pub(crate) fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    /// The message.
    pub(crate) fn into_inner(self) -> Option<T> {
        self.msg.into_inner()
    }

    /// The message, through an exclusive borrow.
    pub(crate) fn get_mut(&mut self) -> &mut Option<T> {
        self.msg.get_mut()
    }

    /// The handoff of the slot whose message slot is `msg`.
    ///
    /// # Safety
    /// `msg` came from [`msg`](Self::msg) of a live `MsgSlot`.
    unsafe fn handoff_of<'a>(msg: *mut Option<T>) -> &'a Handoff {
        // SAFETY: `repr(C)` puts `msg` at offset 0 (and `UnsafeCell` is
        // transparent), so the pointer is the `MsgSlot`'s (caller's
        // contract).
        unsafe { &(*msg.cast::<MsgSlot<T>>()).handoff }
    }
}

/// A channel of `T`, shared by its senders and receivers.
pub(crate) struct Channel<T> {
    lock: SpinLock,
    state: UnsafeCell<State<T>>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Made by `never`: all such channels count as one (`same_channel`),
    /// as all of Go's nil channels are equal.
    never: bool,
}

// SAFETY: the state is only accessed under `lock`, which makes the channel
// a mutex around it; messages cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for Channel<T> {}
// SAFETY: as above; shared access only goes through the lock or atomics.
unsafe impl<T: Send> Sync for Channel<T> {}

/// The part of a channel guarded by its lock.
pub(crate) struct State<T> {
    buf: VecDeque<T>,
    cap: usize,
    /// Closed by `close` or by the last sender's drop.
    closed: bool,
    /// Every receiver is gone.
    disconnected: bool,
    recvq: WaitQueue<T>,
    sendq: WaitQueue<T>,
    /// Watchers: waits that complete nothing (`Select::ready`, a `Select`
    /// send case whose value comes later), woken by any change that may
    /// make an operation ready.
    watchq: WaitQueue<T>,
    /// A timer channel's message source (see [`Feed`]).
    feed: Option<Feed<T>>,
}

/// The message source of a timer channel (`after`, `at`, `tick`): a
/// message is ready whenever the clock has reached `due`, so the channel
/// knows its deadline and is ready the moment it passes, whoever looks.
/// Delivering the message moves `due` one `period` past the clock (a
/// tick), or ends the feed (a one-shot timer).
pub(crate) struct Feed<T> {
    due: Instant,
    period: Option<Duration>,
    /// The message for a due instant (the instant itself: `T` is
    /// `Instant`, which the generic state cannot name).
    make: fn(Instant) -> T,
}

impl<T> Feed<T> {
    /// A feed due at `due`, then every `period` if given.
    pub(crate) fn new(due: Instant, period: Option<Duration>, make: fn(Instant) -> T) -> Feed<T> {
        Feed { due, period, make }
    }
}

impl<T> Channel<T> {
    /// A channel of capacity `cap` (or [`UNBOUNDED`]) with `senders` and
    /// one receiver counted. A sender count with no handle behind it keeps
    /// the channel open for good (`never`, `after`, `tick`).
    pub(crate) fn new(cap: usize, senders: usize) -> Channel<T> {
        Channel::with_feed(cap, senders, None, false)
    }

    /// As [`new`](Self::new), fed by `feed` (a timer channel) and, for
    /// `never`, marked as the one channel every `never` receiver shares.
    pub(crate) fn with_feed(
        cap: usize,
        senders: usize,
        feed: Option<Feed<T>>,
        never: bool,
    ) -> Channel<T> {
        let buf = match cap {
            UNBOUNDED => VecDeque::new(),
            _ => VecDeque::with_capacity(cap.min(PREALLOC)),
        };
        Channel {
            lock: SpinLock::new(),
            state: UnsafeCell::new(State {
                buf,
                cap,
                closed: false,
                disconnected: false,
                recvq: WaitQueue::new(),
                sendq: WaitQueue::new(),
                watchq: WaitQueue::new(),
                feed,
            }),
            senders: AtomicUsize::new(senders),
            receivers: AtomicUsize::new(1),
            never,
        }
    }

    /// The channel's lock, for operations that hold it across calls.
    pub(crate) fn raw_lock(&self) -> &SpinLock {
        &self.lock
    }

    /// The locked state.
    ///
    /// # Safety
    /// The caller holds the lock, and does not keep two of these borrows.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn state(&self) -> &mut State<T> {
        // SAFETY: exclusive by the caller's contract.
        unsafe { &mut *self.state.get() }
    }

    /// Runs `f` on the state under the lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State<T>) -> R) -> R {
        self.lock.lock();
        // SAFETY: we hold the lock, and `f` gets the only borrow.
        let result = f(unsafe { self.state() });
        self.lock.unlock();
        result
    }

    /// Closes the channel (Go's `close`); true if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let (closed, wake) = self.with(State::close);
        for who in wake {
            who.unpark();
        }
        closed
    }

    /// Counts one more sender handle.
    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a sender handle; the last one closes the channel.
    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }

    /// Counts one more receiver handle.
    pub(crate) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a receiver handle; after the last one, sends fail and the
    /// buffered messages are dropped.
    pub(crate) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            let (dropped, wake) = self.with(State::disconnect);
            for who in wake {
                who.unpark();
            }
            drop_in_order(dropped);
        }
    }

    /// Whether this is a `never` channel.
    pub(crate) fn is_never(&self) -> bool {
        self.never
    }
}

/// Drops `msgs` oldest first. If one's destructor panics, the panic goes
/// on and the ones after it are leaked, not dropped during the unwinding
/// (a second panic there would abort), as crossbeam-channel does.
fn drop_in_order<T>(msgs: VecDeque<T>) {
    let mut rest = std::mem::ManuallyDrop::new(msgs.into_iter());
    for msg in &mut *rest {
        drop(msg);
    }
    drop(std::mem::ManuallyDrop::into_inner(rest));
}

impl<T> State<T> {
    /// Tries to send the value in `slot` (which must be `Some`). On
    /// `Ready`, the slot is empty if it was sent, and still full if the
    /// channel is closed.
    #[inline]
    pub(crate) fn send(&mut self, slot: &mut Option<T>) -> Poll {
        if self.closed || self.disconnected {
            return Poll::Ready(None);
        }
        if let Some(mut receiver) = self.recvq.claim() {
            *receiver.slot() = slot.take();
            return Poll::Ready(Some(receiver.finish()));
        }
        if self.buf.len() < self.cap {
            self.buf
                .push_back(slot.take().expect("a send has a message"));
            self.notify();
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// Tries to receive into `slot` (which must be `None`). On `Ready`, the
    /// slot holds the message, or is still empty if the channel is closed.
    #[inline]
    pub(crate) fn recv(&mut self, slot: &mut Option<T>, handoff: &Handoff) -> Poll {
        if let Some(msg) = self.buf.pop_front() {
            *slot = Some(msg);
            self.shrink();
            self.notify();
            // Not past the capacity: a message given back (`give_back`)
            // may have filled the buffer beyond it.
            let refill = if self.buf.len() < self.cap {
                self.sendq.claim().and_then(|sender| self.refill(sender))
            } else {
                None
            };
            return Poll::Ready(refill);
        }
        if let Some(mut sender) = self.sendq.claim() {
            if let Some(msg) = sender.slot().take() {
                *slot = Some(msg);
                return Poll::Ready(Some(sender.finish()));
            }
            // A send whose value comes later (a `Select` send case): we
            // are its receiver, and it hands its value to our slot.
            // SAFETY: a waiting send with an empty slot is a probe's
            // (other sends never wait without a value), whose slot is the
            // head of a `ProbeSlot`; the probe's owner is blocked until the
            // finish below, and reads the partner only after it.
            let partner: Partner<T> = (slot, handoff, Unparker::current());
            unsafe { ProbeSlot::partner_of(sender.slot_ptr()) }.set(Some(partner));
            handoff.arm();
            sender.finish().unpark();
            return Poll::Ready(None);
        }
        if self.feed.is_some() {
            if let Some(msg) = self.fire() {
                *slot = Some(msg);
                return Poll::Ready(None);
            }
        }
        if self.closed {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// Whether a send whose value comes later (a `Select` send case) can be
    /// chosen now. If a receive waits, the send is paired with it here, as
    /// a send with its value would complete it: the receive has completed
    /// for every other party (its select can choose nothing else), and
    /// waits in its [`Handoff`] until the value is written into its slot;
    /// `partner` is where the probe keeps it (see `op::SendProbe::complete`).
    /// An async receive is passed over (it cannot wait in a handoff).
    pub(crate) fn pair_probe(&mut self, partner: &Cell<Option<Partner<T>>>) -> bool {
        if self.closed || self.disconnected {
            return true;
        }
        if let Some(receiver) = self.recvq.claim_blocking() {
            // SAFETY: every queued receive is an `op::Op`, whose message
            // slot heads a `MsgSlot`; the receiver stays blocked (its
            // context is claimed) until the probe's owner delivers.
            let handoff = unsafe { MsgSlot::handoff_of(receiver.slot_ptr()) };
            handoff.arm();
            partner.set(Some((receiver.slot_ptr(), handoff, receiver.finish())));
            return true;
        }
        self.send_ready()
    }

    /// Puts back a message that was received but not used (a dropped
    /// `recv_async` future, see `chan::future`): to a waiting receiver if
    /// there is one, else at the head of the buffer, where it is received
    /// next, even if that takes the buffer past its capacity for a while
    /// (senders wait until it is back below). Returns whom to wake.
    pub(crate) fn give_back(&mut self, msg: T) -> Option<Unparker> {
        if let Some(mut receiver) = self.recvq.claim() {
            *receiver.slot() = Some(msg);
            return Some(receiver.finish());
        }
        self.buf.push_front(msg);
        self.notify();
        None
    }

    /// Wakes every watcher: something changed that may make an operation
    /// ready. Inlined down to the emptiness check.
    #[inline]
    pub(crate) fn notify(&mut self) {
        if !self.watchq.is_empty() {
            self.notify_except(std::ptr::null());
        }
    }

    /// Wakes every watcher but those of `except` (the operation that is
    /// queueing a waiter now must not wake itself). The wakeups happen here,
    /// under the lock: watchers are rare, and carrying their handles out
    /// to every unlock would cost every operation.
    #[cold]
    pub(crate) fn notify_except(&mut self, except: *const BlockedOp) {
        self.watchq.claim_all_except(except, Unparker::unpark);
    }

    /// Takes a timer channel's message if it is due, and schedules the
    /// next one (a tick: one period after the later of the due time and
    /// now, as crossbeam-channel's tick does).
    #[inline(never)]
    fn fire(&mut self) -> Option<T> {
        let feed = self.feed.as_mut()?;
        let now = Instant::now();
        if now < feed.due {
            return None;
        }
        let due = feed.due;
        let msg = (feed.make)(due);
        match feed.period {
            Some(period) => match now.checked_add(period) {
                Some(next) => feed.due = next,
                None => self.feed = None,
            },
            None => self.feed = None,
        }
        Some(msg)
    }

    /// When a timer channel's next message falls due, if it has one: a
    /// receiver waits no longer than that.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.feed.as_ref().map(|feed| feed.due)
    }

    /// Whether a timer channel's message is due now.
    fn feed_ready(&self) -> bool {
        self.feed
            .as_ref()
            .is_some_and(|feed| Instant::now() >= feed.due)
    }

    /// Moves a blocked sender's value into the place a receive freed.
    /// A send whose value comes later is chosen instead: the place is for
    /// it to fill (it is woken here, and `None` returned).
    fn refill(&mut self, mut sender: Claimed<T>) -> Option<Unparker> {
        match sender.slot().take() {
            Some(msg) => {
                self.buf.push_back(msg);
                Some(sender.finish())
            }
            None => {
                sender.finish().unpark();
                None
            }
        }
    }

    /// Gives an unbounded channel's memory back once it is drained.
    #[inline]
    fn shrink(&mut self) {
        if self.cap == UNBOUNDED && self.buf.is_empty() {
            self.release_buffer();
        }
    }

    #[cold]
    fn release_buffer(&mut self) {
        if self.buf.capacity() > PREALLOC {
            self.buf = VecDeque::new();
        }
    }

    /// Marks the channel closed and fails every waiter. Returns whether it
    /// was open, and whom to wake.
    fn close(&mut self) -> (bool, Vec<Unparker>) {
        if self.closed {
            return (false, Vec::new());
        }
        self.closed = true;
        self.notify();
        (true, self.fail_waiters())
    }

    /// Every receiver is gone: fail the senders and hand back the buffer
    /// to drop outside the lock.
    fn disconnect(&mut self) -> (VecDeque<T>, Vec<Unparker>) {
        self.disconnected = true;
        self.notify();
        let wake = self.fail_waiters();
        (std::mem::take(&mut self.buf), wake)
    }

    /// Completes every waiter with failure: receivers get an empty slot,
    /// senders keep their value. The list of whom to wake is allocated
    /// once, at its final size: a close that fails a million waiters
    /// grew it by doubling to 16 MB, touching twice that in fresh pages
    /// and copying 16 MB on the way, under the channel's lock (in a
    /// profile of such a close, page faults and copies outweighed the
    /// walk over the waiters).
    fn fail_waiters(&mut self) -> Vec<Unparker> {
        let mut wake = Vec::with_capacity(self.recvq.len() + self.sendq.len());
        while let Some(waiter) = self.recvq.claim().or_else(|| self.sendq.claim()) {
            wake.push(waiter.finish());
        }
        wake
    }

    /// Whether a receive could complete now (with a message, or failing
    /// on a closed channel), without taking anything.
    pub(crate) fn recv_ready(&self) -> bool {
        !self.buf.is_empty() || self.sendq.has_waiting() || self.feed_ready() || self.closed
    }

    /// Whether a send could complete now (or fail on a closed channel),
    /// without sending anything.
    pub(crate) fn send_ready(&self) -> bool {
        self.closed || self.disconnected || self.recvq.has_waiting() || self.buf.len() < self.cap
    }

    /// The wait queue of receivers (`recv`) or senders.
    pub(crate) fn queue(&mut self, recv: bool) -> &mut WaitQueue<T> {
        if recv {
            &mut self.recvq
        } else {
            &mut self.sendq
        }
    }

    /// The queue of watchers.
    pub(crate) fn watchers(&mut self) -> &mut WaitQueue<T> {
        &mut self.watchq
    }

    /// Messages buffered (for a timer channel, whether one is due).
    pub(crate) fn len(&self) -> usize {
        self.buf.len() + usize::from(self.feed_ready())
    }

    /// The capacity ([`UNBOUNDED`] for unbounded).
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Whether the channel is closed (receivers drain, then fail).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether sends fail: closed, or every receiver is gone.
    pub(crate) fn send_closed(&self) -> bool {
        self.closed || self.disconnected
    }
}
