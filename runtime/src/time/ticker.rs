//! [`Ticker`]: Go's `time.Ticker`, with Go 1.23 semantics. An `Alarm` (see
//! `alarm`) that re-arms itself one period after each scheduled tick.

use super::alarm::{later, Alarm};
use crate::chan::Receiver;
use std::fmt;
use std::time::{Duration, Instant};

/// Delivers the current time on its [`receiver`](Ticker::receiver) every
/// period, as Go's `time.Ticker`.
///
/// The channel holds one tick: a receiver that falls behind misses ticks
/// rather than queueing them, and the schedule keeps its phase (tick `k` is
/// due at `start + k * period`; late ones are skipped). After
/// [`stop`](Ticker::stop) or [`reset`](Ticker::reset), no tick from before
/// the call is received. The channel is never closed. It costs one runtime
/// timer and no thread. Once the ticker and every clone of its receiver are
/// dropped, it stops at its next tick.
///
/// ```
/// use goro::time::Ticker;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let ticker = Ticker::new(Duration::from_millis(2));
/// let mut last = start;
/// for _ in 0..3 {
///     let tick = ticker.receiver().recv().unwrap();
///     assert!(tick > last);
///     last = tick;
/// }
/// ticker.stop();
/// assert!(last >= start + Duration::from_millis(6));
/// ```
pub struct Ticker {
    alarm: Alarm,
}

impl Ticker {
    /// A ticker whose first tick comes after `period` (Go's
    /// `time.NewTicker`).
    ///
    /// # Panics
    /// If `period` is zero (Go: "non-positive interval for NewTicker").
    ///
    /// ```
    /// use std::time::Duration;
    /// let ticker = goro::time::Ticker::new(Duration::from_millis(1));
    /// ticker.receiver().recv().unwrap();
    /// ```
    pub fn new(period: Duration) -> Ticker {
        let first = later(Instant::now(), checked(period));
        Ticker {
            alarm: Alarm::channel(first, Some(period)),
        }
    }

    /// The channel the ticks are sent on (Go's `t.C`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let ticker = goro::time::Ticker::new(Duration::from_millis(1));
    /// goro::select! {
    ///     recv(ticker.receiver()) -> tick => assert!(tick.is_ok()),
    /// }
    /// ```
    pub fn receiver(&self) -> &Receiver<Instant> {
        self.alarm.receiver()
    }

    /// Stops the ticker: no tick is received after this returns, including
    /// one sent before it and not yet received (Go 1.23). The channel stays
    /// open; [`reset`](Ticker::reset) starts the ticker again.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ticker = goro::time::Ticker::new(Duration::from_millis(1));
    /// ticker.receiver().recv().unwrap();
    /// ticker.stop();
    /// assert!(ticker.receiver().recv_timeout(Duration::from_millis(5)).is_err());
    /// ```
    pub fn stop(&self) {
        self.alarm.stop();
    }

    /// Stops the ticker and restarts it with `period`: the next tick comes
    /// `period` from now (Go's `Reset`).
    ///
    /// # Panics
    /// If `period` is zero.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let ticker = goro::time::Ticker::new(Duration::from_secs(3600));
    /// let start = Instant::now();
    /// ticker.reset(Duration::from_millis(2));
    /// assert!(ticker.receiver().recv().unwrap() >= start + Duration::from_millis(2));
    /// ```
    pub fn reset(&self, period: Duration) {
        let first = later(Instant::now(), checked(period));
        self.alarm.reset(first, Some(period));
    }
}

fn checked(period: Duration) -> Duration {
    assert!(!period.is_zero(), "goro::time::Ticker: zero period");
    period
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Ticker { .. }")
    }
}
