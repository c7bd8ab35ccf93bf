//! An HTTP/1.1 "Hello, World!" server: one goroutine per connection, as
//! Go's `net/http` does, with keep-alive and pipelining.
//!
//! `cargo run --release --example http_server [ADDR]` (default
//! `127.0.0.1:8080`), then `curl http://127.0.0.1:8080/` or
//! `wrk -t1 -c100 -d5s http://127.0.0.1:8080/`.
//!
//! `/debug/pprof/goroutine` serves the goroutine profile, as Go's
//! `net/http/pprof` does: pprof's format for
//! `go tool pprof http://127.0.0.1:8080/debug/pprof/goroutine`, or text with
//! `?debug=1` (goroutines grouped by stack) and `?debug=2` (each one).
//!
//! ```go
//! http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//!     io.WriteString(w, "Hello, World!")
//! })
//! log.Fatal(http.ListenAndServe(addr, nil))
//! ```

use goro::net::TcpListener;
use goro_examples::http::{self, Request, Response};

fn hello(req: &Request) -> Response {
    let (path, query) = req.path.split_once('?').unwrap_or((req.path, ""));
    if path == "/debug/pprof/goroutine" {
        return goroutine_profile(query);
    }
    Response {
        status: 200,
        body: b"Hello, World!".as_slice().into(),
    }
}

fn goroutine_profile(query: &str) -> Response {
    let body = match query {
        "debug=1" => goro::dump_grouped().into_bytes(),
        "debug=2" => goro::dump()
            .iter()
            .map(|g| format!("{g}\n\n"))
            .collect::<String>()
            .into_bytes(),
        _ => {
            let mut gz = Vec::new();
            if goro::pprof::goroutine(&mut gz).is_err() {
                return Response {
                    status: 500,
                    body: b"profile failed".as_slice().into(),
                };
            }
            gz
        }
    };
    Response {
        status: 200,
        body: body.into(),
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
