//! A worker: one OS thread's scheduling loop.
//!
//! A worker holds a token (see the scheduler's "Tokens") and loops: find a
//! goroutine ([`Worker::find_work`]), run it until it switches out
//! ([`Worker::run`]), and file it by how it switched out: a yield goes to
//! the back of the local queue, a park is completed (or, if its wake came
//! first, the goroutine goes to `runnext`), a finish returns its stack to
//! this worker's cache and its memory to the worker that allocated it.
//! With nothing to do it idles ([`Worker::idle`]): it joins the idle list,
//! looks once more, and sleeps in its network poller (on its parker before
//! the netpoller exists), until the earliest timer if it watches timers.
//! Without a token it gives its queues to the global one and waits in the
//! pool ([`Worker::wait_in_pool`]).
//!
//! Taking a goroutine from a long pinned queue (a batch of timers fired, a
//! burst of wakes), it also takes the next one out and prefetches its
//! stack (`lookahead`), which loads while the first runs: those stacks
//! have left the cache while their goroutines slept.
//!
//! The worker's own state ([`Worker`]) lives on its thread's stack and is
//! reached through the `WORKER` thread-local, read only through the
//! non-inlined [`current_worker`] (see `goroutine`'s note on thread-locals).
//! The part others touch ([`Shared`]) lives in the runtime's slot table, so
//! it outlives the thread and passes to the next thread that takes the slot.

use super::counters::WorkerStats;
use super::queues::{LocalQueues, RunNext, Stealers};
use super::steal::Seen;
use super::{shard_of, Runtime, HANDOFF_DELAY, NO_HOME, PHASE_BITS, RUNNING, SCHEDULING};
use super::{Returned, ReturnedBatch};

/// How many goroutines must wait in the pinned `local` queue for the
/// worker to take the next one out early and prefetch its stack: a queue
/// that long was filled by a batch (timers firing) of goroutines parked a
/// while, whose stacks have left the cache. Shorter queues, as goroutines
/// woken one by one from another thread fill them in a chain of hand-offs,
/// are left alone: there the early take costs more than it saves.
const LOOKAHEAD_FROM: usize = 64;
use crate::clock::NEVER;
use crate::goroutine::{Outcome, Runnable};
use crate::netpoll::Poller;
use crate::stack::{Stack, StackCache};
use crate::testing::seed::{seeded_coin, SEEDED, SEED_EPOCH, SEED_STATE};
use crate::timers::TimerHeap;
use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// Rounds between fairness checks of the global queue (Go's 61).
pub(super) const FAIRNESS_TICK: u32 = 61;

/// A busy worker polls the network on its fairness round only while its
/// local queue holds fewer goroutines than this (about the rounds between
/// two fairness rounds): a longer queue will not run dry before the next
/// one, and sockets polled into it would only wait there instead of in the
/// kernel.
pub(super) const POLL_QUEUE_LIMIT: usize = 64;

/// Extra looks for work before a worker sleeps, and the pause between them.
pub(super) const SPIN_ROUNDS: usize = 4;
pub(super) const SPIN_PAUSES: usize = 200;

/// Most goroutines a worker takes from the global queue at once.
const INJECTOR_BATCH: usize = 64;

/// How long a worker keeps its token while a pooled worker waits for one
/// to run its pinned goroutines (Go's time slice): turns are taken at
/// least this often.
const TOKEN_TURN: u64 = 10_000_000;

/// Which worker slots are in use.
#[derive(Default)]
pub(super) struct SlotTable {
    pub(super) used: usize,
    pub(super) free: Vec<usize>,
}

/// The part of a worker others may touch.
pub(super) struct Shared {
    pub(super) stealer: Stealers,
    /// The local queues, while no thread runs this slot.
    pub(super) queue: Mutex<Option<LocalQueues>>,
    /// The goroutine to run next; see "runnext" in the module note.
    pub(super) runnext: RunNext,
    /// Started goroutines pinned here, woken by other threads: only this
    /// slot's thread may run them (see "Pinning" in the module note).
    pub(super) inbox: Injector<Runnable>,
    /// Started goroutines pinned here and readied by this thread (lengths
    /// only: nobody steals through it).
    pub(super) local_len: Stealer<Runnable>,
    /// The worker is on the idle list or waits in the pool, so a goroutine
    /// sent to its inbox must wake its thread. `SeqCst`, paired with the
    /// sender's fence after its push (a Dekker pair, as the idle list's).
    pub(super) asleep: AtomicBool,
    /// Waits in the pool with pinned goroutines to run: it wants a token
    /// back (see `Runtime::token_wanted`).
    pub(super) wants_token: AtomicBool,
    /// The id of the goroutine it runs now, for the monitor's warning
    /// (relaxed: a hint, looked up in the registry).
    pub(super) running: AtomicU64,
    /// Set by the monitor when the running goroutine has held the thread
    /// long while goroutines pinned here wait: the next preemption point
    /// (a `select!` that completes without waiting) yields. Relaxed: a
    /// hint; a stale `true` costs one yield.
    pub(super) preempt: AtomicBool,
    pub(super) thread: Mutex<Option<Thread>>,
    /// Set by a waker before it unparks the thread.
    pub(super) wake: AtomicBool,
    /// The slot's network poller: its goroutines' sockets, where its
    /// thread sleeps when idle. Made on first need once the netpoller
    /// exists (see `poller`).
    pub(super) poller: OnceLock<Poller>,
    /// The thread is blocked in [`poller`](Self::poller), so a waker
    /// writes its eventfd instead of unparking it. `SeqCst`, paired with
    /// `wake` (see `Worker::block_in_poller`).
    pub(super) in_poller: AtomicBool,
    /// Set by whoever hands a pooled worker a token.
    pub(super) granted: AtomicBool,
    /// `(goroutines run << PHASE_BITS) | phase`, written only by the worker
    /// (plain stores), sampled by the monitor.
    pub(super) status: AtomicU64,
    /// The monitor took this worker's token.
    pub(super) revoked: AtomicBool,
    /// The status word the monitor saw unchanged for `STUCK_AFTER`
    /// (one goroutine all that while) with goroutines queued behind it:
    /// while `status` still equals it, thieves take those goroutines at
    /// once (see `steal::backlog_aged`). Relaxed: a stale value no longer
    /// equals `status`, whose run count only grows.
    pub(super) stuck: AtomicU64,
    /// The thread running this worker, as the kernel knows it
    /// (`os_thread::OsThread::to_word`): the monitor asks whether a worker
    /// stuck in one goroutine is running, blocked or set aside.
    pub(super) os_thread: AtomicU64,
    /// Successful steals from this worker's queue (the monitor's evidence
    /// that its work is not starving). Relaxed: a counter. Written by the
    /// thieves, so on a cache line of its own.
    pub(super) robbed: CachePadded<AtomicU64>,
    /// A thread holding a token schedules here (so memory handed back here
    /// will be freed).
    pub(super) active: AtomicBool,
    /// Locked by the worker for every goroutine it starts or finishes
    /// (by the monitor rarely), so on a cache line of its own: a neighbour
    /// written by another thread would make each lock a cache miss.
    pub(super) stacks: CachePadded<Mutex<StackCache>>,
    pub(super) timers: TimerHeap,
    pub(super) stats: WorkerStats,
    /// Finished goroutines this worker allocated, handed back by the
    /// workers they finished on, to be freed here.
    pub(super) returned: Returned,
}

/// A worker's own state, living on its thread.
pub(crate) struct Worker {
    pub(super) index: usize,
    pub(super) rt: &'static Runtime,
    /// This worker's shared part (looked up once, used on every switch).
    pub(super) shared: &'static Shared,
    pub(super) queue: LocalQueue<Runnable>,
    /// Started goroutines pinned here that yielded or were woken here
    /// behind `runnext`: run by this thread only, never stolen.
    pub(super) local: LocalQueue<Runnable>,
    /// Goroutines pinned here that are alive: the thread must not exit
    /// before they finish (see "Pinning" in the module note).
    pub(super) pinned_live: Cell<usize>,
    /// When this worker last took a token (coarse clock; see `turn_over`).
    pub(super) token_since: Cell<u64>,
    /// Per victim slot, what this worker saw of its queue; see
    /// `steal::backlog_aged`.
    pub(super) backlog_seen: std::cell::RefCell<Vec<Seen>>,
    /// Goroutines spawned here while `queue` held [`LOCAL_SPAWN_LIMIT`](super::LOCAL_SPAWN_LIMIT):
    /// run when `queue` is empty, or one every [`FAIRNESS_TICK`] rounds.
    pub(super) spill: LocalQueue<Runnable>,
    /// Goroutines this worker has run (the high bits of `Shared::status`).
    pub(super) runs: Cell<u64>,
    pub(super) runnext_streak: Cell<u32>,
    pub(super) tick: Cell<u32>,
    /// Goroutines spawned here (see `free_one_returned`).
    pub(super) spawns: Cell<u32>,
    /// The ids this worker hands out next, `[next, end)`: a batch taken
    /// from `NEXT_ID` (see [`admit`](super::admit)).
    pub(super) ids: Cell<(u64, u64)>,
    /// Goroutines taken back from `returned` by a spawning loop, freed one
    /// a spawn (see `free_one_returned`).
    pub(super) to_free: Cell<ReturnedBatch>,
    pub(super) searching: Cell<bool>,
    /// The next goroutine spawned here starts on another worker (see
    /// [`spread_next_spawn`](super::spread_next_spawn)); `spread_turn` is
    /// the worker slot it tried last.
    pub(super) spread_next: Cell<bool>,
    pub(super) spread_turn: Cell<usize>,
    /// The last steal took only a few never-run goroutines: pause before
    /// the next (see `steal_from_workers`).
    pub(super) small_steal: Cell<bool>,
    pub(super) rng: Cell<u64>,
    pub(super) seed_epoch: Cell<u64>,
    /// Goroutines readied now are queued without waking anyone: set while
    /// this worker takes goroutines from the network poller.
    pub(super) quiet_wakes: Cell<bool>,
    /// When goroutines taken from the poller and still queued here are
    /// shared with an idle worker (`crate::clock::now_nanos`); 0 if none wait.
    pub(super) handoff_at: Cell<u64>,
    /// The pinned goroutine to run after the one just taken from a long
    /// `local` queue, taken out early to prefetch its stack (see
    /// [`LOOKAHEAD_FROM`]). Set only while [`LOOKAHEAD_FROM`] - 1 or more
    /// others wait in `local`, so the monitor's count of goroutines
    /// waiting here is never zero while it holds one.
    pub(super) lookahead: Cell<Option<Runnable>>,
}

thread_local! {
    pub(super) static WORKER: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

/// The worker this thread is, if any. Never inlined: see `goroutine`'s note
/// on thread-locals and migration.
#[inline(never)]
pub(super) fn current_worker() -> *const Worker {
    WORKER.with(Cell::get)
}

/// The index of the worker this thread is, if any.
pub(crate) fn current_worker_index() -> Option<usize> {
    let w = current_worker();
    // SAFETY: a non-null WORKER points at the Worker living on this thread's
    // stack for as long as the thread runs its loop.
    (!w.is_null()).then(|| unsafe { (*w).index })
}

impl Shared {
    /// Claims the right to release this worker's token (see
    /// `Worker::keep_token`): false if it was released already.
    pub(super) fn claim_release(&self) -> bool {
        self.revoked
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

impl Runtime {
    /// Starts a worker thread holding a token we already counted.
    pub(super) fn start_thread(&'static self) {
        let limit = self.max_threads.load(Ordering::Relaxed);
        if self.threads.fetch_add(1, Ordering::SeqCst) >= limit {
            super::thread_exhaustion(limit);
        }
        let index = self.claim_slot();
        let shared = self.shared(index);
        shared.active.store(true, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name(format!("goro-worker-{index}"))
            .spawn(move || self.worker_main(index));
        if let Err(e) = spawned {
            // The token must be run, and nothing else can run it.
            eprintln!("fatal error: goro cannot start worker thread {index}: {e}");
            std::process::abort();
        }
    }

    /// A slot for a new thread: one an exited thread left, or a new one.
    pub(super) fn claim_slot(&self) -> usize {
        let mut table = self.slot_table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = table.free.pop() {
            return index;
        }
        let index = table.used;
        table.used += 1;
        self.init_slot(index);
        index
    }

    /// Creates slot `index`'s shared part (idempotent).
    pub(super) fn init_slot(&self, index: usize) {
        let queues = LocalQueues::new();
        let _ = self.slots[index].set(Box::new(Shared {
            stealer: queues.stealers(),
            local_len: queues.local.stealer(),
            inbox: Injector::new(),
            asleep: AtomicBool::new(false),
            wants_token: AtomicBool::new(false),
            running: AtomicU64::new(0),
            preempt: AtomicBool::new(false),
            queue: Mutex::new(Some(queues)),
            runnext: RunNext::new(),
            thread: Mutex::new(None),
            wake: AtomicBool::new(false),
            poller: OnceLock::new(),
            in_poller: AtomicBool::new(false),
            granted: AtomicBool::new(false),
            status: AtomicU64::new(SCHEDULING),
            stuck: AtomicU64::new(u64::MAX),
            os_thread: AtomicU64::new(crate::os_thread::NO_THREAD),
            revoked: AtomicBool::new(false),
            robbed: CachePadded::new(AtomicU64::new(0)),
            active: AtomicBool::new(false),
            stacks: CachePadded::new(Mutex::new(StackCache::default())),
            timers: TimerHeap::default(),
            stats: WorkerStats::default(),
            returned: Returned::new(),
        }));
        self.started_count.fetch_max(index + 1, Ordering::AcqRel);
    }

    pub(super) fn worker_main(&'static self, index: usize) {
        let shared = self.shared(index);
        *shared.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::thread::current());
        let os_thread = crate::os_thread::OsThread::current();
        let word = os_thread.map_or(crate::os_thread::NO_THREAD, |t| t.to_word());
        shared.os_thread.store(word, Ordering::Relaxed);
        crate::signal::prepare_thread();
        let queues = shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("one thread per slot at a time");
        let worker = Worker {
            index,
            rt: self,
            shared,
            queue: queues.main,
            local: queues.local,
            pinned_live: Cell::new(0),
            token_since: Cell::new(crate::clock::coarse_now()),
            backlog_seen: std::cell::RefCell::new(Vec::new()),
            spill: queues.spill,
            runs: Cell::new(0),
            runnext_streak: Cell::new(0),
            tick: Cell::new(0),
            spawns: Cell::new(0),
            ids: Cell::new((0, 0)),
            to_free: Cell::default(),
            searching: Cell::new(false),
            spread_next: Cell::new(false),
            spread_turn: Cell::new(index),
            small_steal: Cell::new(false),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
            seed_epoch: Cell::new(0),
            quiet_wakes: Cell::new(false),
            handoff_at: Cell::new(0),
            lookahead: Cell::new(None),
        };
        WORKER.with(|w| w.set(&worker));
        // The thread starts with the token its starter counted; the slot
        // may still be marked revoked by the thread that left it.
        worker.took_token();
        worker.adopt_poller();
        worker.run_loop();
        WORKER.with(|w| w.set(std::ptr::null()));
        self.exit_thread(worker);
    }

    /// A pooled worker's thread exits: its queues (empty) wait in the slot
    /// for the next thread.
    pub(super) fn exit_thread(&self, worker: Worker) {
        let shared = worker.shared;
        worker.free_returned();
        *shared.thread.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *shared.queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(LocalQueues {
            main: worker.queue,
            spill: worker.spill,
            local: worker.local,
        });
        self.slot_table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free
            .push(worker.index);
        self.threads.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Worker {
    /// Schedules while this worker holds a token; without one, waits in
    /// the pool. Returns when the thread has waited there `POOL_IDLE` (see `idle`).
    pub(super) fn run_loop(&self) {
        loop {
            if !self.keep_token() {
                self.give_up_work();
                self.orphan_poller();
                if !self.wait_in_pool() {
                    return;
                }
                self.adopt_poller();
                continue;
            }
            match self.find_work().or_else(|| self.spin_for_work()) {
                Some(g) if !self.keep_token() => {
                    // Our token went while we looked: not ours to run now.
                    self.requeue(g);
                }
                Some(g) => {
                    self.stop_searching();
                    self.run(g);
                }
                None => self.idle(),
            }
        }
    }

    /// Whether this worker still holds its token. It loses it when the
    /// monitor revoked it (then it takes a free one if there is one), or
    /// when GOMAXPROCS shrank below the number of holders.
    ///
    /// Every release of a token first sets `Shared::revoked` (by CAS, so
    /// the monitor, a shrink and a turn's end never release one token
    /// twice), and only taking a token again clears it.
    pub(super) fn keep_token(&self) -> bool {
        let rt = self.rt;
        if self.shared.revoked.load(Ordering::Acquire) {
            return self.reclaim_token();
        }
        if rt.token_wanted() && self.turn_over() && rt.pass_token(self.shared) {
            return false;
        }
        !self.give_back_surplus()
    }

    /// Whether this worker has held its token for [`TOKEN_TURN`] (coarse
    /// clock): long enough to give a pooled worker its turn.
    fn turn_over(&self) -> bool {
        crate::clock::coarse_now().saturating_sub(self.token_since.get()) >= TOKEN_TURN
    }

    /// After a shrink of GOMAXPROCS below the number of holders: gives
    /// this worker's token back. Returns whether it no longer holds one.
    fn give_back_surplus(&self) -> bool {
        let rt = self.rt;
        let mut held = rt.holders.load(Ordering::Relaxed);
        if held <= rt.nprocs.load(Ordering::Relaxed) {
            return false;
        }
        if !self.shared.claim_release() {
            return true; // the monitor took it meanwhile
        }
        while held > rt.nprocs.load(Ordering::Relaxed) {
            match rt.holders.compare_exchange_weak(
                held,
                held - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
        // Others gave theirs back first: we keep ours.
        self.shared.revoked.store(false, Ordering::Release);
        false
    }

    /// After a revocation: takes a free token if there is one.
    pub(super) fn reclaim_token(&self) -> bool {
        if !self.rt.take_free_token() {
            return false;
        }
        self.took_token();
        true
    }

    /// This worker holds a token again (reclaimed, or granted in the pool).
    pub(super) fn took_token(&self) {
        self.shared.revoked.store(false, Ordering::Release);
        self.token_since.set(crate::clock::coarse_now());
    }

    /// Runs `g` until it switches out, then files it where it belongs; after
    /// a yield, runs the next goroutine of the local queue the same way
    /// while nothing else needs the scheduler (see
    /// [`next_after_yield`](Self::next_after_yield)).
    pub(super) fn run(&self, mut g: Runnable) {
        loop {
            let stats = &self.shared().stats;
            WorkerStats::bump(&stats.switches);
            let runs = self.runs.get() + 1;
            self.runs.set(runs);
            self.set_phase(RUNNING);
            self.shared.running.store(g.id(), Ordering::Relaxed);
            let traced = crate::trace::on();
            if traced {
                crate::trace::run_begins(&g);
            }
            // SAFETY: `g` came off a run queue or runnext, so this worker
            // owns it; it is started before it is resumed.
            let outcome = unsafe {
                if g.is_unstarted() && !self.start(&g) {
                    Outcome::Finished(None)
                } else {
                    g.resume()
                }
            };
            if traced {
                crate::trace::run_ends(&g, &outcome);
            }
            self.set_phase(SCHEDULING);
            match outcome {
                Outcome::Yielded => {
                    // No new work appeared, so nobody needs waking: whatever
                    // else is queued woke a worker when it was queued.
                    self.requeue_yielded(g);
                    if let Some(next) = self.next_after_yield() {
                        g = next;
                        continue;
                    }
                }
                Outcome::Parked => {
                    if crate::park::complete_park(&g) {
                        WorkerStats::bump(&stats.parks);
                    } else {
                        self.make_runnext(g);
                    }
                }
                Outcome::ParkedUnlocking(lock) => {
                    WorkerStats::bump(&stats.parks);
                    // The handle the goroutine published owns our reference now.
                    let _ = g.into_raw();
                    // SAFETY: the goroutine took the lock, which lives in what
                    // it waits on, and parked holding it; it no longer runs.
                    unsafe { (*lock).unlock() };
                }
                Outcome::Finished(stack) => {
                    if let Some(stack) = stack {
                        self.shared()
                            .stacks
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .put(stack);
                    }
                    self.rt.goroutine_finished(self.shard());
                    // SAFETY: we ran it, so we own it.
                    if unsafe { g.pinned_to() }.is_some() {
                        self.pinned_live.set(self.pinned_live.get() - 1);
                    }
                    self.release(g);
                }
            }
            return;
        }
    }

    /// After a yield: the next goroutine of the local queue (the one that
    /// yielded is at its back), if nothing else wants this round of the
    /// scheduling loop: the token is still ours, GOMAXPROCS did not shrink
    /// under us, it is not a fairness round (global queue, spill, network),
    /// no timer is pending here, `runnext` is empty, and no seeded run is
    /// on (those take the general path, step by step). Goroutines that
    /// yield to each other then switch through the queue alone, without
    /// the rest of the loop.
    /// The token checks are relaxed hints: a revocation or a shrink seen
    /// here sends the worker back to `run_loop`, whose `keep_token` acts on
    /// it (with `Acquire`), and one seen a yield late only delays that by
    /// one goroutine's run, as a revocation that lands during a run does.
    pub(super) fn next_after_yield(&self) -> Option<Runnable> {
        let tick = self.tick.get().wrapping_add(1);
        let rt = self.rt;
        if tick.is_multiple_of(FAIRNESS_TICK)
            || self.shared.revoked.load(Ordering::Relaxed)
            || rt.holders.load(Ordering::Relaxed) > rt.nprocs.load(Ordering::Relaxed)
            || self.shared().timers.earliest() != NEVER
            || self.shared.runnext.is_occupied()
            || SEEDED.load(Ordering::Relaxed)
        {
            return None;
        }
        self.tick.set(tick);
        self.local.pop().or_else(|| self.queue.pop())
    }

    /// Starts `g` on this worker (see `G::start`): it is pinned here
    /// unless it migrates. Returns whether it can run.
    ///
    /// # Safety
    /// This worker owns `g`, which has not started.
    unsafe fn start(&self, g: &Runnable) -> bool {
        // SAFETY: by the contract; we run it on this thread.
        let started = unsafe { g.start(self.index, self.shard(), || self.take_stack()) };
        // SAFETY: as above.
        if unsafe { g.pinned_to() }.is_some() {
            self.pinned_live.set(self.pinned_live.get() + 1);
        }
        started
    }

    /// Whether `g` is pinned to this worker (started here, not migrating).
    #[inline]
    fn pinned_here(&self, g: &Runnable) -> bool {
        // SAFETY: the caller owns `g` (it is being queued by us).
        unsafe { g.pinned_to() }.is_some()
    }

    /// Files a runnable goroutine behind the others here: a pinned one on
    /// the private local queue, any other on the queue others steal from.
    pub(super) fn requeue(&self, g: Runnable) {
        if self.pinned_here(&g) {
            self.local.push(g);
        } else {
            self.queue.push(g);
        }
    }

    /// A goroutine yielded: a pinned one waits here; one that migrates
    /// goes to the global queue if this worker lost its token meanwhile.
    fn requeue_yielded(&self, g: Runnable) {
        if !self.pinned_here(&g) && self.shared.revoked.load(Ordering::Acquire) {
            self.rt.injector.push(g);
            self.rt.notify_work();
        } else {
            self.requeue(g);
        }
    }

    pub(super) fn shared(&self) -> &'static Shared {
        self.shared
    }

    /// Publishes what this thread does, for the monitor (a plain store:
    /// only this thread writes it, and the monitor tolerates a stale view).
    pub(super) fn set_phase(&self, phase: u64) {
        let status = (self.runs.get() << PHASE_BITS) | phase;
        self.shared.status.store(status, Ordering::Relaxed);
    }

    /// Drops our reference to a finished goroutine. If it was allocated on
    /// another worker, the reference goes back there instead: if ours is the
    /// last one, freeing it here would make the C allocator take the other
    /// thread's arena lock, on every goroutine, against that thread's own
    /// allocations (the bottleneck of spawn-heavy programs).
    pub(super) fn release(&self, g: Runnable) {
        let home = g.home();
        // Only to an active worker: a pooled one does not schedule, so it
        // would not free what it is handed until it gets a token again.
        if home != self.index && home != NO_HOME {
            let shared = self.rt.shared(home);
            if shared.active.load(Ordering::Relaxed) {
                shared.returned.push(g);
            }
        }
    }

    /// Frees the goroutines other workers handed back, including what a
    /// spawning loop took back and had not freed yet.
    pub(super) fn free_returned(&self) {
        drop(self.to_free.take());
        let returned = &self.shared().returned;
        if !returned.is_empty() {
            drop(returned.take_all());
        }
    }

    /// Frees one goroutine handed back, for a goroutine spawning in a
    /// loop, which keeps this worker from scheduling. One a spawn: the C
    /// allocator then serves the next spawn's allocation from its
    /// per-thread cache, with what was just freed (freeing a batch at once
    /// overflows that cache into its slower bins). It looks at the shared
    /// list only every 16th spawn, since each look is a cache miss while
    /// another worker fills it.
    pub(super) fn free_one_returned(&self) {
        let spawns = self.spawns.get().wrapping_add(1);
        self.spawns.set(spawns);
        let mut batch = self.to_free.take();
        if let Some(g) = batch.next() {
            drop(g);
        } else if spawns.is_multiple_of(16) && !self.shared().returned.is_empty() {
            batch = self.shared().returned.take_all();
            drop(batch.next());
        }
        self.to_free.set(batch);
    }

    /// The counting and listing shard of this worker (see [`shard_of`]).
    pub(crate) fn shard(&self) -> usize {
        shard_of(self.index)
    }

    /// A stack for a goroutine about to run for the first time.
    pub(crate) fn take_stack(&self) -> std::io::Result<Stack> {
        self.shared()
            .stacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub(super) fn make_runnext(&self, g: Runnable) {
        if seeded_coin() == Some(false) {
            // Seeded: this time the woken goroutine queues behind the rest.
            return self.queue_behind(g);
        }
        let old = if self.pinned_here(&g) {
            self.shared.runnext.replace_pinned(g)
        } else {
            self.shared.runnext.replace(Some(g))
        };
        if let Some(old) = old {
            self.queue_behind(old);
        }
    }

    /// Queues `g` behind the others here and tells an idle worker. Out of
    /// line: a hand-off between two goroutines never comes here, and the
    /// wake path it would be inlined into is the hottest there is.
    #[cold]
    #[inline(never)]
    pub(super) fn queue_behind(&self, g: Runnable) {
        if self.pinned_here(&g) {
            // Nobody else may run it: no one to tell.
            return self.local.push(g);
        }
        self.queue.push(g);
        if !self.quiet_wakes.get() {
            self.rt.notify_work();
        }
    }

    /// The next pinned goroutine: from the local queue, after moving what
    /// other threads sent to the inbox behind it.
    fn take_pinned(&self) -> Option<Runnable> {
        if let Some(g) = self.lookahead.take() {
            self.look_ahead();
            return Some(g);
        }
        if !self.shared.inbox.is_empty() {
            while let Steal::Retry = self.shared.inbox.steal_batch(&self.local) {}
        }
        let g = self.local.pop()?;
        self.look_ahead();
        Some(g)
    }

    /// With a long `local` queue: takes the next goroutine out as
    /// [`lookahead`](Self::lookahead) and prefetches its stack, which then
    /// loads while the one just taken runs.
    #[inline]
    fn look_ahead(&self) {
        if self.local.len() >= LOOKAHEAD_FROM {
            self.take_lookahead();
        }
    }

    /// Out of line: the scheduling loop's hot path stays as small as
    /// without it.
    #[cold]
    #[inline(never)]
    fn take_lookahead(&self) {
        if let Some(next) = self.local.pop() {
            crate::stack::prefetch_stack(next.parked_sp.load(Ordering::Relaxed));
            self.lookahead.set(Some(next));
        }
    }

    /// Whether goroutines pinned here wait to run (`runnext` aside).
    pub(super) fn has_pinned_work(&self) -> bool {
        !self.local.is_empty() || !self.shared.inbox.is_empty() || self.holds_lookahead()
    }

    fn holds_lookahead(&self) -> bool {
        let g = self.lookahead.take();
        let held = g.is_some();
        self.lookahead.set(g);
        held
    }

    pub(super) fn find_work(&self) -> Option<Runnable> {
        let epoch = SEED_EPOCH.load(Ordering::Relaxed);
        if epoch != self.seed_epoch.get() {
            // A seeded run starts: from the same state every time, and with
            // steal victims drawn from the seed (by this worker alone, so
            // the shared sequence stays in program order).
            self.seed_epoch.set(epoch);
            self.tick.set(0);
            self.runnext_streak.set(0);
            if SEEDED.load(Ordering::Relaxed) {
                let seed = SEED_STATE.load(Ordering::Relaxed);
                self.rng
                    .set((seed ^ self.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            }
        }
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        self.hand_off_polled();
        self.free_returned();
        let timers = &self.shared().timers;
        if timers.earliest() != NEVER {
            timers.fire_due(crate::clock::tick_clock());
        }
        if tick.is_multiple_of(FAIRNESS_TICK) {
            crate::clock::tick_clock();
            self.rt.fire_all_timers();
            if self.queue.len() < POLL_QUEUE_LIMIT {
                self.poll_network();
            }
            let fresh = self.take_one_from_injector().or_else(|| self.spill.pop());
            if let Some(g) = fresh.or_else(|| self.queue.pop()) {
                return Some(g);
            }
        }
        if let Some(g) = self.take_runnext() {
            return Some(g);
        }
        self.runnext_streak.set(0);
        // `take_runnext` may have passed over runnext for fairness, and a
        // thief may have emptied the queue since: then runnext it is, or
        // it would be stranded there while this worker sleeps.
        self.take_pinned()
            .or_else(|| self.take_queued())
            .or_else(|| self.shared.runnext.take())
            .or_else(|| self.take_polled())
    }

    /// Polls this worker's poller without blocking if goroutines wait for
    /// I/O; returns whether any became runnable (here, or at their homes).
    pub(super) fn poll_network(&self) -> bool {
        crate::netpoll::waiters() > 0 && self.poll_quietly(Some(Duration::ZERO)) > 0
    }

    /// Polls this worker's poller, queueing the goroutines it readies here without
    /// waking another worker for them; if some are still queued
    /// [`HANDOFF_DELAY`] on, `hand_off_polled` does. Returns how many.
    pub(super) fn poll_quietly(&self, timeout: Option<Duration>) -> usize {
        let Some(poller) = self.shared.poller() else {
            return 0;
        };
        self.quiet_wakes.set(true);
        let readied = poller.poll(timeout);
        self.quiet_wakes.set(false);
        if readied > 0 && !self.queue.is_empty() && self.handoff_at.get() == 0 {
            self.handoff_at
                .set(crate::clock::now_nanos() + HANDOFF_DELAY.as_nanos() as u64);
        }
        readied
    }

    /// Wakes an idle worker to share the goroutines taken from the poller
    /// if they have waited in the local queue for [`HANDOFF_DELAY`].
    pub(super) fn hand_off_polled(&self) {
        let at = self.handoff_at.get();
        if at == 0 {
            return;
        }
        if self.queue.is_empty() {
            self.handoff_at.set(0);
        } else if crate::clock::now_nanos() >= at {
            self.handoff_at.set(0);
            self.rt.notify_work();
        }
    }

    /// Nothing else to run: a goroutine whose socket became ready, if any.
    pub(super) fn take_polled(&self) -> Option<Runnable> {
        if self.poll_network() {
            let pinned = self.shared.runnext.take().or_else(|| self.take_pinned());
            pinned.or_else(|| self.queue.pop())
        } else {
            None
        }
    }

    /// The next goroutine from the local queue, the spill, the global
    /// queue, or another worker's queues. The local pop is inlined into the
    /// scheduling loop; looking further is not.
    #[inline]
    pub(super) fn take_queued(&self) -> Option<Runnable> {
        self.queue.pop().or_else(|| self.take_from_others())
    }

    /// The local queue is empty: its spill, the global queue, or another
    /// worker's queues.
    #[inline(never)]
    pub(super) fn take_from_others(&self) -> Option<Runnable> {
        self.spill
            .pop()
            .or_else(|| self.steal_from_injector())
            .or_else(|| self.steal_from_workers())
    }

    /// Looks again a few times, briefly, before going to sleep: work often
    /// appears within microseconds, and a sleep and wake cost far more.
    /// Not while goroutines wait for I/O (see the module note).
    pub(super) fn spin_for_work(&self) -> Option<Runnable> {
        if crate::netpoll::waiters() > 0 {
            return None;
        }
        (0..SPIN_ROUNDS).find_map(|_| {
            (0..SPIN_PAUSES).for_each(|_| std::hint::spin_loop());
            self.take_pinned().or_else(|| self.take_queued())
        })
    }

    pub(super) fn take_runnext(&self) -> Option<Runnable> {
        let streak = self.runnext_streak.get();
        let others_wait =
            !self.local.is_empty() || !self.queue.is_empty() || !self.spill.is_empty();
        if streak >= FAIRNESS_TICK && others_wait {
            self.runnext_streak.set(0);
            return None;
        }
        let g = self.shared.runnext.take()?;
        self.runnext_streak.set(streak + 1);
        Some(g)
    }

    /// One goroutine from the injector, for fairness (Go's `globrunqget`
    /// of one): a batch would queue goroutines spawned long ago ahead of
    /// those woken here since.
    pub(super) fn take_one_from_injector(&self) -> Option<Runnable> {
        self.take_from_injector(|| self.rt.injector.steal())
    }

    /// A batch from the injector into the local queue, one returned: all
    /// it holds, up to [`INJECTOR_BATCH`], so that goroutines spawned
    /// together from a plain thread start together here (a goroutine stays
    /// on the thread it starts on, and goroutines spawned together usually
    /// talk to each other); idle workers steal from the backlog.
    pub(super) fn steal_from_injector(&self) -> Option<Runnable> {
        let injector = &self.rt.injector;
        let g = self.take_from_injector(|| injector.steal_batch_and_pop(&self.queue))?;
        while self.queue.len() < INJECTOR_BATCH
            && !matches!(injector.steal_batch(&self.queue), Steal::Empty)
        {}
        Some(g)
    }

    /// `steal` from the injector until it does not ask for a retry; counts
    /// a success for the monitor (see `Runtime::injector_takes`).
    pub(super) fn take_from_injector(
        &self,
        steal: impl Fn() -> Steal<Runnable>,
    ) -> Option<Runnable> {
        loop {
            match steal() {
                Steal::Success(g) => {
                    self.rt.injector_takes.fetch_add(1, Ordering::Relaxed);
                    return Some(g);
                }
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    pub(super) fn stop_searching(&self) {
        if self.searching.replace(false) {
            // We were the (last) searcher and found work: there may be more,
            // so pass the baton on, as Go's resetspinning does.
            if self.rt.searching.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.rt.notify_work();
            }
        }
    }
}
