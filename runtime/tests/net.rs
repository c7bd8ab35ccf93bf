//! `goro::net`: sockets that park goroutines on the netpoller.
//!
//! Every test runs at GOMAXPROCS 1 and 4. Nothing waits by sleeping: a test
//! that needs a goroutine parked on a socket watches `goro::dump()` for its
//! `IO wait` state, and timing is never asserted.

mod common;

use common::{child_reports, with_procs};
use goro::net::{Shutdown, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use goro::{GoroutineId, JoinHandle};
use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// Waits (from a plain thread) until goroutine `id` is parked on a socket.
fn until_io_wait(id: GoroutineId) {
    while !goro::dump()
        .iter()
        .any(|g| g.id == id && g.state == "IO wait")
    {
        std::thread::yield_now();
    }
}

/// A connected pair: (the accepted side, the connecting side).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (server, client)
}

/// Accepts `n` connections, echoing each back until the client shuts its
/// write half down.
fn echo_server(listener: TcpListener, n: usize) -> JoinHandle<()> {
    goro::spawn(move || echo_each(listener.incoming().take(n)))
}

/// Echoes each of `conns` back, each in a goroutine of its own, until its
/// client shuts its write half down; returns when all are done.
fn echo_each<C>(conns: impl Iterator<Item = io::Result<C>>)
where
    C: Send + 'static,
    for<'a> &'a C: Read + Write,
{
    let echoes: Vec<JoinHandle<()>> = conns
        .map(|conn| {
            let conn = conn.unwrap();
            goro::spawn(move || {
                let (mut from, mut to) = (&conn, &conn);
                io::copy(&mut from, &mut to).unwrap();
            })
        })
        .collect();
    echoes.into_iter().for_each(|e| e.join().unwrap());
}

/// Client `id` sends `n` numbered lines from one goroutine while it reads
/// the echoes in another, and checks that every line came back once.
fn echo_client(addr: SocketAddr, id: usize, n: usize) {
    let conn = Arc::new(TcpStream::connect(addr).unwrap());
    let sender = {
        let conn = conn.clone();
        goro::spawn(move || {
            for seq in 0..n {
                (&*conn)
                    .write_all(format!("{id}:{seq}\n").as_bytes())
                    .unwrap();
            }
            conn.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut seen = HashSet::new();
    for line in BufReader::new(&*conn).lines() {
        let line = line.unwrap();
        let (who, seq) = line.split_once(':').unwrap();
        assert_eq!(who.parse::<usize>().unwrap(), id);
        assert!(seen.insert(seq.parse::<usize>().unwrap()), "{line} twice");
    }
    assert_eq!(seen, (0..n).collect());
    sender.join().unwrap();
}

#[test]
fn a_hundred_clients_get_every_message_echoed_once() {
    const CLIENTS: usize = 100;
    const MESSAGES: usize = 200;
    at_1_and_4(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, CLIENTS);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| goro::spawn(move || echo_client(addr, id, MESSAGES)))
            .collect();
        clients.into_iter().for_each(|c| c.join().unwrap());
        server.join().unwrap();
    });
}

#[test]
fn a_parked_reader_is_woken_by_a_writer_goroutine() {
    at_1_and_4(|| {
        let (server, client) = tcp_pair();
        let reader = goro::spawn(move || {
            let mut buf = [0; 5];
            (&server).read_exact(&mut buf).unwrap();
            buf
        });
        until_io_wait(reader.id());
        goro::spawn(move || (&client).write_all(b"wake!").unwrap())
            .join()
            .unwrap();
        assert_eq!(&reader.join().unwrap(), b"wake!");
    });
}

#[test]
fn one_worker_serves_hundreds_of_parked_sockets() {
    const CONNS: usize = 300;
    at_1_and_4(|| {
        let pairs: Vec<(TcpStream, TcpStream)> = (0..CONNS).map(|_| tcp_pair()).collect();
        let mut writers = Vec::new();
        let readers: Vec<JoinHandle<u8>> = pairs
            .into_iter()
            .map(|(server, client)| {
                writers.push(client);
                goro::spawn(move || {
                    let mut byte = [0];
                    (&server).read_exact(&mut byte).unwrap();
                    (&server).write_all(&byte).unwrap();
                    byte[0]
                })
            })
            .collect();
        for reader in &readers {
            until_io_wait(reader.id());
        }
        // Wake them in reverse order, each with its own byte.
        for (i, client) in writers.iter().enumerate().rev() {
            (&*client).write_all(&[i as u8]).unwrap();
        }
        for (i, (reader, client)) in readers.into_iter().zip(&writers).enumerate() {
            assert_eq!(reader.join().unwrap(), i as u8);
            let mut echo = [0];
            (&*client).read_exact(&mut echo).unwrap();
            assert_eq!(echo[0], i as u8);
        }
    });
}

/// At GOMAXPROCS=1 a worker with a long run queue leaves a ready socket in
/// the kernel until its queue runs short: a reader whose byte arrived just
/// before a burst of goroutines was queued runs after most of the burst.
/// (Polling on every fairness round ran it after at most about 30: one
/// round in 61, two rounds a burst goroutine with the spawner joining
/// each.) A run that lasted the monitor's 10 ms, after which it polls a
/// network nobody has polled, shows nothing and is repeated.
#[test]
fn a_worker_with_a_long_queue_leaves_ready_sockets_until_it_runs_short() {
    const BURST: usize = 250; // fits the local queue (256 goroutines)
    with_procs(1, || {
        for _ in 0..10 {
            if let Some(position) = reader_position_behind_burst(BURST) {
                assert!(
                    position > BURST / 2,
                    "the reader ran after {position} of {BURST}: polled into a long queue"
                );
                return;
            }
        }
        panic!("every run lasted 10 ms: the monitor may have polled");
    });
}

/// One run of the test above: where the reader ran among the burst, or
/// `None` if the run lasted long enough for the monitor to poll.
fn reader_position_behind_burst(burst: usize) -> Option<usize> {
    const READER: usize = usize::MAX;
    let (server, client) = tcp_pair();
    let log = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let log = log.clone();
        goro::spawn(move || {
            (&server).read_exact(&mut [0]).unwrap();
            log.lock().unwrap().push(READER);
        })
    };
    until_io_wait(reader.id());
    let started = Instant::now();
    let spawner = {
        let log = log.clone();
        goro::spawn(move || {
            (&client).write_all(b"x").unwrap();
            let burst: Vec<_> = (0..burst)
                .map(|i| {
                    let log = log.clone();
                    goro::spawn(move || log.lock().unwrap().push(i))
                })
                .collect();
            burst.into_iter().for_each(|h| h.join().unwrap());
        })
    };
    spawner.join().unwrap();
    reader.join().unwrap();
    let lasted = started.elapsed();
    let log = log.lock().unwrap();
    let mut ran: Vec<usize> = log.iter().copied().filter(|&i| i != READER).collect();
    ran.sort_unstable();
    assert!(ran.into_iter().eq(0..burst), "each ran once");
    let position = log.iter().position(|&i| i == READER).unwrap();
    (lasted < Duration::from_millis(10)).then_some(position)
}

/// A goroutine that computes without yielding holds its worker; sockets
/// must still be served by the others. Not at GOMAXPROCS 1, where such a
/// goroutine holds the only worker (goroutines are not preempted). The two
/// goroutines migrate (the `unsafe` opt-in; they hold nothing thread-bound),
/// since a goroutine pinned to the spinner's thread would wait for it.
#[test]
fn sockets_are_served_while_a_goroutine_holds_its_worker() {
    for procs in [2, 4] {
        with_procs(procs, || {
            let (first, first_peer) = tcp_pair();
            let (second, second_peer) = tcp_pair();
            let spinning = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicBool::new(false));
            let spinner = {
                let (spinning, done) = (spinning.clone(), done.clone());
                migratory(move || {
                    (&first).read_exact(&mut [0]).unwrap();
                    spinning.store(true, Ordering::Release);
                    while !done.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                })
            };
            let waiter = {
                let done = done.clone();
                migratory(move || {
                    (&second).read_exact(&mut [0]).unwrap();
                    done.store(true, Ordering::Release);
                })
            };
            until_io_wait(spinner.id());
            until_io_wait(waiter.id());
            // Not synchronisation: lets the idle workers pass the 10 ms after
            // which they release stack memory and stop waking up, so that
            // only a worker blocked in the poller can notice the socket.
            std::thread::sleep(Duration::from_millis(50));
            // The worker that polls runs the spinner from now on...
            (&first_peer).write_all(&[1]).unwrap();
            while !spinning.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            // ...so another must see this.
            (&second_peer).write_all(&[2]).unwrap();
            let start = Instant::now();
            while !waiter.is_finished() {
                if start.elapsed() > Duration::from_secs(20) {
                    done.store(true, Ordering::Release);
                    panic!("a socket was not served in 20 s while a goroutine held its worker");
                }
                std::thread::yield_now();
            }
            waiter.join().unwrap();
            spinner.join().unwrap();
        });
    }
}

/// A read with a timeout and no data fails with `WouldBlock`; data sent
/// afterwards is read normally.
fn read_times_out_then_works(reader: &TcpStream, writer: &TcpStream) {
    reader
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0; 3];
    let err = (&*reader).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    (&*writer).write_all(b"yes").unwrap();
    (&*reader).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"yes");
    reader.set_read_timeout(None).unwrap();
}

/// Writes until a write times out (`WouldBlock`), then lets the peer read
/// everything written and checks that writing works again.
fn write_times_out_then_works(writer: &TcpStream, reader: &TcpStream) {
    writer
        .set_write_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0;
    let err = loop {
        match (&*writer).write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    let mut drained = vec![0u8; written];
    (&*reader).read_exact(&mut drained).unwrap();
    assert!(drained.iter().all(|&b| b == 7));
    (&*writer).write_all(b"more").unwrap();
    let mut more = [0; 4];
    (&*reader).read_exact(&mut more).unwrap();
    assert_eq!(&more, b"more");
    writer.set_write_timeout(None).unwrap();
}

#[test]
fn timeouts_fail_with_would_block_and_the_connection_goes_on() {
    at_1_and_4(|| {
        let (server, client) = tcp_pair();
        let (server, client) = (Arc::new(server), Arc::new(client));
        // From a goroutine...
        let (s, c) = (server.clone(), client.clone());
        goro::spawn(move || {
            read_times_out_then_works(&s, &c);
            write_times_out_then_works(&s, &c);
        })
        .join()
        .unwrap();
        // ...and from a plain thread, as std does.
        read_times_out_then_works(&client, &server);
        write_times_out_then_works(&client, &server);
    });
}

/// A timeout set on a clone, after the original already waited without
/// one, applies to the original too (the kernel keeps one per socket).
#[test]
fn a_timeout_set_on_a_clone_applies_after_an_untimed_wait() {
    at_1_and_4(|| {
        let (server, client) = tcp_pair();
        let clone = server.try_clone().unwrap();
        goro::spawn(move || {
            let mut server = server;
            let mut client = client;
            // A read that waits with no timeout, until the client writes.
            let writer = goro::spawn(move || {
                client.write_all(b"x").unwrap();
                client
            });
            let mut byte = [0u8];
            server.read_exact(&mut byte).unwrap();
            let _client = writer.join().unwrap();
            // Now a timeout, set through the clone: the next read gives up.
            clone
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let err = server.read(&mut byte).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            assert_eq!(
                server.read_timeout().unwrap(),
                Some(Duration::from_millis(20))
            );
        })
        .join()
        .unwrap();
    });
}

#[test]
fn a_zero_timeout_is_invalid_as_in_std() {
    let (server, _client) = tcp_pair();
    let zero = Some(Duration::ZERO);
    assert_eq!(
        server.set_read_timeout(zero).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        server.set_write_timeout(zero).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let addr = server.local_addr().unwrap();
    assert_eq!(
        TcpStream::connect_timeout(&addr, Duration::ZERO)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    assert_eq!(server.read_timeout().unwrap(), Some(Duration::from_secs(3)));
}

/// A read that returns less than asked for (the queue was empty) makes
/// the next wait for readiness first; but when the peer's end of stream
/// came in with the data, its event has already been seen: the next read
/// must return it, not wait for an event that will never come.
#[test]
fn end_of_stream_right_behind_data_is_seen() {
    at_1_and_4(|| {
        let (server, mut client) = tcp_pair();
        let (go_on, resume) = goro::chan::bounded::<()>(0);
        let reader = goro::spawn(move || {
            let mut server = server;
            let mut buf = [0u8; 64];
            // Waits (registering with the poller), then a short read.
            assert_eq!(server.read(&mut buf).unwrap(), 5);
            // Away while the rest and the end of stream arrive.
            resume.recv().unwrap();
            let n = server.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"words");
            server.read(&mut buf).unwrap()
        });
        until_io_wait(reader.id());
        client.write_all(b"last ").unwrap();
        client.flush().unwrap();
        while !goro::dump()
            .iter()
            .any(|g| g.id == reader.id() && g.state == "chan receive")
        {
            std::thread::yield_now();
        }
        client.write_all(b"words").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        go_on.send(()).unwrap();
        assert_eq!(reader.join().unwrap(), 0, "end of stream");
    });
}

/// Parks a goroutine reading `conn`; returns what its read returned.
fn parked_reader(conn: Arc<TcpStream>) -> JoinHandle<usize> {
    let reader = goro::spawn(move || (&*conn).read(&mut [0; 8]).unwrap());
    until_io_wait(reader.id());
    reader
}

#[test]
fn shutdown_or_the_peer_closing_wakes_a_parked_reader_with_eof() {
    at_1_and_4(|| {
        // Our own shutdown, from another goroutine.
        let (server, _client) = tcp_pair();
        let server = Arc::new(server);
        let reader = parked_reader(server.clone());
        goro::spawn(move || server.shutdown(Shutdown::Both).unwrap())
            .join()
            .unwrap();
        assert_eq!(reader.join().unwrap(), 0);
        // The peer closing its end.
        let (server, client) = tcp_pair();
        let reader = parked_reader(Arc::new(server));
        drop(client);
        assert_eq!(reader.join().unwrap(), 0);
    });
}

#[test]
fn plain_threads_and_goroutines_talk_both_ways() {
    at_1_and_4(|| {
        // A goroutine server, a plain-thread client.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, 1);
        std::thread::spawn(move || echo_client(addr, 0, 500))
            .join()
            .unwrap();
        server.join().unwrap();
        // A plain-thread server, a goroutine client.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let (mut from, mut to) = (&conn, &conn);
            io::copy(&mut from, &mut to).unwrap()
        });
        goro::spawn(move || echo_client(addr, 1, 500))
            .join()
            .unwrap();
        assert_eq!(
            server.join().unwrap(),
            (0..500).map(|i| format!("1:{i}\n").len() as u64).sum()
        );
    });
}

#[test]
fn udp_ping_pong_counts_every_round() {
    const ROUNDS: u32 = 500;
    at_1_and_4(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a_addr = a.local_addr().unwrap();
        b.connect(a_addr).unwrap();
        let ponger = goro::spawn(move || {
            let mut buf = [0; 4];
            for round in 0..ROUNDS {
                let (n, from) = a.recv_from(&mut buf).unwrap();
                assert_eq!(u32::from_le_bytes(buf[..n].try_into().unwrap()), round);
                a.send_to(&(round + 1).to_le_bytes(), from).unwrap();
            }
        });
        let pinger = goro::spawn(move || {
            let mut buf = [0; 4];
            for round in 0..ROUNDS {
                b.send(&round.to_le_bytes()).unwrap();
                let n = b.recv(&mut buf).unwrap();
                assert_eq!(u32::from_le_bytes(buf[..n].try_into().unwrap()), round + 1);
            }
        });
        pinger.join().unwrap();
        ponger.join().unwrap();
    });
}

#[test]
fn a_udp_receive_times_out_with_would_block() {
    at_1_and_4(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let err = goro::spawn(move || socket.recv_from(&mut [0; 8]).unwrap_err())
            .join()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn unix_streams_echo() {
    const CLIENTS: usize = 20;
    const MESSAGES: usize = 100;
    at_1_and_4(|| {
        let path = std::env::temp_dir().join(format!(
            "goro-net-test-{}-{}.sock",
            std::process::id(),
            goro::gomaxprocs()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = goro::spawn(move || echo_each(listener.incoming().take(CLIENTS)));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let path = path.clone();
                goro::spawn(move || {
                    let conn = UnixStream::connect(&path).unwrap();
                    let mut lines = BufReader::new(&conn).lines();
                    for seq in 0..MESSAGES {
                        (&conn)
                            .write_all(format!("{id}:{seq}\n").as_bytes())
                            .unwrap();
                        assert_eq!(lines.next().unwrap().unwrap(), format!("{id}:{seq}"));
                    }
                    conn.shutdown(Shutdown::Write).unwrap();
                    assert!(lines.next().is_none());
                })
            })
            .collect();
        clients.into_iter().for_each(|c| c.join().unwrap());
        server.join().unwrap();
        std::fs::remove_file(&path).unwrap();
    });
}

/// A port that was just free: bound, then released.
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    at_1_and_4(|| {
        let addr = closed_port();
        let from_goroutine = goro::spawn(move || TcpStream::connect(addr).unwrap_err())
            .join()
            .unwrap();
        assert_eq!(from_goroutine.kind(), ErrorKind::ConnectionRefused);
        let from_thread = TcpStream::connect(addr).unwrap_err();
        assert_eq!(from_thread.kind(), ErrorKind::ConnectionRefused);
    });
}

/// A listener that completes no more handshakes: its backlog is 0 and one
/// connection is already queued, so the kernel drops further SYNs and a
/// connect stays pending. Returns the listener and the queued connection.
fn full_listener() -> (std::net::TcpListener, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen(2) on a socket we own; it only changes the backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let queued = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (listener, queued)
}

#[test]
fn connect_timeout_gives_up_with_timed_out() {
    at_1_and_4(|| {
        let (listener, _queued) = full_listener();
        let addr = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(50);
        let from_goroutine = goro::spawn(move || TcpStream::connect_timeout(&addr, timeout))
            .join()
            .unwrap();
        assert_eq!(from_goroutine.unwrap_err().kind(), ErrorKind::TimedOut);
        let from_thread = TcpStream::connect_timeout(&addr, timeout);
        assert_eq!(from_thread.unwrap_err().kind(), ErrorKind::TimedOut);
    });
}

/// Whether `fd` is in non-blocking mode.
fn nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL on an open descriptor only reads its flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn sockets_convert_to_and_from_std() {
    at_1_and_4(|| {
        let (server, client) = tcp_pair();
        assert!(nonblocking(&server));
        // Used from a goroutine (so registered), then handed back to std.
        let server = goro::spawn(move || {
            let mut buf = [0; 2];
            (&server).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hi");
            server
        });
        (&client).write_all(b"hi").unwrap();
        let std_server: std::net::TcpStream = server.join().unwrap().into();
        assert!(!nonblocking(&std_server));
        (&client).write_all(b"std").unwrap();
        let mut buf = [0; 3];
        (&std_server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"std");
        // And back again: non-blocking, and parking works.
        let server = TcpStream::from(std_server);
        assert!(nonblocking(&server));
        let reader = goro::spawn(move || {
            let mut buf = [0; 4];
            (&server).read_exact(&mut buf).unwrap();
            buf
        });
        until_io_wait(reader.id());
        (&client).write_all(b"back").unwrap();
        assert_eq!(&reader.join().unwrap(), b"back");
    });
}

#[test]
fn peek_leaves_the_data_to_read() {
    at_1_and_4(|| {
        let (server, client) = tcp_pair();
        let peeker = goro::spawn(move || {
            let mut peeked = [0; 4];
            let n = server.peek(&mut peeked).unwrap();
            let mut read = vec![0; n];
            (&server).read_exact(&mut read).unwrap();
            (peeked[..n].to_vec(), read)
        });
        until_io_wait(peeker.id());
        (&client).write_all(b"look").unwrap();
        let (peeked, read) = peeker.join().unwrap();
        assert!(!peeked.is_empty());
        assert_eq!(peeked, read);
    });
}

/// A process that has run out of descriptors (`EMFILE`) can still wait on
/// the sockets it has: the poller's own descriptors were taken with the
/// first socket, not at the first wait.
#[test]
fn sockets_made_before_running_out_of_descriptors_still_wait() {
    let out = common::child("out_of_descriptors_child", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("read: Ok(4)"));
}

#[test]
#[ignore = "run as a child process by sockets_made_before_running_out_of_descriptors_still_wait"]
fn out_of_descriptors_child() {
    let (mut server, mut client) = tcp_pair();
    // Take every descriptor left (at most 64 more).
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = (server.as_raw_fd() as u64 + 64).min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    let mut hoard = Vec::new();
    let exhausted = loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => hoard.push(file),
            Err(e) => break e,
        }
    };
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE));
    let reader = goro::spawn(move || {
        let mut buf = [0u8; 4];
        server.read(&mut buf)
    });
    // Parked, or (the fault) failed at once.
    let id = reader.id();
    while !reader.is_finished()
        && !goro::dump()
            .iter()
            .any(|g| g.id == id && g.state == "IO wait")
    {
        std::thread::yield_now();
    }
    client.write_all(b"ping").unwrap();
    println!("read: {:?}", reader.join().unwrap());
}

/// Spawns `f` as a goroutine that may resume on any worker.
fn migratory<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> goro::JoinHandle<T> {
    // SAFETY: the callers' goroutines hold nothing thread-bound across a
    // park.
    unsafe { goro::Builder::new().migratory() }
        .spawn(f)
        .unwrap()
}

/// An accept loop spawns each connection's goroutine: they start on the
/// workers in turn, not all where the loop runs (a started goroutine stays
/// on its thread, so that would serve every connection from one thread).
/// Before, 6 to 8 of the 8 started on one thread. In a child process, at
/// GOMAXPROCS=2, so that no other test's goroutines hold a worker.
#[test]
fn connections_accepted_by_one_goroutine_start_on_every_worker() {
    let counts = child_reports(
        "connections_per_thread_child",
        &[("GOMAXPROCS", "2")],
        "per thread:",
    );
    let counts: Vec<usize> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        counts.len() == 2 && counts.iter().all(|&n| n >= 3),
        "connections per thread: {counts:?}"
    );
}

#[test]
#[ignore = "run as a child process by connections_accepted_by_one_goroutine_start_on_every_worker"]
fn connections_per_thread_child() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = goro::spawn(move || {
        let handlers: Vec<_> = (0..8)
            .map(|_| {
                let (mut conn, _) = listener.accept().unwrap();
                goro::spawn(move || {
                    conn.write_all(b"x").unwrap();
                    std::thread::current().id()
                })
            })
            .collect();
        let mut per_thread = std::collections::HashMap::new();
        for h in handlers {
            *per_thread.entry(h.join().unwrap()).or_insert(0) += 1;
        }
        per_thread.into_values().collect::<Vec<usize>>()
    });
    for _ in 0..8 {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.read_exact(&mut [0]).unwrap();
    }
    let counts = server.join().unwrap();
    let counts: Vec<String> = counts.iter().map(|n| n.to_string()).collect();
    println!("per thread: {}", counts.join(" "));
}

/// A socket's event wakes its goroutine from that goroutine's own thread:
/// each worker sleeps in a poller of its own, holding the sockets its
/// goroutines wait on, so serving connections spread over the workers
/// costs no wake across threads. Before (one poller for the process, in
/// whichever worker idled first), about half of the 1,600 echoes below
/// woke a goroutine from the other thread. In a child process, at
/// GOMAXPROCS=2.
#[test]
fn socket_events_wake_goroutines_from_their_own_thread() {
    let remote = child_reports("echo_wakes_child", &[("GOMAXPROCS", "2")], "remote wakes:");
    let remote: u64 = remote.parse().unwrap();
    assert!(
        remote < (ECHO_CONNS * ECHO_ROUNDS / 10) as u64,
        "{remote} of {} echoes woke their goroutine from another thread",
        ECHO_CONNS * ECHO_ROUNDS
    );
}

const ECHO_CONNS: usize = 8;
const ECHO_ROUNDS: usize = 200;

#[test]
#[ignore = "run as a child process by socket_events_wake_goroutines_from_their_own_thread"]
fn echo_wakes_child() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = goro::spawn(move || {
        let handlers: Vec<_> = (0..ECHO_CONNS)
            .map(|_| {
                let (mut conn, _) = listener.accept().unwrap();
                goro::spawn(move || {
                    let mut byte = [0];
                    for _ in 0..ECHO_ROUNDS {
                        conn.read_exact(&mut byte).unwrap();
                        conn.write_all(&byte).unwrap();
                    }
                })
            })
            .collect();
        handlers.into_iter().for_each(|h| h.join().unwrap());
    });
    let clients: Vec<_> = (0..ECHO_CONNS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let before = goro::metrics().remote_wakes;
    let echoing: Vec<_> = clients
        .into_iter()
        .map(|mut conn| {
            std::thread::spawn(move || {
                for i in 0..ECHO_ROUNDS {
                    conn.write_all(&[i as u8]).unwrap();
                    let mut byte = [0];
                    conn.read_exact(&mut byte).unwrap();
                    assert_eq!(byte[0], i as u8);
                }
            })
        })
        .collect();
    echoing.into_iter().for_each(|t| t.join().unwrap());
    server.join().unwrap();
    println!("remote wakes: {}", goro::metrics().remote_wakes - before);
}

/// Far longer than any wait of a test's socket: a read still waiting then
/// lost its wake.
const LOST_WAKE: Duration = Duration::from_secs(10);

/// Sockets keep serving while GOMAXPROCS changes every few hundred
/// microseconds: workers sleep in their own pollers, lose and regain
/// tokens, and a socket follows the goroutine that waits on it. Eight
/// connections (half of their goroutines may migrate, half may not) each
/// echo 200 bytes, counted and in order, 10 times over. A worker that lost
/// its token kept its poller to itself, so a migrating goroutine's socket
/// registered there went unwatched: this hung in 2 runs of 10 of the test
/// binary.
#[test]
fn sockets_echo_through_a_gomaxprocs_storm() {
    with_procs(2, || {
        for _ in 0..10 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = goro::spawn(move || {
                let handlers: Vec<_> = (0..ECHO_CONNS)
                    .map(|i| {
                        let (conn, _) = listener.accept().unwrap();
                        let echo = move || echo_bytes(conn);
                        if i % 2 == 0 {
                            goro::spawn(echo)
                        } else {
                            migratory(echo)
                        }
                    })
                    .collect();
                handlers
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .sum::<usize>()
            });
            let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let clients: Vec<_> = (0..ECHO_CONNS)
                .map(|_| {
                    let done = done.clone();
                    goro::spawn(move || {
                        let mut conn = TcpStream::connect(addr).unwrap();
                        conn.set_read_timeout(Some(LOST_WAKE)).unwrap();
                        for i in 0..ECHO_ROUNDS {
                            conn.write_all(&[i as u8]).unwrap();
                            let mut byte = [0];
                            conn.read_exact(&mut byte).unwrap();
                            assert_eq!(byte[0], i as u8);
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            let mut i = 0;
            while done.load(Ordering::SeqCst) < ECHO_CONNS {
                goro::set_gomaxprocs(1 + i % 4);
                i += 1;
                std::thread::sleep(Duration::from_micros(300));
            }
            clients.into_iter().for_each(|c| c.join().unwrap());
            assert_eq!(server.join().unwrap(), ECHO_CONNS * ECHO_ROUNDS);
        }
    });
}

/// Echoes every byte until the peer closes; returns how many. A read
/// that waits 10 s fails the test: its wake was lost.
fn echo_bytes(mut conn: TcpStream) -> usize {
    conn.set_read_timeout(Some(LOST_WAKE)).unwrap();
    let mut byte = [0];
    let mut echoed = 0;
    while conn.read(&mut byte).unwrap() == 1 {
        conn.write_all(&byte).unwrap();
        echoed += 1;
    }
    echoed
}
