//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`].

use super::{Evented, Socket};
use crate::epoll::Interest;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

impl Socket for net::UnixListener {
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        net::UnixListener::set_nonblocking(self, nonblocking)
    }

    fn timeout(&self, _: Interest) -> io::Result<Option<Duration>> {
        Ok(None)
    }
}

impl Socket for net::UnixStream {
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        net::UnixStream::set_nonblocking(self, nonblocking)
    }

    fn timeout(&self, interest: Interest) -> io::Result<Option<Duration>> {
        match interest {
            Interest::Read => self.read_timeout(),
            Interest::Write => self.write_timeout(),
        }
    }
}

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
        Ok(UnixListener {
            inner: Evented::new(net::UnixListener::bind(path)?)?,
        })
    }

    /// Waits for a connection and returns it with its peer's address.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, peer) = self.inner.read(|listener| listener.accept())?;
        Ok((
            UnixStream {
                inner: Evented::new(stream)?,
            },
            peer,
        ))
    }

    /// An iterator over the connections as they come (`accept` in a loop).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The local address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// A new handle on the same listening socket.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Evented::new(self.inner.get().try_clone()?)?,
        })
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
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
    /// the poller, so it runs inside [`blocking`](crate::blocking).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let stream = crate::blocking(|| net::UnixStream::connect(path))?;
        Ok(UnixStream {
            inner: Evented::new(stream)?,
        })
    }

    /// A pair of connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((
            UnixStream {
                inner: Evented::new(a)?,
            },
            UnixStream {
                inner: Evented::new(b)?,
            },
        ))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// The remote address it is connected to.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// Shuts down the read half, the write half, or both. A goroutine
    /// parked reading wakes and reads end of stream.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }

    /// A new handle on the same connection (sharing its timeouts).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Evented::new(self.inner.get().try_clone()?)?,
        })
    }

    /// Sets how long a read waits before failing with `WouldBlock`
    /// (`None`: forever). A zero duration is an `InvalidInput` error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.get().set_read_timeout(timeout)
    }

    /// Sets how long a write waits before failing with `WouldBlock`
    /// (`None`: forever). A zero duration is an `InvalidInput` error.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.get().set_write_timeout(timeout)
    }

    /// The read timeout, if any.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get().read_timeout()
    }

    /// The write timeout, if any.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get().write_timeout()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }
}

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|mut stream| stream.read(buf))
    }
}

impl Write for UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|mut stream| stream.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

super::conversions!(UnixListener, net::UnixListener);
super::conversions!(UnixStream, net::UnixStream);
