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
//! - tokio has no WaitGroup: a counter plus `Notify` (below) stands in.
//! - mpmc: tokio has no multi-consumer channel, so that workload is not run.

use goro_peers::{
    cpu_time, main_with, ms, not_available, ns_per, percentile_us, procs, rss_kib, xorshift_sum,
    Report, CPU_ITERS, CPU_TASKS,
};
use std::sync::atomic::{AtomicI64, AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Mutex, Notify};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .enable_all()
        .build()
        .unwrap_or_else(|e| goro_peers::fail(&format!("tokio runtime: {e}")));
    main_with("tokio-workloads", |name| {
        let name = name.to_string();
        rt.block_on(async move { tokio::spawn(run(name)).await })
            .unwrap_or_else(|e| goro_peers::fail(&format!("workload task: {e}")))
    });
    // Leave the sieve's blocked tasks and the like to the OS.
    std::process::exit(0);
}

async fn run(name: String) -> Report {
    match name.as_str() {
        "spawn" => spawn().await,
        "parked" => parked().await,
        "yield" => yield_loop().await,
        "cpu" => cpu().await,
        "idle" => idle().await,
        "pingpong" => pingpong().await,
        "daisychain" => daisychain().await,
        "mpmc" => not_available(
            "mpmc",
            "tokio has no multi-consumer channel (mpsc has one receiver; broadcast gives every \
             value to every receiver), so 4 consumers cannot share one channel",
        ),
        "select" => select().await,
        "sieve" => sieve().await,
        "mutex" => mutex().await,
        "sleepers" => sleepers().await,
        "waitgroup" => waitgroup().await,
        other => goro_peers::fail(&format!("unknown workload {other}")),
    }
}

/// Go's `sync.WaitGroup` for tasks: a counter, and a `Notify` whose stored
/// permit makes a `done` that runs before `wait` starts waiting not lost.
#[derive(Clone)]
struct WaitGroup(Arc<(AtomicIsize, Notify)>);

impl WaitGroup {
    fn new() -> WaitGroup {
        WaitGroup(Arc::new((AtomicIsize::new(0), Notify::new())))
    }

    fn add(&self, n: isize) {
        self.0 .0.fetch_add(n, Ordering::AcqRel);
    }

    fn done(&self) {
        if self.0 .0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0 .1.notify_one();
        }
    }

    async fn wait(&self) {
        while self.0 .0.load(Ordering::Acquire) != 0 {
            self.0 .1.notified().await;
        }
    }
}

/// Spawn 1,000,000 tasks that only call `wg.done()`; wait for all.
async fn spawn() -> Report {
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
    const N: usize = 1_000_000;
    run(100_000).await; // warm-up
    let d = run(N).await;
    Report::new("spawn", "ns_per_goroutine", "ns", ns_per(d, N))
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
    const N: usize = 1_000_000;
    run(10_000).await; // small warm-up
    let (before, parked, d) = run(N).await;
    Report::new(
        "parked",
        "kib_rss_per_goroutine",
        "KiB",
        (parked - before) / N as f64,
    )
    .with("ns_per_goroutine", ns_per(d, N))
    .with("rss_before_kib", before)
    .with("rss_parked_kib", parked)
}

/// Two tasks each call `yield_now` 1,000,000 times.
async fn yield_loop() -> Report {
    async fn run(n: usize) -> Duration {
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(2);
        for _ in 0..2 {
            let wg = wg.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
                wg.done();
            });
        }
        wg.wait().await;
        start.elapsed()
    }
    const N: usize = 1_000_000;
    run(10_000).await; // warm-up
    let d = run(N).await;
    Report::new("yield", "ns_per_yield", "ns", ns_per(d, 2 * N))
}

/// 64 CPU-bound tasks; ms from first spawn to last result.
async fn cpu() -> Report {
    async fn run(iters: usize) -> (Duration, u64) {
        let sums = Arc::new(std::sync::Mutex::new(vec![0u64; CPU_TASKS]));
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(CPU_TASKS as isize);
        for t in 0..CPU_TASKS {
            let (wg, sums) = (wg.clone(), sums.clone());
            tokio::spawn(async move {
                let s = xorshift_sum(t, iters);
                sums.lock().unwrap()[t] = s;
                wg.done();
            });
        }
        wg.wait().await;
        let d = start.elapsed();
        let total = sums
            .lock()
            .unwrap()
            .iter()
            .fold(0u64, |a, &s| a.wrapping_add(s));
        (d, total)
    }
    run(CPU_ITERS / 50).await; // warm-up
    let (d, total) = run(CPU_ITERS).await;
    Report::new("cpu", "ms_total", "ms", ms(d)).with("checksum", (total & 0xFFFF_FFFF) as f64)
}

/// 1000 tasks sleep 2 s; process CPU time as % of one core.
async fn idle() -> Report {
    async fn run(n: usize, nap: Duration) -> (Duration, Duration) {
        let wg = WaitGroup::new();
        let (cpu0, start) = (cpu_time(), Instant::now());
        wg.add(n as isize);
        for _ in 0..n {
            let wg = wg.clone();
            tokio::spawn(async move {
                tokio::time::sleep(nap).await;
                wg.done();
            });
        }
        wg.wait().await;
        (start.elapsed(), cpu_time() - cpu0)
    }
    run(1000, Duration::from_millis(1)).await; // warm-up
    let (wall, busy) = run(1000, Duration::from_secs(2)).await;
    Report::new(
        "idle",
        "pct_of_core",
        "%",
        100.0 * busy.as_secs_f64() / wall.as_secs_f64(),
    )
    .with("cpu_ms", ms(busy))
    .with("wall_ms", ms(wall))
}

/// 100,000 tasks each sleep 10 ms five times; wall time and lateness.
async fn sleepers() -> Report {
    const ITERS: usize = 5;
    async fn run(n: usize) -> (Duration, Vec<u64>) {
        let nap = Duration::from_millis(10);
        let late: Arc<Vec<AtomicU64>> =
            Arc::new((0..n * ITERS).map(|_| AtomicU64::new(0)).collect());
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(n as isize);
        for g in 0..n {
            let (wg, late) = (wg.clone(), late.clone());
            tokio::spawn(async move {
                for i in 0..ITERS {
                    let t0 = Instant::now();
                    tokio::time::sleep(nap).await;
                    let over = t0.elapsed().saturating_sub(nap);
                    late[g * ITERS + i].store(over.as_nanos() as u64, Ordering::Relaxed);
                }
                wg.done();
            });
        }
        wg.wait().await;
        let mut late: Vec<u64> = late.iter().map(|l| l.load(Ordering::Relaxed)).collect();
        late.sort_unstable();
        (start.elapsed(), late)
    }
    run(1000).await; // warm-up
    let (d, late) = run(100_000).await;
    Report::new("sleepers", "ms_wall", "ms", ms(d))
        .with("late_p50_us", percentile_us(&late, 50))
        .with("late_p99_us", percentile_us(&late, 99))
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
                let v = pong_rx.recv().await.unwrap();
                if v != i {
                    goro_peers::fail(&format!("pingpong: got {v}, want {i}"));
                }
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
    const N: usize = 1_000_000;
    run(10_000).await; // warm-up
    let d = run(N).await;
    Report::new("pingpong", "ns_per_roundtrip", "ns", ns_per(d, N))
}

/// A chain of 10,000 tasks linked by `mpsc::channel(1)`s, each forwarding
/// value+1; a feeder pushes 100 values in while main reads them at the end.
async fn daisychain() -> Report {
    const N: usize = 10_000;
    const VALUES: usize = 100;
    let (first, mut left) = mpsc::channel::<usize>(1);
    for _ in 0..N {
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
            let v = last.recv().await.unwrap();
            if v != i + N {
                goro_peers::fail(&format!("daisychain: got {v}, want {}", i + N));
            }
        }
    }
    pass(&first, &mut last, 10).await; // warm-up
    let start = Instant::now();
    pass(&first, &mut last, VALUES).await;
    let d = start.elapsed();
    drop(first); // shut the chain down
    while last.recv().await.is_some() {}
    Report::new("daisychain", "ns_per_hop", "ns", ns_per(d, VALUES * N))
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
        let (a_tx, mut a) = mpsc::channel::<usize>(128);
        let (b_tx, mut b) = mpsc::channel::<usize>(128);
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
        let want = n * (n + 1) / 2;
        if sa != want || sb != want {
            goro_peers::fail(&format!("select: sums {sa}, {sb}, want {want}"));
        }
        d
    }
    const N: usize = 1_000_000;
    run(N / 100).await; // warm-up
    let d = run(N).await;
    Report::new("select", "ns_per_select", "ns", ns_per(d, 2 * N))
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
    primes(300).await; // warm-up
    let start = Instant::now();
    let p = primes(3000).await;
    let d = start.elapsed();
    if p != 27449 {
        goro_peers::fail(&format!("sieve: 3000th prime {p}, want 27449"));
    }
    Report::new("sieve", "ms_total", "ms", ms(d))
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
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(tasks as isize);
        for _ in 0..tasks {
            let (counter, wg) = (counter.clone(), wg.clone());
            tokio::spawn(async move {
                for _ in 0..iters {
                    *counter.lock().await += 1;
                }
                wg.done();
            });
        }
        wg.wait().await;
        let d = start.elapsed();
        let counter = *counter.lock().await;
        if counter != tasks * iters {
            goro_peers::fail(&format!("mutex: counter {counter}, want {}", tasks * iters));
        }
        d
    }
    const TASKS: usize = 1000;
    const ITERS: usize = 1000;
    run(100, 100).await; // warm-up
    let d = run(TASKS, ITERS).await;
    Report::new("mutex", "ns_per_lock", "ns", ns_per(d, TASKS * ITERS))
}

/// WaitGroup fan-in: 10 rounds of 100,000 tasks that each add their index
/// to a sum and call `done`, one `wait` per round; the sum is checked.
async fn waitgroup() -> Report {
    async fn run(n: usize, reps: usize) -> Duration {
        let sum = Arc::new(AtomicI64::new(0));
        let start = Instant::now();
        for _ in 0..reps {
            let wg = WaitGroup::new();
            wg.add(n as isize);
            for i in 0..n {
                let (sum, wg) = (sum.clone(), wg.clone());
                tokio::spawn(async move {
                    sum.fetch_add(i as i64, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait().await;
        }
        let d = start.elapsed();
        let want = reps as i64 * n as i64 * (n as i64 - 1) / 2;
        let got = sum.load(Ordering::Relaxed);
        if got != want {
            goro_peers::fail(&format!("waitgroup: sum {got}, want {want}"));
        }
        d
    }
    const N: usize = 100_000;
    const REPS: usize = 10;
    run(N, 1).await; // warm-up
    let d = run(N, REPS).await;
    Report::new("waitgroup", "ns_per_goroutine", "ns", ns_per(d, N * REPS))
}
