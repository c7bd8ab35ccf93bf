//! The kernel side of network polling (Linux): one epoll instance, an
//! eventfd that breaks a blocked wait, and `poll(2)` on one descriptor.
//!
//! Everything the netpoller asks of the kernel goes through this module, so
//! a port to kqueue replaces this file; `netpoll.rs` is portable.
//!
//! # Design
//! - A socket is watched for reading and writing at once, *edge-triggered*
//!   (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`), and registered once for
//!   as long as it is polled, as Go does: an event only says that something
//!   changed, and whoever waits retries its call until `EAGAIN`. No
//!   `EPOLL_CTL_MOD` per wait, no re-arming.
//! - The wake eventfd is watched *level-triggered*: it stays readable until
//!   the blocking waiter drains it, so a wakeup meant for the thread blocked
//!   in `epoll_wait` reaches it even if a concurrent non-blocking wait on
//!   the same instance saw the event first.
//! - Every event carries the 64-bit token it was registered with; what the
//!   token means is the caller's business.
//! - A plain OS thread waits for one descriptor with `poll(2)`, which needs
//!   no registration and reports the descriptor's current state.
//!
//! Timeouts are rounded *up* to whole milliseconds, so a wait never ends
//! before its deadline.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Most events one [`Epoll::wait`] returns (Go takes 128 at a time too).
const MAX_EVENTS: usize = 128;

/// Which readiness a wait is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interest {
    /// The descriptor has data, a connection to accept, or hung up.
    Read,
    /// The descriptor has buffer space, finished connecting, or failed.
    Write,
}

/// One readiness event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// The token the descriptor was registered with.
    pub(crate) token: u64,
    /// A read would not block (data, end of stream, or an error).
    pub(crate) readable: bool,
    /// A write would not block (space, a finished connect, or an error).
    pub(crate) writable: bool,
    /// The peer closed its end, or the socket failed: reads will not block
    /// again (they return end of stream or the error).
    pub(crate) hung_up: bool,
}

/// The events one [`Epoll::wait`] filled in.
pub(crate) struct Events {
    buf: [libc::epoll_event; MAX_EVENTS],
    len: usize,
}

impl Events {
    /// Room for one wait's events.
    pub(crate) fn new() -> Events {
        Events {
            buf: [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
            len: 0,
        }
    }

    /// The events of the last wait.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.buf[..self.len].iter().map(|raw| {
            // Copies out of the packed struct: no reference to its fields.
            let (bits, token) = (raw.events, raw.u64);
            let failed = bits & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
            let hung_up = failed || bits & libc::EPOLLRDHUP as u32 != 0;
            Event {
                token,
                readable: hung_up || bits & libc::EPOLLIN as u32 != 0,
                writable: failed || bits & libc::EPOLLOUT as u32 != 0,
                hung_up,
            }
        })
    }
}

/// An epoll instance.
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// A new epoll instance (closed on exec).
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: `fd` was just returned to us open and is owned by no
            // one else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches a socket for reading and writing, edge-triggered; its events
    /// carry `token`.
    pub(crate) fn add_edge(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        self.control(libc::EPOLL_CTL_ADD, fd, events as u32, token)
    }

    /// Watches a descriptor for reading, level-triggered (the wake eventfd).
    pub(crate) fn add_level(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, token)
    }

    /// Stops watching `fd` (which must still be open).
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    fn control(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: `event` is a valid epoll_event for the duration of the
        // call (the kernel copies it; DEL ignores it); both descriptors are
        // checked by the kernel, and a wrong `fd` is an error, not UB.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) })?;
        Ok(())
    }

    /// Waits for events for at most `timeout` (`None`: without limit) and
    /// puts them in `events`. A signal ends the wait early with no events.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        // SAFETY: `buf` has room for MAX_EVENTS events, and the kernel
        // writes at most the count it is given.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                timeout_ms(timeout),
            )
        };
        events.len = 0;
        match cvt(n) {
            Ok(n) => events.len = n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

impl AsRawFd for Epoll {
    /// The instance's descriptor, to nest it in another instance (it is
    /// readable while it has events).
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An eventfd: a counter whose descriptor is readable while it is non-zero.
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new non-blocking eventfd (closed on exec), at zero.
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(EventFd {
            // SAFETY: `fd` was just returned to us open and is owned by no
            // one else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the descriptor readable. Cannot fail in a way that matters: a
    /// counter too full to add to is readable already.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, which outlives the call.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter to zero (the descriptor stops being readable). A
    /// counter already at zero is left so.
    pub(crate) fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into `count`, which outlives the
        // call; at zero the non-blocking read fails with EAGAIN, harmlessly.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Blocks the calling thread until `fd` is ready for `interest` or
/// `deadline` passes (`None`: no deadline); returns whether it is ready. A
/// hang-up or an error counts as ready: the next call on the descriptor
/// reports it.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    let events = match interest {
        Interest::Read => libc::POLLIN | libc::POLLRDHUP,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(false),
            },
            None => None,
        };
        let mut pollfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, which outlives the call; `fd` is
        // borrowed, so it stays open until we return.
        match cvt(unsafe { libc::poll(&mut pollfd, 1, timeout_ms(timeout)) }) {
            Ok(0) => {} // timed out, or woke a little early: look again
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A timeout in milliseconds for `epoll_wait` and `poll`: rounded up, so a
/// wait never ends early; -1 for none.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => t
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
    }
}

/// A system call's `-1` as the thread's `errno`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }

    #[test]
    fn a_signalled_eventfd_wakes_a_wait_until_drained() {
        let epoll = Epoll::new().unwrap();
        let wake = EventFd::new().unwrap();
        epoll.add_level(wake.as_raw_fd(), 7).unwrap();
        let mut events = Events::new();
        epoll.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.iter().count(), 0);
        wake.signal();
        wake.signal();
        for _ in 0..2 {
            // Level-triggered: reported again until drained.
            epoll.wait(&mut events, None).unwrap();
            let all: Vec<Event> = events.iter().collect();
            assert_eq!(all.len(), 1);
            assert!(all[0].token == 7 && all[0].readable);
        }
        wake.drain();
        epoll.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.iter().count(), 0);
    }
}
