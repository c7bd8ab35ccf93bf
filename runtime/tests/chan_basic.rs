//! Channel semantics, after Go's `test/chan` (fifo, nonblock, zerosize) and
//! `runtime/chan_test.go` (TestChan, close and drop behaviour), plus
//! crossbeam's API. Every test runs its body at GOMAXPROCS=1 and 4.

mod common;

use common::{at_procs, thread, Counted};
use goro::chan::{
    after, bounded, never, tick, unbounded, RecvError, RecvTimeoutError, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
use goro::go;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPS: [usize; 5] = [0, 1, 2, 10, 100];

/// Go's fifo.go `AsynchFifo`/`SynchFifo`: one sender, values arrive in
/// order, for every capacity.
#[test]
fn fifo_single_sender_every_capacity() {
    at_procs(|| {
        for cap in CAPS {
            let (s, r) = bounded(cap);
            let h = go!(move || (0..1000).for_each(|i| s.send(i).unwrap()));
            for i in 0..1000 {
                assert_eq!(r.recv(), Ok(i), "cap {cap}");
            }
            h.join().unwrap();
            assert_eq!(r.recv(), Err(RecvError));
        }
    });
}

/// Go's fifo.go `SynchFifo` chain: goroutine i waits for its turn on `in`,
/// sends i on the shared channel, then passes the turn on. Values must
/// come out in order.
#[test]
fn fifo_chained_senders() {
    at_procs(|| {
        for cap in CAPS {
            const N: usize = 100;
            let (s, r) = bounded(cap);
            let (first, mut turn) = bounded::<()>(0);
            for i in 0..N {
                let (next_tx, next_rx) = bounded::<()>(0);
                let s = s.clone();
                go!(move || {
                    turn.recv().unwrap();
                    s.send(i).unwrap();
                    next_tx.send(()).unwrap();
                });
                turn = next_rx;
            }
            drop(s);
            first.send(()).unwrap();
            for i in 0..N {
                assert_eq!(r.recv(), Ok(i), "cap {cap}");
            }
            turn.recv().unwrap();
        }
    });
}

/// Waiting receivers and waiting senders are served first come, first
/// served. At GOMAXPROCS=1 goroutines first run in spawn order (the local
/// run queue is FIFO), so after one `yield_now` they are queued in that
/// order; the order of service must match.
#[test]
fn waiters_are_served_fifo() {
    common::run_at(1, || {
        let (s, r) = bounded::<usize>(0);
        let receivers: Vec<_> = (0..10)
            .map(|_| {
                let r = r.clone();
                let h = go!(move || r.recv().unwrap());
                common::wait_until_parked(h.id(), "chan receive");
                h
            })
            .collect();
        for v in 0..10 {
            s.send(v).unwrap();
        }
        let got: Vec<usize> = receivers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());

        let (s, r) = bounded::<usize>(1);
        s.send(100).unwrap();
        let senders: Vec<_> = (0..10)
            .map(|i| {
                let s = s.clone();
                let h = go!(move || s.send(i).unwrap());
                common::wait_until_parked(h.id(), "chan send");
                h
            })
            .collect();
        let got: Vec<usize> = (0..11).map(|_| r.recv().unwrap()).collect();
        senders.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(got, [100, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
}

/// Go's nonblock.go: try_send/try_recv against a partner goroutine that
/// blocks, for every capacity; no value is lost or duplicated.
#[test]
fn nonblocking_ops_with_partner() {
    at_procs(|| {
        for cap in CAPS {
            let (s, r) = bounded::<usize>(cap);
            assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
            // Partner receives 100 values; we try_send until each goes.
            let partner = {
                let r = r.clone();
                go!(move || (0..100).map(|_| r.recv().unwrap()).sum::<usize>())
            };
            for i in 0..100 {
                let mut v = i;
                loop {
                    match s.try_send(v) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => v = back,
                        Err(e) => panic!("{e}"),
                    }
                    goro::yield_now();
                }
            }
            assert_eq!(partner.join().unwrap(), (0..100).sum());
            // Partner sends 100 values; we try_recv until each comes.
            let partner = {
                let s = s.clone();
                go!(move || (0..100).for_each(|i| s.send(i).unwrap()))
            };
            let mut sum = 0;
            let mut n = 0;
            while n < 100 {
                match r.try_recv() {
                    Ok(v) => {
                        sum += v;
                        n += 1;
                    }
                    Err(TryRecvError::Empty) => goro::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            partner.join().unwrap();
            assert_eq!(sum, (0..100).sum());
            assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        }
    });
}

/// Unbuffered try ops never succeed without a partner; buffered ones fill
/// and drain exactly to capacity.
#[test]
fn nonblocking_ops_alone() {
    at_procs(|| {
        let (s, r) = bounded(0);
        assert_eq!(s.try_send(1), Err(TrySendError::Full(1)));
        assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        let (s, r) = bounded(3);
        for i in 0..3 {
            s.try_send(i).unwrap();
        }
        assert_eq!(s.try_send(9), Err(TrySendError::Full(9)));
        assert!(s.is_full() && r.is_full());
        assert_eq!(r.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
        drop(r);
        assert_eq!(s.try_send(4), Err(TrySendError::Disconnected(4)));
    });
}

/// Go's zerosize.go and crossbeam's zero-sized tests: `()` messages count
/// and flow through every kind of channel.
#[test]
fn zero_sized_messages() {
    at_procs(|| {
        for cap in [0, 1, 5] {
            let (s, r) = bounded::<()>(cap);
            let h = go!(move || (0..1000).for_each(|_| s.send(()).unwrap()));
            assert_eq!(r.iter().count(), 1000);
            h.join().unwrap();
        }
        let (s, r) = unbounded::<()>();
        for _ in 0..1000 {
            s.send(()).unwrap();
        }
        assert_eq!(r.len(), 1000);
        drop(s);
        assert_eq!(r.into_iter().count(), 1000);
        let (s, r) = bounded::<[u8; 0]>(2);
        s.send([]).unwrap();
        assert_eq!(r.recv(), Ok([]));
    });
}

/// Close: receivers drain what is buffered, then fail; later sends fail
/// with their value; close reports whether it closed.
#[test]
fn close_drains_then_fails() {
    at_procs(|| {
        for cap in [1, 5] {
            let (s, r) = bounded(cap);
            s.send(1).unwrap();
            assert!(s.close());
            assert!(!s.close());
            assert!(s.is_closed() && r.is_closed());
            assert_eq!(s.send(2), Err(SendError(2)));
            assert_eq!(s.try_send(3), Err(TrySendError::Disconnected(3)));
            assert_eq!(r.recv(), Ok(1));
            assert_eq!(r.recv(), Err(RecvError));
            assert_eq!(r.try_recv(), Err(TryRecvError::Disconnected));
            let res = r.recv_timeout(Duration::from_secs(5));
            assert_eq!(res, Err(RecvTimeoutError::Disconnected));
        }
    });
}

/// Close wakes every blocked receiver (goroutines and threads) with an
/// error and every blocked sender with its value back.
#[test]
fn close_wakes_blocked_receivers_and_senders() {
    at_procs(|| {
        // Receivers blocked on an unbuffered channel.
        let (s, r) = bounded::<usize>(0);
        let gs: Vec<_> = (0..20)
            .map(|_| {
                let r = r.clone();
                go!(move || r.recv())
            })
            .collect();
        let ts: Vec<_> = (0..3)
            .map(|_| {
                let r = r.clone();
                thread(move || r.recv())
            })
            .collect();
        s.close();
        for h in gs {
            assert_eq!(h.join().unwrap(), Err(RecvError));
        }
        for h in ts {
            assert_eq!(h.join().unwrap(), Err(RecvError));
        }
        // Senders blocked on a full channel get their value back; the
        // buffered one is still received.
        let (s, r) = bounded::<usize>(1);
        s.send(1000).unwrap();
        let gs: Vec<_> = (0..20)
            .map(|i| {
                let s = s.clone();
                go!(move || s.send(i))
            })
            .collect();
        let ts: Vec<_> = (20..23)
            .map(|i| {
                let s = s.clone();
                thread(move || s.send(i))
            })
            .collect();
        // Let them all block: each one that is queued will fail on close,
        // each one that has not started yet fails on the closed channel.
        goro::yield_now();
        s.close();
        let mut failed: Vec<usize> = gs
            .into_iter()
            .map(|h| h.join().unwrap().unwrap_err().into_inner())
            .chain(
                ts.into_iter()
                    .map(|h| h.join().unwrap().unwrap_err().into_inner()),
            )
            .collect();
        failed.sort();
        assert_eq!(failed, (0..23).collect::<Vec<_>>());
        assert_eq!(r.recv(), Ok(1000));
        assert_eq!(r.recv(), Err(RecvError));
    });
}

/// Dropping the last sender closes; dropping the last receiver fails
/// blocked and later senders.
#[test]
fn dropping_handles_disconnects() {
    at_procs(|| {
        let (s, r) = bounded::<i32>(0);
        let h = go!(move || r.recv());
        let s2 = s.clone();
        drop(s);
        assert!(!s2.is_closed());
        drop(s2);
        assert_eq!(h.join().unwrap(), Err(RecvError));

        let (s, r) = bounded::<i32>(0);
        let blocked = {
            let s = s.clone();
            go!(move || s.send(7))
        };
        let thread_blocked = {
            let s = s.clone();
            thread(move || s.send(8))
        };
        let r2 = r.clone();
        drop(r);
        assert!(!s.is_closed());
        drop(r2);
        assert_eq!(blocked.join().unwrap(), Err(SendError(7)));
        assert_eq!(thread_blocked.join().unwrap(), Err(SendError(8)));
        assert!(s.is_closed());
        assert_eq!(s.send(9), Err(SendError(9)));
    });
}

/// Every message is dropped exactly once: left in the buffer when the
/// channel goes, dropped with the last receiver, returned by failed sends,
/// or received.
#[test]
fn drop_counting() {
    at_procs(|| {
        for cap in [0, 1, 16, usize::MAX] {
            let drops = Arc::new(AtomicUsize::new(0));
            let made = 200;
            let (s, r) = if cap == usize::MAX {
                unbounded()
            } else {
                bounded(cap)
            };
            let consumer = go!(move || {
                // Receive half, then drop the receiver with the rest
                // possibly buffered or in flight.
                for _ in 0..made / 2 {
                    drop(r.recv().unwrap());
                }
            });
            let producers: Vec<_> = (0..4)
                .map(|p| {
                    let (s, drops) = (s.clone(), drops.clone());
                    go!(move || {
                        for i in 0..made / 4 {
                            // A failed send hands the value back; dropping
                            // the error drops it.
                            let _ = s.send(Counted::new(p * 1000 + i, &drops));
                        }
                    })
                })
                .collect();
            consumer.join().unwrap();
            producers.into_iter().for_each(|h| h.join().unwrap());
            drop(s);
            assert_eq!(drops.load(Ordering::SeqCst), made, "cap {cap}");
        }
        // Messages still buffered when every handle goes.
        let drops = Arc::new(AtomicUsize::new(0));
        let (s, r) = bounded(10);
        for i in 0..10 {
            s.send(Counted::new(i, &drops)).unwrap();
        }
        drop(r.recv().unwrap());
        drop((s, r));
        assert_eq!(drops.load(Ordering::SeqCst), 10);
    });
}

/// Timeouts do not fire early, and a timed wait still gets a message that
/// arrives in time.
#[test]
fn timeouts() {
    at_procs(|| {
        let (s, r) = bounded::<i32>(0);
        let start = Instant::now();
        assert_eq!(
            r.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        let start = Instant::now();
        let res = s.send_timeout(1, Duration::from_millis(20));
        assert_eq!(res, Err(SendTimeoutError::Timeout(1)));
        assert!(start.elapsed() >= Duration::from_millis(20));
        let deadline = Instant::now() + Duration::from_millis(10);
        assert!(r.recv_deadline(deadline).unwrap_err().is_timeout());
        assert!(Instant::now() >= deadline);
        // A partner that sends: the timed receive gets it (generous limit).
        let h = go!(move || s.send(5));
        assert_eq!(r.recv_timeout(Duration::from_secs(30)), Ok(5));
        h.join().unwrap().unwrap();
        // A past deadline polls once.
        let (s, r) = bounded(1);
        s.send(1).unwrap();
        assert_eq!(
            r.recv_deadline(Instant::now() - Duration::from_millis(1)),
            Ok(1)
        );
    });
}

/// Timed receivers racing with senders: every value is received exactly
/// once, by a timed receive or by the final drain.
#[test]
fn timed_receivers_lose_nothing() {
    at_procs(|| {
        for cap in [0, 4] {
            const SENDERS: usize = 4;
            const PER: usize = 500;
            let (s, r) = bounded::<usize>(cap);
            let (tot_tx, tot_rx) = unbounded();
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let (r, tot_tx) = (r.clone(), tot_tx.clone());
                    go!(move || loop {
                        match r.recv_timeout(Duration::from_micros(50)) {
                            Ok(v) => tot_tx.send(v).unwrap(),
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    })
                })
                .collect();
            let senders: Vec<_> = (0..SENDERS)
                .map(|p| {
                    let s = s.clone();
                    go!(move || (0..PER).for_each(|i| s.send(p * PER + i).unwrap()))
                })
                .collect();
            senders.into_iter().for_each(|h| h.join().unwrap());
            drop(s);
            receivers.into_iter().for_each(|h| h.join().unwrap());
            drop(tot_tx);
            let mut got: Vec<usize> = tot_rx.iter().collect();
            got.sort();
            assert_eq!(got, (0..SENDERS * PER).collect::<Vec<_>>(), "cap {cap}");
        }
    });
}

/// Timed senders racing with a receiver: a value is either delivered or
/// handed back, never both, never neither.
#[test]
fn timed_senders_lose_nothing() {
    at_procs(|| {
        let (s, r) = bounded::<usize>(0);
        let (back_tx, back_rx) = unbounded();
        let senders: Vec<_> = (0..4)
            .map(|p| {
                let (s, back_tx) = (s.clone(), back_tx.clone());
                go!(move || {
                    for i in 0..300 {
                        if let Err(e) = s.send_timeout(p * 300 + i, Duration::from_micros(30)) {
                            assert!(e.is_timeout());
                            back_tx.send(e.into_inner()).unwrap();
                        }
                    }
                })
            })
            .collect();
        drop((s, back_tx));
        let received: Vec<usize> = r.iter().collect();
        senders.into_iter().for_each(|h| h.join().unwrap());
        let mut all: Vec<usize> = received.into_iter().chain(back_rx.iter()).collect();
        all.sort();
        assert_eq!(all, (0..1200).collect::<Vec<_>>());
    });
}

/// `after`, `tick` and `never`: Go's timer channels.
#[test]
fn timer_channels() {
    at_procs(|| {
        let start = Instant::now();
        let t = after(Duration::from_millis(10)).recv().unwrap();
        assert!(t >= start + Duration::from_millis(10));
        assert!(start.elapsed() >= Duration::from_millis(10));
        // after delivers once and is never closed.
        let a = after(Duration::ZERO);
        a.recv().unwrap();
        assert_eq!(
            a.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );

        let start = Instant::now();
        let ticks = tick(Duration::from_millis(3));
        let mut last = start;
        for _ in 0..4 {
            let t = ticks.recv().unwrap();
            assert!(t >= last);
            last = t;
        }
        assert!(start.elapsed() >= Duration::from_millis(12));
        drop(ticks);

        let n = never::<i32>();
        assert_eq!(n.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            n.recv_timeout(Duration::from_millis(2)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(!n.is_closed());
    });
}

/// Thousands of pending timeouts cost no thread: 5,000 goroutines each
/// wait on their own `after`, all pending at once.
#[test]
fn many_pending_afters() {
    at_procs(|| {
        let (done_tx, done_rx) = unbounded();
        let threads_before = thread_count();
        for _ in 0..5000 {
            let done_tx = done_tx.clone();
            go!(move || {
                after(Duration::from_millis(30)).recv().unwrap();
                done_tx.send(()).unwrap();
            });
        }
        // While they are pending, the process did not grow a thread each.
        if let (Some(before), Some(now)) = (threads_before, thread_count()) {
            assert!(now < before + 100, "threads {before} -> {now}");
        }
        drop(done_tx);
        assert_eq!(done_rx.iter().count(), 5000);
    });
}

fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Mixed users: OS threads and goroutines on both sides of every kind of
/// channel; every value arrives exactly once.
#[test]
fn threads_and_goroutines_mixed() {
    at_procs(|| {
        for cap in [0, 1, 16, usize::MAX] {
            const PER: usize = 300;
            let (s, r) = if cap == usize::MAX {
                unbounded()
            } else {
                bounded(cap)
            };
            let mut senders = Vec::new();
            for p in 0..4 {
                let s = s.clone();
                let body = move || (0..PER).for_each(|i| s.send(p * PER + i).unwrap());
                if p % 2 == 0 {
                    senders.push(Sender::G(go!(body)));
                } else {
                    senders.push(Sender::T(thread(body)));
                }
            }
            drop(s);
            let mut receivers = Vec::new();
            for k in 0..4 {
                let r = r.clone();
                let body = move || r.iter().collect::<Vec<usize>>();
                if k % 2 == 0 {
                    receivers.push(thread(body));
                } else {
                    let h = go!(body);
                    let (tx, rx) = bounded(1);
                    go!(move || tx.send(Ok(h.join().unwrap())).unwrap());
                    receivers.push(common::ThreadHandle(rx));
                }
            }
            drop(r);
            for s in senders {
                match s {
                    Sender::G(h) => h.join().unwrap(),
                    Sender::T(h) => h.join().unwrap(),
                }
            }
            let mut all: Vec<usize> = receivers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            all.sort();
            assert_eq!(all, (0..4 * PER).collect::<Vec<_>>(), "cap {cap}");
        }
    });
}

enum Sender {
    G(goro::JoinHandle<()>),
    T(common::ThreadHandle<()>),
}

/// Go's TestChan: for every capacity, `len` and `cap` report the buffer,
/// a receive from an empty channel waits (it times out), and values sent
/// from several goroutines are all received.
#[test]
fn len_cap_and_queries() {
    at_procs(|| {
        for cap in CAPS {
            let (s, r) = bounded::<usize>(cap);
            assert_eq!(s.capacity(), Some(cap));
            assert_eq!(r.capacity(), Some(cap));
            assert!(r.is_empty() && s.is_empty());
            assert_eq!(s.is_full(), cap == 0);
            for i in 0..cap {
                s.send(i).unwrap();
                assert_eq!(s.len(), i + 1);
                assert_eq!(r.len(), i + 1);
            }
            assert!(s.is_full());
            assert!(s.same_channel(&s.clone()));
            assert!(r.same_channel(&r.clone()));
            assert!(!s.same_channel(&bounded::<usize>(cap).0));
            for i in 0..cap {
                assert_eq!(r.recv(), Ok(i));
            }
            assert!(r
                .recv_timeout(Duration::from_millis(1))
                .unwrap_err()
                .is_timeout());
        }
        let (s, r) = unbounded::<i32>();
        assert_eq!(s.capacity(), None);
        assert!(!s.is_full());
        for i in 0..5000 {
            s.send(i).unwrap();
        }
        assert_eq!(r.len(), 5000);
        assert_eq!(r.try_iter().count(), 5000);
        assert!(r.is_empty());
    });
}

/// `iter`, `try_iter`, `IntoIterator` for `Receiver` and `&Receiver`.
#[test]
fn iterators() {
    at_procs(|| {
        let (s, r) = bounded(0);
        go!(move || (1..=10).for_each(|i| s.send(i).unwrap()));
        let mut sum = 0;
        for v in &r {
            sum += v;
        }
        assert_eq!(sum, 55);
        let (s, r) = unbounded();
        s.send(1).unwrap();
        s.send(2).unwrap();
        assert_eq!(r.try_iter().collect::<Vec<_>>(), [1, 2]);
        s.send(3).unwrap();
        drop(s);
        assert_eq!(r.into_iter().collect::<Vec<_>>(), [3]);
    });
}

/// Plain OS threads only (no goroutine involved), both sides.
#[test]
fn plain_threads_only() {
    for cap in [0, 2] {
        let (s, r) = bounded(cap);
        let h = thread(move || (0..200).for_each(|i| s.send(i).unwrap()));
        assert_eq!(r.iter().sum::<i32>(), (0..200).sum());
        h.join().unwrap();
    }
}

/// Error types behave as crossbeam's.
#[test]
fn error_types() {
    assert_eq!(SendError(1).into_inner(), 1);
    assert!(TrySendError::Full(1).is_full());
    assert!(TrySendError::Disconnected(1).is_disconnected());
    assert_eq!(
        TrySendError::from(SendError(2)),
        TrySendError::Disconnected(2)
    );
    assert!(SendTimeoutError::Timeout(1).is_timeout());
    assert_eq!(SendTimeoutError::from(SendError(3)).into_inner(), 3);
    assert!(TryRecvError::Empty.is_empty());
    assert_eq!(TryRecvError::from(RecvError), TryRecvError::Disconnected);
    assert_eq!(
        RecvTimeoutError::from(RecvError),
        RecvTimeoutError::Disconnected
    );
    assert_eq!(format!("{:?}", SendError(vec![1])), "SendError { .. }");
    assert_eq!(format!("{:?}", TrySendError::Full(())), "Full(..)");
    assert_eq!(SendError(()).to_string(), "sending on a closed channel");
    let _: Box<dyn std::error::Error> = Box::new(RecvError);
}
