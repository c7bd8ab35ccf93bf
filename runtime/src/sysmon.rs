//! sysmon: the monitor thread (Go's `sysmon`).
//!
//! Goroutines are not preempted: a goroutine that blocks its thread (a call
//! wrapped in [`crate::blocking`](fn@crate::blocking), an unannotated
//! `std::thread::sleep` or blocking read, a long CPU loop) keeps its
//! worker. The monitor makes sure the rest still run: each round it samples
//! every worker's status word (goroutines run, and what the thread does
//! now), and a worker seen in the same goroutine for 10 ms while work
//! starves behind it (nobody stole from its queue or took from the global
//! queue meanwhile, or it holds a woken goroutine in `runnext`), or in a
//! blocking call for a round while work waits, loses its token; the token
//! goes to a pooled or new thread (see the scheduler's "Tokens"). Sooner,
//! from 50 µs in one goroutine, it wakes an idle worker to steal the queue
//! behind it. It also fires timers nobody fired; when goroutines wait for
//! I/O and nobody has polled for 50 µs while a worker idles, it pokes that
//! worker to take the poller's role (the scheduler's "lazy hand-off"
//! leaves the role vacant), and after 10 ms without a poll (every worker
//! busy in long runs) it polls the network itself; and it gives back the
//! memory of goroutine stacks left free for a while (see `stack`'s "Reuse
//! and release"), all of it before it sleeps. When a worker asks
//! ([`poke`]), it installs the guard pages of stacks not yet used, ahead of
//! need (see `stack`'s "Layout").
//!
//! # Rhythm
//! As Go's: rounds every 20 µs while it finds something to do, doubling
//! after 50 quiet rounds up to 10 ms. When no worker runs a goroutine it
//! sleeps until one does (`Runtime::wake_sysmon`), so an idle program uses
//! no CPU, and then goes on at the rhythm it had.

use crate::scheduler::{Runtime, Sample};
use crate::stack;
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The shortest and longest pause between rounds.
const MIN_DELAY: Duration = Duration::from_micros(20);
const MAX_DELAY: Duration = Duration::from_millis(10);
/// Quiet rounds before the pause starts doubling.
const QUIET_ROUNDS: u32 = 50;
/// How long I/O waiters may go unpolled before the monitor polls.
const NETPOLL_NEGLECT: Duration = Duration::from_millis(10);

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
static MONITOR: OnceLock<Thread> = OnceLock::new();

/// Ends the monitor's current pause or sleep early, so that it does now
/// what a worker asked of it. A no-op before the monitor starts.
pub(crate) fn poke() {
    if let Some(thread) = MONITOR.get() {
        thread.unpark();
    }
}

fn run(rt: &'static Runtime) {
    let _ = MONITOR.set(std::thread::current());
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
        rt.fire_overdue_timers();
        let poked_poller = rt.fill_vacant_poller();
        poll_neglected_network(rt);
        let now = Instant::now();
        if rt.retake(&mut samples, now) > 0 || poked_poller {
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

/// Polls the network without blocking if goroutines wait for I/O, no
/// worker is blocked in the poller, and nobody polled for
/// [`NETPOLL_NEGLECT`]. Goroutines it wakes go on the global queue.
fn poll_neglected_network(rt: &Runtime) {
    if crate::netpoll::waiters() > 0
        && !rt.poller_blocked()
        && crate::netpoll::since_last_poll() >= NETPOLL_NEGLECT.as_nanos() as u64
    {
        crate::netpoll::poll(Some(Duration::ZERO));
    }
}
