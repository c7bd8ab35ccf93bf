//! Async I/O on goro's netpoller: readiness futures on [`TcpStream`] and
//! [`UnixStream`] ([`readable`](TcpStream::readable),
//! [`writable`](TcpStream::writable), `poll_read_ready`,
//! `poll_write_ready`), and `futures-io`'s [`AsyncRead`] and
//! [`AsyncWrite`] on them (and on shared references to them), so an async
//! library generic over its I/O runs on goro's sockets: in a goroutine's
//! [`block_on`](crate::block_on), or in another executor's task.
//!
//! # Design
//! A readiness poll is the netpoller's wait with a [`Waker`] in place of a
//! parked goroutine (`netpoll::Registration::poll_ready`): under the
//! descriptor's lock it consumes the direction's ready flag if an event
//! came since it was last consumed, and otherwise records the waker as the
//! direction's waiter (registering the socket on first use). An event
//! takes a waker out, wakes it after the lock, and sets the flag, which the
//! woken task's next poll consumes. So the netpoller's no-lost-wakeup
//! argument holds as for goroutines: after a call failed with `EAGAIN`,
//! the next event either finds the waker recorded or sets the flag the
//! next poll consumes. Readiness is a hint: the call may fail with
//! `WouldBlock` again, and then the poll waits for the next event.
//!
//! A socket registered by a task outside goro goes to the shared poller,
//! which every worker's poller nests, so whichever worker sleeps or polls
//! sees its events; the task that starts to wait pokes an idle worker that
//! went to sleep before the netpoller existed, so that one sleeps in its
//! poller, and the task is woken even when no goroutine runs at all.
//!
//! `poll_read` and `poll_write` make the call on the non-blocking std
//! socket, and on `WouldBlock` poll readiness, in a loop. They never park
//! or block the calling thread, so they work on any executor's threads.
//!
//! # Invariants
//! - One waiter per direction and socket: one task at a time polls a
//!   direction (as one goroutine at a time waits on it); a later poll's
//!   waker replaces an earlier one's. A goroutine's blocking call on the
//!   same direction displaces a waiting task's waker (waking it), and a
//!   poll that finds a goroutine waiting fails: do not mix the two on one
//!   direction at once.
//! - A recorded waker is counted among the netpoller's waiters until an
//!   event or the socket's close takes it out, so the deadlock detector
//!   and the idle workers know that something waits for the socket.
//!
//! # Orderings
//! None of its own: the descriptor's lock orders the flag and the waiter
//! (see `netpoll`).

use super::{Evented, Socket, TcpStream, UnixStream};
use crate::epoll::Interest;
use futures_io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A goro socket's evented core (implemented by `net::conversions!`).
pub(crate) trait HasEvented {
    type Std: Socket;
    fn evented(&self) -> &Evented<Self::Std>;
}

impl<S: Socket> Evented<S> {
    /// Polls readiness for `interest` (see the module note).
    pub(crate) fn poll_ready(&self, interest: Interest, waker: &Waker) -> Poll<io::Result<()>> {
        let poll = match self.registration() {
            Ok(registration) => registration.poll_ready(interest, waker),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if poll.is_pending() && crate::scheduler::current_worker_index().is_none() {
            // A task outside goro (tokio's, say) may wait while every
            // worker sleeps, none of them in a poller (the netpoller may
            // not have existed when they went to sleep): have one recheck,
            // and so sleep in its poller, which nests the shared one.
            let rt = crate::scheduler::runtime();
            rt.ensure_started();
            rt.fill_vacant_poller();
        }
        poll
    }
}

/// Runs the non-blocking `call` until it does not fail with `WouldBlock`,
/// polling readiness for `interest` in between.
fn poll_io<S: Socket, R>(
    evented: &Evented<S>,
    interest: Interest,
    cx: &mut Context<'_>,
    mut call: impl FnMut(&S) -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        match call(evented.get()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return Poll::Ready(done),
        }
        match evented.poll_ready(interest, cx.waker()) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// The future of `readable` and `writable`: ready once the socket may be
/// ready for that direction (an event came since the last readiness).
#[must_use = "futures do nothing unless polled"]
pub struct Readiness<'a> {
    poll: &'a (dyn PollReady + Sync),
    interest: Interest,
}

/// A socket whose readiness can be polled (object safe, for `Readiness`).
trait PollReady {
    fn poll_ready(&self, interest: Interest, waker: &Waker) -> Poll<io::Result<()>>;
}

impl<T: HasEvented> PollReady for T {
    fn poll_ready(&self, interest: Interest, waker: &Waker) -> Poll<io::Result<()>> {
        self.evented().poll_ready(interest, waker)
    }
}

impl Future for Readiness<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll.poll_ready(self.interest, cx.waker())
    }
}

impl fmt::Debug for Readiness<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Readiness { .. }")
    }
}

/// Readiness methods and `AsyncRead`/`AsyncWrite` for a stream type.
macro_rules! async_stream {
    ($goro:ident) => {
        impl $goro {
            /// A future that is ready once the socket may be readable: an
            /// event came since readiness was last consumed. A hint: a
            /// non-blocking read may still fail with `WouldBlock`.
            ///
            /// ```
            #[doc = concat!("# fn demo(s: &goro::net::", stringify!($goro), ") -> std::io::Result<()> {")]
            /// goro::block_on(s.readable())?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn readable(&self) -> Readiness<'_> {
                Readiness {
                    poll: self,
                    interest: Interest::Read,
                }
            }

            /// As [`readable`](Self::readable), for writing.
            pub fn writable(&self) -> Readiness<'_> {
                Readiness {
                    poll: self,
                    interest: Interest::Write,
                }
            }

            /// Polls read readiness: `Ready` consumes it; `Pending` records
            /// the waker to be woken by the next event (see the module note
            /// of `goro::net` async I/O).
            pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                PollReady::poll_ready(self, Interest::Read, cx.waker())
            }

            /// As [`poll_read_ready`](Self::poll_read_ready), for writing.
            pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                PollReady::poll_ready(self, Interest::Write, cx.waker())
            }
        }

        impl AsyncRead for &$goro {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                poll_io(self.evented(), Interest::Read, cx, |mut s| s.read(buf))
            }
        }

        impl AsyncWrite for &$goro {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                poll_io(self.evented(), Interest::Write, cx, |mut s| s.write(buf))
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// Shuts the writing half down.
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.evented().get().shutdown(Shutdown::Write))
            }
        }

        impl AsyncRead for $goro {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_read(cx, buf)
            }
        }

        impl AsyncWrite for $goro {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self).poll_flush(cx)
            }

            /// Shuts the writing half down.
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}

async_stream!(TcpStream);
async_stream!(UnixStream);
