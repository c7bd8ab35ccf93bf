//! Sockets for goroutines: std's TCP, UDP and Unix-domain sockets on Go's
//! netpoller.
//!
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`] and
//! [`UnixStream`] have the API of their `std` namesakes. Inside a goroutine,
//! a call that would block parks the goroutine (`IO wait` in [`dump`]) and
//! its worker thread runs other goroutines until the socket is ready; one
//! worker serves any number of waiting connections. On a plain OS thread
//! every call behaves as std's does: the thread blocks (in `poll(2)`).
//!
//! Read and write timeouts are std's: the socket's `SO_RCVTIMEO` and
//! `SO_SNDTIMEO`, so clones share them and they survive conversion to and
//! from std. Each call waits at most that long, then fails with
//! [`ErrorKind::WouldBlock`](std::io::ErrorKind::WouldBlock), as std's do on
//! Linux; the socket stays usable. goro reads them from the kernel once and
//! keeps them (shared by `try_clone` handles, updated by `set_*_timeout`),
//! since a call that waits needs its deadline and a system call per wait
//! would cost as much as the read itself; a timeout set through a std or raw
//! handle of the same socket is seen after the next goro `set_*_timeout`.
//!
//! For async code, [`TcpStream`] and [`UnixStream`] also have readiness
//! futures (`readable`, `writable`) and futures-io's `AsyncRead` and
//! `AsyncWrite`, which wait on the same netpoller without blocking a
//! thread (see [`Readiness`]).
//!
//! Name resolution ([`ToSocketAddrs`]) may wait on DNS, so it runs inside
//! [`blocking`](fn@crate::blocking).
//!
//! ```
//! use goro::net::{TcpListener, TcpStream};
//! use std::io::{BufRead, BufReader, Write};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! goro::go!(move || {
//!     for conn in listener.incoming() {
//!         let conn = conn.unwrap();
//!         goro::go!(move || {
//!             // Echo each line back.
//!             let mut lines = BufReader::new(&conn);
//!             let mut line = String::new();
//!             while lines.read_line(&mut line).unwrap() > 0 {
//!                 (&conn).write_all(line.as_bytes()).unwrap();
//!                 line.clear();
//!             }
//!         });
//!     }
//! });
//! let reply = goro::go!(move || {
//!     let mut conn = TcpStream::connect(addr).unwrap();
//!     conn.write_all(b"hello\n").unwrap();
//!     let mut reply = String::new();
//!     BufReader::new(conn).read_line(&mut reply).unwrap();
//!     reply
//! });
//! assert_eq!(reply.join().unwrap(), "hello\n");
//! ```
//!
//! [`dump`]: crate::dump
//!
//! # How a call waits
//! Every call first tries the system call on the non-blocking socket. On
//! `EAGAIN`, a goroutine registers the socket with the netpoller (once, on
//! its first wait) and waits for the next readiness event of the direction,
//! then tries again; a thread waits in `poll(2)`. A goroutine's whole call
//! holds its direction's turn (Go's `fdMutex`), so at most one goroutine
//! waits per direction and socket, which the netpoller's no-lost-wakeup
//! argument needs; threads do not take it.

/// Conversions to and from std, and raw descriptors: a socket from std is
/// put in non-blocking mode; one given back to std (or as a raw descriptor)
/// leaves the poller and is put back in blocking mode. `O_NONBLOCK` belongs
/// to the open socket, so clones made with `try_clone` share it. Also the
/// private `new`, which makes every socket the type creates.
macro_rules! conversions {
    ($goro:ident, $std:ty) => {
        impl $goro {
            /// Takes over a std socket, putting it in non-blocking mode.
            fn new(socket: $std) -> std::io::Result<$goro> {
                Ok($goro {
                    inner: $crate::net::Evented::new(socket)?,
                })
            }
        }

        impl From<$std> for $goro {
            /// Takes over a std socket, putting it in non-blocking mode.
            fn from(socket: $std) -> $goro {
                $goro {
                    inner: $crate::net::Evented::from_std(socket),
                }
            }
        }

        impl From<$goro> for $std {
            /// Gives the socket back to std, in blocking mode. Clones made
            /// with `try_clone` share the mode: their calls then block their
            /// thread (with the same timeouts) until they are dropped.
            fn from(socket: $goro) -> $std {
                socket.inner.into_std()
            }
        }

        impl $crate::net::async_io::HasEvented for $goro {
            type Std = $std;
            fn evented(&self) -> &$crate::net::Evented<$std> {
                &self.inner
            }
        }

        impl std::os::fd::AsFd for $goro {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.inner.get())
            }
        }

        impl std::os::fd::AsRawFd for $goro {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.inner.get())
            }
        }

        impl std::os::fd::IntoRawFd for $goro {
            /// The descriptor, in blocking mode, as std's would be.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(<$std>::from(self))
            }
        }

        impl std::os::fd::FromRawFd for $goro {
            /// Takes over a descriptor, putting it in non-blocking mode.
            ///
            /// # Safety
            /// As std's: `fd` must be an open socket of the right kind that
            /// the caller owns and hands over.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $goro {
                // SAFETY: the caller's guarantee, forwarded.
                $goro::from(unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl std::fmt::Debug for $goro {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.inner.get(), f)
            }
        }
    };
}
use conversions;

/// `Read` and `Write` for a stream and for a shared reference to it, so
/// that one goroutine can read while another writes. A write goes straight
/// to the socket: `flush` has nothing to do.
macro_rules! read_write {
    ($goro:ident) => {
        impl std::io::Read for $goro {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }
        }

        impl std::io::Read for &$goro {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.inner
                    .read_stream(len, |mut stream| std::io::Read::read(&mut stream, buf))
            }
        }

        impl std::io::Write for $goro {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for &$goro {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner
                    .write(|mut stream| std::io::Write::write(&mut stream, buf))
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
use read_write;

/// Methods whose call never waits, so they hand it straight to the std
/// socket (`self.inner.get()`): each is given as its doc comment and its
/// signature.
macro_rules! delegate {
    ($(
        $(#[$doc:meta])*
        pub fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.inner.get().$name($($arg),*)
            }
        )*
    };
}
use delegate;

/// The read and write timeout methods of a socket type, std's, keeping
/// the [`Evented`] socket's cached timeouts in step.
macro_rules! timeout_methods {
    () => {
        /// Sets how long a read (or receive) waits before failing with
        /// `WouldBlock` (`None`: forever). A zero duration is an
        /// `InvalidInput` error.
        pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            self.inner.get().set_read_timeout(timeout)?;
            self.inner.forget_timeouts();
            Ok(())
        }

        /// Sets how long a write (or send) waits before failing with
        /// `WouldBlock` (`None`: forever). A zero duration is an
        /// `InvalidInput` error.
        pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            self.inner.get().set_write_timeout(timeout)?;
            self.inner.forget_timeouts();
            Ok(())
        }

        /// The read timeout, if any.
        pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
            self.inner.get().read_timeout()
        }

        /// The write timeout, if any.
        pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
            self.inner.get().write_timeout()
        }
    };
}
use timeout_methods;

mod async_io;
mod tcp;
mod udp;
mod unix;

pub use async_io::Readiness;
pub use std::net::Shutdown;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use crate::epoll::Interest;
use crate::netpoll::{self, Registration};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// A std socket type that goro drives in non-blocking mode.
pub(crate) trait Socket: AsFd {
    /// std's `set_nonblocking`.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;

    /// The socket's timeout for calls in `interest` (std keeps it in the
    /// kernel: `SO_RCVTIMEO`, `SO_SNDTIMEO`); `None` for listeners.
    fn timeout(&self, interest: Interest) -> io::Result<Option<Duration>>;
}

/// Implements [`Socket`] for std's sockets: listeners have no timeouts,
/// the others std's read and write timeouts.
macro_rules! impl_socket {
    (listeners: $($listener:ty),*; others: $($other:ty),*;) => {
        $(
            impl Socket for $listener {
                fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                    <$listener>::set_nonblocking(self, nonblocking)
                }

                fn timeout(&self, _: Interest) -> io::Result<Option<Duration>> {
                    Ok(None)
                }
            }
        )*
        $(
            impl Socket for $other {
                fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                    <$other>::set_nonblocking(self, nonblocking)
                }

                fn timeout(&self, interest: Interest) -> io::Result<Option<Duration>> {
                    match interest {
                        Interest::Read => self.read_timeout(),
                        Interest::Write => self.write_timeout(),
                    }
                }
            }
        )*
    };
}

impl_socket! {
    listeners: std::net::TcpListener, std::os::unix::net::UnixListener;
    others: std::net::TcpStream, std::net::UdpSocket, std::os::unix::net::UnixStream;
}

/// Setting or clearing `O_NONBLOCK` fails only on a descriptor that is not
/// open, which a std socket's never is.
const OPEN_SOCKET: &str = "O_NONBLOCK can be changed on an open socket";

/// A std socket in non-blocking mode whose calls wait on the netpoller in a
/// goroutine and in `poll(2)` on a thread (see the module note).
pub(crate) struct Evented<S: Socket> {
    /// Declared before `io`, so dropped before it: the socket leaves the
    /// poller while its descriptor is still open.
    registration: OnceLock<Registration>,
    /// Makes the first registration happen once.
    registering: Mutex<()>,
    /// The turn of goroutines' reads and writes (Go's `fdMutex`).
    read_turn: crate::sync::Mutex<()>,
    write_turn: crate::sync::Mutex<()>,
    /// The socket's timeouts, shared with its `try_clone` handles.
    timeouts: Arc<TimeoutCache>,
    /// A goroutine's stream read came back short: the receive queue was
    /// empty, so the next read waits for readiness first (see
    /// [`read_stream`](Self::read_stream)). Only touched with the read turn
    /// held.
    drained: AtomicBool,
    io: S,
}

/// A socket's read and write timeouts as last read from the kernel. Each
/// slot: 0, not read yet; 1, none; else the timeout in nanoseconds plus 2.
/// Relaxed: each slot is one value, and a reader that misses a fresh store
/// at worst reads the kernel again.
#[derive(Default)]
struct TimeoutCache {
    slots: [AtomicU64; 2],
}

impl TimeoutCache {
    /// The timeout for `interest`, read with `read` if not known yet.
    fn get(
        &self,
        interest: Interest,
        read: impl FnOnce() -> io::Result<Option<Duration>>,
    ) -> io::Result<Option<Duration>> {
        let slot = &self.slots[interest as usize];
        match slot.load(Ordering::Relaxed) {
            0 => {
                let timeout = read()?;
                let nanos = timeout.map_or(1, |t| {
                    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX - 2) + 2
                });
                slot.store(nanos, Ordering::Relaxed);
                Ok(timeout)
            }
            1 => Ok(None),
            nanos => Ok(Some(Duration::from_nanos(nanos - 2))),
        }
    }

    /// The timeouts changed: read them again when next needed.
    fn forget(&self) {
        self.slots
            .iter()
            .for_each(|s| s.store(0, Ordering::Relaxed));
    }
}

impl<S: Socket> Evented<S> {
    /// Puts `io` in non-blocking mode (and starts the poller, if this is
    /// the first socket).
    pub(crate) fn new(io: S) -> io::Result<Evented<S>> {
        io.set_nonblocking(true)?;
        crate::netpoll::start();
        Ok(Evented {
            registration: OnceLock::new(),
            registering: Mutex::new(()),
            read_turn: crate::sync::Mutex::new(()),
            write_turn: crate::sync::Mutex::new(()),
            timeouts: Arc::default(),
            drained: AtomicBool::new(false),
            io,
        })
    }

    /// Another handle on the same socket (`io`, a clone of ours): it shares
    /// our cached timeouts, as the kernel shares the timeouts themselves.
    pub(crate) fn clone_with(&self, io: S) -> io::Result<Evented<S>> {
        let mut clone = Evented::new(io)?;
        clone.timeouts = self.timeouts.clone();
        Ok(clone)
    }

    /// The timeouts changed (see [`TimeoutCache`]).
    pub(crate) fn forget_timeouts(&self) {
        self.timeouts.forget();
    }

    /// [`new`](Self::new) for `From<std socket>`, which cannot fail.
    pub(crate) fn from_std(io: S) -> Evented<S> {
        Evented::new(io).expect(OPEN_SOCKET)
    }

    /// Leaves the poller and gives the socket back in blocking mode.
    pub(crate) fn into_std(self) -> S {
        let Evented {
            registration, io, ..
        } = self;
        drop(registration);
        io.set_nonblocking(false).expect(OPEN_SOCKET);
        io
    }

    /// The std socket, for the calls that never block.
    pub(crate) fn get(&self) -> &S {
        &self.io
    }

    /// Runs a reading call until it does not fail with `WouldBlock`,
    /// waiting for the socket in between (until its read timeout).
    #[track_caller]
    pub(crate) fn read<R>(&self, call: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.retry(Interest::Read, call)
    }

    /// As [`read`](Self::read), for a writing call and the write timeout.
    #[track_caller]
    pub(crate) fn write<R>(&self, call: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.retry(Interest::Write, call)
    }

    /// A read of up to `len` bytes from a stream socket (`call` reads).
    /// A read that returns fewer bytes than asked for emptied the receive
    /// queue, so the goroutine's next read waits for readiness before it
    /// tries: a request-response loop then makes one read per request, not
    /// a second that fails with `EAGAIN` (tokio does the same). Data that
    /// arrives later raises an edge-triggered event, which that wait sees.
    /// Not after the peer hung up: its end of stream may be pending behind
    /// the data, with its event already seen.
    #[track_caller]
    pub(crate) fn read_stream(
        &self,
        len: usize,
        call: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let turn = on_goroutine().then(|| self.read_turn.lock());
        let wait_first = turn.is_some() && len > 0 && self.drained.swap(false, Ordering::Relaxed);
        let n = self.attempt(Interest::Read, wait_first, call)?;
        if turn.is_some() && 0 < n && n < len && !self.peer_hung_up() {
            self.drained.store(true, Ordering::Relaxed);
        }
        Ok(n)
    }

    /// Whether the poller has reported that the peer closed (or the socket
    /// failed): end of stream may then be pending behind a short read, with
    /// no event to come for it. An unregistered socket gets its current
    /// state reported when it registers, at its first wait.
    fn peer_hung_up(&self) -> bool {
        self.registration
            .get()
            .is_some_and(Registration::read_hung_up)
    }

    #[track_caller]
    fn retry<R>(&self, interest: Interest, call: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        let _turn = on_goroutine().then(|| self.turn(interest).lock());
        self.attempt(interest, false, call)
    }

    /// Runs `call` until it does not fail with `WouldBlock`, waiting for the
    /// socket in between (and first, if `wait_first`), until the timeout.
    #[track_caller]
    fn attempt<R>(
        &self,
        interest: Interest,
        wait_first: bool,
        mut call: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut deadline = None;
        let mut try_now = !wait_first;
        loop {
            if try_now {
                match call(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    done => return done,
                }
            }
            try_now = true;
            let until = match deadline {
                Some(until) => until,
                None => *deadline.insert(self.deadline(interest)?),
            };
            self.wait(interest, until)?;
        }
    }

    fn turn(&self, interest: Interest) -> &crate::sync::Mutex<()> {
        match interest {
            Interest::Read => &self.read_turn,
            Interest::Write => &self.write_turn,
        }
    }

    /// When a call starting now must give up, from the socket's timeout.
    fn deadline(&self, interest: Interest) -> io::Result<Option<Instant>> {
        Ok(self
            .timeouts
            .get(interest, || self.io.timeout(interest))?
            .and_then(|t| Instant::now().checked_add(t)))
    }

    /// Waits until the socket may be ready for `interest`: an `EAGAIN`
    /// error ([`netpoll::timed_out`]) once `deadline` passes.
    #[track_caller]
    pub(crate) fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        if on_goroutine() {
            let registration = self.registration()?;
            match interest {
                Interest::Read => registration.wait_read(deadline),
                Interest::Write => registration.wait_write(deadline),
            }
        } else if crate::epoll::wait_fd(self.io.as_fd(), interest, deadline)? {
            Ok(())
        } else {
            Err(netpoll::timed_out())
        }
    }

    /// The socket's registration with the poller, made on first use.
    fn registration(&self) -> io::Result<&Registration> {
        if let Some(registration) = self.registration.get() {
            return Ok(registration);
        }
        let _once = self
            .registering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(registration) = self.registration.get() {
            return Ok(registration);
        }
        let fresh = netpoll::register(self.io.as_fd())?;
        Ok(self.registration.get_or_init(|| fresh))
    }
}

/// Whether the caller is a goroutine (else a plain thread).
fn on_goroutine() -> bool {
    !crate::goroutine::current_ptr().is_null()
}

/// Resolves `addr`, inside [`blocking`](fn@crate::blocking): a DNS lookup must
/// not stall the other goroutines of this worker.
fn resolve<A: ToSocketAddrs + Send>(addr: A) -> io::Result<Vec<SocketAddr>> {
    crate::blocking(move || addr.to_socket_addrs().map(Iterator::collect))
}

/// Tries `f` on each address `addr` resolves to, in order, as std does;
/// the last error if none works.
fn each_addr<A: ToSocketAddrs + Send, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in resolve(addr)? {
        match f(addr) {
            Ok(done) => return Ok(done),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
