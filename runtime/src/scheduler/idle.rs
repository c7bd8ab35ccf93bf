//! A worker with nothing to run.
//!
//! It joins the idle list and looks once more (a producer pushes, then
//! looks at the idle count: a Dekker pair, `SeqCst` on both sides, so one
//! of them sees the other), then sleeps: in its network poller once the
//! netpoller exists (else on its thread parker), until the earliest timer
//! if it watches timers. It leaves when a waker hands it work (the `wake` flag),
//! when goroutines pinned to it arrive in its inbox, or when its token is in
//! doubt. Without a token it gives its stealable goroutines to the global
//! queue and waits in the pool, asking for a token while goroutines pinned
//! to it wait; a pooled thread with no pinned goroutine alive exits after
//! [`POOL_IDLE`].
//!
//! Here too: each slot's network poller, made on first need (at most
//! [`poller_limit`]), orphaned into the shared one while the slot's thread
//! has no token and adopted back when it has one (see `netpoll`).

use super::worker::{current_worker_index, Shared, Worker};
use crate::clock::NEVER;
use crate::netpoll::Poller;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

/// How long a thread without a token waits for one before it exits.
const POOL_IDLE: Duration = Duration::from_secs(10);

/// How long a worker idles before it releases its cached stacks' deep pages.
const TRIM_DELAY: Duration = Duration::from_millis(10);

impl Worker {
    /// No work found: sleep until woken or the next timer is due.
    pub(super) fn idle(&self) {
        if self.searching.replace(false) {
            self.rt.searching.fetch_sub(1, Ordering::SeqCst);
            // A producer may have skipped waking anyone because it saw us
            // searching: look once more.
            if self.has_work() {
                return;
            }
        }
        if self.rt.token_wanted() && self.rt.pass_token(self.shared) {
            // A pooled worker has pinned goroutines to run: our turn ends.
            return;
        }
        self.rt.idle.push(self.index);
        self.shared.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !(self.has_work() && self.leave_idle_list()) {
            if self.rt.all_idle() {
                crate::inspect::check_deadlock(self.rt);
            }
            self.sleep();
        }
        self.shared.asleep.store(false, Ordering::Relaxed);
    }

    /// Whether work waits that this worker may run: its own pinned
    /// goroutines, or goroutines anyone may run.
    fn has_work(&self) -> bool {
        self.has_pinned_work() || self.rt.has_visible_work()
    }

    /// Whether something other than a waker's hand-off calls a sleeping
    /// worker back to its loop: its token is in doubt or wanted, or
    /// goroutines pinned to it wait.
    fn called_away(&self) -> bool {
        self.token_in_doubt() || self.rt.token_wanted() || self.has_pinned_work()
    }

    /// Takes this worker off the idle list; false if a waker already did
    /// (then a wake is on its way and we are counted as searching).
    pub(super) fn leave_idle_list(&self) -> bool {
        let left = self.rt.idle.remove(self.index);
        if left {
            self.rt.wake_sysmon();
        }
        left
    }

    /// Whether a sleeping worker must go back to its loop to give up its
    /// token: the monitor revoked it, or GOMAXPROCS shrank.
    pub(super) fn token_in_doubt(&self) -> bool {
        self.shared.revoked.load(Ordering::Relaxed)
            || self.rt.holders.load(Ordering::Relaxed) > self.rt.nprocs.load(Ordering::Relaxed)
    }

    /// Blocks the thread until a waker sets our flag. Meanwhile: if we are
    /// the timer watcher, fire timers when due; after [`TRIM_DELAY`] idle,
    /// release the deep pages of our cached stacks.
    pub(super) fn sleep(&self) {
        let shared = self.shared();
        let mut trim_at = Some(Instant::now() + TRIM_DELAY);
        loop {
            // `SeqCst`: a waker that found us as the poller wrote the
            // eventfd instead of unparking us; its `wake` store comes before
            // our `poller` store of 0 in the `SeqCst` order, so this sees it.
            if shared.wake.swap(false, Ordering::SeqCst) {
                self.searching.set(true);
                self.rt.wake_sysmon();
                return;
            }
            if self.called_away() && self.leave_idle_list() {
                return;
            }
            // Taken before the timers are read: whoever adds a timer and
            // rechecks us before this sees no poller and unparks our thread
            // instead, but then `watch_timers` below sees the timer.
            let polling = self.become_poller();
            let watching = self
                .rt
                .watcher
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
            let timer_due = if watching { self.watch_timers() } else { NEVER };
            let wake_at = trim_at.map_or(NEVER, crate::clock::to_nanos).min(timer_due);
            let polled = if polling {
                self.block_in_poller(wake_at)
            } else {
                if wake_at == NEVER {
                    std::thread::park();
                } else {
                    std::thread::park_timeout(crate::clock::until(wake_at));
                }
                0
            };
            // Goroutines woken now will stamp their next park with this.
            crate::clock::tick_clock();
            if self.rt.check_requested.swap(false, Ordering::SeqCst) && self.rt.all_idle() {
                crate::inspect::check_deadlock(self.rt);
            }
            if trim_at.is_some_and(|t| Instant::now() >= t) {
                shared
                    .stacks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .trim();
                trim_at = None;
            }
            if watching {
                self.rt.watch_deadline.store(NEVER, Ordering::SeqCst);
                self.rt.watcher.store(false, Ordering::SeqCst);
                if self.rt.fire_all_timers() > 0 && self.leave_idle_list() {
                    // Timers woke goroutines into our runnext: run them.
                    return;
                }
            }
            if polled > 0 && self.leave_idle_list() {
                // Sockets woke goroutines into our runnext and queue: we
                // leave to run them. The poller's role stays vacant until
                // a worker idles again (see the module note).
                return;
            }
        }
    }

    /// Enters this worker's network poller to sleep in, if the netpoller
    /// exists (making the worker's poller if need be).
    pub(super) fn become_poller(&self) -> bool {
        if self.shared.poller().is_none() {
            return false;
        }
        self.shared.in_poller.store(true, Ordering::SeqCst);
        self.rt.pollers_blocked.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// In the poller: blocks in it until `wake_at` (unless a waker already
    /// set our flag), then leaves it. Returns how many goroutines became
    /// runnable.
    ///
    /// Dekker pair with [`Runtime::wake_thread`](super::Runtime::wake_thread):
    /// we stored `in_poller`, then a `SeqCst` fence, then look at `wake`
    /// and at what else calls us away (an inbox push, a token revoked or
    /// wanted); a waker makes its change, then a `SeqCst` fence, then loads
    /// `in_poller`. So either we see the change and do not block, or the
    /// waker sees us and writes the poller's eventfd (a `thread.unpark`
    /// would not end `epoll_wait`).
    pub(super) fn block_in_poller(&self, wake_at: u64) -> usize {
        fence(Ordering::SeqCst);
        let woken = if self.shared().wake.load(Ordering::SeqCst) || self.called_away() {
            0
        } else {
            self.poll_quietly((wake_at != NEVER).then(|| crate::clock::until(wake_at)))
        };
        self.shared.in_poller.store(false, Ordering::SeqCst);
        self.rt.pollers_blocked.fetch_sub(1, Ordering::Relaxed);
        woken
    }

    /// As the timer watcher: publishes and returns the deadline to sleep to.
    pub(super) fn watch_timers(&self) -> u64 {
        let when = self.rt.earliest_timer();
        self.rt.watch_deadline.store(when, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // A timer added before our store may have seen no watcher: re-read.
        when.min(self.rt.earliest_timer())
    }

    /// Without a token: hands this worker's goroutines to the others.
    /// Goroutines pinned here stay, for this thread to run when it has a
    /// token again.
    pub(super) fn give_up_work(&self) {
        self.shared.active.store(false, Ordering::Relaxed);
        self.free_returned();
        if let Some(g) = self.shared.runnext.take() {
            self.requeue(g);
        }
        while let Some(g) = self.queue.pop().or_else(|| self.spill.pop()) {
            self.rt.injector.push(g);
        }
        self.stop_searching();
        self.rt.notify_work();
    }

    /// Waits in the pool until granted a token (true), or for [`POOL_IDLE`]
    /// (false: the thread is not needed and exits).
    ///
    /// While goroutines pinned here wait to run, it asks for a token (see
    /// `Runtime::want_token`); while any goroutine pinned here is alive,
    /// the thread does not exit, so the thread-locals those goroutines may
    /// use outlive them.
    pub(super) fn wait_in_pool(&self) -> bool {
        let shared = self.shared;
        self.rt.pool.push(self.index);
        shared.asleep.store(true, Ordering::SeqCst);
        let mut deadline = Some(Instant::now() + POOL_IDLE);
        loop {
            if shared.granted.swap(false, Ordering::Acquire) {
                shared.active.store(true, Ordering::Relaxed);
                shared.asleep.store(false, Ordering::Relaxed);
                self.rt.no_longer_wants_token(shared);
                self.took_token();
                return true;
            }
            fence(Ordering::SeqCst);
            if self.has_pinned_work() {
                self.rt.want_token(self.index);
            }
            match deadline {
                Some(at) if Instant::now() >= at && self.pinned_live.get() > 0 => {
                    deadline = Some(Instant::now() + POOL_IDLE);
                }
                Some(at) if Instant::now() >= at => {
                    if self.rt.pool.remove(self.index) {
                        shared.asleep.store(false, Ordering::Relaxed);
                        return false;
                    }
                    // A granter took us off the list (false above): its
                    // grant is coming.
                    deadline = None;
                }
                Some(at) => std::thread::park_timeout(at - Instant::now()),
                None => std::thread::park(),
            }
        }
    }
}

/// The most network pollers the workers make: two per token, at least
/// [`MIN_POLLERS`] (a token moves to a new thread when its holder is stuck,
/// and the one before keeps its slot).
fn poller_limit() -> usize {
    (2 * super::gomaxprocs()).max(MIN_POLLERS)
}

/// See [`poller_limit`].
const MIN_POLLERS: usize = 16;

/// Worker slot `index`'s network poller, if it has one.
pub(crate) fn slot_poller(index: usize) -> Option<&'static Poller> {
    let rt = super::runtime();
    (index < rt.started_count.load(Ordering::Acquire))
        .then(|| rt.shared(index).poller.get())
        .flatten()
}

/// The calling worker's network poller (made now if the netpoller exists
/// and it has none yet); `None` off the workers, or if the poller cannot
/// be made (out of descriptors): then the shared poller serves.
pub(crate) fn current_poller() -> Option<&'static Poller> {
    let index = current_worker_index()?;
    super::runtime().shared(index).poller()
}

impl Shared {
    /// The slot's network poller, made now if the netpoller exists and the
    /// slot has none yet; `None` if it cannot be made.
    pub(super) fn poller(&self) -> Option<&Poller> {
        if let Some(poller) = self.poller.get() {
            return Some(poller);
        }
        if !crate::netpoll::initialized() {
            return None;
        }
        let poller = Poller::new(poller_limit()).ok()?;
        Some(self.poller.get_or_init(|| poller))
    }
}

impl Worker {
    /// Without a token this thread neither sleeps in nor polls its
    /// poller: its sockets are handed to the workers that do (see
    /// `netpoll::Poller::orphan`), until it has a token again.
    pub(super) fn orphan_poller(&self) {
        if let Some(poller) = self.shared.poller.get() {
            poller.orphan(self.index);
        }
    }

    /// A token again (or a new thread for the slot): the slot's poller is
    /// this thread's to watch.
    pub(super) fn adopt_poller(&self) {
        if let Some(poller) = self.shared.poller.get() {
            poller.adopt();
        }
    }
}
