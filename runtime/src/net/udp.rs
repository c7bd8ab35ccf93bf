//! UDP: [`UdpSocket`].

use super::{each_addr, resolve, Evented};
use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// A UDP socket: std's [`UdpSocket`](std::net::UdpSocket) whose receives
/// and sends park the calling goroutine instead of blocking its thread.
///
/// ```
/// use goro::net::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let addr = server.local_addr().unwrap();
/// let pong = goro::go!(move || {
///     let mut buf = [0; 16];
///     let (n, from) = server.recv_from(&mut buf).unwrap();
///     server.send_to(&buf[..n], from).unwrap();
/// });
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.connect(addr).unwrap();
/// client.send(b"ping").unwrap();
/// let mut buf = [0; 16];
/// let n = client.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// pong.join().unwrap();
/// ```
pub struct UdpSocket {
    inner: Evented<net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (each address it resolves to in
    /// turn, as std does); port 0 picks a free port.
    pub fn bind<A: ToSocketAddrs + Send>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::new(each_addr(addr, net::UdpSocket::bind)?)
    }

    /// Waits for a datagram; returns its length (the rest of a datagram
    /// longer than `buf` is dropped) and its sender.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|socket| socket.recv_from(buf))
    }

    /// As [`recv_from`](Self::recv_from), but leaves the datagram queued.
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|socket| socket.peek_from(buf))
    }

    /// Sends a datagram to the first address `addr` resolves to; returns
    /// the bytes sent.
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs + Send>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(to) = resolve(addr)?.into_iter().next() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            ));
        };
        self.inner.write(|socket| socket.send_to(buf, to))
    }

    /// Sets the only address datagrams go to and come from (each address
    /// `addr` resolves to in turn, as std does).
    pub fn connect<A: ToSocketAddrs + Send>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |to| self.inner.get().connect(to))
    }

    /// Sends a datagram to the connected address.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|socket| socket.send(buf))
    }

    /// Waits for a datagram from the connected address.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|socket| socket.recv(buf))
    }

    /// As [`recv`](Self::recv), but leaves the datagram queued.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|socket| socket.peek(buf))
    }

    super::delegate! {
        /// The connected address.
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// The local address of the socket.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;
    }

    /// A new handle on the same socket (sharing its timeouts).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.clone_with(self.inner.get().try_clone()?)?,
        })
    }

    super::timeout_methods!();

    super::delegate! {
        /// Sets `SO_BROADCAST` (may send to a broadcast address).
        pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()>;

        /// Whether `SO_BROADCAST` is set.
        pub fn broadcast(&self) -> io::Result<bool>;

        /// Sets the `IP_TTL` option of the socket.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()>;

        /// The `IP_TTL` option of the socket.
        pub fn ttl(&self) -> io::Result<u32>;

        /// Takes the socket's pending error (`SO_ERROR`), if any.
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }
}

super::conversions!(UdpSocket, net::UdpSocket);
