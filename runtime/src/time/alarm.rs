//! The engine under [`Timer`](super::Timer), [`Ticker`](super::Ticker) and
//! [`after_func`](super::after_func): a stoppable, resettable runtime timer
//! that delivers to a channel or starts a goroutine.
//!
//! # Design
//! An [`Alarm`] owns one runtime timer (`crate::timers::Callback::call_at`: a
//! heap entry on a worker, no thread) at a time. Its state sits behind a
//! short-held `std::sync::Mutex` (the fire callback runs on a worker's
//! scheduler stack, where a goroutine lock that parks is not allowed; the
//! lock is never held across anything that blocks):
//! - `seq` counts arm/stop generations. A callback carries the generation
//!   that armed it and does nothing if it no longer matches, so a callback
//!   that already left the heap when `stop` ran (the runtime's `cancel`
//!   came too late) still cannot deliver.
//! - `timer` is the pending runtime timer; the callback clears it (or, for
//!   a ticker, replaces it with the next tick's) when it delivers. So
//!   "`timer` is set" means "armed and not delivered yet".
//!
//! Go 1.23 semantics: a channel alarm only ever sends under the lock (a
//! `try_send` into a one-slot channel, so the callback never blocks), and
//! `stop`/`reset` drain that slot under the same lock. After either returns,
//! no value from before it can be received: it was either already taken by
//! a receiver, or drained, or its callback will find a newer `seq`.
//! `stop` reports whether it prevented a delivery: the alarm was armed, or
//! its value was still in the slot (Go's Stop does the same).
//!
//! The channel counts a sender with no handle behind it (as `chan::after`
//! does), so it never closes: once every handle is gone, a receiver blocks
//! rather than failing, as on Go's timer channels. A ticker stops re-arming
//! once its channel has no receiver left (the `Ticker` and every clone of
//! its receiver are gone), so a dropped ticker costs nothing after its next
//! tick. A one-shot alarm whose handle is dropped simply fires into the
//! void; while armed, the callback and the alarm keep each other alive (a
//! cycle broken by firing or cancelling, never longer than the deadline).
//!
//! # Orderings
//! None of its own: the mutex orders every state change, and the channel's
//! lock orders delivery against the drain.

use crate::chan::{self, Receiver, Sender, TrySendError};
use crate::timers::Callback;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A one-shot or periodic timer that delivers to a channel or calls back.
pub(super) struct Alarm {
    shared: Arc<Shared>,
    /// The channel's receiving end (a `never` channel for a callback), kept
    /// to drain stale values and to lend to the user.
    rx: Receiver<Instant>,
}

struct Shared {
    target: Target,
    armed: Mutex<Armed>,
}

/// What a firing does.
enum Target {
    /// Offer the current time on a one-slot channel.
    Send(Sender<Instant>),
    /// Run the function in a new goroutine.
    Spawn(Arc<dyn Fn() + Send + Sync>),
}

struct Armed {
    /// Generation; a callback from an older one does nothing.
    seq: u64,
    /// The pending runtime timer: set while armed and not delivered.
    timer: Option<Callback>,
    /// Re-arm this long after each firing (a ticker).
    period: Option<Duration>,
}

impl Alarm {
    /// An alarm that sends the time on a one-slot channel, armed for `at`.
    pub(super) fn channel(at: Instant, period: Option<Duration>) -> Alarm {
        let (tx, rx) = open_channel(1);
        Alarm::armed(Target::Send(tx), rx, at, period)
    }

    /// An alarm that runs `f` in its own goroutine at `at`.
    pub(super) fn spawn(at: Instant, f: Arc<dyn Fn() + Send + Sync>) -> Alarm {
        Alarm::armed(Target::Spawn(f), chan::never(), at, None)
    }

    fn armed(
        target: Target,
        rx: Receiver<Instant>,
        at: Instant,
        period: Option<Duration>,
    ) -> Alarm {
        let shared = Arc::new(Shared {
            target,
            armed: Mutex::new(Armed {
                seq: 0,
                timer: None,
                period,
            }),
        });
        arm(&shared, &mut shared.lock(), at);
        Alarm { shared, rx }
    }

    /// The channel the alarm delivers to.
    pub(super) fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Disarms; true if that prevented a delivery (see the module note).
    pub(super) fn stop(&self) -> bool {
        self.disarm(&mut self.shared.lock())
    }

    /// Disarms, then arms for `at` with `period`; returns what `stop` would.
    pub(super) fn reset(&self, at: Instant, period: Option<Duration>) -> bool {
        let mut armed = self.shared.lock();
        let pending = self.disarm(&mut armed);
        armed.period = period;
        arm(&self.shared, &mut armed, at);
        pending
    }

    fn disarm(&self, armed: &mut Armed) -> bool {
        armed.seq += 1;
        let pending = armed.timer.take().is_some_and(|t| {
            t.cancel();
            true
        });
        let drained = self.rx.try_recv().is_ok();
        pending || drained
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Schedules the firing of generation `armed.seq` at `at`.
fn arm(shared: &Arc<Shared>, armed: &mut Armed, at: Instant) {
    let (me, seq) = (shared.clone(), armed.seq);
    armed.timer = Some(Callback::call_at(at, move || fire(&me, seq, at)));
}

/// The runtime timer's callback, on a worker's scheduler stack: delivers
/// and, for a ticker that still has receivers, schedules the next tick.
fn fire(shared: &Arc<Shared>, seq: u64, at: Instant) {
    let mut armed = shared.lock();
    if armed.seq != seq {
        return;
    }
    armed.timer = None;
    let spawn = match &shared.target {
        Target::Send(tx) => {
            if let Err(TrySendError::Disconnected(_)) = tx.try_send(Instant::now()) {
                return;
            }
            None
        }
        Target::Spawn(f) => Some(f.clone()),
    };
    if let Some(period) = armed.period {
        arm(shared, &mut armed, next_tick(at, period, Instant::now()));
    }
    drop(armed);
    if let Some(f) = spawn {
        crate::spawn(move || f());
    }
}

/// The first instant of the schedule `at + k * period` (k >= 1) after `now`:
/// ticks missed by a late firing are skipped, the phase is kept.
fn next_tick(at: Instant, period: Duration, now: Instant) -> Instant {
    crate::chan::next_tick(at, period, now).unwrap_or_else(|| later(now, period))
}

/// `now + d`, or a century from now if that is not representable: a
/// deadline nobody lives to see, which the runtime timers can hold.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d.min(CENTURY))
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

/// A channel of capacity `cap` that stays open when its [`Sender`]s are
/// dropped: it counts one more sender with no handle behind it, as the
/// `chan` module's timer channels do. Only [`Sender::close`] closes it.
/// Timer channels and contexts' done channels are made so, because in Go
/// nothing but an explicit close ever ends a receive.
pub(crate) fn open_channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = chan::bounded(cap);
    rx.channel().add_sender();
    (tx, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tick_keeps_the_phase_and_skips_missed_ticks() {
        let at = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(next_tick(at, ms(10), at), at + ms(10));
        assert_eq!(next_tick(at, ms(10), at + ms(3)), at + ms(10));
        assert_eq!(next_tick(at, ms(10), at + ms(10)), at + ms(20));
        assert_eq!(next_tick(at, ms(10), at + ms(35)), at + ms(40));
    }

    #[test]
    fn later_saturates() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(3600 * 24 * 365));
    }

    #[test]
    fn an_open_channel_outlives_its_senders() {
        let (tx, rx) = open_channel::<i32>(1);
        drop(tx);
        assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
    }
}
