//! rayon and plain threads with goroutines: `par_iter` inside a
//! goroutine, and goro channels fed from a rayon pool.

mod common;

use common::with_procs;
use goro::chan;
use rayon::prelude::*;

/// A goroutine runs a parallel iterator: rayon's threads do the work, and
/// the goroutine's worker waits for them as for any blocking call.
#[test]
fn par_iter_inside_a_goroutine() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let hs: Vec<_> = (0..8u64)
                .map(|k| {
                    goro::spawn(move || {
                        let v: Vec<u64> = (0..10_000).collect();
                        goro::blocking(|| v.par_iter().map(|x| x * k).sum::<u64>())
                    })
                })
                .collect();
            for (k, h) in hs.into_iter().enumerate() {
                assert_eq!(h.join().unwrap(), k as u64 * 10_000 * 9_999 / 2);
            }
        });
    }
}

/// A rayon pool sends into a goro channel that goroutines drain: every
/// value arrives exactly once.
#[test]
fn a_rayon_pool_feeds_goroutines() {
    const N: usize = 50_000;
    for procs in [1, 2] {
        with_procs(procs, || {
            let (tx, rx) = chan::bounded::<usize>(64);
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    goro::spawn(move || rx.iter().collect::<Vec<_>>())
                })
                .collect();
            drop(rx);
            (0..N)
                .into_par_iter()
                .for_each_with(tx, |tx, v| tx.send(v).unwrap());
            let mut seen = vec![0u8; N];
            for h in consumers {
                for v in h.join().unwrap() {
                    seen[v] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1));
        });
    }
}
