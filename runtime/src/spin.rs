//! A test-and-test-and-set spin lock for the runtime's short critical
//! sections (a channel's state, a registry list): `Acquire` on taking it and
//! `Release` on giving it back order every access to what it guards. The
//! sections are a few dozen instructions, so spinning is cheaper than a
//! queueing lock, and unlocking is a plain store. One holder keeps it
//! across a context switch: a goroutine parking on a channel
//! (`park::park_unlocking`), whose worker releases it on the same
//! thread right after the switch, a few dozen instructions later; it is
//! never held across a wait.
//!
//! A waiter probes the lock with exponential backoff (`Backoff::spin`: 1,
//! 2, 4, ... up to 64 `pause`s between probes, a pause being about 25 ns
//! on the reference machine) and yields its thread between probes only
//! after [`SPIN_PROBES`] of them, about 100 µs: long enough that two
//! workers contending for one channel keep spinning, short enough that a
//! waiter whose holder lost its CPU gives its own up. A waiter does not
//! yield sooner: the lock is usually free again by its next probes, and a
//! `sched_yield` would take it into the kernel meanwhile. It does not probe
//! more often either: each probe pulls the lock's cache line away from its
//! holder.

use crossbeam_utils::Backoff;
use std::sync::atomic::{AtomicBool, Ordering};

/// Probes of a held lock a waiter makes spinning before it yields its
/// thread between probes (see the module note).
const SPIN_PROBES: u32 = 64;

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
        let mut probes = 0;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if probes < SPIN_PROBES {
                    probes += 1;
                    backoff.spin();
                } else {
                    std::thread::yield_now();
                }
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

#[cfg(test)]
mod tests {
    use super::SpinLock;
    use std::cell::UnsafeCell;
    use std::sync::Barrier;

    /// A counter only touched under `lock`.
    struct Guarded {
        lock: SpinLock,
        count: UnsafeCell<u64>,
    }

    // SAFETY: `count` is only accessed with `lock` held.
    unsafe impl Sync for Guarded {}

    impl Guarded {
        fn add(&self, hold: u32) {
            self.lock.lock();
            // SAFETY: we hold the lock.
            let before = unsafe { *self.count.get() };
            // Keep the lock a while, so waiters go through every stage of
            // the backoff, including yielding their threads.
            for i in 0..hold {
                std::hint::black_box(i);
            }
            // SAFETY: as above; a second holder would lose increments.
            unsafe { *self.count.get() = before + 1 };
            self.lock.unlock();
        }
    }

    #[test]
    fn contending_threads_never_lose_an_increment() {
        const THREADS: u64 = 4;
        const EACH: u64 = 20_000;
        let guarded = Guarded {
            lock: SpinLock::new(),
            count: UnsafeCell::new(0),
        };
        let start = Barrier::new(THREADS as usize);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (guarded, start) = (&guarded, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..EACH {
                        // Now and then a long hold (about a millisecond).
                        let hold = if (i + t) % 2_000 == 0 { 1_000_000 } else { 10 };
                        guarded.add(hold);
                    }
                });
            }
        });
        assert_eq!(guarded.count.into_inner(), THREADS * EACH);
    }
}
