//! `goro::sync::Cond`: `signal` wakes exactly one waiter (the one that has
//! waited longest), `broadcast` all, `wait` re-locks, `wait_timeout`.
//!
//! GOMAXPROCS is process-wide: every test holds `common::with_procs`.

mod common;

use common::with_procs;
use goro::sync::{Cond, Mutex, WaitGroup};
use std::sync::Arc;
use std::time::Duration;

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

#[derive(Default)]
struct State {
    /// Waiters queued on `cond` so far (a waiter's position is the value it
    /// read: it enqueues in the same critical section).
    ready: usize,
    /// Signals sent so far.
    signals: usize,
    /// Waiters that returned from `wait`.
    woken: usize,
    /// Waiters woken out of order (not by the signal for their position).
    out_of_order: usize,
    /// Waiters that returned from `wait` without holding the mutex.
    unlocked: usize,
}

struct Shared {
    state: Mutex<State>,
    /// What the waiters wait on.
    cond: Cond,
    /// Broadcast whenever `ready` or `woken` changes.
    progress: Cond,
}

fn spawn_waiters(shared: &Arc<Shared>, n: usize) -> WaitGroup {
    let wg = WaitGroup::new();
    for _ in 0..n {
        let shared = shared.clone();
        wg.go(move || {
            let mut s = shared.state.lock();
            let position = s.ready;
            s.ready += 1;
            shared.progress.broadcast();
            s = shared.cond.wait(s);
            if shared.state.try_lock().is_some() {
                s.unlocked += 1;
            }
            // FIFO: the waiter at `position` is woken by signal `position + 1`,
            // and the next signal is only sent after it has counted itself.
            if s.signals != position + 1 {
                s.out_of_order += 1;
            }
            s.woken += 1;
            shared.progress.broadcast();
        });
    }
    wg
}

/// N waiters; N signals, one at a time. After each, wait (on another Cond)
/// until one more waiter has woken, let every runnable goroutine run
/// (`yield_now`: at GOMAXPROCS=1 that runs all of them, so a second waiter
/// woken by the same signal would have counted itself by then), and check
/// that exactly one did. A correct Cond can never fail this; a Cond that
/// wakes two at GOMAXPROCS=1 always does.
fn signal_wakes_exactly_one(n: usize) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        cond: Cond::new(),
        progress: Cond::new(),
    });
    let waiters = spawn_waiters(&shared, n);
    let main = {
        let shared = shared.clone();
        goro::spawn(move || {
            let mut s = shared
                .progress
                .wait_while(shared.state.lock(), |s| s.ready < n);
            for i in 1..=n {
                s.signals = i;
                shared.cond.signal();
                s = shared.progress.wait_while(s, |s| s.woken < i);
                drop(s);
                goro::yield_now();
                s = shared.state.lock();
                assert_eq!(s.woken, i, "signal {i} woke more than one waiter");
            }
            assert_eq!((s.out_of_order, s.unlocked), (0, 0));
        })
    };
    main.join().unwrap();
    waiters.wait();
    shared.cond.signal(); // nobody waits: a no-op
}

#[test]
fn signal_wakes_exactly_one_waiter_in_fifo_order() {
    at_1_and_4(|| signal_wakes_exactly_one(20));
}

#[test]
fn broadcast_wakes_every_waiter() {
    at_1_and_4(|| {
        let n = 50;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Cond::new(),
            progress: Cond::new(),
        });
        let waiters = spawn_waiters(&shared, n);
        let mut s = shared
            .progress
            .wait_while(shared.state.lock(), |s| s.ready < n);
        s.signals = 1;
        shared.cond.broadcast();
        s = shared.progress.wait_while(s, |s| s.woken < n);
        assert_eq!((s.woken, s.unlocked), (n, 0));
        drop(s);
        waiters.wait();
    });
}

/// Threads and goroutines wait on one Cond; a thread broadcasts.
#[test]
fn threads_and_goroutines_wait_together() {
    at_1_and_4(|| {
        let pair = Arc::new((Mutex::new(false), Cond::new()));
        let wait = {
            let pair = pair.clone();
            move || {
                let (flag, cond) = &*pair;
                drop(cond.wait_while(flag.lock(), |go| !*go));
            }
        };
        let wg = WaitGroup::new();
        for _ in 0..10 {
            wg.go(wait.clone());
        }
        let threads: Vec<_> = (0..3).map(|_| std::thread::spawn(wait.clone())).collect();
        *pair.0.lock() = true;
        pair.1.broadcast();
        wg.wait();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn wait_timeout_times_out_or_takes_the_signal() {
    at_1_and_4(|| {
        let pair = Arc::new((Mutex::new(0), Cond::new()));
        let p = pair.clone();
        let timed_out = goro::spawn(move || {
            let (guard, timed_out) = p.1.wait_timeout(p.0.lock(), Duration::from_millis(2));
            assert!(p.0.try_lock().is_none(), "returned without the lock");
            drop(guard);
            timed_out
        })
        .join()
        .unwrap();
        assert!(timed_out);

        let p = pair.clone();
        let waiter = goro::spawn(move || {
            let mut guard = p.0.lock();
            *guard = 1;
            p.1.broadcast(); // the main thread may be waiting for the 1
            let (guard, timed_out) = p.1.wait_timeout(guard, Duration::from_secs(3600));
            (*guard, timed_out)
        });
        // Seeing the 1 under the lock means the waiter is queued.
        let mut guard = pair.1.wait_while(pair.0.lock(), |n| *n == 0);
        *guard = 2;
        pair.1.signal();
        drop(guard);
        assert_eq!(waiter.join().unwrap(), (2, false));
    });
}
