//! Goroutine ids, goroutine counts and per-worker statistics.
//!
//! Every counter here is written by one thread where it can be (a relaxed
//! load and store, no read-modify-write, so a spawn makes no locked
//! instruction for it) and summed by readers, relaxed: what `metrics`,
//! `num_goroutine` and `schedtrace` show is a snapshot.

use super::worker::{current_worker, Worker};
use super::{Runtime, MAX_PROCS, NO_HOME, RUNNING};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

/// Goroutines spawned and alive, counted where they were spawned (and
/// finished): one per worker slot below `MAX_PROCS`, written only by the
/// thread running that slot (a slot passes from one thread to the next
/// under the slot table's lock, which orders their writes), plus one
/// shared by plain threads and the slots above. A worker's counts take a
/// relaxed load and store, no read-modify-write: a spawn makes no locked
/// instruction for them (each one waits for the spawn's earlier stores,
/// whose cache lines the other worker wrote last). The shared counts take
/// atomic adds. Readers sum them all, relaxed (`live_goroutines`: a
/// snapshot).
#[derive(Default)]
pub(super) struct Counts {
    pub(super) live: AtomicIsize,
    pub(super) spawned: AtomicU64,
}

impl Counts {
    /// Adds `delta` to the live count and `spawned` to the spawned one.
    /// `shared`: the counts of plain threads, written by many.
    pub(super) fn add(&self, delta: isize, spawned: u64, shared: bool) {
        if shared {
            self.live.fetch_add(delta, Ordering::Relaxed);
            self.spawned.fetch_add(spawned, Ordering::Relaxed);
        } else {
            let live = self.live.load(Ordering::Relaxed);
            self.live.store(live.wrapping_add(delta), Ordering::Relaxed);
            let total = self.spawned.load(Ordering::Relaxed);
            self.spawned.store(total + spawned, Ordering::Relaxed);
        }
    }
}

/// Scheduling events of one worker, written only by it (so a relaxed load
/// and store, no read-modify-write), read by `metrics`.
#[derive(Default)]
pub(crate) struct WorkerStats {
    pub(super) switches: AtomicU64,
    pub(super) parks: AtomicU64,
    pub(super) steals: AtomicU64,
    /// Goroutines this worker readied for another worker's thread.
    pub(super) remote_wakes: AtomicU64,
}

impl WorkerStats {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Uncounts a finished (or never started) goroutine.
    pub(crate) fn goroutine_finished(&self, shard: usize) {
        self.live[shard].add(-1, 0, shard == MAX_PROCS);
    }

    /// The counts of started workers and plain threads.
    pub(super) fn all_counts(&self) -> impl Iterator<Item = &Counts> {
        let started = self.started_count.load(Ordering::Acquire).min(MAX_PROCS);
        self.live[..started]
            .iter()
            .chain(&self.live[MAX_PROCS..])
            .map(|c| &**c)
    }

    /// Goroutines spawned and not finished.
    pub(crate) fn live_goroutines(&self) -> usize {
        let sum: isize = self
            .all_counts()
            .map(|c| c.live.load(Ordering::Relaxed))
            .sum();
        sum.max(0) as usize
    }

    /// Totals for `metrics`: goroutines spawned, context switches, parks,
    /// steals, remote wakes.
    pub(crate) fn totals(&self) -> [u64; 5] {
        let spawned = self
            .all_counts()
            .map(|c| c.spawned.load(Ordering::Relaxed))
            .sum();
        let started = self.started_count.load(Ordering::Acquire);
        let mut totals = [spawned, 0, 0, 0, 0];
        for i in 0..started {
            let stats = &self.shared(i).stats;
            totals[1] += stats.switches.load(Ordering::Relaxed);
            totals[2] += stats.parks.load(Ordering::Relaxed);
            totals[3] += stats.steals.load(Ordering::Relaxed);
            totals[4] += stats.remote_wakes.load(Ordering::Relaxed);
        }
        totals
    }

    /// For the scheduler trace: the global queue's length, each active
    /// worker's local queue length with its spill (`runnext` is not
    /// counted), idle workers, and searching workers.
    pub(crate) fn queue_lengths(&self) -> (usize, Vec<usize>, usize, usize) {
        let started = self.started_count.load(Ordering::Acquire);
        let local = (0..started)
            .map(|i| self.shared(i))
            .filter(|s| s.active.load(Ordering::Relaxed))
            .map(|s| s.stealer.len())
            .collect();
        (
            self.injector.len(),
            local,
            self.idle.len(),
            self.searching.load(Ordering::Relaxed),
        )
    }

    /// For the execution trace: goroutines live, runnable (queued, or in
    /// a `runnext` slot) and parked (the rest, less those running): a
    /// snapshot, relaxed.
    pub(crate) fn goroutine_counts(&self) -> [u64; 3] {
        let started = self.started_count.load(Ordering::Acquire);
        let (mut runnable, mut running) = (self.injector.len(), 0);
        for shared in (0..started).map(|i| self.shared(i)) {
            runnable += shared.stealer.len() + shared.inbox.len() + shared.local_len.len();
            runnable += usize::from(shared.runnext.is_occupied());
            running += (shared.status.load(Ordering::Relaxed) & RUNNING) as usize;
        }
        let live = self.live_goroutines();
        let parked = live.saturating_sub(runnable + running);
        [live, runnable, parked].map(|n| n as u64)
    }

    /// Stacks cached by the workers.
    pub(crate) fn cached_stacks(&self) -> usize {
        let started = self.started_count.load(Ordering::Acquire);
        (0..started)
            .map(|i| {
                self.shared(i)
                    .stacks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .len()
            })
            .sum()
    }

    /// Worker threads alive (with a token or not).
    pub(crate) fn worker_threads(&self) -> usize {
        self.threads.load(Ordering::SeqCst)
    }

    /// Tokens the monitor has taken from stuck workers since the start.
    pub(crate) fn retakes(&self) -> u64 {
        self.retakes.load(Ordering::Relaxed)
    }

    /// Threads of the runtime: workers alive, and helpers.
    pub(crate) fn runtime_threads(&self) -> usize {
        self.worker_threads()
            + self.helper_threads
            + crate::blocking::helper_threads()
            + crate::userfault::threads()
            + crate::trace::writer_threads()
    }
}

/// Goroutine ids a worker takes from the global counter at once (Go's
/// `_GoidCacheBatch` is 16): its spawns then make no locked instruction
/// for their ids. Ids stay unique; across workers they are not in spawn
/// order, as in Go.
pub(super) const ID_BATCH: u64 = 64;

/// The next goroutine id not handed out. It has a cache line of its own:
/// every refill writes it, and a neighbour written by other threads would
/// make each of those writes a cache miss.
pub(super) static NEXT_ID: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(1));

/// Admits a new goroutine, with one look at the calling thread's worker:
/// counts it there and returns that worker's index (the goroutine's home;
/// [`NO_HOME`] on a plain thread) and a new goroutine id, from the worker's
/// batch or, on a plain thread, straight from the counter.
pub(crate) fn admit() -> (usize, u64) {
    let rt = super::runtime();
    rt.ensure_started();
    let w = current_worker();
    if w.is_null() {
        rt.live[MAX_PROCS].add(1, 1, true);
        return (NO_HOME, NEXT_ID.fetch_add(1, Ordering::Relaxed));
    }
    // SAFETY: WORKER points at the live Worker of this thread.
    let w = unsafe { &*w };
    rt.live[w.shard()].add(1, 1, w.shard() == MAX_PROCS);
    (w.index, w.next_id())
}

impl Worker {
    /// A new goroutine id from this worker's batch.
    pub(super) fn next_id(&self) -> u64 {
        let (mut next, mut end) = self.ids.get();
        if next == end {
            next = NEXT_ID.fetch_add(ID_BATCH, Ordering::Relaxed);
            end = next + ID_BATCH;
        }
        self.ids.set((next + 1, end));
        next
    }
}

/// The counting and listing shard of worker slot `index` (or of
/// [`NO_HOME`]): each slot below `MAX_PROCS` has its own, which only the
/// thread running that slot writes (see `Counts`); plain threads and the
/// slots above (threads left in blocking calls, beyond GOMAXPROCS
/// 1024) share the last.
pub(crate) fn shard_of(index: usize) -> usize {
    index.min(MAX_PROCS)
}
