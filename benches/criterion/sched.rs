//! Micro benchmarks of the scheduler: spawn+join, yield, and the cost of
//! wrapping a quick call in `goro::blocking` against calling it plainly.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Instant;

/// Spawning a goroutine and joining it, from inside a goroutine.
fn spawn_join(c: &mut Criterion) {
    c.bench_function("spawn_join", |b| {
        b.iter_custom(|iters| {
            goro::spawn(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    goro::spawn(|| ()).join().unwrap();
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });
}

/// `yield_now`: with one other goroutine runnable on the same worker (a
/// switch out and in; GOMAXPROCS 1 for the measurement), and with nothing
/// else to run (the worker resumes it at once).
fn yield_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield");
    group.bench_function("one_other_runnable", |b| {
        b.iter_custom(|iters| {
            let procs = goro::set_gomaxprocs(1);
            let elapsed = yielders(2, iters);
            goro::set_gomaxprocs(procs);
            elapsed
        })
    });
    group.bench_function("nothing_else_runnable", |b| {
        b.iter_custom(|iters| yielders(1, iters))
    });
    group.finish();
}

/// Times `n` goroutines that yield `iters` times between them.
fn yielders(n: u64, iters: u64) -> std::time::Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            goro::spawn(move || {
                for _ in 0..iters / n + 1 {
                    goro::yield_now();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    start.elapsed()
}

/// Times `iters` runs of `call` inside one goroutine.
fn in_goroutine(iters: u64, call: fn(u64) -> u64) -> std::time::Duration {
    goro::spawn(move || {
        let start = Instant::now();
        for i in 0..iters {
            std::hint::black_box(call(std::hint::black_box(i)));
        }
        start.elapsed()
    })
    .join()
    .unwrap()
}

/// A quick call (one `getppid` system call), plainly and through
/// `goro::blocking`, from a goroutine: the round trip's overhead.
fn blocking_round_trip(c: &mut Criterion) {
    fn syscall(i: u64) -> u64 {
        // SAFETY: getppid has no preconditions.
        i + unsafe { libc::getppid() } as u64
    }
    let mut group = c.benchmark_group("blocking");
    group.bench_function("plain_call", |b| {
        b.iter_custom(|iters| in_goroutine(iters, syscall))
    });
    group.bench_function("blocking_call", |b| {
        b.iter_custom(|iters| in_goroutine(iters, |i| goro::blocking(|| syscall(i))))
    });
    group.finish();
}

criterion_group!(benches, spawn_join, yield_now, blocking_round_trip);
criterion_main!(benches);
