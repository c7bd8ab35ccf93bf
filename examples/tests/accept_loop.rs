//! The servers' accept loop outlives running out of file descriptors: the
//! connections it already holds are served, and those queued behind them
//! are accepted as descriptors free up.
//!
//! The server runs in a child process (this test binary, run again), whose
//! descriptor limit is lowered so that it cannot accept every client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// The server's soft `RLIMIT_NOFILE`.
const SERVER_FILES: u64 = 64;
/// Clients: more than the server can hold at once, fewer than the
/// listener's backlog holds besides.
const CLIENTS: usize = 100;

#[test]
fn the_open_connections_are_served_when_accept_runs_out_of_files() {
    let mut server = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "server_child", "--ignored", "--nocapture"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "no address");
        if let Some(addr) = line.trim().strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    // Every line of the server's stderr; a message when it first says it
    // ran out of descriptors, or when it ends.
    let (out_of_files_tx, out_of_files) = mpsc::channel();
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("Too many open files") {
                let _ = out_of_files_tx.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        let _ = out_of_files_tx.send(());
        log
    });

    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // The server holds every connection it accepted until its client
    // closes, so it runs out of descriptors before any closes.
    out_of_files.recv().unwrap();
    // Each client in turn, in the order the server accepts them.
    for (i, mut client) in clients.into_iter().enumerate() {
        let echoed = client.write_all(b"ping").and_then(|()| {
            let mut answer = [0u8; 4];
            client.read_exact(&mut answer).map(|()| answer)
        });
        if !matches!(echoed, Ok(ref answer) if answer == b"ping") {
            let _ = server.kill();
            let _ = server.wait();
            panic!(
                "client {i} not served after the {i} before it were: {echoed:?}\n\
                 server's stderr:\n{}",
                log.join().unwrap()
            );
        }
        // Closing frees one of the server's descriptors for the clients
        // still queued.
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let log = log.join().unwrap();
    assert!(log.contains("retrying in"), "{log}");
}

#[test]
#[ignore = "run as a child process by the_open_connections_are_served_when_accept_runs_out_of_files"]
fn server_child() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = SERVER_FILES.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    let result = goro_examples::accept::accept_loop(&listener, |mut conn| {
        goro::go!(move || {
            let mut buf = [0u8; 64];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => return,
                    Err(e) => return eprintln!("read: {e}"),
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    });
    eprintln!("the server ended: {result:?}");
    std::process::exit(1);
}
