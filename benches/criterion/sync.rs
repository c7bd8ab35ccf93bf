//! Micro benchmarks of `goro::sync`: uncontended Mutex lock/unlock,
//! WaitGroup add/done/wait, RwLock read, from inside a goroutine.

use criterion::{criterion_group, criterion_main, Criterion};
use goro::sync::{Mutex, RwLock, WaitGroup};
use std::hint::black_box;
use std::time::Instant;

/// Lock and unlock a Mutex nobody else uses.
fn mutex_uncontended(c: &mut Criterion) {
    c.bench_function("mutex_lock_unlock", |b| {
        b.iter_custom(|iters| {
            goro::spawn(move || {
                let m = Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..iters {
                    *black_box(&m).lock() += 1;
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });
}

/// `add(1)`, `done()`, `wait()` on a zero counter: the cycle of a
/// WaitGroup nobody else uses.
fn waitgroup_cycle(c: &mut Criterion) {
    c.bench_function("waitgroup_add_done_wait", |b| {
        b.iter_custom(|iters| {
            goro::spawn(move || {
                let wg = WaitGroup::new();
                let start = Instant::now();
                for _ in 0..iters {
                    let wg = black_box(&wg);
                    wg.add(1);
                    wg.done();
                    wg.wait();
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });
}

/// Take and release a read lock nobody else uses.
fn rwlock_read(c: &mut Criterion) {
    c.bench_function("rwlock_read", |b| {
        b.iter_custom(|iters| {
            goro::spawn(move || {
                let lock = RwLock::new(1u64);
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(*black_box(&lock).read());
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });
}

criterion_group!(benches, mutex_uncontended, waitgroup_cycle, rwlock_read);
criterion_main!(benches);
