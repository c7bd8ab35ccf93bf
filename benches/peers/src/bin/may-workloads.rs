//! `may-workloads NAME`: the workloads of `benches/workloads` (goro) and
//! `benches/go`, same sizes and structure, written the way a may program
//! would: `go!` for goroutines, `may::sync` for channels, locks and
//! WaitGroup, `may::coroutine::{sleep, yield_now}`, may's `select!`. The
//! worker count is GOMAXPROCS (default: the CPUs); stacks are may's default
//! size; workers are not pinned to cores (Go, goro and tokio do not pin).
//! Each workload body runs in a coroutine, as Go's main is a goroutine.
//!
//! Where may differs from Go:
//! - may's channels are unbounded. pingpong, daisychain, mpmc and select use
//!   them as they are (the work done is the same: every value makes the
//!   same hops); the sieve's generator would run ahead without end, so the
//!   sieve uses a one-slot channel made of an mpsc channel and a semaphore.
//! - may's `WaitGroup` counts clones (each coroutine drops its clone when
//!   done), as crossbeam's does, rather than `add`/`done`.
//! - may's `select!` runs each arm in a coroutine of its own; an arm that
//!   received a value and then loses the race is cancelled and its value
//!   dropped (may issue 102). The select workload counts such losses and
//!   reports "not run" with their number when there are any.
//!
//! Sizes, self-checks and reports are goro's (`goro_peers::spec`).

use goro_peers::may_rt::{self, spawn_and_wait};
use goro_peers::{cpu_time, fail, main_with, not_available, rss_kib, spec, Report};
use may::go;
use may::sync::{mpmc, mpsc, Mutex, Semphore, WaitGroup};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    may_rt::configure();
    main_with("may-workloads", WORKLOADS, |&run| {
        // The body's coroutine gets a roomier stack than the default, for
        // formatting and the like; the coroutines it spawns get the default.
        // SAFETY: the closure touches no thread-local state across blocking
        // calls (may's spawn is unsafe only for that reason).
        let main = unsafe {
            may::coroutine::Builder::new()
                .stack_size(0x10000)
                .spawn(run)
        };
        main.unwrap_or_else(|e| fail(&format!("spawn: {e}")))
            .join()
            .unwrap_or_else(|e| {
                let why = e
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                fail(&format!("the workload's coroutine panicked: {why}"))
            })
    });
    // Leave the sieve's blocked coroutines and the like to the OS.
    std::process::exit(0);
}

/// A workload's body, run in a coroutine.
type Workload = fn() -> Report;

/// Every workload of `benches/workloads.json` (checked at start).
const WORKLOADS: &[(&str, Workload)] = &[
    ("spawn", spawn),
    ("parked", parked),
    ("yield", yield_loop),
    ("cpu", cpu),
    ("idle", idle),
    ("pingpong", pingpong),
    ("daisychain", daisychain),
    ("mpmc", mpmc),
    ("select", select),
    ("sieve", sieve),
    ("mutex", mutex),
    ("sleepers", sleepers),
    ("waitgroup", waitgroup),
];

/// Spawn 1,000,000 coroutines that only drop their WaitGroup clone; wait.
fn spawn() -> Report {
    // Not `spawn_and_wait`: the coroutine is all that is measured here, and
    // it holds nothing but the WaitGroup.
    let run = |n: usize| {
        let wg = WaitGroup::new();
        let start = Instant::now();
        for _ in 0..n {
            let wg = wg.clone();
            go!(move || drop(wg));
        }
        wg.wait();
        start.elapsed()
    };
    run(spec::spawn::WARMUP);
    spec::spawn::report(run(spec::spawn::N))
}

/// 1,000,000 coroutines block receiving on one channel; RSS growth per
/// coroutine once all have started, then the channel closes (its only
/// sender dropped) and all finish.
fn parked() -> Report {
    let run = |n: usize| {
        let before = rss_kib();
        let (gate_tx, gate_rx) = mpmc::channel::<()>();
        let (started, done) = (WaitGroup::new(), WaitGroup::new());
        let start = Instant::now();
        for _ in 0..n {
            let (started, done, gate) = (started.clone(), done.clone(), gate_rx.clone());
            go!(move || {
                drop(started);
                let _ = gate.recv();
                drop(done);
            });
        }
        started.wait();
        let parked = rss_kib();
        drop(gate_tx);
        done.wait();
        (before, parked, start.elapsed())
    };
    run(spec::parked::WARMUP);
    let (before, parked, d) = run(spec::parked::N);
    spec::parked::report(before, parked, d)
}

/// Two coroutines each call `yield_now` 1,000,000 times.
fn yield_loop() -> Report {
    let run = |n: usize| {
        let start = Instant::now();
        spawn_and_wait(spec::yield_loop::TASKS, move |_| {
            for _ in 0..n {
                may::coroutine::yield_now();
            }
        });
        start.elapsed()
    };
    run(spec::yield_loop::WARMUP);
    spec::yield_loop::report(run(spec::yield_loop::N))
}

/// 64 CPU-bound coroutines; ms from first spawn to last result.
fn cpu() -> Report {
    let run = |iters: usize| {
        let sums = Arc::new(spec::cpu::Sums::new(spec::cpu::TASKS));
        let task_sums = sums.clone();
        let start = Instant::now();
        spawn_and_wait(spec::cpu::TASKS, move |t| {
            task_sums.set(t, spec::cpu::xorshift_sum(t, iters));
        });
        (start.elapsed(), sums.total())
    };
    run(spec::cpu::WARMUP_ITERS);
    let (d, total) = run(spec::cpu::ITERS);
    spec::cpu::report(d, total)
}

/// 1000 coroutines sleep 2 s; process CPU time as % of one core.
fn idle() -> Report {
    let run = |n: usize, nap: Duration| {
        let (cpu0, start) = (cpu_time(), Instant::now());
        spawn_and_wait(n, move |_| may::coroutine::sleep(nap));
        (start.elapsed(), cpu_time() - cpu0)
    };
    run(spec::idle::TASKS, spec::idle::WARMUP_NAP);
    let (wall, busy) = run(spec::idle::TASKS, spec::idle::NAP);
    spec::idle::report(wall, busy)
}

/// 100,000 coroutines each sleep 10 ms five times; wall time and lateness.
fn sleepers() -> Report {
    use spec::sleepers::{Lateness, ITERS, NAP};
    let run = |n: usize| {
        let late = Arc::new(Lateness::new(n));
        let task_late = late.clone();
        let start = Instant::now();
        spawn_and_wait(n, move |g| {
            for i in 0..ITERS {
                let t0 = Instant::now();
                may::coroutine::sleep(NAP);
                task_late.record(g, i, t0);
            }
        });
        // The clock stops before the samples are sorted, as in Go's.
        let d = start.elapsed();
        (d, late.sorted())
    };
    run(spec::sleepers::WARMUP);
    let (d, late) = run(spec::sleepers::TASKS);
    spec::sleepers::report(d, &late)
}

/// A handoff between two coroutines over two (unbounded) mpsc channels;
/// 1,000,000 round trips.
fn pingpong() -> Report {
    let run = |n: usize| {
        let (ping_tx, ping_rx) = mpsc::channel::<usize>();
        let (pong_tx, pong_rx) = mpsc::channel::<usize>();
        let wg = WaitGroup::new();
        let start = Instant::now();
        let a = wg.clone();
        go!(move || {
            for i in 0..n {
                ping_tx.send(i).unwrap();
                spec::pingpong::check(i, pong_rx.recv().unwrap());
            }
            drop(a);
        });
        let b = wg.clone();
        go!(move || {
            for _ in 0..n {
                pong_tx.send(ping_rx.recv().unwrap()).unwrap();
            }
            drop(b);
        });
        wg.wait();
        start.elapsed()
    };
    run(spec::pingpong::WARMUP);
    spec::pingpong::report(run(spec::pingpong::N))
}

/// A chain of 10,000 coroutines linked by (unbounded) mpsc channels, each
/// forwarding value+1; a feeder pushes 100 values in while main reads them
/// at the end.
fn daisychain() -> Report {
    let (first, mut left) = mpsc::channel::<usize>();
    for _ in 0..spec::daisychain::LINKS {
        let (right_tx, right_rx) = mpsc::channel::<usize>();
        go!(move || link(left, right_tx));
        left = right_rx;
    }
    let last = left;
    let pass = |k: usize| {
        let feed = first.clone();
        go!(move || {
            for i in 0..k {
                feed.send(i).unwrap();
            }
        });
        for i in 0..k {
            spec::daisychain::check(i, last.recv().unwrap());
        }
    };
    pass(spec::daisychain::WARMUP);
    let start = Instant::now();
    pass(spec::daisychain::VALUES);
    let d = start.elapsed();
    drop(first); // shut the chain down
    while last.recv().is_ok() {}
    spec::daisychain::report(d)
}

/// One link of the daisy chain: forwards v+1 until `left` closes.
fn link(left: mpsc::Receiver<usize>, right: mpsc::Sender<usize>) {
    while let Ok(v) = left.recv() {
        if right.send(v + 1).is_err() {
            return;
        }
    }
}

/// 4 producers each send 1..=1,000,000 into one (unbounded, multi-consumer)
/// channel; 4 consumers sum until it closes; the total is checked.
fn mpmc() -> Report {
    use spec::mpmc::{CONSUMERS, PRODUCERS};
    let run = |per_producer: usize| {
        let (tx, rx) = mpmc::channel::<usize>();
        let (sums_tx, sums_rx) = mpsc::channel::<usize>();
        let start = Instant::now();
        for _ in 0..PRODUCERS {
            let tx = tx.clone();
            go!(move || {
                for i in 1..=per_producer {
                    tx.send(i).unwrap();
                }
            });
        }
        drop(tx); // closed once every producer is done
        for _ in 0..CONSUMERS {
            let (rx, sums_tx) = (rx.clone(), sums_tx.clone());
            go!(move || {
                let mut s = 0usize;
                while let Ok(v) = rx.recv() {
                    s += v;
                }
                sums_tx.send(s).unwrap();
            });
        }
        drop(rx);
        let total: usize = (0..CONSUMERS).map(|_| sums_rx.recv().unwrap()).sum();
        let d = start.elapsed();
        spec::mpmc::check(total, per_producer);
        d
    };
    run(spec::mpmc::WARMUP);
    spec::mpmc::report(run(spec::mpmc::PER_PRODUCER))
}

/// Values dropped without being taken by the select loop (see `Val`).
static LOST: AtomicUsize = AtomicUsize::new(0);

/// A value sent through the select workload's channels: dropping one
/// rather than taking it counts it as lost.
struct Val(usize);

impl Val {
    fn take(self) -> usize {
        let v = self.0;
        std::mem::forget(self);
        v
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        LOST.fetch_add(1, Ordering::Relaxed);
    }
}

/// may's `select!` over two (unbounded) channels, each fed 1..=1,000,000 by
/// its own coroutine, until all 2,000,000 values are accounted for; both
/// sums are checked. If may dropped any value, the workload reports how
/// many and exits as "not run", since the sums then cannot match.
fn select() -> Report {
    let run = |n: usize| {
        LOST.store(0, Ordering::Relaxed);
        let (a_tx, a) = mpsc::channel::<Val>();
        let (b_tx, b) = mpsc::channel::<Val>();
        let feed = move |ch: mpsc::Sender<Val>| {
            move || {
                for i in 1..=n {
                    ch.send(Val(i)).unwrap();
                }
            }
        };
        let start = Instant::now();
        // Keep a sender of each here, as Go never closes these channels.
        go!(feed(a_tx.clone()));
        go!(feed(b_tx.clone()));
        let (mut sa, mut sb, mut got) = (0, 0, 0);
        while got + LOST.load(Ordering::Relaxed) < 2 * n {
            let (mut va, mut vb) = (None, None);
            may::select!(
                v = a.recv() => va = v.ok(),
                v = b.recv() => vb = v.ok()
            );
            if let Some(v) = va {
                sa += v.take();
                got += 1;
            }
            if let Some(v) = vb {
                sb += v.take();
                got += 1;
            }
        }
        let d = start.elapsed();
        let lost = LOST.load(Ordering::Relaxed);
        if lost > 0 {
            not_available(
                "select",
                &format!(
                    "may's select! dropped {lost} of {} values (an arm that received a value \
                     and lost the race is cancelled with it, may issue 102)",
                    2 * n
                ),
            );
        }
        drop((a_tx, b_tx));
        spec::select::check(sa, sb, n);
        d
    };
    run(spec::select::WARMUP);
    spec::select::report(run(spec::select::N))
}

/// A channel with room for one value: may's channels are unbounded, so a
/// semaphore counts the free slot (the sender waits for it, the receiver
/// gives it back).
fn one_slot<T>() -> (SlotSender<T>, SlotReceiver<T>) {
    let (tx, rx) = mpsc::channel();
    let room = Arc::new(Semphore::new(1));
    (
        SlotSender {
            tx,
            room: room.clone(),
        },
        SlotReceiver { rx, room },
    )
}

struct SlotSender<T> {
    tx: mpsc::Sender<T>,
    room: Arc<Semphore>,
}

struct SlotReceiver<T> {
    rx: mpsc::Receiver<T>,
    room: Arc<Semphore>,
}

impl<T> SlotSender<T> {
    fn send(&self, v: T) -> Result<(), ()> {
        self.room.wait();
        self.tx.send(v).map_err(|_| ())
    }
}

impl<T> SlotReceiver<T> {
    fn recv(&self) -> Result<T, ()> {
        let v = self.rx.recv().map_err(|_| ())?;
        self.room.post();
        Ok(v)
    }
}

/// The concurrent prime sieve over one-slot channels: the first 3000
/// primes (the 3000th is 27449). The coroutines of each run stay blocked,
/// as in Go.
fn sieve() -> Report {
    let primes = |n: usize| {
        let (tx, mut ch) = one_slot::<usize>();
        go!(move || generate(tx));
        let mut prime = 0;
        for _ in 0..n {
            prime = ch.recv().unwrap();
            let (out, next) = one_slot::<usize>();
            go!(move || filter(ch, out, prime));
            ch = next;
        }
        // Keep the chain blocked forever, as Go leaves it.
        std::mem::forget(ch);
        prime
    };
    primes(spec::sieve::WARMUP);
    let start = Instant::now();
    let p = primes(spec::sieve::PRIMES);
    spec::sieve::report(start.elapsed(), p)
}

/// Sends 2, 3, 4, … on `ch`.
fn generate(ch: SlotSender<usize>) {
    for i in 2.. {
        if ch.send(i).is_err() {
            return;
        }
    }
}

/// Copies `input` to `out`, removing multiples of `prime`.
fn filter(input: SlotReceiver<usize>, out: SlotSender<usize>, prime: usize) {
    while let Ok(i) = input.recv() {
        if i % prime != 0 && out.send(i).is_err() {
            return;
        }
    }
}

/// A contended `may::sync::Mutex`: 1000 coroutines each lock, increment and
/// unlock 1000 times; the counter is checked.
fn mutex() -> Report {
    let run = |tasks: usize, iters: usize| {
        let counter = Arc::new(Mutex::new(0usize));
        let task_counter = counter.clone();
        let start = Instant::now();
        spawn_and_wait(tasks, move |_| {
            for _ in 0..iters {
                *task_counter.lock().unwrap() += 1;
            }
        });
        let d = start.elapsed();
        spec::mutex::check(*counter.lock().unwrap(), tasks, iters);
        d
    };
    run(spec::mutex::WARMUP, spec::mutex::WARMUP);
    spec::mutex::report(run(spec::mutex::TASKS, spec::mutex::ITERS))
}

/// WaitGroup fan-in: 10 rounds of 100,000 coroutines that each add their
/// index to a sum and drop their WaitGroup clone, one `wait` per round; the
/// sum is checked.
fn waitgroup() -> Report {
    let run = |n: usize, reps: usize| {
        let sum = Arc::new(AtomicI64::new(0));
        let start = Instant::now();
        for _ in 0..reps {
            let sum = sum.clone();
            spawn_and_wait(n, move |i| {
                sum.fetch_add(i as i64, Ordering::Relaxed);
            });
        }
        let d = start.elapsed();
        spec::waitgroup::check(sum.load(Ordering::Relaxed), n, reps);
        d
    };
    use spec::waitgroup::{N, REPS, WARMUP_REPS};
    run(N, WARMUP_REPS);
    spec::waitgroup::report(run(N, REPS))
}
