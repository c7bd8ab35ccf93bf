//! [`Mutex`]: Go's `sync.Mutex` (spinning, parking, starvation mode) with
//! std's data-owning, guard-based API.
//!
//! # Design
//! [`RawMutex`] is Go's algorithm on one `u32` state word:
//! `LOCKED | WOKEN | STARVING | waiters << 3`, and a [`LockSema`] to park on.
//! - Fast path: one CAS `0 -> LOCKED` to lock, one `fetch_sub(LOCKED)` to
//!   unlock; the slow paths only run when the word says there are waiters.
//! - Normal mode: a waiter that cannot lock spins briefly (only on a
//!   multi-core machine, and for a goroutine only when GOMAXPROCS > 1: a
//!   spinning goroutine at GOMAXPROCS = 1 only delays the holder), setting
//!   `WOKEN` so that `unlock` does not wake anybody while a spinner is about
//!   to take the lock. It then counts itself in `waiters` and parks in FIFO
//!   order. `unlock` wakes the first waiter (and sets `WOKEN`), which then
//!   competes with newcomers: a newcomer already running usually wins, and
//!   the woken waiter queues again, at the front.
//! - Starvation mode: a waiter that has waited more than 1 ms sets
//!   `STARVING`. From then on `unlock` hands the lock to the first waiter
//!   directly (the semaphore's handoff, and the unlocking goroutine yields so
//!   it runs at once); newcomers do not spin or barge but queue at the back.
//!   The waiter that receives the lock leaves starvation mode when it was
//!   the last waiter or itself waited less than 1 ms.
//!
//! In starvation mode the word is left *unlocked* by `unlock` and the waiter
//! the lock was handed to sets `LOCKED` as it takes its count off `waiters`;
//! `STARVING` keeps everybody else out meanwhile.
//!
//! # Invariants
//! - `waiters` counts the lockers that have committed to park (each takes
//!   one token from the semaphore when woken, and takes itself off the count
//!   when it owns the lock or when `unlock` woke it).
//! - `WOKEN` set means a lock attempt is in flight that `unlock` need not
//!   wake anybody for; whoever set it clears it.
//! - `STARVING` set implies `waiters > 0`.
//!
//! # Orderings
//! Every operation that can take the lock (the fast CAS, the slow-path CAS,
//! the `fetch_add` with which a waiter accepts a handed-over lock) is
//! `Acquire`; the unlocking `fetch_sub` is `Release`. Every change to the
//! word in between is a read-modify-write, so it continues the release
//! sequence of the last unlock and the next owner synchronises with it.
//! Everything else (spinning reads, setting `WOKEN`, waking) is `Relaxed`:
//! it carries no data, and the semaphore orders its own wakeups.
//!
//! # Guards and threads
//! Unlike a pthread mutex, this lock may be unlocked from any thread, so a
//! goroutine can hold a [`MutexGuard`] across a park (a channel operation, a
//! sleep) and resume on another OS thread. The guard is still `!Send`, as
//! std's is: it belongs to the goroutine or thread that locked it.

use super::lock_sema::LockSema;
use crate::park::WaitReason;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LOCKED: u32 = 1;
const WOKEN: u32 = 2;
const STARVING: u32 = 4;
const WAITER_SHIFT: u32 = 3;
const WAITER: u32 = 1 << WAITER_SHIFT;

/// How long a waiter waits before it switches the mutex to starvation mode.
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);

/// Spin rounds before parking (Go's `active_spin`).
const SPIN_ROUNDS: u32 = 4;

/// Pause instructions per spin round (Go's `active_spin_cnt`).
const SPIN_PAUSES: u32 = 30;

/// The lock of [`Mutex`] without the data; also the writer lock of
/// [`RwLock`](super::RwLock).
pub(crate) struct RawMutex {
    state: AtomicU32,
    sema: LockSema,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicU32::new(0),
            sema: LockSema::new(),
        }
    }

    /// Locks, spinning and then parking while another holds the lock.
    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    /// Locks if that can be done without waiting.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        old & (LOCKED | STARVING) == 0
            && self
                .state
                .compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Unlocks.
    ///
    /// # Safety
    /// The caller must hold the lock (the lock has no owner identity, so any
    /// goroutine or thread may release it on the holder's behalf).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        let new = self
            .state
            .fetch_sub(LOCKED, Ordering::Release)
            .wrapping_sub(LOCKED);
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    /// Whether the lock is held (a racy snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    #[cold]
    #[track_caller]
    fn lock_slow(&self) {
        let mut waiting_since: Option<Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut spins = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            if old & (LOCKED | STARVING) == LOCKED && can_spin(spins) {
                // Tell unlock not to wake anybody: we are about to lock.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                spin();
                spins += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let new = next_state(old, starving, awoke);
            if let Err(now) =
                self.state
                    .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
            {
                old = now;
                continue;
            }
            if old & (LOCKED | STARVING) == 0 {
                return; // We locked it.
            }
            // A waiter that has waited before queues at the front.
            let lifo = waiting_since.is_some();
            let since = *waiting_since.get_or_insert_with(Instant::now);
            self.sema.acquire(lifo, WaitReason::Mutex.here());
            starving = starving || since.elapsed() > STARVATION_THRESHOLD;
            old = self.state.load(Ordering::Relaxed);
            if old & STARVING != 0 {
                self.accept_handoff(old, starving);
                return;
            }
            awoke = true;
            spins = 0;
        }
    }

    /// In starvation mode the unlocker left the lock to us: take it, and
    /// leave starvation mode if we are the last waiter or did not starve.
    fn accept_handoff(&self, old: u32, starving: bool) {
        assert!(
            old & (LOCKED | WOKEN) == 0 && old >> WAITER_SHIFT != 0,
            "sync: inconsistent mutex state"
        );
        let mut delta = LOCKED.wrapping_sub(WAITER);
        if !starving || old >> WAITER_SHIFT == 1 {
            delta = delta.wrapping_sub(STARVING);
        }
        self.state.fetch_add(delta, Ordering::Acquire);
    }

    #[cold]
    fn unlock_slow(&self, new: u32) {
        assert!(
            new.wrapping_add(LOCKED) & LOCKED != 0,
            "sync: unlock of unlocked mutex"
        );
        if new & STARVING != 0 {
            // Hand the lock to the first waiter; it sets LOCKED.
            self.sema.release(true);
            return;
        }
        let mut old = new;
        loop {
            // Nobody to wake, or somebody is already locked, awake or
            // being handed the lock: nothing to do.
            if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                return;
            }
            let new = (old - WAITER) | WOKEN;
            match self
                .state
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.sema.release(false);
                    return;
                }
                Err(now) => old = now,
            }
        }
    }
}

/// The state a slow-path locker tries to install over `old`.
fn next_state(old: u32, starving: bool, awoke: bool) -> u32 {
    let mut new = old;
    // A starving mutex goes to the first waiter: newcomers queue.
    if old & STARVING == 0 {
        new |= LOCKED;
    }
    if old & (LOCKED | STARVING) != 0 {
        new += WAITER;
    }
    // Only a held mutex can starve (unlock expects waiters in that mode).
    if starving && old & LOCKED != 0 {
        new |= STARVING;
    }
    if awoke {
        assert!(new & WOKEN != 0, "sync: inconsistent mutex state");
        new &= !WOKEN;
    }
    new
}

/// Whether a locker that has spun `spins` rounds should spin again:
/// only on several cores, and for a goroutine only when other workers run
/// (Go's `sync_runtime_canSpin`).
fn can_spin(spins: u32) -> bool {
    spins < SPIN_ROUNDS && cpus() > 1 && (crate::current_id().is_none() || crate::gomaxprocs() > 1)
}

fn spin() {
    for _ in 0..SPIN_PAUSES {
        std::hint::spin_loop();
    }
}

fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A mutual exclusion lock protecting a `T`, for goroutines and threads.
///
/// Go's `sync.Mutex` behind std's API: [`lock`](Mutex::lock) returns a
/// guard that unlocks when dropped. A goroutine that must wait spins briefly
/// and then parks, leaving its worker thread to other goroutines; a plain
/// thread blocks. Waiters are served in FIFO order, and a waiter left
/// waiting over 1 ms switches the mutex to *starvation mode*, where the lock
/// is handed to waiters in turn and newcomers cannot barge in.
///
/// There is no poisoning: a panic while the lock is held unlocks it, and
/// the data is as the panicking code left it. The lock is not reentrant:
/// locking it again from the goroutine that holds it deadlocks.
///
/// ```
/// use goro::sync::{Mutex, WaitGroup};
/// use std::sync::Arc;
///
/// let counter = Arc::new(Mutex::new(0));
/// let wg = WaitGroup::new();
/// for _ in 0..10 {
///     let counter = counter.clone();
///     let wg = wg.clone();
///     wg.add(1);
///     goro::go!(move || {
///         *counter.lock() += 1;
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(*counter.lock(), 10);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex owns its `T` and hands out access to one holder at a
// time, so it can be sent or shared whenever `T` can be sent (std's bounds).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; `&Mutex<T>` only ever yields exclusive access to `T`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    ///
    /// ```
    /// static COUNT: goro::sync::Mutex<u32> = goro::sync::Mutex::new(0);
    /// *COUNT.lock() += 1;
    /// assert_eq!(*COUNT.lock(), 1);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the data.
    ///
    /// ```
    /// let m = goro::sync::Mutex::new(String::from("hi"));
    /// assert_eq!(m.into_inner(), "hi");
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting as long as another holds it, and returns a
    /// guard that unlocks it when dropped. A goroutine parks; a thread
    /// blocks.
    ///
    /// ```
    /// let m = goro::sync::Mutex::new(vec![1]);
    /// m.lock().push(2);
    /// assert_eq!(*m.lock(), [1, 2]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Locks the mutex if it is free, without waiting (Go's `TryLock`).
    ///
    /// ```
    /// let m = goro::sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// Whether the mutex is locked right now (a snapshot that may be stale
    /// by the time it is read).
    ///
    /// ```
    /// let m = goro::sync::Mutex::new(());
    /// let guard = m.lock();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The data, through exclusive access: no locking needed.
    ///
    /// ```
    /// let mut m = goro::sync::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Exclusive access to a [`Mutex`]'s data; unlocks it when dropped.
///
/// `!Send` like std's guard (it belongs to the goroutine or thread that
/// locked), `Sync` when `T` is. Holding it across a park is allowed: see the
/// module notes.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard only shares `&T`, which is fine when `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }

    /// The mutex this guard holds, for [`Cond`](super::Cond).
    pub(crate) fn mutex(guard: &MutexGuard<'a, T>) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so nobody else accesses the data.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so this is the only access.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its lock is held, and this is
        // the one place that lock is released.
        unsafe { self.mutex.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
