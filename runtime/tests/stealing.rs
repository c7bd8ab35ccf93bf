//! Work stealing: goroutines spawned on one worker spread over the others,
//! and a spawn burst neither buries what its worker wakes nor starves.

mod common;

use common::{run_in_parallel, with_procs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[test]
fn stealing_spreads_goroutines_spawned_on_one_worker() {
    with_procs(2, || {
        // Both are spawned from one goroutine, onto its worker's local
        // queue; they can only meet if the other worker steals one.
        assert!(
            goro::spawn(|| run_in_parallel(2)).join().unwrap(),
            "work was not stolen"
        );
    });
}

/// Spinners spawned together from a goroutine land on one worker's queue:
/// each must still get a thread of its own, including the last ones left
/// behind a spinner after a thief took part of that queue. (A monitor that
/// stopped sharing a queue once anyone had stolen from it left the last
/// spinner queued for good in about one round in twenty.)
#[test]
fn every_spinner_gets_a_thread_even_after_part_of_its_queue_was_stolen() {
    for procs in [3, 4] {
        with_procs(procs, || {
            for round in 0..20 {
                assert!(
                    goro::spawn(move || run_in_parallel(procs)).join().unwrap(),
                    "{procs} spinners never ran at once (round {round})"
                );
            }
        });
    }
}

/// A goroutine that spawns more than its worker's local queue holds: the
/// goroutines it wakes meanwhile run before most of those it spawned (Go
/// sends the excess to its global queue), where a plain FIFO would run
/// them after all of them.
#[test]
fn goroutines_woken_during_a_spawn_burst_run_before_most_of_the_burst() {
    const BURST: usize = 1000;
    const WOKEN: usize = usize::MAX;
    with_procs(1, || {
        goro::spawn(|| {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = goro::chan::bounded::<()>(0);
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, log) = (rx.clone(), log.clone());
                    goro::spawn(move || {
                        rx.recv().unwrap();
                        log.lock().unwrap().push(WOKEN);
                    })
                })
                .collect();
            goro::yield_now(); // both waiters run and park on `rx`
            let burst: Vec<_> = (0..BURST)
                .map(|i| {
                    let log = log.clone();
                    goro::spawn(move || log.lock().unwrap().push(i))
                })
                .collect();
            // The first woken goes to `runnext`, the second pushes it to
            // the local queue's tail.
            tx.send(()).unwrap();
            tx.send(()).unwrap();
            waiters
                .into_iter()
                .chain(burst)
                .for_each(|h| h.join().unwrap());
            let log = log.lock().unwrap();
            assert_eq!(log.len(), BURST + 2);
            let mut spawned: Vec<usize> = log.iter().copied().filter(|&i| i != WOKEN).collect();
            spawned.sort_unstable();
            assert!(spawned.iter().copied().eq(0..BURST), "each ran once");
            let last_woken = log.iter().rposition(|&i| i == WOKEN).unwrap();
            assert!(
                last_woken < BURST / 2,
                "a woken goroutine ran {last_woken}th, behind most of the burst"
            );
        })
        .join()
        .unwrap();
    });
}

/// Goroutines spawned beyond the local queue's limit still run while the
/// local queue never empties (a goroutine yielding in a loop keeps it
/// busy): one every 61 rounds, as Go takes from its global queue.
#[test]
fn goroutines_spawned_beyond_the_local_queue_are_not_starved() {
    const BURST: usize = 400;
    with_procs(1, || {
        goro::spawn(|| {
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..BURST {
                let ran = ran.clone();
                goro::spawn(move || ran.fetch_add(1, Ordering::SeqCst));
            }
            let mut yields = 0;
            while ran.load(Ordering::SeqCst) < BURST && yields < 1_000_000 {
                goro::yield_now();
                yields += 1;
            }
            assert_eq!(ran.load(Ordering::SeqCst), BURST, "after {yields} yields");
        })
        .join()
        .unwrap();
    });
}
