//! A million goroutines parked at once on one channel, then released: on a
//! stock kernel (`vm.max_map_count` 65530, where one mapping per stack would
//! fail near 32K) they must all park, all wake, and all finish, and their
//! memory must go back to a sane figure per goroutine.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::rss_kib;
use goro::chan;
use goro::sync::WaitGroup;

const N: usize = 1_000_000;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_million_goroutines_park_on_one_channel_and_all_wake() {
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let (parked, released) = (WaitGroup::new(), WaitGroup::new());
    let maps_before = map_count();
    let rss_before = rss_kib();
    parked.add(N as isize);
    released.add(N as isize);
    for _ in 0..N {
        let (parked, released, gate) = (parked.clone(), released.clone(), gate_rx.clone());
        goro::spawn(move || {
            parked.done();
            // Closed, not sent to: every receiver gets Err once the gate shuts.
            assert!(gate.recv().is_err());
            released.done();
        });
    }
    parked.wait();
    assert!(goro::num_goroutine() >= N);
    let per_goroutine = (rss_kib() - rss_before) as f64 / N as f64;
    let maps_during = map_count();
    assert!(gate_tx.close());
    released.wait();
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
