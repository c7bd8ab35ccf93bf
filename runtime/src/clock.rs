//! The runtime's clocks: nanoseconds since a process-wide epoch, as one
//! `u64` (timer deadlines, the netpoller's last poll), and a coarse copy
//! of it that the workers refresh as they schedule (`tick_clock`), so that
//! stamping a park costs one relaxed load instead of a clock read. The
//! coarse clock is good to a few milliseconds; relaxed, since it is only
//! ever a hint for `dump`'s "waiting for".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// No deadline.
pub(crate) const NEVER: u64 = u64::MAX;

/// The instant timer deadlines count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `t` as nanoseconds since [`epoch`] (0 for instants before it).
pub(crate) fn to_nanos(t: Instant) -> u64 {
    let since = t.saturating_duration_since(epoch());
    since
        .as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(since.subsec_nanos())))
        .map_or(NEVER - 1, |n| n.min(NEVER - 1))
}

/// Now, in nanoseconds since [`epoch`].
pub(crate) fn now_nanos() -> u64 {
    to_nanos(Instant::now())
}

/// How long from now until `when` (zero if past).
pub(crate) fn until(when: u64) -> Duration {
    Duration::from_nanos(when.saturating_sub(now_nanos()))
}

/// A coarse clock (nanoseconds since the timer epoch), refreshed by the
/// workers as they schedule; good to a few milliseconds.
static COARSE_NOW: AtomicU64 = AtomicU64::new(0);

/// Refreshes the coarse clock; returns the precise time.
pub(crate) fn tick_clock() -> u64 {
    let now = now_nanos();
    COARSE_NOW.store(now, Ordering::Relaxed);
    now
}

/// The coarse time, for stamping parks.
#[inline]
pub(crate) fn coarse_now() -> u64 {
    COARSE_NOW.load(Ordering::Relaxed)
}
