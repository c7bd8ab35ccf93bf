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
//!   a waiting sender (unbuffered) -> take its value; closed -> fail;
//!   else the caller blocks.
//! - close: mark closed; complete every waiting receiver with "closed" and
//!   every waiting sender with its value still in its slot (failure).
//! - last receiver gone: senders fail from then on; the waiting ones are
//!   failed as on close, and the buffer is dropped (outside the lock).
//!
//! # Invariants
//! - Receivers wait only while nothing is buffered; senders wait only while
//!   the buffer is full. So at most one of the queues holds live waiters.
//!   A message given back by a dropped `recv_async` future (`give_back`)
//!   may take the buffer past its capacity; a receive then refills from a
//!   waiting sender only once it is back below.
//! - Nothing user-defined runs under the lock: messages are only moved
//!   there (dropped ones are taken out and dropped after unlocking) and
//!   wakeups happen after unlocking.
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

use super::waiter::{Claimed, WaitQueue};
use crate::park::Unparker;
pub(crate) use crate::spin::SpinLock;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A channel of `T`, shared by its senders and receivers.
pub(crate) struct Channel<T> {
    lock: SpinLock,
    state: UnsafeCell<State<T>>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
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
}

impl<T> Channel<T> {
    /// A channel of capacity `cap` (or [`UNBOUNDED`]) with `senders` and
    /// one receiver counted. A sender count with no handle behind it keeps
    /// the channel open for good (`never`, `after`, `tick`).
    pub(crate) fn new(cap: usize, senders: usize) -> Channel<T> {
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
            }),
            senders: AtomicUsize::new(senders),
            receivers: AtomicUsize::new(1),
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
            drop(dropped);
            for who in wake {
                who.unpark();
            }
        }
    }

    /// Whether any receiver handle is left.
    pub(crate) fn has_receivers(&self) -> bool {
        self.receivers.load(Ordering::Relaxed) > 0
    }
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
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// Tries to receive into `slot` (which must be `None`). On `Ready`, the
    /// slot holds the message, or is still empty if the channel is closed.
    #[inline]
    pub(crate) fn recv(&mut self, slot: &mut Option<T>) -> Poll {
        if let Some(msg) = self.buf.pop_front() {
            *slot = Some(msg);
            self.shrink();
            // Not past the capacity: a message given back (`give_back`)
            // may have filled the buffer beyond it.
            let refill = if self.buf.len() < self.cap {
                self.sendq.claim().map(|sender| self.refill(sender))
            } else {
                None
            };
            return Poll::Ready(refill);
        }
        if let Some(mut sender) = self.sendq.claim() {
            *slot = sender.slot().take();
            return Poll::Ready(Some(sender.finish()));
        }
        if self.closed {
            return Poll::Ready(None);
        }
        Poll::Pending
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
        None
    }

    /// Moves a blocked sender's value into the place a receive freed.
    fn refill(&mut self, mut sender: Claimed<T>) -> Unparker {
        let msg = sender.slot().take().expect("a send has a message");
        self.buf.push_back(msg);
        sender.finish()
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
        (true, self.fail_waiters())
    }

    /// Every receiver is gone: fail the senders and hand back the buffer
    /// to drop outside the lock.
    fn disconnect(&mut self) -> (VecDeque<T>, Vec<Unparker>) {
        self.disconnected = true;
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

    /// The wait queue of receivers (`recv`) or senders.
    pub(crate) fn queue(&mut self, recv: bool) -> &mut WaitQueue<T> {
        if recv {
            &mut self.recvq
        } else {
            &mut self.sendq
        }
    }

    /// Messages buffered.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
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
