//! Micro benchmarks of goro's I/O: a one-byte TCP round trip over loopback
//! between two goroutines (each side parks on the netpoller in between),
//! the same between two OS threads on std's blocking sockets for scale,
//! and a small file read through `goro::fs` (the blocking path) against
//! `std::fs`.

mod common;
use common::in_goroutine;
use criterion::{criterion_group, criterion_main, Criterion};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends one byte back for every byte received, until the peer closes.
fn echo_bytes(mut conn: impl Read + Write) {
    let mut byte = [0u8];
    while conn.read(&mut byte).is_ok_and(|n| n == 1) {
        conn.write_all(&byte).unwrap();
    }
}

/// `iters` one-byte round trips on `conn`.
fn round_trips(mut conn: impl Read + Write, iters: u64) -> Duration {
    let mut byte = [7u8];
    let start = Instant::now();
    for _ in 0..iters {
        conn.write_all(&byte).unwrap();
        conn.read_exact(&mut byte).unwrap();
    }
    start.elapsed()
}

fn tcp_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_round_trip");
    group.bench_function("goroutines", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let client = goro::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (server, _) = listener.accept().unwrap();
                server.set_nodelay(true).unwrap();
                client.set_nodelay(true).unwrap();
                let echo = goro::spawn(move || echo_bytes(server));
                let took = round_trips(&client, iters);
                drop(client);
                echo.join().unwrap();
                took
            })
        })
    });
    group.bench_function("std_threads", |b| {
        b.iter_custom(|iters| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            server.set_nodelay(true).unwrap();
            client.set_nodelay(true).unwrap();
            let echo = std::thread::spawn(move || echo_bytes(server));
            let took = round_trips(&client, iters);
            drop(client);
            echo.join().unwrap();
            took
        })
    });
    group.finish();
}

/// `iters` reads of the file at `path` with `read`, in a goroutine.
fn file_reads(path: &Path, read: fn(&Path) -> std::io::Result<Vec<u8>>, iters: u64) -> Duration {
    let path = path.to_path_buf();
    in_goroutine(move || {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(read(&path).unwrap());
        }
        start.elapsed()
    })
}

fn small_file_read(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("goro-bench-{}.txt", std::process::id()));
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let mut group = c.benchmark_group("read_4k_file");
    group.bench_function("goro_fs", |b| {
        b.iter_custom(|iters| file_reads(&path, |p| goro::fs::read(p), iters))
    });
    group.bench_function("std_fs", |b| {
        b.iter_custom(|iters| file_reads(&path, |p| std::fs::read(p), iters))
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, tcp_round_trip, small_file_read);
criterion_main!(benches);
