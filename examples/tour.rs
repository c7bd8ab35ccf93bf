//! A tour of goro: each step shows one idea from Go's concurrency model in
//! goro form, with a line of explanation and a figure measured as it runs.
//!
//! `cargo run --release --example tour`

use goro::chan::{self, Receiver, Sender};
use goro::sync::{Mutex, WaitGroup};
use goro::{go, select};
use goro_examples::resident_kib;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn step(title: &str, explanation: &str) {
    println!("\n== {title}\n   {explanation}");
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn hello() {
    step(
        "go",
        "go!(f(x)) runs f(x) in a new goroutine; join waits for it.",
    );
    let h = go!(format!(
        "hello from goroutine {}",
        goro::current_id().unwrap()
    ));
    println!("   {}", h.join().unwrap());
    let start = Instant::now();
    let n = 100_000;
    let handles: Vec<_> = (0..n).map(|i| go!(move || i)).collect();
    let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, n * (n - 1) / 2);
    println!(
        "   spawned and joined {n} goroutines: {:.0} ns each",
        ns_per(start.elapsed(), n)
    );
}

fn ping_pong() {
    step(
        "chan",
        "an unbuffered channel is a rendezvous: a send waits for a receiver.",
    );
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    go!(move || {
        for v in ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    let rounds = 200_000;
    let start = Instant::now();
    for i in 0..rounds {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv().unwrap(), i + 1);
    }
    println!(
        "   ping-pong round trip between two goroutines: {:.0} ns",
        ns_per(start.elapsed(), rounds as usize)
    );
}

/// How long each job of the worker pool takes (Go by Example's sleeps a
/// second).
const JOB_TIME: Duration = Duration::from_millis(20);

fn worker(id: usize, jobs: Receiver<u64>, results: Sender<(usize, u64)>) {
    for job in jobs {
        goro::time::sleep(JOB_TIME); // the work: a sleeping goroutine frees its thread
        results.send((id, job * 2)).unwrap();
    }
}

fn worker_pool() {
    step(
        "worker pool",
        "3 workers take 5 jobs from one channel and send results on another.",
    );
    let start = Instant::now();
    let (jobs_tx, jobs_rx) = chan::bounded(5);
    let (results_tx, results_rx) = chan::bounded(5);
    for w in 1..=3 {
        go!(worker(w, jobs_rx.clone(), results_tx.clone()));
    }
    for j in 1..=5 {
        jobs_tx.send(j).unwrap();
    }
    jobs_tx.close();
    let mut by_worker = [0; 4];
    let total: u64 = (0..5)
        .map(|_| {
            let (w, r) = results_rx.recv().unwrap();
            by_worker[w] += 1;
            r
        })
        .sum();
    println!(
        "   results sum to {total}; jobs per worker: {:?}; 5 jobs of {} ms in {} ms",
        &by_worker[1..],
        JOB_TIME.as_millis(),
        start.elapsed().as_millis()
    );
}

fn wait_group() {
    step("sync.WaitGroup", "wait for a set of goroutines to finish.");
    let wg = WaitGroup::new();
    let counter = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    let n = 1000;
    for _ in 0..n {
        wg.add(1);
        let (wg, counter) = (wg.clone(), counter.clone());
        go!(move || {
            for _ in 0..100 {
                *counter.lock() += 1;
            }
            wg.done();
        });
    }
    wg.wait();
    println!(
        "   {n} goroutines x 100 increments under a goro Mutex = {}, {:.0} ns per lock",
        *counter.lock(),
        ns_per(start.elapsed(), n * 100)
    );
}

fn select_timeout() {
    step(
        "select",
        "wait on several channels at once; a timeout is just another channel.",
    );
    let (tx, rx) = chan::bounded::<&str>(1);
    go!(move || {
        goro::sleep(Duration::from_millis(20));
        let _ = tx.send("slow result");
    });
    let start = Instant::now();
    select! {
        recv(rx) -> msg => println!("   got {msg:?}"),
        recv(chan::after(Duration::from_millis(5))) -> _ => {
            println!("   timed out after {:.1} ms (asked for 5 ms)", start.elapsed().as_secs_f64() * 1e3)
        }
    }
}

fn many_goroutines() {
    step(
        "many goroutines",
        "each starts on a guarded stack that costs a page until it grows.",
    );
    let n = 200_000;
    goro::free_os_memory();
    let before = resident_kib();
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let (parked, done) = (WaitGroup::new(), WaitGroup::new());
    parked.add(n as isize);
    done.add(n as isize);
    let start = Instant::now();
    for _ in 0..n {
        let (parked, done, gate) = (parked.clone(), done.clone(), gate_rx.clone());
        go!(move || {
            parked.done();
            let _ = gate.recv();
            done.done();
        });
    }
    parked.wait();
    let per = (resident_kib() - before) / n as f64;
    println!(
        "   {} goroutines parked on one channel: {per:.2} KiB each",
        goro::num_goroutine() - 1
    );
    gate_tx.close();
    done.wait();
    println!(
        "   spawned, parked, released and finished in {:.0} ms (a million: --example million)",
        start.elapsed().as_secs_f64() * 1e3
    );
}

fn xorshift(seed: u64, iters: u64) -> u64 {
    let (mut x, mut sum) = (seed | 1, 0u64);
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum = sum.wrapping_add(x);
    }
    sum
}

fn parallelism() {
    step(
        "GOMAXPROCS",
        "concurrency is structure; parallelism is GOMAXPROCS workers running it.",
    );
    let run = |procs: usize| {
        let old = goro::set_gomaxprocs(procs);
        let start = Instant::now();
        let handles: Vec<_> = (0..64).map(|t| go!(xorshift(t, 2_000_000))).collect();
        let check = handles
            .into_iter()
            .fold(0u64, |a, h| a.wrapping_add(h.join().unwrap()));
        goro::set_gomaxprocs(old);
        (start.elapsed(), check)
    };
    let all = goro::gomaxprocs();
    let (one, c1) = run(1);
    let (many, c2) = run(all);
    assert_eq!(c1, c2);
    println!(
        "   64 CPU-bound goroutines: {:.0} ms at GOMAXPROCS=1, {:.0} ms at {all}: {:.2}x",
        one.as_secs_f64() * 1e3,
        many.as_secs_f64() * 1e3,
        one.as_secs_f64() / many.as_secs_f64()
    );
}

#[goro::main]
fn main() {
    println!("goro tour: GOMAXPROCS={}", goro::gomaxprocs());
    hello();
    ping_pong();
    worker_pool();
    wait_group();
    select_timeout();
    parallelism();
    many_goroutines();
    println!("\nMore in docs/guide.md; figures against Go in docs/performance.md.");
}
