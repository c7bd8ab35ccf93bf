//! Futures inside goroutines: `block_on`, `recv_async`/`send_async`,
//! `JoinHandle` as a future, `sleep_async`.

mod common;

use common::with_procs;
use futures::task::noop_waker;
use goro::chan::{self, RecvError};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// A waker that counts its wakes.
struct Counter(AtomicUsize);

impl std::task::Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counter>, std::task::Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), std::task::Waker::from(c))
}

/// A ready future, from a goroutine and from a plain thread.
#[test]
fn block_on_a_ready_future() {
    assert_eq!(goro::block_on(async { 5 }), 5);
    assert_eq!(
        goro::spawn(|| goro::block_on(async { 6 })).join().unwrap(),
        6
    );
}

/// Async senders and receivers, mixed with blocking ones, on unbuffered,
/// buffered and unbounded channels: every value arrives exactly once.
#[test]
fn async_and_blocking_ends_deliver_every_value_once() {
    const SENDERS: usize = 8;
    const EACH: usize = 2000;
    for procs in [1, 2] {
        for cap in [Some(0), Some(4), None] {
            with_procs(procs, || {
                let (tx, rx) = match cap {
                    Some(cap) => chan::bounded::<usize>(cap),
                    None => chan::unbounded(),
                };
                let senders: Vec<_> = (0..SENDERS)
                    .map(|s| {
                        let tx = tx.clone();
                        goro::spawn(move || {
                            for i in 0..EACH {
                                let v = s * EACH + i;
                                if s % 2 == 0 {
                                    goro::block_on(tx.send_async(v)).unwrap();
                                } else {
                                    tx.send(v).unwrap();
                                }
                            }
                        })
                    })
                    .collect();
                drop(tx);
                let receivers: Vec<_> = (0..4)
                    .map(|r| {
                        let rx = rx.clone();
                        goro::spawn(move || {
                            let mut got = Vec::new();
                            if r % 2 == 0 {
                                goro::block_on(async {
                                    while let Ok(v) = rx.recv_async().await {
                                        got.push(v);
                                    }
                                });
                            } else {
                                got.extend(rx.iter());
                            }
                            got
                        })
                    })
                    .collect();
                drop(rx);
                senders.into_iter().for_each(|h| h.join().unwrap());
                let mut seen = vec![0u8; SENDERS * EACH];
                for h in receivers {
                    for v in h.join().unwrap() {
                        seen[v] += 1;
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "cap {cap:?}, procs {procs}");
            });
        }
    }
}

/// A receive future that a sender completed, dropped before it was polled
/// again, gives the message back: it is the next one received.
#[test]
fn a_dropped_receive_gives_its_message_back() {
    for cap in [0, 1] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        {
            let mut fut = pin!(rx.recv_async());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            // Handed straight to the waiting future.
            tx.send(1).unwrap();
        }
        // Buffered again, so it fills a buffer of one.
        assert!(tx.try_send(2).unwrap_err().is_full());
        assert_eq!(rx.recv(), Ok(1), "given back, first in line");
        assert_eq!(rx.len(), 0);
        if cap == 1 {
            tx.try_send(2).unwrap();
            assert_eq!(rx.recv(), Ok(2));
        }
    }
}

/// A pending send future, dropped, leaves no waiter: its message is never
/// received.
#[test]
fn a_dropped_send_leaves_no_waiter() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = pin!(tx.send_async(1));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert!(rx.try_recv().is_err());
    let h = goro::spawn(move || rx.recv());
    tx.send(2).unwrap();
    assert_eq!(h.join().unwrap(), Ok(2));
}

/// Receive futures polled once and dropped at random while senders send:
/// every value is still received exactly once, by someone.
#[test]
fn cancelled_receives_lose_nothing() {
    const N: usize = 20_000;
    for procs in [1, 2] {
        with_procs(procs, || {
            let (tx, rx) = chan::bounded::<usize>(0);
            let sender = goro::spawn(move || (0..N).for_each(|v| tx.send(v).unwrap()));
            let seen = Arc::new(Mutex::new(vec![0u8; N]));
            let receivers: Vec<_> = (0..3)
                .map(|r| {
                    let (rx, seen) = (rx.clone(), seen.clone());
                    goro::spawn(move || {
                        let waker = noop_waker();
                        let mut cx = Context::from_waker(&waker);
                        let mut round = 0usize;
                        loop {
                            round += 1;
                            let got = if (round + r).is_multiple_of(3) {
                                // Poll once, give the sender a chance, drop.
                                let mut fut = pin!(rx.recv_async());
                                match fut.as_mut().poll(&mut cx) {
                                    Poll::Ready(v) => Some(v),
                                    Poll::Pending => {
                                        goro::yield_now();
                                        None
                                    }
                                }
                            } else {
                                Some(goro::block_on(rx.recv_async()))
                            };
                            match got {
                                Some(Ok(v)) => seen.lock().unwrap()[v] += 1,
                                Some(Err(RecvError)) => return,
                                None => {}
                            }
                        }
                    })
                })
                .collect();
            drop(rx);
            sender.join().unwrap();
            receivers.into_iter().for_each(|h| h.join().unwrap());
            assert!(seen.lock().unwrap().iter().all(|&n| n == 1));
        });
    }
}

/// Closing the channel wakes a pending receive future (with an error) and
/// a pending send future (with its message back).
#[test]
fn close_completes_pending_futures() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let h = goro::spawn(move || goro::block_on(rx.recv_async()));
    let (tx2, rx2) = chan::bounded::<u32>(0);
    let s = goro::spawn(move || goro::block_on(tx2.send_async(9)).unwrap_err().0);
    // Whether or not they have started waiting, the close ends them.
    tx.close();
    drop(rx2);
    assert_eq!(h.join().unwrap(), Err(RecvError));
    assert_eq!(s.join().unwrap(), 9);
}

/// A join handle as a future: from a goroutine, and with the waker
/// changing between polls (the last one is woken).
#[test]
fn a_join_handle_is_a_future() {
    let h = goro::spawn(|| 7);
    assert_eq!(
        goro::spawn(move || goro::block_on(h).unwrap())
            .join()
            .unwrap(),
        7
    );

    let (tx, rx) = chan::bounded::<()>(0);
    let mut h = goro::spawn(move || {
        rx.recv().unwrap();
        8
    });
    let (first, w1) = counting_waker();
    let (second, w2) = counting_waker();
    assert!(pin!(&mut h)
        .poll(&mut Context::from_waker(&w1))
        .is_pending());
    assert!(pin!(&mut h)
        .poll(&mut Context::from_waker(&w2))
        .is_pending());
    tx.send(()).unwrap();
    while second.0.load(Ordering::SeqCst) == 0 {
        goro::yield_now();
    }
    assert_eq!(
        first.0.load(Ordering::SeqCst),
        0,
        "the replaced waker is not woken"
    );
    let Poll::Ready(v) = pin!(&mut h).poll(&mut Context::from_waker(&w2)) else {
        panic!("woken, so finished");
    };
    assert_eq!(v.unwrap(), 8);
}

/// A panicking goroutine's payload comes out of its awaited handle; and
/// `join` after a poll still works.
#[test]
fn join_after_a_poll_and_panics_through_await() {
    let h = goro::spawn(|| -> u32 { panic!("inside") });
    assert!(goro::block_on(h).is_err());
    let (tx, rx) = chan::bounded::<()>(0);
    let mut h = goro::spawn(move || {
        rx.recv().unwrap();
        3
    });
    let waker = noop_waker();
    assert!(pin!(&mut h)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    tx.send(()).unwrap();
    assert_eq!(h.join().unwrap(), 3);
}

/// Many goroutines sleep asynchronously, some several sleeps joined in
/// one future; each sleep lasts at least its duration.
#[test]
fn sleep_async_in_goroutines() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let hs: Vec<_> = (0..200u64)
                .map(|i| {
                    goro::spawn(move || {
                        let d = Duration::from_micros(100 * (i % 7));
                        let start = std::time::Instant::now();
                        goro::block_on(async {
                            futures::join!(
                                goro::time::sleep_async(d),
                                goro::time::sleep_async(d / 2)
                            );
                        });
                        assert!(start.elapsed() >= d);
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
    }
}

/// Threads wake a goroutine's `block_on` over and over while it waits on a
/// future that only counts its polls: it never loses the last wake and
/// never runs twice at once.
#[test]
fn a_wake_storm_is_never_lost() {
    for procs in [1, 2] {
        with_procs(procs, || {
            const WAKES: usize = 20_000;
            let wakes = Arc::new(AtomicUsize::new(0));
            let waker_slot = Arc::new(Mutex::new(None::<std::task::Waker>));
            let g = {
                let (wakes, waker_slot) = (wakes.clone(), waker_slot.clone());
                goro::spawn(move || {
                    let mut polls = 0usize;
                    goro::block_on(std::future::poll_fn(|cx| {
                        polls += 1;
                        *waker_slot.lock().unwrap() = Some(cx.waker().clone());
                        if wakes.load(Ordering::SeqCst) >= 3 * WAKES {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    }));
                    polls
                })
            };
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let (wakes, waker_slot) = (wakes.clone(), waker_slot.clone());
                    std::thread::spawn(move || {
                        for _ in 0..WAKES {
                            wakes.fetch_add(1, Ordering::SeqCst);
                            let w = waker_slot.lock().unwrap().clone();
                            if let Some(w) = w {
                                w.wake();
                            }
                        }
                        // The last wake after the last count.
                        let w = waker_slot.lock().unwrap().clone();
                        if let Some(w) = w {
                            w.wake();
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let polls = g.join().unwrap();
            assert!(polls >= 1);
        });
    }
}

/// The futures can be held across an `.await` in a task of a
/// multi-thread executor: they are `Send`.
#[test]
fn the_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let (tx, rx) = chan::bounded::<u32>(1);
    is_send(&rx.recv_async());
    is_send(&tx.send_async(1));
    is_send(&goro::time::sleep_async(Duration::from_millis(1)));
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = goro::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    is_send(&conn.readable());
    is_send(&conn.writable());
    let h = goro::spawn(|| 1);
    is_send(&h);
    is_send(&async move {
        goro::time::sleep_async(Duration::from_millis(1)).await;
        rx.recv_async().await.ok();
        h.await.ok();
    });
}

/// A future that wakes itself during its poll (as a cooperative yield
/// does) is polled again without parking, from a goroutine and a thread.
#[test]
fn a_self_waking_future_is_polled_again() {
    fn yields(n: usize) -> usize {
        let mut polls = 0;
        goro::block_on(std::future::poll_fn(|cx| {
            polls += 1;
            if polls > n {
                Poll::Ready(polls)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }))
    }
    assert_eq!(yields(1000), 1001);
    assert_eq!(goro::spawn(|| yields(1000)).join().unwrap(), 1001);
}

/// Send futures polled once and dropped at random while receivers take
/// values: every value whose send completed is received exactly once, a
/// cancelled one at most once, and nothing else arrives.
#[test]
fn cancelled_sends_deliver_at_most_once() {
    const N: usize = 20_000;
    for procs in [1, 2] {
        with_procs(procs, || {
            let (tx, rx) = chan::bounded::<usize>(0);
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    goro::spawn(move || rx.iter().collect::<Vec<_>>())
                })
                .collect();
            drop(rx);
            let sent = goro::spawn(move || {
                let waker = noop_waker();
                let mut cx = Context::from_waker(&waker);
                (0..N)
                    .map(|v| {
                        if v % 3 != 0 {
                            goro::block_on(tx.send_async(v)).unwrap();
                            return true;
                        }
                        let mut fut = pin!(tx.send_async(v));
                        if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                            r.unwrap();
                            return true;
                        }
                        goro::yield_now();
                        false
                    })
                    .collect::<Vec<bool>>()
            })
            .join()
            .unwrap();
            let mut seen = vec![0u8; N];
            for h in receivers {
                for v in h.join().unwrap() {
                    seen[v] += 1;
                }
            }
            for (v, (&seen, &sent)) in seen.iter().zip(&sent).enumerate() {
                assert!(seen <= 1, "{v} received twice");
                if sent {
                    assert_eq!(seen, 1, "{v} was sent but not received");
                }
            }
        });
    }
}
