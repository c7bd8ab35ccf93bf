//! [`Timer`] and [`after_func`]: Go's `time.Timer`, `NewTimer` and
//! `AfterFunc`, with Go 1.23 semantics. Both are an `Alarm` (see `alarm`)
//! that fires once.

use super::alarm::{later, Alarm};
use crate::chan::Receiver;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A single event in the future, as Go's `time.Timer`: when it fires, the
/// current time is sent on its [`receiver`](Timer::receiver) (or, made by
/// [`after_func`], a function runs in its own goroutine). It costs an entry
/// in a runtime timer heap and no thread.
///
/// As in Go 1.23, after [`stop`](Timer::stop) or [`reset`](Timer::reset)
/// returns, no value from before the call is received: there is no need to
/// drain the channel. The channel holds at most one value and is never
/// closed. Every method takes `&self`: a timer may be shared and stopped
/// from any goroutine.
///
/// Dropping a `Timer` does not stop it (a function timer still runs; a
/// channel timer still sends, to whoever kept a clone of its receiver).
///
/// ```
/// use goro::select;
/// use goro::time::Timer;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let timer = Timer::new(Duration::from_millis(10));
/// let fired = timer.receiver().recv().unwrap();
/// assert!(fired >= start + Duration::from_millis(10));
///
/// // A timeout for a select that may be called off.
/// let (_tx, rx) = goro::chan::bounded::<i32>(0);
/// let timeout = Timer::new(Duration::from_secs(3600));
/// select! {
///     recv(rx) -> _ => unreachable!(),
///     default => assert!(timeout.stop()),
/// }
/// ```
pub struct Timer {
    alarm: Alarm,
}

impl Timer {
    /// A timer that sends the current time on its receiver after at least
    /// `d` (Go's `time.NewTimer`).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// let t = goro::time::Timer::new(Duration::from_millis(5));
    /// assert!(t.receiver().recv().unwrap() >= start + Duration::from_millis(5));
    /// ```
    pub fn new(d: Duration) -> Timer {
        Timer::at(later(Instant::now(), d))
    }

    /// A timer that fires at `deadline` (at once if it has passed).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// let t = goro::time::Timer::at(deadline);
    /// assert!(t.receiver().recv().unwrap() >= deadline);
    /// ```
    pub fn at(deadline: Instant) -> Timer {
        Timer {
            alarm: Alarm::channel(deadline, None),
        }
    }

    /// The channel the fire time is sent on (Go's `t.C`). Use it in a
    /// [`select!`](crate::select) or clone it. For a timer made by
    /// [`after_func`] nothing is ever sent on it (Go's `C` is nil there).
    ///
    /// ```
    /// use goro::time::Timer;
    /// use std::time::Duration;
    /// let t = Timer::new(Duration::from_millis(1));
    /// goro::select! {
    ///     recv(t.receiver()) -> at => assert!(at.is_ok()),
    /// }
    /// ```
    pub fn receiver(&self) -> &Receiver<Instant> {
        self.alarm.receiver()
    }

    /// Stops the timer (Go's `Stop`). Returns true if that prevented a
    /// firing: the timer had not fired, or its value had not been received
    /// yet (it is discarded). False if it was already received or the timer
    /// was stopped. For an [`after_func`] timer, true means the function
    /// will not be run for this arming.
    ///
    /// ```
    /// use goro::time::Timer;
    /// use std::time::Duration;
    /// let t = Timer::new(Duration::from_secs(3600));
    /// assert!(t.stop());
    /// assert!(!t.stop());
    /// assert!(t.receiver().try_recv().is_err());
    /// ```
    pub fn stop(&self) -> bool {
        self.alarm.stop()
    }

    /// Stops the timer and arms it again to fire after `d` (Go's `Reset`);
    /// returns what [`stop`](Timer::stop) would have. A value from before
    /// the reset is never received after it. Works on a fired or stopped
    /// timer too; an [`after_func`] timer runs its function again.
    ///
    /// ```
    /// use goro::time::Timer;
    /// use std::time::{Duration, Instant};
    /// let t = Timer::new(Duration::from_secs(3600));
    /// let start = Instant::now();
    /// assert!(t.reset(Duration::from_millis(5)));
    /// assert!(t.receiver().recv().unwrap() >= start + Duration::from_millis(5));
    /// ```
    pub fn reset(&self, d: Duration) -> bool {
        self.reset_at(later(Instant::now(), d))
    }

    /// As [`reset`](Timer::reset), to fire at `deadline`.
    ///
    /// ```
    /// use goro::time::Timer;
    /// use std::time::{Duration, Instant};
    /// let t = Timer::new(Duration::from_secs(3600));
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// t.reset_at(deadline);
    /// assert!(t.receiver().recv().unwrap() >= deadline);
    /// ```
    pub fn reset_at(&self, deadline: Instant) -> bool {
        self.alarm.reset(deadline, None)
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Timer { .. }")
    }
}

/// Runs `f` in its own goroutine after at least `d` (Go's `time.AfterFunc`).
/// The returned timer's [`stop`](Timer::stop) cancels the call if it has not
/// started; [`reset`](Timer::reset) schedules it again (so `f` is `Fn`, not
/// `FnOnce`). Its receiver never delivers. No goroutine or thread exists
/// until the deadline; dropping the timer does not cancel the call.
///
/// ```
/// use std::time::Duration;
///
/// let (tx, rx) = goro::chan::bounded(1);
/// goro::time::after_func(Duration::from_millis(5), move || {
///     tx.try_send("ran").unwrap();
/// });
/// assert_eq!(rx.recv(), Ok("ran"));
///
/// let never = goro::time::after_func(Duration::from_secs(3600), || unreachable!());
/// assert!(never.stop());
/// ```
pub fn after_func<F>(d: Duration, f: F) -> Timer
where
    F: Fn() + Send + Sync + 'static,
{
    Timer {
        alarm: Alarm::spawn(later(Instant::now(), d), Arc::new(f)),
    }
}
