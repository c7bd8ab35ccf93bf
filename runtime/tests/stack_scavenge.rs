//! Finished goroutines give their stacks' memory back by themselves: the
//! monitor releases free stacks nobody reused, with no `free_os_memory`
//! call from the program.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::park_then_finish;
use std::time::Duration;

const GOROUTINES: usize = 20_000;

#[test]
fn free_stacks_are_released_without_being_asked() {
    let burst = park_then_finish(GOROUTINES);
    // The monitor releases them within a couple of scavenge periods.
    let after = burst.await_release(Duration::from_secs(30));
    eprintln!(
        "RSS KiB: before {}, all live {}, after {after}",
        burst.before, burst.all_live
    );
}
