//! The accept loop the servers share: what Go's `net/http` `Server.Serve`
//! does when `Accept` fails.
//!
//! Some accept errors say nothing about the listener: the process is out of
//! file descriptors (`EMFILE`) until some connection closes, the system is
//! (`ENFILE`), the kernel is short of buffers, or a client gave up before
//! its connection was accepted. Ending the server on one of those would drop
//! every connection it still serves. Like `Server.Serve`, the loop logs
//! the error, waits (5 ms, doubling up to 1 s, back to nothing after an
//! accept succeeds) and goes on; any other error ends it.

use goro::net::{TcpListener, TcpStream};
use std::io;
use std::time::Duration;

/// The first wait after a temporary accept error.
const FIRST_DELAY: Duration = Duration::from_millis(5);
/// The longest wait between two tries.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Accepts connections forever, handing each to `serve` (which spawns a
/// goroutine for it). On a temporary error (see [`is_temporary`]) it logs
/// on stderr, backs off and goes on; it returns only the first other error.
pub fn accept_loop(listener: &TcpListener, mut serve: impl FnMut(TcpStream)) -> io::Result<()> {
    let mut delay = Duration::ZERO;
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                delay = Duration::ZERO;
                serve(conn);
            }
            Err(e) if is_temporary(&e) => {
                delay = (delay * 2).clamp(FIRST_DELAY, MAX_DELAY);
                eprintln!("accept error: {e}; retrying in {delay:?}");
                goro::sleep(delay);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether an accept error is one the listener outlives: out of
/// descriptors or memory, interrupted, or a connection that failed before
/// it was accepted (Linux reports the network errors its accept(2) page
/// says to retry).
pub fn is_temporary(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(code) => [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EINTR,
            libc::EAGAIN,
            libc::ETIMEDOUT,
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EPROTO,
            libc::EPERM,
            libc::ENETDOWN,
            libc::ENETUNREACH,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::ENONET,
            libc::ENOPROTOOPT,
            libc::EOPNOTSUPP,
        ]
        .contains(&code),
        None => matches!(
            e.kind(),
            io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
        ),
    }
}
