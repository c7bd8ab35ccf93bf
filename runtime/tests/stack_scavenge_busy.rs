//! A program that stays busy still gets its finished goroutines' stacks
//! back: while workers run goroutines the monitor releases free stacks a
//! bounded number per period instead of all at once, and this checks that
//! the bound does not keep the memory forever.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::park_then_finish;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// More than one period's budget, so the release takes several periods.
const GOROUTINES: usize = 20_000;

#[test]
fn free_stacks_are_released_while_the_program_stays_busy() {
    let burst = park_then_finish(GOROUTINES);
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
    let after = burst.await_release(Duration::from_secs(60));
    let spun = rounds.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    assert!(spun > 0, "the busy goroutine never ran");
    eprintln!(
        "RSS KiB: before {}, all live {}, after {after} ({spun} busy rounds)",
        burst.before, burst.all_live
    );
}
