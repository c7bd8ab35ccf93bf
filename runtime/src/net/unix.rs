//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`].

use super::Evented;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// A Unix-domain socket server: std's
/// [`UnixListener`](std::os::unix::net::UnixListener) whose `accept` parks
/// the calling goroutine instead of blocking its thread.
///
/// ```
/// use goro::net::{UnixListener, UnixStream};
/// use std::io::{Read, Write};
///
/// let path = std::env::temp_dir().join(format!("goro-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let server = goro::go!(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0; 4];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let mut client = UnixStream::connect(&path).unwrap();
/// client.write_all(b"ping").unwrap();
/// let mut echo = [0; 4];
/// client.read_exact(&mut echo).unwrap();
/// assert_eq!(&echo, b"ping");
/// server.join().unwrap();
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixListener {
    inner: Evented<net::UnixListener>,
}

/// An iterator over the connections a [`UnixListener`] accepts, from
/// [`UnixListener::incoming`]; it never returns `None`.
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

/// A Unix-domain stream connection: std's
/// [`UnixStream`](std::os::unix::net::UnixStream) whose reads and writes
/// park the calling goroutine instead of blocking its thread.
///
/// ```
/// use goro::net::UnixStream;
/// use std::io::{Read, Write};
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// let reader = goro::go!(move || {
///     let mut text = String::new();
///     b.read_to_string(&mut text).unwrap();
///     text
/// });
/// a.write_all(b"over the socket").unwrap();
/// drop(a);
/// assert_eq!(reader.join().unwrap(), "over the socket");
/// ```
pub struct UnixStream {
    inner: Evented<net::UnixStream>,
}

impl UnixListener {
    /// Creates a listener bound to the socket file `path` (which must not
    /// exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::new(net::UnixListener::bind(path)?)
    }

    /// Waits for a connection and returns it with its peer's address. The
    /// next goroutine this worker spawns (the connection's, as a rule)
    /// starts on another worker in turn, so that a server's connections
    /// spread over the workers.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, peer) = self.inner.read(|listener| listener.accept())?;
        crate::scheduler::spread_next_spawn();
        Ok((UnixStream::new(stream)?, peer))
    }

    /// An iterator over the connections as they come (`accept` in a loop).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    super::delegate! {
        /// The local address it listens on.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;
    }

    /// A new handle on the same listening socket.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::new(self.inner.get().try_clone()?)
    }

    super::delegate! {
        /// Takes the socket's pending error (`SO_ERROR`), if any.
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl UnixStream {
    /// Connects to the socket at `path`. A Unix-domain connect waits only
    /// while the listener's backlog is full, and cannot be waited for with
    /// the poller, so it runs inside [`blocking`](fn@crate::blocking).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        UnixStream::new(crate::blocking(|| net::UnixStream::connect(path))?)
    }

    /// A pair of connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::new(a)?, UnixStream::new(b)?))
    }

    super::delegate! {
        /// The local address of the connection.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// The remote address it is connected to.
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// Shuts down the read half, the write half, or both. A goroutine
        /// parked reading wakes and reads end of stream.
        pub fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    }

    /// A new handle on the same connection (sharing its timeouts).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.clone_with(self.inner.get().try_clone()?)?,
        })
    }

    super::timeout_methods!();

    super::delegate! {
        /// Takes the socket's pending error (`SO_ERROR`), if any.
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }
}

super::conversions!(UnixListener, net::UnixListener);
super::conversions!(UnixStream, net::UnixStream);
super::read_write!(UnixStream);
