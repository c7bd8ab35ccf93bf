//! `select!`, `select_biased!` and `Select`, after Go's `test/chan`
//! (doubleselect, select2-7, nonblock) and `runtime/chan_test.go`
//! (TestSelectFairness, TestSelectStress, TestSelfSelect,
//! TestSelectDuplicateChannel, TestPseudoRandomSend). Every test runs its
//! body at GOMAXPROCS=1 and 4.

mod common;

use common::{at_procs, thread, Counted};
use goro::chan::{
    after, bounded, never, unbounded, Receiver, RecvError, Select, SendError, Sender,
};
use goro::{go, select, select_biased};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every arm form, with and without commas, results typed as crossbeam's.
#[test]
fn arm_forms() {
    at_procs(|| {
        let (s1, r1) = unbounded();
        let (s2, r2) = bounded::<i32>(1);
        s1.send(10).unwrap();
        let got = select! {
            recv(r1) -> msg => { msg.unwrap() }
            send(s2, 20) -> res => {
                res.unwrap();
                r2.try_recv().unwrap()
            }
        };
        assert!(got == 10 || got == 20);

        // default: nothing ready.
        let (_s3, r3) = unbounded::<i32>();
        let v = select! {
            recv(r3) -> m => m.unwrap(),
            default => -1,
        };
        assert_eq!(v, -1);

        // default(timeout): does not fire early.
        let start = Instant::now();
        let v = select! {
            recv(r3) -> m => m.unwrap(),
            default(Duration::from_millis(10)) => -2
        };
        assert_eq!(v, -2);
        assert!(start.elapsed() >= Duration::from_millis(10));

        // A temporary channel expression lives through the select; `_`
        // and other patterns bind the result.
        select! {
            recv(r3) -> _ => unreachable!(),
            recv(after(Duration::from_millis(1))) -> Ok(_) | Err(_) => {}
        }

        // Only a default arm; and an empty select with a timeout.
        assert_eq!(select! { default => 3 }, 3);
        select! { default(Duration::from_millis(1)) => {} }

        // References to handles work as well as handles.
        let (s4, r4) = bounded(1);
        let (s4r, r4r) = (&s4, &r4);
        select! { send(s4r, 4) -> res => res.unwrap() }
        select! { recv(r4r) -> m => assert_eq!(m, Ok(4)) }
    });
}

/// A closed channel is ready: receive gets `RecvError` once drained, send
/// gets its value back.
#[test]
fn closed_channels_are_ready() {
    at_procs(|| {
        let (s, r) = bounded::<i32>(1);
        s.send(1).unwrap();
        s.close();
        select! { recv(r) -> m => assert_eq!(m, Ok(1)) }
        select! { recv(r) -> m => assert_eq!(m, Err(RecvError)) }
        select! { send(s, 2) -> res => assert_eq!(res, Err(SendError(2))) }
        // A blocked select is woken by a close.
        let (s, r) = bounded::<i32>(0);
        let (_s2, r2) = bounded::<i32>(0);
        let h = go!(move || select! {
            recv(r) -> m => m,
            recv(r2) -> m => m,
        });
        s.close();
        assert_eq!(h.join().unwrap(), Err(RecvError));
    });
}

/// Bodies can leave the enclosing loop or function, and can reassign the
/// channel they selected on (crossbeam's `r = never()` idiom).
#[test]
fn control_flow_and_reassignment() {
    at_procs(|| {
        fn first(r: &Receiver<i32>) -> i32 {
            loop {
                select! {
                    recv(r) -> m => return m.unwrap(),
                    default => goro::yield_now(),
                }
            }
        }
        let (s, r) = unbounded();
        s.send(5).unwrap();
        assert_eq!(first(&r), 5);

        let (s1, mut r1) = unbounded();
        let (s2, mut r2) = unbounded();
        s1.send(1).unwrap();
        s2.send(2).unwrap();
        drop((s1, s2));
        let mut got = Vec::new();
        loop {
            select! {
                recv(r1) -> m => match m {
                    Ok(v) => got.push(v),
                    Err(_) => r1 = never(),
                },
                recv(r2) -> m => match m {
                    Ok(v) => got.push(v),
                    Err(_) => r2 = never(),
                },
                default(Duration::from_millis(20)) => break,
            }
        }
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

/// Go's TestSelectFairness: two always-ready cases over 100,000 selects;
/// each must win between 45% and 55% (a binomial bound beyond 30 sigma:
/// it cannot flake).
#[test]
fn select_fairness() {
    at_procs(|| {
        const N: usize = 100_000;
        let (s1, r1) = bounded(1);
        let (s2, r2) = bounded(1);
        s1.send(()).unwrap();
        s2.send(()).unwrap();
        let mut counts = [0usize; 2];
        for _ in 0..N {
            select! {
                recv(r1) -> m => { m.unwrap(); counts[0] += 1; s1.send(()).unwrap(); }
                recv(r2) -> m => { m.unwrap(); counts[1] += 1; s2.send(()).unwrap(); }
            }
        }
        for c in counts {
            assert!((N * 45 / 100..=N * 55 / 100).contains(&c), "{counts:?}");
        }
        // Three ready cases, one of them a send: each near a third.
        let (s3, r3) = unbounded();
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            select! {
                recv(r1) -> _ => { counts[0] += 1; s1.send(()).unwrap(); }
                recv(r2) -> _ => { counts[1] += 1; s2.send(()).unwrap(); }
                send(s3, ()) -> _ => { counts[2] += 1; r3.recv().unwrap(); }
            }
        }
        for c in counts {
            assert!((9_000..=11_000).contains(&c), "{counts:?}");
        }
    });
}

/// `select_biased!` and `Select::new_biased` always pick the first ready.
#[test]
fn biased_select_picks_in_order() {
    at_procs(|| {
        let (s1, r1) = unbounded();
        let (s2, r2) = unbounded();
        for i in 0..100 {
            s1.send(i).unwrap();
            s2.send(i).unwrap();
        }
        for i in 0..100 {
            select_biased! {
                recv(r1) -> m => assert_eq!(m, Ok(i)),
                recv(r2) -> _ => panic!("second arm chosen"),
            }
        }
        let mut sel = Select::new_biased();
        sel.recv(&r1);
        let second = sel.recv(&r2);
        assert_eq!(sel.select().index(), second);
    });
}

/// Go's doubleselect.go: senders each send 1..N, selecting over several
/// output channels; a muxer per channel forwards into one; receivers check
/// that no value arrives twice (or goes missing).
#[test]
fn doubleselect() {
    at_procs(|| {
        const N: usize = 5000;
        let chans: Vec<_> = (0..4).map(|_| bounded::<usize>(0)).collect();
        let (mux_tx, mux_rx) = bounded::<usize>(0);
        // Sender: select-sends each value on one of four channels.
        let outs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
        go!(move || {
            for i in 1..=N {
                select! {
                    send(outs[0], i) -> r => r.unwrap(),
                    send(outs[1], i) -> r => r.unwrap(),
                    send(outs[2], i) -> r => r.unwrap(),
                    send(outs[3], i) -> r => r.unwrap(),
                }
            }
        });
        // Muxers: one per channel, forwarding into mux.
        for (_, r) in &chans {
            let (r, mux_tx) = (r.clone(), mux_tx.clone());
            go!(move || r.iter().for_each(|v| mux_tx.send(v).unwrap()));
        }
        drop(chans);
        drop(mux_tx);
        let mut seen = vec![false; N + 1];
        for v in mux_rx.iter() {
            assert!(!seen[v], "{v} received twice");
            seen[v] = true;
        }
        assert!(seen[1..].iter().all(|&s| s), "a value went missing");
    });
}

/// Go's TestSelectStress: four channels (two unbuffered, two buffered);
/// senders and receivers each use selects that drop a channel once done
/// with it. Every value is received exactly once (sums and counts).
#[test]
fn select_stress() {
    at_procs(|| {
        const N: usize = 3000;
        let c: Vec<(Sender<usize>, Receiver<usize>)> =
            vec![bounded(0), bounded(0), bounded(2), bounded(3)];
        let senders: Vec<Sender<usize>> = c.iter().map(|p| p.0.clone()).collect();
        let receivers: Vec<Receiver<usize>> = c.iter().map(|p| p.1.clone()).collect();
        drop(c);
        // Four goroutines send N values each on their own channel, with
        // plain sends; one goroutine sends N values on each channel with
        // a select over the channels that still want values.
        let mut hs = Vec::new();
        for (k, s) in senders.iter().enumerate() {
            let s = s.clone();
            hs.push(go!(move || (0..N).for_each(|i| s.send(k * N + i).unwrap())));
        }
        let all = senders.clone();
        hs.push(go!(move || {
            let mut left = [N; 4];
            let base = 4 * N;
            while left.iter().any(|&n| n > 0) {
                let mut sel = Select::new();
                let mut idx = Vec::new();
                for (k, s) in all.iter().enumerate() {
                    if left[k] > 0 {
                        idx.push((k, sel.send(s)));
                    }
                }
                let oper = sel.select();
                let k = idx.iter().find(|(_, i)| *i == oper.index()).unwrap().0;
                oper.send(&all[k], base + k * N + (N - left[k])).unwrap();
                left[k] -= 1;
            }
        }));
        drop(senders);
        // Receivers: one plain per channel, one select over all four.
        let totals = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(AtomicUsize::new(0));
        let mut rs = Vec::new();
        for r in &receivers {
            let (r, totals, count) = (r.clone(), totals.clone(), count.clone());
            rs.push(go!(move || {
                for v in r.iter().take(N / 2) {
                    totals.fetch_add(v, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let rr = receivers.clone();
        let (t2, c2) = (totals.clone(), count.clone());
        rs.push(go!(move || {
            let mut open = [true; 4];
            let mut rr: Vec<Receiver<usize>> = rr;
            while open.iter().any(|&o| o) {
                let got = select! {
                    recv(rr[0]) -> m => (0, m),
                    recv(rr[1]) -> m => (1, m),
                    recv(rr[2]) -> m => (2, m),
                    recv(rr[3]) -> m => (3, m),
                };
                match got {
                    (_, Ok(v)) => {
                        t2.fetch_add(v, Ordering::Relaxed);
                        c2.fetch_add(1, Ordering::Relaxed);
                    }
                    (k, Err(_)) => {
                        open[k] = false;
                        rr[k] = never();
                    }
                }
            }
        }));
        drop(receivers);
        hs.into_iter().for_each(|h| h.join().unwrap());
        rs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(count.load(Ordering::Relaxed), 8 * N);
        assert_eq!(totals.load(Ordering::Relaxed), (0..8 * N).sum::<usize>());
    });
}

/// Selects on both sides of unbuffered channels: a select sending pairs
/// with a select receiving, committing exactly one exchange each time.
#[test]
fn select_pairs_with_select() {
    at_procs(|| {
        const N: usize = 4000;
        let (a_tx, a_rx) = bounded::<usize>(0);
        let (b_tx, b_rx) = bounded::<usize>(0);
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let (a_tx, b_tx) = (a_tx.clone(), b_tx.clone());
                go!(move || {
                    for i in 0..N {
                        let v = p * N + i;
                        select! {
                            send(a_tx, v) -> r => r.unwrap(),
                            send(b_tx, v) -> r => r.unwrap(),
                        }
                    }
                })
            })
            .collect();
        drop((a_tx, b_tx));
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let (a_rx, b_rx) = (a_rx.clone(), b_rx.clone());
                go!(move || {
                    let mut got = Vec::new();
                    let (mut a, mut b) = (a_rx, b_rx);
                    let mut open = 2;
                    while open > 0 {
                        select! {
                            recv(a) -> m => match m { Ok(v) => got.push(v), Err(_) => { a = never(); open -= 1; } },
                            recv(b) -> m => match m { Ok(v) => got.push(v), Err(_) => { b = never(); open -= 1; } },
                        }
                    }
                    got
                })
            })
            .collect();
        drop((a_rx, b_rx));
        producers.into_iter().for_each(|h| h.join().unwrap());
        let mut all: Vec<usize> = consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (0..3 * N).collect::<Vec<_>>());
    });
}

/// Go's TestSelfSelect: goroutines select to send and receive on the same
/// channel; with an unbuffered channel a select never pairs with itself
/// (it must never receive its own value), and nothing deadlocks.
#[test]
fn self_select() {
    at_procs(|| {
        for cap in [0, 1] {
            let (s, r) = bounded::<usize>(cap);
            let hs: Vec<_> = (0..2)
                .map(|p| {
                    let (s, r) = (s.clone(), r.clone());
                    go!(move || {
                        for _ in 0..1000 {
                            select! {
                                send(s, p) -> res => res.unwrap(),
                                recv(r) -> v => {
                                    let v = v.unwrap();
                                    assert!(cap != 0 || v != p, "select received its own send");
                                }
                            }
                        }
                    })
                })
                .collect();
            // The two goroutines each do 1000 operations; their sends and
            // receives need not pair up, so a helper drains and feeds until
            // they are done.
            let (s2, r2) = (s.clone(), r.clone());
            let (stop_tx, stop_rx) = bounded::<()>(0);
            let helper = go!(move || loop {
                select! {
                    recv(r2) -> _ => {}
                    send(s2, 99) -> _ => {}
                    recv(stop_rx) -> _ => return,
                }
            });
            hs.into_iter().for_each(|h| h.join().unwrap());
            drop(stop_tx);
            helper.join().unwrap();
        }
    });
}

/// Go's TestSelectDuplicateChannel and select6.go (issue 2075): a select
/// with the same channel twice, and a select whose failed case leaves a
/// stale waiter that must not confuse later waiters.
#[test]
fn duplicate_channels_and_stale_waiters() {
    at_procs(|| {
        // Same channel in two arms.
        let (s, r) = bounded::<i32>(0);
        let h = go!(move || select! {
            recv(r) -> m => m.unwrap(),
            recv(r) -> m => m.unwrap() + 100,
        });
        s.send(1).unwrap();
        let v = h.join().unwrap();
        assert!(v == 1 || v == 101);

        // select6.go.
        let (c1_tx, c1_rx) = bounded::<bool>(0);
        let (c2_tx, c2_rx) = bounded::<bool>(0);
        let (c3_tx, c3_rx) = bounded::<bool>(0);
        let a = {
            let c1 = c1_rx.clone();
            go!(move || c1.recv().unwrap())
        };
        let b = {
            let c1 = c1_rx.clone();
            go!(move || {
                select! {
                    recv(c1) -> _ => panic!("dummy"),
                    recv(c2_rx) -> _ => c3_tx.send(true).unwrap(),
                }
                c1.recv().unwrap()
            })
        };
        go!(move || c2_tx.send(true).unwrap());
        c3_rx.recv().unwrap();
        c1_tx.send(true).unwrap();
        c1_tx.send(true).unwrap();
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Go's TestPseudoRandomSend: a select with two sends of different values
/// on the same channel picks both over time.
#[test]
fn pseudo_random_send() {
    at_procs(|| {
        let (s, r) = bounded::<usize>(0);
        let h = go!(move || r.iter().take(1000).collect::<Vec<_>>());
        for _ in 0..1000 {
            select! {
                send(s, 0) -> r => r.unwrap(),
                send(s, 1) -> r => r.unwrap(),
            }
        }
        let got = h.join().unwrap();
        let ones = got.iter().filter(|&&v| v == 1).count();
        assert!((300..=700).contains(&ones), "{ones} ones of 1000");
    });
}

/// Selects with short timeouts racing senders and a close: every value is
/// received exactly once or handed back, never lost or doubled.
#[test]
fn select_timeouts_and_close_race() {
    at_procs(|| {
        const N: usize = 2000;
        let (s, r) = bounded::<usize>(0);
        let (s2, r2) = bounded::<usize>(1);
        let (back_tx, back_rx) = unbounded();
        let senders: Vec<_> = (0..2)
            .map(|p| {
                let (s, s2, back_tx) = (s.clone(), s2.clone(), back_tx.clone());
                go!(move || {
                    for i in 0..N {
                        let v = p * N + i;
                        select! {
                            send(s, v) -> r => r.unwrap(),
                            send(s2, v + 10 * N) -> r => r.unwrap(),
                            default(Duration::from_micros(20)) => back_tx.send(v).unwrap(),
                        }
                    }
                })
            })
            .collect();
        drop((s, s2, back_tx));
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (r, r2) = (r.clone(), r2.clone());
                go!(move || {
                    let mut got = Vec::new();
                    let (mut r, mut r2) = (r, r2);
                    let mut open = 2;
                    while open > 0 {
                        select! {
                            recv(r) -> m => match m { Ok(v) => got.push(v), Err(_) => { r = never(); open -= 1; } },
                            recv(r2) -> m => match m { Ok(v) => got.push(v - 10 * N), Err(_) => { r2 = never(); open -= 1; } },
                            default(Duration::from_micros(30)) => {}
                        }
                    }
                    got
                })
            })
            .collect();
        drop((r, r2));
        senders.into_iter().for_each(|h| h.join().unwrap());
        let mut all: Vec<usize> = receivers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.extend(back_rx.iter());
        all.sort();
        assert_eq!(all, (0..2 * N).collect::<Vec<_>>());
    });
}

/// Selects from plain OS threads mixed with goroutines.
#[test]
fn select_from_threads() {
    at_procs(|| {
        let (a_tx, a_rx) = bounded::<usize>(0);
        let (b_tx, b_rx) = bounded::<usize>(2);
        let t = thread(move || {
            for i in 0..1000 {
                select! {
                    send(a_tx, i) -> r => r.unwrap(),
                    send(b_tx, i) -> r => r.unwrap(),
                }
            }
        });
        let mut sum = 0;
        let (mut a, mut b) = (a_rx, b_rx);
        let mut open = 2;
        while open > 0 {
            select! {
                recv(a) -> m => match m { Ok(v) => sum += v, Err(_) => { a = never(); open -= 1; } },
                recv(b) -> m => match m { Ok(v) => sum += v, Err(_) => { b = never(); open -= 1; } },
            }
        }
        t.join().unwrap();
        assert_eq!(sum, (0..1000).sum());
    });
}

/// Values of send arms that were not chosen are dropped exactly once, and
/// chosen ones are delivered.
#[test]
fn select_drops_unsent_values_once() {
    at_procs(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (s1, r1) = bounded(100);
        let (s2, r2) = bounded(100);
        for i in 0..100 {
            select! {
                send(s1, Counted::new(i, &drops)) -> r => r.unwrap(),
                send(s2, Counted::new(i, &drops)) -> r => r.unwrap(),
            }
        }
        assert_eq!(drops.load(Ordering::SeqCst), 100);
        assert_eq!(r1.len() + r2.len(), 100);
        drop((s1, s2, r1, r2));
        assert_eq!(drops.load(Ordering::SeqCst), 200);
    });
}

/// `Select` with cases built at run time: try, timeout, reuse, and the
/// typed outcome accessors.
#[test]
fn dynamic_select() {
    at_procs(|| {
        let chans: Vec<_> = (0..8).map(|_| bounded::<usize>(1)).collect();
        let mut sel = Select::new();
        for (_, r) in &chans {
            sel.recv(r);
        }
        assert!(sel.try_select().is_err());
        let start = Instant::now();
        assert!(sel.select_timeout(Duration::from_millis(5)).is_err());
        assert!(start.elapsed() >= Duration::from_millis(5));
        // Reused: a value sent later by another goroutine is selected.
        let s5 = chans[5].0.clone();
        go!(move || s5.send(55).unwrap());
        let oper = sel.select();
        let i = oper.index();
        assert_eq!(i, 5);
        assert_eq!(oper.recv(&chans[i].1), Ok(55));
        // A send case is given its value once selected; with the buffer
        // full it is not ready.
        let (s, r) = bounded::<String>(1);
        let mut sel = Select::new();
        let k = sel.send(&s);
        let oper = sel.select();
        assert_eq!(oper.index(), k);
        oper.send(&s, "x".to_string()).unwrap();
        assert!(sel.try_select().is_err());
        assert_eq!(r.recv().unwrap(), "x");
        // A deadline in the past polls once.
        let (s0, r0) = bounded(1);
        s0.send(1).unwrap();
        let mut sel = Select::new();
        sel.recv(&r0);
        let oper = sel.select_deadline(Instant::now()).unwrap();
        assert_eq!(oper.recv(&r0), Ok(1));
    });
}

/// Asking a `SelectedOperation` for the wrong channel panics.
#[test]
#[should_panic(expected = "not the receive operation that was selected")]
fn dynamic_select_wrong_channel_panics() {
    let (s1, r1) = bounded::<i32>(1);
    let (_s2, r2) = bounded::<i32>(1);
    s1.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&r1);
    sel.recv(&r2);
    let _ = sel.select().recv(&r2);
}
