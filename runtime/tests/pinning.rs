//! A started goroutine runs only on the thread where it first ran, so a
//! safe program cannot make it use one thread's state from another: the
//! programs that broke when goroutines migrated at every park (a
//! `thread_local!` `RefCell` used between yields, an `Rc` taken from a
//! thread-local, a `std::sync::MutexGuard` held across a park) run right
//! at GOMAXPROCS 1, 2 and 4, and the thread a goroutine sees never
//! changes, while fresh goroutines are still stolen.

mod common;

use common::{run_at, run_in_parallel, with_procs};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROCS: [usize; 3] = [1, 2, 4];

thread_local! {
    static BUF: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static SHARED: Rc<()> = Rc::new(());
}

/// Eight goroutines each hold their thread's thread-local `RefCell` (the
/// `with` spans the loop) and borrow it between yields: no borrow spans a
/// yield, so none may ever find it borrowed (two threads in one thread's
/// `RefCell` at once would).
#[test]
fn a_thread_local_refcell_used_between_yields_is_never_found_borrowed() {
    for procs in PROCS {
        run_at(procs, || {
            let handles: Vec<_> = (0..8)
                .map(|g| {
                    goro::go!(move || {
                        BUF.with(|b| {
                            for i in 0..20_000 {
                                {
                                    let mut v = b.try_borrow_mut().expect("already borrowed");
                                    v.push(g * i);
                                    v.clear();
                                }
                                if i % 64 == 0 {
                                    // A timer may fire on another worker.
                                    goro::sleep(Duration::from_micros(20));
                                } else {
                                    goro::yield_now();
                                }
                            }
                        })
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
        });
    }
}

/// Goroutines each keep a clone of their thread's thread-local `Rc` while
/// passing a token round a ring, cloning and dropping it at every step:
/// after every park it is still their own thread's `Rc` (non-atomic counts
/// touched from one thread only), and when all are done every thread's
/// count is back to one.
#[test]
fn an_rc_from_a_thread_local_stays_on_its_thread() {
    for procs in PROCS {
        run_at(procs, || {
            const RING: usize = 16;
            const LAPS: usize = 500;
            let (first_tx, mut rx) = goro::chan::bounded::<usize>(0);
            let mut members = Vec::new();
            for _ in 0..RING {
                let (tx, next_rx) = goro::chan::bounded::<usize>(0);
                let prev = rx;
                members.push(goro::go!(move || {
                    let mine = SHARED.with(Rc::clone);
                    for v in prev.iter() {
                        let extra = mine.clone();
                        assert!(
                            SHARED.with(|s| Rc::ptr_eq(s, &extra)),
                            "resumed on another thread"
                        );
                        drop(extra);
                        if tx.send(v + 1).is_err() {
                            break;
                        }
                    }
                }));
                rx = next_rx;
            }
            for _ in 0..LAPS {
                first_tx.send(0).unwrap();
                assert_eq!(rx.recv().unwrap(), RING);
            }
            drop(first_tx);
            drop(rx);
            members.into_iter().for_each(|m| m.join().unwrap());
            for _ in 0..64 {
                let count = goro::go!(|| SHARED.with(Rc::strong_count)).join().unwrap();
                assert_eq!(count, 1, "a thread-local Rc's count raced");
            }
        });
    }
}

/// A `std::sync::MutexGuard` held across a receive, a sleep and a yield is
/// unlocked by the thread that locked it.
#[test]
fn a_std_mutex_guard_held_across_parks_stays_on_its_thread() {
    for procs in PROCS {
        run_at(procs, || {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    goro::go!(move || {
                        let lock = Mutex::new(0);
                        let (tx, rx) = goro::chan::bounded::<u32>(1);
                        for i in 0..50 {
                            let mut guard = lock.lock().unwrap();
                            let locked_on = std::thread::current().id();
                            tx.send(i).unwrap();
                            *guard += rx.recv().unwrap();
                            goro::sleep(Duration::from_micros(50));
                            goro::yield_now();
                            assert_eq!(std::thread::current().id(), locked_on);
                            drop(guard);
                        }
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
        });
    }
}

/// 100,000 parks of started goroutines, while fresh goroutines keep being
/// spawned and stolen: the thread each goroutine sees never changes.
#[test]
fn a_goroutine_sees_one_thread_across_every_park() {
    for procs in [2, 4] {
        run_at(procs, || {
            const PAIRS: usize = 10;
            const ROUNDS: usize = 5_000; // 2 parks a round a pair
            let parks = Arc::new(AtomicUsize::new(0));
            let mut handles = Vec::new();
            for _ in 0..PAIRS {
                let (ping_tx, ping_rx) = goro::chan::bounded::<usize>(0);
                let (pong_tx, pong_rx) = goro::chan::bounded::<usize>(0);
                let p = parks.clone();
                handles.push(goro::go!(move || {
                    let me = std::thread::current().id();
                    for i in 0..ROUNDS {
                        ping_tx.send(i).unwrap();
                        assert_eq!(pong_rx.recv().unwrap(), i);
                        assert_eq!(std::thread::current().id(), me, "moved threads");
                        // Fresh goroutines for idle workers to steal.
                        if i % 64 == 0 {
                            goro::go!(|| (0..1_000).sum::<u64>());
                        }
                    }
                    p.fetch_add(ROUNDS, Ordering::Relaxed);
                }));
                let p = parks.clone();
                handles.push(goro::go!(move || {
                    let me = std::thread::current().id();
                    for v in ping_rx.iter() {
                        pong_tx.send(v).unwrap();
                        assert_eq!(std::thread::current().id(), me, "moved threads");
                    }
                    p.fetch_add(ROUNDS, Ordering::Relaxed);
                }));
            }
            handles.into_iter().for_each(|h| h.join().unwrap());
            assert!(parks.load(Ordering::Relaxed) >= 100_000);
        });
    }
}

/// Goroutines not started yet are still stolen: two goroutines spawned on
/// one worker, each spinning until both run, need two threads at once.
#[test]
fn fresh_goroutines_spawned_on_one_worker_are_stolen() {
    with_procs(2, || {
        assert!(goro::spawn(|| run_in_parallel(2)).join().unwrap());
    });
}
