//! Micro benchmarks of the runtime's timers: arming and stopping a timer
//! (insert + cancel in a worker's heap), and a goroutine's zero-length
//! sleep round trip through the timer heap.

mod common;
use common::in_goroutine;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

fn timer_insert_cancel(c: &mut Criterion) {
    c.bench_function("timer_insert_cancel", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let timer = goro::time::Timer::new(Duration::from_secs(60));
                    timer.stop();
                }
                start.elapsed()
            })
        })
    });
}

fn sleep_1us(c: &mut Criterion) {
    c.bench_function("sleep_1us", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    goro::sleep(Duration::from_micros(1));
                }
                start.elapsed()
            })
        })
    });
}

criterion_group!(benches, timer_insert_cancel, sleep_1us);
criterion_main!(benches);
