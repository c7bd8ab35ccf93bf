//! [`Select`]: a select over operations known only at run time (Go's
//! `reflect.Select`, with crossbeam-channel's API), and the support
//! `select!` expands to.
//!
//! # Design
//! Both run the engine in `op`. `select!` keeps each arm's [`Op`] in a
//! local of the expansion (no allocation) and takes every send's value
//! upfront, as Go does. `Select` boxes one case per operation, since their
//! message types differ, and has crossbeam's shape: a receive is completed
//! by the select, which keeps the message for
//! [`SelectedOperation::recv`]; a send is added without its value, so the
//! select finds that the channel can take one now, or is chosen by a
//! receiver while it waits among the senders (a `SendProbe`, see `op`),
//! and [`SelectedOperation::send`] sends it. [`Select::ready`] and its kin
//! only find a ready operation, and complete nothing: they wait as
//! watchers (see `op`).
//!
//! Getting a typed outcome back out of a type-erased case is checked by
//! channel identity: a case was made for one channel, a channel holds one
//! message type, and the `Select` borrows the channel for its whole life,
//! so a receive case whose channel is the caller's channel is an `Op` of
//! the caller's message type.

use super::channel::Channel;
use super::error::{
    ReadyTimeoutError, RecvError, SelectTimeoutError, SendError, TryReadyError, TrySelectError,
};
use super::op::{self, Arm, Case, Op, SendProbe};
use super::waiter::Deadline;
use super::{Receiver, Sender};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Selects over a list of send and receive operations built at run time:
/// what [`select!`](crate::select) does for a fixed list (Go's
/// `reflect.Select`), with crossbeam-channel's API.
///
/// When several operations are ready, one is chosen uniformly at random
/// (in order, for [`new_biased`](Select::new_biased)). A closed channel
/// counts as ready. A selected receive has already taken its message,
/// which [`SelectedOperation::recv`] hands over; a send is added without
/// its value, and once it is selected (the channel can take a value now)
/// [`SelectedOperation::send`] sends it. A `Select` may be run again.
///
/// A send case chosen by a receiver (it was waiting, and a receive took
/// it) hands its value straight to that receiver, which waits for it. One
/// difference from crossbeam-channel: a send case selected because it
/// found room, or a waiting receiver, does not hold that place until the
/// value comes, so [`SelectedOperation::send`] may then still wait if
/// another sender took it first.
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
    /// The cases by index; `None` once removed.
    cases: Vec<Option<Entry<'a>>>,
    biased: bool,
}

/// Makes a case afresh (for `Clone`): it only holds a borrow of a
/// channel of a `Send` message type, so it may be shared.
type Maker<'a> = Arc<dyn Fn() -> Box<dyn Case + 'a> + Send + Sync + 'a>;

// SAFETY: a `Select` owns its cases, and nothing else points at them
// between runs (a run unlinks every waiter before it returns); a case holds
// a borrow of a channel and maybe a received message, both of a message
// type that is `Send` (`recv` and `send` require it), and the makers are
// `Send + Sync`. So moving a `Select` to another thread is sound.
unsafe impl Send for Select<'_> {}
// SAFETY: through `&Select` only the number of cases is read (`Debug`) and
// the `Send + Sync` makers are called (`Clone`); the cases themselves are
// touched only through `&mut Select`.
unsafe impl Sync for Select<'_> {}

/// One case, and how to make it afresh (for `Clone`).
struct Entry<'a> {
    case: Box<dyn Case + 'a>,
    make: Maker<'a>,
}

/// The operation a [`Select`] chose: its index, and its outcome via
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
    pub fn recv<T: Send>(&mut self, r: &'a Receiver<T>) -> usize {
        let chan = r.channel();
        self.push(Arc::new(move || Box::new(Op::recv(chan))))
    }

    /// Adds a send on `s`, whose value is given to
    /// [`SelectedOperation::send`] once it is selected; returns its index.
    ///
    /// ```
    /// use goro::chan::{bounded, Select};
    /// let (s, r) = bounded(1);
    /// let mut sel = Select::new();
    /// let i = sel.send(&s);
    /// let oper = sel.select();
    /// assert_eq!(oper.index(), i);
    /// assert_eq!(oper.send(&s, "hello"), Ok(()));
    /// assert_eq!(r.recv(), Ok("hello"));
    /// ```
    pub fn send<T: Send>(&mut self, s: &'a Sender<T>) -> usize {
        let chan = s.channel();
        self.push(Arc::new(move || Box::new(SendProbe::new(chan))))
    }

    fn push(&mut self, make: Maker<'a>) -> usize {
        self.cases.push(Some(Entry { case: make(), make }));
        self.cases.len() - 1
    }

    /// Removes the operation with index `index`; the others keep theirs.
    ///
    /// # Panics
    /// If there is no such operation (never added, or removed already).
    ///
    /// ```
    /// use goro::chan::{unbounded, Select};
    /// let (s1, r1) = unbounded::<i32>();
    /// let (_s2, r2) = unbounded::<i32>();
    /// let mut sel = Select::new();
    /// let first = sel.recv(&r1);
    /// let second = sel.recv(&r2);
    /// sel.remove(first);
    /// s1.send(1).unwrap();
    /// assert!(sel.try_select().is_err());
    /// # let _ = second;
    /// ```
    pub fn remove(&mut self, index: usize) {
        let case = self.cases.get_mut(index).and_then(Option::take);
        assert!(case.is_some(), "no operation with this index");
    }

    /// Waits until one operation completes. With no operations, blocks
    /// forever.
    #[track_caller]
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
    #[track_caller]
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
    #[track_caller]
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(Deadline::after(timeout))
    }

    /// Waits until `deadline` at the latest for an operation to complete.
    #[track_caller]
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(Deadline::At(deadline))
    }

    #[track_caller]
    fn select_until(
        &mut self,
        deadline: Deadline,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(deadline) {
            Some(index) => Ok(SelectedOperation { sel: self, index }),
            None => Err(SelectTimeoutError),
        }
    }

    /// Waits until some operation could complete, and returns its index
    /// without completing it: the caller then runs it (a `try_recv` or
    /// `try_send`, which may find it no longer ready if another thread was
    /// quicker). With no operations, blocks forever.
    ///
    /// ```
    /// use goro::chan::{unbounded, Select};
    /// let (s, r) = unbounded();
    /// s.send(1).unwrap();
    /// let mut sel = Select::new();
    /// let i = sel.recv(&r);
    /// assert_eq!(sel.ready(), i);
    /// assert_eq!(r.try_recv(), Ok(1));
    /// ```
    #[track_caller]
    pub fn ready(&mut self) -> usize {
        self.find_ready(Deadline::Never)
            .expect("a ready without deadline finds one")
    }

    /// The index of an operation that could complete now, if any; see
    /// [`ready`](Select::ready).
    ///
    /// ```
    /// use goro::chan::{unbounded, Select};
    /// let (_s, r) = unbounded::<i32>();
    /// let mut sel = Select::new();
    /// sel.recv(&r);
    /// assert!(sel.try_ready().is_err());
    /// ```
    #[track_caller]
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.find_ready(Deadline::Now).ok_or(TryReadyError)
    }

    /// As [`ready`](Select::ready), waiting at most `timeout`.
    ///
    /// ```
    /// use goro::chan::{bounded, Select};
    /// use std::time::Duration;
    /// let (s, _r) = bounded::<i32>(1);
    /// let mut sel = Select::new();
    /// let i = sel.send(&s);
    /// assert_eq!(sel.ready_timeout(Duration::from_millis(5)), Ok(i));
    /// ```
    #[track_caller]
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        self.find_ready(Deadline::after(timeout))
            .ok_or(ReadyTimeoutError)
    }

    /// As [`ready`](Select::ready), waiting until `deadline` at the latest.
    #[track_caller]
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.find_ready(Deadline::At(deadline))
            .ok_or(ReadyTimeoutError)
    }

    /// The live cases as arms, and the index of each.
    fn arms(&self) -> (Vec<Arm<'_>>, Vec<usize>) {
        self.cases
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| entry.as_ref().map(|e| (Arm(&*e.case), i)))
            .unzip()
    }

    #[track_caller]
    fn run(&mut self, deadline: Deadline) -> Option<usize> {
        // A reused select's receive cases still hold the last run's message.
        self.cases.iter().flatten().for_each(|e| e.case.reset());
        let (arms, index) = self.arms();
        op::select(&arms, self.biased, deadline).map(|k| index[k])
    }

    #[track_caller]
    fn find_ready(&mut self, deadline: Deadline) -> Option<usize> {
        let (arms, index) = self.arms();
        op::ready(&arms, self.biased, deadline).map(|k| index[k])
    }
}

impl Clone for Select<'_> {
    /// The same operations, with the same indices.
    fn clone(&self) -> Self {
        let cases = self
            .cases
            .iter()
            .map(|entry| {
                entry.as_ref().map(|e| Entry {
                    case: (e.make)(),
                    make: e.make.clone(),
                })
            })
            .collect();
        Select {
            cases,
            biased: self.biased,
        }
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
            .field("cases", &self.cases.iter().flatten().count())
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
    #[track_caller]
    pub fn recv<T>(self, r: &Receiver<T>) -> Result<T, RecvError> {
        let case = self.sel.cases[self.index].as_mut().expect("selected");
        take_msg(&mut *case.case, r.channel()).ok_or(RecvError)
    }

    /// Sends `msg` on the selected send's channel, which could take it when
    /// it was selected: `SendError` with the value if the channel has been
    /// closed. Dropping a selected send instead leaves a receiver that
    /// chose it with nothing, as if the channel were closed.
    ///
    /// # Panics
    /// If the selected operation is not a send on `s`'s channel.
    #[track_caller]
    pub fn send<T>(self, s: &Sender<T>, msg: T) -> Result<(), SendError<T>> {
        let case = &*self.sel.cases[self.index].as_ref().expect("selected").case;
        let chan = s.channel();
        assert!(
            case.channel_id() == chan as *const Channel<T> as usize && !case.is_recv(),
            "SelectedOperation: not the send operation that was selected"
        );
        let probe = (case as *const (dyn Case + '_)).cast::<SendProbe<'_, T>>();
        // SAFETY: a `Select`'s only sending cases are `SendProbe`s, and this
        // one is on `chan` (checked above), which the `Select` borrows for
        // its whole life: so it is a `SendProbe<'_, T>`, as `take_msg`
        // argues for receives.
        match unsafe { (*probe).complete(msg) } {
            None => Ok(()),
            Some(msg) => Err(SendError(msg)),
        }
    }
}

impl Drop for SelectedOperation<'_, '_> {
    /// A selected send dropped without its value tells the receiver that
    /// chose it, if any, that none comes.
    fn drop(&mut self) {
        if let Some(entry) = &self.sel.cases[self.index] {
            entry.case.abandon();
        }
    }
}

/// Takes the message out of `case`, checked to be a receive on `chan`.
fn take_msg<'c, T>(case: &mut (dyn Case + '_), chan: &'c Channel<T>) -> Option<T> {
    assert!(
        case.channel_id() == chan as *const Channel<T> as usize && case.is_recv(),
        "SelectedOperation: not the receive operation that was selected"
    );
    let op = (case as *mut (dyn Case + '_)).cast::<Op<'c, T>>();
    // SAFETY: `Op` is the only implementor of `Case` that receives, and
    // this case is a receive on `chan` (checked above). The `Select`
    // borrows the case's channel for its whole life, so that channel is
    // alive and is the one allocation at its address: `chan`, a
    // `Channel<T>`. So the case is an `Op<'_, T>`; viewing its channel
    // borrow as the shorter 'c is sound (only the message is touched), and
    // the borrow of the case is exclusive.
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
    #[track_caller]
    pub fn select(arms: &[Arm<'_>], biased: bool, mode: Mode) -> Option<usize> {
        let deadline = match mode {
            Mode::Block => Deadline::Never,
            Mode::Poll => Deadline::Now,
            Mode::Timeout(timeout) => Deadline::after(timeout),
        };
        op::select(arms, biased, deadline)
    }
}
