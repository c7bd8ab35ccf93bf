//! A million goroutines parked at once on one channel, then released: on a
//! stock kernel (`vm.max_map_count` 65530, where one mapping per stack would
//! fail near 32K) they must all park, all wake, and all finish, and their
//! memory must go back to a sane figure per goroutine.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::{park_on_gate, rss_kib};

const N: usize = 1_000_000;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_million_goroutines_park_on_one_channel_and_all_wake() {
    let maps_before = map_count();
    let rss_before = rss_kib();
    let gate = park_on_gate(N);
    assert!(goro::num_goroutine() >= N);
    let per_goroutine = (rss_kib() - rss_before) as f64 / N as f64;
    let maps_during = map_count();
    gate.release();
    eprintln!(
        "{N} parked goroutines: {per_goroutine:.2} KiB RSS each, {} more mappings",
        maps_during.saturating_sub(maps_before)
    );
    // Debug builds use more stack than release; this bound catches a stack
    // that commits far more than its first pages, or one mapping per stack.
    assert!(
        per_goroutine < 16.0,
        "{per_goroutine} KiB per parked goroutine"
    );
    assert!(
        maps_during < maps_before + 1000,
        "{maps_before} -> {maps_during} mappings"
    );
}
