//! The scheduler's queues and lists.
//!
//! - [`LocalQueues`]: a worker's local FIFO and its spill (crossbeam-deque
//!   `Worker`s): only the owning thread pushes and pops; others take half
//!   through the [`Stealers`].
//! - [`RunNext`]: the goroutine a worker runs next: a pinned one in a word
//!   only its owner touches, one that migrates in a word emptied by swaps
//!   (owner, or the monitor on a revoked worker), so exactly one taker gets
//!   a goroutine.
//! - [`WorkerList`]: the idle and the pooled workers, a locked list with a
//!   count read without the lock.
//! - [`Returned`]: finished goroutines handed back to the worker that
//!   allocated them, a lock-free stack linked through the goroutines.

use crate::goroutine::Runnable;
use crossbeam_deque::{Steal, Stealer, Worker as LocalQueue};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Worker indices (the idle workers, the pooled ones) with a count that is
/// read without the lock. `SeqCst` on the count: it is one side of the
/// Dekker pairs in the module note (a producer reads it after pushing work;
/// the monitor reads it against its sleeping flag).
#[derive(Default)]
pub(super) struct WorkerList {
    pub(super) list: Mutex<Vec<usize>>,
    pub(super) len: AtomicUsize,
}

impl WorkerList {
    pub(super) fn locked(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Adds `index`. The count moves under the lock, as in `remove`, so it
    /// never drops below the list's length (a remover that found the index
    /// before this push had counted it would make it wrap).
    pub(super) fn push(&self, index: usize) {
        let mut list = self.locked();
        list.push(index);
        self.len.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes `index` off the list; false if someone else already did.
    pub(super) fn remove(&self, index: usize) -> bool {
        let mut list = self.locked();
        let Some(pos) = list.iter().position(|&i| i == index) else {
            return false;
        };
        list.swap_remove(pos);
        self.len.fetch_sub(1, Ordering::SeqCst);
        true
    }

    /// Takes the most recently added index other than `skip` that `prefer`
    /// accepts, else the most recent one other than `skip`.
    pub(super) fn pop_preferring(
        &self,
        skip: Option<usize>,
        prefer: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut list = self.locked();
        let pos = list
            .iter()
            .rposition(|&i| Some(i) != skip && prefer(i))
            .or_else(|| list.iter().rposition(|&i| Some(i) != skip))?;
        let index = list.remove(pos);
        self.len.fetch_sub(1, Ordering::SeqCst);
        Some(index)
    }

    pub(super) fn last(&self) -> Option<usize> {
        self.locked().last().copied()
    }

    pub(super) fn for_each(&self, f: impl FnMut(usize)) {
        self.locked().iter().copied().for_each(f);
    }
}

/// A worker's local FIFOs: `main`, for the first
/// [`LOCAL_SPAWN_LIMIT`](super::LOCAL_SPAWN_LIMIT) goroutines it spawns
/// and for migrating goroutines it wakes or that yield; `spill`, for the
/// goroutines it spawns beyond those (both stealable); and `local`, for
/// the started goroutines pinned to it that yield or wake behind
/// `runnext`, which only its thread runs (see the module note).
pub(super) struct LocalQueues {
    pub(super) main: LocalQueue<Runnable>,
    pub(super) spill: LocalQueue<Runnable>,
    pub(super) local: LocalQueue<Runnable>,
}

impl LocalQueues {
    pub(super) fn new() -> LocalQueues {
        LocalQueues {
            main: LocalQueue::new_fifo(),
            spill: LocalQueue::new_fifo(),
            local: LocalQueue::new_fifo(),
        }
    }

    pub(super) fn stealers(&self) -> Stealers {
        Stealers {
            main: self.main.stealer(),
            spill: self.spill.stealer(),
        }
    }
}

/// Other threads' handles on a worker's [`LocalQueues`].
pub(super) struct Stealers {
    pub(super) main: Stealer<Runnable>,
    pub(super) spill: Stealer<Runnable>,
}

impl Stealers {
    pub(super) fn is_empty(&self) -> bool {
        self.main.is_empty() && self.spill.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.main.len() + self.spill.len()
    }

    /// Half of `main` into `dest` (one of them returned), or of `spill`
    /// if `main` is empty: all of the half in one go, as Go's `runqsteal`
    /// takes, not a capped batch. Stolen goroutines start on the thief for
    /// good, so every separate batch adds two places where goroutines
    /// spawned in a row (a chain, a pipeline) talk across threads.
    pub(super) fn steal_batch_and_pop(&self, dest: &LocalQueue<Runnable>) -> Steal<Runnable> {
        match self.main.steal_batch_with_limit_and_pop(dest, usize::MAX) {
            Steal::Empty => self.spill.steal_batch_with_limit_and_pop(dest, usize::MAX),
            taken => taken,
        }
    }
}

/// A worker's `runnext`: the goroutine it runs next, in one of two words.
/// A goroutine pinned to the worker (nearly every wake) goes in `pinned`,
/// which only the owner's thread writes, with plain stores: nobody else
/// may run that goroutine, so nobody else takes it. One that migrates (the
/// `unsafe` opt-in, or a seeded spawn) goes in `slot`, which the monitor
/// also empties when it revokes the owner's token (the goroutine in it
/// would wait for the stuck one otherwise): one word, swapped, so a swap
/// that takes a goroutine owns it and owner and monitor never both get it
/// (`AcqRel`: the taker sees what the filler wrote before it filled).
/// Others read either word only to see whether it is occupied (relaxed: a
/// hint).
pub(super) struct RunNext {
    pub(super) slot: AtomicPtr<u8>,
    pinned: AtomicPtr<u8>,
}

impl RunNext {
    pub(super) fn new() -> RunNext {
        RunNext {
            slot: AtomicPtr::new(std::ptr::null_mut()),
            pinned: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Puts `g`, which migrates, in the slot (or empties it); returns what
    /// was there.
    pub(super) fn replace(&self, g: Option<Runnable>) -> Option<Runnable> {
        let new = g.map_or(std::ptr::null_mut(), Runnable::into_raw);
        let old = self.slot.swap(new, Ordering::AcqRel);
        // SAFETY: a non-null word in the slot came from `into_raw`, and the
        // swap took it out for us alone.
        (!old.is_null()).then(|| unsafe { Runnable::from_raw(old) })
    }

    /// Puts `g`, pinned to this worker, in its word; returns the pinned
    /// goroutine that was there. The owner's thread only.
    pub(super) fn replace_pinned(&self, g: Runnable) -> Option<Runnable> {
        let old = self.pinned.load(Ordering::Relaxed);
        self.pinned.store(g.into_raw(), Ordering::Relaxed);
        // SAFETY: a non-null word came from `into_raw`, and only this
        // thread takes it.
        (!old.is_null()).then(|| unsafe { Runnable::from_raw(old) })
    }

    /// Empties it, the pinned word first. The owner's thread only.
    pub(super) fn take(&self) -> Option<Runnable> {
        let pinned = self.pinned.load(Ordering::Relaxed);
        if !pinned.is_null() {
            self.pinned.store(std::ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: as in `replace_pinned`.
            return Some(unsafe { Runnable::from_raw(pinned) });
        }
        self.take_migrating()
    }

    /// Empties the slot of a goroutine that migrates; no atomic write when
    /// it is seen empty (exact for the owner, which alone fills it; a
    /// harmless miss for the monitor).
    pub(super) fn take_migrating(&self) -> Option<Runnable> {
        if self.slot.load(Ordering::Relaxed).is_null() {
            return None;
        }
        self.replace(None)
    }

    pub(super) fn is_occupied(&self) -> bool {
        !self.pinned.load(Ordering::Relaxed).is_null()
            || !self.slot.load(Ordering::Relaxed).is_null()
    }
}

/// Finished goroutines handed back to the worker that allocated them, to
/// be freed there (see `scheduler::Worker::release`): a lock-free stack
/// linked through the goroutines themselves, so handing one back allocates
/// nothing (a queue's blocks, allocated by one thread and freed by the
/// other, made the C allocator take a lock for them). Any thread pushes
/// with a CAS of the head; the owner takes the whole list with one swap,
/// which is immune to ABA. The CAS is `Release` and the swap `Acquire`, so
/// the owner sees each goroutine's link and everything its finisher wrote.
pub(crate) struct Returned {
    pub(super) head: AtomicPtr<u8>,
}

impl Returned {
    /// An empty list.
    pub(crate) const fn new() -> Returned {
        Returned {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Adds `g` (a finished goroutine).
    pub(crate) fn push(&self, g: Runnable) {
        let link = g.returned_link();
        let raw = g.into_raw();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: until the CAS below publishes it, `g` is ours alone;
            // after, nobody writes the link again until the owner took it.
            unsafe { *link = head };
            match self
                .head
                .compare_exchange_weak(head, raw, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether the list is empty (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes every goroutine in the list.
    pub(crate) fn take_all(&self) -> ReturnedBatch {
        ReturnedBatch(self.head.swap(std::ptr::null_mut(), Ordering::Acquire))
    }
}

/// Goroutines taken off a [`Returned`] list, in a chain through their
/// links; dropping it drops what is left.
pub(crate) struct ReturnedBatch(*mut u8);

impl Default for ReturnedBatch {
    /// An empty batch.
    fn default() -> ReturnedBatch {
        ReturnedBatch(std::ptr::null_mut())
    }
}

impl Iterator for ReturnedBatch {
    type Item = Runnable;

    fn next(&mut self) -> Option<Runnable> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: every word in the chain was made by `into_raw` in `push`,
        // and the swap in `take_all` made this batch its only owner.
        let g = unsafe { Runnable::from_raw(self.0) };
        // SAFETY: written by `push` before the `Release` CAS that the
        // `Acquire` swap in `take_all` synchronised with.
        self.0 = unsafe { *g.returned_link() };
        Some(g)
    }
}

impl Drop for ReturnedBatch {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}
