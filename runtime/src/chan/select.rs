//! [`Select`]: a select over operations known only at run time (Go's
//! `reflect.Select`), and the support `select!` expands to.
//!
//! # Design
//! Both run the engine in `op`. `select!` keeps each arm's [`Op`] in a
//! local of the expansion (no allocation); `Select` boxes one per case,
//! since their message types differ. As in Go, a send's value is given when
//! the case is added, so the winner of a race commits the whole exchange
//! at once; the values of send cases not chosen stay in the `Select` (and
//! are dropped with it). A select completes its operation before it
//! returns: [`SelectedOperation`] only hands over the outcome.
//!
//! Getting a typed outcome back out of a type-erased case is checked by
//! channel identity: a case was made for one channel, a channel holds one
//! message type, and the `Select` borrows the channel for its whole life,
//! so a case whose channel is the caller's channel is an `Op` of the
//! caller's message type.

use super::channel::Channel;
use super::error::{RecvError, SelectTimeoutError, SendError, TrySelectError};
use super::op::{self, Arm, Case, Op};
use super::waiter::Deadline;
use super::{Receiver, Sender};
use std::fmt;
use std::time::{Duration, Instant};

/// Selects over a list of send and receive operations built at run time:
/// what [`select!`](crate::select) does for a fixed list (Go's
/// `reflect.Select`).
///
/// When several operations are ready, one is chosen uniformly at random
/// (in order, for [`new_biased`](Select::new_biased)). A closed channel
/// counts as ready. Each send case carries its value, given when the case
/// is added; a `Select` may be run again, and a send case whose value was
/// sent (or returned in an error) is then never ready.
///
/// ```
/// use goro::chan::{unbounded, Select};
///
/// let chans: Vec<_> = (0..4).map(|_| unbounded::<usize>()).collect();
/// chans[2].0.send(20).unwrap();
///
/// let mut sel = Select::new();
/// for (_, r) in &chans {
///     sel.recv(r);
/// }
/// let oper = sel.select();
/// let i = oper.index();
/// assert_eq!(i, 2);
/// assert_eq!(oper.recv(&chans[i].1), Ok(20));
/// ```
pub struct Select<'a> {
    cases: Vec<Box<dyn Case + 'a>>,
    biased: bool,
}

/// The operation a [`Select`] completed: its index, and its outcome via
/// [`recv`](SelectedOperation::recv) or [`send`](SelectedOperation::send).
pub struct SelectedOperation<'s, 'a> {
    sel: &'s mut Select<'a>,
    index: usize,
}

impl<'a> Select<'a> {
    /// An empty select that picks fairly among ready operations.
    pub fn new() -> Select<'a> {
        Select {
            cases: Vec::new(),
            biased: false,
        }
    }

    /// An empty select that picks the first ready operation, in the order
    /// they were added.
    ///
    /// ```
    /// use goro::chan::{unbounded, Select};
    /// let (s1, r1) = unbounded();
    /// let (s2, r2) = unbounded();
    /// s1.send(1).unwrap();
    /// s2.send(2).unwrap();
    /// let mut sel = Select::new_biased();
    /// let first = sel.recv(&r1);
    /// sel.recv(&r2);
    /// assert_eq!(sel.select().index(), first);
    /// ```
    pub fn new_biased() -> Select<'a> {
        Select {
            cases: Vec::new(),
            biased: true,
        }
    }

    /// Adds a receive from `r`; returns its index.
    pub fn recv<T>(&mut self, r: &'a Receiver<T>) -> usize {
        self.push(Op::recv(r.channel()))
    }

    /// Adds a send of `msg` on `s`; returns its index.
    ///
    /// ```
    /// use goro::chan::{bounded, Select};
    /// let (s, r) = bounded(1);
    /// let mut sel = Select::new();
    /// let i = sel.send(&s, "hello");
    /// let oper = sel.select();
    /// assert_eq!(oper.index(), i);
    /// assert_eq!(oper.send(&s), Ok(()));
    /// assert_eq!(r.recv(), Ok("hello"));
    /// ```
    pub fn send<T>(&mut self, s: &'a Sender<T>, msg: T) -> usize {
        self.push(Op::send(s.channel(), msg))
    }

    fn push<T>(&mut self, op: Op<'a, T>) -> usize {
        self.cases.push(Box::new(op));
        self.cases.len() - 1
    }

    /// Waits until one operation completes. With no operations, blocks
    /// forever.
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        let index = self
            .run(Deadline::Never)
            .expect("a select without deadline completes");
        SelectedOperation { sel: self, index }
    }

    /// Completes an operation that is ready now, if any.
    ///
    /// ```
    /// use goro::chan::{unbounded, Select};
    /// let (_s, r) = unbounded::<i32>();
    /// let mut sel = Select::new();
    /// sel.recv(&r);
    /// assert!(sel.try_select().is_err());
    /// ```
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        match self.run(Deadline::Now) {
            Some(index) => Ok(SelectedOperation { sel: self, index }),
            None => Err(TrySelectError),
        }
    }

    /// Waits at most `timeout` for an operation to complete.
    ///
    /// ```
    /// use goro::chan::{after, Select};
    /// use std::time::Duration;
    /// let timer = after(Duration::from_millis(5));
    /// let mut sel = Select::new();
    /// sel.recv(&timer);
    /// assert!(sel.select_timeout(Duration::from_secs(10)).is_ok());
    /// ```
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(Deadline::after(timeout))
    }

    /// Waits until `deadline` at the latest for an operation to complete.
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(Deadline::At(deadline))
    }

    fn select_until(
        &mut self,
        deadline: Deadline,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(deadline) {
            Some(index) => Ok(SelectedOperation { sel: self, index }),
            None => Err(SelectTimeoutError),
        }
    }

    fn run(&mut self, deadline: Deadline) -> Option<usize> {
        // A reused select's receive cases still hold the last run's message.
        self.cases.iter().for_each(|case| case.reset());
        let arms: Vec<Arm<'_>> = self.cases.iter().map(|case| Arm(&**case)).collect();
        op::select(&arms, self.biased, deadline)
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .field("biased", &self.biased)
            .finish()
    }
}

impl SelectedOperation<'_, '_> {
    /// The index of the completed operation.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The message the completed receive got, or `RecvError` if its
    /// channel is closed and drained.
    ///
    /// # Panics
    /// If the completed operation is not a receive from `r`'s channel.
    pub fn recv<T>(self, r: &Receiver<T>) -> Result<T, RecvError> {
        take_msg(&mut *self.sel.cases[self.index], r.channel(), true).ok_or(RecvError)
    }

    /// The outcome of the completed send: `SendError` with the value if
    /// its channel is closed.
    ///
    /// # Panics
    /// If the completed operation is not a send on `s`'s channel.
    pub fn send<T>(self, s: &Sender<T>) -> Result<(), SendError<T>> {
        match take_msg(&mut *self.sel.cases[self.index], s.channel(), false) {
            None => Ok(()),
            Some(msg) => Err(SendError(msg)),
        }
    }
}

/// Takes the message out of `case`, checked to be a receive (`recv`) or
/// send on `chan`.
fn take_msg<'c, T>(case: &mut (dyn Case + '_), chan: &'c Channel<T>, recv: bool) -> Option<T> {
    assert!(
        case.channel_id() == chan as *const Channel<T> as usize && case.is_recv() == recv,
        "SelectedOperation: not the {} operation that was selected",
        if recv { "receive" } else { "send" }
    );
    let op = (case as *mut (dyn Case + '_)).cast::<Op<'c, T>>();
    // SAFETY: `Op` is the only implementor of `Case`, and this case is an
    // op on `chan` (checked above). The `Select` borrows the case's channel
    // for its whole life, so that channel is alive and is the one
    // allocation at its address: `chan`, a `Channel<T>`. So the case is an
    // `Op<'_, T>`; viewing its channel borrow as the shorter 'c is sound
    // (only the message is touched), and the borrow of the case is
    // exclusive.
    unsafe { (*op).take_msg() }
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

/// What `select!` expands to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use super::op::Arm;
    use super::*;
    pub use goro_macros::__select;

    /// A `recv(r) -> res` arm.
    pub struct RecvArm<'a, T>(Op<'a, T>);

    /// A `send(s, msg) -> res` arm; `msg` is evaluated upfront, as in Go.
    pub struct SendArm<'a, T>(Op<'a, T>);

    /// How long a `select!` waits.
    pub enum Mode {
        /// No `default` arm: until an operation completes.
        Block,
        /// `default =>`: not at all.
        Poll,
        /// `default(timeout) =>`: at most this long.
        Timeout(Duration),
    }

    impl<'a, T> RecvArm<'a, T> {
        /// A receive from `r`.
        pub fn new(r: &'a Receiver<T>) -> RecvArm<'a, T> {
            RecvArm(Op::recv(r.channel()))
        }

        /// The arm, for [`select`].
        pub fn arm(&self) -> Arm<'_> {
            Arm(&self.0)
        }

        /// The arm's outcome.
        pub fn into_result(self) -> Result<T, RecvError> {
            self.0.into_msg().ok_or(RecvError)
        }
    }

    impl<'a, T> SendArm<'a, T> {
        /// A send of `msg` on `s`.
        pub fn new(s: &'a Sender<T>, msg: T) -> SendArm<'a, T> {
            SendArm(Op::send(s.channel(), msg))
        }

        /// The arm, for [`select`].
        pub fn arm(&self) -> Arm<'_> {
            Arm(&self.0)
        }

        /// The arm's outcome.
        pub fn into_result(self) -> Result<(), SendError<T>> {
            self.0.into_msg().map_or(Ok(()), |msg| Err(SendError(msg)))
        }
    }

    /// Drops the arms that were not chosen (or all, for `default`).
    pub fn discard<T>(_arms: T) {}

    /// Completes one of `arms` and returns its index; `None` means the
    /// `default` arm.
    pub fn select(arms: &[Arm<'_>], biased: bool, mode: Mode) -> Option<usize> {
        let deadline = match mode {
            Mode::Block => Deadline::Never,
            Mode::Poll => Deadline::Now,
            Mode::Timeout(timeout) => Deadline::after(timeout),
        };
        op::select(arms, biased, deadline)
    }
}
