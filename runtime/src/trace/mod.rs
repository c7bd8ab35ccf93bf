//! An execution trace (Go's `go tool trace`, in the Chrome trace event
//! format that Perfetto and `chrome://tracing` open): [`start`] and
//! [`stop`], or `GOTRACE=path` for a whole run.
//!
//! # What a trace shows
//! - A track per worker slot (`tid` = the slot's index, named `worker N`)
//!   with a slice per goroutine run (`ph:"X"`, cat `run`): its id and
//!   name, and why the run ended (`yield`, `finish`, or
//!   `park: <wait reason> at <file:line:col>`).
//! - An arrow (a flow, `ph:"s"` then `ph:"f"` with `bp:"e"`) from each wake
//!   of a goroutine, and each spawn, to the run it caused. Flow ids are
//!   unique in the process (threads take them from a global counter in
//!   blocks); a goroutine keeps its flow's id (`G::set_trace_flow`) until
//!   its next run takes it, which ignores an id from before the session.
//! - On other tracks (`tid` 10000 and up, named after the thread):
//!   `goro::blocking` calls on their helper threads, and the monitor's
//!   work. Anywhere: netpoll waits and polls that readied goroutines,
//!   batches of timers fired (slices, so the wakes inside them draw their
//!   arrows), steals and stack scavenges (instants), and counters of
//!   goroutines live, runnable and parked (sampled by the monitor at most
//!   every millisecond (`COUNTER_PERIOD`), and at start and stop).
//!
//! # Cost
//! Off, every event site is one relaxed load of `ENABLED` and a
//! predicted branch; the recording is out of line (`#[cold]`). On, an
//! event is a clock read and a store into the thread's own chunk of
//! 2048 events (`CHUNK_EVENTS`, in `buffer`); no lock, no allocation (but the run
//! of a named goroutine, whose name goes into a map under the sink's
//! mutex, for the writer). A full chunk
//! is handed (under a mutex, once per chunk) to the writer thread, which
//! formats and writes it (`writer`) off the hot path.
//!
//! # Bound on memory
//! One chunk per thread that recorded events, plus at most
//! 256 full chunks (`MAX_QUEUED`) waiting for the writer: a chunk handed over
//! past that is dropped, and its events counted, in the trace as the
//! counter `trace dropped events` written at the end. An event is a
//! fixed-size `Event`, with nothing on the heap.
//!
//! # Orderings
//! `ENABLED` is relaxed: an event racing with `start` or `stop` may be
//! lost, never torn. A chunk's events are published by its `len`
//! (`Release` by the thread that owns the chunk, `Acquire` by the
//! writer), and a slot below `len` is never written again, so the writer
//! may read a chunk its thread still fills. At `stop` the writer takes,
//! under the sink's mutex, every thread's current chunk as far as its
//! `len`; a thread that hands its chunk over after that finds the session
//! closed and drops it.

use crate::park::WaitReason;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod buffer;
mod writer;

pub(crate) use buffer::writer_threads;

/// Events a thread buffers before handing them to the writer.
const CHUNK_EVENTS: usize = 2048;

/// Full chunks that may wait for the writer; more are dropped (counted).
const MAX_QUEUED: usize = 256;

/// How often the monitor samples the goroutine counters, at most.
const COUNTER_PERIOD: Duration = Duration::from_millis(1);

/// Whether a trace is being recorded. Relaxed: see the module note.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether a trace is being recorded: the one load an event site costs.
#[inline(always)]
pub(crate) fn on() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// One recorded event: when (nanoseconds, `clock::now_nanos`) and what.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    ts: u64,
    kind: Kind,
}

/// What happened; see the module note for how each is drawn.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A goroutine ran from `ts` for `dur`.
    Run { g: u64, dur: u64, end: End },
    /// A wake or spawn of `g`: the tail of flow `id`.
    Wake { id: u64, g: u64 },
    /// A run began that flow `id` caused.
    Woken { id: u64 },
    /// A slice of work other than a goroutine's run.
    Slice { dur: u64, what: Slice },
    /// A worker stole `g` (and others) from worker `victim`.
    Steal { victim: u32, g: u64 },
    /// The stack arena released `stacks` free stacks.
    Scavenge { stacks: u32 },
    /// The goroutine counters.
    Counters {
        live: u64,
        runnable: u64,
        parked: u64,
    },
}

/// Why a goroutine's run ended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum End {
    Yield,
    Finish,
    Park(WaitReason, Option<&'static Location<'static>>),
}

/// Work other than a goroutine's run, drawn as a slice.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slice {
    /// A `goro::blocking` call on a helper thread.
    Blocking,
    /// `netpoll::poll`: a blocking wait, or a poll that readied goroutines.
    Netpoll { readied: u32, blocking: bool },
    /// A batch of timers fired.
    Timers { fired: u32 },
}

/// Starts recording an execution trace to the file at `path` (created, or
/// truncated): see `docs/guide.md`, "Seeing a trace". Fails if a trace is
/// being recorded already, or the file cannot be created.
///
/// ```
/// let path = std::env::temp_dir().join(format!("goro-doc-{}.json", std::process::id()));
/// goro::trace::start(&path).unwrap();
/// goro::go!(|| 6 * 7).join().unwrap();
/// goro::trace::stop().unwrap();
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert!(text.starts_with("{\"traceEvents\":[") && text.trim_end().ends_with("]}"));
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn start(path: impl AsRef<Path>) -> io::Result<()> {
    enable(path.as_ref())?;
    buffer::sample_counters_now();
    Ok(())
}

/// Opens the trace and turns the event sites on. Samples nothing: the
/// runtime may be starting (`GOTRACE`).
fn enable(path: &Path) -> io::Result<()> {
    buffer::open(path)?;
    ENABLED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Stops the trace [`start`] began: the events recorded so far are
/// written, and the file is complete (valid JSON) when this returns.
/// Fails if no trace is being recorded, or writing failed.
///
/// ```
/// assert!(goro::trace::stop().is_err()); // none is being recorded
/// ```
pub fn stop() -> io::Result<()> {
    if on() {
        buffer::sample_counters_now();
    }
    ENABLED.store(false, Ordering::Relaxed);
    buffer::close()
}

/// `GOTRACE=path`: starts a trace when the runtime starts (called while
/// it is being made), and stops it when the process exits. A trace that
/// cannot start is a warning.
pub(crate) fn start_from_env() {
    let Some(path) = std::env::var_os("GOTRACE").filter(|p| !p.is_empty()) else {
        return;
    };
    match enable(path.as_ref()) {
        Ok(()) => buffer::stop_at_exit(),
        Err(e) => eprintln!(
            "goro: GOTRACE={}: cannot trace: {e}",
            path.to_string_lossy()
        ),
    }
}

/// A goroutine's run begins on this thread (a worker's, which owns `g`):
/// its start, and the end of the flow that woke it. The caller checks
/// [`on`] once for the whole run, and calls [`run_ends`] if it was.
#[cold]
#[inline(never)]
pub(crate) fn run_begins(g: &crate::goroutine::G) {
    buffer::run_begins(g);
}

/// The run of `g` that [`run_begins`] recorded ended: how.
#[cold]
#[inline(never)]
pub(crate) fn run_ends(g: &crate::goroutine::G, outcome: &crate::goroutine::Outcome) {
    buffer::run_ends(g.id(), outcome.trace_end(g));
}

/// `g` was woken or spawned by this thread, which owns it: the tail of an
/// arrow to its next run.
#[inline(always)]
pub(crate) fn wakes(g: &crate::goroutine::G) {
    if on() {
        buffer::wakes(g);
    }
}

/// The start of a [`Slice`] to pass to [`slice_ends`]: now, or 0 if no
/// trace is being recorded.
#[inline(always)]
pub(crate) fn slice_begins() -> u64 {
    if on() {
        buffer::now()
    } else {
        0
    }
}

/// A slice begun at `start` (from [`slice_begins`]) ends.
#[inline(always)]
pub(crate) fn slice_ends(start: u64, what: Slice) {
    if start != 0 && on() {
        buffer::record_slice(start, what);
    }
}

/// This worker stole `g` from worker `victim`.
#[inline(always)]
pub(crate) fn steal(victim: usize, g: u64) {
    if on() {
        buffer::record(Kind::Steal {
            victim: victim as u32,
            g,
        });
    }
}

/// The stack arena released `stacks` free stacks.
#[inline(always)]
pub(crate) fn scavenge(stacks: usize) {
    if on() {
        buffer::record(Kind::Scavenge {
            stacks: stacks as u32,
        });
    }
}

/// The monitor's round: samples the goroutine counters, if it is time.
#[inline(always)]
pub(crate) fn sample_counters() {
    if on() {
        buffer::sample_counters();
    }
}
