//! A million goroutines: spawn them, park them all on one channel, print
//! the memory each costs and how long a dump (with every stack) and the
//! goroutine profile take, release them, and print the memory again.
//!
//! `cargo run --release --example million [COUNT]`

use goro::chan;
use goro::sync::WaitGroup;
use goro_examples::resident_kib;
use std::time::Instant;

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

#[goro::main]
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (before, maps_before) = (resident_kib(), mappings());
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let (parked, done) = (WaitGroup::new(), WaitGroup::new());
    parked.add(n as isize);
    done.add(n as isize);
    let start = Instant::now();
    for _ in 0..n {
        let (parked, done, gate) = (parked.clone(), done.clone(), gate_rx.clone());
        goro::go!(move || {
            parked.done();
            let _ = gate.recv(); // parks until the gate closes
            done.done();
        });
    }
    parked.wait();
    let spawned = start.elapsed();
    let rss = resident_kib();
    println!(
        "{} goroutines parked in {:.2} s: {:.2} KiB of memory each, {} more memory mappings",
        goro::num_goroutine() - 1,
        spawned.as_secs_f64(),
        (rss - before) / n as f64,
        mappings().saturating_sub(maps_before)
    );
    report_dump_times(n);
    gate_tx.close();
    done.wait();
    println!(
        "all released and finished after {:.2} s",
        start.elapsed().as_secs_f64()
    );
    goro::free_os_memory();
    println!(
        "memory after free_os_memory: {:.0} MiB (was {:.0} MiB with all parked)",
        resident_kib() / 1024.0,
        rss / 1024.0
    );
}

/// Times `goro::dump` (every goroutine's stack unwound and symbolized) and
/// `goro::pprof::goroutine` once all `n` goroutines are parked.
fn report_dump_times(n: usize) {
    while goro::metrics().goroutines_parked < n {
        goro::yield_now();
    }
    let start = Instant::now();
    let all = goro::dump();
    let dumped = start.elapsed();
    let with_stacks = all.iter().filter(|g| !g.stack.is_empty()).count();
    let start = Instant::now();
    let mut profile = Vec::new();
    goro::pprof::goroutine(&mut profile).expect("profile");
    println!(
        "dump: {:.2} s ({with_stacks} of {} with stacks); goroutine profile: {:.2} s ({} bytes)",
        dumped.as_secs_f64(),
        all.len(),
        start.elapsed().as_secs_f64(),
        profile.len()
    );
}
