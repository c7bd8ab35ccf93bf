//! Async channel operations: [`Receiver::recv_async`] and
//! [`Sender::send_async`], for async code (a tokio task, or a future a
//! goroutine runs with [`block_on`](crate::block_on)).
//!
//! # Design
//! An async operation is the blocking one with a [`Waker`] in place of a
//! parked goroutine. Its first poll tries the operation under the channel
//! lock, as `try_recv`/`try_send` do. If it must wait, the future
//! allocates a `Pending`: an [`Op`] (message slot and waiter) and a wait
//! context, on the heap so that they stay put while queued however the
//! future moves. The context is uncontended (one waiter, one queue, no
//! deadline): taking the waiter out under the lock is the claim, exactly as
//! for a goroutine's blocking `send`/`recv`, and its unparker is an
//! [`Unparker::Waker`] (the waker boxed, a second allocation, so that
//! every unparker stays two words) that the claimer wakes after releasing
//! the lock. So
//! a sender that finds an async receiver waiting hands the value straight
//! into its slot, as it would to a goroutine.
//!
//! A later poll reads the context's state: done means the claimer has
//! moved the message and let go of the `Pending`, which the future then
//! frees. Not done, it keeps a copy of the waker it registered, and only
//! when the new poll's waker would not wake the same task does it take the
//! lock, look again, and swap the context's unparker.
//!
//! # Cancel safety
//! Dropping a future that waits takes the lock and unlinks its waiter (the
//! queue keeps no pointer to it afterwards). A receive that a sender
//! completed but nobody polled since holds a message: the drop gives it
//! back to the channel (`State::give_back`: to a waiting receiver, else to
//! the head of the buffer, past its capacity if need be), so no message is
//! lost and the order is kept. A send future dropped before a receiver took
//! its value drops that value with it, as a dropped blocking `send` would
//! never have sent it; once taken, the value is the receiver's.
//!
//! # Invariants
//! - A `Pending` is freed only when no queue links its waiter: its context
//!   is done (the claimer unlinked it, and stores nothing after `DONE`), or
//!   the future's drop unlinked it under the lock.
//! - The context's unparker is touched only before enqueueing, under the
//!   lock while not done, or by the claimer.
//!
//! # Orderings
//! None of their own: the channel lock orders everything under it, and the
//! context's `DONE` store (`Release`) and `is_done` load (`Acquire`)
//! publish the claimer's move of the message to the future (see `waiter`).

use super::channel::{Channel, Poll as ChanPoll};
use super::op::{Case, Op};
use super::waiter::BlockedOp;
use super::{Receiver, RecvError, SendError, Sender};
use crate::park::Unparker;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// An operation that waits: its op and context, on the heap.
struct Pending<'a, T> {
    op: Op<'a, T>,
    ctx: BlockedOp,
    /// The waker the context's unparker wakes (a copy, read without the
    /// lock to see whether a new poll's waker differs).
    waker: Waker,
}

impl<'a, T> Pending<'a, T> {
    /// Tries `op` once more under its lock, and enqueues it if it must
    /// still wait. Returns the op's message slot's content when it
    /// completed, or the heap `Pending` now queued.
    fn start(op: Op<'a, T>, waker: &Waker) -> Result<Option<T>, NonNull<Pending<'a, T>>> {
        let ctx = BlockedOp::for_future(Unparker::waker(waker));
        let pending = Box::new(Pending {
            op,
            ctx,
            waker: waker.clone(),
        });
        let pending = NonNull::from(Box::leak(pending));
        // SAFETY: just allocated; we share it only through the queue below.
        let p = unsafe { pending.as_ref() };
        p.op.lock();
        // SAFETY: locked; not enqueued.
        if let ChanPoll::Ready(wake) = unsafe { p.op.poll() } {
            p.op.unlock();
            if let Some(who) = wake {
                who.unpark();
            }
            // SAFETY: never enqueued: ours alone, freed once.
            let mut pending = unsafe { Box::from_raw(pending.as_ptr()) };
            return Ok(pending.op.take_msg());
        }
        // SAFETY: locked; the `Pending` stays allocated and unmoved until
        // it is unlinked (see `Waiting::drop`) or done.
        unsafe { p.op.enqueue(&p.ctx, 0) };
        p.op.unlock();
        Err(pending)
    }
}

/// A queued operation, owned by its future, which `finish`es or
/// `cancel`s it. Should a panic drop it otherwise, the `Pending` is
/// leaked, still queued: a message a sender then hands it is lost, but
/// nothing is freed under the queue.
struct Waiting<'a, T>(NonNull<Pending<'a, T>>);

impl<T> Waiting<'_, T> {
    fn get(&self) -> &Pending<'_, T> {
        // SAFETY: allocated until `finish` or `drop`, both of which
        // consume `self`.
        unsafe { self.0.as_ref() }
    }

    /// Polls the queued op: its message slot once a claimer completed it,
    /// else `Err(self)`, with `waker` registered.
    fn poll(self, waker: &Waker) -> Result<Option<T>, Self> {
        let p = self.get();
        if p.ctx.is_done() {
            return Ok(self.finish());
        }
        if p.waker.will_wake(waker) {
            return Err(self);
        }
        p.op.lock();
        if p.ctx.is_done() {
            p.op.unlock();
            return Ok(self.finish());
        }
        // SAFETY: we hold the lock and saw it not done under it.
        let old = unsafe { p.ctx.replace_unparker(Unparker::waker(waker)) };
        p.op.unlock();
        drop(old);
        // SAFETY: `waker` is read only by this future's owner.
        unsafe { (*self.0.as_ptr()).waker = waker.clone() };
        Err(self)
    }

    /// Frees a done op, returning its message slot's content.
    fn finish(self) -> Option<T> {
        let ptr = self.0;
        // SAFETY: done: the claimer unlinked the waiter and no longer
        // touches the `Pending` (it stores nothing after `DONE`).
        let mut pending = unsafe { Box::from_raw(ptr.as_ptr()) };
        pending.op.take_msg()
    }

    /// Unlinks the op if still queued and frees it; the message left in
    /// its slot, if any, goes to `leftover` under the channel lock.
    fn cancel(self, chan: &Channel<T>, leftover: impl FnOnce(&Channel<T>, T) -> Option<Unparker>) {
        let ptr = self.0;
        // SAFETY: allocated until freed below.
        let p = unsafe { ptr.as_ref() };
        p.op.lock();
        // SAFETY: locked; the waiter, if linked, is in its op's queue.
        unsafe { p.op.dequeue() };
        // SAFETY: unlinked (or done, so unlinked by the claimer), under the
        // lock: nobody else reaches the `Pending` now.
        let mut pending = unsafe { Box::from_raw(ptr.as_ptr()) };
        let wake = pending.op.take_msg().and_then(|msg| leftover(chan, msg));
        pending.op.unlock();
        drop(pending);
        if let Some(who) = wake {
            who.unpark();
        }
    }
}

/// The future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a Receiver<T>,
    waiting: Option<Waiting<'a, T>>,
}

/// The future of [`Sender::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: &'a Sender<T>,
    msg: Option<T>,
    waiting: Option<Waiting<'a, T>>,
}

// SAFETY: the `Pending` a future owns is touched by others only under the
// channel's lock (a claimer), and messages cross threads, hence `T: Send`;
// a shared `&` future gives access to nothing.
unsafe impl<T: Send> Send for RecvFuture<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for RecvFuture<'_, T> {}
// Nothing is pinned: the queued parts are on the heap, and the message is
// moved out before anything points at it.
impl<T> Unpin for SendFuture<'_, T> {}
// SAFETY: as for `RecvFuture`.
unsafe impl<T: Send> Send for SendFuture<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendFuture<'_, T> {}

impl<T> Receiver<T> {
    /// Receives a message without blocking a thread: a future that is
    /// ready once a message (or the channel's close, when drained) comes.
    /// It needs no reactor: the sender wakes the task.
    ///
    /// Cancel-safe: dropping the future loses no message (one a sender
    /// handed it is given back to the channel) and leaves no waiter.
    ///
    /// ```
    /// let (tx, rx) = goro::chan::bounded(0);
    /// goro::go!(move || tx.send("hi").unwrap());
    /// let got = goro::block_on(rx.recv_async());
    /// assert_eq!(got, Ok("hi"));
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            rx: self,
            waiting: None,
        }
    }
}

impl<T> Sender<T> {
    /// Sends `msg` without blocking a thread: a future that is ready once
    /// the message is buffered or taken by a receiver (`Ok`), or the
    /// channel is closed or has no receiver (`Err`, with the message).
    ///
    /// Cancel-safe: dropping the future before a receiver took the message
    /// drops the message, unsent, and leaves no waiter.
    ///
    /// ```
    /// let (tx, rx) = goro::chan::bounded(0);
    /// let h = goro::go!(move || rx.recv().unwrap());
    /// goro::block_on(tx.send_async(7)).unwrap();
    /// assert_eq!(h.join().unwrap(), 7);
    /// ```
    pub fn send_async(&self, msg: T) -> SendFuture<'_, T> {
        SendFuture {
            tx: self,
            msg: Some(msg),
            waiting: None,
        }
    }
}

/// Tries `op` once under its lock: its slot's content if it completed.
fn try_once<T>(op: Op<'_, T>) -> Result<Option<T>, Op<'_, T>> {
    op.lock();
    // SAFETY: locked; not enqueued.
    match unsafe { op.poll() } {
        ChanPoll::Ready(wake) => {
            op.unlock();
            if let Some(who) = wake {
                who.unpark();
            }
            Ok(op.into_msg())
        }
        ChanPoll::Pending => {
            op.unlock();
            Err(op)
        }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let slot = match this.waiting.take() {
            Some(waiting) => waiting.poll(cx.waker()),
            None => match try_once(Op::recv(this.rx.channel())) {
                Ok(slot) => Ok(slot),
                Err(op) => Pending::start(op, cx.waker()).map_err(Waiting),
            },
        };
        match slot {
            Ok(msg) => Poll::Ready(msg.ok_or(RecvError)),
            Err(waiting) => {
                this.waiting = Some(waiting);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            waiting.cancel(self.rx.channel(), |chan, msg| {
                // SAFETY: `cancel` calls this under the channel's lock, and
                // nothing else borrows the state meanwhile.
                unsafe { chan.state() }.give_back(msg)
            });
        }
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let slot = match this.waiting.take() {
            Some(waiting) => waiting.poll(cx.waker()),
            None => {
                let msg = this
                    .msg
                    .take()
                    .expect("a send future polled after it completed");
                match try_once(Op::send(this.tx.channel(), msg)) {
                    Ok(slot) => Ok(slot),
                    Err(op) => Pending::start(op, cx.waker()).map_err(Waiting),
                }
            }
        };
        match slot {
            Ok(None) => Poll::Ready(Ok(())),
            Ok(Some(msg)) => Poll::Ready(Err(SendError(msg))),
            Err(waiting) => {
                this.waiting = Some(waiting);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            // An unsent message is dropped with the future, outside the lock.
            let mut unsent = None;
            waiting.cancel(self.tx.channel(), |_, msg| {
                unsent = Some(msg);
                None
            });
            drop(unsent);
        }
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("RecvFuture { .. }")
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SendFuture { .. }")
    }
}
