//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Serialises the tests of one binary that change GOMAXPROCS.
static PROCS: Mutex<()> = Mutex::new(());

/// Runs `body` with GOMAXPROCS set to `n`, then restores it.
pub fn with_procs<R>(n: usize, body: impl FnOnce() -> R) -> R {
    let _lock = PROCS.lock().unwrap_or_else(|p| p.into_inner());
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
