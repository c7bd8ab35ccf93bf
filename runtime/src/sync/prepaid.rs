//! [`Prepaid`]: a shared value behind counted handles that buy their
//! references in bulk, so that cloning a handle does not write the shared
//! count.
//!
//! # Why
//! Go code hands each goroutine a `*WaitGroup`; Rust code clones a handle
//! into each goroutine it spawns (`let wg = wg.clone(); go!(...)`). With an
//! `Arc` the clone increments a count that the goroutine's drop, usually on
//! another worker, decrements, so the count's cache line crosses between
//! the two cores twice for every goroutine: at GOMAXPROCS=2 that was about
//! a tenth of the cost of spawning a goroutine that calls `wg.done()`.
//!
//! # Design
//! The shared block holds the value and `refs`. Each handle holds one
//! reference for itself and a `reserve` of references it bought for its
//! clones. A clone takes one from the reserve (a CAS on the handle's own
//! word, which stays in the cloning core's cache), or, with the reserve
//! empty, buys `1 + BULK` with one add to `refs` and keeps `BULK`. A drop
//! gives back its own reference and its whole reserve with one subtraction;
//! the one that takes `refs` to zero frees the block. So a goroutine
//! spawning in a loop writes `refs` once every [`BULK`] clones, and the
//! goroutines' drops, on other cores, find it in theirs.
//!
//! # Invariants
//! - `refs` is the number of live handles plus the sum of their reserves,
//!   except between the two adds of a purchase, when it is higher.
//! - A reference is taken out of a reserve by exactly one clone (the CAS).
//!
//! # Orderings
//! As `Arc`'s: adding to `refs` is `Relaxed` (the handle that clones keeps
//! the block alive meanwhile), subtracting is `Release`, and the thread
//! that frees the block first issues an `Acquire` fence, so it sees every
//! use made through the other handles. The reserve's CAS and add are
//! `Relaxed`: they only decide which clone gets which reference.

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// References a handle buys at once for its clones.
const BULK: usize = 64;

/// Most references `refs` may count (as `Arc`: past this, abort rather
/// than risk an overflow).
const MAX_REFS: usize = isize::MAX as usize;

/// The shared block.
struct Block<T> {
    refs: AtomicUsize,
    value: T,
}

/// A counted handle to a shared `T`, like `Arc<T>` but for its clones'
/// cost (see the module note). No weak references, no `get_mut`.
pub(crate) struct Prepaid<T> {
    block: NonNull<Block<T>>,
    /// References this handle holds for its future clones.
    reserve: AtomicUsize,
}

// SAFETY: as `Arc<T>`: handles on several threads share `&T` (so `T:
// Sync`) and the last one to go drops `T` on its thread (so `T: Send`).
unsafe impl<T: Send + Sync> Send for Prepaid<T> {}
// SAFETY: as above; `&Prepaid` only reaches `&T` and clones.
unsafe impl<T: Send + Sync> Sync for Prepaid<T> {}

impl<T> Prepaid<T> {
    /// The only handle to a new block holding `value`.
    pub(crate) fn new(value: T) -> Prepaid<T> {
        let block = Box::new(Block {
            refs: AtomicUsize::new(1),
            value,
        });
        Prepaid {
            block: NonNull::from(Box::leak(block)),
            reserve: AtomicUsize::new(0),
        }
    }

    fn block(&self) -> &Block<T> {
        // SAFETY: this handle holds a reference, so the block is alive.
        unsafe { self.block.as_ref() }
    }

    /// Takes one reference out of the reserve; false if it is empty.
    fn take_reserved(&self) -> bool {
        self.reserve
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// Buys one reference for a clone and [`BULK`] for the reserve.
    #[cold]
    fn buy(&self) {
        let old = self.block().refs.fetch_add(1 + BULK, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
        self.reserve.fetch_add(BULK, Ordering::Relaxed);
    }
}

impl<T> Clone for Prepaid<T> {
    #[inline]
    fn clone(&self) -> Prepaid<T> {
        if !self.take_reserved() {
            self.buy();
        }
        Prepaid {
            block: self.block,
            reserve: AtomicUsize::new(0),
        }
    }
}

impl<T> Drop for Prepaid<T> {
    fn drop(&mut self) {
        let held = 1 + *self.reserve.get_mut();
        if self.block().refs.fetch_sub(held, Ordering::Release) != held {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference: nobody else can reach the
        // block, which `new` allocated with `Box`.
        drop(unsafe { Box::from_raw(self.block.as_ptr()) });
    }
}

impl<T> Deref for Prepaid<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.block().value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// Counts its drops, and fails a read after one.
    struct Canary {
        alive: AtomicBool,
        drops: Arc<AtomicUsize>,
    }

    impl Canary {
        fn new(drops: &Arc<AtomicUsize>) -> Canary {
            Canary {
                alive: AtomicBool::new(true),
                drops: drops.clone(),
            }
        }

        fn check(&self) {
            assert!(self.alive.load(Ordering::Relaxed), "used after free");
        }
    }

    impl Drop for Canary {
        fn drop(&mut self) {
            self.alive.store(false, Ordering::Relaxed);
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_value_is_dropped_once_with_the_last_handle() {
        let drops = Arc::new(AtomicUsize::new(0));
        let first = Prepaid::new(Canary::new(&drops));
        let clones: Vec<_> = (0..3 * BULK + 1).map(|_| first.clone()).collect();
        drop(first);
        for c in &clones {
            c.check();
        }
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        let (last, rest) = clones.split_last().unwrap();
        let last = last.clone(); // a clone of a clone buys its own reserve
        drop(rest.to_vec());
        drop(clones);
        last.check();
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        drop(last);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    /// Threads clone one shared handle at once (racing for its reserve),
    /// and drop their clones on other threads than the one that made them;
    /// every clone still reads a live value and the value goes exactly
    /// once, after the last. Taking from the reserve without the CAS gives
    /// two clones one reference, and the value is freed under the others.
    #[test]
    fn racing_clones_and_remote_drops_keep_the_count() {
        const THREADS: usize = 4;
        const EACH: usize = 20_000;
        for _ in 0..20 {
            let drops = Arc::new(AtomicUsize::new(0));
            let shared = Prepaid::new(Canary::new(&drops));
            let (tx, rx) = std::sync::mpsc::channel::<Prepaid<Canary>>();
            let rx = std::sync::Mutex::new(rx);
            std::thread::scope(|s| {
                for _ in 0..THREADS {
                    let tx = tx.clone();
                    let shared = &shared;
                    s.spawn(move || {
                        for _ in 0..EACH {
                            tx.send(shared.clone()).unwrap();
                        }
                    });
                }
                drop(tx);
                for _ in 0..THREADS {
                    let rx = &rx;
                    s.spawn(move || loop {
                        let next = rx.lock().unwrap().recv();
                        match next {
                            Ok(clone) => clone.check(),
                            Err(_) => return,
                        }
                    });
                }
            });
            shared.check();
            assert_eq!(drops.load(Ordering::Relaxed), 0);
            drop(shared);
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        }
    }
}
