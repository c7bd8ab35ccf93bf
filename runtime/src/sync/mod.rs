//! Go's `sync` package for goroutines.
//!
//! Every primitive here works the same from goroutines and from plain OS
//! threads, mixed: a goroutine that must wait parks (its worker thread runs
//! other goroutines meanwhile), a thread blocks. None of them poisons.
//!
//! | here | Go | std |
//! |---|---|---|
//! | [`Mutex`] | `sync.Mutex` (spinning, FIFO, starvation mode) | `Mutex` API |
//! | [`RwLock`] | `sync.RWMutex` (writer-preferring) | `RwLock` API |
//! | [`WaitGroup`] | `sync.WaitGroup` (clones share the counter) | |
//! | [`Once`] | `sync.Once` (a panic lets a later call retry) | `Once` API |
//! | [`Cond`] | `sync.Cond` | `Condvar`-like |
//! | [`Semaphore`] | `x/sync/semaphore.Weighted` (FIFO) | |
//! | [`Barrier`] | | `Barrier` |
//! | [`ErrGroup`] | `x/sync/errgroup.Group` | |
//! | [`atomic`] | `sync/atomic` | `std::sync::atomic` |
//!
//! All of them park on one wait queue (a FIFO of parked goroutines and
//! threads under a short-held lock, never held across a park); the mutexes
//! also use an internal counting semaphore, as Go's do.

mod barrier;
mod cond;
mod errgroup;
mod lock_sema;
mod mutex;
mod once;
mod prepaid;
mod rwlock;
mod semaphore;
mod waitgroup;
mod waitq;

pub use barrier::{Barrier, BarrierWaitResult};
pub use cond::Cond;
pub use errgroup::ErrGroup;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::Semaphore;
pub use waitgroup::WaitGroup;

/// Atomic types: std's, re-exported under Go's package name
/// (`sync/atomic`).
///
/// ```
/// use goro::sync::atomic::{AtomicUsize, Ordering};
///
/// let n = AtomicUsize::new(0);
/// n.fetch_add(1, Ordering::Relaxed);
/// assert_eq!(n.load(Ordering::Relaxed), 1);
/// ```
pub mod atomic {
    pub use std::sync::atomic::*;
}
