//! Helpers shared by the `chan_*` test files, each of which includes this
//! file with `#[path = "chan_util.rs"] mod util;` (cargo also builds it
//! alone, as a test binary without tests).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// GOMAXPROCS is process-global and the tests of one binary run in
/// parallel threads: every test body runs under this lock.
static LOCK: Mutex<()> = Mutex::new(());

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
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
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
