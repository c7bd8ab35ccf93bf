//! `tokio-http ADDR`: tokio's side of the HTTP comparison
//! (`benches/compare.py --servers`): hyper 1's HTTP/1.1 server (keep-alive
//! and pipelining as hyper does them) answering every request with
//! "Hello, world!". `worker_threads` = GOMAXPROCS (default: the CPUs);
//! TCP_NODELAY is set on each connection, as Go does.

use bytes::Bytes;
use goro_peers::tokio_rt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(b"Hello, world!")));
    rsp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(rsp)
}

fn main() {
    tokio_rt::serve("tokio-http", |stream| {
        let _ = stream.set_nodelay(true);
        async move {
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        }
    });
}
