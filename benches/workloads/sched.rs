//! Scheduler workloads: spawn, parked, yield, cpu, idle, sleepers. Each is
//! the Go program of the same name in `benches/go`, line for line.

use crate::{cpu_time, fail, ms, ns_per, rss_kib, Report};
use goro::chan;
use goro::sync::WaitGroup;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Spawn 1,000,000 goroutines that only call `wg.done()`; wait for all.
pub fn spawn() -> Report {
    let run = |n: usize| {
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(n as isize);
        for _ in 0..n {
            let wg = wg.clone();
            goro::spawn(move || wg.done());
        }
        wg.wait();
        start.elapsed()
    };
    const N: usize = 1_000_000;
    run(100_000); // warm-up
    let d = run(N);
    Report::new("spawn", "ns_per_goroutine", "ns", ns_per(d, N))
}

/// 1,000,000 goroutines block receiving on one unbuffered channel; RSS
/// growth per goroutine once all have started, then close and wait.
pub fn parked() -> Report {
    let run = |n: usize| {
        goro::free_os_memory();
        let before = rss_kib();
        let (gate_tx, gate_rx) = chan::bounded::<()>(0);
        let (started, done) = (WaitGroup::new(), WaitGroup::new());
        let start = Instant::now();
        started.add(n as isize);
        done.add(n as isize);
        for _ in 0..n {
            let (started, done, gate) = (started.clone(), done.clone(), gate_rx.clone());
            goro::spawn(move || {
                started.done();
                let _ = gate.recv();
                done.done();
            });
        }
        started.wait();
        let parked = rss_kib();
        gate_tx.close();
        done.wait();
        (before, parked, start.elapsed())
    };
    const N: usize = 1_000_000;
    run(10_000); // small warm-up, so the baseline is not inflated by reusable memory
    let (before, parked, d) = run(N);
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

/// Two goroutines each call `yield_now` 1,000,000 times.
pub fn yield_loop() -> Report {
    let run = |n: usize| {
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(2);
        for _ in 0..2 {
            let wg = wg.clone();
            goro::spawn(move || {
                for _ in 0..n {
                    goro::yield_now();
                }
                wg.done();
            });
        }
        wg.wait();
        start.elapsed()
    };
    const N: usize = 1_000_000;
    run(10_000); // warm-up
    let d = run(N);
    Report::new("yield", "ns_per_yield", "ns", ns_per(d, 2 * N))
}

const CPU_TASKS: usize = 64;
const CPU_ITERS: usize = 6_000_000;

/// The cpu workload's unit of work, as Go's `xorshiftSum`.
fn xorshift_sum(t: usize, iters: usize) -> u64 {
    let mut x = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut sum = 0u64;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum = sum.wrapping_add(x);
    }
    sum
}

/// 64 CPU-bound goroutines; ms from first spawn to last result.
pub fn cpu() -> Report {
    let run = |iters: usize| {
        let sums = Arc::new(Mutex::new(vec![0u64; CPU_TASKS]));
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(CPU_TASKS as isize);
        for t in 0..CPU_TASKS {
            let (wg, sums) = (wg.clone(), sums.clone());
            goro::spawn(move || {
                let s = xorshift_sum(t, iters);
                sums.lock().unwrap()[t] = s;
                wg.done();
            });
        }
        wg.wait();
        let d = start.elapsed();
        let total = sums
            .lock()
            .unwrap()
            .iter()
            .fold(0u64, |a, &s| a.wrapping_add(s));
        (d, total)
    };
    run(CPU_ITERS / 50); // warm-up
    let (d, total) = run(CPU_ITERS);
    Report::new("cpu", "ms_total", "ms", ms(d)).with("checksum", (total & 0xFFFF_FFFF) as f64)
}

/// 1000 goroutines sleep 2 s; process CPU time as % of one core.
pub fn idle() -> Report {
    let run = |n: usize, nap: Duration| {
        let wg = WaitGroup::new();
        let (cpu0, start) = (cpu_time(), Instant::now());
        wg.add(n as isize);
        for _ in 0..n {
            let wg = wg.clone();
            goro::spawn(move || {
                goro::sleep(nap);
                wg.done();
            });
        }
        wg.wait();
        (start.elapsed(), cpu_time() - cpu0)
    };
    run(1000, Duration::from_millis(1)); // warm-up
    let (wall, busy) = run(1000, Duration::from_secs(2));
    Report::new(
        "idle",
        "pct_of_core",
        "%",
        100.0 * busy.as_secs_f64() / wall.as_secs_f64(),
    )
    .with("cpu_ms", ms(busy))
    .with("wall_ms", ms(wall))
}

/// 100,000 goroutines each sleep 10 ms five times; wall time and lateness.
pub fn sleepers() -> Report {
    const ITERS: usize = 5;
    let nap = Duration::from_millis(10);
    let run = |n: usize| {
        let late: Arc<Vec<AtomicU64>> =
            Arc::new((0..n * ITERS).map(|_| AtomicU64::new(0)).collect());
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(n as isize);
        for g in 0..n {
            let (wg, late) = (wg.clone(), late.clone());
            goro::spawn(move || {
                for i in 0..ITERS {
                    let t0 = Instant::now();
                    goro::sleep(nap);
                    let over = t0.elapsed().saturating_sub(nap);
                    late[g * ITERS + i].store(over.as_nanos() as u64, Ordering::Relaxed);
                }
                wg.done();
            });
        }
        wg.wait();
        let mut late: Vec<u64> = late.iter().map(|l| l.load(Ordering::Relaxed)).collect();
        late.sort_unstable();
        (start.elapsed(), late)
    };
    run(1000); // warm-up
    let (d, late) = run(100_000);
    if late.is_empty() {
        fail("sleepers: no samples");
    }
    let pct = |p: usize| late[(late.len() * p / 100).min(late.len() - 1)] as f64 / 1e3;
    Report::new("sleepers", "ms_wall", "ms", ms(d))
        .with("late_p50_us", pct(50))
        .with("late_p99_us", pct(99))
}
