//! Seeing inside: the goroutine registry, wait reasons, [`dump`], and the
//! deadlock detector.
//!
//! # Registry
//! Every goroutine is in a table, one per worker (plus one for plain
//! threads), each behind its own spin lock: a goroutine is listed at
//! spawn, in the spawner's table, and taken out when its `G` is freed, so a
//! `G` in a table is always alive. A finished one stays listed until then
//! and [`dump`] skips it. Taking it out at free rather than at finish keeps
//! it on the spawner's thread: a finished goroutine's memory goes back to
//! the worker that allocated it (see `scheduler`), which frees it there, so
//! the table and its lock stay in that worker's cache instead of bouncing
//! to whichever worker ran the goroutine. A table is a vector of slots with
//! a free list through the free ones, and a goroutine records its slot's
//! index: listing and unlisting touch the table and the goroutine itself,
//! never another goroutine (an intrusive list wrote into its neighbour,
//! the goroutine spawned just before, which another worker was usually
//! running by then: a cache line taken from that worker per spawn, a fifth
//! of the spawning loop's time at GOMAXPROCS 2). A table mostly free
//! after a burst of goroutines has finished is compacted, so its memory
//! goes back too: 8 bytes a slot, where Go keeps every `g` it ever made.

//! # Wait reasons
//! A goroutine records why it parks (`chan receive`, `sync.Mutex.Lock`, ...)
//! and when, from a coarse clock the workers refresh as they schedule (one
//! relaxed load on the park path, not a clock read).
//!
//! # Deadlock
//! Go's rule, made safe for a library: when the last active worker goes
//! idle, no timer is pending, no goroutine waits for a socket, and every OS
//! thread of the process other than the workers is blocked *indefinitely*
//! in a goro primitive (so nothing outside goro can ever wake anything),
//! nothing can ever run again. The
//! detector checks twice, 20 ms apart, and only reports if no thread
//! parked or was woken in between (an epoch counter), so a wakeup in flight
//! is never mistaken for a deadlock. A program that is merely slow, or waits
//! on a timer or on a thread doing other work, is left alone. The report
//! lists every goroutine with its wait reason and spawn site, and the
//! process exits with status 2, as Go's does.

use crate::goroutine::G;
use crate::scheduler::{self, Runtime, MAX_PROCS};
use crate::spin::SpinLock;
use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Why a goroutine (or thread) is parked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum WaitReason {
    /// Not parked.
    Running = 0,
    /// `Receiver::recv` and friends.
    ChanReceive,
    /// `Sender::send` and friends.
    ChanSend,
    /// `select!` / `Select`.
    Select,
    /// `sleep`.
    Sleep,
    /// `JoinHandle::join`.
    Join,
    /// `WaitGroup::wait`.
    WaitGroup,
    /// `Mutex::lock`, `RwLock` writers.
    Mutex,
    /// `RwLock` readers.
    RwLock,
    /// `RwLock` writers.
    RwLockWrite,
    /// `Cond::wait`.
    Cond,
    /// `Semaphore::acquire`.
    Semaphore,
    /// `Once::call_once` waiting for another caller.
    Once,
    /// `Barrier::wait`.
    Barrier,
    /// A socket call waiting for the netpoller.
    IoWait,
}

impl WaitReason {
    /// Go's name for the state.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::Running => "running",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::Join => "join",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::Mutex => "sync.Mutex.Lock",
            WaitReason::RwLock => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::Cond => "sync.Cond.Wait",
            WaitReason::Semaphore => "semaphore.Acquire",
            WaitReason::Once => "sync.Once.Do",
            WaitReason::Barrier => "sync.Barrier.Wait",
            WaitReason::IoWait => "IO wait",
        }
    }

    pub(crate) fn from_u8(v: u8) -> WaitReason {
        const ALL: [WaitReason; 15] = [
            WaitReason::Running,
            WaitReason::ChanReceive,
            WaitReason::ChanSend,
            WaitReason::Select,
            WaitReason::Sleep,
            WaitReason::Join,
            WaitReason::WaitGroup,
            WaitReason::Mutex,
            WaitReason::RwLock,
            WaitReason::RwLockWrite,
            WaitReason::Cond,
            WaitReason::Semaphore,
            WaitReason::Once,
            WaitReason::Barrier,
            WaitReason::IoWait,
        ];
        ALL.get(usize::from(v))
            .copied()
            .unwrap_or(WaitReason::Running)
    }
}

/// A coarse clock (nanoseconds since the timer epoch), refreshed by the
/// workers as they schedule; good to a few milliseconds.
static COARSE_NOW: AtomicU64 = AtomicU64::new(0);

/// Refreshes the coarse clock; returns the precise time.
pub(crate) fn tick_clock() -> u64 {
    let now = crate::timer::now_nanos();
    COARSE_NOW.store(now, Ordering::Relaxed);
    now
}

/// The coarse time, for stamping parks.
#[inline]
pub(crate) fn coarse_now() -> u64 {
    COARSE_NOW.load(Ordering::Relaxed)
}

/// A goroutine's place in the registry: which table, and which slot of
/// it; guarded by that table's lock.
pub(crate) struct RegistrySlot {
    /// Which table, or `UNLISTED`.
    shard: usize,
    index: usize,
}

const UNLISTED: usize = usize::MAX;

impl RegistrySlot {
    /// The place of a goroutine not in any table yet.
    pub(crate) fn new() -> RegistrySlot {
        RegistrySlot {
            shard: UNLISTED,
            index: 0,
        }
    }
}

/// One worker's table of goroutines: a slot per goroutine holding its thin
/// address ([`G::thin`], even), or, when free, the next free slot's index
/// shifted left and tagged with a set low bit (a free list through the
/// table, last freed first).
struct Table {
    slots: Vec<usize>,
    /// The first free slot, or `NO_FREE`.
    free: usize,
    live: usize,
}

/// The end of a table's free list.
const NO_FREE: usize = usize::MAX >> 1;

/// A table shrinks when its live goroutines fill less than a quarter of at
/// least this many slots.
const COMPACT_MIN: usize = 1024;

impl Table {
    const fn new() -> Table {
        Table {
            slots: Vec::new(),
            free: NO_FREE,
            live: 0,
        }
    }

    /// Stores `thin` (even) in a free slot; returns its index.
    fn insert(&mut self, thin: usize) -> usize {
        debug_assert_eq!(thin & 1, 0, "an address, not a free link");
        self.live += 1;
        if self.free == NO_FREE {
            self.slots.push(thin);
            return self.slots.len() - 1;
        }
        let index = self.free;
        self.free = self.slots[index] >> 1;
        self.slots[index] = thin;
        index
    }

    /// Frees slot `index`, which holds a goroutine.
    fn remove(&mut self, index: usize) {
        debug_assert_eq!(self.slots[index] & 1, 0, "a listed slot");
        self.slots[index] = (self.free << 1) | 1;
        self.free = index;
        self.live -= 1;
    }

    /// The goroutines listed, by thin address.
    fn goroutines(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().copied().filter(|&slot| slot & 1 == 0)
    }

    /// Gives back the memory of a table mostly free (after a burst of
    /// goroutines has finished): the live ones move to the front, and
    /// `moved(thin, index)` tells each its new index.
    fn compact_if_sparse(&mut self, mut moved: impl FnMut(usize, usize)) {
        if self.slots.len() < COMPACT_MIN || self.live * 4 >= self.slots.len() {
            return;
        }
        let mut live: Vec<usize> = self.goroutines().collect();
        live.shrink_to_fit();
        for (index, &thin) in live.iter().enumerate() {
            moved(thin, index);
        }
        self.slots = live;
        self.free = NO_FREE;
    }
}

/// One worker's table behind a spin lock (a register or an unregister is a
/// few stores; a lock word and a plain-store unlock keep them cheap on the
/// spawn path).
struct Registry {
    lock: SpinLock,
    table: UnsafeCell<Table>,
}

// SAFETY: `table`, and the registry slots of the goroutines it lists, are
// only touched under `lock`; every listed G is alive (see the module note).
unsafe impl Sync for Registry {}
// SAFETY: as above; the addresses are not tied to a thread.
unsafe impl Send for Registry {}

impl Registry {
    /// Runs `f` on the table under its lock.
    fn with<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        self.lock.lock();
        // SAFETY: we hold the lock.
        let result = f(unsafe { &mut *self.table.get() });
        self.lock.unlock();
        result
    }
}

fn registries() -> &'static [CachePadded<Registry>] {
    static REGISTRIES: std::sync::OnceLock<Box<[CachePadded<Registry>]>> =
        std::sync::OnceLock::new();
    REGISTRIES.get_or_init(|| {
        (0..=MAX_PROCS)
            .map(|_| {
                CachePadded::new(Registry {
                    lock: SpinLock::new(),
                    table: UnsafeCell::new(Table::new()),
                })
            })
            .collect()
    })
}

/// Lists a new goroutine in table `shard`: the spawning worker's (or
/// `MAX_PROCS`, a plain thread's).
pub(crate) fn register(g: &G, shard: usize) {
    registries()[shard].with(|table| {
        let index = table.insert(g.thin() as usize);
        // SAFETY: `g` is not listed yet, so nobody else touches its slot.
        unsafe { *g.registry_slot() = RegistrySlot { shard, index } };
    });
}

/// Takes a goroutine out of its table (idempotent).
pub(crate) fn unregister<E: ?Sized + crate::goroutine::Entry>(g: &G<E>) {
    // SAFETY: `shard` is written once, at register, which happens-before
    // this (spawn happens-before the goroutine runs or is dropped).
    let shard = unsafe { (*g.registry_slot()).shard };
    if shard == UNLISTED {
        return;
    }
    registries()[shard].with(|table| {
        // SAFETY: under the table's lock, which guards the slot's index.
        let slot = unsafe { &mut *g.registry_slot() };
        table.remove(slot.index);
        slot.shard = UNLISTED;
        table.compact_if_sparse(|thin, index| {
            // SAFETY: listed goroutines are alive, and their registry slots
            // are ours under the table's lock.
            unsafe { (*G::from_thin(thin as *const u8).registry_slot()).index = index };
        });
    });
}

/// A snapshot of one goroutine, from [`dump`].
#[derive(Clone, Debug)]
pub struct GoroutineInfo {
    /// Its id.
    pub id: crate::GoroutineId,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// What it is doing: `running` (or runnable), or what it waits on, in
    /// Go's words (`chan receive`, `select`, `sync.Mutex.Lock`, ...).
    pub state: &'static str,
    /// How long it has waited, if it is waiting (to a few milliseconds).
    pub waiting_for: Option<Duration>,
    /// Where it was spawned (the `go!` or `spawn` call).
    pub spawned_at: &'static Location<'static>,
}

impl fmt::Display for GoroutineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "goroutine {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " '{name}'")?;
        }
        write!(f, " [{}", self.state)?;
        if let Some(d) = self.waiting_for {
            write!(f, ", {}", human(d))?;
        }
        if self
            .waiting_for
            .is_some_and(|d| d >= Duration::from_secs(60))
        {
            write!(f, ", long wait")?;
        }
        write!(f, "]:\n\tspawned at {}", self.spawned_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(waited: Option<Duration>) -> GoroutineInfo {
        GoroutineInfo {
            id: crate::GoroutineId::from_raw(7),
            name: Some("w".into()),
            state: WaitReason::ChanReceive.as_str(),
            waiting_for: waited,
            spawned_at: Location::caller(),
        }
    }

    /// A table's entries for fake goroutines, and where each thinks it is.
    struct Listed {
        table: Table,
        index_of: std::collections::HashMap<usize, usize>,
    }

    impl Listed {
        fn new() -> Listed {
            Listed {
                table: Table::new(),
                index_of: Default::default(),
            }
        }

        fn insert(&mut self, thin: usize) {
            let index = self.table.insert(thin);
            self.index_of.insert(thin, index);
        }

        fn remove(&mut self, thin: usize) {
            let index = self.index_of.remove(&thin).expect("listed");
            self.table.remove(index);
            let index_of = &mut self.index_of;
            self.table
                .compact_if_sparse(|thin, index| *index_of.get_mut(&thin).expect("listed") = index);
        }

        /// Every goroutine listed once, each at the index it was told.
        fn check(&self) {
            let mut listed: Vec<usize> = self.table.goroutines().collect();
            listed.sort_unstable();
            let mut expected: Vec<usize> = self.index_of.keys().copied().collect();
            expected.sort_unstable();
            assert_eq!(listed, expected);
            for (&thin, &index) in &self.index_of {
                assert_eq!(self.table.slots[index], thin, "recorded index of {thin:#x}");
            }
            assert_eq!(self.table.live, self.index_of.len());
        }
    }

    #[test]
    fn a_table_reuses_the_slots_it_freed() {
        let mut t = Listed::new();
        (1..=8).for_each(|i| t.insert(i * 16));
        t.remove(3 * 16);
        t.remove(5 * 16);
        t.insert(100 * 16);
        t.insert(101 * 16);
        t.check();
        assert_eq!(t.table.slots.len(), 8, "both freed slots reused");
        assert_eq!(
            t.index_of[&(100 * 16)],
            4,
            "the slot freed last, 5 * 16's, first"
        );
    }

    /// After a burst, the survivors move to the front with their recorded
    /// indices, and the table's memory goes back; what is listed after
    /// stays exact through more churn.
    #[test]
    fn a_sparse_table_is_compacted_and_stays_exact() {
        let mut t = Listed::new();
        let n = 10_000;
        (1..=n).for_each(|i| t.insert(i * 16));
        let survivors: Vec<usize> = (1..=n).filter(|i| i % 997 == 0).map(|i| i * 16).collect();
        for i in (1..=n).map(|i| i * 16) {
            if !survivors.contains(&i) {
                t.remove(i);
            }
        }
        t.check();
        assert!(
            t.table.slots.len() < COMPACT_MIN,
            "compacted: {}",
            t.table.slots.len()
        );
        assert!(t.table.slots.capacity() < COMPACT_MIN, "memory given back");
        (n + 1..=n + 3000).for_each(|i| t.insert(i * 16));
        for &s in &survivors {
            t.remove(s);
        }
        (n + 1..=n + 2990).for_each(|i| t.remove(i * 16));
        t.check();
        assert_eq!(t.index_of.len(), 10);
    }

    #[test]
    fn a_wait_over_a_minute_is_marked_as_go_does() {
        let long = info(Some(Duration::from_secs(90))).to_string();
        assert!(
            long.starts_with("goroutine 7 'w' [chan receive, 90 s, long wait]:"),
            "{long}"
        );
        let short = info(Some(Duration::from_millis(5))).to_string();
        assert!(
            short.starts_with("goroutine 7 'w' [chan receive, 5 ms]:"),
            "{short}"
        );
        assert!(!short.contains("long wait"));
    }

    #[test]
    fn every_reason_round_trips_through_its_byte() {
        for v in 0..=14u8 {
            assert_eq!(WaitReason::from_u8(v) as u8, v);
        }
    }
}

fn human(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{} ms", d.as_millis()),
        s if s < 120 => format!("{s} s"),
        s => format!("{} minutes", s / 60),
    }
}

/// Every live goroutine: its id, name, state, how long it has waited and
/// where it was spawned, as Go's goroutine dump shows them.
///
/// ```
/// let (tx, rx) = goro::chan::bounded::<()>(0);
/// let h = goro::Builder::new().name("waiter").spawn(move || rx.recv()).unwrap();
/// while !goro::dump().iter().any(|g| g.state == "chan receive") {
///     goro::yield_now();
/// }
/// let waiter = goro::dump().into_iter().find(|g| g.id == h.id()).unwrap();
/// assert_eq!(waiter.name.as_deref(), Some("waiter"));
/// drop(tx);
/// h.join().unwrap().unwrap_err();
/// ```
pub fn dump() -> Vec<GoroutineInfo> {
    let now = crate::timer::now_nanos();
    let mut all = Vec::new();
    for registry in registries() {
        registry.with(|table| {
            for thin in table.goroutines() {
                // SAFETY: listed goroutines are alive while we hold the lock.
                let g = unsafe { G::from_thin(thin as *const u8) };
                if !g.finished() {
                    all.push(info(g, now));
                }
            }
        });
    }
    all.sort_by_key(|g| g.id);
    all
}

fn info(g: &G, now: u64) -> GoroutineInfo {
    let (reason, since) = g.wait_state();
    GoroutineInfo {
        id: crate::GoroutineId::from_raw(g.id()),
        name: g.name().map(str::to_string),
        state: reason.as_str(),
        waiting_for: (reason != WaitReason::Running)
            .then(|| Duration::from_nanos(now.saturating_sub(since))),
        spawned_at: g.spawned_at(),
    }
}

/// Counters of the runtime, from [`metrics`].
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Goroutines spawned since the start.
    pub goroutines_spawned: u64,
    /// Goroutines alive now.
    pub goroutines_live: usize,
    /// Goroutines parked now (waiting on a goro primitive).
    pub goroutines_parked: usize,
    /// Times a worker switched into a goroutine.
    pub context_switches: u64,
    /// Times a goroutine parked.
    pub parks: u64,
    /// Times a worker stole goroutines from another.
    pub steals: u64,
    /// Stack slots ever handed out (the most that were in use at once).
    pub stacks_allocated: usize,
    /// Stacks kept for reuse (worker caches and the free list).
    pub stacks_cached: usize,
    /// Bytes of default-size stacks committed (resident) now.
    pub stack_bytes_committed: usize,
    /// OS threads that run goroutines: GOMAXPROCS workers, plus those left
    /// in blocking calls or long runs and those waiting to be reused.
    pub worker_threads: usize,
}

/// The runtime's counters: goroutines spawned, live and parked, context
/// switches, parks, steals, and stack memory.
///
/// ```
/// goro::spawn(|| ()).join().unwrap();
/// let m = goro::metrics();
/// assert!(m.goroutines_spawned >= 1 && m.context_switches >= 1);
/// ```
pub fn metrics() -> Metrics {
    let rt = scheduler::runtime();
    let [goroutines_spawned, context_switches, parks, steals] = rt.totals();
    let (stacks_allocated, free, stack_bytes_committed) = crate::stack::arena_stats();
    let goroutines_parked = dump().iter().filter(|g| g.waiting_for.is_some()).count();
    Metrics {
        goroutines_spawned,
        goroutines_live: rt.live_goroutines(),
        goroutines_parked,
        context_switches,
        parks,
        steals,
        stacks_allocated,
        stacks_cached: free + rt.cached_stacks(),
        stack_bytes_committed,
        worker_threads: rt.worker_threads(),
    }
}

/// The period of `GODEBUG=schedtrace=N` (milliseconds), if set.
pub(crate) fn schedtrace_period() -> Option<Duration> {
    let godebug = std::env::var("GODEBUG").ok()?;
    let ms: u64 = godebug
        .split(',')
        .find_map(|kv| kv.strip_prefix("schedtrace="))?
        .parse()
        .ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// Prints a line every `period`, as Go's `GODEBUG=schedtrace` does:
/// `SCHED 1004ms: gomaxprocs=2 idleprocs=2 threads=4 spinningthreads=0
/// goroutines=1 runqueue=0 [0 0]`.
pub(crate) fn run_schedtrace(rt: &'static Runtime, period: Duration) {
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(period);
        let (global, local, idle, spinning) = rt.queue_lengths();
        let local: Vec<String> = local.iter().map(usize::to_string).collect();
        eprintln!(
            "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} goroutines={} runqueue={} [{}]",
            start.elapsed().as_millis(),
            scheduler::gomaxprocs(),
            idle,
            rt.runtime_threads(),
            spinning,
            rt.live_goroutines(),
            global,
            local.join(" ")
        );
    }
}

/// Threads blocked indefinitely in a goro primitive.
static BLOCKED_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Bumped whenever a thread parks in or leaves a goro primitive.
static THREAD_EPOCH: AtomicU64 = AtomicU64::new(0);

/// A thread starts blocking indefinitely in a goro primitive.
pub(crate) fn thread_blocked() {
    BLOCKED_THREADS.fetch_add(1, Ordering::SeqCst);
    THREAD_EPOCH.fetch_add(1, Ordering::SeqCst);
}

/// A thread stops blocking (woken, or about to be).
pub(crate) fn thread_unblocked() {
    BLOCKED_THREADS.fetch_sub(1, Ordering::SeqCst);
    THREAD_EPOCH.fetch_add(1, Ordering::SeqCst);
}

/// Called by the last worker to go idle: reports a deadlock and exits if
/// nothing can ever run again (see the module note).
pub(crate) fn check_deadlock(rt: &Runtime) {
    let epoch = THREAD_EPOCH.load(Ordering::SeqCst);
    if !looks_dead(rt) {
        return;
    }
    std::thread::park_timeout(Duration::from_millis(20));
    if looks_dead(rt) && THREAD_EPOCH.load(Ordering::SeqCst) == epoch {
        report_deadlock();
    }
}

fn looks_dead(rt: &Runtime) -> bool {
    let blocked = BLOCKED_THREADS.load(Ordering::SeqCst);
    blocked > 0 && rt.all_idle() && blocked == other_threads(rt)
}

/// OS threads of this process that are not the runtime's own.
fn other_threads(rt: &Runtime) -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").map_or(usize::MAX, |d| d.count());
    tasks.saturating_sub(rt.runtime_threads())
}

fn report_deadlock() -> ! {
    let mut out = String::from("fatal error: all goroutines are asleep - deadlock!\n");
    for g in dump() {
        out.push('\n');
        out.push_str(&g.to_string());
        out.push('\n');
    }
    eprint!("{out}");
    std::process::exit(2);
}
