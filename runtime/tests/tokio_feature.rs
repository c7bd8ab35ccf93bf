//! `goro::tokio::block_on` (feature `tokio`): tokio futures called from
//! goroutines.
#![cfg(feature = "tokio")]

mod common;

use common::with_procs;
use goro::net::TcpListener;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// A goro::net server answering each line with the line doubled.
fn serve() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::spawn(move || {
        for conn in listener.incoming() {
            let conn = conn.unwrap();
            goro::spawn(move || {
                let mut lines = BufReader::new(&conn);
                let mut line = String::new();
                while lines.read_line(&mut line).unwrap_or(0) > 0 {
                    let n: u64 = line.trim().parse().unwrap();
                    if (&conn)
                        .write_all(format!("{}\n", n * 2).as_bytes())
                        .is_err()
                    {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

/// 1,000 goroutines each call a real tokio TCP client against a goro::net
/// server: every answer comes back, exactly once, right.
#[test]
fn a_thousand_goroutines_call_a_tokio_client() {
    const CLIENTS: u64 = 1000;
    for procs in [1, 2] {
        with_procs(procs, || {
            let addr = serve();
            let seen = Arc::new(Mutex::new(vec![0u8; CLIENTS as usize]));
            let clients: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    let seen = seen.clone();
                    goro::spawn(move || {
                        let reply = goro::tokio::block_on(async move {
                            let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
                            let (read, mut write) = conn.into_split();
                            write.write_all(format!("{i}\n").as_bytes()).await.unwrap();
                            let mut line = String::new();
                            tokio::io::BufReader::new(read)
                                .read_line(&mut line)
                                .await
                                .unwrap();
                            line
                        });
                        let n: u64 = reply.trim().parse().unwrap();
                        assert_eq!(n, 2 * i);
                        seen.lock().unwrap()[i as usize] += 1;
                    })
                })
                .collect();
            clients.into_iter().for_each(|h| h.join().unwrap());
            assert!(seen.lock().unwrap().iter().all(|&n| n == 1));
        });
    }
}

/// The future may borrow the caller's locals; its panic is resumed in
/// the goroutine.
#[test]
fn borrows_and_panics() {
    let words = ["a", "bb", "ccc"].map(String::from);
    let total = goro::tokio::block_on(async {
        tokio::task::yield_now().await;
        words.iter().map(|w| w.len()).sum::<usize>()
    });
    assert_eq!(total, 6);
    let h = goro::spawn(|| goro::tokio::block_on(async { panic!("in tokio") }));
    let payload = h.join().unwrap_err();
    assert_eq!(common::panic_message(payload), "in tokio");
}
