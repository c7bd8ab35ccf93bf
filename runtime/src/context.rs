//! Go's `context` package: cancellation, deadlines and request-scoped
//! values carried across goroutines.
//!
//! A [`Context`] is a cheap handle (one `Arc`); pass it down by reference
//! and clone it into goroutines. Derive children with [`with_cancel`],
//! [`with_timeout`], [`with_deadline`] and [`with_value`]; cancelling a
//! context cancels every context derived from it, and a goroutine learns of
//! it by receiving from [`done`](Context::done) (in a
//! [`select!`](crate::select)) or by polling [`err`](Context::err).
//!
//! ```
//! use goro::context::{self, ContextError};
//! use goro::select;
//! use std::time::Duration;
//!
//! let (ctx, cancel) = context::with_timeout(&context::background(), Duration::from_secs(60));
//! let worker = {
//!     let ctx = ctx.clone();
//!     goro::go!(move || {
//!         let work = goro::chan::tick(Duration::from_millis(1));
//!         loop {
//!             select! {
//!                 recv(ctx.done()) -> _ => return ctx.err(),
//!                 recv(work) -> _ => {} // one more unit of work
//!             }
//!         }
//!     })
//! };
//! cancel.cancel();
//! assert_eq!(worker.join().unwrap(), Some(ContextError::Canceled));
//! ```
//!
//! | here | Go |
//! |---|---|
//! | [`background`], [`todo()`] | `context.Background`, `TODO` |
//! | [`with_cancel`] -> `(Context, CancelFunc)` | `context.WithCancel` |
//! | [`with_deadline`], [`with_timeout`] | `WithDeadline`, `WithTimeout` |
//! | [`with_value`], [`Context::value`] | `WithValue`, `ctx.Value` |
//! | [`without_cancel`] | `WithoutCancel` |
//! | [`after_func`] | `AfterFunc` |
//! | [`Context::done`], [`err`](Context::err), [`deadline`](Context::deadline) | `Done`, `Err`, `Deadline` |
//! | [`ContextError::Canceled`], [`DeadlineExceeded`](ContextError::DeadlineExceeded) | `Canceled`, `DeadlineExceeded` |
//!
//! As in Go, dropping a [`CancelFunc`] does not cancel: call
//! [`cancel`](CancelFunc::cancel) when the work is over (typically right
//! after the call that used the context). Until it is cancelled, a child is
//! referenced by its parent, and a deadline context by its timer.
//!
//! # Design
//! A context is a chain of immutable `Node`s (each holds its parent, for
//! value lookups) sharing a `Scope` per cancellable context (Go's
//! `cancelCtx`): a value node or a `without_cancel` node has no scope of its
//! own and points to its parent's scope (or to none). A scope has:
//! - `done`, an unbuffered channel that is never sent on and is closed by
//!   the cancellation; it counts a phantom sender so it closes for no other
//!   reason (see `time::open_channel`);
//! - `err`, written once, before `done` closes;
//! - under a `std::sync::Mutex` (cancellation may run in a timer callback on
//!   a worker's scheduler stack, where a lock that parks is not allowed;
//!   the lock is held for a few instructions and never across anything that
//!   blocks): the children to cancel with it (scopes and `after_func`
//!   callbacks, keyed by a unique id) and the deadline timer;
//! - a weak link to the parent's scope, to take itself off the parent's
//!   children when cancelled on its own, so a long-lived parent does not
//!   accumulate cancelled children.
//!
//! Cancellation marks the scope, takes its children and its timer under its
//! lock, releases it, cancels the timer, closes `done`, detaches from the
//! parent, then cancels the children the same way, iteratively (a worklist,
//! not recursion, so a deep chain cannot overflow a goroutine stack), with
//! the same error (Go's rule). No two scope locks are ever held at once:
//! registering a child locks only the parent, cancelling locks only the
//! scope being cancelled, detaching only the parent. A child registered
//! while its parent is being cancelled either is in the children taken, or
//! sees the parent's error under the parent's lock and cancels itself.
//!
//! A deadline context arms one runtime timer (a heap entry, no thread) that
//! cancels it with [`ContextError::DeadlineExceeded`]; an earlier
//! cancellation cancels that timer. A child whose deadline is not earlier
//! than its parent's is a plain cancel context: the parent's timer governs
//! it.
//!
//! # Invariants
//! - `err` goes from none to set exactly once, under the scope lock, and
//!   before `done` is closed: a goroutine woken by `done` always sees it.
//! - Once `err` is set the scope has no children and no timer, and never
//!   gets any (registration checks `err` under the same lock).
//!
//! # Orderings
//! `err` is stored with `Release` and read with `Acquire` so that `err()`
//! needs no lock and whoever sees the error also sees everything the
//! canceller did before cancelling (the channel's lock gives the same to
//! those woken through `done`). Child ids come from a `Relaxed` counter:
//! only their uniqueness matters. An [`after_func`] callback's flag is
//! claimed by a `Relaxed` swap, by the cancellation (to run it) or by
//! [`AfterFuncStop::stop`]: a read-modify-write on one atomic has exactly one
//! winner, and the callback itself travels under the scope lock.

use crate::chan::{never, Receiver, Sender};
use crate::time::{later, open_channel};
use crate::timers::Callback;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Why a context ended: Go's `context.Canceled` and
/// `context.DeadlineExceeded`.
///
/// ```
/// use goro::context::ContextError;
/// assert_eq!(ContextError::Canceled.to_string(), "context canceled");
/// assert_eq!(ContextError::DeadlineExceeded.to_string(), "context deadline exceeded");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextError {
    /// A [`CancelFunc`] of the context or of an ancestor was called.
    Canceled,
    /// The deadline of the context or of an ancestor passed.
    DeadlineExceeded,
}

impl ContextError {
    /// Whether this is [`DeadlineExceeded`](ContextError::DeadlineExceeded)
    /// (Go's `Timeout()` on that error).
    ///
    /// ```
    /// assert!(goro::context::ContextError::DeadlineExceeded.is_timeout());
    /// ```
    pub fn is_timeout(self) -> bool {
        self == ContextError::DeadlineExceeded
    }

    fn code(self) -> u8 {
        match self {
            ContextError::Canceled => CANCELED,
            ContextError::DeadlineExceeded => DEADLINE_EXCEEDED,
        }
    }

    fn from_code(code: u8) -> Option<ContextError> {
        match code {
            CANCELED => Some(ContextError::Canceled),
            DEADLINE_EXCEEDED => Some(ContextError::DeadlineExceeded),
            _ => None,
        }
    }
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

const LIVE: u8 = 0;
const CANCELED: u8 = 1;
const DEADLINE_EXCEEDED: u8 = 2;

/// Carries cancellation, a deadline and values across goroutines, as Go's
/// `context.Context`. Cloning is cheap (one `Arc`) and clones are the same
/// context. Made by [`background`] and the `with_*` functions.
///
/// ```
/// use goro::context;
///
/// let (ctx, cancel) = context::with_cancel(&context::background());
/// assert_eq!(ctx.err(), None);
/// cancel.cancel();
/// assert!(ctx.done().recv().is_err()); // closed
/// assert_eq!(ctx.err(), Some(context::ContextError::Canceled));
/// ```
#[derive(Clone)]
pub struct Context(Arc<Node>);

struct Node {
    /// For value lookups; `None` for the background context.
    parent: Option<Context>,
    /// The nearest cancellable context's scope (this node's own, or an
    /// ancestor's); `None` if nothing above can be cancelled.
    scope: Option<Arc<Scope>>,
    /// The key and value of a [`with_value`] node.
    value: Option<Entry>,
}

/// A [`with_value`] key and value.
type Entry = (Box<dyn Any + Send + Sync>, Box<dyn Any + Send + Sync>);

impl Context {
    /// A channel that is closed when the context is cancelled or its
    /// deadline passes (Go's `Done`). Nothing is ever sent on it; for a
    /// context that can never end (such as [`background`]) it never
    /// closes. Receive from it in a [`select!`](crate::select).
    ///
    /// ```
    /// use goro::{context, select};
    /// use std::time::Duration;
    ///
    /// let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(5));
    /// select! {
    ///     recv(ctx.done()) -> _ => assert!(ctx.err().is_some()),
    ///     recv(goro::chan::after(Duration::from_secs(3600))) -> _ => unreachable!(),
    /// }
    /// ```
    pub fn done(&self) -> Receiver<()> {
        match &self.0.scope {
            Some(scope) => scope.done_rx.clone(),
            None => never_done(),
        }
    }

    /// Why the context ended, or `None` while it has not (Go's `Err`). Once
    /// [`done`](Context::done) is closed this is `Some`, and never changes
    /// again.
    ///
    /// ```
    /// use goro::context::{self, ContextError};
    /// let (ctx, cancel) = context::with_cancel(&context::background());
    /// cancel.cancel();
    /// assert_eq!(ctx.err(), Some(ContextError::Canceled));
    /// ```
    pub fn err(&self) -> Option<ContextError> {
        self.0.scope.as_ref().and_then(|s| s.err())
    }

    /// When the context will be cancelled for its deadline, or its
    /// nearest ancestor's, if any (Go's `Deadline`).
    ///
    /// ```
    /// use goro::context;
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(60);
    /// let (ctx, _cancel) = context::with_deadline(&context::background(), at);
    /// assert_eq!(ctx.deadline(), Some(at));
    /// assert_eq!(context::background().deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.0.scope.as_ref().and_then(|s| s.deadline)
    }

    /// The value stored under `key` by the nearest [`with_value`] on the
    /// way up, if that value is a `V` (Go's `Value` with a type assertion).
    /// Keys match when they have the same type and compare equal; a private
    /// key type (`struct UserKey;`) cannot collide with anybody else's.
    ///
    /// ```
    /// use goro::context;
    ///
    /// #[derive(PartialEq)]
    /// struct UserKey;
    ///
    /// let ctx = context::with_value(&context::background(), UserKey, String::from("gopher"));
    /// let (child, _cancel) = context::with_cancel(&ctx);
    /// assert_eq!(child.value::<String, _>(&UserKey).map(String::as_str), Some("gopher"));
    /// assert_eq!(child.value::<u32, _>(&UserKey), None);
    /// assert_eq!(context::background().value::<String, _>(&UserKey), None);
    /// ```
    pub fn value<V: Any, K: Any + PartialEq>(&self, key: &K) -> Option<&V> {
        let mut node = &self.0;
        loop {
            if let Some((k, v)) = &node.value {
                if k.downcast_ref::<K>() == Some(key) {
                    return v.downcast_ref::<V>();
                }
            }
            node = &node.parent.as_ref()?.0;
        }
    }

    fn derive(&self, scope: Option<Arc<Scope>>, value: Option<Entry>) -> Context {
        Context(Arc::new(Node {
            parent: Some(self.clone()),
            scope,
            value,
        }))
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("deadline", &self.deadline())
            .field("err", &self.err())
            .finish_non_exhaustive()
    }
}

/// The root context: never cancelled, no deadline, no values (Go's
/// `context.Background`). Every call returns the same context.
///
/// ```
/// let ctx = goro::context::background();
/// assert_eq!(ctx.err(), None);
/// assert!(ctx.done().try_recv().is_err()); // empty, and never closed
/// ```
pub fn background() -> Context {
    static BACKGROUND: OnceLock<Context> = OnceLock::new();
    BACKGROUND
        .get_or_init(|| {
            Context(Arc::new(Node {
                parent: None,
                scope: None,
                value: None,
            }))
        })
        .clone()
}

/// The same as [`background`], for code that has not decided which context
/// to use yet (Go's `context.TODO`).
///
/// ```
/// assert_eq!(goro::context::todo().err(), None);
/// ```
pub fn todo() -> Context {
    background()
}

/// The `done` channel of contexts that never end: one shared channel.
fn never_done() -> Receiver<()> {
    static NEVER: OnceLock<Receiver<()>> = OnceLock::new();
    NEVER.get_or_init(never).clone()
}

/// Cancels the context it came with, and every context derived from that
/// one (Go's `context.CancelFunc`). Cancelling again is a no-op. Clone it
/// to cancel from several places.
///
/// Dropping it does *not* cancel, as in Go: call [`cancel`](CancelFunc::cancel)
/// once the work is over, or the context stays registered with its parent
/// (and a deadline context's timer stays armed) until the parent is
/// cancelled or the deadline passes.
#[derive(Clone)]
pub struct CancelFunc(Arc<Scope>);

impl CancelFunc {
    /// Cancels the context with [`ContextError::Canceled`] (a no-op if it
    /// has already ended): closes its `done`, cancels its descendants, stops
    /// its timer and detaches it from its parent.
    ///
    /// ```
    /// use goro::context::{self, ContextError};
    /// let (ctx, cancel) = context::with_cancel(&context::background());
    /// cancel.cancel();
    /// cancel.cancel(); // no-op
    /// assert_eq!(ctx.err(), Some(ContextError::Canceled));
    /// ```
    pub fn cancel(&self) {
        cancel(&self.0, ContextError::Canceled);
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("CancelFunc { .. }")
    }
}

/// A child of `parent` that is cancelled when `parent` is, or when the
/// returned [`CancelFunc`] is called (Go's `context.WithCancel`).
///
/// ```
/// use goro::context;
/// let (parent, cancel_parent) = context::with_cancel(&context::background());
/// let (child, _cancel_child) = context::with_cancel(&parent);
/// cancel_parent.cancel();
/// assert!(child.done().recv().is_err());
/// assert_eq!(child.err(), Some(context::ContextError::Canceled));
/// ```
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    let scope = Scope::new(parent, parent.deadline());
    (parent.derive(Some(scope.clone()), None), CancelFunc(scope))
}

/// A child of `parent` that is also cancelled, with
/// [`ContextError::DeadlineExceeded`], at `deadline` (Go's
/// `context.WithDeadline`). If `parent`'s deadline is earlier this is just
/// [`with_cancel`]. A past deadline gives a context that has already ended.
/// Uses one runtime timer (no thread), cancelled with the context.
///
/// ```
/// use goro::context::{self, ContextError};
/// use std::time::{Duration, Instant};
/// let at = Instant::now() + Duration::from_millis(5);
/// let (ctx, _cancel) = context::with_deadline(&context::background(), at);
/// assert!(ctx.done().recv().is_err());
/// assert!(Instant::now() >= at);
/// assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
/// ```
pub fn with_deadline(parent: &Context, deadline: Instant) -> (Context, CancelFunc) {
    if parent.deadline().is_some_and(|d| d <= deadline) {
        return with_cancel(parent);
    }
    let scope = Scope::new(parent, Some(deadline));
    scope.arm(deadline);
    (parent.derive(Some(scope.clone()), None), CancelFunc(scope))
}

/// [`with_deadline`] at `timeout` from now (Go's `context.WithTimeout`).
///
/// ```
/// use goro::context::{self, ContextError};
/// use std::time::Duration;
/// let (ctx, cancel) = context::with_timeout(&context::background(), Duration::from_millis(5));
/// ctx.done().recv().unwrap_err();
/// assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
/// cancel.cancel(); // too late to change the error
/// assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
/// ```
pub fn with_timeout(parent: &Context, timeout: Duration) -> (Context, CancelFunc) {
    with_deadline(parent, later(Instant::now(), timeout))
}

/// A child of `parent` that carries `value` under `key` (Go's
/// `context.WithValue`); see [`Context::value`]. It is cancelled with its
/// parent and has its parent's deadline.
///
/// ```
/// use goro::context;
/// let ctx = context::with_value(&context::background(), "request-id", 42u64);
/// assert_eq!(ctx.value::<u64, _>(&"request-id"), Some(&42));
/// ```
pub fn with_value<K, V>(parent: &Context, key: K, value: V) -> Context
where
    K: Any + PartialEq + Send + Sync,
    V: Any + Send + Sync,
{
    parent.derive(
        parent.0.scope.clone(),
        Some((Box::new(key), Box::new(value))),
    )
}

/// A child of `parent` that keeps its values but is never cancelled and has
/// no deadline (Go's `context.WithoutCancel`), for work that must outlive
/// the request that started it.
///
/// ```
/// use goro::context;
/// let (ctx, cancel) = context::with_cancel(&context::with_value(&context::background(), 1u8, "v"));
/// let detached = context::without_cancel(&ctx);
/// cancel.cancel();
/// assert_eq!(detached.err(), None);
/// assert_eq!(detached.value::<&str, _>(&1u8), Some(&"v"));
/// ```
pub fn without_cancel(parent: &Context) -> Context {
    parent.derive(None, None)
}

/// Runs `f` in its own goroutine once `ctx` ends (at once if it already
/// has), as Go's `context.AfterFunc`. The returned [`AfterFuncStop`] calls
/// it off. Nothing runs and nothing waits until then: `f` is kept in the
/// context's list of children.
///
/// ```
/// use goro::context;
///
/// let (ctx, cancel) = context::with_cancel(&context::background());
/// let (tx, rx) = goro::chan::bounded(1);
/// context::after_func(&ctx, move || tx.send("cleaned up").unwrap());
/// let stop = context::after_func(&ctx, || unreachable!());
/// assert!(stop.stop());
/// cancel.cancel();
/// assert_eq!(rx.recv(), Ok("cleaned up"));
/// ```
pub fn after_func<F>(ctx: &Context, f: F) -> AfterFuncStop
where
    F: FnOnce() + Send + 'static,
{
    let stop = AfterFuncStop {
        scope: ctx.0.scope.as_ref().map_or_else(Weak::new, Arc::downgrade),
        id: next_id(),
        claimed: Arc::new(AtomicBool::new(false)),
    };
    if let Some(scope) = &ctx.0.scope {
        scope.adopt(stop.id, Child::Func(stop.claimed.clone(), Box::new(f)));
    }
    stop
}

/// Calls off an [`after_func`]; made by it.
pub struct AfterFuncStop {
    scope: Weak<Scope>,
    id: u64,
    /// Set by whichever comes first: the run or the stop.
    claimed: Arc<AtomicBool>,
}

impl AfterFuncStop {
    /// Unregisters the function. Returns true if that kept it from running;
    /// false if the context has already ended and it was started, or if it
    /// was already stopped (Go's `stop`).
    ///
    /// ```
    /// use goro::context;
    /// let (ctx, cancel) = context::with_cancel(&context::background());
    /// let stop = context::after_func(&ctx, || {});
    /// cancel.cancel();
    /// assert!(!stop.stop());
    /// ```
    pub fn stop(&self) -> bool {
        if let Some(scope) = self.scope.upgrade() {
            scope.lock().children.remove(&self.id);
        }
        !self.claimed.swap(true, Ordering::Relaxed)
    }
}

impl fmt::Debug for AfterFuncStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("AfterFuncStop { .. }")
    }
}

impl Drop for Node {
    /// Drops the chain of parents iteratively: a context derived a hundred
    /// thousand times must not overflow a goroutine stack when dropped.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(Context(node)) = next {
            next = Arc::try_unwrap(node).ok().and_then(|mut n| n.parent.take());
        }
    }
}

/// The cancellation state of one cancellable context; see the module note.
struct Scope {
    /// Key in the parent's children.
    id: u64,
    deadline: Option<Instant>,
    /// `LIVE`, `CANCELED` or `DEADLINE_EXCEEDED`; set once.
    err: AtomicU8,
    done_tx: Sender<()>,
    done_rx: Receiver<()>,
    parent: Weak<Scope>,
    state: Mutex<ScopeState>,
}

#[derive(Default)]
struct ScopeState {
    children: HashMap<u64, Child>,
    timer: Option<Callback>,
}

impl Drop for ScopeState {
    /// Drops never-cancelled descendants iteratively, as `Node`'s drop.
    fn drop(&mut self) {
        let mut work: Vec<Child> = self.children.drain().map(|(_, c)| c).collect();
        while let Some(child) = work.pop() {
            if let Child::Scope(scope) = child {
                if let Ok(scope) = Arc::try_unwrap(scope) {
                    work.extend(scope.lock().children.drain().map(|(_, c)| c));
                }
            }
        }
    }
}

/// What a scope cancels along with itself.
enum Child {
    Scope(Arc<Scope>),
    /// An [`after_func`] callback and its run-or-stop flag.
    Func(Arc<AtomicBool>, Box<dyn FnOnce() + Send>),
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Scope {
    /// A scope under `parent`'s, registered as its child (or cancelled at
    /// once if the parent has ended).
    fn new(parent: &Context, deadline: Option<Instant>) -> Arc<Scope> {
        let above = parent.0.scope.as_ref();
        let (done_tx, done_rx) = open_channel(0);
        let scope = Arc::new(Scope {
            id: next_id(),
            deadline,
            err: AtomicU8::new(LIVE),
            done_tx,
            done_rx,
            parent: above.map_or_else(Weak::new, Arc::downgrade),
            state: Mutex::new(ScopeState::default()),
        });
        if let Some(above) = above {
            above.adopt(scope.id, Child::Scope(scope.clone()));
        }
        scope
    }

    fn lock(&self) -> MutexGuard<'_, ScopeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self) -> Option<ContextError> {
        ContextError::from_code(self.err.load(Ordering::Acquire))
    }

    /// Registers `child` to be ended with this scope, or, if the scope has
    /// ended, ends it now (it is new, so it has no children of its own).
    fn adopt(&self, id: u64, child: Child) {
        let mut state = self.lock();
        let Some(err) = self.err() else {
            state.children.insert(id, child);
            return;
        };
        drop(state);
        end(child, err, &mut Vec::new());
    }

    /// Arms the timer that cancels the scope at `deadline`.
    fn arm(self: &Arc<Scope>, deadline: Instant) {
        if Instant::now() >= deadline {
            return cancel(self, ContextError::DeadlineExceeded);
        }
        let mut state = self.lock();
        if self.err().is_none() {
            let me = self.clone();
            let fire = move || cancel(&me, ContextError::DeadlineExceeded);
            state.timer = Some(Callback::call_at(deadline, fire));
        }
    }

    /// Ends this scope alone with `err`, unless it has already ended, and
    /// returns its children (to be ended too).
    fn finish(&self, err: ContextError) -> Option<HashMap<u64, Child>> {
        let mut state = self.lock();
        if self.err().is_some() {
            return None;
        }
        self.err.store(err.code(), Ordering::Release);
        let children = std::mem::take(&mut state.children);
        let timer = state.timer.take();
        drop(state);
        if let Some(timer) = timer {
            timer.cancel();
        }
        self.done_tx.close();
        Some(children)
    }

    /// Takes this scope off its parent's children.
    fn detach(&self) {
        if let Some(parent) = self.parent.upgrade() {
            parent.lock().children.remove(&self.id);
        }
    }
}

/// Cancels `scope` and everything below it with `err`; see the module note.
fn cancel(scope: &Arc<Scope>, err: ContextError) {
    let Some(children) = scope.finish(err) else {
        return;
    };
    scope.detach();
    let mut work: Vec<Child> = children.into_values().collect();
    while let Some(child) = work.pop() {
        end(child, err, &mut work);
    }
}

/// Ends one child with `err`, pushing its own children onto `work`.
fn end(child: Child, err: ContextError, work: &mut Vec<Child>) {
    match child {
        Child::Scope(scope) => {
            if let Some(children) = scope.finish(err) {
                work.extend(children.into_values());
            }
        }
        Child::Func(claimed, f) => {
            if !claimed.swap(true, Ordering::Relaxed) {
                crate::spawn(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(ctx: &Context) -> usize {
        ctx.0.scope.as_ref().unwrap().lock().children.len()
    }

    #[test]
    fn cancelled_children_leave_their_parent() {
        let (parent, cancel_parent) = with_cancel(&background());
        let value = with_value(&parent, 1u8, 1u8);
        for _ in 0..1000 {
            let (_child, cancel) = with_timeout(&value, Duration::from_secs(3600));
            cancel.cancel();
        }
        assert_eq!(children(&parent), 0);
        let (_kept, _cancel) = with_cancel(&value);
        assert_eq!(children(&parent), 1);
        cancel_parent.cancel();
        assert_eq!(children(&parent), 0);
    }

    #[test]
    fn an_early_cancel_disarms_the_deadline_timer() {
        let (ctx, cancel) = with_timeout(&background(), Duration::from_secs(3600));
        let scope = ctx.0.scope.clone().unwrap();
        assert!(scope.lock().timer.is_some());
        cancel.cancel();
        assert!(scope.lock().timer.is_none());
        // The timer's callback held the scope: only ours are left.
        assert_eq!(Arc::strong_count(&scope), 3);
    }

    #[test]
    fn a_stopped_after_func_leaves_the_context() {
        let (ctx, _cancel) = with_cancel(&background());
        let stop = after_func(&ctx, || {});
        assert_eq!(children(&ctx), 1);
        assert!(stop.stop());
        assert_eq!(children(&ctx), 0);
    }
}
