//! TCP: [`TcpListener`] and [`TcpStream`].

use super::{each_addr, Evented};
use crate::epoll::Interest;
use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A TCP socket server, listening for connections: std's
/// [`TcpListener`](std::net::TcpListener) whose `accept` parks the calling
/// goroutine instead of blocking its thread.
///
/// ```
/// use goro::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = goro::go!(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0; 4];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let mut client = TcpStream::connect(addr).unwrap();
/// client.write_all(b"ping").unwrap();
/// let mut echo = [0; 4];
/// client.read_exact(&mut echo).unwrap();
/// assert_eq!(&echo, b"ping");
/// server.join().unwrap();
/// ```
pub struct TcpListener {
    inner: Evented<net::TcpListener>,
}

/// An iterator over the connections a [`TcpListener`] accepts, from
/// [`TcpListener::incoming`]; it never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

/// A TCP connection: std's [`TcpStream`](std::net::TcpStream) whose reads,
/// writes and connects park the calling goroutine instead of blocking its
/// thread. Reading and writing work on `&TcpStream` too, so one goroutine
/// can read while another writes.
///
/// ```
/// use goro::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = goro::go!(move || {
///     let mut conn = TcpStream::connect(addr).unwrap();
///     conn.write_all(b"hello").unwrap();
/// });
/// let (mut conn, peer) = listener.accept().unwrap();
/// assert_eq!(conn.peer_addr().unwrap(), peer);
/// let mut text = String::new();
/// conn.read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hello");
/// client.join().unwrap();
/// ```
pub struct TcpStream {
    inner: Evented<net::TcpStream>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (each address it resolves to in
    /// turn, as std does); port 0 picks a free port.
    pub fn bind<A: ToSocketAddrs + Send>(addr: A) -> io::Result<TcpListener> {
        TcpListener::new(each_addr(addr, net::TcpListener::bind)?)
    }

    super::delegate! {
        /// The local address it listens on.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;
    }

    /// A new handle on the same listening socket.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::new(self.inner.get().try_clone()?)
    }

    /// Waits for a connection and returns it with its peer's address. The
    /// next goroutine this worker spawns (the connection's, as a rule)
    /// starts on another worker in turn, so that a server's connections
    /// spread over the workers.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.read(|listener| listener.accept())?;
        crate::scheduler::spread_next_spawn();
        Ok((TcpStream::new(stream)?, peer))
    }

    /// An iterator over the connections as they come (`accept` in a loop).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    super::delegate! {
        /// Sets the `IP_TTL` option of the socket.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()>;

        /// The `IP_TTL` option of the socket.
        pub fn ttl(&self) -> io::Result<u32>;

        /// Takes the socket's pending error (`SO_ERROR`), if any.
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn, as
    /// std does.
    pub fn connect<A: ToSocketAddrs + Send>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| TcpStream::connect_until(&addr, None))
    }

    /// Connects to `addr`, giving up after `timeout` with
    /// [`ErrorKind::TimedOut`](io::ErrorKind::TimedOut). A zero timeout is
    /// an `InvalidInput` error, as in std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(zero_timeout());
        }
        TcpStream::connect_until(addr, Instant::now().checked_add(timeout))
    }

    /// A non-blocking connect: start it, wait until the socket is writable,
    /// then read the outcome from `SO_ERROR`.
    #[track_caller]
    fn connect_until(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let stream = TcpStream::new(new_socket(addr)?)?;
        match start_connect(stream.as_fd(), addr) {
            Ok(()) => return Ok(stream),
            // Interrupted: the connect goes on in the background all the same.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
        loop {
            match stream.inner.wait(Interest::Write, deadline) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out",
                    ))
                }
                waited => waited?,
            }
            if let Some(e) = stream.take_error()? {
                return Err(e);
            }
            // Writable without an error and with a peer: connected (else the
            // wakeup came early, and we wait again).
            if stream.peer_addr().is_ok() {
                return Ok(stream);
            }
        }
    }

    super::delegate! {
        /// The remote address it is connected to.
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// The local address of the connection.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// Shuts down the read half, the write half, or both. A goroutine
        /// parked reading wakes and reads end of stream.
        pub fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    }

    /// A new handle on the same connection (sharing its timeouts).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone_with(self.inner.get().try_clone()?)?,
        })
    }

    super::timeout_methods!();

    /// Reads without removing the data from the socket's queue, waiting as
    /// a read does.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|stream| stream.peek(buf))
    }

    super::delegate! {
        /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
        pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()>;

        /// Whether `TCP_NODELAY` is set.
        pub fn nodelay(&self) -> io::Result<bool>;

        /// Sets the `IP_TTL` option of the socket.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()>;

        /// The `IP_TTL` option of the socket.
        pub fn ttl(&self) -> io::Result<u32>;

        /// Takes the socket's pending error (`SO_ERROR`), if any.
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }
}

/// std's error for a zero timeout.
pub(super) fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

/// A new non-blocking, close-on-exec TCP socket of `addr`'s family.
fn new_socket(addr: &SocketAddr) -> io::Result<net::TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(family, kind, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns.
    Ok(net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Starts connecting `socket` to `addr`.
fn start_connect(socket: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let raw = RawAddr::new(addr);
    let (ptr, len) = raw.as_ptr();
    // SAFETY: `ptr` and `len` describe `raw`, a complete sockaddr of the
    // socket's family that lives until the call returns (the kernel copies
    // it); `socket` is borrowed, so it is open.
    if unsafe { libc::connect(socket.as_raw_fd(), ptr, len) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A socket address in the kernel's layout.
enum RawAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl RawAddr {
    fn new(addr: &SocketAddr) -> RawAddr {
        match addr {
            SocketAddr::V4(a) => RawAddr::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => RawAddr::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
    }

    /// The address as `connect(2)` takes it.
    fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            RawAddr::V4(a) => (
                (a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            RawAddr::V6(a) => (
                (a as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }
}

super::conversions!(TcpListener, net::TcpListener);
super::conversions!(TcpStream, net::TcpStream);
super::read_write!(TcpStream);
