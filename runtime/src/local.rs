//! Goroutine-local storage: Go has none, but Rust code reaches for
//! `thread_local!`, whose value is shared by every goroutine on a thread
//! (and, for goroutines that migrate under the `unsafe` opt-in, must not be
//! held across a park; see `docs/safety.md`).
//! [`goroutine_local!`](crate::goroutine_local) declares a value that
//! belongs to the running goroutine instead: every goroutine gets its own,
//! lazily initialised on first use, it follows a migrating goroutine from
//! thread to thread, and it is dropped when the goroutine finishes. On a
//! plain thread the same key gives a per-thread value.
//!
//! # Design
//! Each goroutine's context holds a small map from the key's address to a
//! boxed value; only the running goroutine touches its own map, so there is
//! no locking. Values are boxed so that a reference handed out by
//! [`LocalKey::with`] stays valid when a nested `with` on another key grows
//! the map.

use crate::goroutine::{self, LocalMap};
use std::cell::UnsafeCell;

/// A key for goroutine-local values; declare one with
/// [`goroutine_local!`](crate::goroutine_local).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
}

/// Declares goroutine-local values, as `thread_local!` does for threads.
///
/// ```
/// use std::cell::Cell;
///
/// goro::goroutine_local! {
///     static REQUESTS: Cell<u32> = Cell::new(0);
/// }
///
/// let a = goro::spawn(|| {
///     REQUESTS.with(|r| r.set(r.get() + 1));
///     goro::yield_now(); // the value is this goroutine's, whoever else runs
///     REQUESTS.with(|r| r.get())
/// });
/// let b = goro::spawn(|| REQUESTS.with(|r| r.get()));
/// assert_eq!(a.join().unwrap(), 1);
/// assert_eq!(b.join().unwrap(), 0);
/// ```
#[macro_export]
macro_rules! goroutine_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr;)+) => {
        $(
            $(#[$attr])*
            $vis static $name: $crate::local::LocalKey<$t> = $crate::local::LocalKey::new(|| $init);
        )+
    };
}

impl<T: 'static> LocalKey<T> {
    /// A key whose value starts as `init()`. Use [`goroutine_local!`].
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey { init }
    }

    /// Calls `f` with the current goroutine's value (the current thread's on
    /// a plain thread), initialising it first if this is its first use.
    /// `f` may block: the value stays the goroutine's wherever it resumes.
    ///
    /// # Panics
    /// If the value's initialiser uses the key it initialises.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self as *const LocalKey<T> as usize;
        let value = match goroutine::current_locals() {
            // SAFETY: the running goroutine's map, used only by it.
            Some(map) => unsafe { (*map).get_or_init(key, self.init) },
            // SAFETY: this thread's map, used only by this thread.
            None => THREAD_LOCALS.with(|map| unsafe { (*map.get()).get_or_init(key, self.init) }),
        };
        // SAFETY: the value is boxed and lives until its goroutine (or
        // thread) ends, which cannot happen while `f` runs on it.
        f(unsafe { &*value })
    }
}

thread_local! {
    static THREAD_LOCALS: UnsafeCell<LocalMap> = UnsafeCell::new(LocalMap::default());
}
