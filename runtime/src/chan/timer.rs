//! Callback channels: [`after`], [`tick`] and [`never`](fn@never).
//!
//! # Design
//! Each is an ordinary channel whose sender count starts at one with no
//! [`Sender`](super::Sender) handle behind it (a *phantom sender*), so it is
//! never closed: as in Go and crossbeam, a receive after the last message
//! blocks rather than failing. `after` and `tick` feed their channel from
//! a runtime timer callback (`Callback::call_at`), which costs a heap entry and
//! no thread; the callback only ever `try_send`s, so it never blocks the
//! worker that runs it. A tick channel holds one message: ticks a slow
//! receiver misses are dropped (Go's `Ticker`), and the next tick stays on
//! the original schedule. The tick timer stops re-arming once every
//! receiver is gone.
//!
//! # Orderings
//! None of its own: the channel's lock orders the messages, and the
//! receiver count is read `Relaxed` (a stale read costs one more tick).

use super::channel::Channel;
use super::op::{run_one, Op};
use super::waiter::Deadline;
use super::Receiver;
use crate::timers::Callback;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A channel that never delivers and never closes: a receive blocks
/// forever, and in a select the case is never ready (Go's nil channel).
///
/// ```
/// use goro::{chan, select};
/// use std::time::Duration;
///
/// let r = chan::never::<i32>();
/// select! {
///     recv(r) -> _ => unreachable!(),
///     default(Duration::from_millis(5)) => {}
/// }
/// ```
pub fn never<T>() -> Receiver<T> {
    Receiver::from_arc(Arc::new(Channel::new(0, 1)))
}

/// A channel that delivers the current time once, after `duration` (Go's
/// `time.After`). It is never closed; it holds no thread while waiting.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let fired = goro::chan::after(Duration::from_millis(10)).recv().unwrap();
/// assert!(fired >= start + Duration::from_millis(10));
/// ```
pub fn after(duration: Duration) -> Receiver<Instant> {
    let chan = Arc::new(Channel::new(1, 1));
    if let Some(at) = Instant::now().checked_add(duration) {
        let feed = chan.clone();
        Callback::call_at(at, move || offer(&feed));
    }
    Receiver::from_arc(chan)
}

/// A channel that delivers the current time every `period` (Go's
/// `time.Tick`). It holds one message: ticks a slow receiver misses are
/// dropped. The timer stops once every receiver is gone.
///
/// # Panics
/// If `period` is zero.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let ticks = goro::chan::tick(Duration::from_millis(5));
/// for _ in 0..3 {
///     ticks.recv().unwrap();
/// }
/// assert!(start.elapsed() >= Duration::from_millis(15));
/// ```
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(!period.is_zero(), "goro::chan::tick: zero period");
    let chan = Arc::new(Channel::new(1, 1));
    if let Some(first) = Instant::now().checked_add(period) {
        arm_tick(chan.clone(), first, period);
    }
    Receiver::from_arc(chan)
}

/// Schedules the tick due at `at` and, when it fires, the next one.
fn arm_tick(chan: Arc<Channel<Instant>>, at: Instant, period: Duration) {
    Callback::call_at(at, move || {
        if !chan.has_receivers() {
            return;
        }
        offer(&chan);
        if let Some(next) = next_tick(at, period, Instant::now()) {
            arm_tick(chan, next, period);
        }
    });
}

/// The first tick of the schedule `at + k * period` that is after `now`.
pub(crate) fn next_tick(at: Instant, period: Duration, now: Instant) -> Option<Instant> {
    let late = now.saturating_duration_since(at).as_nanos();
    let periods = u32::try_from(late / period.as_nanos() + 1).ok()?;
    at.checked_add(period.checked_mul(periods)?)
}

/// Sends the current time if there is room; never blocks.
fn offer(chan: &Channel<Instant>) {
    let op = Op::send(chan, Instant::now());
    run_one(&op, Deadline::Now);
}
