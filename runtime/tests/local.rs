//! Goroutine-local storage: one value per goroutine, following it across
//! workers, dropped when it finishes.

mod common;

use common::with_procs;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

goro::goroutine_local! {
    static ID: Cell<usize> = Cell::new(usize::MAX);
    static DROPS: Counted = Counted;
}

static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn each_goroutine_keeps_its_own_value_across_yields() {
    for procs in [1, 4] {
        with_procs(procs, || {
            let handles: Vec<_> = (0..200)
                .map(|i| {
                    goro::spawn(move || {
                        ID.with(|id| id.set(i));
                        (0..50).all(|_| {
                            goro::yield_now();
                            ID.with(|id| id.get()) == i
                        })
                    })
                })
                .collect();
            assert!(handles.into_iter().all(|h| h.join().unwrap()));
        });
    }
}

#[test]
fn values_are_dropped_when_their_goroutine_finishes() {
    let before = DROPPED.load(Ordering::SeqCst);
    let handles: Vec<_> = (0..100)
        .map(|_| goro::spawn(|| DROPS.with(|_| ())))
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(DROPPED.load(Ordering::SeqCst) - before, 100);
}

#[test]
fn a_plain_thread_has_its_own_value() {
    ID.with(|id| id.set(7));
    assert_eq!(
        goro::spawn(|| ID.with(|id| id.get())).join().unwrap(),
        usize::MAX
    );
    assert_eq!(ID.with(|id| id.get()), 7);
}
