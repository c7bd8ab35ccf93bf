//! [`RwLock`]: Go's `sync.RWMutex` with std's data-owning, guard-based API.
//!
//! # Design (Go's algorithm)
//! - `readers` counts the readers holding or entering the lock. A writer
//!   first takes `writer` (a [`RawMutex`], so writers queue among
//!   themselves with the mutex's spinning and starvation mode), then
//!   subtracts [`MAX_READERS`]: a negative count tells new readers a writer
//!   is pending, so they park on `reader_sem` instead of entering. The lock
//!   therefore prefers writers: a stream of readers cannot starve a writer.
//! - The writer learns how many readers were inside from the value it
//!   subtracted from, adds that to `departing`, and parks on `writer_sem`
//!   until they are all gone: each reader that leaves while the count is
//!   negative decrements `departing`, and the last one wakes the writer.
//! - Unlocking, the writer adds [`MAX_READERS`] back, learns how many
//!   readers queued up meanwhile, wakes exactly that many, then releases
//!   `writer`.
//!
//! # Invariants
//! - `readers >= 0`: no writer; `readers` readers inside.
//! - `readers < 0`: a writer holds `writer`, and `readers + MAX_READERS`
//!   readers are either still inside (counted in `departing`) or parked on
//!   `reader_sem` (each gets one token when the writer unlocks).
//!
//! # Orderings
//! All changes to `readers` and `departing` are read-modify-writes:
//! acquiring ones (a reader entering, a writer announcing itself) are
//! `Acquire` or `AcqRel`, releasing ones (a reader leaving, a writer
//! unlocking) `Release` or `AcqRel`, so each side synchronises with the
//! release sequence of the previous holders. Parked parties are handed over
//! through the semaphores, which order their own wakeups.

use super::lock_sema::LockSema;
use super::mutex::RawMutex;
use crate::park::WaitReason;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicIsize, Ordering};

/// More readers than can ever be inside at once.
const MAX_READERS: isize = 1 << (isize::BITS - 3);

/// The lock of [`RwLock`] without the data.
struct RawRwLock {
    writer: RawMutex,
    readers: AtomicIsize,
    departing: AtomicIsize,
    writer_sem: LockSema,
    reader_sem: LockSema,
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            writer: RawMutex::new(),
            readers: AtomicIsize::new(0),
            departing: AtomicIsize::new(0),
            writer_sem: LockSema::new(),
            reader_sem: LockSema::new(),
        }
    }

    #[track_caller]
    fn read(&self) {
        if self.readers.fetch_add(1, Ordering::Acquire) < 0 {
            // A writer is pending: it wakes us when it is done.
            self.reader_sem.acquire(false, WaitReason::RwLock.here());
        }
    }

    fn try_read(&self) -> bool {
        let mut readers = self.readers.load(Ordering::Relaxed);
        while readers >= 0 {
            match self.readers.compare_exchange_weak(
                readers,
                readers + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => readers = now,
            }
        }
        false
    }

    /// # Safety
    /// The caller must hold a read lock.
    unsafe fn unlock_read(&self) {
        if self.readers.fetch_sub(1, Ordering::Release) <= 0 {
            // A writer waits for the readers that were inside: are we the
            // last of them?
            if self.departing.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.writer_sem.release(false);
            }
        }
    }

    #[track_caller]
    fn write(&self) {
        self.writer.lock();
        let inside = self.readers.fetch_sub(MAX_READERS, Ordering::Acquire);
        if inside != 0 && self.departing.fetch_add(inside, Ordering::AcqRel) + inside != 0 {
            self.writer_sem
                .acquire(false, WaitReason::RwLockWrite.here());
        }
    }

    fn try_write(&self) -> bool {
        if !self.writer.try_lock() {
            return false;
        }
        let announced = self
            .readers
            .compare_exchange(0, -MAX_READERS, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if !announced {
            // SAFETY: we took `writer` just above.
            unsafe { self.writer.unlock() };
        }
        announced
    }

    /// # Safety
    /// The caller must hold the write lock.
    unsafe fn unlock_write(&self) {
        let queued = self.readers.fetch_add(MAX_READERS, Ordering::Release) + MAX_READERS;
        for _ in 0..queued {
            self.reader_sem.release(false);
        }
        // SAFETY: the write lock includes `writer`.
        unsafe { self.writer.unlock() };
    }
}

/// A reader-writer lock protecting a `T`, for goroutines and threads.
///
/// Go's `sync.RWMutex` behind std's API: any number of readers, or one
/// writer. Writers are preferred: once a writer waits, new readers wait
/// behind it, so readers cannot starve writers. Waiting goroutines park;
/// waiting threads block. No poisoning. Not reentrant: taking a read lock
/// while holding one can deadlock if a writer arrives in between (as in Go).
///
/// ```
/// use goro::sync::RwLock;
/// use std::sync::Arc;
///
/// let config = Arc::new(RwLock::new(String::from("v1")));
/// let readers: Vec<_> = (0..4)
///     .map(|_| {
///         let config = config.clone();
///         goro::go!(move || config.read().len())
///     })
///     .collect();
/// config.write().push_str(".1");
/// for r in readers {
///     assert!(r.join().unwrap() >= 2);
/// }
/// assert_eq!(*config.read(), "v1.1");
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns its `T`; std's bounds: sending it sends the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across goroutines (needs `T: Sync`) and a
// writer gets `&mut T` from any of them (needs `T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    ///
    /// ```
    /// static TABLE: goro::sync::RwLock<Vec<u8>> = goro::sync::RwLock::new(Vec::new());
    /// TABLE.write().push(1);
    /// assert_eq!(TABLE.read().len(), 1);
    /// ```
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// assert_eq!(goro::sync::RwLock::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a shared read lock, waiting while a writer holds or waits for
    /// the lock.
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(1);
    /// let (a, b) = (lock.read(), lock.read());
    /// assert_eq!(*a + *b, 2);
    /// ```
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.read();
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Takes a read lock if that can be done without waiting.
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(1);
    /// let w = lock.write();
    /// assert!(lock.try_read().is_none());
    /// drop(w);
    /// assert!(lock.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw.try_read().then(|| RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Takes the exclusive write lock, waiting for the readers inside and
    /// any writer before it.
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(1);
    /// *lock.write() += 1;
    /// assert_eq!(*lock.read(), 2);
    /// ```
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.write();
        RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Takes the write lock if that can be done without waiting.
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(1);
    /// let r = lock.read();
    /// assert!(lock.try_write().is_none());
    /// drop(r);
    /// assert!(lock.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw.try_write().then(|| RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// The data, through exclusive access: no locking needed.
    ///
    /// ```
    /// let mut lock = goro::sync::RwLock::new(1);
    /// *lock.get_mut() = 3;
    /// assert_eq!(*lock.read(), 3);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s data; releases the read lock when
/// dropped. `!Send`, `Sync` when `T` is, like std's.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard only shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held, so no writer accesses the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds one read lock, released only here.
        unsafe { self.lock.raw.unlock_read() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s data; releases the write lock when
/// dropped. `!Send`, `Sync` when `T` is, like std's.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard only shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: nobody else accesses the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held: this is the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the write lock, released only here.
        unsafe { self.lock.raw.unlock_write() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
