//! Micro benchmarks of channels: a send+receive between two goroutines for
//! each kind of channel, uncontended `try_send`+`try_recv`, a select over
//! two ready channels, and crossbeam-channel between two OS threads for
//! comparison. Each reports time per message (per select for `select`).

mod common;
use common::in_goroutine;
use criterion::{criterion_group, criterion_main, Criterion};
use goro::chan;
use std::time::{Duration, Instant};

/// `iters` messages from a producer goroutine to a consumer goroutine.
fn goro_stream(iters: u64, cap: Option<usize>) -> Duration {
    in_goroutine(move || {
        let (s, r) = match cap {
            Some(cap) => chan::bounded::<u64>(cap),
            None => chan::unbounded(),
        };
        let start = Instant::now();
        let producer = goro::spawn(move || (0..iters).for_each(|i| s.send(i).unwrap()));
        for _ in 0..iters {
            r.recv().unwrap();
        }
        producer.join().unwrap();
        start.elapsed()
    })
}

/// The same between two OS threads with crossbeam-channel.
fn crossbeam_stream(iters: u64, cap: Option<usize>) -> Duration {
    let (s, r) = match cap {
        Some(cap) => crossbeam_channel::bounded::<u64>(cap),
        None => crossbeam_channel::unbounded(),
    };
    let start = Instant::now();
    let producer = std::thread::spawn(move || (0..iters).for_each(|i| s.send(i).unwrap()));
    for _ in 0..iters {
        r.recv().unwrap();
    }
    producer.join().unwrap();
    start.elapsed()
}

const KINDS: [(&str, Option<usize>); 3] = [
    ("unbuffered", Some(0)),
    ("buffered_1024", Some(1024)),
    ("unbounded", None),
];

fn send_recv(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_send_recv");
    for (name, cap) in KINDS {
        group.bench_function(format!("goro_{name}"), |b| {
            b.iter_custom(|iters| goro_stream(iters, cap))
        });
    }
    for (name, cap) in KINDS {
        group.bench_function(format!("crossbeam_threads_{name}"), |b| {
            b.iter_custom(|iters| crossbeam_stream(iters, cap))
        });
    }
    group.finish();
}

/// An unbuffered round trip between two goroutines (the ping-pong).
fn pingpong(c: &mut Criterion) {
    c.bench_function("chan_pingpong_roundtrip", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
                let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
                let echo = goro::spawn(move || {
                    for v in &ping_rx {
                        pong_tx.send(v).unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    pong_rx.recv().unwrap();
                }
                let d = start.elapsed();
                drop(ping_tx);
                echo.join().unwrap();
                d
            })
        })
    });
}

/// `try_send` then `try_recv` on a buffered channel nobody else uses.
fn try_ops(c: &mut Criterion) {
    let (s, r) = chan::bounded::<u64>(16);
    c.bench_function("chan_try_send_try_recv", |b| {
        b.iter(|| {
            s.try_send(std::hint::black_box(1)).unwrap();
            r.try_recv().unwrap()
        })
    });
    let (s, r) = crossbeam_channel::bounded::<u64>(16);
    c.bench_function("crossbeam_try_send_try_recv", |b| {
        b.iter(|| {
            s.try_send(std::hint::black_box(1)).unwrap();
            r.try_recv().unwrap()
        })
    });
}

/// A select over two channels that are always ready (each refilled after
/// the select takes its message).
fn select_ready(c: &mut Criterion) {
    c.bench_function("chan_select_two_ready", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let (s1, r1) = chan::bounded::<u64>(1);
                let (s2, r2) = chan::bounded::<u64>(1);
                s1.send(0).unwrap();
                s2.send(0).unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    goro::select! {
                        recv(r1) -> v => s1.send(v.unwrap()).unwrap(),
                        recv(r2) -> v => s2.send(v.unwrap()).unwrap(),
                    }
                }
                start.elapsed()
            })
        })
    });
    c.bench_function("crossbeam_select_two_ready", |b| {
        let (s1, r1) = crossbeam_channel::bounded::<u64>(1);
        let (s2, r2) = crossbeam_channel::bounded::<u64>(1);
        s1.send(0).unwrap();
        s2.send(0).unwrap();
        b.iter(|| {
            crossbeam_channel::select! {
                recv(r1) -> v => s1.send(v.unwrap()).unwrap(),
                recv(r2) -> v => s2.send(v.unwrap()).unwrap(),
            }
        })
    });
}

criterion_group!(benches, send_recv, pingpong, try_ops, select_ready);
criterion_main!(benches);
