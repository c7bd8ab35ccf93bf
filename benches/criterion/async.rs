//! Micro benchmarks of the async interop: `goro::block_on` of a ready
//! future and of a channel-driven one against a plain blocking receive;
//! a round trip through `recv_async`/`send_async` between two tokio tasks
//! against tokio's `mpsc` and flume's async channel; a scoped goroutine
//! against a scoped thread.

mod common;
use common::in_goroutine;
use criterion::{criterion_group, criterion_main, Criterion};
use goro::chan;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// `block_on` of a ready future, and the ping-pong round trip between two
/// goroutines with the pinging side's receive done as a plain `recv`, as
/// `block_on(recv_async())`, and as `recv_async` awaited in one long
/// `block_on`.
fn block_on(c: &mut Criterion) {
    let mut group = c.benchmark_group("block_on");
    group.bench_function("ready_future", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(goro::block_on(async { black_box(i) }));
                }
                start.elapsed()
            })
        })
    });
    for how in [
        "plain_recv",
        "block_on_each_recv_async",
        "recv_async_in_one_block_on",
    ] {
        group.bench_function(format!("pingpong_{how}"), |b| {
            b.iter_custom(|iters| pingpong(iters, how))
        });
    }
    group.finish();
}

fn pingpong(iters: u64, how: &'static str) -> Duration {
    in_goroutine(move || {
        let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
        let echo = goro::spawn(move || {
            for v in &ping_rx {
                pong_tx.send(v).unwrap();
            }
        });
        let start = Instant::now();
        match how {
            "plain_recv" => {
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    pong_rx.recv().unwrap();
                }
            }
            "block_on_each_recv_async" => {
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    goro::block_on(pong_rx.recv_async()).unwrap();
                }
            }
            _ => goro::block_on(async {
                for i in 0..iters {
                    ping_tx.send_async(i).await.unwrap();
                    pong_rx.recv_async().await.unwrap();
                }
            }),
        }
        let d = start.elapsed();
        drop(ping_tx);
        echo.join().unwrap();
        d
    })
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A round trip between two tokio tasks on a current-thread runtime,
/// through two channels of capacity 1 of each kind.
fn tokio_tasks(c: &mut Criterion) {
    let mut group = c.benchmark_group("async_roundtrip_tokio_tasks");
    group.bench_function("goro_recv_async", |b| {
        let rt = current_thread();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let (ping_tx, ping_rx) = chan::bounded::<u64>(1);
                let (pong_tx, pong_rx) = chan::bounded::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Ok(v) = ping_rx.recv_async().await {
                        pong_tx.send_async(v).await.unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send_async(i).await.unwrap();
                    pong_rx.recv_async().await.unwrap();
                }
                let d = start.elapsed();
                drop(ping_tx);
                echo.await.unwrap();
                d
            })
        })
    });
    group.bench_function("tokio_mpsc", |b| {
        let rt = current_thread();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Some(v) = ping_rx.recv().await {
                        pong_tx.send(v).await.unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).await.unwrap();
                    pong_rx.recv().await.unwrap();
                }
                let d = start.elapsed();
                drop(ping_tx);
                echo.await.unwrap();
                d
            })
        })
    });
    group.bench_function("flume_recv_async", |b| {
        let rt = current_thread();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let (ping_tx, ping_rx) = flume::bounded::<u64>(1);
                let (pong_tx, pong_rx) = flume::bounded::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Ok(v) = ping_rx.recv_async().await {
                        pong_tx.send_async(v).await.unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send_async(i).await.unwrap();
                    pong_rx.recv_async().await.unwrap();
                }
                let d = start.elapsed();
                drop(ping_tx);
                echo.await.unwrap();
                d
            })
        })
    });
    group.finish();
}

/// One scope with one child that borrows a local, from a goroutine,
/// against `std::thread::scope` with one thread.
fn scoped_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("scoped_spawn");
    group.bench_function("goro_scope_one_goroutine", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let mut x = 0u64;
                let start = Instant::now();
                for _ in 0..iters {
                    goro::scope(|s| {
                        s.go(|| x += 1);
                    });
                }
                black_box(x);
                start.elapsed()
            })
        })
    });
    group.bench_function("std_thread_scope_one_thread", |b| {
        let mut x = 0u64;
        b.iter(|| {
            std::thread::scope(|s| {
                s.spawn(|| x += 1);
            })
        });
        black_box(x);
    });
    group.finish();
}

criterion_group!(benches, block_on, tokio_tasks, scoped_spawn);
criterion_main!(benches);
