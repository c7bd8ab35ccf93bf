//! The cost of the execution trace: the ping-pong, spawn+join and a
//! contended Mutex, each with tracing off and on (written to /dev/null, so
//! the writer thread formats every event it keeps but no disk is in the
//! way), in one run so that both see the same machine.

use criterion::{criterion_group, criterion_main, Criterion};
use goro::chan;
use goro::sync::{Mutex, WaitGroup};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `body(iters)`, timed in a goroutine, with a trace recorded if `on`.
fn measured(on: bool, iters: u64, body: fn(u64)) -> Duration {
    if on {
        goro::trace::start("/dev/null").unwrap();
    }
    let d = goro::spawn(move || {
        let start = Instant::now();
        body(iters);
        start.elapsed()
    })
    .join()
    .unwrap();
    if on {
        goro::trace::stop().unwrap();
    }
    d
}

fn pingpong(iters: u64) {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let echo = goro::spawn(move || {
        for v in &ping_rx {
            pong_tx.send(v).unwrap();
        }
    });
    for i in 0..iters {
        ping_tx.send(i).unwrap();
        pong_rx.recv().unwrap();
    }
    drop(ping_tx);
    echo.join().unwrap();
}

fn spawn_join(iters: u64) {
    for _ in 0..iters {
        goro::spawn(|| ()).join().unwrap();
    }
}

/// Four goroutines share `iters` lock/unlock pairs of one Mutex.
fn mutex_contended(iters: u64) {
    let m = Arc::new(Mutex::new(0u64));
    let wg = WaitGroup::new();
    for _ in 0..4 {
        let (m, wg) = (m.clone(), wg.clone());
        wg.add(1);
        goro::spawn(move || {
            for _ in 0..iters / 4 {
                *m.lock() += 1;
            }
            wg.done();
        });
    }
    wg.wait();
}

/// A workload's name and body.
type Workload = (&'static str, fn(u64));

fn trace_cost(c: &mut Criterion) {
    let workloads: [Workload; 3] = [
        ("pingpong", pingpong),
        ("spawn_join", spawn_join),
        ("mutex_contended", mutex_contended),
    ];
    let mut group = c.benchmark_group("trace");
    for (name, body) in workloads {
        for (state, on) in [("off", false), ("on", true)] {
            group.bench_function(format!("{name}/{state}"), |b| {
                b.iter_custom(|iters| measured(on, iters, body))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, trace_cost);
criterion_main!(benches);
