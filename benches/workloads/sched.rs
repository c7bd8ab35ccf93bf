//! Scheduler workloads: spawn, parked, yield, cpu, idle, sleepers. Each is
//! the Go program of the same name in `benches/go`, line for line; sizes,
//! checks and reports are in `spec`.

use crate::report::{cpu_time, rss_kib, Report};
use crate::spec;
use goro::chan;
use goro::sync::WaitGroup;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Spawn 1,000,000 goroutines that only call `wg.done()`; wait for all.
pub fn spawn() -> Report {
    let run = |n: usize| {
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(n as isize);
        for _ in 0..n {
            let wg = wg.clone();
            goro::spawn(move || wg.done());
        }
        wg.wait();
        start.elapsed()
    };
    run(spec::spawn::WARMUP);
    spec::spawn::report(run(spec::spawn::N))
}

/// 1,000,000 goroutines block receiving on one unbuffered channel; RSS
/// growth per goroutine once all have started, then close and wait.
pub fn parked() -> Report {
    let run = |n: usize| {
        goro::free_os_memory();
        let before = rss_kib();
        let (gate_tx, gate_rx) = chan::bounded::<()>(0);
        let (started, done) = (WaitGroup::new(), WaitGroup::new());
        let start = Instant::now();
        started.add(n as isize);
        done.add(n as isize);
        for _ in 0..n {
            let (started, done, gate) = (started.clone(), done.clone(), gate_rx.clone());
            goro::spawn(move || {
                started.done();
                let _ = gate.recv();
                done.done();
            });
        }
        started.wait();
        let parked = rss_kib();
        gate_tx.close();
        done.wait();
        (before, parked, start.elapsed())
    };
    run(spec::parked::WARMUP);
    let (before, parked, d) = run(spec::parked::N);
    spec::parked::report(before, parked, d)
}

/// Two goroutines each call `yield_now` 1,000,000 times.
pub fn yield_loop() -> Report {
    const TASKS: usize = spec::yield_loop::TASKS;
    let run = |n: usize| {
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(TASKS as isize);
        for _ in 0..TASKS {
            let wg = wg.clone();
            goro::spawn(move || {
                for _ in 0..n {
                    goro::yield_now();
                }
                wg.done();
            });
        }
        wg.wait();
        start.elapsed()
    };
    run(spec::yield_loop::WARMUP);
    spec::yield_loop::report(run(spec::yield_loop::N))
}

/// 64 CPU-bound goroutines; ms from first spawn to last result.
pub fn cpu() -> Report {
    const TASKS: usize = spec::cpu::TASKS;
    let run = |iters: usize| {
        let sums = Arc::new(spec::cpu::Sums::new(TASKS));
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(TASKS as isize);
        for t in 0..TASKS {
            let (wg, sums) = (wg.clone(), sums.clone());
            goro::spawn(move || {
                sums.set(t, spec::cpu::xorshift_sum(t, iters));
                wg.done();
            });
        }
        wg.wait();
        (start.elapsed(), sums.total())
    };
    run(spec::cpu::WARMUP_ITERS);
    let (d, total) = run(spec::cpu::ITERS);
    spec::cpu::report(d, total)
}

/// 1000 goroutines sleep 2 s; process CPU time as % of one core.
pub fn idle() -> Report {
    let run = |n: usize, nap: Duration| {
        let wg = WaitGroup::new();
        let (cpu0, start) = (cpu_time(), Instant::now());
        wg.add(n as isize);
        for _ in 0..n {
            let wg = wg.clone();
            goro::spawn(move || {
                goro::sleep(nap);
                wg.done();
            });
        }
        wg.wait();
        (start.elapsed(), cpu_time() - cpu0)
    };
    run(spec::idle::TASKS, spec::idle::WARMUP_NAP);
    let (wall, busy) = run(spec::idle::TASKS, spec::idle::NAP);
    spec::idle::report(wall, busy)
}

/// 100,000 goroutines each sleep 10 ms five times; wall time and lateness.
pub fn sleepers() -> Report {
    use spec::sleepers::{Lateness, ITERS, NAP};
    let run = |n: usize| {
        let late = Arc::new(Lateness::new(n));
        let wg = WaitGroup::new();
        let start = Instant::now();
        wg.add(n as isize);
        for g in 0..n {
            let (wg, late) = (wg.clone(), late.clone());
            goro::spawn(move || {
                for i in 0..ITERS {
                    let t0 = Instant::now();
                    goro::sleep(NAP);
                    late.record(g, i, t0);
                }
                wg.done();
            });
        }
        wg.wait();
        // The clock stops before the samples are sorted, as in Go's.
        let d = start.elapsed();
        (d, late.sorted())
    };
    run(spec::sleepers::WARMUP);
    let (d, late) = run(spec::sleepers::TASKS);
    spec::sleepers::report(d, &late)
}
