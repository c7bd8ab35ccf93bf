//! Goroutines inside async code: tokio tasks await goro channels and
//! goroutines' join handles, on a current-thread runtime (which hangs if
//! anything blocks its one thread).

mod common;

use common::with_procs;
use goro::chan;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// 10,000 tokio tasks each send a request to a goroutine and await its
/// reply on a goro channel, then await the goroutine's join handle: every
/// reply arrives, exactly once.
#[test]
fn ten_thousand_tasks_await_goroutines() {
    const TASKS: u64 = 10_000;
    for procs in [1, 2] {
        with_procs(procs, || {
            let replies = current_thread().block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|i| {
                        tokio::spawn(async move {
                            let (req_tx, req_rx) = chan::bounded::<u64>(0);
                            let (rep_tx, rep_rx) = chan::bounded::<u64>(0);
                            let g = goro::spawn(move || {
                                let n = req_rx.recv().unwrap();
                                rep_tx.send(n * 3).unwrap();
                                n
                            });
                            req_tx.send_async(i).await.unwrap();
                            let reply = rep_rx.recv_async().await.unwrap();
                            assert_eq!(g.await.unwrap(), i);
                            (i, reply)
                        })
                    })
                    .collect();
                let mut replies = Vec::with_capacity(TASKS as usize);
                for t in tasks {
                    replies.push(t.await.unwrap());
                }
                replies
            });
            let mut seen = vec![0u8; TASKS as usize];
            for (i, reply) in replies {
                assert_eq!(reply, 3 * i);
                seen[i as usize] += 1;
            }
            assert!(seen.iter().all(|&n| n == 1));
        });
    }
}

/// A pipeline through goroutines: tokio tasks feed one goro channel, a
/// pool of goroutines doubles each value into another, and one task
/// collects them all; goro's `sleep_async` runs under tokio too.
#[test]
fn tasks_and_goroutines_share_channels() {
    const N: u64 = 5000;
    let sum = current_thread().block_on(async {
        let (in_tx, in_rx) = chan::bounded::<u64>(8);
        let (out_tx, out_rx) = chan::unbounded::<u64>();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (in_rx, out_tx) = (in_rx.clone(), out_tx.clone());
                goro::spawn(move || in_rx.iter().for_each(|v| out_tx.send(v * 2).unwrap()))
            })
            .collect();
        drop((in_rx, out_tx));
        let feeders: Vec<_> = (0..4)
            .map(|k| {
                let in_tx = in_tx.clone();
                tokio::spawn(async move {
                    for v in (k..N).step_by(4) {
                        in_tx.send_async(v).await.unwrap();
                    }
                })
            })
            .collect();
        drop(in_tx);
        goro::time::sleep_async(std::time::Duration::from_millis(1)).await;
        let collector = tokio::spawn(async move {
            let mut sum = 0;
            while let Ok(v) = out_rx.recv_async().await {
                sum += v;
            }
            sum
        });
        for f in feeders {
            f.await.unwrap();
        }
        for w in workers {
            w.await.unwrap();
        }
        collector.await.unwrap()
    });
    assert_eq!(sum, N * (N - 1));
}
