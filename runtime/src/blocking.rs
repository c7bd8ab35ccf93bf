//! Blocking calls: code that blocks its OS thread, run the way Go runs a
//! system call.
//!
//! [`blocking`] runs a closure on the calling goroutine's worker thread and
//! marks the worker as blocked while it runs; the scheduler's monitor hands
//! the worker's queue to another thread if the call blocks for long, so the
//! other goroutines keep running.
use crate::scheduler;

/// Runs `f`, which may block its OS thread (a file read, a DNS lookup, a
/// lock of a C library), without stalling other goroutines: while `f`
/// blocks, the worker's other goroutines go on running on another thread,
/// and the calling goroutine continues where it was when `f` returns.
/// Quick calls cost a little more than a plain call. From a plain OS thread,
/// `f` simply runs.
///
/// ```
/// let n = goro::go!(|| goro::blocking(|| std::fs::read("Cargo.toml").map(|b| b.len())))
///     .join()
///     .unwrap()
///     .unwrap();
/// assert!(n > 0);
/// ```
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    let _marked = scheduler::enter_blocking();
    f()
}
