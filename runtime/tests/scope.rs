//! Scoped goroutines: borrowing, joining, and panics.

mod common;

use common::{panic_message, with_procs};
use goro::chan;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Children borrow the caller's locals, one mutably each, and every one
/// has written before `scope` returns.
#[test]
fn children_borrow_locals_and_are_joined() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let mut slots = vec![0usize; 1000];
            let base = 7usize;
            goro::scope(|s| {
                for (i, slot) in slots.iter_mut().enumerate() {
                    s.go(move || *slot = i + base);
                }
            });
            assert!(slots.iter().enumerate().all(|(i, v)| *v == i + base));
        });
    }
}

/// A scope inside a goroutine parks it until its children finish; the
/// result of `scope` is the closure's.
#[test]
fn a_scope_inside_a_goroutine() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let total = goro::spawn(|| {
                let data: Vec<u64> = (1..=100).collect();
                goro::scope(|s| {
                    let halves: Vec<_> = data
                        .chunks(50)
                        .map(|c| s.go(move || c.iter().sum::<u64>()))
                        .collect();
                    halves.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
            .join()
            .unwrap();
            assert_eq!(total, 5050);
        });
    }
}

/// Children spawn children through the scope they borrow; values sent
/// over a channel from all of them arrive exactly once.
#[test]
fn nested_spawns_deliver_every_value_once() {
    const OUTER: usize = 50;
    const INNER: usize = 20;
    for procs in [1, 2] {
        with_procs(procs, || {
            let (tx, rx) = chan::unbounded();
            let seen = std::sync::Mutex::new(vec![0u8; OUTER * INNER]);
            goro::scope(|s| {
                for i in 0..OUTER {
                    let tx = tx.clone();
                    s.go(move || {
                        for j in 0..INNER {
                            let tx = tx.clone();
                            s.go(move || tx.send(i * INNER + j).unwrap());
                        }
                    });
                }
                drop(tx);
                s.go(|| {
                    for v in rx.iter() {
                        seen.lock().unwrap()[v] += 1;
                    }
                });
            });
            assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1));
        });
    }
}

/// A child's panic that nobody joined is resumed by `scope`, after every
/// other child has finished.
#[test]
fn an_unjoined_panic_is_propagated_after_all_finish() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let finished = AtomicUsize::new(0);
            let (go_tx, go_rx) = chan::bounded::<()>(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                goro::scope(|s| {
                    s.go(|| panic!("child failed"));
                    for _ in 0..10 {
                        let go_rx = go_rx.clone();
                        let finished = &finished;
                        s.go(move || {
                            // Waits until the closure below lets it go.
                            let _ = go_rx.recv();
                            finished.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    drop(go_tx);
                })
            }));
            let payload = result.expect_err("the child's panic is resumed");
            assert_eq!(panic_message(payload), "child failed");
            assert_eq!(finished.load(Ordering::SeqCst), 10);
        });
    }
}

/// A panic taken by `join` is the joiner's: the scope returns normally.
#[test]
fn a_joined_panic_is_not_propagated() {
    let value = goro::scope(|s| {
        let h = s.go(|| -> u32 { panic!("handled") });
        assert_eq!(panic_message(h.join().unwrap_err()), "handled");
        3
    });
    assert_eq!(value, 3);
}

/// When the closure itself panics, `scope` still waits for its children
/// before unwinding, and resumes the closure's panic.
#[test]
fn a_panicking_closure_still_joins_its_children() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let finished = AtomicUsize::new(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                goro::scope(|s| {
                    for _ in 0..100 {
                        s.go(|| {
                            for _ in 0..10 {
                                goro::yield_now();
                            }
                            finished.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    panic!("closure failed");
                })
            }));
            assert_eq!(panic_message(result.unwrap_err()), "closure failed");
            assert_eq!(finished.load(Ordering::SeqCst), 100);
        });
    }
}

/// Results that borrow from the caller come back through `join`, and a
/// result nobody joins is dropped inside the scope.
#[test]
fn results_may_borrow_and_unjoined_ones_are_dropped() {
    struct Drops<'a>(&'a AtomicUsize);
    impl Drop for Drops<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = AtomicUsize::new(0);
    let text = String::from("borrowed");
    goro::scope(|s| {
        let h = s.go(|| text.as_str());
        assert_eq!(h.join().unwrap(), "borrowed");
        for _ in 0..5 {
            s.go(|| Drops(&drops));
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}
