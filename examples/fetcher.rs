//! Concurrency for I/O-bound work: thousands of HTTP requests to a local
//! server, made by a bounded pool of worker goroutines.
//!
//! The server (in this process, on `goro::net`) takes 10 ms to answer each
//! request, as a database or a remote service would. One worker makes its
//! requests one after another; a pool of 200 keeps 200 in flight, so the same
//! work takes a small fraction of the time on the same few threads: while one
//! goroutine waits for its answer, the others run.
//!
//! `cargo run --release --example fetcher`

use goro::chan::{self, Receiver, Sender};
use goro::net::{TcpListener, TcpStream};
use goro_examples::http::{self, Request, Response};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the server takes per request.
const LATENCY: Duration = Duration::from_millis(10);

fn slow_hello(_: &Request) -> Response {
    goro::sleep(LATENCY);
    Response {
        status: 200,
        body: b"Hello, World!".as_slice().into(),
    }
}

/// One GET over a kept-alive connection; returns the status code.
fn get(conn: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<u16> {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    buf.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = resp.parse(buf).map_err(io::Error::other)? {
            let body = content_length(resp.headers)?;
            if buf.len() >= head + body {
                return Ok(resp.code.unwrap_or(0));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn content_length(headers: &[httparse::Header]) -> io::Result<usize> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .ok_or_else(|| io::Error::other("response without Content-Length"))
}

/// A pool worker: one connection, requests taken from `jobs` until closed.
fn worker(addr: SocketAddr, jobs: Receiver<usize>, results: Sender<io::Result<u16>>) {
    let mut conn = match TcpStream::connect(addr) {
        Ok(conn) => conn,
        Err(e) => return drop(results.send(Err(e))),
    };
    let mut buf = Vec::new();
    for _job in jobs {
        if results.send(get(&mut conn, &mut buf)).is_err() {
            return;
        }
    }
}

/// Makes `requests` requests with `workers` goroutines; returns the time.
fn fetch_all(addr: SocketAddr, requests: usize, workers: usize) -> Duration {
    let start = Instant::now();
    let (jobs_tx, jobs) = chan::bounded(workers);
    let (results, results_rx) = chan::unbounded();
    for _ in 0..workers {
        goro::go!(worker(addr, jobs.clone(), results.clone()));
    }
    drop((jobs, results));
    goro::go!(move || (0..requests).for_each(|j| jobs_tx.send(j).unwrap()));
    let ok = results_rx
        .iter()
        .take(requests)
        .filter(|r| matches!(r, Ok(200)))
        .count();
    assert_eq!(ok, requests, "every request answered 200");
    start.elapsed()
}

#[goro::main]
fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    goro::go!(move || http::serve(listener, slow_hello));

    let one = fetch_all(addr, 50, 1);
    println!(
        "1 worker:    50 requests in {:>6.0} ms ({:.1} ms each; the server takes {} ms)",
        one.as_secs_f64() * 1e3,
        one.as_secs_f64() * 1e3 / 50.0,
        LATENCY.as_millis()
    );
    let pool = fetch_all(addr, 5000, 200);
    let per_second = 5000.0 / pool.as_secs_f64();
    println!(
        "200 workers: 5000 requests in {:>6.0} ms ({per_second:.0} requests/s, {:.0}x one worker's rate) on {} threads",
        pool.as_secs_f64() * 1e3,
        per_second / (50.0 / one.as_secs_f64()),
        goro::gomaxprocs()
    );
    Ok(())
}
