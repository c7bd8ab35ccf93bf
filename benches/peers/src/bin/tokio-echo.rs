//! `tokio-echo ADDR`: tokio's side of the TCP echo comparison
//! (`benches/compare.py --servers`): one task per connection writes back
//! whatever it reads through a 4 KiB buffer. `worker_threads` = GOMAXPROCS
//! (default: the CPUs); TCP_NODELAY is set on each connection, as Go does.

use goro_peers::{tokio_rt, ECHO_BUF};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() {
    tokio_rt::serve("tokio-echo", echo);
}

async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
