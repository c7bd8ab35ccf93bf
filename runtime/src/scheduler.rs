//! The scheduler: GOMAXPROCS workers running goroutines M:N.
//!
//! # Design (Go's G/M/P, folded into one "worker" per P)
//! - Each worker is an OS thread with a local FIFO run queue (a
//!   crossbeam-deque `Worker`, whose `Stealer` others take from) and a
//!   `runnext` slot. A goroutine woken by another goes into the waker's
//!   `runnext` and runs as soon as the waker parks: ping-pong between two
//!   goroutines then never touches a queue or another thread.
//! - New goroutines from a worker go on its local queue while that holds
//!   fewer than [`LOCAL_SPAWN_LIMIT`] (256, Go's local run queue), beyond
//!   that on its *spill* queue (where Go sends them to its global queue);
//!   from a plain thread into the global `injector`. A goroutine spawning
//!   in a loop thus cannot bury the goroutines its worker wakes meanwhile
//!   under the ones it spawned: those run first, while their stacks are
//!   still in cache (100,000 goroutines that each sleep five times ran 22%
//!   faster, and spawning a million 20% faster). The spill is a deque of
//!   the worker's own, so the excess costs no shared queue's allocations.
//! - A worker looks for work in this order: timers due; one goroutine from
//!   the injector, else from its spill, on every 61st round (so goroutines
//!   that keep respawning or yielding to each other cannot starve them);
//!   `runnext` (but not more than 61 times in a row, so a ping-pong pair
//!   cannot starve the local queue); the local queue; the spill; the
//!   injector; then it steals half of another worker's local queue (or of
//!   its spill if that is empty), visiting victims from a random start.
//! - A thief whose last steal brought only a few never-run goroutines
//!   waits about 4 µs before its next steal, so a goroutine spawning in a
//!   loop is not robbed of its queue's end after every push (see
//!   `Worker::steal_from_workers`).
//! - Idle workers sleep on their thread parker (a futex). New work wakes at
//!   most one *searching* worker: `notify_work` does nothing while one is
//!   searching, and a searcher that finds work wakes the next (Go's
//!   `wakep`/`resetspinning` chain), so bursts spread without a thundering
//!   herd and an idle program uses no CPU. Before sleeping, a worker looks
//!   again a few times over about 20 µs: new work often appears that
//!   soon, and a futex sleep and wake cost far more. Not while goroutines
//!   wait for I/O, though: then most new work comes from sockets, which
//!   the spin does not look at, and an idle worker is better off in (or
//!   near) the poller; spinning there cost a server about a tenth of its
//!   CPU per request for no more throughput (docs/performance.md).
//! - Tokens (Go's Ps, without their data): GOMAXPROCS tokens exist, and a
//!   worker schedules goroutines only while it holds one. Goroutines are
//!   not preempted, so a goroutine that blocks its thread (a call in
//!   `goro::blocking`, or an unannotated blocking call or long loop) keeps
//!   its worker; the monitor (`sysmon`) then revokes that worker's token and
//!   grants it to a pooled thread or a new one, which takes over the stuck
//!   worker's queue by stealing. When the stuck goroutine switches out, its
//!   worker takes a free token if there is one, else hands its queue to the
//!   global one and waits in the pool; a pooled thread not needed for
//!   [`POOL_IDLE`] exits, leaving its slot (queue, timers, stack cache) for
//!   the next thread. At most `set_max_threads` threads exist at once.
//! - When the monitor revokes a stuck worker's token it also moves the
//!   goroutine in that worker's `runnext` (the one it woke last) to the
//!   global queue, and goes on doing so every round while the worker stays
//!   revoked: the stuck goroutine may wake others after the revocation
//!   (code inside `goro::blocking` may send on a channel), and they would
//!   wait for it to switch out. A blocking call that wakes a goroutine
//!   before any revocation counts as work waiting: the monitor revokes on
//!   its next round. `runnext` is
//!   one atomic word for that (a thin owned pointer,
//!   `goroutine::Runnable`), filled and emptied by swaps, which the owner
//!   skips when it sees the slot empty.
//! - Run queues and `runnext` hold goroutines as `Runnable`s: one word
//!   each, where a `GRef` is two (the body's vtable). The word finds the
//!   vtable in the `G` itself, so moving a goroutine between queues,
//!   registers and slots copies eight bytes; this took a quarter off a
//!   `yield_now` switch and a sixth off an unbuffered hand-off.
//! - Once a socket has been registered with the netpoller, one idle worker
//!   (the *poller*) sleeps in `netpoll::poll` instead of on its parker, and
//!   wakes with the goroutines whose sockets became ready on its run queue;
//!   busy workers poll without blocking when their queue runs dry and
//!   every 61st round, but then only while fewer than
//!   [`POLL_QUEUE_LIMIT`] (64) goroutines are queued. That poll is there
//!   so a worker held by a few long goroutines still serves its sockets;
//!   a queue longer than the rounds to the next fairness check will not
//!   run dry before it, and polling into it only moves the waiting from
//!   the kernel's ready list into the queue. Go polls only from an empty
//!   queue. Polling on every fairness round, an echo server at
//!   GOMAXPROCS=1 with 10,000 busy connections kept half of them (5,000
//!   goroutines) in its run queue, harvested 61 events a poll instead of a
//!   full batch of 128, and served 10-20% fewer messages a second
//!   (docs/performance.md). Nothing starves behind a queue that never
//!   runs short: the monitor polls a network nobody has polled for 10 ms,
//!   into the global queue, which the fairness round takes from (as in Go).
//! - Lazy hand-off: goroutines a worker takes from the poller are queued
//!   there without waking anyone, and the role stays vacant while they
//!   run. Only if some are still queued [`HANDOFF_DELAY`] (50 µs) later
//!   does the worker wake an idle one to steal them (checked between
//!   goroutines; the monitor checks a worker held by one goroutine that
//!   long), and only if nobody has polled for that long does the monitor
//!   poke an idle worker to take the poller's role. A batch of sockets
//!   usually drains sooner, and the worker then polls again itself: waking
//!   a sleeping thread costs both sides a system call and a context switch
//!   and, on a machine whose cores are all in use, takes a core from some
//!   other process. An HTTP server sharing two cores with its load
//!   generator served 8-20% more requests a second than with an eager
//!   hand-off (docs/performance.md); the price is up to 50 µs (more while
//!   the monitor's rhythm is slow: up to its 10 ms) before a second worker
//!   joins in on a burst.
//! - A finished goroutine's memory is handed back to the worker that
//!   allocated it (its `returned` list, a lock-free stack linked through
//!   the goroutines: `goroutine::Returned`), which frees it as it schedules
//!   or spawns: freeing on another thread would make the C allocator take
//!   that thread's arena lock for every goroutine. (It was a crossbeam
//!   queue, whose blocks, allocated by one thread and freed by the other,
//!   did the same for every 63 goroutines; the list made spawning 20%
//!   cheaper.) A spawning loop frees one a spawn, so the allocator's
//!   per-thread cache hands the memory just freed to the next spawn (a
//!   batch of 16 at once overflowed that cache: spawning was 7% slower).
//!
//! # Invariants
//! - A goroutine is in at most one place: a run queue, `runnext`, running on
//!   one worker, or parked (owned by whoever will unpark it).
//! - Only a worker's own thread touches the push/pop ends of its local
//!   queue and spill, and its `runnext`; others only steal through the
//!   `Stealers`.
//! - At most GOMAXPROCS workers hold a token, except briefly after a
//!   shrink (a busy surplus worker gives its token back when its goroutine
//!   switches out). A worker without one runs no goroutine but the one it
//!   was stuck in; its queue is empty or being stolen, and the monitor
//!   moved its `runnext` to the global queue when it took the token.
//! - `Shared::status` is written only by its worker, with plain stores;
//!   the monitor may act on a stale view. A stale revocation is harmless:
//!   an idle worker that finds itself revoked leaves its sleep and gives
//!   the token up as any revoked worker does, so the count of holders stays
//!   exact.
//!
//! # No lost wakeups
//! A worker going to sleep registers in the idle list and then re-checks
//! every queue; a producer pushes and then checks the idle count. Both sides
//! put a `SeqCst` fence between their write and their read (a Dekker pair),
//! so at least one of them sees the other: either the sleeper sees the work,
//! or the producer sees the sleeper and wakes it. A searcher that stops
//! searching re-checks the queues for the same reason (a producer may have
//! skipped the wakeup because it saw the searcher).

use crate::goroutine::{Outcome, Returned, ReturnedBatch, Runnable};
use crate::stack::{Stack, StackCache};
use crate::timer::{self, TimerHeap, NEVER};
use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::sync::atomic::{
    fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Most workers GOMAXPROCS can ask for.
pub(crate) use crate::procs::MAX_PROCS;

/// Most OS threads that may run goroutines at once (Go's default
/// `debug.SetMaxThreads`): GOMAXPROCS workers plus those stuck in blocking
/// calls or long-running goroutines. Also the number of worker slots.
pub(crate) const MAX_THREADS: usize = 10_000;

/// `G::home` of a goroutine spawned from a plain thread.
pub(crate) const NO_HOME: usize = usize::MAX;

/// How long a thread without a token waits for one before it exits.
const POOL_IDLE: Duration = Duration::from_secs(10);

/// What a worker's thread is doing (the low bits of `Shared::status`; the
/// rest counts the goroutines it has run, so the monitor can tell one long
/// run from many short ones).
const SCHEDULING: u64 = 0;
const RUNNING: u64 = 1;
const BLOCKING: u64 = 2;
const PHASE_BITS: u32 = 2;

/// Rounds between fairness checks of the global queue (Go's 61).
const FAIRNESS_TICK: u32 = 61;

/// Goroutines a worker's local queue holds before the ones it spawns go to
/// its spill instead (Go's local run queue has 256 slots; Go sends the
/// excess to its global queue).
const LOCAL_SPAWN_LIMIT: usize = 256;

/// A busy worker polls the network on its fairness round only while its
/// local queue holds fewer goroutines than this (about the rounds between
/// two fairness rounds): a longer queue will not run dry before the next
/// one, and sockets polled into it would only wait there instead of in the
/// kernel (see the module note).
const POLL_QUEUE_LIMIT: usize = 64;

/// Extra looks for work before a worker sleeps, and the pause between them.
const SPIN_ROUNDS: usize = 4;
const SPIN_PAUSES: usize = 200;

/// A steal that leaves fewer than this many never-run goroutines on the
/// thief's queue makes its next steal wait [`SMALL_STEAL_PAUSES`] pauses
/// (about 4 µs) first; see `Worker::steal_from_workers`.
const SMALL_STEAL: usize = 4;
const SMALL_STEAL_PAUSES: usize = 160;

/// How long a worker idles before it releases its cached stacks' deep pages.
const TRIM_DELAY: Duration = Duration::from_millis(10);

/// How long goroutines a worker took from the network poller may wait in
/// its queue before it wakes another worker to share them, and how long
/// the poller's role may stay vacant while a worker idles before the
/// monitor has that worker take it (see the module note's "lazy hand-off").
const HANDOFF_DELAY: Duration = Duration::from_micros(50);

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
    injector: Injector<Runnable>,
    slots: Box<[OnceLock<Box<Shared>>]>,
    /// GOMAXPROCS: how many tokens there are (see "Tokens" above).
    nprocs: AtomicUsize,
    /// Workers holding a token.
    holders: AtomicUsize,
    /// Slots handed out so far and those whose thread exited.
    slot_table: Mutex<SlotTable>,
    /// Slots initialised so far (`slots[..started_count]`).
    started_count: AtomicUsize,
    /// Worker threads alive, and the most allowed (`set_max_threads`).
    threads: AtomicUsize,
    max_threads: AtomicUsize,
    /// Workers without a token, waiting for one (slot indices).
    pool: WorkerList,
    /// Indices of sleeping workers.
    idle: WorkerList,
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
    /// Successful takes from the injector (see `Shared::robbed`).
    injector_takes: AtomicU64,
    /// Tokens the monitor has taken from stuck workers (`Metrics::retakes`).
    retakes: AtomicU64,
    /// Whether the monitor sleeps until a worker wakes it.
    sysmon_sleeping: AtomicBool,
    /// Index + 1 of the idle worker blocked in `netpoll::poll`, or 0. At
    /// most one worker blocks there; `SeqCst`, paired with the `wake` flags
    /// (see `Worker::block_in_poller`).
    poller: AtomicUsize,
}

/// What the monitor saw of a worker when its status last changed: the
/// status, when, and how much work others had taken from it and from the
/// global queue by then.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    status: u64,
    since: Instant,
    robbed: u64,
    injector_takes: u64,
}

/// How long one goroutine may hold a worker before the monitor hands the
/// worker's token to another thread (Go's `forcePreemptNS`).
const FORCE_RETAKE: Duration = Duration::from_millis(10);

/// Worker indices (the idle workers, the pooled ones) with a count that is
/// read without the lock. `SeqCst` on the count: it is one side of the
/// Dekker pairs in the module note (a producer reads it after pushing work;
/// the monitor reads it against its sleeping flag).
#[derive(Default)]
struct WorkerList {
    list: Mutex<Vec<usize>>,
    len: AtomicUsize,
}

impl WorkerList {
    fn locked(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Adds `index`. The count moves under the lock, as in `remove`, so it
    /// never drops below the list's length (a remover that found the index
    /// before this push had counted it would make it wrap).
    fn push(&self, index: usize) {
        let mut list = self.locked();
        list.push(index);
        self.len.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes `index` off the list; false if someone else already did.
    fn remove(&self, index: usize) -> bool {
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
    fn pop_preferring(&self, skip: Option<usize>, prefer: impl Fn(usize) -> bool) -> Option<usize> {
        let mut list = self.locked();
        let pos = list
            .iter()
            .rposition(|&i| Some(i) != skip && prefer(i))
            .or_else(|| list.iter().rposition(|&i| Some(i) != skip))?;
        let index = list.remove(pos);
        self.len.fetch_sub(1, Ordering::SeqCst);
        Some(index)
    }

    fn last(&self) -> Option<usize> {
        self.locked().last().copied()
    }

    fn for_each(&self, f: impl FnMut(usize)) {
        self.locked().iter().copied().for_each(f);
    }
}

/// Which worker slots are in use.
#[derive(Default)]
struct SlotTable {
    used: usize,
    free: Vec<usize>,
}

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
struct Counts {
    live: AtomicIsize,
    spawned: AtomicU64,
}

impl Counts {
    /// Adds `delta` to the live count and `spawned` to the spawned one.
    /// `shared`: the counts of plain threads, written by many.
    fn add(&self, delta: isize, spawned: u64, shared: bool) {
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
    stealer: Stealers,
    /// The local queues, while no thread runs this slot.
    queue: Mutex<Option<LocalQueues>>,
    /// The goroutine to run next; see "runnext" above.
    runnext: RunNext,
    thread: Mutex<Option<Thread>>,
    /// Set by a waker before it unparks the thread.
    wake: AtomicBool,
    /// Set by whoever hands a pooled worker a token.
    granted: AtomicBool,
    /// `(goroutines run << PHASE_BITS) | phase`, written only by the worker
    /// (plain stores), sampled by the monitor.
    status: AtomicU64,
    /// The monitor took this worker's token.
    revoked: AtomicBool,
    /// Successful steals from this worker's queue (the monitor's evidence
    /// that its work is not starving). Relaxed: a counter. Written by the
    /// thieves, so on a cache line of its own.
    robbed: CachePadded<AtomicU64>,
    /// A thread holding a token schedules here (so memory handed back here
    /// will be freed).
    active: AtomicBool,
    /// Locked by the worker for every goroutine it starts or finishes
    /// (by the monitor rarely), so on a cache line of its own: a neighbour
    /// written by another thread would make each lock a cache miss.
    stacks: CachePadded<Mutex<StackCache>>,
    timers: TimerHeap,
    stats: WorkerStats,
    /// Finished goroutines this worker allocated, handed back by the
    /// workers they finished on, to be freed here.
    returned: Returned,
}

/// A worker's two local FIFOs: `main`, for what it wakes and yields and
/// the first [`LOCAL_SPAWN_LIMIT`] goroutines it spawns, and `spill`, for
/// the goroutines it spawns beyond those (see the module note).
struct LocalQueues {
    main: LocalQueue<Runnable>,
    spill: LocalQueue<Runnable>,
}

impl LocalQueues {
    fn new() -> LocalQueues {
        LocalQueues {
            main: LocalQueue::new_fifo(),
            spill: LocalQueue::new_fifo(),
        }
    }

    fn stealers(&self) -> Stealers {
        Stealers {
            main: self.main.stealer(),
            spill: self.spill.stealer(),
        }
    }
}

/// Other threads' handles on a worker's [`LocalQueues`].
struct Stealers {
    main: Stealer<Runnable>,
    spill: Stealer<Runnable>,
}

impl Stealers {
    fn is_empty(&self) -> bool {
        self.main.is_empty() && self.spill.is_empty()
    }

    fn len(&self) -> usize {
        self.main.len() + self.spill.len()
    }

    /// Half of `main` into `dest` (one of them returned), or of `spill`
    /// if `main` is empty.
    fn steal_batch_and_pop(&self, dest: &LocalQueue<Runnable>) -> Steal<Runnable> {
        match self.main.steal_batch_and_pop(dest) {
            Steal::Empty => self.spill.steal_batch_and_pop(dest),
            taken => taken,
        }
    }
}

/// A `runnext` slot: the owner fills and empties it as it schedules; the
/// monitor empties it when it revokes the owner's token (the goroutine in
/// it would wait for the stuck one otherwise). One word, swapped: a swap
/// that takes a goroutine owns it, so owner and monitor never both get it
/// (`AcqRel`: the taker sees what the filler wrote before it filled).
struct RunNext {
    slot: AtomicPtr<u8>,
}

impl RunNext {
    fn new() -> RunNext {
        RunNext {
            slot: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Puts `g` in the slot (or empties it); returns what was there.
    fn replace(&self, g: Option<Runnable>) -> Option<Runnable> {
        let new = g.map_or(std::ptr::null_mut(), Runnable::into_raw);
        let old = self.slot.swap(new, Ordering::AcqRel);
        // SAFETY: a non-null word in the slot came from `into_raw`, and the
        // swap took it out for us alone.
        (!old.is_null()).then(|| unsafe { Runnable::from_raw(old) })
    }

    /// Empties the slot; no atomic write when it is seen empty (exact for
    /// the owner, which alone fills it; a harmless miss for the monitor).
    fn take(&self) -> Option<Runnable> {
        if !self.is_occupied() {
            return None;
        }
        self.replace(None)
    }

    fn is_occupied(&self) -> bool {
        !self.slot.load(Ordering::Relaxed).is_null()
    }
}

/// A worker's own state, living on its thread.
pub(crate) struct Worker {
    index: usize,
    rt: &'static Runtime,
    /// This worker's shared part (looked up once, used on every switch).
    shared: &'static Shared,
    queue: LocalQueue<Runnable>,
    /// Goroutines spawned here while `queue` held [`LOCAL_SPAWN_LIMIT`]:
    /// run when `queue` is empty, or one every [`FAIRNESS_TICK`] rounds.
    spill: LocalQueue<Runnable>,
    /// Goroutines this worker has run (the high bits of `Shared::status`).
    runs: Cell<u64>,
    runnext_streak: Cell<u32>,
    tick: Cell<u32>,
    /// Goroutines spawned here (see `free_one_returned`).
    spawns: Cell<u32>,
    /// The ids this worker hands out next, `[next, end)`: a batch taken
    /// from [`NEXT_ID`] (see [`home_and_id`]).
    ids: Cell<(u64, u64)>,
    /// Goroutines taken back from `returned` by a spawning loop, freed one
    /// a spawn (see `free_one_returned`).
    to_free: Cell<ReturnedBatch>,
    searching: Cell<bool>,
    /// The last steal took only a few never-run goroutines: pause before
    /// the next (see `steal_from_workers`).
    small_steal: Cell<bool>,
    rng: Cell<u64>,
    seed_epoch: Cell<u64>,
    /// Goroutines readied now are queued without waking anyone: set while
    /// this worker takes goroutines from the network poller.
    quiet_wakes: Cell<bool>,
    /// When goroutines taken from the poller and still queued here are
    /// shared with an idle worker (`timer::now_nanos`); 0 if none wait.
    handoff_at: Cell<u64>,
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
        if let Some(seed) = crate::testing::seed_from_env() {
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
            slots: (0..MAX_THREADS).map(|_| OnceLock::new()).collect(),
            nprocs: AtomicUsize::new(nprocs),
            holders: AtomicUsize::new(0),
            slot_table: Mutex::new(SlotTable::default()),
            started_count: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
            max_threads: AtomicUsize::new(MAX_THREADS),
            pool: WorkerList::default(),
            idle: WorkerList::default(),
            searching: AtomicUsize::new(0),
            live: (0..=MAX_PROCS).map(|_| CachePadded::default()).collect(),
            watch_deadline: AtomicU64::new(NEVER),
            watcher: AtomicBool::new(false),
            helper_threads: 1
                + usize::from(crate::signal::install_quit_dump())
                + usize::from(crate::inspect::schedtrace_period().is_some()),
            check_requested: AtomicBool::new(false),
            injector_takes: AtomicU64::new(0),
            retakes: AtomicU64::new(0),
            sysmon_sleeping: AtomicBool::new(false),
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

    /// Starts the workers (one per token) and the monitor, once.
    pub(crate) fn ensure_started(&'static self) {
        if self.started_count.load(Ordering::Acquire) > 0 {
            return;
        }
        static START: std::sync::Once = std::sync::Once::new();
        START.call_once(|| {
            // Slot 0 exists before anyone asks for its timers.
            self.init_slot(0);
            self.grant_tokens();
            crate::sysmon::start(self);
        });
    }

    /// Hands out tokens until GOMAXPROCS workers hold one.
    fn grant_tokens(&'static self) {
        while self.grant_token() {}
    }

    /// Takes a free token, if there is one, and gives it to a pooled
    /// worker or a new thread. Returns false if every token is held.
    fn grant_token(&'static self) -> bool {
        if !self.take_free_token() {
            return false;
        }
        match self.pool.pop_preferring(None, |_| true) {
            Some(index) => {
                let shared = self.shared(index);
                shared.granted.store(true, Ordering::Release);
                self.unpark_thread(index);
            }
            None => self.start_thread(),
        }
        self.wake_sysmon();
        true
    }

    /// Counts one more holder if a token is free (Acquire: a worker taking
    /// a token sees what the one that gave it back did).
    fn take_free_token(&self) -> bool {
        let mut held = self.holders.load(Ordering::Relaxed);
        loop {
            if held >= self.nprocs.load(Ordering::Relaxed) {
                return false;
            }
            match self.holders.compare_exchange_weak(
                held,
                held + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
    }

    /// Starts a worker thread holding a token we already counted.
    fn start_thread(&'static self) {
        let limit = self.max_threads.load(Ordering::Relaxed);
        if self.threads.fetch_add(1, Ordering::SeqCst) >= limit {
            // Go's words: a program with this many threads is broken.
            eprintln!(
                "runtime: program exceeds {limit}-thread limit\nfatal error: thread exhaustion"
            );
            std::process::abort();
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
    fn claim_slot(&self) -> usize {
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
    fn init_slot(&self, index: usize) {
        let queues = LocalQueues::new();
        let _ = self.slots[index].set(Box::new(Shared {
            stealer: queues.stealers(),
            queue: Mutex::new(Some(queues)),
            runnext: RunNext::new(),
            thread: Mutex::new(None),
            wake: AtomicBool::new(false),
            granted: AtomicBool::new(false),
            status: AtomicU64::new(SCHEDULING),
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

    fn worker_main(&'static self, index: usize) {
        let shared = self.shared(index);
        *shared.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::thread::current());
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
            spill: queues.spill,
            runs: Cell::new(0),
            runnext_streak: Cell::new(0),
            tick: Cell::new(0),
            spawns: Cell::new(0),
            ids: Cell::new((0, 0)),
            to_free: Cell::default(),
            searching: Cell::new(false),
            small_steal: Cell::new(false),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
            seed_epoch: Cell::new(0),
            quiet_wakes: Cell::new(false),
            handoff_at: Cell::new(0),
        };
        WORKER.with(|w| w.set(&worker));
        worker.run_loop();
        WORKER.with(|w| w.set(std::ptr::null()));
        self.exit_thread(worker);
    }

    /// A pooled worker's thread exits: its queues (empty) wait in the slot
    /// for the next thread.
    fn exit_thread(&self, worker: Worker) {
        let shared = worker.shared;
        worker.free_returned();
        *shared.thread.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *shared.queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(LocalQueues {
            main: worker.queue,
            spill: worker.spill,
        });
        self.slot_table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free
            .push(worker.index);
        self.threads.fetch_sub(1, Ordering::SeqCst);
    }

    /// Counts a new goroutine.
    /// `shard` is [`shard_of`] the spawning worker.
    pub(crate) fn goroutine_started(&'static self, shard: usize) {
        self.ensure_started();
        self.live[shard].add(1, 1, shard == MAX_PROCS);
    }

    /// Uncounts a finished (or never started) goroutine.
    pub(crate) fn goroutine_finished(&self, shard: usize) {
        self.live[shard].add(-1, 0, shard == MAX_PROCS);
    }

    /// The counts of started workers and plain threads.
    fn all_counts(&self) -> impl Iterator<Item = &Counts> {
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

    /// Wakes a sleeping worker if work appeared and nobody is looking; if
    /// none sleeps and a token is free, gives it to a thread.
    fn notify_work(&'static self) {
        fence(Ordering::SeqCst);
        if self.idle.len() == 0 {
            if self.holders.load(Ordering::Relaxed) < self.nprocs.load(Ordering::Relaxed) {
                self.grant_token();
            }
            return;
        }
        if self.searching.load(Ordering::Relaxed) != 0 {
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
        // Not the poller while others idle: it stays in epoll_wait. Never
        // ourselves: the timer watcher readying goroutines as it fires
        // timers is still on the idle list, and about to leave it to run
        // them (goroutines from the poller wake nobody at all).
        let poller = self.poller.load(Ordering::SeqCst);
        match self
            .idle
            .pop_preferring(current_worker_index(), |i| i + 1 != poller)
        {
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
        } else {
            self.unpark_thread(index);
        }
    }

    /// Unparks the thread running slot `index`, if any.
    fn unpark_thread(&self, index: usize) {
        let thread = self.shared(index).thread.lock();
        if let Some(thread) = thread.unwrap_or_else(|p| p.into_inner()).as_ref() {
            thread.unpark();
        }
    }

    /// Whether no worker thread runs a goroutine: each sleeps idle or
    /// waits in the pool.
    pub(crate) fn no_worker_busy(&self) -> bool {
        self.idle.len() + self.pool.len() >= self.threads.load(Ordering::SeqCst)
    }

    /// Whether nothing runs or can run until something outside the
    /// scheduler acts: every worker idle, no queued work, no timer, no
    /// goroutine waiting for I/O.
    pub(crate) fn all_idle(&self) -> bool {
        self.no_worker_busy()
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
        self.worker_threads() + self.helper_threads + crate::userfault::threads()
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
            self.poke_all_idle();
        } else if self.idle.len() > 0 {
            self.poke_idle();
        }
    }

    /// Unparks a worker's thread without handing it work: it re-reads the
    /// timers and its token, and sleeps again.
    fn poke(&self, index: usize) {
        self.wake_thread(index);
    }

    /// After GOMAXPROCS shrank: waits until no more workers hold a token
    /// than it allows. Idle ones are poked to give theirs back; a busy one
    /// does when its goroutine switches out, or the monitor revokes it
    /// within [`FORCE_RETAKE`] (goro cannot stop the world as Go does).
    fn settle_tokens(&self) {
        while self.holders.load(Ordering::Acquire) > self.nprocs.load(Ordering::Acquire) {
            self.poke_all_idle();
            crate::goroutine::yield_now();
        }
    }

    /// Pokes every idle worker (see [`Runtime::poke`]).
    fn poke_all_idle(&self) {
        self.idle.for_each(|i| self.poke(i));
    }

    /// Pokes one idle worker (see [`Runtime::poke`]).
    fn poke_idle(&self) {
        if let Some(i) = self.idle.last() {
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

    /// Whether an idle worker is blocked in the network poller.
    pub(crate) fn poller_blocked(&self) -> bool {
        self.poller.load(Ordering::Relaxed) != 0
    }

    /// The monitor's check of the poller's role (see the module note's
    /// "lazy hand-off"): if goroutines wait for I/O, nobody has polled for
    /// [`HANDOFF_DELAY`], no worker is blocked in the poller and one
    /// idles, pokes that one to take the role. Returns whether it did.
    pub(crate) fn fill_vacant_poller(&self) -> bool {
        let vacant = crate::netpoll::waiters() > 0
            && crate::netpoll::since_last_poll() >= HANDOFF_DELAY.as_nanos() as u64
            && !self.poller_blocked()
            && self.idle.len() > 0;
        if vacant {
            self.poke_idle();
        }
        vacant
    }

    /// Wakes the monitor if it sleeps until a worker needs watching: one
    /// left its idle sleep, or a goroutine entered a blocking call.
    fn wake_sysmon(&self) {
        if self.sysmon_sleeping.load(Ordering::SeqCst)
            && self.sysmon_sleeping.swap(false, Ordering::SeqCst)
        {
            crate::sysmon::poke();
        }
    }

    /// The monitor: sleeps until some worker runs a goroutine (the other
    /// side of [`Runtime::wake_sysmon`]; `SeqCst` on the flag and on the
    /// idle counts, so one of the two sees the other).
    pub(crate) fn sysmon_sleep(&self) {
        self.sysmon_sleeping.store(true, Ordering::SeqCst);
        while self.sysmon_sleeping.load(Ordering::SeqCst) && self.no_worker_busy() {
            std::thread::park();
        }
        self.sysmon_sleeping.store(false, Ordering::SeqCst);
    }

    /// The monitor's round: takes the token of every worker that has run
    /// one goroutine for [`FORCE_RETAKE`] while work waits for it, or sat in
    /// a blocking call for a round while work waits (or for
    /// [`FORCE_RETAKE`] in any case: Go's `retake`); before that, from
    /// [`HANDOFF_DELAY`] on, wakes an idle worker to steal the queue
    /// behind such a goroutine. Returns how many workers it acted on.
    pub(crate) fn retake(&'static self, samples: &mut Vec<Sample>, now: Instant) -> usize {
        let started = self.started_count.load(Ordering::Acquire);
        let injector_takes = self.injector_takes.load(Ordering::Relaxed);
        samples.resize(
            started,
            Sample {
                status: SCHEDULING,
                since: now,
                robbed: 0,
                injector_takes,
            },
        );
        let mut acted = 0;
        for (index, sample) in samples.iter_mut().enumerate() {
            let shared = self.shared(index);
            // Relaxed: only the monitor sets the flag, so it sees its own
            // `true`. A stale `true` (the worker has just cleared it, taking
            // a token back) moves a running worker's `runnext` to the global
            // queue, which is harmless.
            if shared.revoked.load(Ordering::Relaxed) && self.rescue_runnext(shared) {
                acted += 1;
            }
            let status = shared.status.load(Ordering::Relaxed);
            if status != sample.status || !shared.active.load(Ordering::Relaxed) {
                *sample = Sample {
                    status,
                    since: now,
                    robbed: shared.robbed.load(Ordering::Relaxed),
                    injector_takes,
                };
                continue;
            }
            let stuck_for = now.saturating_duration_since(sample.since);
            let retake = match status & ((1 << PHASE_BITS) - 1) {
                RUNNING if stuck_for >= FORCE_RETAKE => self.work_starves_behind(shared, sample),
                RUNNING => {
                    if stuck_for >= HANDOFF_DELAY && self.queue_unshared(shared, sample) {
                        acted += usize::from(self.share_queue());
                    }
                    false
                }
                BLOCKING => stuck_for >= FORCE_RETAKE || self.work_waits_on(shared),
                _ => false,
            };
            if retake && self.revoke(shared) {
                acted += 1;
            }
        }
        acted
    }

    /// Wakes an idle worker to steal from a worker busy in one goroutine,
    /// unless none idles or one is searching already. Returns whether it
    /// tried.
    fn share_queue(&'static self) -> bool {
        let wake = self.idle.len() > 0 && self.searching.load(Ordering::SeqCst) == 0;
        if wake {
            self.notify_work();
        }
        wake
    }

    /// Whether work would wait for a worker stuck in a blocking call: a
    /// goroutine the call woke (into its `runnext`), its queue holds
    /// goroutines, or no other worker is idle or searching.
    fn work_waits_on(&self, shared: &Shared) -> bool {
        shared.runnext.is_occupied()
            || !shared.stealer.is_empty()
            || self.idle.len() + self.searching.load(Ordering::SeqCst) == 0
    }

    /// Whether work starves behind a worker busy in one long goroutine
    /// since `sample`: the goroutine it woke last (only a revocation frees
    /// it), its queue with nobody stealing from it, or the global queue with
    /// nobody taking from it. While others take its work, a long goroutine
    /// (or a thread the OS merely preempted) is left alone: a revocation
    /// would only add a thread competing for the same cores.
    fn work_starves_behind(&self, shared: &Shared, sample: &Sample) -> bool {
        shared.runnext.is_occupied()
            || self.queue_unshared(shared, sample)
            || (!self.injector.is_empty()
                && self.injector_takes.load(Ordering::Relaxed) == sample.injector_takes)
    }

    /// Whether a worker's queue holds goroutines and nobody has stolen from
    /// it since `sample`.
    fn queue_unshared(&self, shared: &Shared, sample: &Sample) -> bool {
        !shared.stealer.is_empty() && shared.robbed.load(Ordering::Relaxed) == sample.robbed
    }

    /// Takes a stuck worker's token and, if work is waiting, gives it to
    /// another thread. False if already taken.
    fn revoke(&'static self, shared: &Shared) -> bool {
        if shared
            .revoked
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.holders.fetch_sub(1, Ordering::AcqRel);
        self.retakes.fetch_add(1, Ordering::Relaxed);
        self.runnext_to_injector(shared);
        if self.has_visible_work() {
            self.grant_token();
        }
        true
    }

    /// A revoked worker's goroutine, still stuck, woke another after the
    /// revocation (from inside a blocking call, or in a long run): that one
    /// sits in the worker's `runnext`, which nothing but the worker's own
    /// thread would run, and only once the stuck goroutine switches out.
    /// It goes to the global queue, and a worker is told (given the free
    /// token if none holds it). Returns whether there was one.
    fn rescue_runnext(&'static self, shared: &Shared) -> bool {
        let rescued = self.runnext_to_injector(shared);
        if rescued {
            self.notify_work();
        }
        rescued
    }

    /// Moves a worker's `runnext` goroutine to the global queue (it would
    /// wait for a stuck goroutine, or for a worker without a token).
    /// Returns whether there was one.
    fn runnext_to_injector(&self, shared: &Shared) -> bool {
        match shared.runnext.take() {
            Some(g) => {
                self.injector.push(g);
                true
            }
            None => false,
        }
    }

    /// Fires due timers if nobody else did (the monitor's backstop, for
    /// when every worker is stuck in one goroutine).
    pub(crate) fn fire_overdue_timers(&self) {
        if self.earliest_timer() <= crate::inspect::tick_clock() {
            self.fire_all_timers();
        }
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
    /// Schedules while this worker holds a token; without one, waits in
    /// the pool. Returns when the thread has waited there [`POOL_IDLE`].
    fn run_loop(&self) {
        loop {
            if !self.keep_token() {
                self.give_up_work();
                if !self.wait_in_pool() {
                    return;
                }
                continue;
            }
            match self.find_work().or_else(|| self.spin_for_work()) {
                Some(g) if !self.keep_token() => {
                    // Our token went while we looked: not ours to run.
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

    /// Whether this worker still holds its token. It loses it when the
    /// monitor revoked it (then it takes a free one if there is one), or
    /// when GOMAXPROCS shrank below the number of holders.
    fn keep_token(&self) -> bool {
        let rt = self.rt;
        if self.shared.revoked.load(Ordering::Acquire) {
            if self.reclaim_token() {
                return true;
            }
            self.clear_revocation();
            return false;
        }
        let mut held = rt.holders.load(Ordering::Relaxed);
        while held > rt.nprocs.load(Ordering::Relaxed) {
            match rt.holders.compare_exchange_weak(
                held,
                held - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return false,
                Err(now) => held = now,
            }
        }
        true
    }

    /// After a revocation: takes a free token if there is one.
    fn reclaim_token(&self) -> bool {
        if !self.rt.take_free_token() {
            return false;
        }
        self.clear_revocation();
        true
    }

    /// The revocation has been dealt with: this worker schedules again, or
    /// goes to the pool.
    fn clear_revocation(&self) {
        self.shared.revoked.store(false, Ordering::Relaxed);
    }

    /// The running goroutine enters a blocking call: whatever it woke must
    /// not wait behind the call, so `runnext` joins the queue others steal
    /// from, and an idle worker is told there is work.
    fn enter_blocking(&self) {
        if let Some(g) = self.shared.runnext.take() {
            self.queue.push(g);
        }
        self.set_phase(BLOCKING);
        if !self.queue.is_empty() || !self.spill.is_empty() {
            self.rt.notify_work();
        }
        self.rt.wake_sysmon();
    }

    /// The blocking call entered on worker `entered_on` returned. If the
    /// monitor took our token meanwhile and none is free, the goroutine
    /// yields: `run` then queues it globally, for a worker with a token.
    fn leave_blocking(&self, entered_on: usize) {
        if entered_on == self.index {
            self.set_phase(RUNNING);
        }
        if self.shared.revoked.load(Ordering::Acquire) && !self.reclaim_token() {
            crate::goroutine::yield_now();
        }
    }

    /// Runs `g` until it switches out, then files it where it belongs; after
    /// a yield, runs the next goroutine of the local queue the same way
    /// while nothing else needs the scheduler (see
    /// [`next_after_yield`](Self::next_after_yield)).
    fn run(&self, mut g: Runnable) {
        loop {
            let stats = &self.shared().stats;
            WorkerStats::bump(&stats.switches);
            let runs = self.runs.get() + 1;
            self.runs.set(runs);
            self.set_phase(RUNNING);
            // SAFETY: `g` came off a run queue or runnext, so this worker owns it.
            let outcome = unsafe { g.resume(self) };
            self.set_phase(SCHEDULING);
            match outcome {
                Outcome::Yielded if self.shared.revoked.load(Ordering::Acquire) => {
                    // Left a blocking call without a token: the goroutine waits
                    // for a worker that has one (Go's exitsyscall slow path).
                    self.rt.injector.push(g);
                    self.rt.notify_work();
                }
                Outcome::Yielded => {
                    // No new work appeared, so nobody needs waking: whatever
                    // else is queued woke a worker when it was queued.
                    self.queue.push(g);
                    if let Some(next) = self.next_after_yield() {
                        g = next;
                        continue;
                    }
                }
                Outcome::Parked => {
                    if g.complete_park() {
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
    /// yield to each other then switch through the queue alone: a yield at
    /// GOMAXPROCS=1 took 13.6 ns through the whole loop, 11.5 ns this way.
    /// The token checks are relaxed hints: a revocation or a shrink seen
    /// here sends the worker back to `run_loop`, whose `keep_token` acts on
    /// it (with `Acquire`), and one seen a yield late only delays that by
    /// one goroutine's run, as a revocation that lands during a run does.
    fn next_after_yield(&self) -> Option<Runnable> {
        let tick = self.tick.get().wrapping_add(1);
        let rt = self.rt;
        if tick % FAIRNESS_TICK == 0
            || self.shared.revoked.load(Ordering::Relaxed)
            || rt.holders.load(Ordering::Relaxed) > rt.nprocs.load(Ordering::Relaxed)
            || self.shared().timers.earliest() != NEVER
            || self.shared.runnext.is_occupied()
            || SEEDED.load(Ordering::Relaxed)
        {
            return None;
        }
        self.tick.set(tick);
        self.queue.pop()
    }

    fn shared(&self) -> &'static Shared {
        self.shared
    }

    /// Publishes what this thread does, for the monitor (a plain store:
    /// only this thread writes it, and the monitor tolerates a stale view).
    fn set_phase(&self, phase: u64) {
        let status = (self.runs.get() << PHASE_BITS) | phase;
        self.shared.status.store(status, Ordering::Relaxed);
    }

    /// Drops our reference to a finished goroutine. If it was allocated on
    /// another worker, the reference goes back there instead: if ours is the
    /// last one, freeing it here would make the C allocator take the other
    /// thread's arena lock, on every goroutine, against that thread's own
    /// allocations (the bottleneck of spawn-heavy programs).
    fn release(&self, g: Runnable) {
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
    fn free_returned(&self) {
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
    fn free_one_returned(&self) {
        let spawns = self.spawns.get().wrapping_add(1);
        self.spawns.set(spawns);
        let mut batch = self.to_free.take();
        if let Some(g) = batch.next() {
            drop(g);
        } else if spawns % 16 == 0 && !self.shared().returned.is_empty() {
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

    fn make_runnext(&self, g: Runnable) {
        if seeded_coin() == Some(false) {
            // Seeded: this time the woken goroutine queues behind the rest.
            return self.queue_behind(g);
        }
        if let Some(old) = self.shared.runnext.replace(Some(g)) {
            self.queue_behind(old);
        }
    }

    /// Queues `g` behind the others here and tells an idle worker. Out of
    /// line: a hand-off between two goroutines never comes here, and the
    /// wake path it would be inlined into is the hottest there is.
    #[cold]
    #[inline(never)]
    fn queue_behind(&self, g: Runnable) {
        self.queue.push(g);
        if !self.quiet_wakes.get() {
            self.rt.notify_work();
        }
    }

    fn find_work(&self) -> Option<Runnable> {
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
            timers.fire_due(crate::inspect::tick_clock());
        }
        if tick % FAIRNESS_TICK == 0 {
            crate::inspect::tick_clock();
            self.rt.fire_all_timers();
            if self.queue.len() < POLL_QUEUE_LIMIT {
                self.poll_network();
            }
            if let Some(g) = self.take_one_from_injector().or_else(|| self.spill.pop()) {
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
            .or_else(|| self.shared.runnext.take())
            .or_else(|| self.take_polled())
    }

    /// Polls the network without blocking if goroutines wait for I/O and no
    /// worker is blocked in the poller; returns whether any became runnable
    /// (on this worker's `runnext` and queue).
    fn poll_network(&self) -> bool {
        crate::netpoll::waiters() > 0
            && self.rt.poller.load(Ordering::Relaxed) == 0
            && self.poll_quietly(Some(Duration::ZERO)) > 0
    }

    /// `netpoll::poll`, queueing the goroutines it readies here without
    /// waking another worker for them; if some are still queued
    /// [`HANDOFF_DELAY`] on, `hand_off_polled` does. Returns how many.
    fn poll_quietly(&self, timeout: Option<Duration>) -> usize {
        self.quiet_wakes.set(true);
        let readied = crate::netpoll::poll(timeout);
        self.quiet_wakes.set(false);
        if readied > 0 && !self.queue.is_empty() && self.handoff_at.get() == 0 {
            self.handoff_at
                .set(timer::now_nanos() + HANDOFF_DELAY.as_nanos() as u64);
        }
        readied
    }

    /// Wakes an idle worker to share the goroutines taken from the poller
    /// if they have waited in the local queue for [`HANDOFF_DELAY`].
    fn hand_off_polled(&self) {
        let at = self.handoff_at.get();
        if at == 0 {
            return;
        }
        if self.queue.is_empty() {
            self.handoff_at.set(0);
        } else if timer::now_nanos() >= at {
            self.handoff_at.set(0);
            self.rt.notify_work();
        }
    }

    /// Nothing else to run: a goroutine whose socket became ready, if any.
    fn take_polled(&self) -> Option<Runnable> {
        if self.poll_network() {
            self.shared.runnext.take().or_else(|| self.queue.pop())
        } else {
            None
        }
    }

    /// The next goroutine from the local queue, the spill, the global
    /// queue, or another worker's queues. The local pop is inlined into the
    /// scheduling loop; looking further is not.
    #[inline]
    fn take_queued(&self) -> Option<Runnable> {
        self.queue.pop().or_else(|| self.take_from_others())
    }

    /// The local queue is empty: its spill, the global queue, or another
    /// worker's queues.
    #[inline(never)]
    fn take_from_others(&self) -> Option<Runnable> {
        self.spill
            .pop()
            .or_else(|| self.steal_from_injector())
            .or_else(|| self.steal_from_workers())
    }

    /// Looks again a few times, briefly, before going to sleep: work often
    /// appears within microseconds, and a sleep and wake cost far more.
    /// Not while goroutines wait for I/O (see the module note).
    fn spin_for_work(&self) -> Option<Runnable> {
        if crate::netpoll::waiters() > 0 {
            return None;
        }
        (0..SPIN_ROUNDS).find_map(|_| {
            (0..SPIN_PAUSES).for_each(|_| std::hint::spin_loop());
            self.take_queued()
        })
    }

    fn take_runnext(&self) -> Option<Runnable> {
        let streak = self.runnext_streak.get();
        if streak >= FAIRNESS_TICK && (!self.queue.is_empty() || !self.spill.is_empty()) {
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
    fn take_one_from_injector(&self) -> Option<Runnable> {
        self.take_from_injector(|| self.rt.injector.steal())
    }

    /// A batch from the injector into the local queue, one returned.
    fn steal_from_injector(&self) -> Option<Runnable> {
        self.take_from_injector(|| self.rt.injector.steal_batch_and_pop(&self.queue))
    }

    /// `steal` from the injector until it does not ask for a retry; counts
    /// a success for the monitor (see `Runtime::injector_takes`).
    fn take_from_injector(&self, steal: impl Fn() -> Steal<Runnable>) -> Option<Runnable> {
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

    /// Half of another worker's local queue (or spill), from a random
    /// victim onwards.
    ///
    /// After a steal that left this worker fewer than [`SMALL_STEAL`]
    /// never-run goroutines, the next steal waits about 4 µs first: the
    /// victim is then usually a goroutine spawning in a loop, each steal
    /// reads the end of its queue that its next push must take back from
    /// this core, and waiting lets it push a bigger batch (spawn at
    /// GOMAXPROCS=2 10% faster, a WaitGroup over spawned goroutines 12%).
    /// Goroutines that have run before were woken by something and want
    /// running soon, so stealing those never waits (pausing after any
    /// small steal slowed the daisy chain a quarter).
    fn steal_from_workers(&self) -> Option<Runnable> {
        let started = self.rt.started_count.load(Ordering::Acquire);
        if started <= 1 {
            return None;
        }
        if self.small_steal.replace(false) {
            (0..SMALL_STEAL_PAUSES).for_each(|_| std::hint::spin_loop());
        }
        let start = (self.next_random() % started as u64) as usize;
        loop {
            let mut retry = false;
            for k in 0..started {
                let victim = (start + k) % started;
                if victim == self.index {
                    continue;
                }
                let victim = self.rt.shared(victim);
                match victim.stealer.steal_batch_and_pop(&self.queue) {
                    Steal::Success(g) => {
                        // SAFETY: popped off a queue: ours to run.
                        let fresh = unsafe { g.is_unstarted() };
                        self.small_steal
                            .set(fresh && self.queue.len() < SMALL_STEAL);
                        WorkerStats::bump(&self.shared().stats.steals);
                        victim.robbed.fetch_add(1, Ordering::Relaxed);
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
        self.rt.idle.push(self.index);
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
        let left = self.rt.idle.remove(self.index);
        if left {
            self.rt.wake_sysmon();
        }
        left
    }

    /// Whether a sleeping worker must go back to its loop to give up its
    /// token: the monitor revoked it, or GOMAXPROCS shrank.
    fn token_in_doubt(&self) -> bool {
        self.shared.revoked.load(Ordering::Relaxed)
            || self.rt.holders.load(Ordering::Relaxed) > self.rt.nprocs.load(Ordering::Relaxed)
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
                self.rt.wake_sysmon();
                return;
            }
            if self.token_in_doubt() && self.leave_idle_list() {
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
            if polled > 0 && self.leave_idle_list() {
                // Sockets woke goroutines into our runnext and queue: we
                // leave to run them. The poller's role stays vacant until
                // a worker idles again (see the module note).
                return;
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
            self.poll_quietly((wake_at != NEVER).then(|| timer::until(wake_at)))
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

    /// Without a token: hands this worker's goroutines to the others.
    fn give_up_work(&self) {
        self.shared.active.store(false, Ordering::Relaxed);
        self.free_returned();
        self.rt.runnext_to_injector(self.shared);
        while let Some(g) = self.queue.pop().or_else(|| self.spill.pop()) {
            self.rt.injector.push(g);
        }
        self.stop_searching();
        self.rt.notify_work();
    }

    /// Waits in the pool until granted a token (true), or for [`POOL_IDLE`]
    /// (false: the thread is not needed and exits).
    fn wait_in_pool(&self) -> bool {
        let shared = self.shared;
        self.rt.pool.push(self.index);
        let mut deadline = Some(Instant::now() + POOL_IDLE);
        loop {
            if shared.granted.swap(false, Ordering::Acquire) {
                shared.active.store(true, Ordering::Relaxed);
                return true;
            }
            match deadline {
                Some(at) if Instant::now() >= at => {
                    if self.rt.pool.remove(self.index) {
                        return false;
                    }
                    // A granter took us off the list (false above): its
                    // grant is coming.
                    deadline = None;
                }
                Some(at) => std::thread::park_timeout(at - Instant::now()),
                None => std::thread::park(),
            }
        }
    }
}

/// Makes a woken goroutine runnable: the current worker's `runnext` if
/// called on a worker, else the global queue.
pub(crate) fn ready(g: Runnable) {
    let w = current_worker();
    if w.is_null() {
        ready_from_thread(g);
    } else {
        // SAFETY: WORKER points at the live Worker of this thread.
        unsafe { (*w).make_runnext(g) };
    }
}

/// `ready` from a plain thread: the global queue (out of line, as
/// `Worker::queue_behind`).
#[cold]
#[inline(never)]
fn ready_from_thread(g: Runnable) {
    let rt = runtime();
    rt.injector.push(g);
    rt.notify_work();
}

/// Queues a new goroutine: the current worker's local queue (its spill
/// past [`LOCAL_SPAWN_LIMIT`]), or the global queue from a plain thread.
pub(crate) fn spawn(g: Runnable) {
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
        } else if w.queue.len() < LOCAL_SPAWN_LIMIT {
            w.queue.push(g);
        } else {
            // A goroutine spawning in a loop: the rest wait in the spill
            // (Go: the global queue), so that what its worker wakes
            // meanwhile runs first, while its stack is still in cache.
            w.spill.push(g);
        }
        // Free what came back here as we go, so the memory is reused
        // instead of piling up while this goroutine spawns in a loop.
        w.free_one_returned();
    }
    rt.notify_work();
}

/// Goroutine ids a worker takes from the global counter at once (Go's
/// `_GoidCacheBatch` is 16): its spawns then make no locked instruction
/// for their ids. Ids stay unique; across workers they are not in spawn
/// order, as in Go.
const ID_BATCH: u64 = 64;

/// The next goroutine id not handed out. It has a cache line of its own:
/// every refill writes it, and a neighbour written by other threads would
/// make each of those writes a cache miss.
static NEXT_ID: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(1));

/// For a spawn, with one look at the calling thread's worker: its index
/// (the new goroutine's home; [`NO_HOME`] on a plain thread) and a new
/// goroutine id, from the worker's batch or, on a plain thread, straight
/// from the counter.
pub(crate) fn home_and_id() -> (usize, u64) {
    let w = current_worker();
    if w.is_null() {
        return (NO_HOME, NEXT_ID.fetch_add(1, Ordering::Relaxed));
    }
    // SAFETY: WORKER points at the live Worker of this thread.
    let w = unsafe { &*w };
    let (mut next, mut end) = w.ids.get();
    if next == end {
        next = NEXT_ID.fetch_add(ID_BATCH, Ordering::Relaxed);
        end = next + ID_BATCH;
    }
    w.ids.set((next + 1, end));
    (w.index, next)
}

/// The counting and listing shard of worker slot `index` (or of
/// [`NO_HOME`]): each slot below `MAX_PROCS` has its own, which only the
/// thread running that slot writes (see `Counts`); plain threads and the
/// slots above (threads left in blocking calls, beyond GOMAXPROCS
/// 1024) share the last.
pub(crate) fn shard_of(index: usize) -> usize {
    index.min(MAX_PROCS)
}

/// A blocking call in progress, entered on worker `index`; see
/// [`enter_blocking`].
pub(crate) struct BlockingGuard {
    index: usize,
}

/// Marks the current worker as blocked in a call (Go's `entersyscall`)
/// until the guard drops; `None` on a plain thread.
pub(crate) fn enter_blocking() -> Option<BlockingGuard> {
    let w = current_worker();
    if w.is_null() {
        return None;
    }
    // SAFETY: WORKER points at the live Worker of this thread.
    let w = unsafe { &*w };
    w.enter_blocking();
    Some(BlockingGuard { index: w.index })
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        // The call may have parked the goroutine, which then came back on
        // another worker: look the worker up again.
        let w = current_worker();
        if !w.is_null() {
            // SAFETY: WORKER points at the live Worker of this thread.
            unsafe { (*w).leave_blocking(self.index) };
        }
    }
}

/// Sets the most OS threads that may run goroutines at once (Go's
/// `debug.SetMaxThreads`; default and ceiling 10,000) and returns the
/// previous limit. Threads beyond GOMAXPROCS start only while goroutines
/// are stuck in blocking calls or long runs; a program that needs more
/// than the limit stops with "fatal error: thread exhaustion", as Go's does.
///
/// ```
/// let old = goro::set_max_threads(5_000);
/// assert_eq!(goro::set_max_threads(old), 5_000);
/// ```
pub fn set_max_threads(n: usize) -> usize {
    let rt = runtime();
    rt.max_threads
        .swap(n.clamp(1, MAX_THREADS), Ordering::Relaxed)
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

/// Sets GOMAXPROCS to `n` and returns the previous
/// value; `n == 0` only returns the current value, as Go's
/// `runtime.GOMAXPROCS(0)` does. Takes effect live: new workers start at
/// once; when it shrinks, surplus workers hand their queues over, and the
/// call returns once they have (a worker busy in one goroutine does so when
/// it switches out, or after 10 ms, when the monitor takes its token).
/// goro runs at most 1024 workers: a larger `n` is lowered to 1024, and the
/// first time that happens a warning on stderr says so.
///
/// ```
/// let old = goro::set_gomaxprocs(1);
/// assert_eq!(goro::gomaxprocs(), 1);
/// assert_eq!(goro::set_gomaxprocs(0), 1); // a query
/// goro::set_gomaxprocs(old);
/// ```
pub fn set_gomaxprocs(n: usize) -> usize {
    if n == 0 {
        return gomaxprocs();
    }
    let rt = runtime();
    rt.ensure_started();
    let n = crate::procs::clamp_requested(n);
    let old = rt.nprocs.swap(n, Ordering::AcqRel);
    if n > old {
        rt.grant_tokens();
    } else {
        rt.settle_tokens();
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
