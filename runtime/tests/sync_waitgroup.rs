//! `goro::sync::WaitGroup`: `wait` returns only after every `done`, for
//! many waiters (goroutines and threads), across reuse; misuse panics with
//! Go's words.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::WaitGroup;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// One round: `tasks` goroutines each yield a few times, count themselves
/// finished and call `done`; `goroutine_waiters` goroutines and
/// `thread_waiters` threads wait and check that all had finished.
fn round(wg: &WaitGroup, tasks: usize, goroutine_waiters: usize, thread_waiters: usize) {
    let finished = Arc::new(AtomicUsize::new(0));
    let checked = WaitGroup::new();
    wg.add(tasks as isize);
    for i in 0..tasks {
        let (wg, finished) = (wg.clone(), finished.clone());
        goro::go!(move || {
            for _ in 0..i % 3 {
                goro::yield_now();
            }
            finished.fetch_add(1, Ordering::Relaxed);
            wg.done();
        });
    }
    let check = {
        let (wg, finished) = (wg.clone(), finished.clone());
        move || {
            wg.wait();
            assert_eq!(
                finished.load(Ordering::Relaxed),
                tasks,
                "wait returned early"
            );
        }
    };
    for _ in 0..goroutine_waiters {
        checked.go(check.clone());
    }
    let threads: Vec<_> = (0..thread_waiters)
        .map(|_| std::thread::spawn(check.clone()))
        .collect();
    check();
    checked.wait();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn wait_returns_only_after_every_done() {
    at_1_and_4(|| round(&WaitGroup::new(), 1000, 0, 0));
}

#[test]
fn many_goroutine_and_thread_waiters_all_wake() {
    at_1_and_4(|| round(&WaitGroup::new(), 200, 20, 3));
}

#[test]
fn a_wait_group_is_reusable_round_after_round() {
    at_1_and_4(|| {
        let wg = WaitGroup::new();
        for _ in 0..50 {
            round(&wg, 20, 2, 0);
        }
    });
}

/// Waiters of a round that ended may still be waking when the next round
/// starts (Go calls this misuse and may panic): here each waiter is
/// released by exactly its own round.
#[test]
fn the_next_round_can_start_while_the_last_rounds_waiters_wake() {
    at_1_and_4(|| {
        let wg = WaitGroup::new();
        let rounds = 200;
        let progress = Arc::new(AtomicUsize::new(0));
        let waiters = WaitGroup::new();
        for r in 0..rounds {
            wg.add(1);
            let (w, progress2) = (wg.clone(), progress.clone());
            waiters.go(move || {
                w.wait();
                // Released only once round `r`'s task is done.
                assert!(progress2.load(Ordering::SeqCst) > r);
            });
            progress.fetch_add(1, Ordering::SeqCst);
            wg.done();
        }
        waiters.wait();
    });
}

#[test]
fn wait_on_a_zero_counter_returns_at_once() {
    let wg = WaitGroup::new();
    wg.wait();
    goro::spawn(move || wg.wait()).join().unwrap();
}

#[test]
fn a_negative_counter_panics_with_gos_message_and_changes_nothing() {
    let wg = WaitGroup::new();
    let w = wg.clone();
    let payload = goro::spawn(move || w.done()).join().unwrap_err();
    assert_eq!(
        common::panic_message(payload),
        "sync: negative WaitGroup counter"
    );
    let payload = std::panic::catch_unwind(|| wg.add(-3)).unwrap_err();
    assert_eq!(
        common::panic_message(payload),
        "sync: negative WaitGroup counter"
    );
    wg.add(2);
    let payload = std::panic::catch_unwind(|| wg.add(-3)).unwrap_err();
    assert_eq!(
        common::panic_message(payload),
        "sync: negative WaitGroup counter"
    );
    wg.add(-2);
    wg.wait();
}

#[test]
fn go_counts_a_goroutine_even_when_it_panics() {
    at_1_and_4(|| {
        let wg = WaitGroup::new();
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let ran = ran.clone();
            wg.go(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                if i % 2 == 0 {
                    panic!("task {i} fails");
                }
            });
        }
        wg.wait();
        assert_eq!(ran.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn debug_shows_the_counter() {
    let wg = WaitGroup::default();
    wg.add(3);
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 3 }");
}
