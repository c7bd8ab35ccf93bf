//! The scheduler: GOMAXPROCS workers running goroutines M:N.
//!
//! # Design (Go's G/M/P, folded into one "worker" per P)
//! - Each worker is an OS thread with a local FIFO run queue (a
//!   crossbeam-deque `Worker`, whose `Stealer` others take from) and a
//!   `runnext` slot. A goroutine woken by another goes into the waker's
//!   `runnext` and runs as soon as the waker parks: ping-pong between two
//!   goroutines then never touches a queue or another thread.
//! - New goroutines from a worker go on its local queue; from a plain thread
//!   into the global `injector`.
//! - A worker looks for work in this order: timers due; the injector on every
//!   61st round (so goroutines that keep respawning each other cannot starve
//!   it); `runnext` (but not more than 61 times in a row, so a ping-pong pair
//!   cannot starve the local queue); the local queue; the injector; then it
//!   steals half of another worker's queue, visiting victims from a random
//!   start.
//! - Idle workers sleep on their thread parker (a futex). New work wakes at
//!   most one *searching* worker: `notify_work` does nothing while one is
//!   searching, and a searcher that finds work wakes the next (Go's
//!   `wakep`/`resetspinning` chain), so bursts spread without a thundering
//!   herd and an idle program uses no CPU. Before sleeping, a worker looks
//!   again a few times over a few microseconds: new work often appears that
//!   soon, and a futex sleep and wake cost far more.
//! - Once a socket has been registered with the netpoller, one idle worker
//!   (the *poller*) sleeps in `netpoll::poll` instead of on its parker, and
//!   wakes with the goroutines whose sockets became ready on its run queue
//!   (another idle worker takes the role over while it runs them); busy
//!   workers poll without blocking before they go idle and every 61st
//!   round.
//! - A finished goroutine's memory is handed back to the worker that
//!   allocated it (its `returned` queue), which frees it as it schedules or
//!   spawns: freeing on another thread would make the C allocator take that
//!   thread's arena lock for every goroutine.
//!
//! # Invariants
//! - A goroutine is in at most one place: a run queue, `runnext`, running on
//!   one worker, or parked (owned by whoever will unpark it).
//! - Only a worker's own thread touches its local queue's push/pop end and
//!   its `runnext`; others only steal through the `Stealer`.
//! - A worker with index `>= nprocs` retires: it moves its queue to the
//!   injector and sleeps until GOMAXPROCS grows again.
//!
//! # No lost wakeups
//! A worker going to sleep registers in the idle list and then re-checks
//! every queue; a producer pushes and then checks the idle count. Both sides
//! put a `SeqCst` fence between their write and their read (a Dekker pair),
//! so at least one of them sees the other: either the sleeper sees the work,
//! or the producer sees the sleeper and wakes it. A searcher that stops
//! searching re-checks the queues for the same reason (a producer may have
//! skipped the wakeup because it saw the searcher).

use crate::goroutine::{GRef, Outcome};
use crate::stack::{Stack, StackCache};
use crate::timer::{self, TimerHeap, NEVER};
use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::sync::atomic::{fence, AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Most workers GOMAXPROCS can ask for.
pub(crate) use crate::procs::MAX_PROCS;

/// Rounds between fairness checks of the global queue (Go's 61).
const FAIRNESS_TICK: u32 = 61;

/// Extra looks for work before a worker sleeps, and the pause between them.
const SPIN_ROUNDS: usize = 4;
const SPIN_PAUSES: usize = 200;

/// How long a worker idles before it releases its cached stacks' deep pages.
const TRIM_DELAY: Duration = Duration::from_millis(10);

/// Seeded scheduling (`GOSEED`, `goro::testing`): whether it is on, and the
/// state of its SplitMix64 generator. Relaxed: at GOMAXPROCS=1 one thread
/// draws them all, in program order; the seed is set before the goroutines
/// it governs are spawned (the spawn's queue push orders it).
static SEEDED: AtomicBool = AtomicBool::new(false);
static SEED_STATE: AtomicU64 = AtomicU64::new(0);
/// Bumped on every `set_seed`, so workers start each seeded run from the
/// same state (their fairness counters reset).
static SEED_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Sets the scheduling seed (`None`: choices are the runtime's own again);
/// returns the previous one.
pub(crate) fn set_seed(seed: Option<u64>) -> Option<u64> {
    let previous = SEEDED
        .load(Ordering::Relaxed)
        .then(|| SEED_STATE.load(Ordering::Relaxed));
    if let Some(seed) = seed {
        SEED_STATE.store(seed, Ordering::Relaxed);
    }
    SEEDED.store(seed.is_some(), Ordering::Relaxed);
    SEED_EPOCH.fetch_add(1, Ordering::Relaxed);
    previous
}

/// The next seeded random number, if scheduling is seeded.
pub(crate) fn seeded_random() -> Option<u64> {
    if !SEEDED.load(Ordering::Relaxed) {
        return None;
    }
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut z = SEED_STATE
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Some(z ^ (z >> 31))
}

/// A seeded coin toss: `Some(heads)` when scheduling is seeded.
fn seeded_coin() -> Option<bool> {
    seeded_random().map(|r| r & 1 == 1)
}

/// The process-wide runtime.
pub(crate) struct Runtime {
    injector: Injector<GRef>,
    slots: Box<[OnceLock<Shared>]>,
    /// GOMAXPROCS: workers `[0, nprocs)` run goroutines.
    nprocs: AtomicUsize,
    /// Worker threads started so far (`slots[..started]` are initialised).
    started: Mutex<usize>,
    started_count: AtomicUsize,
    /// Indices of sleeping workers.
    idle: Mutex<Vec<usize>>,
    nidle: AtomicUsize,
    /// Workers looking for work (at most one is woken for new work).
    searching: AtomicUsize,
    /// Live goroutines (Go's `NumGoroutine`), one counter per worker plus
    /// one for plain threads (the last), so spawning on one worker and
    /// finishing on another does not bounce one cache line between them.
    /// A counter may go negative; the sum never does.
    live: Box<[CachePadded<Counts>]>,
    /// The deadline the timer-watching idle worker sleeps until, or NEVER.
    watch_deadline: AtomicU64,
    /// Whether an idle worker is watching timers.
    watcher: AtomicBool,
    /// Threads of the runtime's own besides the workers (the SIGQUIT one).
    helper_threads: usize,
    /// A thread blocked while every worker idled: an idle worker must run
    /// the deadlock check (the last worker to idle ran it too early).
    check_requested: AtomicBool,
    /// Index + 1 of the idle worker blocked in `netpoll::poll`, or 0. At
    /// most one worker blocks there; `SeqCst`, paired with the `wake` flags
    /// (see `Worker::block_in_poller`).
    poller: AtomicUsize,
}

/// Goroutines spawned and alive, counted where they were spawned (and
/// finished): one per worker plus one for plain threads.
#[derive(Default)]
struct Counts {
    live: AtomicIsize,
    spawned: AtomicU64,
}

/// Scheduling events of one worker, written only by it (so a relaxed load
/// and store, no read-modify-write), read by `metrics`.
#[derive(Default)]
pub(crate) struct WorkerStats {
    switches: AtomicU64,
    parks: AtomicU64,
    steals: AtomicU64,
}

impl WorkerStats {
    fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// The part of a worker others may touch.
struct Shared {
    stealer: Stealer<GRef>,
    /// The local queue, until the worker's thread takes it.
    queue: Mutex<Option<LocalQueue<GRef>>>,
    thread: OnceLock<Thread>,
    /// Set by a waker before it unparks the thread.
    wake: AtomicBool,
    stacks: Mutex<StackCache>,
    timers: TimerHeap,
    stats: WorkerStats,
    /// Finished goroutines this worker allocated, handed back by the
    /// workers they finished on, to be freed here.
    returned: Injector<GRef>,
}

/// A worker's own state, living on its thread.
pub(crate) struct Worker {
    index: usize,
    rt: &'static Runtime,
    /// This worker's shared part (looked up once, used on every switch).
    shared: &'static Shared,
    queue: LocalQueue<GRef>,
    runnext: Cell<Option<GRef>>,
    runnext_streak: Cell<u32>,
    tick: Cell<u32>,
    searching: Cell<bool>,
    rng: Cell<u64>,
    seed_epoch: Cell<u64>,
}

thread_local! {
    static WORKER: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

/// The worker this thread is, if any. Never inlined: see `goroutine`'s note
/// on thread-locals and migration.
#[inline(never)]
fn current_worker() -> *const Worker {
    WORKER.with(Cell::get)
}

/// The index of the worker this thread is, if any.
pub(crate) fn current_worker_index() -> Option<usize> {
    let w = current_worker();
    // SAFETY: a non-null WORKER points at the Worker living on this thread's
    // stack for as long as the thread runs its loop.
    (!w.is_null()).then(|| unsafe { (*w).index })
}

/// The global runtime, started on first use.
pub(crate) fn runtime() -> &'static Runtime {
    static RT: OnceLock<&'static Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        crate::panic::install_hook();
        crate::signal::install();
        if let Some(seed) = std::env::var("GOSEED").ok().and_then(|s| s.parse().ok()) {
            set_seed(Some(seed));
        }
        let rt: &'static Runtime =
            Box::leak(Box::new(Runtime::new(crate::procs::procs_from_env())));
        if let Some(period) = crate::inspect::schedtrace_period() {
            let traced = std::thread::Builder::new()
                .name("goro-schedtrace".into())
                .spawn(move || crate::inspect::run_schedtrace(rt, period));
            if let Err(e) = traced {
                eprintln!("goro: cannot start GODEBUG=schedtrace: {e}");
            }
        }
        rt
    })
}

impl Runtime {
    fn new(nprocs: usize) -> Runtime {
        Runtime {
            injector: Injector::new(),
            slots: (0..MAX_PROCS).map(|_| OnceLock::new()).collect(),
            nprocs: AtomicUsize::new(nprocs),
            started: Mutex::new(0),
            started_count: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            nidle: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            live: (0..=MAX_PROCS).map(|_| CachePadded::default()).collect(),
            watch_deadline: AtomicU64::new(NEVER),
            watcher: AtomicBool::new(false),
            helper_threads: usize::from(crate::signal::install_quit_dump())
                + usize::from(crate::inspect::schedtrace_period().is_some()),
            check_requested: AtomicBool::new(false),
            poller: AtomicUsize::new(0),
        }
    }

    fn shared(&self, index: usize) -> &Shared {
        self.slots[index]
            .get()
            .expect("worker slot initialised before use")
    }

    /// The timer heap of worker `index` (worker 0's for plain threads).
    pub(crate) fn timers(&'static self, index: usize) -> &'static TimerHeap {
        self.ensure_started();
        &self.shared(index).timers
    }

    /// Starts worker threads up to GOMAXPROCS.
    pub(crate) fn ensure_started(&'static self) {
        let want = self.nprocs.load(Ordering::Acquire);
        if self.started_count.load(Ordering::Acquire) >= want {
            return;
        }
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        while *started < self.nprocs.load(Ordering::Acquire) {
            let index = *started;
            let queue = LocalQueue::new_fifo();
            let _ = self.slots[index].set(Shared {
                stealer: queue.stealer(),
                queue: Mutex::new(Some(queue)),
                thread: OnceLock::new(),
                wake: AtomicBool::new(false),
                stacks: Mutex::new(StackCache::default()),
                timers: TimerHeap::default(),
                stats: WorkerStats::default(),
                returned: Injector::new(),
            });
            let spawned = std::thread::Builder::new()
                .name(format!("goro-worker-{index}"))
                .spawn(move || self.worker_main(index));
            if let Err(e) = spawned {
                // A runtime without its workers cannot run anything.
                eprintln!("fatal error: goro cannot start worker thread {index}: {e}");
                std::process::abort();
            }
            *started += 1;
            self.started_count.store(*started, Ordering::Release);
        }
    }

    fn worker_main(&'static self, index: usize) {
        let shared = self.shared(index);
        let _ = shared.thread.set(std::thread::current());
        crate::signal::prepare_thread();
        let queue = shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("each worker thread starts once");
        let worker = Worker {
            index,
            rt: self,
            shared,
            queue,
            runnext: Cell::new(None),
            runnext_streak: Cell::new(0),
            tick: Cell::new(0),
            searching: Cell::new(false),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
            seed_epoch: Cell::new(0),
        };
        WORKER.with(|w| w.set(&worker));
        worker.run_loop();
    }

    /// Counts a new goroutine.
    /// `shard` is the spawning worker's index, or `MAX_PROCS` on a thread.
    pub(crate) fn goroutine_started(&'static self, shard: usize) {
        self.ensure_started();
        let counts = &self.live[shard];
        counts.live.fetch_add(1, Ordering::Relaxed);
        counts.spawned.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a finished (or never started) goroutine.
    pub(crate) fn goroutine_finished(&self, shard: usize) {
        self.live[shard].live.fetch_sub(1, Ordering::Relaxed);
    }

    /// The counts of started workers and plain threads.
    fn all_counts(&self) -> impl Iterator<Item = &Counts> {
        let started = self.started_count.load(Ordering::Acquire);
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

    /// Wakes a sleeping worker if work appeared and nobody is looking.
    fn notify_work(&self) {
        fence(Ordering::SeqCst);
        if self.nidle.load(Ordering::Relaxed) == 0 || self.searching.load(Ordering::Relaxed) != 0 {
            return;
        }
        if self
            .searching
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        if !self.wake_idle() {
            self.searching.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wakes one idle worker (it starts out searching). Returns false if none.
    fn wake_idle(&self) -> bool {
        let index = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            // Not the poller while others idle: it stays in epoll_wait.
            let poller = self.poller.load(Ordering::SeqCst);
            let index = idle
                .iter()
                .rposition(|&i| i + 1 != poller)
                .or(idle.len().checked_sub(1))
                .map(|pos| idle.remove(pos));
            if index.is_some() {
                self.nidle.fetch_sub(1, Ordering::SeqCst);
            }
            index
        };
        match index {
            Some(index) => {
                self.unpark_worker(index);
                true
            }
            None => false,
        }
    }

    fn unpark_worker(&self, index: usize) {
        self.shared(index).wake.store(true, Ordering::SeqCst);
        self.wake_thread(index);
    }

    /// Wakes worker `index`'s thread: out of `netpoll::poll` if it is the
    /// poller, else from its thread parker. The `SeqCst` load of `poller`
    /// after the caller's store pairs with the poller's store of `poller`
    /// before it checks `wake` (see `Worker::block_in_poller`).
    fn wake_thread(&self, index: usize) {
        if self.poller.load(Ordering::SeqCst) == index + 1 {
            crate::netpoll::wake_poller();
        } else if let Some(thread) = self.shared(index).thread.get() {
            thread.unpark();
        }
    }

    /// Whether nothing runs or can run until something outside the
    /// scheduler acts: every active worker idle, no queued work, no timer,
    /// no goroutine waiting for I/O.
    pub(crate) fn all_idle(&self) -> bool {
        self.nidle.load(Ordering::SeqCst) >= self.nprocs.load(Ordering::SeqCst)
            && !self.has_visible_work()
            && self.earliest_timer() == NEVER
            && crate::netpoll::waiters() == 0
    }

    /// A thread has just blocked on a goro primitive: if every worker is
    /// idle, have one of them run the deadlock check.
    pub(crate) fn thread_blocked(&self) {
        if self.all_idle() {
            self.check_requested.store(true, Ordering::SeqCst);
            self.poke_idle();
        }
    }

    /// Totals for `metrics`: goroutines spawned, context switches, parks,
    /// steals.
    pub(crate) fn totals(&self) -> [u64; 4] {
        let spawned = self
            .all_counts()
            .map(|c| c.spawned.load(Ordering::Relaxed))
            .sum();
        let started = self.started_count.load(Ordering::Acquire);
        let mut totals = [spawned, 0, 0, 0];
        for i in 0..started {
            let stats = &self.shared(i).stats;
            totals[1] += stats.switches.load(Ordering::Relaxed);
            totals[2] += stats.parks.load(Ordering::Relaxed);
            totals[3] += stats.steals.load(Ordering::Relaxed);
        }
        totals
    }

    /// For the scheduler trace: the global queue's length, each active
    /// worker's local queue length (`runnext` is not visible from outside),
    /// idle workers, and searching workers.
    pub(crate) fn queue_lengths(&self) -> (usize, Vec<usize>, usize, usize) {
        let nprocs = self.nprocs.load(Ordering::Relaxed);
        let started = self.started_count.load(Ordering::Acquire);
        let local = (0..nprocs.min(started))
            .map(|i| self.shared(i).stealer.len())
            .collect();
        (
            self.injector.len(),
            local,
            self.nidle.load(Ordering::Relaxed),
            self.searching.load(Ordering::Relaxed),
        )
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

    /// Threads of the runtime: workers started, and helpers.
    pub(crate) fn runtime_threads(&self) -> usize {
        self.started_count.load(Ordering::Acquire) + self.helper_threads
    }

    /// Whether any queue others can see holds work.
    fn has_visible_work(&self) -> bool {
        if !self.injector.is_empty() {
            return true;
        }
        let started = self.started_count.load(Ordering::Acquire);
        (0..started).any(|i| !self.shared(i).stealer.is_empty())
    }

    /// A timer was added with deadline `when`: make sure an idle worker will
    /// be awake for it.
    pub(crate) fn timer_added(&self, when: u64) {
        fence(Ordering::SeqCst);
        if when >= self.watch_deadline.load(Ordering::SeqCst) && self.watcher.load(Ordering::SeqCst)
        {
            return;
        }
        if self.watcher.load(Ordering::SeqCst) {
            // The watcher sleeps too long: wake it to recompute.
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            for &i in idle.iter() {
                self.poke(i);
            }
        } else if self.nidle.load(Ordering::Relaxed) > 0 {
            self.poke_idle();
        }
    }

    /// Unparks a worker's thread without handing it work: it re-reads the
    /// timers (if idle) or GOMAXPROCS (if retired) and sleeps again.
    fn poke(&self, index: usize) {
        self.wake_thread(index);
    }

    /// Pokes one idle worker (see [`Runtime::poke`]).
    fn poke_idle(&self) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = idle.last() {
            self.poke(i);
        }
    }

    /// The earliest timer deadline over every worker.
    fn earliest_timer(&self) -> u64 {
        let started = self.started_count.load(Ordering::Acquire);
        (0..started)
            .map(|i| self.shared(i).timers.earliest())
            .min()
            .unwrap_or(NEVER)
    }

    /// Fires due timers of every worker; returns how many fired.
    fn fire_all_timers(&self) -> usize {
        let started = self.started_count.load(Ordering::Acquire);
        let mut now = None;
        let mut fired = 0;
        for i in 0..started {
            let timers = &self.shared(i).timers;
            if timers.earliest() == NEVER {
                continue;
            }
            let now = *now.get_or_insert_with(crate::inspect::tick_clock);
            fired += timers.fire_due(now);
        }
        fired
    }

    /// Releases the deep pages of every cached stack.
    pub(crate) fn trim_stacks(&self) {
        let started = self.started_count.load(Ordering::Acquire);
        for i in 0..started {
            self.shared(i)
                .stacks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .trim();
        }
    }
}

impl Worker {
    fn run_loop(&self) {
        loop {
            if self.index >= self.rt.nprocs.load(Ordering::Relaxed) {
                self.retire();
                continue;
            }
            match self.find_work().or_else(|| self.spin_for_work()) {
                Some(g) if self.index >= self.rt.nprocs.load(Ordering::Relaxed) => {
                    // GOMAXPROCS shrank while we looked: not ours to run.
                    self.rt.injector.push(g);
                }
                Some(g) => {
                    self.stop_searching();
                    self.run(g);
                }
                None => self.idle(),
            }
        }
    }

    /// Runs `g` until it switches out, then files it where it belongs.
    fn run(&self, g: GRef) {
        let stats = &self.shared().stats;
        WorkerStats::bump(&stats.switches);
        // SAFETY: `g` came off a run queue or runnext, so this worker owns it.
        match unsafe { g.resume(self) } {
            Outcome::Yielded => {
                // No new work appeared, so nobody needs waking: whatever
                // else is queued woke a worker when it was queued.
                self.queue.push(g);
            }
            Outcome::Parked => {
                if g.complete_park() {
                    WorkerStats::bump(&stats.parks);
                } else {
                    self.make_runnext(g);
                }
            }
            Outcome::Finished(stack) => {
                if let Some(stack) = stack {
                    self.shared()
                        .stacks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .put(stack);
                }
                self.rt.goroutine_finished(self.index);
                self.release(g);
            }
        }
    }

    fn shared(&self) -> &'static Shared {
        self.shared
    }

    /// Drops our reference to a finished goroutine. If it was allocated on
    /// another worker, the reference goes back there instead: if ours is the
    /// last one, freeing it here would make the C allocator take the other
    /// thread's arena lock, on every goroutine, against that thread's own
    /// allocations (the bottleneck of spawn-heavy programs).
    fn release(&self, g: GRef) {
        let home = g.home();
        // Only to an active worker: a retired one does not schedule, so it
        // would not free what it is handed until GOMAXPROCS grows again.
        if home != self.index && home < self.rt.nprocs.load(Ordering::Relaxed) {
            self.rt.shared(home).returned.push(g);
        }
    }

    /// Frees up to `limit` of the goroutines other workers handed back.
    fn free_returned(&self, limit: usize) {
        let returned = &self.shared().returned;
        let mut freed = 0;
        while freed < limit && !returned.is_empty() {
            match returned.steal() {
                Steal::Success(g) => {
                    drop(g);
                    freed += 1;
                }
                Steal::Empty => break,
                Steal::Retry => {}
            }
        }
    }

    /// A stack for a goroutine about to run for the first time.
    pub(crate) fn take_stack(&self) -> std::io::Result<Stack> {
        self.shared()
            .stacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn make_runnext(&self, g: GRef) {
        if seeded_coin() == Some(false) {
            // Seeded: this time the woken goroutine queues behind the rest.
            self.queue.push(g);
            self.rt.notify_work();
            return;
        }
        if let Some(old) = self.runnext.replace(Some(g)) {
            self.queue.push(old);
            self.rt.notify_work();
        }
    }

    fn find_work(&self) -> Option<GRef> {
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
        self.free_returned(usize::MAX);
        let timers = &self.shared().timers;
        if timers.earliest() != NEVER {
            timers.fire_due(crate::inspect::tick_clock());
        }
        if tick % FAIRNESS_TICK == 0 {
            crate::inspect::tick_clock();
            self.rt.fire_all_timers();
            self.poll_network();
            if let Some(g) = self.steal_from_injector() {
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
        self.take_queued()
            .or_else(|| self.runnext.take())
            .or_else(|| self.take_polled())
    }

    /// Polls the network without blocking if goroutines wait for I/O and no
    /// worker is blocked in the poller; returns whether any became runnable
    /// (on this worker's `runnext` and queue).
    fn poll_network(&self) -> bool {
        crate::netpoll::waiters() > 0
            && self.rt.poller.load(Ordering::Relaxed) == 0
            && crate::netpoll::poll(Some(Duration::ZERO)) > 0
    }

    /// Nothing else to run: a goroutine whose socket became ready, if any.
    fn take_polled(&self) -> Option<GRef> {
        if self.poll_network() {
            self.runnext.take().or_else(|| self.queue.pop())
        } else {
            None
        }
    }

    /// The next goroutine from the local queue, the global queue, or another
    /// worker's queue.
    fn take_queued(&self) -> Option<GRef> {
        self.queue
            .pop()
            .or_else(|| self.steal_from_injector())
            .or_else(|| self.steal_from_workers())
    }

    /// Looks again a few times, briefly, before going to sleep: work often
    /// appears within microseconds, and a sleep and wake cost far more.
    fn spin_for_work(&self) -> Option<GRef> {
        (0..SPIN_ROUNDS).find_map(|_| {
            (0..SPIN_PAUSES).for_each(|_| std::hint::spin_loop());
            self.take_queued()
        })
    }

    fn take_runnext(&self) -> Option<GRef> {
        let streak = self.runnext_streak.get();
        if streak >= FAIRNESS_TICK && !self.queue.is_empty() {
            self.runnext_streak.set(0);
            return None;
        }
        let g = self.runnext.take()?;
        self.runnext_streak.set(streak + 1);
        Some(g)
    }

    fn steal_from_injector(&self) -> Option<GRef> {
        loop {
            match self.rt.injector.steal_batch_and_pop(&self.queue) {
                Steal::Success(g) => return Some(g),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    fn steal_from_workers(&self) -> Option<GRef> {
        let started = self.rt.started_count.load(Ordering::Acquire);
        if started <= 1 {
            return None;
        }
        let start = (self.next_random() % started as u64) as usize;
        loop {
            let mut retry = false;
            for k in 0..started {
                let victim = (start + k) % started;
                if victim == self.index {
                    continue;
                }
                match self
                    .rt
                    .shared(victim)
                    .stealer
                    .steal_batch_and_pop(&self.queue)
                {
                    Steal::Success(g) => {
                        WorkerStats::bump(&self.shared().stats.steals);
                        return Some(g);
                    }
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    fn stop_searching(&self) {
        if self.searching.replace(false) {
            // We were the (last) searcher and found work: there may be more,
            // so pass the baton on, as Go's resetspinning does.
            if self.rt.searching.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.rt.notify_work();
            }
        }
    }

    /// No work found: sleep until woken or the next timer is due.
    fn idle(&self) {
        if self.searching.replace(false) {
            self.rt.searching.fetch_sub(1, Ordering::SeqCst);
            // A producer may have skipped waking anyone because it saw us
            // searching: look once more.
            if self.rt.has_visible_work() {
                return;
            }
        }
        {
            let mut idle = self.rt.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(self.index);
            self.rt.nidle.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if self.rt.has_visible_work() && self.leave_idle_list() {
            return;
        }
        if self.rt.all_idle() {
            crate::inspect::check_deadlock(self.rt);
        }
        self.sleep();
    }

    /// Takes this worker off the idle list; false if a waker already did
    /// (then a wake is on its way and we are counted as searching).
    fn leave_idle_list(&self) -> bool {
        let mut idle = self.rt.idle.lock().unwrap_or_else(|p| p.into_inner());
        match idle.iter().position(|&i| i == self.index) {
            Some(pos) => {
                idle.swap_remove(pos);
                self.rt.nidle.fetch_sub(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Blocks the thread until a waker sets our flag. Meanwhile: if we are
    /// the timer watcher, fire timers when due; after [`TRIM_DELAY`] idle,
    /// release the deep pages of our cached stacks.
    fn sleep(&self) {
        let shared = self.shared();
        let mut trim_at = Some(Instant::now() + TRIM_DELAY);
        loop {
            // `SeqCst`: a waker that found us as the poller wrote the
            // eventfd instead of unparking us; its `wake` store comes before
            // our `poller` store of 0 in the `SeqCst` order, so this sees it.
            if shared.wake.swap(false, Ordering::SeqCst) {
                self.searching.set(true);
                return;
            }
            // Taken before the timers are read: whoever adds a timer and
            // pokes us before this sees no poller and unparks our thread
            // instead, but then `watch_timers` below sees the timer.
            let polling = self.become_poller();
            let watching = self
                .rt
                .watcher
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
            let timer_due = if watching { self.watch_timers() } else { NEVER };
            let wake_at = trim_at.map_or(NEVER, timer::to_nanos).min(timer_due);
            let polled = if polling {
                self.block_in_poller(wake_at)
            } else {
                if wake_at == NEVER {
                    std::thread::park();
                } else {
                    std::thread::park_timeout(timer::until(wake_at));
                }
                0
            };
            // Goroutines woken now will stamp their next park with this.
            crate::inspect::tick_clock();
            if self.rt.check_requested.swap(false, Ordering::SeqCst) && self.rt.all_idle() {
                crate::inspect::check_deadlock(self.rt);
            }
            if trim_at.is_some_and(|t| Instant::now() >= t) {
                shared
                    .stacks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .trim();
                trim_at = None;
            }
            if watching {
                self.rt.watch_deadline.store(NEVER, Ordering::SeqCst);
                self.rt.watcher.store(false, Ordering::SeqCst);
                if self.rt.fire_all_timers() > 0 && self.leave_idle_list() {
                    // Timers woke goroutines into our runnext: run them.
                    return;
                }
            }
            if polled > 0 {
                // Sockets woke goroutines into our runnext and queue: we
                // leave to run them, so another idle worker takes over the
                // poller's role (else sockets wait while they run).
                let left = self.leave_idle_list();
                self.rt.poke_idle();
                if left {
                    return;
                }
            }
        }
    }

    /// Takes the poller's role if the netpoller exists and no other worker
    /// blocks in it.
    fn become_poller(&self) -> bool {
        crate::netpoll::initialized()
            && self
                .rt
                .poller
                .compare_exchange(0, self.index + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
    }

    /// As the poller: blocks in `netpoll::poll` until `wake_at` (unless a
    /// waker already set our flag), then gives the role up. Returns how many
    /// goroutines became runnable here.
    ///
    /// Dekker pair with [`Runtime::wake_thread`]: we stored `poller` before
    /// this `SeqCst` load of `wake`; a waker stores `wake` before its
    /// `SeqCst` load of `poller`. So either we see the flag and do not
    /// block, or the waker sees us and writes the poller's eventfd (a
    /// `thread.unpark` would not end `epoll_wait`).
    fn block_in_poller(&self, wake_at: u64) -> usize {
        let woken = if self.shared().wake.load(Ordering::SeqCst) {
            0
        } else {
            crate::netpoll::poll((wake_at != NEVER).then(|| timer::until(wake_at)))
        };
        self.rt.poller.store(0, Ordering::SeqCst);
        woken
    }

    /// As the timer watcher: publishes and returns the deadline to sleep to.
    fn watch_timers(&self) -> u64 {
        let when = self.rt.earliest_timer();
        self.rt.watch_deadline.store(when, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // A timer added before our store may have seen no watcher: re-read.
        when.min(self.rt.earliest_timer())
    }

    /// GOMAXPROCS shrank below our index: hand our work to the others and
    /// sleep until it grows again.
    fn retire(&self) {
        self.free_returned(usize::MAX);
        if let Some(g) = self.runnext.take() {
            self.rt.injector.push(g);
        }
        while let Some(g) = self.queue.pop() {
            self.rt.injector.push(g);
        }
        self.stop_searching();
        self.rt.notify_work();
        let shared = self.shared();
        while self.index >= self.rt.nprocs.load(Ordering::Acquire) {
            shared.wake.swap(false, Ordering::Acquire);
            if self.index < self.rt.nprocs.load(Ordering::Acquire) {
                break;
            }
            std::thread::park();
        }
    }
}

/// Makes a woken goroutine runnable: the current worker's `runnext` if
/// called on a worker, else the global queue.
pub(crate) fn ready(g: GRef) {
    let w = current_worker();
    if w.is_null() {
        let rt = runtime();
        rt.injector.push(g);
        rt.notify_work();
    } else {
        // SAFETY: WORKER points at the live Worker of this thread.
        unsafe { (*w).make_runnext(g) };
    }
}

/// Queues a new goroutine: the current worker's local queue, or the global
/// queue from a plain thread.
pub(crate) fn spawn(g: GRef) {
    let w = current_worker();
    let rt = runtime();
    if w.is_null() {
        rt.injector.push(g);
    } else {
        // SAFETY: WORKER points at the live Worker of this thread.
        let w = unsafe { &*w };
        if seeded_coin() == Some(true) {
            // Seeded: this time the new goroutine runs before those queued.
            w.make_runnext(g);
        } else {
            w.queue.push(g);
        }
        // A goroutine that spawns in a loop keeps its worker from
        // scheduling: free what came back here as we go, so the memory is
        // reused instead of piling up.
        w.free_returned(2);
    }
    rt.notify_work();
}

/// Marks the current worker as inside a blocking call until dropped.
pub(crate) struct BlockingGuard;

/// Enters a blocking call (see `blocking`).
pub(crate) fn enter_blocking() -> BlockingGuard {
    BlockingGuard
}

/// Number of goroutines that exist (spawned and not finished), as Go's
/// `runtime.NumGoroutine`.
///
/// ```
/// let h = goro::spawn(|| goro::num_goroutine());
/// assert!(h.join().unwrap() >= 1);
/// ```
pub fn num_goroutine() -> usize {
    runtime().live_goroutines()
}

/// The number of workers running goroutines in parallel (Go's
/// `runtime.GOMAXPROCS(0)`).
///
/// ```
/// assert!(goro::gomaxprocs() >= 1);
/// ```
pub fn gomaxprocs() -> usize {
    runtime().nprocs.load(Ordering::Relaxed)
}

/// Sets GOMAXPROCS to `n` (clamped to `1..=1024`) and returns the previous
/// value. Takes effect live: new workers start at once, and surplus workers
/// hand their queues over and sleep after their current goroutine switches
/// out.
///
/// ```
/// let old = goro::set_gomaxprocs(1);
/// assert_eq!(goro::gomaxprocs(), 1);
/// goro::set_gomaxprocs(old);
/// ```
pub fn set_gomaxprocs(n: usize) -> usize {
    let rt = runtime();
    let n = n.clamp(1, MAX_PROCS);
    let old = rt.nprocs.swap(n, Ordering::AcqRel);
    if n > old {
        let started = rt.started_count.load(Ordering::Acquire);
        for i in old..n.min(started) {
            rt.poke(i);
        }
        rt.ensure_started();
    }
    old
}

/// Returns as much memory as possible to the OS (Go's
/// `debug.FreeOSMemory`): the deep pages of every cached goroutine stack,
/// all pages of free stacks, and the C allocator's free memory.
pub fn free_os_memory() {
    runtime().trim_stacks();
    crate::stack::trim_free_stacks();
    crate::sys::trim_heap();
}
