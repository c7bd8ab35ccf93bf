//! A test-and-test-and-set spin lock for the runtime's short critical
//! sections (a channel's state, a registry list): `Acquire` on taking it and
//! `Release` on giving it back order every access to what it guards. The
//! sections are a few dozen instructions, so spinning (then yielding the
//! thread, via `Backoff`) is cheaper than a queueing lock, and unlocking is
//! a plain store. One holder keeps it across a context switch: a goroutine
//! parking on a channel (`goroutine::park_unlocking`), whose worker releases
//! it on the same thread right after the switch, a few dozen instructions
//! later; it is never held across a wait.

use crossbeam_utils::Backoff;
use std::sync::atomic::{AtomicBool, Ordering};

/// A test-and-test-and-set spin lock; see the module note.
pub(crate) struct SpinLock {
    locked: AtomicBool,
}

impl SpinLock {
    /// An unlocked lock.
    pub(crate) const fn new() -> SpinLock {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let backoff = Backoff::new();
        loop {
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    #[inline]
    pub(crate) fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}
