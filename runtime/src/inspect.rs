//! Seeing inside: [`dump`], [`metrics`], `GODEBUG=schedtrace` and the
//! deadlock detector. The goroutines come from the registry (`registry`).
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
//! lists every goroutine with its wait reason, stack and spawn site, and
//! the process exits with status 2, as Go's does.
//!
//! # Stacks
//! [`dump`] takes each parked goroutine's stack (see `traceback`) and the
//! caller's own; a goroutine running on another thread shows none, as in
//! Go. The report of many goroutines ([`GROUP_ABOVE`] and up: `SIGQUIT`,
//! the deadlock report) groups those with the same stack, state and name
//! and prints each group once with its count ([`dump_grouped`], Go's
//! `debug=1` form).
//! The walk runs on a helper thread and holds each registry list's lock
//! while it unwinds that list's goroutines (a few microseconds each), so
//! goroutines starting or finishing on that worker wait meanwhile: a
//! pause of about a second a million goroutines, where Go's dump stops
//! the world.

use crate::goroutine::G;
use crate::park::WaitReason;
use crate::scheduler::{self, Runtime};
use crate::traceback::{Stack, StackFrame, Tracer};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    /// Where it called the blocking operation it waits in (the `recv`,
    /// `lock`, `select!`, ...), if it is waiting.
    pub blocked_at: Option<&'static Location<'static>>,
    /// Its stack, innermost frame first, goro's own frames left out, down
    /// to the body it was spawned with: taken when it is parked, or when
    /// it is the goroutine calling [`dump`]; empty for one running on
    /// another thread or runnable in a run queue (its state is `running`
    /// either way), and when the program's unwind tables are missing.
    /// Goroutines with the same stack share one.
    pub stack: Arc<[StackFrame]>,
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
        write!(f, "]:")?;
        for frame in self.stack.iter() {
            write!(f, "\n{frame}")?;
        }
        match (self.stack.is_empty(), self.waiting_for) {
            (true, None) => write!(
                f,
                "\n\tgoroutine running on other thread; stack unavailable"
            )?,
            (true, Some(_)) => write!(f, "\n\tstack unavailable")?,
            _ => {}
        }
        if let Some(at) = self.blocked_at {
            write!(f, "\n\tblocked at {at}")?;
        }
        write!(f, "\n\tspawned at {}", self.spawned_at)
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
            blocked_at: waited.map(|_| Location::caller()),
            stack: Arc::new([StackFrame {
                function: "app::worker".into(),
                file: Some("src/app.rs".into()),
                line: Some(7),
                pc: 0x10,
            }]),
        }
    }

    #[test]
    fn the_stack_follows_the_header() {
        let text = info(Some(Duration::from_millis(5))).to_string();
        assert!(
            text.contains("5 ms]:\napp::worker\n\tsrc/app.rs:7\n\tblocked at"),
            "{text}"
        );
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
}

fn human(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{} ms", d.as_millis()),
        s if s < 120 => format!("{s} s"),
        s => format!("{} minutes", s / 60),
    }
}

/// Every goroutine that has started running and not finished: its id,
/// name, state, how long it has waited, where it blocked, its stack and
/// where it was spawned, as Go's goroutine dump shows them. Goroutines
/// spawned but not started yet (in a run queue) are left out;
/// [`num_goroutine`](crate::num_goroutine) counts them too. Taking the
/// stacks costs a few microseconds a goroutine, on a helper thread (see
/// docs/performance.md).
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
    let mut tracer = Tracer::new();
    let caller = crate::current_id().map(|id| (id, tracer.take_own()));
    // Walking a million goroutines takes seconds, and symbolizing first
    // reads the program's DWARF: on a helper thread, not on the caller's
    // worker and stack. The caller's stack was taken above, on its own.
    crate::blocking(move || snapshot(tracer, caller))
}

/// Every listed goroutine with its stack; `caller` is the goroutine that
/// called [`dump`] (it is shown running, with its own stack).
fn snapshot(
    mut tracer: Tracer,
    caller: Option<(crate::GoroutineId, Option<usize>)>,
) -> Vec<GoroutineInfo> {
    let now = crate::clock::now_nanos();
    let none: Stack = Arc::new([]);
    let mut all = Vec::new();
    let mut taken = Vec::new();
    for g in crate::registry::listed() {
        let mut info = info(&g, now, none.clone());
        taken.push(match caller {
            Some((id, own)) if id == info.id => {
                info.state = WaitReason::Running.as_str();
                (info.waiting_for, info.blocked_at) = (None, None);
                own
            }
            _ => tracer.take(&g),
        });
        all.push(info);
    }
    let stacks = tracer.stacks();
    for (info, taken) in all.iter_mut().zip(taken) {
        if let Some(i) = taken {
            info.stack = stacks[i].clone();
        }
    }
    all.sort_by_key(|g| g.id);
    all
}

/// A snapshot of `g`, with `stack` until its own is taken.
fn info(g: &G, now: u64, stack: Stack) -> GoroutineInfo {
    let (reason, since) = g.wait_state();
    let waiting = reason != WaitReason::Running;
    GoroutineInfo {
        id: crate::GoroutineId::from_raw(g.id()),
        name: g.name().map(str::to_string),
        state: reason.as_str(),
        waiting_for: waiting.then(|| Duration::from_nanos(now.saturating_sub(since))),
        spawned_at: g.spawned_at(),
        blocked_at: g.blocked_at().filter(|_| waiting),
        stack,
    }
}

/// Goroutines with the same stack, state and name, from [`groups`].
pub(crate) struct Group<'a> {
    pub(crate) count: usize,
    pub(crate) state: &'static str,
    pub(crate) name: Option<&'a str>,
    pub(crate) stack: &'a [StackFrame],
}

/// `all` grouped by stack, state and name, the largest group first.
pub(crate) fn groups(all: &[GoroutineInfo]) -> Vec<Group<'_>> {
    let mut by_key: HashMap<(*const StackFrame, &str, Option<&str>), Group<'_>> = HashMap::new();
    for g in all {
        let key = (g.stack.as_ptr(), g.state, g.name.as_deref());
        by_key
            .entry(key)
            .or_insert(Group {
                count: 0,
                state: g.state,
                name: g.name.as_deref(),
                stack: &g.stack,
            })
            .count += 1;
    }
    let mut groups: Vec<Group<'_>> = by_key.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.state.cmp(b.state)));
    groups
}

/// The goroutines, grouped by stack, state and name, each group once with
/// its count, in the form of Go's goroutine profile at `debug=1`:
///
/// ```text
/// goroutine profile: total 1000001
/// 1000000 @ 0x55d0c2a1b2c3 0x55d0c2a1b0f1
/// # labels: {"state":"chan receive"}
/// #    0x55d0c2a1b2c3    app::handle    src/app.rs:12
/// #    0x55d0c2a1b0f1    app::serve    src/app.rs:30
/// ```
///
/// ```
/// let (tx, rx) = goro::chan::bounded::<()>(0);
/// let waiters: Vec<_> = (0..3).map(|_| { let rx = rx.clone(); goro::go!(move || rx.recv()) }).collect();
/// while goro::dump().iter().filter(|g| g.state == "chan receive").count() < 3 {
///     goro::yield_now();
/// }
/// assert!(goro::dump_grouped().contains("\n3 @ "));
/// drop(tx);
/// waiters.into_iter().for_each(|h| { h.join().unwrap().unwrap_err(); });
/// ```
pub fn dump_grouped() -> String {
    let all = dump();
    let mut out = format!("goroutine profile: total {}\n", all.len());
    for group in groups(&all) {
        write_group(&mut out, &group);
    }
    out
}

fn write_group(out: &mut String, group: &Group<'_>) {
    let mut pcs: Vec<usize> = group.stack.iter().map(|f| f.pc).collect();
    pcs.dedup();
    let _ = write!(out, "{} @", group.count);
    for pc in pcs {
        let _ = write!(out, " {pc:#x}");
    }
    let _ = write!(out, "\n# labels: {{");
    if let Some(name) = group.name {
        let _ = write!(out, "\"name\":{name:?}, ");
    }
    let _ = writeln!(out, "\"state\":{:?}}}", group.state);
    for frame in group.stack {
        let _ = write!(out, "#\t{:#x}\t{}", frame.pc, frame.function);
        if let (Some(file), Some(line)) = (&frame.file, frame.line) {
            let _ = write!(out, "\t{file}:{line}");
        }
        out.push('\n');
    }
    out.push('\n');
}

/// Above this many goroutines, reports group them ([`dump_grouped`]).
pub(crate) const GROUP_ABOVE: usize = 64;

/// The goroutines as `SIGQUIT` and the deadlock report print them: each
/// one, or grouped when there are many. Returns how many were listed.
pub(crate) fn report(out: &mut String) -> usize {
    let listed = dump();
    if listed.len() > GROUP_ABOVE {
        out.push('\n');
        for group in groups(&listed) {
            write_group(out, &group);
        }
    } else {
        for g in &listed {
            let _ = write!(out, "\n{g}\n");
        }
    }
    listed.len()
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
    /// Times a worker readied a started goroutine whose home is another
    /// worker's thread (a channel send, an unlock, a socket's event): the
    /// wake crosses threads, and wakes that thread if it sleeps. Goroutines
    /// that talk to each other mostly share a thread, so this stays a small
    /// share of [`parks`](Self::parks).
    pub remote_wakes: u64,
    /// Stack slots ever handed out (the most that were in use at once).
    pub stacks_allocated: usize,
    /// Stacks kept for reuse (worker caches and the free list).
    pub stacks_cached: usize,
    /// Bytes of default-size stacks committed (resident) now.
    pub stack_bytes_committed: usize,
    /// OS threads that run goroutines: GOMAXPROCS workers, plus those left
    /// in blocking calls or long runs and those waiting to be reused.
    pub worker_threads: usize,
    /// Helper threads alive for `goro::blocking` calls (busy or waiting
    /// for the next call).
    pub blocking_threads: usize,
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
    let [goroutines_spawned, context_switches, parks, steals, remote_wakes] = rt.totals();
    let (stacks_allocated, free, stack_bytes_committed) = crate::stack::arena_stats();
    let mut goroutines_parked = 0;
    crate::registry::for_each(|g| {
        let waiting = g.wait_state().0 != WaitReason::Running;
        goroutines_parked += usize::from(waiting && !g.finished());
    });
    Metrics {
        goroutines_spawned,
        goroutines_live: rt.live_goroutines(),
        goroutines_parked,
        context_switches,
        parks,
        steals,
        remote_wakes,
        stacks_allocated,
        stacks_cached: free + rt.cached_stacks(),
        stack_bytes_committed,
        worker_threads: rt.worker_threads(),
        blocking_threads: crate::blocking::helper_threads(),
        retakes: rt.retakes(),
        stack_guards: crate::mmap::guard_kind_decided().map_or("", crate::mmap::GuardKind::name),
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
    report(&mut out);
    eprint!("{out}");
    std::process::exit(2);
}
