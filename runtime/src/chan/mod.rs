//! Channels and select: Go's semantics with crossbeam-channel's names.
//!
//! Goroutines talk over channels exactly as in Go: an unbuffered channel
//! ([`bounded(0)`](bounded)) is a rendezvous, a buffered one queues up to
//! its capacity, [`unbounded`] never blocks a sender, [`Sender::close`] (or
//! dropping the last [`Sender`]) wakes everyone, and [`select!`](crate::select)
//! picks uniformly at random among the ready operations. The API mirrors
//! crossbeam-channel, so code ports by changing an import.
//!
//! ```
//! use goro::chan;
//!
//! let (tx, rx) = chan::bounded(0); // unbuffered, like `make(chan int)`
//! goro::go!(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//!     // dropping the last sender closes the channel
//! });
//! let got: Vec<i32> = rx.iter().collect(); // Go's `for v := range ch`
//! assert_eq!(got, [0, 1, 2]);
//! ```
//!
//! # Semantics
//! - Every operation works the same from a goroutine (it parks) and from a
//!   plain OS thread (it blocks the thread), in any mix on either side.
//! - A send to a channel with a waiting receiver hands the value straight
//!   to it, and the receiver runs next on the sender's worker (Go's
//!   `runnext`). Waiting senders and receivers are served first come, first
//!   served.
//! - After a close, receivers drain what is buffered and then get
//!   [`RecvError`]; a blocked or later send gets [`SendError`] with its
//!   value back. Sends also fail once every [`Receiver`] is gone (the
//!   buffered messages are then dropped). Unlike Go, sending on or closing
//!   a closed channel does not panic: the send fails, the close returns
//!   `false`.
//! - A select completes exactly one of its operations; a closed channel
//!   counts as ready.
//! - Dropping a channel drops every message still buffered, exactly once.
//!
//! # Design
//! Go's design, written for this runtime: one lock per channel, a ring
//! buffer, and FIFO queues of waiters that live on the blocked goroutines'
//! stacks (no allocation per operation); a select enqueues one waiter per
//! case, all sharing a context whose state word the first waker wins by
//! CAS. The modules `channel`, `waiter` and `op` explain the algorithms,
//! their invariants and every atomic ordering.

mod channel;
mod deadline;
mod error;
mod future;
mod macros;
mod op;
mod select;
mod waiter;

pub(crate) use deadline::next_tick;

pub use deadline::{after, at, never, tick};
pub use error::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
    SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
};
pub use future::{RecvFuture, SendFuture};
pub use select::{Select, SelectedOperation};

/// The macros, here too so that `use goro::chan::{select, ...}` works as
/// `use crossbeam_channel::{select, ...}` does.
pub use crate::{select, select_biased};

#[doc(hidden)]
pub use select::__private;

use crate::park::Site;
use channel::{Channel, UNBOUNDED};
use op::{run_blocking, run_one, Op};
use std::fmt;
use std::panic::{Location, RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use waiter::Deadline;

/// Creates a channel that buffers up to `cap` messages; `cap == 0` makes
/// Go's unbuffered channel, where every send waits for a receiver.
///
/// ```
/// let (s, r) = goro::chan::bounded(2);
/// s.send(1).unwrap();
/// s.send(2).unwrap();
/// assert!(s.try_send(3).unwrap_err().is_full());
/// assert_eq!(r.recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    // `usize::MAX` stands for unbounded; nobody can buffer that much.
    from_channel(Channel::new(cap.min(UNBOUNDED - 1), 1))
}

/// Creates a channel that buffers any number of messages: sends never
/// block.
///
/// ```
/// let (s, r) = goro::chan::unbounded();
/// for i in 0..1000 {
///     s.send(i).unwrap();
/// }
/// assert_eq!(r.len(), 1000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    from_channel(Channel::new(UNBOUNDED, 1))
}

fn from_channel<T>(chan: Channel<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(chan);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half of a channel. Clone it to send from several places;
/// when the last clone is dropped the channel is closed.
pub struct Sender<T> {
    chan: Arc<Channel<T>>,
}

/// The receiving half of a channel. Clone it to receive from several
/// places (each message goes to one receiver); when the last clone is
/// dropped, sends fail.
pub struct Receiver<T> {
    chan: Arc<Channel<T>>,
}

impl<T> Sender<T> {
    /// Sends `msg`, waiting for room (or, unbuffered, for a receiver).
    /// Fails, returning the message, if the channel is closed or every
    /// receiver is gone, including while waiting.
    ///
    /// ```
    /// let (s, r) = goro::chan::bounded(0);
    /// let h = goro::go!(move || r.recv().unwrap());
    /// s.send("hi").unwrap();
    /// assert_eq!(h.join().unwrap(), "hi");
    /// ```
    #[inline(always)] // down to the switch: see `goroutine`, "Parking in the caller's frame"
    #[track_caller]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let op = Op::send(&self.chan, msg);
        run_blocking(&op, Location::caller());
        op.into_msg().map_or(Ok(()), |msg| Err(SendError(msg)))
    }

    /// Sends `msg` if that needs no waiting.
    ///
    /// ```
    /// use goro::chan::{bounded, TrySendError};
    /// let (s, r) = bounded(1);
    /// assert_eq!(s.try_send(1), Ok(()));
    /// assert_eq!(s.try_send(2), Err(TrySendError::Full(2)));
    /// drop(r);
    /// assert_eq!(s.try_send(3), Err(TrySendError::Disconnected(3)));
    /// ```
    #[track_caller]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let op = Op::send(&self.chan, msg);
        let done = run_one(&op, Deadline::Now, Location::caller());
        match (op.into_msg(), done) {
            (None, _) => Ok(()),
            (Some(msg), true) => Err(TrySendError::Disconnected(msg)),
            (Some(msg), false) => Err(TrySendError::Full(msg)),
        }
    }

    /// Sends `msg`, waiting at most `timeout`.
    ///
    /// ```
    /// use goro::chan::{bounded, SendTimeoutError};
    /// use std::time::Duration;
    /// let (s, _r) = bounded(0);
    /// let res = s.send_timeout(1, Duration::from_millis(10));
    /// assert_eq!(res, Err(SendTimeoutError::Timeout(1)));
    /// ```
    #[track_caller]
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Deadline::after(timeout))
    }

    /// Sends `msg`, waiting until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (s, r) = goro::chan::bounded(1);
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(s.send_deadline(1, deadline), Ok(()));
    /// assert!(s.send_deadline(2, deadline).unwrap_err().is_timeout());
    /// # drop(r);
    /// ```
    #[track_caller]
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Deadline::At(deadline))
    }

    #[track_caller]
    fn send_until(&self, msg: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let op = Op::send(&self.chan, msg);
        let done = run_one(&op, deadline, Location::caller());
        match (op.into_msg(), done) {
            (None, _) => Ok(()),
            (Some(msg), true) => Err(SendTimeoutError::Disconnected(msg)),
            (Some(msg), false) => Err(SendTimeoutError::Timeout(msg)),
        }
    }

    /// Closes the channel, as Go's `close(ch)`: receivers drain what is
    /// buffered and then fail, waiting and later sends fail. Returns true
    /// for the call that closed it (closing twice is not an error).
    ///
    /// ```
    /// let (s, r) = goro::chan::unbounded();
    /// s.send(1).unwrap();
    /// assert!(s.close());
    /// assert!(!s.close());
    /// assert_eq!(r.recv(), Ok(1));
    /// assert!(r.recv().is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether sends fail: the channel is closed or every receiver is gone.
    ///
    /// ```
    /// let (s, r) = goro::chan::bounded::<()>(0);
    /// assert!(!s.is_closed());
    /// drop(r);
    /// assert!(s.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.with(|state| state.send_closed())
    }

    /// Messages buffered.
    ///
    /// ```
    /// let (s, _r) = goro::chan::bounded(3);
    /// s.send(1).unwrap();
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        len(&self.chan)
    }

    /// Whether nothing is buffered (always true when unbuffered).
    ///
    /// ```
    /// let (s, _r) = goro::chan::bounded::<i32>(3);
    /// assert!(s.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true when unbuffered, never when
    /// unbounded).
    ///
    /// ```
    /// let (s, _r) = goro::chan::bounded(1);
    /// s.send(1).unwrap();
    /// assert!(s.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        is_full(&self.chan)
    }

    /// The capacity; `None` when unbounded.
    ///
    /// ```
    /// assert_eq!(goro::chan::bounded::<i32>(4).0.capacity(), Some(4));
    /// assert_eq!(goro::chan::unbounded::<i32>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        capacity(&self.chan)
    }

    /// Whether both send on the same channel.
    ///
    /// ```
    /// let (s, _r) = goro::chan::unbounded::<i32>();
    /// assert!(s.same_channel(&s.clone()));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        same_channel(&self.chan, &other.chan)
    }

    pub(crate) fn channel(&self) -> &Channel<T> {
        &self.chan
    }
}

impl<T> Receiver<T> {
    /// Receives a message, waiting for one. Fails once the channel is
    /// closed and drained.
    ///
    /// ```
    /// let (s, r) = goro::chan::unbounded();
    /// s.send(5).unwrap();
    /// drop(s);
    /// assert_eq!(r.recv(), Ok(5));
    /// assert!(r.recv().is_err());
    /// ```
    #[inline(always)] // as `Sender::send`
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_at(Location::caller())
    }

    /// [`recv`](Self::recv), blocked at `at` if it waits (an iterator's
    /// `next` is called from whatever consumes it: it blocks where the
    /// iterator was made).
    #[inline(always)]
    fn recv_at(&self, at: Site) -> Result<T, RecvError> {
        let op = Op::recv(&self.chan);
        run_blocking(&op, at);
        op.into_msg().ok_or(RecvError)
    }

    /// Receives a message if that needs no waiting.
    ///
    /// ```
    /// use goro::chan::{unbounded, TryRecvError};
    /// let (s, r) = unbounded();
    /// assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
    /// s.send(1).unwrap();
    /// drop(s);
    /// assert_eq!(r.try_recv(), Ok(1));
    /// assert_eq!(r.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    #[track_caller]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let op = Op::recv(&self.chan);
        let done = run_one(&op, Deadline::Now, Location::caller());
        match (op.into_msg(), done) {
            (Some(msg), _) => Ok(msg),
            (None, true) => Err(TryRecvError::Disconnected),
            (None, false) => Err(TryRecvError::Empty),
        }
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// ```
    /// use goro::chan::{bounded, RecvTimeoutError};
    /// use std::time::Duration;
    /// let (_s, r) = bounded::<i32>(0);
    /// let res = r.recv_timeout(Duration::from_millis(10));
    /// assert_eq!(res, Err(RecvTimeoutError::Timeout));
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::after(timeout))
    }

    /// Receives a message, waiting until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (s, r) = goro::chan::unbounded();
    /// s.send(1).unwrap();
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(r.recv_deadline(deadline), Ok(1));
    /// assert!(r.recv_deadline(deadline).unwrap_err().is_timeout());
    /// ```
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::At(deadline))
    }

    #[track_caller]
    fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        let op = Op::recv(&self.chan);
        let done = run_one(&op, deadline, Location::caller());
        match (op.into_msg(), done) {
            (Some(msg), _) => Ok(msg),
            (None, true) => Err(RecvTimeoutError::Disconnected),
            (None, false) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// A blocking iterator over messages until the channel is closed and
    /// drained (Go's `for v := range ch`).
    ///
    /// ```
    /// let (s, r) = goro::chan::unbounded();
    /// goro::go!(move || (1..=3).for_each(|i| s.send(i).unwrap()));
    /// assert_eq!(r.iter().sum::<i32>(), 6);
    /// ```
    #[track_caller]
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            receiver: self,
            at: Location::caller(),
        }
    }

    /// An iterator over the messages available now, without waiting.
    ///
    /// ```
    /// let (s, r) = goro::chan::unbounded();
    /// s.send(1).unwrap();
    /// s.send(2).unwrap();
    /// assert_eq!(r.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Whether the channel is closed. Buffered messages may still be
    /// received.
    ///
    /// ```
    /// let (s, r) = goro::chan::unbounded();
    /// s.send(1).unwrap();
    /// drop(s);
    /// assert!(r.is_closed());
    /// assert_eq!(r.recv(), Ok(1));
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.with(|state| state.is_closed())
    }

    /// Messages buffered.
    ///
    /// ```
    /// let (s, r) = goro::chan::unbounded();
    /// s.send(1).unwrap();
    /// assert_eq!(r.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        len(&self.chan)
    }

    /// Whether nothing is buffered (always true when unbuffered).
    ///
    /// ```
    /// let (_s, r) = goro::chan::unbounded::<i32>();
    /// assert!(r.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true when unbuffered, never when
    /// unbounded).
    ///
    /// ```
    /// let (s, r) = goro::chan::bounded(1);
    /// s.send(1).unwrap();
    /// assert!(r.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        is_full(&self.chan)
    }

    /// The capacity; `None` when unbounded.
    ///
    /// ```
    /// assert_eq!(goro::chan::bounded::<i32>(0).1.capacity(), Some(0));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        capacity(&self.chan)
    }

    /// Whether both receive from the same channel.
    ///
    /// ```
    /// let (_s, r) = goro::chan::unbounded::<i32>();
    /// assert!(r.same_channel(&r.clone()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        same_channel(&self.chan, &other.chan)
    }

    pub(crate) fn channel(&self) -> &Channel<T> {
        &self.chan
    }

    /// A receiver of a channel made with a phantom sender (see `timer`).
    pub(crate) fn from_arc(chan: Arc<Channel<T>>) -> Receiver<T> {
        Receiver { chan }
    }
}

fn same_channel<T>(a: &Arc<Channel<T>>, b: &Arc<Channel<T>>) -> bool {
    Arc::ptr_eq(a, b) || (a.is_never() && b.is_never())
}

fn len<T>(chan: &Channel<T>) -> usize {
    chan.with(|state| state.len())
}

fn is_full<T>(chan: &Channel<T>) -> bool {
    chan.with(|state| state.cap() != UNBOUNDED && state.len() >= state.cap())
}

fn capacity<T>(chan: &Channel<T>) -> Option<usize> {
    let cap = chan.with(|state| state.cap());
    (cap != UNBOUNDED).then_some(cap)
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

// A panic can never leave a channel half-updated for its other users: no
// user code runs under its lock (`channel`), so every unlock leaves the
// state consistent. So handles may cross `catch_unwind`, as crossbeam's do.
impl<T> UnwindSafe for Sender<T> {}
impl<T> RefUnwindSafe for Sender<T> {}
impl<T> UnwindSafe for Receiver<T> {}
impl<T> RefUnwindSafe for Receiver<T> {}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Receiver { .. }")
    }
}

/// A blocking iterator over a [`Receiver`]'s messages; see
/// [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
    /// Where it was made: where its `next` blocks.
    at: Site,
}

/// A non-blocking iterator over a [`Receiver`]'s messages; see
/// [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

/// An owning blocking iterator over a [`Receiver`]'s messages.
///
/// ```
/// let (s, r) = goro::chan::unbounded();
/// s.send(1).unwrap();
/// drop(s);
/// for msg in r {
///     assert_eq!(msg, 1);
/// }
/// ```
#[derive(Debug)]
pub struct IntoIter<T> {
    receiver: Receiver<T>,
    /// Where it was made: where its `next` blocks.
    at: Site,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    #[inline] // `recv` inside stays inlined into the loop
    fn next(&mut self) -> Option<T> {
        self.receiver.recv_at(self.at).ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    #[inline] // `recv` inside stays inlined into the loop
    fn next(&mut self) -> Option<T> {
        self.receiver.recv_at(self.at).ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    #[track_caller]
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    #[track_caller]
    fn into_iter(self) -> IntoIter<T> {
        IntoIter {
            receiver: self,
            at: Location::caller(),
        }
    }
}
