//! The recording side: each thread's chunk of events, the sink that
//! collects full chunks for the writer thread, and the session (one
//! `start` to its `stop`). See the module note of `trace` for the rules.

use super::{writer, End, Event, Kind, Slice, CHUNK_EVENTS, COUNTER_PERIOD, MAX_QUEUED};
use crate::goroutine::G;
use std::cell::{RefCell, UnsafeCell};
use std::collections::BTreeMap;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Track ids of threads that are not workers start here (worker slots
/// are below `scheduler::MAX_THREADS`).
const OTHER_TIDS: u32 = 10_000;

/// Flow ids a thread takes from [`FLOW_IDS`] at once.
const FLOW_BLOCK: u64 = 1 << 16;

/// Events recorded by one thread, published by `len` (see the module
/// note's "Orderings").
pub(super) struct Chunk {
    pub(super) tid: u32,
    pub(super) label: Arc<str>,
    len: AtomicUsize,
    slots: Box<[UnsafeCell<MaybeUninit<Event>>]>,
}

// SAFETY: a slot is written only by the thread that owns the chunk, and
// only while it is at or above `len`; it is read by others only once it is
// below `len`, which the owner raises with `Release` after the write and
// the reader loads with `Acquire`. `Event` is `Copy` (no drop, no interior
// mutability), so sharing the published slots is sound.
unsafe impl Sync for Chunk {}
// SAFETY: as above; the chunk owns nothing tied to a thread.
unsafe impl Send for Chunk {}

impl Chunk {
    fn new(tid: u32, label: Arc<str>) -> Arc<Chunk> {
        Arc::new(Chunk {
            tid,
            label,
            len: AtomicUsize::new(0),
            slots: (0..CHUNK_EVENTS)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        })
    }

    /// Appends `event`; false if the chunk is full. Only its owner calls it.
    fn push(&self, event: Event) -> bool {
        let len = self.len.load(Ordering::Relaxed);
        let Some(slot) = self.slots.get(len) else {
            return false;
        };
        // SAFETY: slot `len` is not published yet, and only the owning
        // thread (this one) writes slots (see the `Sync` impl).
        unsafe { (*slot.get()).write(event) };
        self.len.store(len + 1, Ordering::Release);
        true
    }

    /// The events published so far.
    pub(super) fn events(&self) -> &[Event] {
        let len = self.len.load(Ordering::Acquire);
        // SAFETY: the first `len` slots are initialised and never written
        // again (see the `Sync` impl); `UnsafeCell<MaybeUninit<Event>>` has
        // `Event`'s layout.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Event>(), len) }
    }
}

/// What the writer thread takes from the recording threads.
#[derive(Default)]
pub(super) struct Sink {
    /// The session being recorded (or last recorded), counted from 1.
    session: u32,
    open: bool,
    /// Chunks for the writer: full ones, then at `stop` every thread's.
    queue: Vec<Arc<Chunk>>,
    /// Each recording thread's chunk being filled.
    current: Vec<Arc<Chunk>>,
    /// Events of chunks dropped because [`MAX_QUEUED`] were waiting.
    dropped: u64,
    /// The names of the goroutines that ran, for the run slices.
    pub(super) names: BTreeMap<u64, Box<str>>,
}

impl Sink {
    /// A recording thread is done with `chunk`: queue it for the writer,
    /// or drop it if too many wait.
    fn retire(&mut self, chunk: &Arc<Chunk>) {
        self.current.retain(|c| !Arc::ptr_eq(c, chunk));
        if self.queue.len() < MAX_QUEUED {
            self.queue.push(chunk.clone());
            WORK.notify_one();
        } else {
            self.dropped += chunk.events().len() as u64;
        }
    }
}

static SINK: Mutex<Sink> = Mutex::new(Sink {
    session: 0,
    open: false,
    queue: Vec::new(),
    current: Vec::new(),
    dropped: 0,
    names: BTreeMap::new(),
});
/// Signalled when the writer has chunks to write, or the session closed.
static WORK: Condvar = Condvar::new();
/// `Sink::session` while it is open (relaxed: a thread that sees a stale
/// value takes the sink's lock, which has the truth).
static SESSION: AtomicU32 = AtomicU32::new(0);
/// When the open session started (see [`now`]).
static SESSION_START: AtomicU64 = AtomicU64::new(0);
/// The first flow id of the open session: a goroutine's flow id below it
/// is left over from an earlier one.
static SESSION_FLOWS: AtomicU64 = AtomicU64::new(0);
/// Flow ids, handed out [`FLOW_BLOCK`] at a time, never reused.
static FLOW_IDS: AtomicU64 = AtomicU64::new(1);
/// Track ids for threads that are not workers.
static OTHER_THREADS: AtomicU32 = AtomicU32::new(0);
/// The writer thread of the open session.
static WRITER: Mutex<Option<JoinHandle<io::Result<()>>>> = Mutex::new(None);
/// Writer threads alive (0 or 1; the deadlock detector's count of the
/// runtime's own threads).
static WRITERS: AtomicUsize = AtomicUsize::new(0);

pub(super) fn sink() -> MutexGuard<'static, Sink> {
    SINK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writer threads alive: 1 while a trace is being written, else 0.
pub(crate) fn writer_threads() -> usize {
    WRITERS.load(Ordering::SeqCst)
}

/// Starts a session writing to `path`, with its writer thread.
pub(super) fn open(path: &Path) -> io::Result<()> {
    let mut writer = WRITER.lock().unwrap_or_else(|p| p.into_inner());
    if writer.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a trace is being recorded already",
        ));
    }
    let json = writer::Json::create(path)?;
    {
        let mut sink = sink();
        sink.session += 1;
        sink.open = true;
        sink.dropped = 0;
        sink.names.clear();
        sink.queue.clear();
        sink.current.clear();
        SESSION_FLOWS.store(FLOW_IDS.load(Ordering::Relaxed), Ordering::Relaxed);
        SESSION_START.store(now(), Ordering::Relaxed);
        SESSION.store(sink.session, Ordering::Relaxed);
    }
    WRITERS.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("goro-trace".into())
        .spawn(move || {
            let written = writer::write_session(json);
            WRITERS.fetch_sub(1, Ordering::SeqCst);
            written
        });
    match spawned {
        Ok(handle) => *writer = Some(handle),
        Err(e) => {
            WRITERS.fetch_sub(1, Ordering::SeqCst);
            sink().open = false;
            return Err(e);
        }
    }
    Ok(())
}

/// Ends the session: every thread's events so far go to the writer, which
/// completes the file; returns how that went.
pub(super) fn close() -> io::Result<()> {
    let handle = WRITER.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(handle) = handle else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no trace is being recorded",
        ));
    };
    {
        let mut sink = sink();
        sink.open = false;
        let current = std::mem::take(&mut sink.current);
        sink.queue.extend(current);
        WORK.notify_one();
    }
    let written = handle
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the trace writer panicked")));
    // What a failed writer left queued.
    sink().queue.clear();
    written
}

/// The writer's wait: the chunks to write next, whether the session has
/// closed (nothing more will come), and the events dropped.
pub(super) fn take_work() -> (Vec<Arc<Chunk>>, bool, u64) {
    let mut sink = sink();
    while sink.queue.is_empty() && sink.open {
        sink = WORK.wait(sink).unwrap_or_else(|p| p.into_inner());
    }
    (std::mem::take(&mut sink.queue), !sink.open, sink.dropped)
}

/// Stops the trace when the process exits (`GOTRACE`).
pub(super) fn stop_at_exit() {
    extern "C" fn stop_trace() {
        let _ = super::stop();
    }
    // SAFETY: `stop_trace` is a plain function that never unwinds (`stop`
    // does not panic: its locks ignore poisoning, and a writer's panic
    // becomes an error); the process runs it once, at exit.
    if unsafe { libc::atexit(stop_trace) } != 0 {
        eprintln!("goro: GOTRACE: the trace is not stopped at exit; call goro::trace::stop");
    }
}

/// The clock of the trace: `clock::now_nanos`, never 0 (0 means "not
/// traced" to `slice_ends`).
pub(super) fn now() -> u64 {
    crate::clock::now_nanos().max(1)
}

/// A thread's recording state.
struct Local {
    tid: u32,
    label: Arc<str>,
    /// The session `chunk` belongs to.
    session: u32,
    chunk: Option<Arc<Chunk>>,
    /// Flow ids this thread may hand out next, `[next, end)`.
    flows: (u64, u64),
    /// The goroutine running here: the session its run began in, its id,
    /// and when.
    run: (u32, u64, u64),
    /// When this thread last sampled the counters.
    sampled: u64,
    /// The named goroutine whose name this thread gave the sink last
    /// (session, id): a goroutine that runs again and again here is named
    /// once, not under the sink's lock at every run.
    named: (u32, u64),
}

impl Local {
    /// The state of a new recording thread: a worker's track is its slot.
    fn new() -> Local {
        let (tid, label) = match crate::scheduler::current_worker_index() {
            Some(index) => (index as u32, format!("worker {index}")),
            None => {
                let n = OTHER_THREADS.fetch_add(1, Ordering::Relaxed);
                let thread = std::thread::current();
                (
                    OTHER_TIDS + n,
                    thread.name().unwrap_or("thread").to_string(),
                )
            }
        };
        Local {
            tid,
            label: label.into(),
            session: 0,
            chunk: None,
            flows: (0, 0),
            run: (0, 0, 0),
            sampled: 0,
            named: (0, 0),
        }
    }

    /// Records `event`, starting a chunk if this thread has none in the
    /// open session, or its chunk is full.
    fn push(&mut self, event: Event) {
        let fresh = self.session == SESSION.load(Ordering::Relaxed);
        if fresh && self.chunk.as_ref().is_some_and(|c| c.push(event)) {
            return;
        }
        if self.exchange() {
            let pushed = self.chunk.as_ref().is_some_and(|c| c.push(event));
            debug_assert!(pushed, "a new chunk has room");
        }
    }

    /// Retires this thread's chunk and takes a new one, if a session is
    /// open; returns whether it is.
    fn exchange(&mut self) -> bool {
        let mut sink = sink();
        if let Some(old) = self.chunk.take() {
            if self.session == sink.session && sink.open {
                sink.retire(&old);
            }
        }
        if !sink.open {
            return false;
        }
        if self.session != sink.session {
            self.flows = (0, 0);
        }
        let chunk = Chunk::new(self.tid, self.label.clone());
        sink.current.push(chunk.clone());
        self.chunk = Some(chunk);
        self.session = sink.session;
        true
    }

    /// A new flow id (nonzero, unique over the process).
    fn next_flow(&mut self) -> u64 {
        let (mut next, mut end) = self.flows;
        if next == end {
            next = FLOW_IDS.fetch_add(FLOW_BLOCK, Ordering::Relaxed);
            end = next + FLOW_BLOCK;
        }
        self.flows = (next + 1, end);
        next
    }
}

impl Drop for Local {
    /// The thread exits: its events go to the writer now.
    fn drop(&mut self) {
        if let Some(chunk) = self.chunk.take() {
            let mut sink = sink();
            if self.session == sink.session && sink.open {
                sink.retire(&chunk);
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's recording state; not at all while the
/// thread's locals are being destroyed.
fn with_local(f: impl FnOnce(&mut Local)) {
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            f(local.get_or_insert_with(Local::new));
        }
    });
}

/// Records `kind`, now.
#[cold]
#[inline(never)]
pub(super) fn record(kind: Kind) {
    let ts = now();
    with_local(|local| local.push(Event { ts, kind }));
}

/// Records the slice `what`, begun at `start`, ending now.
#[cold]
#[inline(never)]
pub(super) fn record_slice(start: u64, what: Slice) {
    let dur = now().saturating_sub(start);
    let kind = Kind::Slice { dur, what };
    with_local(|local| local.push(Event { ts: start, kind }));
}

#[cold]
#[inline(never)]
pub(super) fn run_begins(g: &G) {
    let ts = now();
    // SAFETY: the worker running `g` owns it, and it has not finished.
    let flow = unsafe { g.take_trace_flow() };
    with_local(|local| {
        let session = SESSION.load(Ordering::Relaxed);
        if let Some(name) = g.name() {
            if local.named != (session, g.id()) {
                local.named = (session, g.id());
                sink().names.entry(g.id()).or_insert_with(|| name.into());
            }
        }
        local.run = (session, g.id(), ts);
        if flow >= SESSION_FLOWS.load(Ordering::Relaxed) {
            local.push(Event {
                ts,
                kind: Kind::Woken { id: flow },
            });
        }
    });
}

#[cold]
#[inline(never)]
pub(super) fn run_ends(g: u64, end: End) {
    let ts = now();
    with_local(|local| {
        // A run that began before the session did is drawn from the
        // session's start.
        let (session, running, start) = std::mem::take(&mut local.run);
        let start = if (session, running) == (SESSION.load(Ordering::Relaxed), g) {
            start
        } else {
            SESSION_START.load(Ordering::Relaxed).min(ts)
        };
        let kind = Kind::Run {
            g,
            dur: ts - start,
            end,
        };
        local.push(Event { ts: start, kind });
    });
}

#[cold]
#[inline(never)]
pub(super) fn wakes(g: &G) {
    let ts = now();
    with_local(|local| {
        let id = local.next_flow();
        local.push(Event {
            ts,
            kind: Kind::Wake { id, g: g.id() },
        });
        // SAFETY: the caller of `wakes` owns `g` (it wakes or spawns it).
        unsafe { g.set_trace_flow(id) };
    });
}

/// Samples the counters if this thread has not for [`COUNTER_PERIOD`].
#[cold]
#[inline(never)]
pub(super) fn sample_counters() {
    let ts = now();
    let mut due = false;
    with_local(|local| {
        due = ts.saturating_sub(local.sampled) >= COUNTER_PERIOD.as_nanos() as u64;
        if due {
            local.sampled = ts;
        }
    });
    if due {
        sample_counters_now();
    }
}

/// Records the goroutine counters.
pub(super) fn sample_counters_now() {
    let [live, runnable, parked] = crate::scheduler::runtime().goroutine_counts();
    record(Kind::Counters {
        live,
        runnable,
        parked,
    });
}
