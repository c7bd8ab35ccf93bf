//! A program that stays busy still gets its finished goroutines' stacks
//! back: while workers run goroutines the monitor releases free stacks a
//! bounded number per period instead of all at once, and this checks that
//! the bound does not keep the memory forever.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::{park_on_gate, rss_kib};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// More than one period's budget, so the release takes several periods.
const GOROUTINES: usize = 20_000;

#[test]
fn free_stacks_are_released_while_the_program_stays_busy() {
    goro::free_os_memory();
    let before = rss_kib();
    let gate = park_on_gate(GOROUTINES);
    let all_live = rss_kib();
    gate.release();
    let grown = all_live.saturating_sub(before);
    assert!(
        grown >= GOROUTINES * 4 * 3 / 4,
        "the goroutines' stacks did not show in RSS: {grown} KiB"
    );
    // A goroutine that never stops running keeps a worker busy meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let busy = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        goro::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                rounds.fetch_add(1, Ordering::Relaxed);
                goro::yield_now();
            }
        })
    };
    // Poll for the outcome (not a timing assertion: the bound is generous).
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut after = rss_kib();
    while after.saturating_sub(before) > grown / 4 {
        assert!(
            Instant::now() < give_up,
            "stacks not released under load: RSS {before} KiB before, {all_live} KiB \
             with all live, still {after} KiB"
        );
        std::thread::sleep(Duration::from_millis(20));
        after = rss_kib();
    }
    let spun = rounds.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    assert!(spun > 0, "the busy goroutine never ran");
    eprintln!("RSS KiB: before {before}, all live {all_live}, after {after} ({spun} busy rounds)");
}
