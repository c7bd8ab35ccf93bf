//! `may-http ADDR`: may's side of the HTTP comparison
//! (`benches/compare.py --servers`): may_minihttp answering every request
//! with "Hello, world!" (HTTP/1.1, keep-alive and pipelining as
//! may_minihttp does them). Workers = GOMAXPROCS (default: the CPUs), not
//! pinned.

use goro_peers::{listen_addr, may_rt, raise_nofile};
use may_minihttp::{HttpServer, HttpService, Request, Response};
use std::io;

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, rsp: &mut Response) -> io::Result<()> {
        rsp.header("Content-Type: text/plain");
        rsp.body("Hello, world!");
        Ok(())
    }
}

fn main() {
    let addr = listen_addr("may-http");
    raise_nofile();
    may_rt::configure();
    let server = HttpServer(Hello).start(&addr).unwrap_or_else(|e| {
        eprintln!("may-http: bind {addr}: {e}");
        std::process::exit(1)
    });
    let _ = server.join();
}
