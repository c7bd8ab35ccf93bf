//! Futures inside goroutines: [`block_on`], and [`JoinHandle`] as a
//! [`Future`].
//!
//! # Design
//! [`block_on`] polls the future on the caller's own stack. Its [`Waker`]
//! is an `Arc<Signal>`: an `armed` flag and the [`Unparker`] of the caller
//! (the goroutine, or the plain thread). Before each poll the caller arms
//! the flag; a wake swaps it to false and, only if it was true, unparks
//! the caller. So however often, and from however many threads, a future
//! wakes its task, the caller is unparked at most once per poll, and the
//! repeated wakes cost one atomic swap each. After a `Pending` poll the
//! caller parks until the flag is down, and then polls again.
//!
//! No wake is lost: a wake that lands during the poll, before the caller
//! parks, finds the flag armed and unparks; the park protocol (see `park`)
//! keeps an unpark that comes before the park as a token, and the park
//! then returns at once. A park that returns for another reason (a stale
//! token) finds the flag still armed and parks again.
//!
//! Nothing thread-bound is held across the park: the waker and the future
//! live on the caller's stack, which is the goroutine's, and the code does
//! not depend on which thread the goroutine resumes on.
//!
//! [`JoinHandle`]'s `Future` impl records the waker as the goroutine's
//! joiner (`goroutine::JoinHandle::poll_join`); a later poll takes the
//! joiner slot back before replacing it, so the waker may change between
//! polls.
//!
//! # Orderings
//! - `armed` store before a poll (`Relaxed`): the future publishes its
//!   registration of the waker with its own synchronisation (a lock, a
//!   `Release` store), which the waking side acquires before it calls
//!   `wake`; that orders the store before the waker's swap.
//! - The waker's swap (`AcqRel`) and the caller's load (`Acquire`): what
//!   the waking side wrote before waking is seen by the next poll; the
//!   unpark that follows carries its own ordering for the park.

use crate::goroutine::JoinHandle;
use crate::park::{self, Unparker, WaitReason};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The state behind [`block_on`]'s waker.
struct Signal {
    /// Set before each poll; the first wake after it takes it down.
    armed: AtomicBool,
    /// Who to unpark: the goroutine or thread in `block_on`.
    who: Unparker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.armed.swap(false, Ordering::AcqRel) {
            self.who.clone().unpark();
        }
    }
}

/// Runs `fut` to completion on the calling goroutine and returns its
/// output. While the future is pending the goroutine parks (its worker
/// thread runs other goroutines), and the future's waker readies it, from
/// any thread. From a plain thread, blocks the thread.
///
/// Futures built on goro's own primitives (`Receiver::recv_async`,
/// [`time::sleep_async`](crate::time::sleep_async), a [`JoinHandle`],
/// `goro::net`'s readiness futures) need no reactor; a future that needs
/// tokio's reactor belongs in `goro::tokio::block_on` (feature `tokio`).
///
/// ```
/// let (tx, rx) = goro::chan::bounded::<u32>(0);
/// let h = goro::go!(move || goro::block_on(async { rx.recv_async().await.unwrap() + 1 }));
/// tx.send(41).unwrap();
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let signal = Arc::new(Signal {
        armed: AtomicBool::new(true),
        who: Unparker::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        signal.armed.store(true, Ordering::Relaxed);
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            // A late wake of this waker then unparks nobody.
            signal.armed.store(false, Ordering::Relaxed);
            return output;
        }
        while signal.armed.load(Ordering::Acquire) {
            park::park(WaitReason::Select);
        }
    }
}

/// Waits for the goroutine to finish, as [`JoinHandle::join`] does, without
/// blocking: the output is the goroutine's result, or the payload of its
/// panic. Dropping the future (or the handle) detaches the goroutine.
///
/// # Panics
/// If polled again after it returned `Ready`.
///
/// ```
/// let h = goro::spawn(|| 6 * 7);
/// let v = goro::block_on(async { h.await.unwrap() });
/// assert_eq!(v, 42);
/// ```
impl<T: 'static> Future for JoinHandle<T> {
    type Output = std::thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut().poll_join(cx.waker()) {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}
