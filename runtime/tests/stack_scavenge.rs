//! Finished goroutines give their stacks' memory back by themselves: the
//! monitor releases free stacks nobody reused, with no `free_os_memory`
//! call from the program.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::{park_on_gate, rss_kib};
use std::time::{Duration, Instant};

const GOROUTINES: usize = 20_000;

#[test]
fn free_stacks_are_released_without_being_asked() {
    goro::free_os_memory();
    let before = rss_kib();
    let gate = park_on_gate(GOROUTINES);
    let all_live = rss_kib();
    gate.release();
    let grown = all_live.saturating_sub(before);
    // Each parked goroutine holds at least one page of stack.
    assert!(
        grown >= GOROUTINES * 4 * 3 / 4,
        "the goroutines' stacks did not show in RSS: {grown} KiB"
    );
    // The monitor releases them within a couple of scavenge periods; poll
    // for the outcome (not a timing assertion: the bound is generous).
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut after = rss_kib();
    while after.saturating_sub(before) > grown / 4 {
        assert!(
            Instant::now() < give_up,
            "stacks not released: RSS {before} KiB before, {all_live} KiB with all \
             live, still {after} KiB"
        );
        std::thread::sleep(Duration::from_millis(20));
        after = rss_kib();
    }
    eprintln!("RSS KiB: before {before}, all live {all_live}, after {after}");
}
