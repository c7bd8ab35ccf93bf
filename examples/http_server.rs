//! An HTTP/1.1 "Hello, World!" server: one goroutine per connection, as
//! Go's `net/http` does, with keep-alive and pipelining.
//!
//! `cargo run --release --example http_server [ADDR]` (default
//! `127.0.0.1:8080`), then `curl http://127.0.0.1:8080/` or
//! `wrk -t1 -c100 -d5s http://127.0.0.1:8080/`.
//!
//! ```go
//! http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//!     io.WriteString(w, "Hello, World!")
//! })
//! log.Fatal(http.ListenAndServe(addr, nil))
//! ```

use goro::net::TcpListener;
use goro_examples::http::{self, Request, Response};

fn hello(_: &Request) -> Response {
    Response {
        status: 200,
        body: b"Hello, World!".as_slice().into(),
    }
}

#[goro::main]
fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    http::serve(listener, hello)
}
