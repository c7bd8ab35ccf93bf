//! A TCP echo server: one goroutine per connection, each a plain blocking
//! read-and-write loop; thousands of idle connections cost one small stack
//! each and no thread.
//!
//! `cargo run --release --example echo_server [ADDR]` (default
//! `127.0.0.1:7000`), then `nc 127.0.0.1 7000`.
//!
//! ```go
//! for {
//!     conn, err := ln.Accept()
//!     if err != nil { /* temporary: log, back off, continue; else return */ }
//!     go func(c net.Conn) { io.Copy(c, c); c.Close() }(conn)
//! }
//! ```
//!
//! An accept error such as running out of file descriptors does not end the
//! server (and drop every connection it serves): the loop backs off and
//! goes on, as Go's `net/http` does (see `goro_examples::accept`).

use goro::net::{TcpListener, TcpStream};
use goro_examples::accept::accept_loop;
use std::io::{Read, Write};

/// Sends back everything it receives, until the client closes.
fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    // Park until the client speaks (or closes) before taking a buffer: an
    // idle connection then costs its goroutine (one stack page), not 4 KiB
    // more. (Go gets the same for free: its allocator hands out pages the
    // kernel has not yet backed, so an untouched buffer costs nothing.)
    if conn.peek(&mut [0u8; 1])? == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; 4096];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

#[goro::main]
fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("echoing on {}", listener.local_addr()?);
    accept_loop(&listener, |conn| {
        goro::go!(move || {
            let _ = echo(conn);
        });
    })
}
