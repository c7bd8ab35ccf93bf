//! The scheduler: GOMAXPROCS workers running goroutines M:N (Go's G/M/P,
//! with each P folded into the thread that holds it, a *worker*).
//!
//! # Files
//! - `mod.rs` (this file): the [`Runtime`], its tokens, and the entry
//!   points a goroutine's life goes through: [`admit`] and [`spawn`] at
//!   birth, [`ready`] at a wake,
//!   and the public knobs (`gomaxprocs`, `set_max_threads`, ...).
//! - `worker.rs`: a worker thread's loop: run a goroutine, file it where
//!   it belongs when it switches out, find the next (timers, `runnext`,
//!   its pinned goroutines, local queue, global queue, stealing).
//! - `idle.rs`: a worker with nothing to run: the idle list, the poller
//!   and timer-watcher roles, and the pool of tokenless threads.
//! - `steal.rs`: where fresh goroutines go: stealing from a backlog, and
//!   a server's connections started on the workers in turn.
//! - `queues.rs`: the run queues: a worker's local queue and spill, their
//!   stealers, the `runnext` slot, the lists of idle and pooled workers,
//!   and the lists of finished goroutines handed back for freeing.
//! - `counters.rs`: goroutine ids and counts, per-worker statistics, and
//!   the figures `metrics` and `schedtrace` read.
//! - `sysmon.rs`: the monitor thread and its decisions (Go's `sysmon`).
//!
//! # Design
//! - Pinning: a goroutine that has started runs only on the thread of the
//!   worker that started it (`G::pin`), which is what makes thread-locals
//!   and `!Send` values on its stack sound (docs/safety.md). That worker
//!   alone runs it: a wake from its own thread goes to `runnext` or the
//!   private `local` queue, a wake from any other thread to its `inbox`;
//!   thieves take only goroutines not started yet (and those that migrate,
//!   the `unsafe` opt-in), from a backlog that has lasted (see
//!   `steal::backlog_aged`).
//! - Each worker is an OS thread with a local FIFO run queue (a
//!   crossbeam-deque `Worker`, whose `Stealer` others take from) and a
//!   `runnext` slot. A goroutine woken by another goes into the waker's
//!   `runnext` and runs as soon as the waker switches out, so a hand-off
//!   between two goroutines touches no queue and no other thread.
//! - A worker's own spawns go on its local queue while that holds fewer
//!   than [`LOCAL_SPAWN_LIMIT`] (Go's 256), beyond that on its *spill*
//!   (where Go uses its global queue); spawns from a plain thread go to the
//!   global `injector`. What a spawning loop's worker wakes meanwhile thus
//!   runs before the spawned backlog, while its stack is still in cache.
//! - Where a worker looks for work, in order: due timers; every 61st round
//!   (Go's fairness tick) one goroutine from the injector, else the spill,
//!   and the network; `runnext`, at most 61 times in a row; the local
//!   queue; the spill; the injector; then half of another worker's queue,
//!   from a random victim on. After a steal that brought only a few
//!   never-run goroutines, the next steal waits briefly, so that a
//!   goroutine spawning in a loop is not robbed after every push.
//! - Idle workers sleep on their thread parker (a futex). New work wakes at
//!   most one *searching* worker; a searcher that finds work wakes the
//!   next (Go's `wakep`/`resetspinning`), so a burst spreads without a
//!   thundering herd and an idle program uses no CPU. Before sleeping a
//!   worker looks again a few times over a few microseconds, because a
//!   futex sleep and wake cost more; not while goroutines wait for I/O,
//!   where new work comes from sockets the spin does not see.
//! - Tokens (Go's Ps, without their data): GOMAXPROCS exist, and a worker
//!   schedules goroutines only while it holds one. Goroutines are not
//!   preempted, so one that blocks its thread (an unannotated blocking
//!   call, a long loop) keeps its worker; the monitor then revokes that
//!   worker's token and grants it to a pooled or new thread, which steals
//!   the stuck worker's fresh goroutines (its pinned ones wait for it).
//!   When the stuck goroutine switches out, its worker takes a free token
//!   if there is one, else hands its fresh goroutines to the global queue
//!   and waits in the pool, asking for a token while pinned goroutines
//!   wait (holders take turns, see "Pinning" in docs/design.md); a pooled
//!   thread with nothing pinned to it exits after `POOL_IDLE`, leaving its
//!   slot (queues, timers, stack cache) to the next thread. At most
//!   `set_max_threads` threads exist at once, helpers for
//!   `goro::blocking` included.
//! - `runnext` is two words (see `queues::RunNext`): a goroutine pinned
//!   to the worker goes in one that only the worker's thread writes, with
//!   plain stores (no other thread may run it, so none takes it); one that
//!   migrates goes in one filled and emptied by swaps, because the monitor
//!   moves it to the global queue at a revocation and on every round after
//!   while the worker stays revoked (the stuck goroutine may wake others
//!   meanwhile).
//! - Run queues and `runnext` hold goroutines as [`Runnable`]s, one word
//!   each (the body's vtable is found through the `G`).
//! - Once the netpoller exists, every worker has a network poller of its
//!   own (`Shared::poller`, holding the sockets its goroutines wait on,
//!   see `netpoll`) and sleeps in it when idle instead of on its parker
//!   (`Shared::in_poller` tells a waker to write its eventfd). Busy
//!   workers poll theirs without blocking when their queue runs dry, and
//!   on the fairness round while fewer than `POLL_QUEUE_LIMIT` goroutines
//!   are queued: a longer queue will not run dry before the next fairness
//!   round, and polling into it only moves waiting from the kernel's ready
//!   list into the queue. The monitor polls a poller nobody has polled for
//!   10 ms.
//! - Lazy hand-off: goroutines that migrate (the opt-in), taken from the
//!   poller, are queued without waking anyone. Only if some are still
//!   queued [`HANDOFF_DELAY`] later does the worker wake an idle one to
//!   steal them: a batch of sockets usually drains sooner, and a thread's
//!   wake costs both sides a system call and a context switch.
//! - A finished goroutine's memory goes back to the worker that allocated
//!   it (its `returned` list), which frees it as it schedules or spawns:
//!   freeing on another thread would make the C allocator take that
//!   thread's arena lock for every goroutine.
//!
//! # Invariants
//! - A goroutine is in at most one place: a run queue, `runnext`, running on
//!   one worker, or parked (owned by whoever will unpark it).
//! - Only a worker's own thread touches the push/pop ends of its local
//!   queue and spill, and fills its `runnext`; others only steal through
//!   the `Stealers` (and the monitor empties the migrating word of a
//!   revoked worker's `runnext`).
//! - At most GOMAXPROCS workers hold a token, except briefly after a
//!   shrink (a busy surplus worker gives its token back when its goroutine
//!   switches out). A worker without one runs no goroutine but the one it
//!   was stuck in; its queue is empty or being stolen.
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

mod counters;
mod idle;
mod queues;
mod steal;
pub(crate) mod sysmon;
mod worker;

pub(crate) use counters::{admit, shard_of};
pub(crate) use idle::{current_poller, slot_poller};
pub(crate) use queues::{Returned, ReturnedBatch};
pub(crate) use worker::current_worker_index;
use worker::{current_worker, Shared};

use crate::clock::NEVER;
use crate::goroutine::Runnable;
use crate::timers::TimerHeap;
use counters::{Counts, WorkerStats};
use crossbeam_deque::Injector;
use crossbeam_utils::CachePadded;
use queues::WorkerList;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use worker::SlotTable;

/// Most workers GOMAXPROCS can ask for.
pub(crate) use crate::gomaxprocs::MAX_PROCS;

/// Most OS threads that may run goroutines at once (Go's default
/// `debug.SetMaxThreads`): GOMAXPROCS workers plus those stuck in blocking
/// calls or long-running goroutines. Also the number of worker slots.
pub(crate) const MAX_THREADS: usize = 10_000;

/// `G::home` of a goroutine spawned from a plain thread.
pub(crate) const NO_HOME: usize = usize::MAX;

/// What a worker's thread is doing (the low bits of `Shared::status`; the
/// rest counts the goroutines it has run, so the monitor can tell one long
/// run from many short ones).
const SCHEDULING: u64 = 0;
const RUNNING: u64 = 1;
const PHASE_BITS: u32 = 1;

/// Goroutines a worker's local queue holds before the ones it spawns go to
/// its spill instead (Go's local run queue has 256 slots; Go sends the
/// excess to its global queue).
const LOCAL_SPAWN_LIMIT: usize = 256;

/// How long goroutines a worker took from the network poller may wait in
/// its queue before it wakes another worker to share them, and how long
/// the poller's role may stay vacant while a worker idles before the
/// monitor has that worker take it (see the module note's "lazy hand-off").
const HANDOFF_DELAY: Duration = Duration::from_micros(50);

/// How long a worker must run one goroutine, with fresh goroutines queued
/// behind it, before thieves take them (see `steal::backlog_aged`): longer
/// than the OS usually sets a thread aside (another process's burst, the
/// monitor's round), so that a pair spawned together is not split for
/// good because their worker's thread was briefly preempted.
const STUCK_AFTER: Duration = Duration::from_micros(200);

/// The process-wide runtime.
pub(crate) struct Runtime {
    injector: Injector<Runnable>,
    slots: Box<[OnceLock<Box<Shared>>]>,
    /// GOMAXPROCS: how many tokens there are (see "Tokens" in the module note).
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
    /// Idle workers blocked in their network pollers (relaxed: the
    /// monitor's heuristic; the wake protocol uses `Shared::in_poller`).
    pollers_blocked: AtomicUsize,
    /// Pooled workers waiting for a token to run their pinned goroutines
    /// (relaxed: a hint that makes holders give theirs up; the token
    /// itself moves through `holders` and `granted`).
    token_wanted: AtomicUsize,
}

/// The global runtime, started on first use.
pub(crate) fn runtime() -> &'static Runtime {
    static RT: OnceLock<&'static Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        crate::panic::install_hook();
        crate::signal::install();
        crate::testing::seed::set_seed_from_env();
        let rt: &'static Runtime =
            Box::leak(Box::new(Runtime::new(crate::gomaxprocs::procs_from_env())));
        crate::trace::start_from_env();
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
            pollers_blocked: AtomicUsize::new(0),
            token_wanted: AtomicUsize::new(0),
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
            sysmon::start(self);
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
        let wanting = |i: usize| self.shared(i).wants_token.load(Ordering::Relaxed);
        match self.pool.pop_preferring(None, wanting) {
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

    /// A goroutine pinned to worker `home` was woken by another thread: it
    /// joins that worker's inbox, whose thread is woken if it sleeps or
    /// waits in the pool (a Dekker pair with the sleeper's `asleep` store
    /// and its look at the inbox, both sides `SeqCst`).
    #[cold]
    #[inline(never)]
    fn send_home(&'static self, home: usize, g: Runnable) {
        let shared = self.shared(home);
        shared.inbox.push(g);
        fence(Ordering::SeqCst);
        if shared.asleep.load(Ordering::SeqCst) {
            self.recheck(home);
        }
    }

    /// Whether a pooled worker waits for a token to run its pinned
    /// goroutines.
    #[inline]
    fn token_wanted(&self) -> bool {
        self.token_wanted.load(Ordering::Relaxed) > 0
    }

    /// Pooled worker `index` has pinned goroutines to run: takes a free
    /// token for it if there is one, else counts it as waiting, so that a
    /// holder gives one up when it idles or its turn is over (and the
    /// monitor revokes one held too long).
    fn want_token(&'static self, index: usize) {
        let shared = self.shared(index);
        if !shared.wants_token.swap(true, Ordering::Relaxed) {
            self.token_wanted.fetch_add(1, Ordering::Relaxed);
            self.wake_sysmon();
        }
        if !self.grant_token() {
            // An idle holder gives its token up when it sees the request.
            self.recheck_all_idle();
        }
    }

    /// A pooled worker got its token: it no longer waits for one.
    fn no_longer_wants_token(&self, shared: &Shared) {
        if shared.wants_token.swap(false, Ordering::Relaxed) {
            self.token_wanted.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A holder gives its token to a pooled worker that waits for one
    /// (its turn is over, or it idles). False if its token was released
    /// already.
    fn pass_token(&'static self, shared: &Shared) -> bool {
        if !shared.claim_release() {
            return false;
        }
        self.holders.fetch_sub(1, Ordering::AcqRel);
        self.grant_token();
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
        // Not one blocked in its poller while others idle: it watches its
        // goroutines' sockets. Never ourselves: the timer watcher readying
        // goroutines as it fires timers is still on the idle list, and
        // about to leave it to run them (goroutines from the poller wake
        // nobody at all).
        let in_poller = |i| self.shared(i).in_poller.load(Ordering::Relaxed);
        match self
            .idle
            .pop_preferring(current_worker_index(), |i| !in_poller(i))
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

    /// Wakes worker `index`'s thread: out of its network poller if it is
    /// blocked there, else from its thread parker. The fence orders the
    /// caller's change (its `wake` flag, an inbox push, a revocation)
    /// before the load of `in_poller`, which pairs with the worker's store
    /// of `in_poller` before it looks at them (see
    /// `Worker::block_in_poller`).
    fn wake_thread(&self, index: usize) {
        let shared = self.shared(index);
        fence(Ordering::SeqCst);
        if shared.in_poller.load(Ordering::SeqCst) {
            if let Some(poller) = shared.poller.get() {
                poller.wake();
            }
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
            && !self.token_wanted()
            && !self.has_visible_work()
            && !self.has_pinned_work()
            && !crate::blocking::calls_in_flight()
            && self.earliest_timer() == NEVER
            && crate::netpoll::waiters() == 0
    }

    /// A thread has just blocked on a goro primitive: if every worker is
    /// idle, have one of them run the deadlock check.
    pub(crate) fn thread_blocked(&self) {
        if self.all_idle() {
            self.check_requested.store(true, Ordering::SeqCst);
            self.recheck_one_idle();
        }
    }

    /// Whether any queue others can see holds work.
    fn has_visible_work(&self) -> bool {
        if !self.injector.is_empty() {
            return true;
        }
        let started = self.started_count.load(Ordering::Acquire);
        (0..started).any(|i| !self.shared(i).stealer.is_empty())
    }

    /// Whether any worker has pinned goroutines waiting to run.
    fn has_pinned_work(&self) -> bool {
        let started = self.started_count.load(Ordering::Acquire);
        (0..started).any(|i| {
            let shared = self.shared(i);
            !shared.inbox.is_empty() || !shared.local_len.is_empty()
        })
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
            self.recheck_all_idle();
        } else if self.idle.len() > 0 {
            self.recheck_one_idle();
        }
    }

    /// Unparks a worker's thread without handing it work: it re-reads the
    /// timers and its token, and sleeps again.
    fn recheck(&self, index: usize) {
        self.wake_thread(index);
    }

    /// After GOMAXPROCS shrank: waits until no more workers hold a token
    /// than it allows. Idle ones are made to recheck and give theirs back; a busy one
    /// does when its goroutine switches out, or the monitor revokes it
    /// within [`FORCE_RETAKE`](sysmon::FORCE_RETAKE) (goro cannot stop the world as Go does).
    fn settle_tokens(&self) {
        while self.holders.load(Ordering::Acquire) > self.nprocs.load(Ordering::Acquire) {
            self.recheck_all_idle();
            crate::goroutine::yield_now();
        }
    }

    /// Has every idle worker recheck (see [`Runtime::recheck`]).
    fn recheck_all_idle(&self) {
        self.idle.for_each(|i| self.recheck(i));
    }

    /// Has one idle worker recheck (see [`Runtime::recheck`]).
    fn recheck_one_idle(&self) {
        if let Some(i) = self.idle.last() {
            self.recheck(i);
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
            let now = *now.get_or_insert_with(crate::clock::tick_clock);
            fired += timers.fire_due(now);
        }
        fired
    }

    /// Whether an idle worker is blocked in its network poller.
    pub(crate) fn poller_blocked(&self) -> bool {
        self.pollers_blocked.load(Ordering::Relaxed) != 0
    }

    /// Wakes the monitor if it sleeps until a worker needs watching: one
    /// left its idle sleep, or a pooled one asked for a token.
    fn wake_sysmon(&self) {
        if self.sysmon_sleeping.load(Ordering::SeqCst)
            && self.sysmon_sleeping.swap(false, Ordering::SeqCst)
        {
            crate::scheduler::sysmon::hurry();
        }
    }

    /// Moves a worker's `runnext` goroutine that migrates to the global
    /// queue (it would wait for a stuck goroutine, or for a worker without
    /// a token); a pinned one stays, since only that worker's thread may
    /// run it. Returns whether there was one.
    fn runnext_to_injector(&self, shared: &Shared) -> bool {
        let Some(g) = shared.runnext.take_migrating() else {
            return false;
        };
        self.injector.push(g);
        true
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

/// Makes a woken goroutine runnable. A goroutine pinned to another
/// worker goes to that worker's inbox (see "Pinning"); any other to the
/// current worker's `runnext`, or from a plain thread the global queue.
///
/// # Safety
/// The caller owns `g` through the park protocol (it won the wake).
#[inline]
pub(crate) fn ready(g: Runnable) {
    crate::trace::wakes(&g);
    let w = current_worker();
    // SAFETY: the caller owns `g`.
    let pin = unsafe { g.pinned_to() };
    if !w.is_null() {
        // SAFETY: WORKER points at the live Worker of this thread.
        let w = unsafe { &*w };
        if pin.is_none() || pin == Some(w.index) {
            return w.make_runnext(g);
        }
        WorkerStats::bump(&w.shared.stats.remote_wakes);
    }
    match pin {
        Some(home) => runtime().send_home(home, g),
        None => ready_from_thread(g),
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
    crate::trace::wakes(&g);
    let w = current_worker();
    let rt = runtime();
    if w.is_null() {
        rt.injector.push(g);
    } else {
        // SAFETY: WORKER points at the live Worker of this thread.
        let w = unsafe { &*w };
        if crate::testing::seed::seeded_coin() == Some(true) {
            // Seeded: this time the new goroutine runs before those queued.
            w.make_runnext(g);
        } else if let Some(target) = w.spread_target() {
            // A connection's goroutine: it starts on the next worker in
            // turn, which its inbox wakes.
            rt.send_home(target, g);
            w.free_one_returned();
            return;
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
        if !w.holds_backlog() && !migration_enabled() {
            // No thief may take it yet (see `steal::backlog_aged`): a
            // worker woken now would only spin, and take a CPU from this
            // one. If this goroutine keeps its thread, the monitor wakes
            // one. (Under the opt-in, thieves take goroutines on sight.)
            return;
        }
    }
    rt.notify_work();
}

/// A goroutine of this worker accepted a connection: the next goroutine
/// spawned here (the connection's, as a rule) starts on another worker in
/// turn. Goroutines stay on the thread they start on, and a server's
/// connections, which talk to their sockets rather than to each other,
/// would otherwise all start where the accept loop runs: a thief takes
/// fresh goroutines only from a backlog, and an accept loop spawns them one
/// at a time, each started at once. A no-op off a worker.
pub(crate) fn spread_next_spawn() {
    let w = current_worker();
    if !w.is_null() {
        // SAFETY: WORKER points at the live Worker of this thread.
        unsafe { &*w }.spread_next.set(true);
    }
}

/// Stops the program that needs more than `limit` threads, in Go's words:
/// a program with this many threads is broken.
pub(crate) fn thread_exhaustion(limit: usize) -> ! {
    eprintln!("runtime: program exceeds {limit}-thread limit\nfatal error: thread exhaustion");
    std::process::abort();
}

/// The most threads the runtime may run (`set_max_threads`).
pub(crate) fn max_threads() -> usize {
    runtime().max_threads.load(Ordering::Relaxed)
}

/// Whether one more helper thread for blocking calls, with `helpers`
/// alive already, keeps the runtime's threads within `set_max_threads`.
pub(crate) fn helper_allowed(helpers: usize) -> bool {
    let rt = runtime();
    rt.threads.load(Ordering::Relaxed) + helpers < rt.max_threads.load(Ordering::Relaxed)
}

/// A preemption point: if the monitor asked the running goroutine's worker
/// to let the goroutines pinned there run (see `sysmon`), yield. Called
/// where a goroutine may loop without ever parking: a `select!` that
/// completes (or takes its `default`) without waiting. Goroutines are not
/// preempted otherwise, and a pinned goroutine cannot move to another
/// thread, so without it a self-feeding select loop would starve them.
#[inline]
pub(crate) fn preempt_point() {
    let w = current_worker();
    if w.is_null() {
        return;
    }
    // SAFETY: WORKER points at the live Worker of this thread.
    let shared = unsafe { (*w).shared };
    if shared.preempt.load(Ordering::Relaxed) {
        shared.preempt.store(false, Ordering::Relaxed);
        crate::goroutine::yield_now();
    }
}

/// Go's full model for every goroutine spawned from now on (see
/// [`enable_migration`]). Relaxed: read at spawn; the call that sets it
/// happens before the spawns it governs.
static MIGRATION: AtomicBool = AtomicBool::new(false);

/// Whether [`enable_migration`] was called.
#[inline]
pub(crate) fn migration_enabled() -> bool {
    MIGRATION.load(Ordering::Relaxed)
}

/// Lets every goroutine spawned from now on resume on any worker thread
/// after a park, as in Go (see [`Builder::migratory`](crate::Builder::migratory)
/// for one goroutine): wakes stay on the waker's thread, idle workers
/// steal at once, and the program runs as it would under Go's scheduler.
/// `#[goro::main(unsafe(migrate))]` calls it first thing.
///
/// # Safety
/// From then on, no goroutine may hold anything bound to its OS thread
/// across a park (a channel operation, a lock, `sleep`, `yield_now`,
/// `join`, a socket wait, `blocking`): no `thread_local!` borrow, no
/// `!Send` value taken from a thread-local (an `Rc` from one,
/// `rand::thread_rng()`), no `std::sync::MutexGuard`, no guard of another
/// runtime's context; nor may any code they call. Goroutines spawned
/// before the call keep the thread they started on.
///
/// ```
/// // SAFETY: this program holds nothing thread-bound across a park.
/// unsafe { goro::enable_migration() };
/// let h = goro::spawn(|| {
///     goro::yield_now();
///     2
/// });
/// assert_eq!(h.join().unwrap(), 2);
/// ```
pub unsafe fn enable_migration() {
    MIGRATION.store(true, Ordering::Relaxed);
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
    let n = crate::gomaxprocs::clamp_requested(n);
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
    crate::mmap::trim_heap();
}
