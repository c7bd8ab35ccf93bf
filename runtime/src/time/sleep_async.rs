//! [`sleep_async`]: a future that is ready after a duration, on the
//! runtime's timers (no reactor, no thread).
//!
//! # Design
//! The first poll that finds the deadline ahead arms one runtime timer (a
//! heap entry, as every goro timer) whose callback marks the shared state
//! fired and wakes the waker last registered. Each poll stores its waker
//! (when it would not wake the same task as the stored one) under a
//! `std::sync::Mutex`, then looks at the flag: the callback sets the flag
//! before it takes the waker under the same lock, so either the poll sees
//! the flag, or the callback sees the poll's waker; no wake is lost.
//! Dropping the future cancels its timer.
//!
//! The mutex is held for a store or a take, never across a wake or a
//! wait, and the timer callback, which runs on a worker's scheduler stack,
//! never parks on it for long.
//!
//! # Orderings
//! `fired`: `Release` store in the callback, `Acquire` load in `poll`,
//! though the mutex both take already orders them; the flag only spares a
//! poll after the fire the lock.

use crate::timers::Callback;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// What the timer callback shares with the future.
struct Shared {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// The future of [`sleep_async`] and [`sleep_until_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SleepFuture {
    deadline: Instant,
    armed: Option<(Arc<Shared>, Callback)>,
}

/// A future that is ready once `d` has passed, as [`sleep`](super::sleep)
/// but for async code: a goroutine's [`block_on`](crate::block_on), or a
/// task of another executor. It runs on goro's timers, so it needs no
/// reactor.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// goro::block_on(goro::time::sleep_async(Duration::from_millis(5)));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
pub fn sleep_async(d: Duration) -> SleepFuture {
    let now = Instant::now();
    sleep_until_async(super::alarm::later(now, d))
}

/// A future that is ready once `deadline` has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(5);
/// goro::block_on(goro::time::sleep_until_async(deadline));
/// assert!(Instant::now() >= deadline);
/// ```
pub fn sleep_until_async(deadline: Instant) -> SleepFuture {
    SleepFuture {
        deadline,
        armed: None,
    }
}

impl SleepFuture {
    /// When it is ready.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for SleepFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = match &this.armed {
            Some((shared, _)) => shared.clone(),
            None => {
                if Instant::now() >= this.deadline {
                    return Poll::Ready(());
                }
                let shared = Arc::new(Shared {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                let fire = shared.clone();
                let timer =
                    Callback::call_at_nanos(crate::clock::to_nanos(this.deadline), move || {
                        fire.fired.store(true, Ordering::Release);
                        let waker = fire.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    });
                this.armed = Some((shared, timer));
                return Poll::Pending;
            }
        };
        if shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let old = {
            let mut slot = shared.waker.lock().unwrap_or_else(|p| p.into_inner());
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => None,
                _ => slot.replace(cx.waker().clone()),
            }
        };
        drop(old);
        if shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for SleepFuture {
    fn drop(&mut self) {
        if let Some((_, timer)) = &self.armed {
            timer.cancel();
        }
    }
}

impl fmt::Debug for SleepFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SleepFuture")
            .field("deadline", &self.deadline)
            .finish()
    }
}
