//! `goro::time`: Timer, Ticker, after_func, sleep.
//!
//! Timing is only ever asserted as "not early"; waits synchronise on
//! channels (a select against a later `after` proves that something did not
//! arrive).

mod common;

use common::with_procs;
use goro::chan::{self, Receiver};
use goro::select;
use goro::sync::WaitGroup;
use goro::time::{after, after_func, Ticker, Timer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// Whether `r` stays silent until a later `after(d)` fires.
fn silent_for(r: &Receiver<Instant>, d: Duration) -> bool {
    select! {
        recv(r) -> _ => false,
        recv(after(d)) -> _ => true,
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn timers_never_fire_early() {
    at_1_and_4(|| {
        let handles: Vec<_> = (0..20u64)
            .map(|i| {
                goro::spawn(move || {
                    let start = Instant::now();
                    let fired = Timer::new(ms(i)).receiver().recv().unwrap();
                    assert!(fired >= start + ms(i));
                    assert!(start.elapsed() >= ms(i));
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
}

#[test]
fn a_timer_works_from_a_plain_thread() {
    let start = Instant::now();
    let timer = Timer::new(ms(5));
    assert!(timer.receiver().recv().unwrap() >= start + ms(5));
    assert!(!timer.stop());
    goro::sleep(ms(5));
    assert!(start.elapsed() >= ms(10));
}

#[test]
fn stop_prevents_the_fire() {
    let timer = Timer::new(ms(20));
    assert!(timer.stop());
    assert!(!timer.stop());
    assert!(silent_for(timer.receiver(), ms(60)));
}

#[test]
fn stop_discards_a_value_not_yet_received() {
    // Go 1.23: whether the timer fired during the sleep or not, stop
    // reports that it prevented the delivery, and nothing arrives later.
    let timer = Timer::new(ms(1));
    goro::sleep(ms(10));
    assert!(timer.stop());
    assert!(timer.receiver().try_recv().is_err());
    assert!(silent_for(timer.receiver(), ms(10)));
}

#[test]
fn stop_after_the_value_was_received_reports_false() {
    let timer = Timer::new(ms(1));
    timer.receiver().recv().unwrap();
    assert!(!timer.stop());
}

#[test]
fn reset_moves_the_deadline() {
    // Earlier: from an hour to a few milliseconds.
    let start = Instant::now();
    let timer = Timer::new(Duration::from_secs(3600));
    assert!(timer.reset(ms(5)));
    assert!(timer.receiver().recv().unwrap() >= start + ms(5));
    // Later: the first deadline passes silently.
    let start = Instant::now();
    let timer = Timer::new(ms(2));
    assert!(timer.reset(ms(40)));
    let fired = timer.receiver().recv().unwrap();
    assert!(fired >= start + ms(40));
    assert!(silent_for(timer.receiver(), ms(10)));
}

#[test]
fn reset_rearms_a_fired_or_stopped_timer() {
    let timer = Timer::new(ms(1));
    timer.receiver().recv().unwrap();
    let start = Instant::now();
    assert!(!timer.reset(ms(3)));
    assert!(timer.receiver().recv().unwrap() >= start + ms(3));
    timer.stop();
    let start = Instant::now();
    assert!(!timer.reset_at(start + ms(3)));
    assert!(timer.receiver().recv().unwrap() >= start + ms(3));
}

#[test]
fn a_reset_drops_the_stale_value() {
    let timer = Timer::new(ms(1));
    goro::sleep(ms(10)); // fired: its value sits in the channel
    let start = Instant::now();
    assert!(timer.reset(ms(20)));
    // The value received is the new one, not the stale one.
    assert!(timer.receiver().recv().unwrap() >= start + ms(20));
}

/// Stop races the firing while a goroutine waits on the channel: exactly
/// one of "the receiver got the value" and "stop prevented it" happens.
#[test]
fn stop_racing_the_fire_is_exactly_once() {
    at_1_and_4(|| {
        let handles: Vec<_> = (0..500u64)
            .map(|i| {
                goro::spawn(move || {
                    let d = Duration::from_micros(i % 7 * 300);
                    let timer = Arc::new(Timer::new(d));
                    let waiter = {
                        let timer = timer.clone();
                        goro::spawn(move || !silent_for(timer.receiver(), d + ms(30)))
                    };
                    goro::sleep(Duration::from_micros(i % 5 * 300));
                    let stopped = timer.stop();
                    let received = waiter.join().unwrap();
                    assert!(
                        stopped != received,
                        "stopped {stopped}, received {received}"
                    );
                    assert!(timer.receiver().try_recv().is_err());
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
}

#[test]
fn ten_thousand_pending_timers_cost_no_thread() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let n = 10_000u64;
            let armed = WaitGroup::new();
            let (go_tx, go_rx) = chan::bounded::<()>(0);
            armed.add(n as isize);
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let (armed, go_rx) = (armed.clone(), go_rx.clone());
                    goro::spawn(move || {
                        let d = ms(20 + i % 40);
                        let start = Instant::now();
                        let timer = Timer::new(d);
                        armed.done();
                        if i % 2 == 0 {
                            let _ = go_rx.recv(); // wait while all are pending
                            timer.stop();
                            assert!(silent_for(timer.receiver(), d + ms(10)));
                        } else {
                            let fired = timer.receiver().recv().unwrap();
                            assert!(fired >= start + d);
                        }
                    })
                })
                .collect();
            armed.wait();
            let during = threads();
            assert!(during < 200, "{during} threads for {n} timers");
            drop(go_tx); // release the stoppers
            handles.into_iter().for_each(|h| h.join().unwrap());
        });
    }
}

#[test]
fn a_ticker_ticks_with_increasing_instants_until_stopped() {
    at_1_and_4(|| {
        let period = ms(3);
        let start = Instant::now();
        let ticker = Ticker::new(period);
        let mut last = start;
        for k in 1..=5u32 {
            let tick = ticker.receiver().recv().unwrap();
            assert!(tick > last);
            assert!(tick >= start + period * k);
            last = tick;
        }
        ticker.stop();
        assert!(silent_for(ticker.receiver(), period * 5));
    });
}

#[test]
fn a_slow_receiver_misses_ticks_instead_of_queueing_them() {
    let ticker = Ticker::new(ms(1));
    goro::sleep(ms(30));
    assert_eq!(ticker.receiver().capacity(), Some(1));
    assert!(ticker.receiver().len() <= 1);
    // The ticks go on, in order.
    let first = ticker.receiver().recv().unwrap();
    assert!(ticker.receiver().recv().unwrap() > first);
}

#[test]
fn ticker_reset_changes_the_period() {
    let ticker = Ticker::new(Duration::from_secs(3600));
    let start = Instant::now();
    ticker.reset(ms(2));
    let first = ticker.receiver().recv().unwrap();
    let second = ticker.receiver().recv().unwrap();
    assert!(first >= start + ms(2));
    assert!(second > first);
    assert!(second >= start + ms(4));
    ticker.stop();
    ticker.reset(ms(2));
    ticker.receiver().recv().unwrap();
}

#[test]
#[should_panic(expected = "zero period")]
fn a_zero_period_ticker_panics() {
    Ticker::new(Duration::ZERO);
}

#[test]
fn a_ticker_stopped_from_another_goroutine_goes_quiet() {
    at_1_and_4(|| {
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                goro::spawn(move || {
                    let ticker = Arc::new(Ticker::new(Duration::from_micros(500 + i % 3 * 200)));
                    let stopper = {
                        let ticker = ticker.clone();
                        goro::spawn(move || {
                            goro::sleep(Duration::from_micros(i % 11 * 200));
                            ticker.stop();
                        })
                    };
                    stopper.join().unwrap();
                    assert!(silent_for(ticker.receiver(), ms(5)));
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
}

#[test]
fn after_func_runs_in_its_own_goroutine_and_can_be_stopped() {
    at_1_and_4(|| {
        let (tx, rx) = chan::bounded(4);
        let start = Instant::now();
        let timer = after_func(ms(5), move || {
            tx.try_send((Instant::now(), goro::current_id())).unwrap();
        });
        let (ran_at, id) = rx.recv().unwrap();
        assert!(ran_at >= start + ms(5));
        assert!(id.is_some() && id != goro::current_id());
        assert!(!timer.stop());
        // Reset runs it again.
        let start = Instant::now();
        assert!(!timer.reset(ms(3)));
        assert!(rx.recv().unwrap().0 >= start + ms(3));
        // A stopped one never runs.
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let stopped = after_func(ms(10), move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        assert!(stopped.stop());
        assert!(silent_for(stopped.receiver(), ms(30)));
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn after_and_tick_are_reexported() {
    let start = Instant::now();
    assert!(goro::time::after(ms(2)).recv().unwrap() >= start + ms(2));
    assert!(goro::time::tick(ms(2)).recv().unwrap() >= start + ms(2));
}
