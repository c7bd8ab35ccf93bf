//! Seeing inside: the goroutine registry, wait reasons, [`dump`], and the
//! deadlock detector.
//!
//! # Registry
//! Every goroutine that has started running and not finished is on an
//! intrusive doubly-linked list, one list per worker (plus one shared by
//! plain threads and the worker slots past `MAX_PROCS`), each behind its
//! own spin lock. The worker that first runs a goroutine links it on its
//! own list, and the goroutine unlinks itself as it finishes (a goroutine
//! parked forever is unlinked when its `G` is freed), so a `G` on a list is
//! always alive, and records which list it is on. Linking and unlinking
//! are a few stores under a lock whose release is a plain store; the lock
//! is another worker's only for a goroutine that finishes on another worker
//! than it started on.
//!
//! A goroutine not started yet is on no list: [`dump`] leaves it out (the
//! `SIGQUIT` dump counts it). Linking at spawn, as this registry once did,
//! put the list's lock and the stores into the spawner's record on the
//! spawning path, where they waited for the cache lines of the recycled
//! record that the other worker had written last; the worker that starts
//! the goroutine has those lines already, and at GOMAXPROCS=2 time to
//! spare (spawning a million goroutines took a tenth less time).
//!
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

/// The links of a goroutine on its registry list, as thin addresses (one
/// word each keeps the record small; `G::links_at` finds a neighbour's
/// links, `G::from_thin` the neighbour); guarded by that list's lock.
/// Whether the goroutine is listed at all is its own flag (`G::listed`),
/// and which list follows from its home worker.
pub(crate) struct Links {
    prev: *const u8,
    next: *const u8,
}

impl Links {
    /// Links of a goroutine not on any list yet.
    pub(crate) fn new() -> Links {
        Links {
            prev: std::ptr::null(),
            next: std::ptr::null(),
        }
    }
}

/// One worker's list: its head, behind a spin lock (a register or an
/// unregister is a few stores; a lock word and a plain-store unlock keep
/// them cheap on the spawn path).
struct List {
    lock: SpinLock,
    /// The first goroutine's thin address, or null.
    head: UnsafeCell<*const u8>,
}

// SAFETY: `head` and the links it leads to are only touched under `lock`,
// and every G on a list is alive (see the module note).
unsafe impl Sync for List {}
// SAFETY: as above; the pointers are not tied to a thread.
unsafe impl Send for List {}

impl List {
    /// Runs `f` on the list's head under its lock.
    fn with<R>(&self, f: impl FnOnce(&mut *const u8) -> R) -> R {
        self.lock.lock();
        // SAFETY: we hold the lock.
        let result = f(unsafe { &mut *self.head.get() });
        self.lock.unlock();
        result
    }
}

fn lists() -> &'static [CachePadded<List>] {
    static LISTS: std::sync::OnceLock<Box<[CachePadded<List>]>> = std::sync::OnceLock::new();
    LISTS.get_or_init(|| {
        (0..=MAX_PROCS)
            .map(|_| {
                CachePadded::new(List {
                    lock: SpinLock::new(),
                    head: UnsafeCell::new(std::ptr::null()),
                })
            })
            .collect()
    })
}

/// `G::registry_list` of a goroutine on no list.
pub(crate) const UNLISTED: u32 = u32::MAX;

/// Puts a goroutine that starts running on list `shard`: the running
/// worker's (`scheduler::shard_of` its slot).
///
/// # Safety
/// The caller owns `g` (runs it), which is on no list.
pub(crate) unsafe fn register(g: &G, shard: usize) {
    lists()[shard].with(|head| {
        // SAFETY: `g` is on no list, so nobody else touches its links, and
        // its owner is us; the old head is alive and its links are ours
        // under the lock.
        unsafe {
            let links = &mut *g.links();
            links.prev = std::ptr::null();
            links.next = *head;
            if !head.is_null() {
                (*G::links_at(*head)).prev = g.thin();
            }
            // Shards number at most `MAX_PROCS + 1`.
            g.set_registry_list(shard as u32);
        }
        *head = g.thin();
    });
}

/// Takes a goroutine off its list (idempotent).
///
/// # Safety
/// The caller owns `g`: it is the goroutine itself finishing, or the
/// thread freeing its record.
pub(crate) unsafe fn unregister<E: ?Sized + crate::goroutine::Entry>(g: &G<E>) {
    // SAFETY: by the contract, the field is ours; the worker that listed
    // the goroutine owned it then, and ownership passed on since with a
    // happens-before edge (a run queue, a park, the record's last
    // reference).
    let list = unsafe { g.registry_list() };
    if list == UNLISTED {
        return;
    }
    lists()[list as usize].with(|head| {
        // SAFETY: under the list's lock; neighbours are alive while listed.
        unsafe {
            let links = &mut *g.links();
            if links.prev.is_null() {
                *head = links.next;
            } else {
                (*G::links_at(links.prev)).next = links.next;
            }
            if !links.next.is_null() {
                (*G::links_at(links.next)).prev = links.prev;
            }
            g.set_registry_list(UNLISTED);
        }
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

/// Every goroutine that has started running and not finished: its id,
/// name, state, how long it has waited and where it was spawned, as Go's
/// goroutine dump shows them. Goroutines spawned but not started yet (in
/// a run queue) are left out; [`num_goroutine`](crate::num_goroutine)
/// counts them too.
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
    for list in lists() {
        list.with(|head| {
            let mut g = *head;
            while !g.is_null() {
                // SAFETY: listed goroutines are alive while we hold the lock.
                let r = unsafe { G::from_thin(g) };
                if !r.finished() {
                    all.push(info(r, now));
                }
                // SAFETY: as above.
                g = unsafe { (*r.links()).next };
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
    /// Times the monitor took a worker's token from a goroutine stuck in a
    /// blocking call or in one long run, so that the worker's other
    /// goroutines run on another thread (Go's `retake`).
    pub retakes: u64,
    /// The kind of guard page under every stack: `"region"` (Linux 6.13's
    /// guard regions), `"userfault"` (`userfaultfd` write protection, from
    /// 5.11) or `"mprotect"` (two memory mappings a stack, so
    /// `vm.max_map_count` limits live goroutines); empty until the first
    /// stack is guarded. `GORO_GUARDS` can force the lesser kinds.
    pub stack_guards: &'static str,
}

/// The runtime's counters: goroutines spawned, live and parked, context
/// switches, parks, steals, stack memory, threads and retakes.
///
/// ```
/// goro::spawn(|| ()).join().unwrap();
/// let m = goro::metrics();
/// assert!(m.goroutines_spawned >= 1 && m.context_switches >= 1);
/// assert!(["region", "userfault", "mprotect"].contains(&m.stack_guards));
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
        retakes: rt.retakes(),
        stack_guards: crate::sys::guard_kind_decided().map_or("", crate::sys::GuardKind::name),
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
