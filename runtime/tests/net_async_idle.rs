//! A tokio task uses a goro socket while no goroutine runs at all: the
//! netpoller must still be polled for it. Its own binary, so that no other
//! test's goroutines keep the runtime busy.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use std::io::{Read, Write};

#[test]
fn a_task_alone_is_woken_by_the_netpoller() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        for _ in 0..100 {
            conn.read_exact(&mut buf).unwrap();
            conn.write_all(&buf).unwrap();
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = goro::net::TcpStream::from(std::net::TcpStream::connect(addr).unwrap());
        let mut buf = [0u8; 4];
        for i in 0..100u32 {
            AsyncWriteExt::write_all(&mut &conn, &i.to_le_bytes())
                .await
                .unwrap();
            AsyncReadExt::read_exact(&mut &conn, &mut buf)
                .await
                .unwrap();
            assert_eq!(u32::from_le_bytes(buf), i);
        }
    });
    server.join().unwrap();
}
