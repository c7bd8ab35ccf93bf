//! sysmon: the monitor thread (Go's `sysmon`).
//!
//! Goroutines are not preempted: a goroutine that blocks its thread (an
//! unannotated `std::thread::sleep` or blocking read, a long CPU loop)
//! keeps its worker. The monitor makes sure the rest still run: each round
//! it samples every worker's status word (goroutines run, and what the
//! thread does now). From 50 µs in one goroutine it asks the goroutine to
//! yield at its next preemption point if goroutines pinned to that thread
//! wait; from 200 µs (`STUCK_AFTER`) it marks the worker stuck, so that
//! thieves take the fresh goroutines queued behind it at once, and wakes an
//! idle worker to steal them. At 10 ms, while work starves behind it
//! (nobody stole from its queue or took from the global queue meanwhile,
//! it holds a woken goroutine in `runnext`, or a pooled worker waits for a
//! token), the worker loses its token to a pooled or new thread (see the
//! scheduler's "Tokens"), unless its thread only waits for a CPU
//! (`os_thread`: it ran less than half the time and is runnable, not
//! blocked in the kernel; another thread would wait for the same CPUs).
//! After 50 ms it names the goroutine on stderr, unless the thread is
//! set aside so (`GODEBUG=blockwarn=0` silences it). It also fires timers nobody fired; when goroutines wait
//! for I/O and no idle worker sleeps in its poller (it went to sleep before
//! the netpoller existed), it has one recheck, and so sleep in its poller;
//! it polls a worker's poller that nobody has polled for 10 ms (its worker
//! busy in one goroutine, or without a token); and it gives back the
//! memory of goroutine stacks left free for a while (see `stack`'s "Reuse
//! and release"), all of it before it sleeps. When a worker asks
//! ([`hurry`]), it installs the guard pages of stacks not yet used, ahead of
//! need (see `stack`'s "Layout").
//!
//! # Rhythm
//! As Go's: rounds every 20 µs while it finds something to do, doubling
//! after 50 quiet rounds up to 10 ms. When no worker runs a goroutine it
//! sleeps until one does (`Runtime::wake_sysmon`), so an idle program uses
//! no CPU, and then goes on at the rhythm it had.

use super::worker::Shared;
use super::{Runtime, HANDOFF_DELAY, PHASE_BITS, RUNNING, SCHEDULING, STUCK_AFTER};
use crate::os_thread::{CpuWindow, OsThread};
use crate::stack;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The shortest and longest pause between rounds.
pub(super) const MIN_DELAY: Duration = Duration::from_micros(20);
pub(super) const MAX_DELAY: Duration = Duration::from_millis(10);
/// Quiet rounds before the pause starts doubling.
pub(super) const QUIET_ROUNDS: u32 = 50;
/// How long I/O waiters may go unpolled before the monitor polls.
pub(super) const NETPOLL_NEGLECT: Duration = Duration::from_millis(10);

/// Starts the monitor thread.
pub(crate) fn start(rt: &'static Runtime) {
    let started = std::thread::Builder::new()
        .name("goro-sysmon".into())
        .spawn(move || run(rt));
    if let Err(e) = started {
        // Without it, a stuck goroutine stalls its worker's queue.
        eprintln!("fatal error: goro cannot start its monitor thread: {e}");
        std::process::abort();
    }
}

/// The monitor thread, once it runs.
pub(super) static MONITOR: OnceLock<Thread> = OnceLock::new();

/// Ends the monitor's current pause or sleep early, so that it does now
/// what a worker asked of it. A no-op before the monitor starts.
pub(crate) fn hurry() {
    if let Some(thread) = MONITOR.get() {
        thread.unpark();
    }
}

pub(super) fn run(rt: &'static Runtime) {
    let _ = MONITOR.set(std::thread::current());
    stack::set_guard_helper(hurry);
    let mut samples: Vec<Sample> = Vec::new();
    let mut delay = MIN_DELAY;
    let mut quiet = 0;
    let mut scavenged = Instant::now();
    loop {
        if quiet > QUIET_ROUNDS && rt.no_worker_busy() {
            // An idle program gives its free stacks back before the sleep.
            stack::trim_free_stacks();
            // Keeps its slow rhythm after: a server's workers idle between
            // requests, and each wake should not start a burst of rounds.
            rt.sysmon_sleep();
        }
        std::thread::park_timeout(delay);
        stack::install_wanted_guards();
        crate::trace::sample_counters();
        rt.fire_overdue_timers();
        let rechecked_poller = rt.fill_vacant_poller();
        poll_neglected_network(rt);
        let now = Instant::now();
        if rt.retake(&mut samples, now) > 0 || rechecked_poller {
            (delay, quiet) = (MIN_DELAY, 0);
        } else {
            quiet += 1;
            if quiet > QUIET_ROUNDS {
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
        if now - scavenged >= stack::SCAVENGE_PERIOD {
            stack::scavenge_free_stacks(!rt.no_worker_busy());
            scavenged = now;
        }
    }
}

/// If goroutines wait for I/O: polls, without blocking, each worker's
/// poller that nobody has polled for [`NETPOLL_NEGLECT`] (its worker busy
/// in one goroutine, or without a token), and the shared poller too if no
/// worker is blocked in its poller (where the shared one's events would
/// wake it). Goroutines it wakes go to their homes or the global queue.
pub(super) fn poll_neglected_network(rt: &Runtime) {
    if crate::netpoll::waiters() == 0 {
        return;
    }
    let neglect = NETPOLL_NEGLECT.as_nanos() as u64;
    for index in 0..rt.started_count.load(Ordering::Acquire) {
        let shared = rt.shared(index);
        let Some(poller) = shared.poller.get() else {
            continue;
        };
        if !shared.in_poller.load(Ordering::Relaxed) && poller.since_last_poll() >= neglect {
            poller.poll(Some(Duration::ZERO));
        }
    }
    if !rt.poller_blocked() {
        crate::netpoll::poll_shared_if_neglected(NETPOLL_NEGLECT);
    }
}

/// What the monitor saw of a worker when its status last changed: the
/// status, when, and how much work others had taken from it and from the
/// global queue by then.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    pub(super) status: u64,
    pub(super) since: Instant,
    pub(super) robbed: u64,
    pub(super) injector_takes: u64,
    /// The thread's CPU time, watched from [`STUCK_AFTER`] in this
    /// goroutine (see [`set_aside`]).
    pub(super) cpu_window: Option<CpuWindow>,
}

/// How long one goroutine may hold a worker before the monitor hands the
/// worker's token to another thread (Go's `forcePreemptNS`).
pub(super) const FORCE_RETAKE: Duration = Duration::from_millis(10);

impl Runtime {
    /// The monitor's check that somebody watches the sockets: if
    /// goroutines (or tasks) wait for I/O, nobody has polled for
    /// [`HANDOFF_DELAY`], no worker is blocked in its poller and one idles
    /// (it went to sleep before the netpoller existed), has that one
    /// recheck, and so sleep in its poller. Returns whether it did.
    pub(crate) fn fill_vacant_poller(&self) -> bool {
        let vacant = crate::netpoll::waiters() > 0
            && crate::netpoll::since_last_poll() >= HANDOFF_DELAY.as_nanos() as u64
            && !self.poller_blocked()
            && self.idle.len() > 0;
        if vacant {
            self.recheck_one_idle();
        }
        vacant
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
    /// one goroutine for [`FORCE_RETAKE`] while work waits for it (Go's
    /// `retake`); before that, from [`HANDOFF_DELAY`] on, wakes an idle
    /// worker to steal the queue behind such a goroutine and asks it to
    /// yield for the goroutines pinned to its thread. Returns how many
    /// workers it acted on.
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
                cpu_window: None,
            },
        );
        let mut acted = 0;
        for (index, sample) in samples.iter_mut().enumerate() {
            let shared = self.shared(index);
            // Relaxed: a stale `true` (the worker has just taken a token
            // back) moves a running worker's `runnext` away, which is
            // harmless; a stale `false` waits for the next round.
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
                    cpu_window: None,
                };
                continue;
            }
            let stuck_for = now.saturating_duration_since(sample.since);
            let phase = status & ((1 << PHASE_BITS) - 1);
            if stuck_for >= HANDOFF_DELAY && phase == RUNNING && ask_to_preempt(shared) {
                acted += 1;
            }
            if phase != RUNNING {
                continue;
            }
            if stuck_for >= STUCK_AFTER && self.share_stuck_queue(shared, status) {
                acted += 1;
            }
            if stuck_for >= STUCK_AFTER && sample.cpu_window.is_none() {
                sample.cpu_window = os_thread(shared).and_then(|t| t.watch(now));
            }
            let retake = stuck_for >= FORCE_RETAKE && {
                let aside = set_aside(shared, sample, now);
                if !aside {
                    warn_if_pinned_wait(shared, stuck_for);
                }
                !aside && self.work_starves_behind(shared, sample)
            };
            if retake && self.revoke(shared) {
                acted += 1;
            }
        }
        acted
    }

    /// A worker has run one goroutine (`status`) for [`STUCK_AFTER`]: if
    /// goroutines are queued behind it, marks it stuck (`Shared::stuck`:
    /// thieves take them at their first look, while `status` lasts) and
    /// wakes an idle worker to steal, unless none idles or one is searching
    /// already. Returns whether it woke one.
    pub(super) fn share_stuck_queue(&'static self, shared: &Shared, status: u64) -> bool {
        if shared.stealer.is_empty() {
            return false;
        }
        shared.stuck.store(status, Ordering::Relaxed);
        let wake = self.idle.len() > 0 && self.searching.load(Ordering::SeqCst) == 0;
        if wake {
            self.notify_work();
        }
        wake
    }

    /// Whether work starves behind a worker busy in one long goroutine
    /// since `sample`: the goroutine it woke last (only a revocation frees
    /// it), its queue with nobody stealing from it, or the global queue with
    /// nobody taking from it. While others take its work, a long goroutine
    /// (or a thread the OS merely preempted) is left alone: a revocation
    /// would only add a thread competing for the same cores.
    pub(super) fn work_starves_behind(&self, shared: &Shared, sample: &Sample) -> bool {
        self.token_wanted()
            || shared.runnext.is_occupied()
            || self.queue_unshared(shared, sample)
            || (!self.injector.is_empty()
                && self.injector_takes.load(Ordering::Relaxed) == sample.injector_takes)
    }

    /// Whether a worker's queue holds goroutines and nobody has stolen from
    /// it since `sample`.
    pub(super) fn queue_unshared(&self, shared: &Shared, sample: &Sample) -> bool {
        !shared.stealer.is_empty() && shared.robbed.load(Ordering::Relaxed) == sample.robbed
    }

    /// Takes a stuck worker's token and, if work is waiting, gives it to
    /// another thread. False if already taken.
    pub(super) fn revoke(&'static self, shared: &Shared) -> bool {
        if !shared.claim_release() {
            return false;
        }
        self.holders.fetch_sub(1, Ordering::AcqRel);
        self.retakes.fetch_add(1, Ordering::Relaxed);
        self.runnext_to_injector(shared);
        if self.has_visible_work() || self.token_wanted() {
            self.grant_token();
        }
        true
    }

    /// A revoked worker's goroutine, still stuck, woke another after the
    /// revocation (in a long run): that one
    /// sits in the worker's `runnext`, which nothing but the worker's own
    /// thread would run, and only once the stuck goroutine switches out.
    /// It goes to the global queue, and a worker is told (given the free
    /// token if none holds it). Returns whether there was one.
    pub(super) fn rescue_runnext(&'static self, shared: &Shared) -> bool {
        let rescued = self.runnext_to_injector(shared);
        if rescued {
            self.notify_work();
        }
        rescued
    }

    /// Fires due timers if nobody else did (the monitor's backstop, for
    /// when every worker is stuck in one goroutine).
    pub(crate) fn fire_overdue_timers(&self) {
        if self.earliest_timer() <= crate::clock::tick_clock() {
            self.fire_all_timers();
        }
    }
}

/// The thread running `shared`'s worker, as the kernel knows it.
fn os_thread(shared: &Shared) -> Option<OsThread> {
    OsThread::from_word(shared.os_thread.load(Ordering::Relaxed))
}

/// Whether the OS has set aside the thread of a worker stuck in one
/// goroutine (see `OsThread::set_aside`), judged over at least
/// [`SET_ASIDE_WINDOW`] since the monitor's last look; while that is
/// shorter, the answer waits (true). Its token then stays: another thread
/// would wait for the same CPUs (more threads than cores), and each
/// revocation would add a thread. A thread blocked in a call, or one
/// running a long loop, still loses it.
fn set_aside(shared: &Shared, sample: &mut Sample, now: Instant) -> bool {
    let (Some(thread), Some(window)) = (os_thread(shared), sample.cpu_window.as_mut()) else {
        return false;
    };
    thread
        .set_aside(window, now, SET_ASIDE_WINDOW)
        .unwrap_or(true)
}

/// The shortest stretch over which [`set_aside`] judges a thread's share
/// of the CPU (several of the OS's time slices).
const SET_ASIDE_WINDOW: Duration = Duration::from_millis(5);

/// How long a goroutine must hold its thread, with goroutines pinned there
/// waiting, before the monitor names it: longer than a revocation's 10 ms.
/// A thread the OS has set aside (see [`set_aside`]) is not blamed: it
/// waits for a CPU, not for its goroutine.
const BLOCKWARN_AFTER: Duration = Duration::from_millis(50);

/// A goroutine has run on `shared`'s worker since the monitor's last look,
/// [`HANDOFF_DELAY`] or more, while goroutines that can run only there
/// wait: asks it to yield at its next preemption point
/// (`scheduler::preempt_point`). Returns whether it asked.
fn ask_to_preempt(shared: &Shared) -> bool {
    let ask = pinned_waiting(shared) > 0 && !shared.preempt.load(Ordering::Relaxed);
    if ask {
        shared.preempt.store(true, Ordering::Relaxed);
    }
    ask
}

/// Goroutines runnable only on this worker's thread (its inbox, local
/// queue and `runnext`; relaxed snapshots).
fn pinned_waiting(shared: &Shared) -> usize {
    shared.inbox.len() + shared.local_len.len() + usize::from(shared.runnext.is_occupied())
}

/// Whether `GODEBUG=blockwarn=0` silenced the stuck-thread warning.
fn blockwarn_silenced() -> bool {
    static SILENCED: OnceLock<bool> = OnceLock::new();
    *SILENCED.get_or_init(|| {
        std::env::var("GODEBUG").is_ok_and(|v| v.split(',').any(|kv| kv == "blockwarn=0"))
    })
}

/// When the last stuck-thread warning was printed (at most one a second),
/// and the goroutine it named (each is named once).
static LAST_WARNING: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));

/// A goroutine has held its worker's thread for `stuck_for` while
/// goroutines pinned to that thread wait behind it: they cannot move to
/// another thread, so the monitor says which goroutine holds them, where
/// it was spawned, and the cure, once per goroutine and at most once a
/// second (`GODEBUG=blockwarn=0` silences it).
fn warn_if_pinned_wait(shared: &Shared, stuck_for: Duration) {
    if stuck_for < BLOCKWARN_AFTER {
        return;
    }
    let waiting = pinned_waiting(shared);
    if waiting == 0 || blockwarn_silenced() {
        return;
    }
    let id = shared.running.load(Ordering::Relaxed);
    let mut last = LAST_WARNING.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if last.1 == id || last.0.is_some_and(|at| now - at < Duration::from_secs(1)) {
        return;
    }
    *last = (Some(now), id);
    drop(last);
    let who = crate::registry::describe(id).unwrap_or_else(|| format!("goroutine {id}"));
    eprintln!(
        "goro: {who} has held its thread for {} ms; {waiting} goroutine(s) that can run only on \
         that thread wait behind it. Run a blocking call in goro::blocking(|| ...), or call \
         goro::yield_now() now and then in a long loop (GODEBUG=blockwarn=0 silences this).",
        stuck_for.as_millis()
    );
}
