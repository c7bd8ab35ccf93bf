//! `may-echo ADDR`: may's side of the TCP echo comparison
//! (`benches/compare.py --servers`): one coroutine per connection writes
//! back whatever it reads through a 4 KiB buffer. Workers = GOMAXPROCS
//! (default: the CPUs), not pinned; TCP_NODELAY is set, as Go does.

use goro_peers::{listen_addr, may_rt, raise_nofile, ECHO_BUF};
use may::go;
use may::net::{TcpListener, TcpStream};
use std::io::{Read, Write};

fn main() {
    let addr = listen_addr("may-echo");
    raise_nofile();
    may_rt::configure();
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("may-echo: bind {addr}: {e}");
        std::process::exit(1)
    });
    let server = go!(move || loop {
        match listener.accept() {
            Ok((stream, _)) => {
                go!(move || echo(stream));
            }
            // Out of file descriptors and the like: wait, then go on.
            Err(_) => may::coroutine::sleep(std::time::Duration::from_millis(10)),
        }
    });
    let _ = server.join();
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
