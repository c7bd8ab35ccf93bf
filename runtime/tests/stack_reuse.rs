//! Stacks travel between goroutines, the workers' caches, the arena's free
//! list and the monitor's scavenger. A stack in use (running, or parked
//! for longer than a scavenge period) is never handed to a second
//! goroutine, nor released under its goroutine: what a goroutine keeps on
//! its stack is intact when it wakes.

mod common;
use common::with_procs;
use goro::sync::WaitGroup;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ROUNDS: u64 = 5;
const GOROUTINES: u64 = 2_000;
const WORDS: usize = 512;

/// Fills a 4 KiB array on the goroutine's stack with a value of its own,
/// parks across scavenge periods, and counts the words that changed.
fn keep_and_check(tag: u64) -> usize {
    let buf = std::hint::black_box([tag; WORDS]);
    for _ in 0..3 {
        goro::sleep(Duration::from_millis(60));
        goro::yield_now();
    }
    std::hint::black_box(&buf)
        .iter()
        .filter(|&&w| w != tag)
        .count()
}

#[test]
fn stacks_in_use_are_never_shared_nor_released() {
    for procs in [1, 4] {
        with_procs(procs, || {
            let damaged = Arc::new(AtomicUsize::new(0));
            for round in 0..ROUNDS {
                let wg = WaitGroup::new();
                wg.add(GOROUTINES as isize);
                for i in 0..GOROUTINES {
                    let (wg, damaged) = (wg.clone(), damaged.clone());
                    let tag = ((round << 32) | i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    goro::spawn(move || {
                        damaged.fetch_add(keep_and_check(tag), Ordering::Relaxed);
                        wg.done();
                    });
                }
                wg.wait();
                // Let the monitor scavenge some of the freed stacks before
                // the next round takes stacks again (cached, free and
                // committed, released, fresh: every kind gets reused).
                goro::sleep(Duration::from_millis(50 * (round + 1)));
            }
            assert_eq!(
                damaged.load(Ordering::Relaxed),
                0,
                "words changed on parked goroutines' stacks at GOMAXPROCS={procs}"
            );
        });
    }
}
