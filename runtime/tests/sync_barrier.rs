//! `goro::sync::Barrier`: nobody leaves a round before all have arrived,
//! exactly one leader per round, reusable; goroutines and threads mixed.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::{Barrier, WaitGroup};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// `goroutines + threads` parties go through `rounds` rounds. Each counts
/// its arrival before `wait` and checks after it that everybody had
/// arrived; leaders are counted per round.
fn rounds(goroutines: usize, threads: usize, rounds: usize) {
    let n = goroutines + threads;
    let barrier = Arc::new(Barrier::new(n));
    let arrived: Arc<Vec<AtomicUsize>> =
        Arc::new((0..rounds).map(|_| AtomicUsize::new(0)).collect());
    let leaders: Arc<Vec<AtomicUsize>> =
        Arc::new((0..rounds).map(|_| AtomicUsize::new(0)).collect());
    let party = {
        let (barrier, arrived, leaders) = (barrier.clone(), arrived.clone(), leaders.clone());
        move || {
            for r in 0..rounds {
                arrived[r].fetch_add(1, Ordering::SeqCst);
                let result = barrier.wait();
                assert_eq!(
                    arrived[r].load(Ordering::SeqCst),
                    n,
                    "released before all arrived"
                );
                if result.is_leader() {
                    leaders[r].fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    };
    let wg = WaitGroup::new();
    for _ in 0..goroutines {
        wg.go(party.clone());
    }
    let handles: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(party.clone()))
        .collect();
    wg.wait();
    for t in handles {
        t.join().unwrap();
    }
    for (r, leaders) in leaders.iter().enumerate() {
        assert_eq!(leaders.load(Ordering::SeqCst), 1, "round {r}");
    }
}

#[test]
fn goroutines_meet_with_one_leader_per_round() {
    at_1_and_4(|| rounds(20, 0, 50));
}

#[test]
fn goroutines_and_threads_meet_with_one_leader_per_round() {
    at_1_and_4(|| rounds(8, 2, 50));
}

#[test]
fn a_barrier_of_one_or_zero_always_leads() {
    for n in [0, 1] {
        let barrier = Barrier::new(n);
        assert!(barrier.wait().is_leader());
        assert!(barrier.wait().is_leader());
    }
    assert_eq!(format!("{:?}", Barrier::new(3)), "Barrier { n: 3, .. }");
}
