//! Async I/O on goro's netpoller: futures-io's `AsyncRead`/`AsyncWrite`
//! and readiness futures on goro sockets, from goroutines' `block_on` and
//! from tokio tasks.

mod common;

use common::with_procs;
use futures::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use goro::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// An echo server whose connections are served by an async copy, each in
/// a goroutine's `block_on`.
fn async_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::spawn(move || {
        for conn in listener.incoming() {
            let conn = conn.unwrap();
            goro::spawn(move || {
                let _ = goro::block_on(futures::io::copy(&conn, &mut &conn));
            });
        }
    });
    addr
}

/// A client generic over its I/O, as an async library would be: sends
/// `n` lines and reads each one back.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S, id: u64, n: u64) -> u64 {
    let (read, mut write) = futures::io::AsyncReadExt::split(stream);
    let mut lines = BufReader::new(read);
    let mut sum = 0;
    for k in 0..n {
        write
            .write_all(format!("{id} {k}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        lines.read_line(&mut line).await.unwrap();
        assert_eq!(line, format!("{id} {k}\n"));
        sum += k;
    }
    write.close().await.unwrap();
    sum
}

/// Goroutines run the generic client on goro streams with `block_on`,
/// against a server that also serves asynchronously: every reply arrives.
#[test]
fn a_generic_async_client_runs_in_goroutines() {
    const CLIENTS: u64 = 300;
    const LINES: u64 = 10;
    for procs in [1, 2] {
        with_procs(procs, || {
            let addr = async_echo_server();
            let seen = Arc::new(Mutex::new(vec![0u8; CLIENTS as usize]));
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    let seen = seen.clone();
                    goro::spawn(move || {
                        let conn = TcpStream::connect(addr).unwrap();
                        let sum = goro::block_on(exchange(conn, id, LINES));
                        assert_eq!(sum, LINES * (LINES - 1) / 2);
                        seen.lock().unwrap()[id as usize] += 1;
                    })
                })
                .collect();
            clients.into_iter().for_each(|h| h.join().unwrap());
            assert!(seen.lock().unwrap().iter().all(|&n| n == 1));
        });
    }
}

/// tokio tasks on a current-thread runtime (which a blocking call would
/// stall) run the same client on goro streams, woken by goro's
/// netpoller, against a goro server.
#[test]
fn tokio_tasks_use_goro_sockets() {
    const CLIENTS: u64 = 200;
    const LINES: u64 = 5;
    let addr = async_echo_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sums = rt.block_on(async {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|id| {
                tokio::spawn(async move {
                    // A loopback connect completes at once.
                    let conn = TcpStream::from(std::net::TcpStream::connect(addr).unwrap());
                    exchange(conn, id, LINES).await
                })
            })
            .collect();
        let mut sums = Vec::new();
        for t in tasks {
            sums.push(t.await.unwrap());
        }
        sums
    });
    assert_eq!(sums.len() as u64, CLIENTS);
    assert!(sums.iter().all(|&s| s == LINES * (LINES - 1) / 2));
}

/// `readable` is ready once data came, and then a read does not wait.
#[test]
fn readiness_futures() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = goro::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        goro::block_on(conn.writable()).unwrap();
        std::io::Write::write_all(&mut &conn, b"x").unwrap();
        conn
    });
    let client = goro::spawn(move || {
        let conn = TcpStream::connect(addr).unwrap();
        goro::block_on(conn.readable()).unwrap();
        let mut buf = [0u8; 1];
        std::io::Read::read_exact(&mut &conn, &mut buf).unwrap();
        buf[0]
    });
    assert_eq!(client.join().unwrap(), b'x');
    drop(server.join().unwrap());
}
