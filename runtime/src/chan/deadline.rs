//! Timer channels: [`after`], [`at`], [`tick`] and [`never`](fn@never).
//!
//! # Design
//! Each is an ordinary channel whose sender count starts at one with no
//! [`Sender`](super::Sender) handle behind it (a *phantom sender*), so it is
//! never closed: as in Go and crossbeam, a receive after the last message
//! blocks rather than failing. A timer channel knows its deadline (a
//! `Feed` in the channel state, see `channel`): whoever polls it under its
//! lock at or after the due instant takes the message, so an expired timer
//! is ready to `try_recv`, to a `select!` with `default`, and to a blocking
//! select at once, as crossbeam's `at` and `tick` flavours and Go's timers
//! (since Go 1.23) are. Nothing runs in the background: a receiver that
//! must wait bounds its park by the due instant and polls again then
//! (`op`), so a timer nobody waits on costs nothing.
//!
//! The message is the instant the timer was due (crossbeam's choice; Go
//! sends the time it fired). A tick channel holds one message: once a tick
//! is taken the next falls due one period after the later of the taken
//! tick's due time and the moment it was taken, so ticks a slow receiver
//! misses are dropped.

use super::channel::{Channel, Feed};
use super::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A channel that never delivers and never closes: a receive blocks
/// forever, and in a select the case is never ready (Go's nil channel).
/// All of them are the same channel for
/// [`same_channel`](Receiver::same_channel), as all nil channels are equal.
///
/// ```
/// use goro::{chan, select};
/// use std::time::Duration;
///
/// let r = chan::never::<i32>();
/// assert!(r.same_channel(&chan::never()));
/// select! {
///     recv(r) -> _ => unreachable!(),
///     default(Duration::from_millis(5)) => {}
/// }
/// ```
pub fn never<T>() -> Receiver<T> {
    Receiver::from_arc(Arc::new(Channel::with_feed(0, 1, None, true)))
}

/// A channel that delivers one message after `duration`: the instant it
/// was due (Go's `time.After`). It is never closed.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let fired = goro::chan::after(Duration::from_millis(10)).recv().unwrap();
/// assert!(fired >= start + Duration::from_millis(10));
///
/// // An expired timer is ready at once.
/// assert!(goro::chan::after(Duration::ZERO).try_recv().is_ok());
/// ```
pub fn after(duration: Duration) -> Receiver<Instant> {
    match Instant::now().checked_add(duration) {
        Some(when) => at(when),
        None => never(),
    }
}

/// A channel that delivers one message at `when`: that instant. It is
/// never closed.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let when = Instant::now() + Duration::from_millis(10);
/// assert_eq!(goro::chan::at(when).recv(), Ok(when));
/// ```
pub fn at(when: Instant) -> Receiver<Instant> {
    timer(when, None)
}

/// A channel that delivers a message every `period`: the instant each
/// tick was due (Go's `time.Tick`). It holds one message: ticks a slow
/// receiver misses are dropped, and the next tick falls due one period
/// after the one it takes. A zero period makes a tick ready whenever it
/// is polled. (Go's [`time::Ticker`](crate::time::Ticker) keeps a fixed
/// schedule and rejects a zero period.)
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
    match Instant::now().checked_add(period) {
        Some(first) => timer(first, Some(period)),
        None => never(),
    }
}

/// A timer channel: never closed, fed at `due` (and every `period`).
fn timer(due: Instant, period: Option<Duration>) -> Receiver<Instant> {
    let feed = Feed::new(due, period, std::convert::identity);
    Receiver::from_arc(Arc::new(Channel::with_feed(1, 1, Some(feed), false)))
}

/// The first tick of the schedule `at + k * period` that is after `now`.
pub(crate) fn next_tick(at: Instant, period: Duration, now: Instant) -> Option<Instant> {
    let late = now.saturating_duration_since(at).as_nanos();
    let periods = u32::try_from(late / period.as_nanos() + 1).ok()?;
    at.checked_add(period.checked_mul(periods)?)
}
