//! Concurrency is not parallelism. The same two jobs run at GOMAXPROCS=1
//! and at all cores:
//! - a CPU-bound job (goroutines that compute): parallelism speeds it up,
//!   up to the number of cores;
//! - an I/O-bound job (goroutines that wait, simulated with `goro::sleep`):
//!   it is already concurrent on one thread, since a waiting goroutine
//!   holds no thread, so more cores change nothing.
//!
//! `cargo run --release --example concurrency_vs_parallelism`

use goro::go;
use std::hint::black_box;
use std::time::{Duration, Instant};

const GOROUTINES: u64 = 16;

/// CPU-bound: 16 goroutines each run a xorshift loop.
fn cpu_bound() -> u64 {
    fn crunch(seed: u64) -> u64 {
        let (mut x, mut sum) = (seed | 1, 0u64);
        for _ in 0..20_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sum = sum.wrapping_add(x);
        }
        sum
    }
    let handles: Vec<_> = (0..GOROUTINES).map(|i| go!(crunch(black_box(i)))).collect();
    handles
        .into_iter()
        .fold(0, |acc, h| acc.wrapping_add(h.join().unwrap()))
}

/// I/O-bound: 16 goroutines each wait 10 times 20 ms (a request, say).
fn io_bound() -> u64 {
    let handles: Vec<_> = (0..GOROUTINES)
        .map(|_| {
            go!(move || {
                for _ in 0..10 {
                    goro::sleep(Duration::from_millis(20));
                }
                1
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

/// CPU time this process has used (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10) // utime + stime, at 100 ticks/s
}

/// Runs `job` with `procs` workers; returns the wall-clock time it took and
/// how many cores were busy on average meanwhile.
fn timed(procs: usize, job: fn() -> u64) -> (Duration, f64) {
    goro::set_gomaxprocs(procs); // takes effect live
    let (start, cpu) = (Instant::now(), cpu_time());
    black_box(job());
    let wall = start.elapsed();
    (wall, (cpu_time() - cpu).as_secs_f64() / wall.as_secs_f64())
}

#[goro::main]
fn main() {
    let all = goro::gomaxprocs();
    println!("{GOROUTINES} goroutines per job; GOMAXPROCS={all} by default on this machine\n");
    println!(
        "{:<10} {:>10} {:>10} {:>11}",
        "job", "GOMAXPROCS", "wall time", "cores busy"
    );
    let cpu = ("CPU-bound", cpu_bound as fn() -> u64, "parallelism pays");
    let io = (
        "I/O-bound",
        io_bound as fn() -> u64,
        "already concurrent on one thread",
    );
    for (name, job, moral) in [cpu, io] {
        let (one, busy_one) = timed(1, job);
        let (many, busy_many) = timed(all, job);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("{name:<10} {:>10} {:>7.0} ms {busy_one:>11.1}", 1, ms(one));
        println!(
            "{name:<10} {all:>10} {:>7.0} ms {busy_many:>11.1}   speedup {:.2}x: {moral}",
            ms(many),
            one.as_secs_f64() / many.as_secs_f64()
        );
    }
    goro::set_gomaxprocs(all);
    if all == 1 {
        println!("\n(one core here: run it on a multi-core machine to see parallelism)");
    }
}
