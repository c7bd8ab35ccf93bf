//! `goro::sync::Semaphore`: never admits more than its size, serves
//! waiters in FIFO order (a large request is not starved by small ones),
//! `try_acquire`, `acquire_timeout`, misuse panics.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::{Mutex, Semaphore, WaitGroup};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// Returns once somebody is queued: with a permit free, `try_acquire(1)`
/// fails only when a waiter is queued (FIFO: nobody passes a waiter).
/// Fails after a minute (the other tests' hang check), not after a count
/// of tries, which a loaded machine can use up before the waiter's thread
/// runs.
fn wait_until_queued(sem: &Semaphore) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !sem.try_acquire(1) {
            return;
        }
        sem.release(1);
        goro::yield_now();
    }
    panic!("nobody queued, or try_acquire passed a waiter");
}

/// Goroutines and threads take 1 to 3 permits of 5, hold them across a few
/// yields, and track the permits held at once (and its maximum).
#[test]
fn never_admits_more_than_its_size() {
    at_1_and_4(|| {
        let size = 5;
        let sem = Arc::new(Semaphore::new(size));
        let held = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let work = |weight: usize| {
            let (sem, held, max) = (sem.clone(), held.clone(), max.clone());
            move || {
                for _ in 0..50 {
                    sem.acquire(weight);
                    let now = held.fetch_add(weight, Ordering::SeqCst) + weight;
                    max.fetch_max(now, Ordering::SeqCst);
                    goro::yield_now();
                    held.fetch_sub(weight, Ordering::SeqCst);
                    sem.release(weight);
                }
            }
        };
        let wg = WaitGroup::new();
        for i in 0..60 {
            wg.go(work(1 + i % 3));
        }
        let threads: Vec<_> = (0..3).map(|i| std::thread::spawn(work(1 + i))).collect();
        wg.wait();
        for t in threads {
            t.join().unwrap();
        }
        let max = max.load(Ordering::SeqCst);
        assert!(max <= size, "{max} permits held at once, size {size}");
        assert_eq!(held.load(Ordering::SeqCst), 0);
        assert!(sem.try_acquire(size), "permits leaked");
    });
}

/// A request for all 4 permits queues while 1 is free; requests for 1 that
/// come after it must wait behind it instead of taking the free permit.
#[test]
fn a_large_request_is_not_starved_by_small_ones() {
    at_1_and_4(|| {
        let sem = Arc::new(Semaphore::new(4));
        let log = Arc::new(Mutex::new(Vec::new()));
        sem.acquire(4);
        let wg = WaitGroup::new();
        {
            let (sem, log) = (sem.clone(), log.clone());
            wg.go(move || {
                sem.acquire(4);
                log.lock().push("large");
                sem.release(4);
            });
        }
        sem.release(1);
        wait_until_queued(&sem);
        for _ in 0..10 {
            let (sem, log) = (sem.clone(), log.clone());
            wg.go(move || {
                sem.acquire(1);
                log.lock().push("small");
                sem.release(1);
            });
        }
        sem.release(3);
        wg.wait();
        let log = log.lock();
        assert_eq!(log.len(), 11);
        assert_eq!(
            log[0], "large",
            "a small request passed the queued large one"
        );
    });
}

#[test]
fn try_acquire_respects_size_and_waiters() {
    let sem = Semaphore::new(3);
    assert!(!sem.try_acquire(4));
    assert!(sem.try_acquire(2));
    assert!(!sem.try_acquire(2));
    assert!(sem.try_acquire(1));
    sem.release(3);
    assert!(sem.try_acquire(3));
    assert_eq!(format!("{sem:?}"), "Semaphore { size: 3, held: 3, .. }");
}

/// A request that times out leaves the queue, and one queued behind it
/// (although a permit is free) is admitted. The timeout must outlast the
/// setup, the small request queueing behind the big one; on a loaded
/// machine it may not, and then the round is run again with twice the
/// timeout.
#[test]
fn acquire_timeout_gives_up_and_unblocks_the_queue_behind() {
    at_1_and_4(|| {
        let mut timeout = Duration::from_millis(5);
        while !timeout_unblocks_the_queue_behind(timeout) {
            timeout *= 2;
        }
    });
}

/// One round of the test above; false if the big request timed out before
/// the small one had queued behind it.
fn timeout_unblocks_the_queue_behind(timeout: Duration) -> bool {
    let sem = Arc::new(Semaphore::new(2));
    sem.acquire(1);
    let s = sem.clone();
    let big = goro::spawn(move || s.acquire_timeout(2, timeout));
    let big_queued = parked_unless_done(&big);
    let s = sem.clone();
    let small = goro::spawn(move || s.acquire(1));
    let small_queued = big_queued && parked_unless_done(&small);
    assert!(
        !big.join().unwrap(),
        "the big request cannot have been granted"
    );
    small.join().unwrap(); // admitted when the big one withdrew, if not before
    if !small_queued {
        return false;
    }
    sem.release(2);
    assert!(sem.acquire_timeout(2, Duration::from_millis(1)));
    true
}

/// Waits until the goroutine of `handle` is parked on the semaphore (true)
/// or has finished (false).
fn parked_unless_done<T>(handle: &goro::JoinHandle<T>) -> bool {
    let parked = || {
        goro::dump()
            .iter()
            .any(|g| g.id == handle.id() && g.state == "semaphore.Acquire")
    };
    while !handle.is_finished() {
        if parked() {
            return true;
        }
        goro::yield_now();
    }
    false
}

#[test]
fn misuse_panics() {
    let sem = Semaphore::new(2);
    let payload = std::panic::catch_unwind(|| sem.release(1)).unwrap_err();
    assert_eq!(
        common::panic_message(payload),
        "semaphore: released more than held"
    );
    let payload = std::panic::catch_unwind(|| sem.acquire(3)).unwrap_err();
    assert_eq!(
        common::panic_message(payload),
        "semaphore: acquire of 3 permits exceeds the size 2"
    );
    assert!(sem.try_acquire(2), "misuse changed the count");
}
