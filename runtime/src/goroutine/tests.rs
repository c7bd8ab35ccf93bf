//! Unit tests of the goroutine record and the finished-goroutine lists.
use super::*;
use crate::scheduler::Returned;
use std::collections::HashSet;
use std::sync::Mutex;

/// The record keeps its size (see `G`): every goroutine pays for it,
/// a million at a time in a program that parks a million.
#[test]
fn a_goroutine_record_stays_small() {
    let size = std::mem::size_of::<G<Body<fn(), ()>>>();
    assert!(size <= 248, "a goroutine record grew to {size} bytes");
}

/// Finished goroutines, with only our references left.
fn finished_goroutines(n: usize) -> Vec<GRef> {
    // Spawned from a plain thread, so the worker that finishes each one
    // drops its own reference right away (no home to hand it back to).
    let handles: Vec<JoinHandle<()>> = (0..n).map(|_| crate::spawn(|| ())).collect();
    let gs: Vec<GRef> = handles.iter().map(|h| h.g.clone()).collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for g in &gs {
        while Arc::strong_count(g) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "a worker kept a reference"
            );
            std::hint::spin_loop();
        }
    }
    gs
}

/// A batch taken off the list and used part way (as a spawning loop
/// does, one a spawn) gives back the rest when dropped.
#[test]
fn a_returned_batch_dropped_part_way_gives_back_the_rest() {
    let gs = finished_goroutines(10);
    let list = Returned::new();
    gs.iter().for_each(|g| list.push(Runnable::new(g.clone())));
    let mut batch = list.take_all();
    let first = batch.next().expect("ten were pushed");
    assert_eq!(first.id(), gs[9].id(), "last pushed, first taken");
    drop(batch);
    assert!(list.take_all().next().is_none(), "taken whole");
    drop(first);
    assert!(
        gs.iter().all(|g| Arc::strong_count(g) == 1),
        "a reference leaked"
    );
}

/// Threads push goroutines while another takes the list again and
/// again: each comes out exactly once, and every reference pushed is
/// given back.
#[test]
fn a_returned_list_yields_each_goroutine_pushed_once() {
    const PUSHERS: usize = 4;
    const EACH: usize = 2000;
    let gs = finished_goroutines(PUSHERS * EACH);
    let list = Arc::new(Returned::new());
    let taken = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let taker = {
        let (list, taken, done) = (list.clone(), taken.clone(), done.clone());
        std::thread::spawn(move || loop {
            let finished = done.load(Ordering::SeqCst) == PUSHERS;
            let ids: Vec<u64> = list.take_all().map(|g| g.id()).collect();
            taken.lock().unwrap().extend(ids);
            if finished {
                return;
            }
        })
    };
    let pushers: Vec<_> = gs
        .chunks(EACH)
        .map(|chunk| {
            let chunk: Vec<GRef> = chunk.to_vec();
            let (list, done) = (list.clone(), done.clone());
            std::thread::spawn(move || {
                chunk.into_iter().for_each(|g| list.push(Runnable::new(g)));
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    pushers.into_iter().for_each(|p| p.join().unwrap());
    taker.join().unwrap();
    let taken = taken.lock().unwrap();
    assert_eq!(taken.len(), PUSHERS * EACH, "each taken once");
    let unique: HashSet<u64> = taken.iter().copied().collect();
    assert_eq!(unique.len(), PUSHERS * EACH);
    assert!(
        gs.iter().all(|g| Arc::strong_count(g) == 1),
        "a reference leaked"
    );
}
