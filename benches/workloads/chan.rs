//! Channel workloads: pingpong, daisychain, mpmc, select, sieve. Each is the
//! Go program of the same name in `benches/go/chan.go`: same sizes, same
//! structure, same self-checks, same metric; sizes, checks and reports
//! are in `spec`.

use crate::report::Report;
use crate::spec;
use goro::chan::{self, Receiver, Sender};
use goro::select;
use goro::sync::WaitGroup;
use std::time::{Duration, Instant};

/// An unbuffered-channel handoff between two goroutines: A sends on ping,
/// B receives and sends it back on pong, A receives; 1,000,000 round trips.
pub fn pingpong() -> Report {
    let run = |n: usize| -> Duration {
        let (ping_tx, ping_rx) = chan::bounded::<usize>(0);
        let (pong_tx, pong_rx) = chan::bounded::<usize>(0);
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(2);
        let a = wg.clone();
        goro::spawn(move || {
            for i in 0..n {
                ping_tx.send(i).unwrap();
                spec::pingpong::check(i, pong_rx.recv().unwrap());
            }
            a.done();
        });
        let b = wg.clone();
        goro::spawn(move || {
            for _ in 0..n {
                pong_tx.send(ping_rx.recv().unwrap()).unwrap();
            }
            b.done();
        });
        wg.wait();
        start.elapsed()
    };
    run(spec::pingpong::WARMUP);
    spec::pingpong::report(run(spec::pingpong::N))
}

/// One hop through a chain of 10,000 goroutines linked by unbuffered
/// channels, each forwarding value+1 to its right; a feeder pushes 100
/// values into the left end while main reads them from the right end.
/// Metric: time / (100 * 10000).
pub fn daisychain() -> Report {
    let (first, mut left) = chan::bounded::<usize>(0);
    for _ in 0..spec::daisychain::LINKS {
        let (right_tx, right_rx) = chan::bounded::<usize>(0);
        goro::spawn(move || link(left, right_tx));
        left = right_rx;
    }
    let last = left;
    let pass = |k: usize| {
        let feed = first.clone();
        goro::spawn(move || {
            for i in 0..k {
                feed.send(i).unwrap();
            }
        });
        for i in 0..k {
            spec::daisychain::check(i, last.recv().unwrap());
        }
    };
    pass(spec::daisychain::WARMUP);
    let start = Instant::now();
    pass(spec::daisychain::VALUES);
    let d = start.elapsed();
    first.close(); // shut the chain down
    for _ in &last {}
    spec::daisychain::report(d)
}

/// One link of the daisy chain: Go's `for v := range left { right <- v+1 }`
/// then `close(right)` (dropping `right` closes it).
fn link(left: Receiver<usize>, right: Sender<usize>) {
    for v in left {
        right.send(v + 1).unwrap();
    }
}

/// A contended buffered channel: 4 producers each send 1..=1,000,000 into
/// one channel of capacity 1024; 4 consumers sum until it is closed (after
/// all producers finish); the total is checked.
pub fn mpmc() -> Report {
    use spec::mpmc::{CONSUMERS, PRODUCERS};
    let run = |per_producer: usize| -> Duration {
        let (tx, rx) = chan::bounded::<usize>(spec::mpmc::CAP);
        let (sums_tx, sums_rx) = chan::bounded::<usize>(CONSUMERS);
        let prod = WaitGroup::new();
        let start = Instant::now();
        prod.add(PRODUCERS as isize);
        for _ in 0..PRODUCERS {
            let (tx, prod) = (tx.clone(), prod.clone());
            goro::spawn(move || {
                for i in 1..=per_producer {
                    tx.send(i).unwrap();
                }
                prod.done();
            });
        }
        for _ in 0..CONSUMERS {
            let (rx, sums_tx) = (rx.clone(), sums_tx.clone());
            goro::spawn(move || {
                let s: usize = rx.iter().sum();
                sums_tx.send(s).unwrap();
            });
        }
        prod.wait();
        tx.close();
        let total: usize = (0..CONSUMERS).map(|_| sums_rx.recv().unwrap()).sum();
        let d = start.elapsed();
        spec::mpmc::check(total, per_producer);
        d
    };
    run(spec::mpmc::WARMUP);
    spec::mpmc::report(run(spec::mpmc::PER_PRODUCER))
}

/// A two-way select: two channels of capacity 128, each fed 1..=1,000,000
/// by its own goroutine; main selects over both until it has received
/// 2,000,000 values and checks both sums.
pub fn select() -> Report {
    let run = |n: usize| -> Duration {
        let (a_tx, a) = chan::bounded::<usize>(spec::select::CAP);
        let (b_tx, b) = chan::bounded::<usize>(spec::select::CAP);
        let feed = move |ch: Sender<usize>| {
            move || {
                for i in 1..=n {
                    ch.send(i).unwrap();
                }
            }
        };
        let start = Instant::now();
        // Go never closes these channels: keep a sender of each here, or
        // the first feeder to finish would close its channel early.
        goro::spawn(feed(a_tx.clone()));
        goro::spawn(feed(b_tx.clone()));
        let (mut sa, mut sb) = (0, 0);
        for _ in 0..2 * n {
            select! {
                recv(a) -> v => sa += v.unwrap(),
                recv(b) -> v => sb += v.unwrap(),
            }
        }
        let d = start.elapsed();
        drop((a_tx, b_tx));
        spec::select::check(sa, sb, n);
        d
    };
    run(spec::select::WARMUP);
    spec::select::report(run(spec::select::N))
}

/// The classic concurrent prime sieve: a generator feeds 2, 3, 4, … into a
/// growing chain of filter goroutines, one per prime found; finds the
/// first 3000 primes (the 3000th is 27449). Metric: total ms. As in Go, the
/// goroutines of each run are left blocked forever.
pub fn sieve() -> Report {
    let primes = |n: usize| -> usize {
        let (tx, mut ch) = chan::bounded::<usize>(0);
        goro::spawn(move || generate(tx));
        let mut prime = 0;
        for _ in 0..n {
            prime = ch.recv().unwrap();
            let (out, next) = chan::bounded::<usize>(0);
            goro::spawn(move || filter(ch, out, prime));
            ch = next;
        }
        // Keep the chain blocked forever, as Go leaves it (dropping the
        // last receiver would instead unwind it).
        std::mem::forget(ch);
        prime
    };
    primes(spec::sieve::WARMUP);
    let start = Instant::now();
    let p = primes(spec::sieve::PRIMES);
    spec::sieve::report(start.elapsed(), p)
}

/// Sends 2, 3, 4, … on `ch`.
fn generate(ch: Sender<usize>) {
    for i in 2.. {
        if ch.send(i).is_err() {
            return;
        }
    }
}

/// Copies the values from `input` to `out`, removing those divisible by
/// `prime`.
fn filter(input: Receiver<usize>, out: Sender<usize>, prime: usize) {
    for i in input {
        if i % prime != 0 && out.send(i).is_err() {
            return;
        }
    }
}
