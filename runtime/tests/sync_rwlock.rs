//! `goro::sync::RwLock`: readers never see a half-done write, writers
//! exclude each other, writers are not starved by readers; goroutines and
//! threads mixed.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::{RwLock, WaitGroup};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// Two fields a writer keeps equal; a reader must never see them differ.
#[derive(Default)]
struct Pair {
    a: u64,
    b: u64,
}

/// Writers bump both fields with a yield in between (so a reader would get
/// the chance to see a half write); readers check them, on goroutines and
/// on `threads` OS threads.
fn readers_see_whole_writes(threads: usize) {
    let lock = Arc::new(RwLock::new(Pair::default()));
    let reads = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    let (writers, writes) = (4, 100);
    for _ in 0..writers {
        let lock = lock.clone();
        wg.go(move || {
            for _ in 0..writes {
                let mut pair = lock.write();
                pair.a += 1;
                goro::yield_now();
                pair.b += 1;
            }
        });
    }
    let read = {
        let (lock, reads) = (lock.clone(), reads.clone());
        move || {
            for _ in 0..200 {
                let pair = lock.read();
                assert_eq!(pair.a, pair.b, "a reader saw a half write");
                reads.fetch_add(1, Ordering::Relaxed);
                drop(pair);
                goro::yield_now();
            }
        }
    };
    for _ in 0..16 {
        wg.go(read.clone());
    }
    let handles: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(read.clone()))
        .collect();
    wg.wait();
    for t in handles {
        t.join().unwrap();
    }
    let pair = lock.read();
    assert_eq!((pair.a, pair.b), (writers * writes, writers * writes));
    assert_eq!(reads.load(Ordering::Relaxed), (16 + threads) * 200);
}

#[test]
fn goroutine_readers_never_see_a_half_write() {
    at_1_and_4(|| readers_see_whole_writes(0));
}

#[test]
fn thread_and_goroutine_readers_never_see_a_half_write() {
    at_1_and_4(|| readers_see_whole_writes(3));
}

#[test]
fn writers_exclude_each_other() {
    at_1_and_4(|| {
        let lock = Arc::new(RwLock::new(0u64));
        let wg = WaitGroup::new();
        for _ in 0..50 {
            let lock = lock.clone();
            wg.go(move || {
                for _ in 0..200 {
                    *lock.write() += 1;
                }
            });
        }
        wg.wait();
        assert_eq!(*lock.read(), 10_000);
    });
}

/// Readers that keep re-entering would starve a reader-preferring lock's
/// writer forever; here the waiting writer blocks new readers, so it gets
/// in and the readers (which loop until it has) finish.
#[test]
fn a_writer_is_not_starved_by_a_stream_of_readers() {
    at_1_and_4(|| {
        let lock = Arc::new(RwLock::new(false));
        let wg = WaitGroup::new();
        for _ in 0..8 {
            let lock = lock.clone();
            wg.go(move || loop {
                let written = lock.read();
                if *written {
                    break;
                }
                goro::yield_now(); // hold the read lock across a switch
            });
        }
        *lock.write() = true;
        wg.wait();
        assert!(*lock.read());
    });
}

#[test]
fn try_read_and_try_write() {
    at_1_and_4(|| {
        let lock = Arc::new(RwLock::new(1));
        let r = lock.read();
        assert!(lock.try_read().is_some());
        assert!(lock.try_write().is_none());
        drop(r);
        let w = lock.write();
        let l2 = lock.clone();
        let seen = goro::spawn(move || (l2.try_read().is_some(), l2.try_write().is_some()))
            .join()
            .unwrap();
        assert_eq!(seen, (false, false));
        drop(w);
        assert!(lock.try_write().is_some());
    });
}

/// A writer parked behind readers is woken by the last of them, and the
/// readers queued behind the writer all get in after it.
#[test]
fn a_writer_waits_for_readers_inside_and_readers_queue_behind_it() {
    at_1_and_4(|| {
        let lock = Arc::new(RwLock::new(0));
        let written = Arc::new(AtomicBool::new(false));
        let first = lock.read(); // held by this thread
        let writer = {
            let (lock, written) = (lock.clone(), written.clone());
            goro::spawn(move || {
                *lock.write() = 1;
                written.store(true, Ordering::SeqCst);
            })
        };
        // Wait (without sleeping) until the writer has announced itself.
        while lock.try_read().is_some() {
            goro::yield_now();
        }
        let readers: Vec<_> = (0..10)
            .map(|_| {
                let lock = lock.clone();
                goro::spawn(move || *lock.read())
            })
            .collect();
        assert!(!written.load(Ordering::SeqCst));
        drop(first);
        for r in readers {
            assert_eq!(
                r.join().unwrap(),
                1,
                "a reader got in before the waiting writer"
            );
        }
        writer.join().unwrap();
    });
}

#[test]
fn into_inner_get_mut_and_debug() {
    let mut lock = RwLock::new(String::from("a"));
    lock.get_mut().push('b');
    assert_eq!(format!("{lock:?}"), "RwLock { data: \"ab\", .. }");
    let w = lock.write();
    assert_eq!(format!("{lock:?}"), "RwLock { data: <locked>, .. }");
    drop(w);
    assert_eq!(lock.into_inner(), "ab");
}
