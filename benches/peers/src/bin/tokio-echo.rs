//! `tokio-echo ADDR`: tokio's side of the TCP echo comparison
//! (`benches/compare.py --servers`): one task per connection writes back
//! whatever it reads through a 4 KiB buffer. `worker_threads` = GOMAXPROCS
//! (default: the CPUs); TCP_NODELAY is set on each connection, as Go does.

use goro_peers::{listen_addr, procs, raise_nofile, ECHO_BUF};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let addr = listen_addr("tokio-echo");
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("tokio-echo: bind {addr}: {e}");
            std::process::exit(1)
        });
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(echo(stream));
                }
                // Out of file descriptors and the like: wait, then go on.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    });
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
