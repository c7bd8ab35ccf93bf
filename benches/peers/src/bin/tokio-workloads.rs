//! `tokio-workloads NAME`: the workloads of `benches/workloads` (goro) and
//! `benches/go`, same sizes and structure, written the way a tokio program
//! would: `tokio::spawn` for goroutines, `tokio::sync` for channels and
//! locks, `tokio::time::sleep`, `tokio::select!`, `yield_now`. The runtime is
//! multi-threaded with `worker_threads` = GOMAXPROCS (default: the CPUs), and
//! each workload body runs in a spawned task, as Go's main is a goroutine.
//!
//! Where tokio differs from Go:
//! - tokio has no unbuffered channel: `mpsc::channel(1)` stands in for Go's
//!   `make(chan int)` (pingpong, daisychain, sieve).
//! - tokio has no WaitGroup: a counter plus `Notify` (`tokio_rt::WaitGroup`)
//!   stands in.
//! - mpmc: tokio has no multi-consumer channel, so that workload is not run.
//!
//! Sizes, self-checks and reports are goro's (`goro_peers::spec`).

use goro_peers::tokio_rt::{self, spawn_and_wait, WaitGroup};
use goro_peers::{cpu_time, fail, main_with, not_available, rss_kib, spec, Report};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Mutex};

fn main() {
    let rt = tokio_rt::runtime().unwrap_or_else(|e| fail(&format!("tokio runtime: {e}")));
    main_with("tokio-workloads", WORKLOADS, |run| {
        rt.block_on(async move { tokio::spawn(run()).await })
            .unwrap_or_else(|e| fail(&format!("workload task: {e}")))
    });
    // Leave the sieve's blocked tasks and the like to the OS.
    std::process::exit(0);
}

/// A workload's body, a future to spawn.
type Workload = fn() -> Pin<Box<dyn Future<Output = Report> + Send>>;

/// Every workload of `benches/workloads.json` (checked at start).
const WORKLOADS: &[(&str, Workload)] = &[
    ("spawn", || Box::pin(spawn())),
    ("parked", || Box::pin(parked())),
    ("yield", || Box::pin(yield_loop())),
    ("cpu", || Box::pin(cpu())),
    ("idle", || Box::pin(idle())),
    ("pingpong", || Box::pin(pingpong())),
    ("daisychain", || Box::pin(daisychain())),
    ("mpmc", || {
        not_available(
            "mpmc",
            "tokio has no multi-consumer channel (mpsc has one receiver; broadcast gives every \
             value to every receiver), so 4 consumers cannot share one channel",
        )
    }),
    ("select", || Box::pin(select())),
    ("sieve", || Box::pin(sieve())),
    ("mutex", || Box::pin(mutex())),
    ("sleepers", || Box::pin(sleepers())),
    ("waitgroup", || Box::pin(waitgroup())),
];

/// Spawn 1,000,000 tasks that only call `wg.done()`; wait for all.
async fn spawn() -> Report {
    // Not `spawn_and_wait`: the task is all that is measured here, and it
    // holds nothing but the WaitGroup.
    async fn run(n: usize) -> Duration {
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(n as isize);
        for _ in 0..n {
            let wg = wg.clone();
            tokio::spawn(async move { wg.done() });
        }
        wg.wait().await;
        start.elapsed()
    }
    run(spec::spawn::WARMUP).await;
    spec::spawn::report(run(spec::spawn::N).await)
}

/// 1,000,000 tasks wait on one gate; RSS growth per task once all have
/// started, then the gate closes (a `watch` sender dropped: every receiver
/// wakes, as a closed Go channel wakes every receiver) and all finish.
async fn parked() -> Report {
    async fn run(n: usize) -> (f64, f64, Duration) {
        let before = rss_kib();
        let (gate_tx, gate_rx) = watch::channel(());
        let (started, done) = (WaitGroup::new(), WaitGroup::new());
        let start = Instant::now();
        started.add(n as isize);
        done.add(n as isize);
        for _ in 0..n {
            let (started, done, mut gate) = (started.clone(), done.clone(), gate_rx.clone());
            tokio::spawn(async move {
                started.done();
                let _ = gate.changed().await;
                done.done();
            });
        }
        started.wait().await;
        let parked = rss_kib();
        drop(gate_tx);
        done.wait().await;
        (before, parked, start.elapsed())
    }
    run(spec::parked::WARMUP).await;
    let (before, parked, d) = run(spec::parked::N).await;
    spec::parked::report(before, parked, d)
}

/// Two tasks each call `yield_now` 1,000,000 times.
async fn yield_loop() -> Report {
    async fn run(n: usize) -> Duration {
        let start = Instant::now();
        spawn_and_wait(spec::yield_loop::TASKS, move |_| async move {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        })
        .await;
        start.elapsed()
    }
    run(spec::yield_loop::WARMUP).await;
    spec::yield_loop::report(run(spec::yield_loop::N).await)
}

/// 64 CPU-bound tasks; ms from first spawn to last result.
async fn cpu() -> Report {
    async fn run(iters: usize) -> (Duration, u64) {
        let sums = Arc::new(spec::cpu::Sums::new(spec::cpu::TASKS));
        let task_sums = sums.clone();
        let start = Instant::now();
        spawn_and_wait(spec::cpu::TASKS, move |t| async move {
            task_sums.set(t, spec::cpu::xorshift_sum(t, iters));
        })
        .await;
        (start.elapsed(), sums.total())
    }
    run(spec::cpu::WARMUP_ITERS).await;
    let (d, total) = run(spec::cpu::ITERS).await;
    spec::cpu::report(d, total)
}

/// 1000 tasks sleep 2 s; process CPU time as % of one core.
async fn idle() -> Report {
    async fn run(n: usize, nap: Duration) -> (Duration, Duration) {
        let (cpu0, start) = (cpu_time(), Instant::now());
        spawn_and_wait(n, move |_| tokio::time::sleep(nap)).await;
        (start.elapsed(), cpu_time() - cpu0)
    }
    run(spec::idle::TASKS, spec::idle::WARMUP_NAP).await;
    let (wall, busy) = run(spec::idle::TASKS, spec::idle::NAP).await;
    spec::idle::report(wall, busy)
}

/// 100,000 tasks each sleep 10 ms five times; wall time and lateness.
async fn sleepers() -> Report {
    use spec::sleepers::{Lateness, ITERS, NAP};
    async fn run(n: usize) -> (Duration, Vec<u64>) {
        let late = Arc::new(Lateness::new(n));
        let task_late = late.clone();
        let start = Instant::now();
        spawn_and_wait(n, move |g| async move {
            for i in 0..ITERS {
                let t0 = Instant::now();
                tokio::time::sleep(NAP).await;
                task_late.record(g, i, t0);
            }
        })
        .await;
        // The clock stops before the samples are sorted, as in Go's.
        let d = start.elapsed();
        (d, late.sorted())
    }
    run(spec::sleepers::WARMUP).await;
    let (d, late) = run(spec::sleepers::TASKS).await;
    spec::sleepers::report(d, &late)
}

/// A handoff between two tasks over two `mpsc::channel(1)`s (tokio's
/// closest to an unbuffered channel); 1,000,000 round trips.
async fn pingpong() -> Report {
    async fn run(n: usize) -> Duration {
        let (ping_tx, mut ping_rx) = mpsc::channel::<usize>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(2);
        let a = wg.clone();
        tokio::spawn(async move {
            for i in 0..n {
                ping_tx.send(i).await.unwrap();
                spec::pingpong::check(i, pong_rx.recv().await.unwrap());
            }
            a.done();
        });
        let b = wg.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                pong_tx.send(ping_rx.recv().await.unwrap()).await.unwrap();
            }
            b.done();
        });
        wg.wait().await;
        start.elapsed()
    }
    run(spec::pingpong::WARMUP).await;
    spec::pingpong::report(run(spec::pingpong::N).await)
}

/// A chain of 10,000 tasks linked by `mpsc::channel(1)`s, each forwarding
/// value+1; a feeder pushes 100 values in while main reads them at the end.
async fn daisychain() -> Report {
    let (first, mut left) = mpsc::channel::<usize>(1);
    for _ in 0..spec::daisychain::LINKS {
        let (right_tx, right_rx) = mpsc::channel::<usize>(1);
        tokio::spawn(link(left, right_tx));
        left = right_rx;
    }
    let mut last = left;
    async fn pass(first: &mpsc::Sender<usize>, last: &mut mpsc::Receiver<usize>, k: usize) {
        let feed = first.clone();
        tokio::spawn(async move {
            for i in 0..k {
                feed.send(i).await.unwrap();
            }
        });
        for i in 0..k {
            spec::daisychain::check(i, last.recv().await.unwrap());
        }
    }
    pass(&first, &mut last, spec::daisychain::WARMUP).await;
    let start = Instant::now();
    pass(&first, &mut last, spec::daisychain::VALUES).await;
    let d = start.elapsed();
    drop(first); // shut the chain down
    while last.recv().await.is_some() {}
    spec::daisychain::report(d)
}

/// One link of the daisy chain: forwards v+1 until `left` closes.
async fn link(mut left: mpsc::Receiver<usize>, right: mpsc::Sender<usize>) {
    while let Some(v) = left.recv().await {
        if right.send(v + 1).await.is_err() {
            return;
        }
    }
}

/// `tokio::select!` over two `mpsc::channel(128)`s, each fed 1..=1,000,000
/// by its own task, until 2,000,000 values are in; both sums are checked.
/// (`select!` polls its branches in a random order, as Go's select does.)
async fn select() -> Report {
    async fn run(n: usize) -> Duration {
        let (a_tx, mut a) = mpsc::channel::<usize>(spec::select::CAP);
        let (b_tx, mut b) = mpsc::channel::<usize>(spec::select::CAP);
        let feed = |ch: mpsc::Sender<usize>| async move {
            for i in 1..=n {
                ch.send(i).await.unwrap();
            }
        };
        let start = Instant::now();
        // Keep a sender of each here, as Go never closes these channels.
        tokio::spawn(feed(a_tx.clone()));
        tokio::spawn(feed(b_tx.clone()));
        let (mut sa, mut sb) = (0, 0);
        for _ in 0..2 * n {
            tokio::select! {
                Some(v) = a.recv() => sa += v,
                Some(v) = b.recv() => sb += v,
            }
        }
        let d = start.elapsed();
        drop((a_tx, b_tx));
        spec::select::check(sa, sb, n);
        d
    }
    run(spec::select::WARMUP).await;
    spec::select::report(run(spec::select::N).await)
}

/// The concurrent prime sieve over `mpsc::channel(1)`s: the first 3000
/// primes (the 3000th is 27449). The tasks of each run stay blocked, as in Go.
async fn sieve() -> Report {
    async fn primes(n: usize) -> usize {
        let (tx, mut ch) = mpsc::channel::<usize>(1);
        tokio::spawn(generate(tx));
        let mut prime = 0;
        for _ in 0..n {
            prime = ch.recv().await.unwrap();
            let (out, next) = mpsc::channel::<usize>(1);
            tokio::spawn(filter(ch, out, prime));
            ch = next;
        }
        // Keep the chain blocked forever, as Go leaves it.
        std::mem::forget(ch);
        prime
    }
    primes(spec::sieve::WARMUP).await;
    let start = Instant::now();
    let p = primes(spec::sieve::PRIMES).await;
    spec::sieve::report(start.elapsed(), p)
}

/// Sends 2, 3, 4, … on `ch`.
async fn generate(ch: mpsc::Sender<usize>) {
    for i in 2.. {
        if ch.send(i).await.is_err() {
            return;
        }
    }
}

/// Copies `input` to `out`, removing multiples of `prime`.
async fn filter(mut input: mpsc::Receiver<usize>, out: mpsc::Sender<usize>, prime: usize) {
    while let Some(i) = input.recv().await {
        if i % prime != 0 && out.send(i).await.is_err() {
            return;
        }
    }
}

/// A contended `tokio::sync::Mutex`: 1000 tasks each lock, increment and
/// unlock 1000 times; the counter is checked.
async fn mutex() -> Report {
    async fn run(tasks: usize, iters: usize) -> Duration {
        let counter = Arc::new(Mutex::new(0usize));
        let task_counter = counter.clone();
        let start = Instant::now();
        spawn_and_wait(tasks, move |_| async move {
            for _ in 0..iters {
                *task_counter.lock().await += 1;
            }
        })
        .await;
        let d = start.elapsed();
        spec::mutex::check(*counter.lock().await, tasks, iters);
        d
    }
    run(spec::mutex::WARMUP, spec::mutex::WARMUP).await;
    spec::mutex::report(run(spec::mutex::TASKS, spec::mutex::ITERS).await)
}

/// WaitGroup fan-in: 10 rounds of 100,000 tasks that each add their index
/// to a sum and call `done`, one `wait` per round; the sum is checked.
async fn waitgroup() -> Report {
    async fn run(n: usize, reps: usize) -> Duration {
        let sum = Arc::new(AtomicI64::new(0));
        let start = Instant::now();
        for _ in 0..reps {
            let sum = sum.clone();
            spawn_and_wait(n, move |i| async move {
                sum.fetch_add(i as i64, Ordering::Relaxed);
            })
            .await;
        }
        let d = start.elapsed();
        spec::waitgroup::check(sum.load(Ordering::Relaxed), n, reps);
        d
    }
    use spec::waitgroup::{N, REPS, WARMUP_REPS};
    run(N, WARMUP_REPS).await;
    spec::waitgroup::report(run(N, REPS).await)
}
