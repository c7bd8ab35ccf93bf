//! `goro::sync::Once`: one run under a race, waiters see its effects, a
//! panicking closure lets a later call retry.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::{Once, WaitGroup};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// 100 goroutines and 4 threads race; the closure yields so the others
/// arrive and wait while it runs. It runs once, and every caller returns
/// only after it has (and sees what it wrote).
#[test]
fn call_once_runs_once_under_a_race_of_100_goroutines() {
    at_1_and_4(|| {
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let value = Arc::new(AtomicUsize::new(0));
        let call = {
            let (once, runs, value) = (once.clone(), runs.clone(), value.clone());
            move || {
                once.call_once(|| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..10 {
                        goro::yield_now();
                    }
                    value.store(42, Ordering::Relaxed); // published by the Once
                });
                assert!(once.is_completed());
                assert_eq!(value.load(Ordering::Relaxed), 42);
            }
        };
        let wg = WaitGroup::new();
        for _ in 0..100 {
            wg.go(call.clone());
        }
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(call.clone())).collect();
        wg.wait();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn a_panicking_closure_lets_a_later_call_retry() {
    let once = Arc::new(Once::new());
    let o = once.clone();
    assert!(goro::spawn(move || o.call_once(|| panic!("init failed")))
        .join()
        .is_err());
    assert!(!once.is_completed());
    let mut ran = false;
    once.call_once(|| ran = true);
    assert!(ran && once.is_completed());
    once.call_once(|| unreachable!());
}

/// Waiters parked behind a runner that panics: exactly one of them runs its
/// own closure next, and all return after it completed.
#[test]
fn waiters_behind_a_panicking_runner_retry_exactly_once() {
    at_1_and_4(|| {
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let claimed = Arc::new(AtomicBool::new(false));
        let failing = {
            let (once, claimed) = (once.clone(), claimed.clone());
            goro::spawn(move || {
                once.call_once(|| {
                    claimed.store(true, Ordering::SeqCst);
                    for _ in 0..20 {
                        goro::yield_now();
                    }
                    panic!("first try fails");
                })
            })
        };
        while !claimed.load(Ordering::SeqCst) {
            goro::yield_now();
        }
        let wg = WaitGroup::new();
        for _ in 0..20 {
            let (once, runs) = (once.clone(), runs.clone());
            wg.go(move || {
                once.call_once(|| {
                    runs.fetch_add(1, Ordering::SeqCst);
                });
                assert!(once.is_completed());
            });
        }
        assert!(failing.join().is_err());
        wg.wait();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_static_once_and_debug() {
    static ONCE: Once = Once::new();
    assert_eq!(format!("{ONCE:?}"), "Once { completed: false, .. }");
    ONCE.call_once(|| {});
    assert_eq!(format!("{ONCE:?}"), "Once { completed: true, .. }");
}
