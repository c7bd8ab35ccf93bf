//! `goro::sync::Mutex`: no lost increments under contention (goroutines,
//! threads, both), starvation mode, try_lock, guards held across parks.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::{Mutex, WaitGroup};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// `goroutines` goroutines each add 1 to a plain counter `iters` times
/// under the mutex; `threads` OS threads do the same alongside.
fn count_under_lock(goroutines: usize, threads: usize, iters: u64) {
    let counter = Arc::new(Mutex::new(0u64));
    let wg = WaitGroup::new();
    for _ in 0..goroutines {
        let counter = counter.clone();
        wg.go(move || {
            for _ in 0..iters {
                *counter.lock() += 1;
            }
        });
    }
    let threads: Vec<_> = (0..threads)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..iters {
                    *counter.lock() += 1;
                }
            })
        })
        .collect();
    wg.wait();
    let n_threads = threads.len() as u64;
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*counter.lock(), (goroutines as u64 + n_threads) * iters);
}

#[test]
fn increments_are_never_lost_between_goroutines() {
    at_1_and_4(|| count_under_lock(100, 0, 1000));
}

#[test]
fn increments_are_never_lost_between_threads() {
    at_1_and_4(|| count_under_lock(0, 4, 5000));
}

#[test]
fn increments_are_never_lost_between_goroutines_and_threads() {
    at_1_and_4(|| count_under_lock(50, 3, 1000));
}

/// Critical sections that yield (so the holder parks with the lock held,
/// possibly resuming on another worker) and last long enough that waiters
/// wait over 1 ms: the mutex enters starvation mode, and still counts right.
#[test]
fn long_critical_sections_starve_waiters_and_still_count_right() {
    at_1_and_4(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let wg = WaitGroup::new();
        for _ in 0..8 {
            let counter = counter.clone();
            wg.go(move || {
                for _ in 0..25 {
                    let mut guard = counter.lock();
                    let start = Instant::now();
                    let before = *guard;
                    while start.elapsed() < Duration::from_micros(200) {
                        goro::yield_now();
                    }
                    *guard = before + 1;
                }
            });
        }
        wg.wait();
        assert_eq!(*counter.lock(), 200);
    });
}

/// The deterministic proof that starvation mode engages, at GOMAXPROCS=1
/// where the schedule is fixed: a waiter that has waited over 1 ms and then
/// loses the lock to a barging holder switches the mutex to starvation
/// mode, and the next unlock hands the lock to it, so the holder's next
/// lock comes after the waiter's. In normal mode the holder, which keeps
/// running, would barge in again first.
///
/// Just after GOMAXPROCS is lowered a retiring worker may still run a
/// goroutine; a run in which the two goroutines were seen on more than one
/// thread proves nothing, so it is repeated.
#[test]
fn a_starving_waiter_gets_the_lock_before_the_barging_holder() {
    with_procs(1, || {
        for _ in 0..50 {
            if let Some(log) = goro::spawn(starvation_scenario).join().unwrap() {
                assert_eq!(log, ["holder", "waiter", "holder again"]);
                return;
            }
        }
        panic!("never got a run on one worker thread at GOMAXPROCS=1");
    });
}

/// One run of the scenario above; `None` if it did not stay on one thread.
fn starvation_scenario() -> Option<Vec<&'static str>> {
    let threads = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let seen = {
        let threads = threads.clone();
        move || threads.lock().unwrap().insert(std::thread::current().id())
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(AtomicBool::new(false));
    seen();
    let mut guard = log.lock();
    let waiter = {
        let (log, arrived, seen) = (log.clone(), arrived.clone(), seen.clone());
        goro::spawn(move || {
            seen();
            arrived.store(true, Ordering::SeqCst);
            log.lock().push("waiter");
            seen();
        })
    };
    // At GOMAXPROCS=1 the waiter runs until it parks in `lock`.
    while !arrived.load(Ordering::SeqCst) {
        goro::yield_now();
    }
    goro::sleep(Duration::from_millis(3)); // the waiter starves
    seen();
    drop(guard); // wakes the waiter (it runs after us)...
    guard = log.lock(); // ...but we barge in first
    guard.push("holder");
    // The waiter runs (a few yields: the scheduler may run the queue
    // before `runnext` once in a while), fails, and is starving: mode on.
    for _ in 0..3 {
        goro::yield_now();
    }
    seen();
    drop(guard); // hands the lock over
    log.lock().push("holder again");
    seen();
    waiter.join().unwrap();
    let one_thread = threads.lock().unwrap().len() == 1;
    let log = log.lock().clone();
    one_thread.then_some(log)
}

#[test]
fn try_lock_fails_while_held_by_another_goroutine() {
    at_1_and_4(|| {
        let m = Arc::new(Mutex::new(0));
        let guard = m.lock();
        let m2 = m.clone();
        let got = goro::spawn(move || m2.try_lock().is_some()).join().unwrap();
        assert!(!got);
        drop(guard);
        let m2 = m.clone();
        assert!(goro::spawn(move || m2.try_lock().is_some()).join().unwrap());
    });
}

/// A guard held across a park: the goroutine may resume on another worker
/// thread and unlock from there.
#[test]
fn a_guard_may_be_held_across_a_sleep() {
    at_1_and_4(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let wg = WaitGroup::new();
        for i in 0..20 {
            let m = m.clone();
            wg.go(move || {
                let mut guard = m.lock();
                goro::sleep(Duration::from_micros(100));
                guard.push(i);
            });
        }
        wg.wait();
        let mut all = m.lock().clone();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn a_thread_waits_for_a_goroutine_holding_the_lock() {
    at_1_and_4(|| {
        let m = Arc::new(Mutex::new(0));
        let held = WaitGroup::new();
        held.add(1);
        let release = WaitGroup::new();
        release.add(1);
        let g = {
            let (m, held, release) = (m.clone(), held.clone(), release.clone());
            goro::spawn(move || {
                let mut guard = m.lock();
                held.done();
                release.wait();
                *guard = 1;
            })
        };
        held.wait();
        assert!(m.try_lock().is_none());
        release.done();
        assert_eq!(*m.lock(), 1); // blocks this thread until the goroutine unlocks
        g.join().unwrap();
    });
}

#[test]
fn into_inner_get_mut_default_and_debug() {
    let mut m = Mutex::new(vec![1]);
    m.get_mut().push(2);
    assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2], .. }");
    let guard = m.lock();
    assert_eq!(format!("{guard:?}"), "[1, 2]");
    drop(guard);
    assert_eq!(m.into_inner(), [1, 2]);
    assert_eq!(*Mutex::<u8>::default().lock(), 0);
}

#[test]
fn a_panic_while_locked_unlocks_without_poisoning() {
    let m = Arc::new(Mutex::new(1));
    let m2 = m.clone();
    let result = goro::spawn(move || {
        let _guard = m2.lock();
        panic!("boom");
    })
    .join();
    assert!(result.is_err());
    assert_eq!(*m.lock(), 1);
}
