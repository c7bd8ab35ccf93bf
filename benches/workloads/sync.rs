//! Sync workloads: mutex, waitgroup. Each is the Go program of the same
//! name in `benches/go`, line for line.

use crate::{fail, ns_per, Report};
use goro::sync::{Mutex, WaitGroup};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A contended Mutex: 1000 goroutines each lock, increment a shared counter
/// and unlock 1000 times (1,000,000 locks); the counter is checked.
pub fn mutex() -> Report {
    let run = |goroutines: usize, iters: usize| -> Duration {
        let counter = Arc::new(Mutex::new(0usize));
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(goroutines as isize);
        for _ in 0..goroutines {
            let (counter, wg) = (counter.clone(), wg.clone());
            goro::spawn(move || {
                for _ in 0..iters {
                    *counter.lock() += 1;
                }
                wg.done();
            });
        }
        wg.wait();
        let d = start.elapsed();
        let counter = *counter.lock();
        if counter != goroutines * iters {
            fail(&format!(
                "mutex: counter {counter}, want {}",
                goroutines * iters
            ));
        }
        d
    };
    const GOROUTINES: usize = 1000;
    const ITERS: usize = 1000;
    run(100, 100); // warm-up
    let d = run(GOROUTINES, ITERS);
    Report::new("mutex", "ns_per_lock", "ns", ns_per(d, GOROUTINES * ITERS))
}

/// WaitGroup fan-in: 10 rounds of 100,000 goroutines that each add their
/// index to a sum and call `done`, with one `wait` per round; the sum is
/// checked.
pub fn waitgroup() -> Report {
    let run = |n: usize, reps: usize| -> Duration {
        let sum = Arc::new(AtomicI64::new(0));
        let start = Instant::now();
        for _ in 0..reps {
            let wg = WaitGroup::new();
            wg.add(n as isize);
            for i in 0..n {
                let (sum, wg) = (sum.clone(), wg.clone());
                goro::spawn(move || {
                    sum.fetch_add(i as i64, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
        }
        let d = start.elapsed();
        let want = reps as i64 * n as i64 * (n as i64 - 1) / 2;
        let got = sum.load(Ordering::Relaxed);
        if got != want {
            fail(&format!("waitgroup: sum {got}, want {want}"));
        }
        d
    };
    const N: usize = 100_000;
    const REPS: usize = 10;
    run(N, 1); // warm-up
    let d = run(N, REPS);
    Report::new("waitgroup", "ns_per_goroutine", "ns", ns_per(d, N * REPS))
}
