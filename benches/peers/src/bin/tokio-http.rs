//! `tokio-http ADDR`: tokio's side of the HTTP comparison
//! (`benches/compare.py --servers`): hyper 1's HTTP/1.1 server (keep-alive
//! and pipelining as hyper does them) answering every request with
//! "Hello, world!". `worker_threads` = GOMAXPROCS (default: the CPUs);
//! TCP_NODELAY is set on each connection, as Go does.

use bytes::Bytes;
use goro_peers::{listen_addr, procs, raise_nofile};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(b"Hello, world!")));
    rsp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(rsp)
}

fn main() {
    let addr = listen_addr("tokio-http");
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("tokio-http: bind {addr}: {e}");
            std::process::exit(1)
        });
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait, then go on.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    });
}
