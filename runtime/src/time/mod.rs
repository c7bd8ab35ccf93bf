//! Go's `time` package for goroutines: sleeping, timers and tickers that
//! hold no thread.
//!
//! | here | Go |
//! |---|---|
//! | [`sleep`], [`sleep_until`] | `time.Sleep` |
//! | [`sleep_async`](fn@sleep_async), [`sleep_until_async`] (futures) | |
//! | [`after`], [`tick`] (the [`chan`](crate::chan) ones) | `time.After`, `time.Tick` |
//! | [`Timer`] (`new`, `receiver`, `stop`, `reset`) | `time.Timer` (`NewTimer`, `C`, `Stop`, `Reset`) |
//! | [`after_func`] | `time.AfterFunc` |
//! | [`Ticker`] (`new`, `receiver`, `stop`, `reset`) | `time.Ticker` |
//! | [`Duration`], [`Instant`] (std's) | `time.Duration`, `time.Time` |
//!
//! # Design
//! Everything here stands on the runtime's timers: one 4-ary heap per
//! worker, fired by the workers themselves (see `crate::timer`). A sleeping
//! goroutine parks with its own timer (a slot inside the goroutine, so a
//! sleep allocates nothing) that unparks it, and reads the clock once per
//! sleep when that timer fires; a [`Timer`] or [`Ticker`]
//! is a timer whose callback `try_send`s the time into a one-slot channel
//! (never blocking the worker that runs it); [`after_func`] spawns a
//! goroutine from the callback. So 100,000 pending sleeps or timers cost
//! 100,000 heap entries and no thread. Called from a plain thread, [`sleep`]
//! sleeps the thread, and timers work the same.
//!
//! Timers and tickers follow Go 1.23: after `stop` or `reset` returns, no
//! stale value is received, so the pre-1.23 "stop, then drain `C`" idiom is
//! unnecessary. The submodule `alarm` explains how.
//!
//! Deadlines past the representable range are clamped to a century from
//! now; a timer never fires before its deadline (the runtime fires a timer
//! at the first scheduling point at or after it).

mod alarm;
mod sleep_async;
mod ticker;
mod timer;

pub use crate::chan::{after, tick};
pub use sleep_async::{sleep_async, sleep_until_async, SleepFuture};
pub use std::time::{Duration, Instant};
pub use ticker::Ticker;
pub use timer::{after_func, Timer};

pub(crate) use alarm::{later, open_channel};

/// Pauses the current goroutine for at least `d`, as Go's `time.Sleep`.
/// Other goroutines run on the worker meanwhile. On a plain thread, sleeps
/// the thread.
///
/// ```
/// let start = std::time::Instant::now();
/// goro::spawn(|| goro::sleep(std::time::Duration::from_millis(5))).join().unwrap();
/// assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// ```
#[track_caller]
pub fn sleep(d: Duration) {
    let now = Instant::now();
    let deadline = alarm::later(now, d);
    if now < deadline
        && !crate::park::park_from(now, deadline, crate::park::WaitReason::Sleep.here())
    {
        sleep_until(deadline);
    }
}

/// Pauses the current goroutine until `deadline` (returns at once if it has
/// passed).
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(5);
/// goro::time::sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    let why = crate::park::WaitReason::Sleep.here();
    while !crate::park::park_until(deadline, why) {}
}
