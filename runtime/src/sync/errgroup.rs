//! [`ErrGroup`]: Go's `golang.org/x/sync/errgroup.Group`.
//!
//! # Design
//! A group is an `Arc` around:
//! - a [`WaitGroup`] counting the goroutines started and not finished;
//! - the first error, and the first panic payload, each in a
//!   `std::sync::Mutex` held for a store or a take, never across a wait;
//! - the cancel function of the context made by
//!   [`with_context`](ErrGroup::with_context), called on the first error
//!   and by [`wait`](ErrGroup::wait), as Go does;
//! - the limit, as Go implements it: a buffered channel of that capacity
//!   into which [`go`](ErrGroup::go) sends a token before it spawns (so it
//!   waits for room) and out of which the finishing goroutine takes one.
//!   The channel is behind a `std::sync::Mutex` only so that
//!   [`set_limit`](ErrGroup::set_limit) can swap it; `go` clones the
//!   handles out under the lock and waits with it released.
//!
//! A goroutine of the group that panics does not take the process down:
//! its payload is kept, and `wait` resumes the first one once every
//! goroutine has finished (newer versions of Go's errgroup do the same).
//!
//! # Orderings
//! None of its own: the wait group orders every goroutine's stores of an
//! error or a panic before `wait` returns, and the mutexes order the rest.

use crate::chan::{self, Receiver, Sender};
use crate::context::{self, CancelFunc, Context};
use crate::sync::WaitGroup;
use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

/// A group of goroutines working on subtasks of one task, as Go's
/// `errgroup.Group`: [`wait`](ErrGroup::wait) waits for all of them and
/// returns the first error any returned.
///
/// Clones share the group (Go passes `*errgroup.Group`), so a goroutine of
/// the group can start more.
///
/// ```
/// use goro::sync::ErrGroup;
///
/// let g = ErrGroup::new();
/// for i in 0..10 {
///     g.go(move || if i == 7 { Err(format!("task {i} failed")) } else { Ok(()) });
/// }
/// assert_eq!(g.wait(), Err("task 7 failed".to_string()));
/// ```
pub struct ErrGroup<E> {
    inner: Arc<Inner<E>>,
}

struct Inner<E> {
    running: WaitGroup,
    first_error: Mutex<Option<E>>,
    panic: Mutex<Option<Box<dyn Any + Send + 'static>>>,
    cancel: Option<CancelFunc>,
    limit: Mutex<Option<(Sender<()>, Receiver<()>)>>,
}

/// Locks a mutex that nobody ever panics under.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<E: Send + 'static> ErrGroup<E> {
    /// An empty group with no limit and no context.
    ///
    /// ```
    /// let g = goro::sync::ErrGroup::<std::io::Error>::new();
    /// assert!(g.wait().is_ok());
    /// ```
    pub fn new() -> ErrGroup<E> {
        ErrGroup::with_cancel(None)
    }

    /// A group and a context derived from `parent` that is cancelled the
    /// first time a goroutine of the group returns an error, or when
    /// [`wait`](ErrGroup::wait) returns, whichever comes first (Go's
    /// `errgroup.WithContext`).
    ///
    /// ```
    /// use goro::context::{self, ContextError};
    /// use goro::sync::ErrGroup;
    ///
    /// let (g, ctx) = ErrGroup::with_context(&context::background());
    /// let waiter = ctx.clone();
    /// g.go(move || {
    ///     let _ = waiter.done().recv(); // waits for the cancellation
    ///     Ok(())
    /// });
    /// g.go(|| Err("boom"));
    /// assert_eq!(g.wait(), Err("boom"));
    /// assert_eq!(ctx.err(), Some(ContextError::Canceled));
    /// ```
    pub fn with_context(parent: &Context) -> (ErrGroup<E>, Context) {
        let (ctx, cancel) = context::with_cancel(parent);
        (ErrGroup::with_cancel(Some(cancel)), ctx)
    }

    fn with_cancel(cancel: Option<CancelFunc>) -> ErrGroup<E> {
        ErrGroup {
            inner: Arc::new(Inner {
                running: WaitGroup::new(),
                first_error: Mutex::new(None),
                panic: Mutex::new(None),
                cancel,
                limit: Mutex::new(None),
            }),
        }
    }

    /// Runs `f` in a new goroutine. The first error any `f` returns is
    /// kept for [`wait`](ErrGroup::wait) and cancels the group's context.
    /// With a limit set, first waits (parking a goroutine, blocking a
    /// thread) until fewer than the limit of the group's goroutines run.
    ///
    /// # Panics
    /// If no stack can be had for the goroutine, as [`spawn`](crate::spawn).
    ///
    /// ```
    /// let g = goro::sync::ErrGroup::<()>::new();
    /// g.go(|| Ok(()));
    /// assert_eq!(g.wait(), Ok(()));
    /// ```
    #[track_caller]
    pub fn go<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let token = self.limit_handles();
        if let Some((tx, _)) = &token {
            // The group holds a receiver, so this only waits for room.
            let _ = tx.send(());
        }
        self.spawn(f, token.map(|(_, rx)| rx));
    }

    /// Runs `f` in a new goroutine if the limit allows one more now;
    /// returns whether it did (Go's `TryGo`).
    ///
    /// ```
    /// let g = goro::sync::ErrGroup::<()>::new();
    /// g.set_limit(0);
    /// assert!(!g.try_go(|| Ok(())));
    /// g.set_limit(1);
    /// assert!(g.try_go(|| Ok(())));
    /// assert_eq!(g.wait(), Ok(()));
    /// ```
    #[track_caller]
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let token = self.limit_handles();
        if let Some((tx, _)) = &token {
            if tx.try_send(()).is_err() {
                return false;
            }
        }
        self.spawn(f, token.map(|(_, rx)| rx));
        true
    }

    fn limit_handles(&self) -> Option<(Sender<()>, Receiver<()>)> {
        lock(&self.inner.limit).clone()
    }

    #[track_caller]
    fn spawn<F>(&self, f: F, token: Option<Receiver<()>>)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        self.inner.running.add(1);
        let inner = self.inner.clone();
        let spawned = crate::Builder::new().spawn(move || {
            match catch_unwind(AssertUnwindSafe(f)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => inner.fail(e),
                Err(payload) => {
                    let mut slot = lock(&inner.panic);
                    if slot.is_none() {
                        *slot = Some(payload);
                    }
                }
            }
            if let Some(token) = token {
                let _ = token.try_recv();
            }
            inner.running.done();
        });
        if let Err(e) = spawned {
            self.inner.running.done();
            panic!("goro::sync::ErrGroup::go: {e}");
        }
    }

    /// Waits for every goroutine started with [`go`](ErrGroup::go), then
    /// cancels the group's context and returns the first error (taking it:
    /// a later `wait` returns `Ok` unless a new error came). If a goroutine
    /// panicked, resumes the first such panic instead.
    ///
    /// ```
    /// let g = goro::sync::ErrGroup::new();
    /// g.go(|| Err(1));
    /// g.go(|| Err(2));
    /// assert!(matches!(g.wait(), Err(1 | 2)));
    /// ```
    #[track_caller]
    pub fn wait(&self) -> Result<(), E> {
        self.inner.running.wait();
        if let Some(cancel) = &self.inner.cancel {
            cancel.cancel();
        }
        if let Some(payload) = lock(&self.inner.panic).take() {
            resume_unwind(payload);
        }
        match lock(&self.inner.first_error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Limits how many of the group's goroutines run at once to `n`; then
    /// [`go`](ErrGroup::go) waits for one to finish when `n` run. With
    /// `n == 0`, `go` waits for good; a negative `n` removes the limit, as
    /// in Go (`n` is any integer type).
    ///
    /// # Panics
    /// If goroutines of the group started under an earlier limit are still
    /// running (Go panics too).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let g = goro::sync::ErrGroup::<()>::new();
    /// g.set_limit(2);
    /// let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// for _ in 0..10 {
    ///     let (now, most) = (now.clone(), most.clone());
    ///     g.go(move || {
    ///         let n = now.fetch_add(1, Ordering::SeqCst) + 1;
    ///         most.fetch_max(n, Ordering::SeqCst);
    ///         goro::yield_now();
    ///         now.fetch_sub(1, Ordering::SeqCst);
    ///         Ok(())
    ///     });
    /// }
    /// g.wait().unwrap();
    /// assert!(most.load(Ordering::SeqCst) <= 2);
    /// ```
    pub fn set_limit<N: TryInto<usize>>(&self, n: N) {
        let mut limit = lock(&self.inner.limit);
        if let Some((tx, _)) = &*limit {
            let active = tx.len();
            assert!(
                active == 0,
                "errgroup: modify limit while {active} goroutines in the group are still active"
            );
        }
        *limit = n.try_into().ok().map(chan::bounded);
    }

    /// Removes the limit: [`go`](ErrGroup::go) never waits (as
    /// `set_limit(-1)`).
    ///
    /// # Panics
    /// As [`set_limit`](ErrGroup::set_limit).
    pub fn clear_limit(&self) {
        self.set_limit(-1);
    }
}

impl<E> Inner<E> {
    /// Keeps `e` if it is the first error, and cancels the context.
    fn fail(&self, e: E) {
        let mut first = lock(&self.first_error);
        if first.is_none() {
            *first = Some(e);
            drop(first);
            if let Some(cancel) = &self.cancel {
                cancel.cancel();
            }
        }
    }
}

impl<E: Send + 'static> Default for ErrGroup<E> {
    fn default() -> ErrGroup<E> {
        ErrGroup::new()
    }
}

impl<E> Clone for ErrGroup<E> {
    /// Another handle to the same group.
    fn clone(&self) -> ErrGroup<E> {
        ErrGroup {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for ErrGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("ErrGroup { .. }")
    }
}
