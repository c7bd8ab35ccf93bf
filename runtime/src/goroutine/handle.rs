//! The public face of a goroutine: [`spawn`], [`Builder`], [`JoinHandle`]
//! and [`GoroutineId`].

use super::*;

/// An owned permission to join a goroutine (wait for it and take its result).
///
/// Dropping the handle detaches the goroutine: it runs on, and its result is
/// dropped when it finishes.
pub struct JoinHandle<T> {
    pub(super) g: GRef,
    _result: PhantomData<fn() -> T>,
}

impl<T: 'static> JoinHandle<T> {
    /// Waits for the goroutine to finish and returns its result, or the
    /// payload of its panic. Parks a calling goroutine; blocks a calling
    /// thread.
    ///
    /// ```
    /// let h = goro::spawn(|| 6 * 7);
    /// assert_eq!(h.join().unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        let g = &self.g;
        if self.take_back_joiner() {
            // SAFETY: only the handle's owner writes `joiner`, and only
            // before publishing JOINING; the finisher reads it after.
            unsafe { *g.joiner.get() = Some(Unparker::current()) };
            if g.join_state
                .compare_exchange(UNJOINED, JOINING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                while g.join_state.load(Ordering::Acquire) != DONE {
                    crate::park::park(WaitReason::Join.here());
                }
            }
        }
        self.take_result()
    }

    /// The result, once `DONE` was observed with `Acquire`.
    fn take_result(&self) -> std::thread::Result<T> {
        // SAFETY: DONE was observed with Acquire: the goroutine has stored
        // its result and never touches its body again; the handle's owner
        // alone takes it.
        let slot = unsafe { (*self.g.body.get()).result() };
        slot.downcast_mut::<Option<std::thread::Result<T>>>()
            .expect("a JoinHandle's type matches its goroutine's")
            .take()
            .expect("a finished goroutine has a result (polled after it was taken?)")
    }

    /// The hook of `impl Future for JoinHandle` (in `future`): the result
    /// if the goroutine has finished, else `None`, with `waker` recorded
    /// (replacing an earlier poll's) to be woken when it finishes.
    pub(crate) fn poll_join(&mut self, waker: &std::task::Waker) -> Option<std::thread::Result<T>> {
        let g = &self.g;
        if !self.take_back_joiner() {
            return Some(self.take_result());
        }
        // SAFETY: UNJOINED, and only the handle's owner moves it out of
        // there to JOINING, so the finisher does not read `joiner` now.
        let joiner = unsafe { &mut *g.joiner.get() };
        if !matches!(joiner, Some(Unparker::Waker(w)) if w.will_wake(waker)) {
            *joiner = Some(Unparker::waker(waker));
        }
        match g
            .join_state
            .compare_exchange(UNJOINED, JOINING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => None,
            Err(_) => Some(self.take_result()),
        }
    }
}

impl<T> JoinHandle<T> {
    /// Whether the handle's owner may write `joiner`: the goroutine has
    /// not finished, and no joiner is published (a waker an earlier poll
    /// published as a future is taken back). False once it is `DONE`.
    fn take_back_joiner(&self) -> bool {
        match self.g.join_state.load(Ordering::Acquire) {
            UNJOINED => true,
            JOINING => self
                .g
                .join_state
                .compare_exchange(JOINING, UNJOINED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
            _ => false,
        }
    }

    /// Whether the goroutine has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.g.finished()
    }

    /// The goroutine's id.
    pub fn id(&self) -> GoroutineId {
        GoroutineId(self.g.id)
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the goroutine: it drops its own result when it finishes.
    /// If it has finished already, its result is dropped here.
    fn drop(&mut self) {
        let g = &self.g;
        // A waker a poll published is taken back first: from UNJOINED only
        // the finisher moves the state, to DONE.
        let detached = self.take_back_joiner()
            && g.join_state
                .compare_exchange(UNJOINED, DETACHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if !detached {
            // SAFETY: DONE was observed with Acquire: the goroutine no longer
            // touches its body, and this handle is its only reader (`join`,
            // which consumes the handle, took the result already if it ran).
            unsafe { (*g.body.get()).drop_result() };
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// A goroutine's id, unique for the life of the process (Go numbers its
/// goroutines the same way; the first one spawned is 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct GoroutineId(u64);

impl GoroutineId {
    pub(crate) fn from_raw(id: u64) -> GoroutineId {
        GoroutineId(id)
    }

    /// The number itself.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for GoroutineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Spawns a goroutine running `f` and returns a handle to join it.
///
/// This is what [`go!`](crate::go) expands to. The goroutine starts with no
/// stack of its own; it gets one when it first runs.
///
/// # Panics
/// If no stack can be had for it (the limit is named); use
/// [`Builder::spawn`] to get that as an error instead.
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// goro::spawn(move || tx.send("hi").unwrap()).join().unwrap();
/// assert_eq!(rx.recv().unwrap(), "hi");
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("goro::spawn: {e}"))
}

/// Configures a goroutine before spawning it: its name and stack size.
///
/// ```
/// let h = goro::Builder::new()
///     .name("worker")
///     .stack_size(1 << 20)
///     .spawn(|| "done")
///     .unwrap();
/// assert_eq!(h.join().unwrap(), "done");
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    migrates: bool,
}

impl Builder {
    /// A builder with no name and the default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the goroutine; the name shows in panic and overflow messages.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Lets the goroutine resume on any worker thread after a park, as in
    /// Go, instead of only on the thread where it first ran: its wakes are
    /// then always local and a worker stuck in a long call can hand it to
    /// another thread, at the price of soundness being the caller's duty.
    ///
    /// # Safety
    /// The goroutine must hold nothing bound to its OS thread across any
    /// park (a channel operation, a lock, `sleep`, `yield_now`, `join`, a
    /// socket wait, `blocking`): no `thread_local!` borrow, no value taken
    /// from a thread-local that is `!Send` (an `Rc` from one,
    /// `rand::thread_rng()`), no `std::sync::MutexGuard`, no guard of
    /// another runtime's context. Code it calls must not either. See
    /// `docs/safety.md`, "Migration".
    ///
    /// ```
    /// // SAFETY: the body holds nothing thread-bound across its park.
    /// let h = unsafe { goro::Builder::new().migratory() }
    ///     .spawn(|| {
    ///         goro::yield_now();
    ///         1
    ///     })
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub unsafe fn migratory(mut self) -> Builder {
        self.migrates = true;
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages;
    /// between 16 KiB and 1 GiB). Pages are committed only when touched.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns the goroutine. Fails, and runs nothing, when the stack size is
    /// out of bounds, a stack of its own size cannot be mapped, or the
    /// stacks of the shared reservation have run out; the error names the
    /// limit.
    ///
    /// A goroutine of the default stack size gets its stack when it first
    /// runs. If more goroutines are running or parked at once than the
    /// reservation holds by then, it cannot start: it finishes at once
    /// with the error as its panic (its joiner gets `Err`), the first such
    /// failure is reported on stderr in full and later ones as a count,
    /// and further spawns fail with the error until a stack is freed.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let stack = self.dedicated_stack()?;
        if stack.is_none() {
            // Counting this one, which is not admitted yet.
            stack::reserve(|| crate::num_goroutine() + 1)?;
        }
        let (home, id) = scheduler::admit();
        // Worker indices are below `MAX_THREADS`; `NO_HOME` becomes `u32::MAX`.
        let home = u32::try_from(home).unwrap_or(u32::MAX);
        let g: Arc<G<Body<F, T>>> = Arc::new(G {
            this: UnsafeCell::new(null_g()),
            id,
            returned_next: UnsafeCell::new(std::ptr::null_mut()),
            name: self.name.map(|name| Box::new(name.into_boxed_str())),
            spawned_at: Location::caller(),
            wait_since: AtomicU64::new(0),
            blocked_at: AtomicPtr::new(std::ptr::null_mut()),
            parked_sp: AtomicUsize::new(0),
            joiner: UnsafeCell::new(None),
            sleep: Sleep::default(),
            links: UnsafeCell::new(Links::new()),
            home,
            park_state: AtomicU8::new(crate::park::AWAKE),
            join_state: AtomicU8::new(UNJOINED),
            wait: AtomicU8::new(WaitReason::Running as u8),
            list: UnsafeCell::new(registry::UNLISTED),
            pin: UnsafeCell::new(if self.migrates || scheduler::migration_enabled() {
                MIGRATES
            } else {
                NOT_PINNED
            }),
            ctx: UnsafeCell::new(RunState {
                frame: Frame::Unstarted(stack),
                yielder: std::ptr::null(),
                bounds: Bounds::default(),
                locals: LocalMap::default(),
            }),
            body: UnsafeCell::new(Body {
                f: Some(f),
                result: None,
            }),
        });
        let g: GRef = g;
        // SAFETY: nobody else holds the `G` yet.
        unsafe { *g.this.get() = Arc::as_ptr(&g) };
        scheduler::spawn(Runnable::new(g.clone()));
        Ok(JoinHandle {
            g,
            _result: PhantomData,
        })
    }

    /// A stack of its own when a non-default size was asked for.
    fn dedicated_stack(&self) -> io::Result<Option<Stack>> {
        let Some(bytes) = self.stack_size else {
            return Ok(None);
        };
        let size = stack::check_stack_size(bytes)
            .map_err(|msg| io::Error::new(io::ErrorKind::InvalidInput, msg))?;
        if size == stack::default_stack_size() {
            return Ok(None);
        }
        Stack::for_size(size).map(Some)
    }
}
