//! Micro benchmarks of the scheduler: spawn+join and yield.

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

criterion_group!(benches, spawn_join, yield_pair);
criterion_main!(benches);
