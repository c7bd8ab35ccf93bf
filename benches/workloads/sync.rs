//! Sync workloads: mutex, waitgroup. Each is the Go program of the same
//! name in `benches/go`, line for line; sizes, checks and reports are in
//! `spec`.

use crate::report::Report;
use crate::spec;
use goro::sync::{Mutex, WaitGroup};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A contended Mutex: 1000 goroutines each lock, increment a shared counter
/// and unlock 10,000 times (10,000,000 locks); the counter is checked.
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
        spec::mutex::check(*counter.lock(), goroutines, iters);
        d
    };
    run(spec::mutex::WARMUP, spec::mutex::WARMUP);
    spec::mutex::report(run(spec::mutex::TASKS, spec::mutex::ITERS))
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
        spec::waitgroup::check(sum.load(Ordering::Relaxed), n, reps);
        d
    };
    use spec::waitgroup::{N, REPS, WARMUP_REPS};
    run(N, WARMUP_REPS);
    spec::waitgroup::report(run(N, REPS))
}
