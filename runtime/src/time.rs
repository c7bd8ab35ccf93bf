//! Go's `time` package for goroutines: sleeping without holding a thread.
//!
//! A sleeping goroutine parks with a timer that unparks it (see `timer`),
//! so 100,000 sleepers cost 100,000 heap entries and no thread. Called from
//! a plain thread, [`sleep`] sleeps the thread.

use std::time::{Duration, Instant};

/// Pauses the current goroutine for at least `d`, as Go's `time.Sleep`.
/// Other goroutines run on the worker meanwhile. On a plain thread, sleeps
/// the thread.
///
/// ```
/// let start = std::time::Instant::now();
/// goro::spawn(|| goro::sleep(std::time::Duration::from_millis(5))).join().unwrap();
/// assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// ```
pub fn sleep(d: Duration) {
    sleep_until(Instant::now() + d);
}

/// Pauses the current goroutine until `deadline`.
pub fn sleep_until(deadline: Instant) {
    while !crate::park::park_until(deadline) {}
}
