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

/// One `yield_now` with one other goroutine runnable (a switch out and in).
fn yield_pair(c: &mut Criterion) {
    c.bench_function("yield_pair", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    goro::spawn(move || {
                        for _ in 0..iters / 2 + 1 {
                            goro::yield_now();
                        }
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            start.elapsed()
        })
    });
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

criterion_group!(benches, spawn_join, yield_pair, blocking_round_trip);
criterion_main!(benches);
