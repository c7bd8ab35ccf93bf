//! Scoped goroutines: [`scope`], as `std::thread::scope`.
//!
//! # Design
//! [`scope`] makes a [`Scope`] whose shared part (`ScopeData`: a
//! [`WaitGroup`] counting the children that have not finished, and the
//! first unhandled panic among them) is behind an `Arc`, runs the caller's
//! closure under `catch_unwind`, then waits on the group, and only then
//! returns the closure's value or resumes a panic: the closure's own, else
//! the first child's that no [`ScopedJoinHandle::join`] took.
//!
//! [`Scope::go`] erases the child closure's `'scope` lifetime to spawn it
//! as an ordinary goroutine. The erased closure is a `Child` guard that
//! owns the user's closure, the result's packet and a count in the group;
//! whether the closure runs or is dropped unrun (a goroutine that got no
//! stack), the guard's `Drop` drops the closure first, then its reference
//! to the packet (which drops an unjoined result, recording an unhandled
//! panic), and only then counts the child out of the group. So every value
//! that may borrow from `'scope` is gone before the scope can return.
//!
//! # Invariants
//! - The group's counter is added to before the child can run, and counted
//!   down exactly once per child, by its guard, after the last use of
//!   anything borrowed.
//! - `scope` does not return or unwind before the group's counter is zero:
//!   the closure's panic is caught, and the wait comes before resuming it.
//!
//! The argument for soundness is in `docs/safety.md`, "Scoped goroutines".
//!
//! # Orderings
//! None of its own: the [`WaitGroup`] orders each child's work (and its
//! packet's result) before `scope`'s wait returns, and the goroutine's
//! join orders the result before [`ScopedJoinHandle::join`] reads it. The
//! panic slot and the result are under `std::sync::Mutex`es that are
//! never held across anything that blocks.

use crate::goroutine::{Builder, GoroutineId, JoinHandle};
use crate::sync::WaitGroup;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

type Payload = Box<dyn Any + Send + 'static>;

/// What a scope's children share with it.
struct ScopeData {
    running: WaitGroup,
    /// The first panic of a child that nobody joined.
    unhandled: Mutex<Option<Payload>>,
}

impl ScopeData {
    fn record_panic(&self, payload: Payload) {
        let mut slot = self.unhandled.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(payload);
        }
    }
}

/// A scope to spawn goroutines that borrow from the caller's frame; see
/// [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// A handle to join one scoped goroutine; see [`Scope::go`].
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<()>,
    packet: Arc<Packet<'scope, T>>,
}

/// A child's result, shared by its goroutine and its handle.
struct Packet<'scope, T> {
    scope: Arc<ScopeData>,
    result: Mutex<Option<std::thread::Result<T>>>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> Drop for Packet<'_, T> {
    /// Drops a result nobody joined; a panic in it is the scope's to
    /// propagate.
    fn drop(&mut self) {
        let result = self.result.get_mut().unwrap_or_else(|p| p.into_inner());
        match result.take() {
            Some(Err(payload)) => self.scope.record_panic(payload),
            // Dropping a value may panic too: that counts as the child's.
            value => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
                    self.scope.record_panic(payload);
                }
            }
        }
    }
}

/// The closure a scoped goroutine runs: owns the user's closure, the
/// packet, and one count in the scope's group. See the module note for
/// the order of its drop.
struct Child<'scope, F, T> {
    f: Option<F>,
    packet: Option<Arc<Packet<'scope, T>>>,
    running: WaitGroup,
}

impl<F: FnOnce() -> T, T> Child<'_, F, T> {
    fn run(mut self) {
        let f = self.f.take().expect("a scoped goroutine runs once");
        let result = catch_unwind(AssertUnwindSafe(f));
        if let Some(packet) = &self.packet {
            *packet.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        }
        // `self` drops here: packet, then the count.
    }
}

impl<F, T> Drop for Child<'_, F, T> {
    fn drop(&mut self) {
        // The closure first (dropped unrun if the goroutine never got a
        // stack), then the packet: both may borrow from `'scope`.
        if let Some(f) = self.f.take() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(f))) {
                if let Some(packet) = &self.packet {
                    packet.scope.record_panic(payload);
                }
            }
        }
        drop(self.packet.take());
        self.running.done();
    }
}

/// Runs `f` with a [`Scope`] in which goroutines may borrow from the
/// caller's frame, as `std::thread::scope` does for threads. Every
/// goroutine spawned in the scope is joined before `scope` returns, even
/// when `f` panics. If `f` panicked, its panic is resumed then; else, if a
/// goroutine panicked and was not joined by hand, the first such panic is.
///
/// From a goroutine, the waiting parks it; from a plain thread, it blocks
/// the thread.
///
/// ```
/// let mut counts = vec![0u32; 4];
/// let text = "a borrowed string";
/// goro::scope(|s| {
///     for (i, slot) in counts.iter_mut().enumerate() {
///         s.go(move || *slot = (text.len() * i) as u32);
///     }
/// });
/// assert_eq!(counts, [0, 17, 34, 51]);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: WaitGroup::new(),
            unhandled: Mutex::new(None),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // No return nor unwind before every child has finished: the borrows
    // they hold are into the frames above this one.
    scope.data.running.wait();
    let unhandled = scope
        .data
        .unhandled
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match (result, unhandled) {
        (Err(payload), _) => resume_unwind(payload),
        (Ok(_), Some(payload)) => resume_unwind(payload),
        (Ok(value), None) => value,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a goroutine that may borrow anything that outlives the
    /// scope; it is joined when the scope ends, if not before by
    /// [`ScopedJoinHandle::join`].
    ///
    /// # Panics
    /// If no stack can be had for the goroutine, as [`spawn`](crate::spawn).
    ///
    /// ```
    /// let data = [1, 2, 3];
    /// let sum = goro::scope(|s| {
    ///     let h = s.go(|| data.iter().sum::<i32>());
    ///     h.join().unwrap()
    /// });
    /// assert_eq!(sum, 6);
    /// ```
    #[track_caller]
    pub fn go<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let packet = Arc::new(Packet {
            scope: self.data.clone(),
            result: Mutex::new(None),
            _scope: PhantomData,
        });
        self.data.running.add(1);
        let child = Child {
            f: Some(f),
            packet: Some(packet.clone()),
            running: self.data.running.clone(),
        };
        let main: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || child.run());
        // SAFETY: only the lifetime changes. The closure, and everything it
        // may borrow for `'scope`, is used and dropped before its `Child`
        // counts out of the group (see the module note), and `scope` waits
        // for the group before its frame, and so `'scope`, can end; nothing
        // reachable from the goroutine after that borrows from `'scope`.
        let main: Box<dyn FnOnce() + Send + 'static> = unsafe {
            std::mem::transmute::<
                Box<dyn FnOnce() + Send + 'scope>,
                Box<dyn FnOnce() + Send + 'static>,
            >(main)
        };
        // On failure `spawn` drops `main`, whose `Child` counts itself out.
        let handle = Builder::new()
            .spawn(main)
            .unwrap_or_else(|e| panic!("goro::Scope::go: {e}"));
        ScopedJoinHandle { handle, packet }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the goroutine to finish and returns its result, or the
    /// payload of its panic (which the scope then does not propagate).
    ///
    /// ```
    /// goro::scope(|s| {
    ///     let h = s.go(|| panic!("oops"));
    ///     assert!(h.join().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        let outcome = self.handle.join();
        let result = self
            .packet
            .result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match (result, outcome) {
            (Some(result), _) => result,
            // It never ran: the goroutine's error says why.
            (None, Err(payload)) => Err(payload),
            (None, Ok(())) => unreachable!("a scoped goroutine that ran stored its result"),
        }
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The goroutine's id.
    pub fn id(&self) -> GoroutineId {
        self.handle.id()
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Scope { .. }")
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("id", &self.id())
            .finish()
    }
}
