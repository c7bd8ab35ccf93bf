//! Channel workloads: pingpong, daisychain, mpmc, select, sieve. Each is the
//! Go program of the same name in `benches/go/chan.go`: same sizes, same
//! structure, same self-checks, same metric.

use crate::{fail, ms, ns_per, Report};
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
                let v = pong_rx.recv().unwrap();
                if v != i {
                    fail(&format!("pingpong: got {v}, want {i}"));
                }
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
    const N: usize = 1_000_000;
    run(10_000); // warm-up
    let d = run(N);
    Report::new("pingpong", "ns_per_roundtrip", "ns", ns_per(d, N))
}

/// One hop through a chain of 10,000 goroutines linked by unbuffered
/// channels, each forwarding value+1 to its right; a feeder pushes 100
/// values into the left end while main reads them from the right end.
/// Metric: time / (100 * 10000).
pub fn daisychain() -> Report {
    const N: usize = 10_000;
    const VALUES: usize = 100;
    let (first, mut left) = chan::bounded::<usize>(0);
    for _ in 0..N {
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
            let v = last.recv().unwrap();
            if v != i + N {
                fail(&format!("daisychain: got {v}, want {}", i + N));
            }
        }
    };
    pass(10); // warm-up: every link has run and touched its stack
    let start = Instant::now();
    pass(VALUES);
    let d = start.elapsed();
    first.close(); // shut the chain down
    for _ in &last {}
    Report::new("daisychain", "ns_per_hop", "ns", ns_per(d, VALUES * N))
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
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    let run = |per_producer: usize| -> Duration {
        let (tx, rx) = chan::bounded::<usize>(1024);
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
        let want = PRODUCERS * per_producer * (per_producer + 1) / 2;
        if total != want {
            fail(&format!("mpmc: sum {total}, want {want}"));
        }
        d
    };
    const PER_PRODUCER: usize = 1_000_000;
    run(PER_PRODUCER / 100); // warm-up
    let d = run(PER_PRODUCER);
    Report::new(
        "mpmc",
        "ns_per_msg",
        "ns",
        ns_per(d, PRODUCERS * PER_PRODUCER),
    )
}

/// A two-way select: two channels of capacity 128, each fed 1..=1,000,000
/// by its own goroutine; main selects over both until it has received
/// 2,000,000 values and checks both sums.
pub fn select() -> Report {
    let run = |n: usize| -> Duration {
        let (a_tx, a) = chan::bounded::<usize>(128);
        let (b_tx, b) = chan::bounded::<usize>(128);
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
        let want = n * (n + 1) / 2;
        if sa != want || sb != want {
            fail(&format!("select: sums {sa}, {sb}, want {want}"));
        }
        d
    };
    const N: usize = 1_000_000;
    run(N / 100); // warm-up
    let d = run(N);
    Report::new("select", "ns_per_select", "ns", ns_per(d, 2 * N))
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
    primes(300); // warm-up
    let start = Instant::now();
    let p = primes(3000);
    let d = start.elapsed();
    if p != 27449 {
        fail(&format!("sieve: 3000th prime {p}, want 27449"));
    }
    Report::new("sieve", "ms_total", "ms", ms(d))
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
