//! Where `goro::chan` must behave as crossbeam-channel does: code ports by
//! changing an import. One test per bug found by running crossbeam-channel's
//! own test suite against `goro::chan`, and the API that suite needs.

mod common;

use common::{at_procs, thread};
use goro::chan::{
    after, at, bounded, never, tick, unbounded, Receiver, RecvTimeoutError, Select, Sender,
    TryRecvError,
};
use goro::{select, select_biased};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Lockstep rounds of crossbeam's `linearizable_default`: the selecting side
/// sends on `s1` and then selects over `r1` and `r2` without waiting; the
/// other sends on `s2` and only then takes from `r1`, so at every moment one
/// of the two channels holds a message and the select must find one. Returns
/// how many rounds found nothing. `poll` is the select under test; its
/// argument lists `r2`, then `fillers` (never ready), then `r1`, so a select
/// that looks at its cases one at a time leaves the other side time to move
/// the message from behind it to before it.
fn rounds_that_missed<P>(rounds: usize, fillers: usize, poll: P) -> usize
where
    P: Fn(&[&Receiver<i32>]) -> bool + Send + 'static,
{
    let (start_s, start_r) = bounded::<()>(0);
    let (end_s, end_r) = bounded::<()>(0);
    let (s1, r1) = bounded::<i32>(1);
    let (s2, r2) = bounded::<i32>(1);
    let (r1b, s2b) = (r1.clone(), s2.clone());
    let keep: Vec<(Sender<i32>, Receiver<i32>)> = (0..fillers).map(|_| bounded(1)).collect();
    let selecting = thread(move || {
        let mut missed = 0;
        let mut cases: Vec<&Receiver<i32>> = vec![&r2];
        cases.extend(keep.iter().map(|(_, r)| r));
        cases.push(&r1);
        for _ in 0..rounds {
            start_s.send(()).unwrap();
            s1.send(1).unwrap();
            if !poll(&cases) {
                missed += 1;
            }
            end_s.send(()).unwrap();
            let _ = r2.try_recv();
            let _ = r1.try_recv();
        }
        missed
    });
    for _ in 0..rounds {
        start_r.recv().unwrap();
        s2b.send(1).unwrap();
        let _ = r1b.try_recv();
        end_r.recv().unwrap();
    }
    selecting.join().unwrap()
}

/// Bug: a select that must not wait looked at its channels one at a time
/// and could report nothing ready although one always was (Go's `selectgo`
/// locks every channel before deciding). `Select::try_select` in order,
/// with never-ready channels in between to widen the window.
#[test]
fn try_select_is_linearizable() {
    let missed = rounds_that_missed(20_000, 32, |cases| {
        let mut sel = Select::new_biased();
        for r in cases {
            sel.recv(r);
        }
        let ok = sel.try_select().is_ok();
        ok
    });
    assert_eq!(missed, 0, "rounds where try_select found nothing ready");
}

/// As above for `select_biased!` with a `default` arm (`select!` shares
/// its engine, in random order).
#[test]
fn select_default_is_linearizable() {
    let missed = rounds_that_missed(100_000, 8, |c| {
        select_biased! {
            recv(c[0]) -> _ => true,
            recv(c[1]) -> _ => true,
            recv(c[2]) -> _ => true,
            recv(c[3]) -> _ => true,
            recv(c[4]) -> _ => true,
            recv(c[5]) -> _ => true,
            recv(c[6]) -> _ => true,
            recv(c[7]) -> _ => true,
            recv(c[8]) -> _ => true,
            recv(c[9]) -> _ => true,
            default => false,
        }
    });
    assert_eq!(
        missed, 0,
        "rounds where select_biased! took the default arm"
    );
}

/// Bug: an expired timer was not ready until the runtime's timer had fired
/// it. A timer channel knows its deadline and is ready once it has passed,
/// whoever looks.
#[test]
fn expired_timers_are_ready() {
    at_procs(|| {
        assert!(after(Duration::ZERO).try_recv().is_ok());
        let past = Instant::now();
        assert_eq!(at(past).try_recv(), Ok(past));
        let r = after(Duration::ZERO);
        assert_eq!(r.len(), 1);
        assert!(r.is_full());
        let got = select! {
            recv(r) -> msg => msg.is_ok(),
            default => false,
        };
        assert!(got, "an expired after is ready to a select with default");
        // Delivered once, then never again (and never closed).
        assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        assert!(r.is_empty());

        // Two expired timers in a blocking select: either may win.
        let mut wins = [0; 2];
        for _ in 0..200 {
            let (a, b) = (after(Duration::ZERO), after(Duration::ZERO));
            select! {
                recv(a) -> _ => wins[0] += 1,
                recv(b) -> _ => wins[1] += 1,
            }
        }
        assert!(wins[0] > 0 && wins[1] > 0, "{wins:?}");
    });
}

/// A timer channel delivers the instant it was due, as crossbeam's does.
#[test]
fn timers_deliver_their_due_instant() {
    at_procs(|| {
        let when = Instant::now() + ms(5);
        assert_eq!(at(when).recv(), Ok(when));
        let when = Instant::now() + ms(5);
        let timer = at(when);
        let got = select! {
            recv(timer) -> msg => msg,
            recv(never::<Instant>()) -> _ => unreachable!(),
        };
        assert_eq!(got, Ok(when));
        let start = Instant::now();
        let first = tick(ms(2)).recv().unwrap();
        assert!(first >= start + ms(2));
    });
}

/// `tick(Duration::ZERO)` is always ready (crossbeam's behaviour).
#[test]
fn zero_tick_is_always_ready() {
    at_procs(|| {
        let r = tick(Duration::ZERO);
        for _ in 0..10 {
            assert!(r.try_recv().is_ok());
            assert!(r.recv().is_ok());
        }
    });
}

/// A receive bounded by a deadline that comes before the timer's.
#[test]
fn timer_wait_honours_the_callers_deadline() {
    at_procs(|| {
        let r = after(Duration::from_secs(3600));
        assert_eq!(r.recv_timeout(ms(1)), Err(RecvTimeoutError::Timeout));
        let got = select! {
            recv(r) -> _ => false,
            default(ms(1)) => true,
        };
        assert!(got);
    });
}

/// Bug: a blocking channel operation from a thread-local's destructor, after
/// goro's own thread-locals were destroyed, panicked holding the channel's
/// lock (and then hung). It now blocks on a parker of its own.
#[test]
fn blocking_from_a_thread_local_destructor() {
    struct Blocker {
        done: mpsc::Sender<usize>,
        started: mpsc::Sender<()>,
        r: Receiver<usize>,
    }
    impl Drop for Blocker {
        fn drop(&mut self) {
            let (_s, empty) = unbounded::<()>();
            assert_eq!(empty.recv_timeout(ms(1)), Err(RecvTimeoutError::Timeout));
            select! {
                recv(empty) -> _ => unreachable!(),
                default(ms(1)) => {}
            }
            let _ = self.started.send(());
            // Blocks until the helper sends (or takes it at once).
            let got = self.r.recv().unwrap();
            let _ = self.done.send(got);
        }
    }
    thread_local! {
        static BLOCKER: std::cell::RefCell<Option<Blocker>> = const { std::cell::RefCell::new(None) };
    }

    let (done_s, done_r) = mpsc::channel();
    let (started_s, started_r) = mpsc::channel();
    let (s, r) = bounded(0);
    std::thread::spawn(move || {
        // Registered first, so destroyed after goro's own thread-locals,
        // which the blocking receive below creates.
        BLOCKER.with(|b| {
            *b.borrow_mut() = Some(Blocker {
                done: done_s,
                started: started_s,
                r: r.clone(),
            })
        });
        let (ts, tr) = bounded(0);
        let helper = std::thread::spawn(move || ts.send(1).unwrap());
        assert_eq!(tr.recv(), Ok(1));
        helper.join().unwrap();
    });
    started_r
        .recv_timeout(Duration::from_secs(60))
        .expect("the destructor's timed waits returned");
    s.send(7).unwrap();
    assert_eq!(done_r.recv_timeout(Duration::from_secs(60)), Ok(7));
}

/// Bug: two `never()` receivers were not the same channel.
#[test]
fn never_is_one_channel() {
    assert!(never::<i32>().same_channel(&never::<i32>()));
    let (_s, r) = unbounded::<i32>();
    assert!(!r.same_channel(&never()));
}

/// `default()` is `default`, as crossbeam spells it too.
#[test]
fn default_with_empty_parentheses() {
    let (_s, r) = unbounded::<i32>();
    let got = select! {
        recv(r) -> _ => 1,
        default() => 2,
    };
    assert_eq!(got, 2);
}

/// Channel handles can cross `catch_unwind`.
#[test]
fn handles_are_unwind_safe() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
    let (s, r) = unbounded::<i32>();
    unwind_safe(&s);
    unwind_safe(&r);
    let res = std::panic::catch_unwind(|| s.send(1));
    assert!(res.is_ok());
    assert_eq!(r.recv(), Ok(1));
}

/// Many receivers of one tick channel share its ticks: none is lost twice
/// and nothing blocks forever. Counts receipts against a fixed number.
#[test]
fn tick_shared_by_many_receivers() {
    at_procs(|| {
        let r = tick(Duration::ZERO);
        let got = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (r, got) = (r.clone(), got.clone());
                goro::go!(move || {
                    for _ in 0..100 {
                        r.recv().unwrap();
                        got.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(got.load(Ordering::Relaxed), 400);
    });
}

/// `Select` as crossbeam has it: a send is added without its value and
/// completed with it; `ready` and its kin find a ready operation without
/// completing it; `remove` keeps the other indices; a clone is the same
/// select. Every value sent arrives once.
#[test]
fn select_with_crossbeams_api() {
    at_procs(|| {
        let (s1, r1) = bounded::<usize>(0);
        let (s2, r2) = unbounded::<usize>();
        let mut sel = Select::new();
        let send = sel.send(&s1);
        let recv = sel.recv(&r2);
        assert!(sel.try_ready().is_err());
        assert!(sel.ready_timeout(ms(1)).is_err());
        s2.send(7).unwrap();
        assert_eq!(sel.ready(), recv);
        assert_eq!(r2.try_recv(), Ok(7));

        // A receiver waits on `r1`: the send becomes ready, and is sent.
        let r1c = r1.clone();
        let rx = goro::go!(move || r1c.recv().unwrap());
        let oper = sel.select();
        assert_eq!(oper.index(), send);
        oper.send(&s1, 11).unwrap();
        assert_eq!(rx.join().unwrap(), 11);

        // Removed cases are never chosen; the clone keeps the indices.
        let mut other = sel.clone();
        sel.remove(send);
        s2.send(8).unwrap();
        let oper = sel.select();
        assert_eq!(oper.index(), recv);
        assert_eq!(oper.recv(&r2), Ok(8));
        s2.send(9).unwrap();
        let oper = other.try_select().unwrap();
        assert_eq!(oper.index(), recv);
        assert_eq!(oper.recv(&r2), Ok(9));
    });
}

/// Many senders selecting on send cases of one unbuffered channel, and
/// receivers taking from it: every value arrives exactly once.
#[test]
fn select_send_cases_stress() {
    at_procs(|| {
        const SENDERS: usize = 4;
        const EACH: usize = 500;
        let (s, r) = bounded::<usize>(0);
        let (_keep, idle) = bounded::<usize>(0);
        let senders: Vec<_> = (0..SENDERS)
            .map(|k| {
                let (s, idle) = (s.clone(), idle.clone());
                goro::go!(move || {
                    for i in 0..EACH {
                        let mut sel = Select::new();
                        let send = sel.send(&s);
                        sel.recv(&idle);
                        let oper = sel.select();
                        assert_eq!(oper.index(), send);
                        oper.send(&s, k * EACH + i).unwrap();
                    }
                })
            })
            .collect();
        drop(s);
        let mut seen = vec![false; SENDERS * EACH];
        for _ in 0..SENDERS * EACH {
            let v = r.recv().unwrap();
            assert!(!seen[v], "{v} received twice");
            seen[v] = true;
        }
        for h in senders {
            h.join().unwrap();
        }
        assert!(r.try_recv().is_err());
    });
}

/// `ready` waits as a watcher: woken by a send, by room made by a
/// receive, and by a close; counted over many rounds.
#[test]
fn ready_is_woken_by_changes() {
    at_procs(|| {
        const ROUNDS: usize = 200;
        let (s, r) = bounded::<usize>(1);
        let (s2, r2) = (s.clone(), r.clone());
        // A watcher of the receive side, woken by each send.
        let watcher = goro::go!(move || {
            let mut got = 0;
            while got < ROUNDS {
                let mut sel = Select::new();
                sel.recv(&r2);
                sel.ready();
                if r2.try_recv().is_ok() {
                    got += 1;
                }
            }
            got
        });
        // A watcher of the send side, woken by each receive.
        let sender = goro::go!(move || {
            let mut sent = 0;
            while sent < ROUNDS {
                let mut sel = Select::new();
                sel.send(&s2);
                sel.ready();
                if s2.try_send(sent).is_ok() {
                    sent += 1;
                }
            }
        });
        sender.join().unwrap();
        assert_eq!(watcher.join().unwrap(), ROUNDS);
        assert!(r.try_recv().is_err());
        // A close wakes a watcher of a channel that never gets a value.
        let (s3, r3) = bounded::<()>(0);
        let h = goro::go!(move || {
            let mut sel = Select::new();
            sel.recv(&r3);
            sel.ready();
            r3.try_recv()
        });
        goro::yield_now();
        drop(s3);
        assert_eq!(h.join().unwrap(), Err(TryRecvError::Disconnected));
        drop(s);
    });
}

/// If a buffered message's destructor panics when the last receiver
/// drops the buffer, the panic reaches the dropper and the messages after
/// it are leaked (crossbeam's behaviour), not dropped during the unwind,
/// which would abort.
#[test]
fn panicking_message_destructor() {
    struct Bomb(Arc<AtomicUsize>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("boom");
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (s, r) = bounded(2);
    s.send(Bomb(drops.clone())).unwrap();
    s.send(Bomb(drops.clone())).unwrap();
    let res = std::panic::catch_unwind(move || drop(r));
    assert!(res.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(s.send(Bomb(Arc::new(AtomicUsize::new(0)))).is_err_and(|e| {
        std::mem::forget(e.into_inner());
        true
    }));
}

/// crossbeam's `matching`: goroutines and threads each select between
/// receiving from and sending on one unbuffered channel; they must pair
/// up (a receiver that chooses a waiting `Select` send takes that sender's
/// value, so no selector is left sending with nobody to receive). Every
/// value is received once, and none by the one that sent it.
#[test]
fn selects_pair_up_on_an_unbuffered_channel() {
    at_procs(|| {
        const GOROUTINES: usize = 40;
        const THREADS: usize = 4;
        let (s, r) = bounded::<usize>(0);
        let received = Arc::new(AtomicUsize::new(0));
        let body = {
            let (s, r, received) = (s.clone(), r.clone(), received.clone());
            move |i: usize| {
                let mut sel = Select::new();
                let recv = sel.recv(&r);
                let send = sel.send(&s);
                let oper = sel.select();
                match oper.index() {
                    k if k == recv => {
                        let v = oper.recv(&r).unwrap();
                        assert_ne!(v, i, "received its own value");
                        received.fetch_add(1, Ordering::SeqCst);
                    }
                    k if k == send => oper.send(&s, i).unwrap(),
                    _ => unreachable!(),
                }
            }
        };
        let body = Arc::new(body);
        let mut gs = Vec::new();
        for i in 0..GOROUTINES {
            let body = body.clone();
            gs.push(goro::go!(move || body(i)));
        }
        let ts: Vec<_> = (GOROUTINES..GOROUTINES + THREADS)
            .map(|i| {
                let body = body.clone();
                thread(move || body(i))
            })
            .collect();
        for g in gs {
            g.join().unwrap();
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(received.load(Ordering::SeqCst), (GOROUTINES + THREADS) / 2);
        assert!(r.try_recv().is_err());
    });
}

/// A `try_recv` that finds a `Select` send case waiting takes its value,
/// as crossbeam's does; a dropped selected send leaves that receiver
/// failing instead of waiting forever.
#[test]
fn try_recv_takes_a_selected_send() {
    at_procs(|| {
        let (s, r) = bounded::<i32>(0);
        let s2 = s.clone();
        let sender = goro::go!(move || {
            let mut sel = Select::new();
            sel.send(&s2);
            sel.select().send(&s2, 5).unwrap();
        });
        let mut sel = Select::new();
        sel.recv(&r);
        sel.ready();
        assert_eq!(r.try_recv(), Ok(5));
        sender.join().unwrap();

        let s3 = s.clone();
        let dropper = goro::go!(move || {
            let mut sel = Select::new();
            sel.send(&s3);
            drop(sel.select());
        });
        let mut sel = Select::new();
        sel.recv(&r);
        sel.ready();
        assert_eq!(r.try_recv(), Err(TryRecvError::Disconnected));
        dropper.join().unwrap();
    });
}

/// A select whose send case is chosen because a receive waits pairs with
/// that receive (crossbeam's `loop_try`): the waiting select is committed
/// to it, so it can no longer complete another case, and the chosen send
/// then completes without waiting. Before, the waiting select could still
/// complete its other case, leaving the chosen send blocked for good.
#[test]
fn a_chosen_send_pairs_with_the_waiting_receive() {
    at_procs(|| {
        let (s1, r1) = bounded::<i32>(0);
        let (s2, r2) = bounded::<i32>(0);
        let waiting = goro::spawn(move || {
            let mut sel = Select::new();
            let (recv, send) = (sel.recv(&r1), sel.send(&s2));
            let op = sel.select();
            match op.index() {
                i if i == recv => op.recv(&r1).ok(),
                i => {
                    assert_eq!(i, send);
                    op.send(&s2, 2).unwrap();
                    None
                }
            }
        });
        while !goro::dump()
            .iter()
            .any(|g| g.id == waiting.id() && g.state == "select")
        {
            goro::yield_now();
        }
        let mut sel = Select::new();
        let send = sel.send(&s1);
        let op = sel.try_select().expect("a receive waits");
        assert_eq!(op.index(), send);
        assert_eq!(r2.try_recv(), Err(TryRecvError::Empty), "committed to r1");
        op.send(&s1, 1).unwrap();
        assert_eq!(waiting.join().unwrap(), Some(1));
    });
}

/// Crossbeam's `loop_try`, counted: three parties race non-blocking
/// selects against one blocking select, many rounds, and every round ends
/// (no send is left waiting for a receive that went elsewhere: before the
/// fix, a round hung).
#[test]
fn racing_try_selects_never_strand_a_chosen_send() {
    at_procs(|| {
        for _ in 0..200 {
            let (s1, r1) = bounded::<i32>(0);
            let (s2, r2) = bounded::<i32>(0);
            let (s_end, r_end) = bounded::<()>(0);
            let r_end2 = r_end.clone();
            let sender = goro::spawn(move || loop {
                let mut sel = Select::new();
                sel.send(&s1);
                if let Ok(op) = sel.try_select() {
                    goro::yield_now(); // the receiver's turn to race
                    op.send(&s1, 1).unwrap();
                    return 1;
                }
                if r_end.try_recv() != Err(TryRecvError::Empty) {
                    return 0;
                }
                goro::yield_now();
            });
            let receiver = goro::spawn(move || loop {
                if let Ok(x) = r2.try_recv() {
                    assert_eq!(x, 2);
                    return 1;
                }
                if r_end2.try_recv() != Err(TryRecvError::Empty) {
                    return 0;
                }
                goro::yield_now();
            });
            let mut sel = Select::new();
            let (recv, send) = (sel.recv(&r1), sel.send(&s2));
            let op = sel.select();
            match op.index() {
                i if i == recv => assert_eq!(op.recv(&r1), Ok(1)),
                i => {
                    assert_eq!(i, send);
                    op.send(&s2, 2).unwrap();
                }
            }
            drop(s_end);
            assert_eq!(sender.join().unwrap() + receiver.join().unwrap(), 1);
        }
    });
}
