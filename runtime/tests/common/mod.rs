//! Helpers shared by the integration tests: running a body at given
//! GOMAXPROCS values (one lock per test binary serialises every test that
//! changes it), child processes for tests that must crash or set the
//! environment, and counting helpers for stress tests.
#![allow(dead_code)]

use std::collections::HashSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// GOMAXPROCS is process-global and the tests of one binary run in
/// parallel threads: every test that changes it does so under this lock.
static PROCS_LOCK: Mutex<()> = Mutex::new(());

/// Runs `body` with GOMAXPROCS set to `n`, then restores it.
pub fn with_procs<R>(n: usize, body: impl FnOnce() -> R) -> R {
    let _lock = PROCS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let old = goro::set_gomaxprocs(n);
    let result = body();
    goro::set_gomaxprocs(old);
    result
}

/// Runs the ignored test `name` of this test binary in a child process with
/// `env` set (and the worker count and stack size at their defaults unless
/// `env` sets them), and returns its output.
pub fn child(name: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("GOMAXPROCS")
    .env_remove("GORO_STACK_SIZE")
    .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Runs the ignored test `name` as [`child`] does, asserts that it passed,
/// and returns what it printed after `label` on that line.
pub fn child_reports(name: &str, env: &[(&str, &str)], label: &str) -> String {
    let out = child(name, env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, rest) = stdout
        .split_once(label)
        .unwrap_or_else(|| panic!("{name} did not report {label:?}: {stdout}"));
    rest.lines().next().unwrap_or_default().trim().to_string()
}

/// The message of a panic payload (`String` or `&str`).
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// This process's resident set size, in KiB (`VmRSS`).
pub fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Goroutines parked on one unbuffered channel that is only ever closed.
pub struct Gate {
    tx: goro::chan::Sender<()>,
    finished: goro::sync::WaitGroup,
}

/// Spawns `n` goroutines that wait on one gate; returns once every one has
/// started (and is about to park).
pub fn park_on_gate(n: usize) -> Gate {
    let (tx, rx) = goro::chan::bounded::<()>(0);
    let (started, finished) = (goro::sync::WaitGroup::new(), goro::sync::WaitGroup::new());
    started.add(n as isize);
    finished.add(n as isize);
    for _ in 0..n {
        let (started, finished, gate) = (started.clone(), finished.clone(), rx.clone());
        goro::spawn(move || {
            started.done();
            // Closed, not sent to: every receiver gets Err once it shuts.
            assert!(gate.recv().is_err(), "the gate only closes");
            finished.done();
        });
    }
    started.wait();
    Gate { tx, finished }
}

impl Gate {
    /// Closes the gate and waits until every goroutine has finished.
    pub fn release(self) {
        assert!(self.tx.close(), "the gate closes once");
        self.finished.wait();
    }
}

/// RSS (KiB) around a burst of finished goroutines: before it, and with
/// all of them parked.
pub struct Burst {
    pub before: usize,
    pub all_live: usize,
}

/// Parks `n` goroutines on a gate, then lets them all finish; checks that
/// their stacks showed in RSS (at least three quarters of a page each).
pub fn park_then_finish(n: usize) -> Burst {
    goro::free_os_memory();
    let before = rss_kib();
    let gate = park_on_gate(n);
    let all_live = rss_kib();
    gate.release();
    let grown = all_live.saturating_sub(before);
    assert!(
        grown >= n * 4 * 3 / 4,
        "the goroutines' stacks did not show in RSS: {grown} KiB"
    );
    Burst { before, all_live }
}

impl Burst {
    /// Polls until RSS has given back at least three quarters of the
    /// growth (not a timing assertion: `give_up` is a generous bound);
    /// returns the RSS then.
    pub fn await_release(&self, give_up: Duration) -> usize {
        let Burst { before, all_live } = *self;
        let grown = all_live.saturating_sub(before);
        let deadline = Instant::now() + give_up;
        let mut after = rss_kib();
        while after.saturating_sub(before) > grown / 4 {
            assert!(
                Instant::now() < deadline,
                "stacks not released: RSS {before} KiB before, {all_live} KiB with all \
                 live, still {after} KiB"
            );
            std::thread::sleep(Duration::from_millis(20));
            after = rss_kib();
        }
        after
    }
}

/// The GOMAXPROCS values every test runs at.
pub const PROCS: [usize; 2] = [1, 4];

/// A body that has not finished by then is reported as hung.
const HANG: Duration = Duration::from_secs(60);

/// Runs `body` as a goroutine at each of [`PROCS`], one at a time with the
/// other tests of this binary. Fails if it panics, or hangs.
pub fn at_procs<F>(body: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let body = Arc::new(body);
    for procs in PROCS {
        let body = body.clone();
        run_at(procs, move || body());
    }
}

/// Runs `body` once as a goroutine at GOMAXPROCS=`procs`.
pub fn run_at<F>(procs: usize, body: F)
where
    F: FnOnce() + Send + 'static,
{
    let _guard = PROCS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let old = goro::set_gomaxprocs(procs);
    let handle = goro::spawn(body);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(handle.join());
    });
    let result = done_rx.recv_timeout(HANG);
    goro::set_gomaxprocs(old);
    match result {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("test body hung for {HANG:?} at GOMAXPROCS={procs}"),
    }
}

/// Counts drops, to check every message is dropped exactly once.
pub struct Counted {
    pub value: usize,
    drops: Arc<AtomicUsize>,
}

impl Counted {
    pub fn new(value: usize, drops: &Arc<AtomicUsize>) -> Counted {
        Counted {
            value,
            drops: drops.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Starts a plain OS thread (not a goroutine) running `f`.
pub fn thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ThreadHandle<T> {
    let (tx, rx) = goro::chan::bounded(1);
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    ThreadHandle(rx)
}

/// A plain thread's result, delivered over a goro channel so that joining
/// from a goroutine parks it instead of blocking its worker.
pub struct ThreadHandle<T>(pub goro::chan::Receiver<std::thread::Result<T>>);

impl<T> ThreadHandle<T> {
    /// Waits for the thread and returns its result, or its panic.
    pub fn join(self) -> std::thread::Result<T> {
        self.0.recv().expect("the thread reports")
    }
}

/// Yields until goroutine `id` is parked in `state` (Go's words, as
/// `goro::dump` gives them): so a test can order its goroutines' waits
/// without assuming how the scheduler interleaves them.
pub fn wait_until_parked(id: goro::GoroutineId, state: &str) {
    while !goro::dump().iter().any(|g| g.id == id && g.state == state) {
        goro::yield_now();
    }
}

/// Whether `n` goroutines that never yield can all run at the same time:
/// each busy-waits (without yielding) until all have arrived, so fewer than
/// `n` workers cannot get them all there. Gives up after 20 s.
pub fn run_in_parallel(n: usize) -> bool {
    let arrived = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let arrived = arrived.clone();
            goro::spawn(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                let start = std::time::Instant::now();
                while arrived.load(Ordering::SeqCst) < n {
                    if start.elapsed().as_secs() > 20 {
                        return false;
                    }
                    std::hint::spin_loop();
                }
                true
            })
        })
        .collect();
    handles.into_iter().all(|h| h.join().unwrap())
}

/// The OS threads that ran `n` goroutines which each yield a few times.
pub fn threads_used(n: usize, spin: u64) -> HashSet<std::thread::ThreadId> {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let seen = seen.clone();
            goro::spawn(move || {
                for _ in 0..4 {
                    let mut x = 1u64;
                    for i in 0..spin {
                        x = std::hint::black_box(x.wrapping_mul(i | 1));
                    }
                    seen.lock().unwrap().insert(std::thread::current().id());
                    goro::yield_now();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let seen = seen.lock().unwrap().clone();
    seen
}

/// Goroutines passing a token round a ring: work that needs a worker.
pub fn ring_of_goroutines(n: usize, laps: usize) -> usize {
    let (first_tx, mut rx) = goro::chan::bounded::<usize>(0);
    for _ in 0..n {
        let (tx, next_rx) = goro::chan::bounded::<usize>(0);
        let prev = rx;
        goro::go!(move || prev.iter().for_each(|v| tx.send(v + 1).unwrap()));
        rx = next_rx;
    }
    let mut total = 0;
    for _ in 0..laps {
        first_tx.send(0).unwrap();
        total += rx.recv().unwrap();
    }
    total
}

/// A goroutine body that receives three calls deep (`outer_a` calls
/// `middle_b` calls `inner_c` calls `recv`), for the traceback tests; none
/// is inlined. Returns what it received plus 3 (0 plus 3 on close).
#[inline(never)]
pub fn outer_a(rx: goro::chan::Receiver<u32>) -> u32 {
    middle_b(rx) + 1
}

#[inline(never)]
fn middle_b(rx: goro::chan::Receiver<u32>) -> u32 {
    inner_c(rx) + 1
}

#[inline(never)]
fn inner_c(rx: goro::chan::Receiver<u32>) -> u32 {
    rx.recv().unwrap_or(0) + 1
}
