//! Futures inside goroutines: [`block_on`], and [`JoinHandle`] as a
//! [`Future`].
//!
//! # Design
//! [`block_on`] polls the future on the caller's own stack. Its [`Waker`]
//! is an `Arc<Signal>`: a state word and the [`Unparker`] of the caller
//! (the goroutine, or the plain thread). The state is `POLLING` while the
//! caller polls, `WAITING` once it has seen `Pending` and is about to park,
//! and `WOKEN` after a wake. A wake swaps in `WOKEN` and unparks the caller
//! only if the state was `WAITING`: so however often, and from however
//! many threads, a future wakes its task, the caller is unparked at most
//! once per park, a wake during the poll (a future that wakes itself, say)
//! unparks nobody, and the repeated wakes cost one atomic swap each.
//!
//! No wake is lost: after a `Pending` poll the caller moves `POLLING` to
//! `WAITING` with a CAS, which fails if a wake came during the poll (then
//! it polls again at once). Once `WAITING`, the wake that swaps it out
//! unparks the caller, and the park protocol (see `park`) keeps an unpark
//! that comes before the park as a token, so the park then returns at
//! once. A park that returns for another reason (a stale token) finds the
//! state still `WAITING` and parks again.
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
//! - The `POLLING` store before a poll (`Relaxed`): the future publishes
//!   its registration of the waker with its own synchronisation (a lock, a
//!   `Release` store), which the waking side acquires before it calls
//!   `wake`; that orders the store before the waker's swap.
//! - The waker's swap and the caller's CAS (`AcqRel`), and the caller's
//!   load in its park loop (`Acquire`): what the waking side wrote before
//!   waking is seen by the next poll; the unpark carries its own ordering
//!   for the park.

use crate::goroutine::JoinHandle;
use crate::park::{self, Unparker, WaitReason};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// `Signal::state`: the caller polls; it saw `Pending` and parks; a wake
/// came.
const POLLING: u8 = 0;
const WAITING: u8 = 1;
const WOKEN: u8 = 2;

/// The state behind [`block_on`]'s waker.
struct Signal {
    state: AtomicU8,
    /// Who to unpark: the goroutine or thread in `block_on`.
    who: Unparker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.swap(WOKEN, Ordering::AcqRel) == WAITING {
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
#[track_caller]
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let why = WaitReason::Select.here();
    let mut fut = pin!(fut);
    let signal = Arc::new(Signal {
        state: AtomicU8::new(POLLING),
        who: Unparker::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        signal.state.store(POLLING, Ordering::Relaxed);
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return output;
        }
        if signal
            .state
            .compare_exchange(POLLING, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue; // woken during the poll
        }
        // `dump` shows the goroutine as in a select: waiting for whatever
        // the future waits for.
        while signal.state.load(Ordering::Acquire) == WAITING {
            park::park(why);
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
