//! The one park/unpark protocol under every blocking primitive.
//!
//! A primitive that must wait records an [`Unparker`] for the current
//! context (a goroutine or a plain OS thread) in its wait queue, releases its
//! lock, and calls [`park`]. Whoever satisfies the wait takes the entry out
//! of the queue and calls [`Unparker::unpark`].
//!
//! # Contract
//! The protocol is token based, like `std::thread::park`: `unpark` leaves a
//! token if the target is not parked yet, and `park` consumes a token and
//! returns at once. So a wakeup that races with the park is never lost. A
//! `park` may also return spuriously (for a thread, whenever the OS says so;
//! for a goroutine, when a stale token from an earlier wait is still set),
//! so every caller re-checks its own condition in a loop.
//!
//! # Goroutine states (`G::park_state`)
//! ```text
//!   RUNNING --unpark--> NOTIFIED --park--> RUNNING          (token consumed)
//!   RUNNING --park: switch out, then worker CASes--> PARKED
//!   PARKED  --unpark CAS--> RUNNING + pushed on a run queue  (exactly once)
//! ```
//! The goroutine does not mark itself `PARKED`: it switches to its worker,
//! and the worker does, after the switch is complete. An unparker can
//! therefore never push a goroutine whose stack is still in use, and only the
//! unparker whose CAS moves it out of `PARKED` pushes it, so it is resumed by
//! exactly one worker.
//!
//! # Parking under a lock (channels)
//! A goroutine's blocking channel `send`/`recv` (no deadline, one channel)
//! skips the token protocol, as Go's `gopark` with an unlock function does:
//! it enqueues an [`Unparker::Parked`] handle and switches out holding the
//! channel lock, which its worker releases after the switch
//! (`goroutine::park_unlocking`). A holder of the lock that takes the
//! handle out finds the goroutine parked, owns it, and readies it; the park
//! state stays `RUNNING` throughout, so an unpark meant for an earlier wait
//! leaves a token (a later `park` returns spuriously, as allowed) and never
//! pushes the goroutine anywhere.
//!
//! # Orderings
//! `unpark`'s CAS is `Release` (or `AcqRel`): everything the waker wrote
//! before it (the value handed over, the dequeued waiter) is visible to the
//! parked side, which reads the state with `Acquire` (the token fast path) or
//! gets there through the run queue, which itself synchronises. The worker's
//! `RUNNING -> PARKED` CAS is `AcqRel` so the unparker that sees `PARKED`
//! also sees the coroutine's saved context.

use crate::goroutine::{self, Runnable};
pub(crate) use crate::inspect::WaitReason;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Who to wake: a goroutine or an OS thread blocked in a goro primitive.
pub(crate) enum Unparker {
    /// A goroutine; woken onto the waker's run queue.
    Goroutine(Runnable),
    /// A goroutine that parked holding the lock of the queue this handle
    /// is in (`goroutine::park_unlocking`): taken out under that lock, it
    /// is surely parked, so waking it is readying it. Never cloned.
    Parked(Runnable),
    /// A plain thread blocked in `std::thread::park`.
    Thread(Arc<ThreadParker>),
}

impl Clone for Unparker {
    /// Another handle to the same goroutine or thread.
    ///
    /// # Panics
    /// For [`Unparker::Parked`], which has one owner by design.
    fn clone(&self) -> Unparker {
        match self {
            Unparker::Goroutine(g) => Unparker::Goroutine(g.clone()),
            Unparker::Thread(t) => Unparker::Thread(Arc::clone(t)),
            Unparker::Parked(_) => unreachable!("a parked goroutine's handle has one owner"),
        }
    }
}

/// A plain thread that may block in goro primitives.
pub(crate) struct ThreadParker {
    thread: std::thread::Thread,
    /// Blocked indefinitely in a goro primitive (for the deadlock detector).
    /// Cleared by the unparker *before* it unparks, so the detector never
    /// counts a thread that has been woken as blocked (`SeqCst`, with the
    /// detector's reads).
    blocked: AtomicBool,
}

thread_local! {
    static THREAD: Arc<ThreadParker> = Arc::new(ThreadParker {
        thread: std::thread::current(),
        blocked: AtomicBool::new(false),
    });
}

impl ThreadParker {
    /// The current thread's parker. Once the thread's locals are being
    /// destroyed (a blocking call from a thread-local's destructor) it is
    /// gone: a fresh one stands in, which the deadlock detector never
    /// counts as blocked (its flag is never set).
    fn current() -> Option<Arc<ThreadParker>> {
        THREAD.try_with(Arc::clone).ok()
    }

    fn fresh() -> Arc<ThreadParker> {
        Arc::new(ThreadParker {
            thread: std::thread::current(),
            blocked: AtomicBool::new(false),
        })
    }

    fn set_blocked(&self, blocked: bool) {
        if self.blocked.swap(blocked, Ordering::SeqCst) != blocked {
            if blocked {
                crate::inspect::thread_blocked();
            } else {
                crate::inspect::thread_unblocked();
            }
        }
    }
}

impl Unparker {
    /// The current goroutine, or the current thread outside goroutines.
    pub(crate) fn current() -> Unparker {
        match goroutine::current() {
            Some(g) => Unparker::Goroutine(Runnable::new(g)),
            None => Unparker::Thread(ThreadParker::current().unwrap_or_else(ThreadParker::fresh)),
        }
    }

    /// Wakes the target, or leaves it a token if it is not parked yet.
    /// Consumes the handle: a woken goroutine's reference moves straight
    /// into the run queue.
    #[inline]
    pub(crate) fn unpark(self) {
        match self {
            Unparker::Goroutine(g) => goroutine::unpark(g),
            Unparker::Parked(g) => crate::scheduler::ready(g),
            Unparker::Thread(t) => {
                t.set_blocked(false);
                t.thread.unpark();
            }
        }
    }
}

/// Parks the current goroutine (or blocks the current thread) until
/// unparked, recording why. May return spuriously; see the module note.
pub(crate) fn park(why: WaitReason) {
    if !goroutine::park_current(why) {
        let Some(me) = ThreadParker::current() else {
            // The thread's locals are being destroyed: see
            // `ThreadParker::current`.
            std::thread::park();
            return;
        };
        // Starts the workers, so the deadlock detector runs even in a
        // program whose only waiter is a plain thread.
        crate::scheduler::runtime().ensure_started();
        me.set_blocked(true);
        crate::scheduler::runtime().thread_blocked();
        std::thread::park();
        me.set_blocked(false);
    }
}

/// Where the calling goroutine's stack is now, for [`prefetch_stack`]
/// (the address of a local a frame below the caller's): a waiter records
/// it as it parks, a few frames above the switch.
#[inline(never)]
pub(crate) fn stack_hint() -> usize {
    let here = 0u8;
    std::hint::black_box(&here) as *const u8 as usize
}

/// Bytes around a parked goroutine's stack hint that its resume touches:
/// the registers saved at the switch below it, the frames of the park and
/// of the primitive it waited in, and the goroutine's own above.
const STACK_WINDOW: usize = 1024;

/// Starts loading the cache lines of a waking goroutine's stack around
/// `hint` (from [`stack_hint`]). A goroutine parked for a while finds its
/// stack gone from the cache, and the resume would touch those lines one
/// after another, a miss each; prefetched by whoever wakes it (a timer
/// firing, the netpoller), they load together while the worker finishes
/// what it runs now (100,000 sleepers: 7-11% faster; an echo server with
/// 10,000 connections: see docs/performance.md). A prefetch never faults,
/// so a stale hint costs nothing but the loads.
pub(crate) fn prefetch_stack(hint: usize) {
    let start = hint.wrapping_sub(STACK_WINDOW / 2);
    for line in (0..STACK_WINDOW).step_by(64) {
        let p = start.wrapping_add(line) as *const u8;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE, which `_mm_prefetch` needs, is in every x86-64 CPU;
        // a prefetch is a hint that never faults and writes nothing.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `prfm` is a hint that never faults and writes nothing.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = p;
    }
}

/// As [`park`], but returns by `deadline` at the latest. Returns whether
/// the deadline has passed.
pub(crate) fn park_until(deadline: Instant, why: WaitReason) -> bool {
    let now = Instant::now();
    now >= deadline || park_from(now, deadline, why)
}

/// As [`park_until`], for a caller that read the clock at `now`, before
/// `deadline`. A goroutine whose timer fired knows the deadline has passed
/// without reading the clock again.
pub(crate) fn park_from(now: Instant, deadline: Instant, why: WaitReason) -> bool {
    match goroutine::park_current_until(crate::timer::to_nanos(deadline), why) {
        Some(true) => true,
        Some(false) => Instant::now() >= deadline,
        None => {
            // A thread with a deadline is not blocked for good: not counted.
            std::thread::park_timeout(deadline - now);
            Instant::now() >= deadline
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Parks until `ready()` holds; a park that times out means a wakeup was
    /// lost (nobody else will ever wake us), which fails the test.
    fn wait_until(ready: impl Fn() -> bool) {
        while !ready() {
            let deadline = Instant::now() + Duration::from_secs(20);
            if park_until(deadline, WaitReason::Running) && !ready() {
                panic!("lost wakeup: parked 20 s with the condition still false");
            }
        }
    }

    fn wake_all(who: &Mutex<Vec<Option<Unparker>>>) {
        let all: Vec<Unparker> = who.lock().unwrap().iter().flatten().cloned().collect();
        all.into_iter().for_each(Unparker::unpark);
    }

    /// A ring of goroutines and threads passes a token round and round: each
    /// waits for its turn, then hands the turn to the next and unparks it.
    fn token_ring(goroutines: usize, threads: usize, rounds: usize) {
        let n = goroutines + threads;
        let turn: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
        let who: Arc<Mutex<Vec<Option<Unparker>>>> = Arc::new(Mutex::new(vec![None; n]));
        let member = move |i: usize| {
            let (turn, who) = (turn.clone(), who.clone());
            move || {
                who.lock().unwrap()[i] = Some(Unparker::current());
                wake_all(&who);
                wait_until(|| who.lock().unwrap().iter().all(Option::is_some));
                let next = who.lock().unwrap()[(i + 1) % n].clone().unwrap();
                for round in 0..rounds {
                    let mine = round + usize::from(i != 0);
                    if i != 0 || round != 0 {
                        wait_until(|| turn[i].load(Ordering::Acquire) >= mine);
                    }
                    turn[(i + 1) % n].fetch_add(1, Ordering::Release);
                    next.clone().unpark();
                }
            }
        };
        let gs: Vec<_> = (0..goroutines).map(|i| crate::spawn(member(i))).collect();
        let ts: Vec<_> = (goroutines..n)
            .map(|i| std::thread::spawn(member(i)))
            .collect();
        gs.into_iter().for_each(|h| h.join().unwrap());
        ts.into_iter().for_each(|h| h.join().unwrap());
    }

    /// Runs `body` at GOMAXPROCS 1 and 4 (one test at a time: it is global).
    fn at_1_and_4(body: impl Fn()) {
        static PROCS: Mutex<()> = Mutex::new(());
        let _lock = PROCS.lock().unwrap_or_else(|p| p.into_inner());
        for procs in [1, 4] {
            let old = crate::set_gomaxprocs(procs);
            body();
            crate::set_gomaxprocs(old);
        }
    }

    /// A park woken before its deadline leaves its goroutine's timer entry
    /// queued; the timed parks after it (on one-off timers until the entry
    /// is popped) still time out, never early.
    #[test]
    fn timed_parks_after_an_early_wake_still_time_out() {
        crate::spawn(|| {
            Unparker::current().unpark();
            let far = Instant::now() + Duration::from_secs(3600);
            assert!(!park_until(far, WaitReason::Running), "woken by the token");
            for _ in 0..3 {
                let deadline = Instant::now() + Duration::from_millis(1);
                while !park_until(deadline, WaitReason::Running) {}
                assert!(Instant::now() >= deadline);
            }
        })
        .join()
        .unwrap();
    }

    /// Goroutines park with deadlines a few microseconds away while threads
    /// unpark them at random: the timer's fire races the unpark and the
    /// goroutine's own cancel. A park that reports its deadline passed has
    /// passed it, and every goroutine finishes (no wakeup is lost, none is
    /// resumed twice).
    #[test]
    fn short_timed_parks_racing_unparks_keep_their_word() {
        at_1_and_4(|| {
            let stop = Arc::new(AtomicUsize::new(0));
            let who: Arc<Mutex<Vec<Option<Unparker>>>> = Arc::new(Mutex::new(Vec::new()));
            let gs: Vec<_> = (0..8u64)
                .map(|i| {
                    let who = who.clone();
                    crate::spawn(move || {
                        who.lock().unwrap().push(Some(Unparker::current()));
                        for round in 0..2000u64 {
                            let d = Duration::from_micros((round * 7 + i * 13) % 50);
                            let deadline = Instant::now() + d;
                            if park_until(deadline, WaitReason::Running) {
                                assert!(Instant::now() >= deadline, "timed out early");
                            }
                        }
                    })
                })
                .collect();
            let hammer = {
                let (stop, who) = (stop.clone(), who.clone());
                std::thread::spawn(move || {
                    while stop.load(Ordering::Acquire) == 0 {
                        wake_all(&who);
                        std::thread::yield_now();
                    }
                })
            };
            gs.into_iter().for_each(|h| h.join().unwrap());
            stop.store(1, Ordering::Release);
            hammer.join().unwrap();
        });
    }

    #[test]
    fn no_wakeup_is_lost_in_a_ring_of_goroutines() {
        at_1_and_4(|| token_ring(50, 0, 200));
    }

    #[test]
    fn no_wakeup_is_lost_between_goroutines_and_threads() {
        at_1_and_4(|| token_ring(6, 3, 2000));
    }

    /// Threads hammer `unpark` on one goroutine that parks over and over: it
    /// must be resumed by one worker at a time (a double resume would crash
    /// on its stack) and every park returns.
    #[test]
    fn an_unpark_storm_resumes_a_goroutine_once_at_a_time() {
        at_1_and_4(unpark_storm);
    }

    /// Threads hammer `unpark` at a goroutine that receives on an unbuffered
    /// channel, where it parks holding the channel's lock
    /// (`goroutine::park_unlocking`): the stray wakeups leave tokens and
    /// must never resume it before the sender's hand-off (a resume there
    /// would find its operation not done, or run it on two workers), so it
    /// gets every value once, in order.
    #[test]
    fn stray_unparks_never_resume_a_goroutine_parked_on_a_channel() {
        at_1_and_4(|| {
            const N: u64 = 20_000;
            let (tx, rx) = crate::chan::bounded::<u64>(0);
            let stop = Arc::new(AtomicUsize::new(0));
            let target = Arc::new(Mutex::new(None::<Unparker>));
            let receiver = {
                let target = target.clone();
                crate::spawn(move || {
                    *target.lock().unwrap() = Some(Unparker::current());
                    for want in 0..N {
                        assert_eq!(rx.recv().unwrap(), want);
                    }
                })
            };
            let sender = crate::spawn(move || (0..N).for_each(|i| tx.send(i).unwrap()));
            let hammers: Vec<_> = (0..2)
                .map(|_| {
                    let (stop, target) = (stop.clone(), target.clone());
                    std::thread::spawn(move || {
                        while stop.load(Ordering::Acquire) == 0 {
                            if let Some(u) = target.lock().unwrap().clone() {
                                u.unpark();
                            }
                            std::thread::yield_now();
                        }
                    })
                })
                .collect();
            receiver.join().unwrap();
            sender.join().unwrap();
            stop.store(1, Ordering::Release);
            hammers.into_iter().for_each(|h| h.join().unwrap());
        });
    }

    fn unpark_storm() {
        let stop = Arc::new(AtomicUsize::new(0));
        let target = Arc::new(Mutex::new(None::<Unparker>));
        let g = {
            let (stop, target) = (stop.clone(), target.clone());
            crate::spawn(move || {
                *target.lock().unwrap() = Some(Unparker::current());
                let mut parks = 0u64;
                while stop.load(Ordering::Acquire) == 0 {
                    park(WaitReason::Running);
                    parks += 1;
                }
                parks
            })
        };
        let hammers: Vec<_> = (0..3)
            .map(|_| {
                let (stop, target) = (stop.clone(), target.clone());
                std::thread::spawn(move || {
                    let target = loop {
                        if let Some(u) = target.lock().unwrap().clone() {
                            break u;
                        }
                        std::thread::yield_now();
                    };
                    for _ in 0..50_000 {
                        target.clone().unpark();
                    }
                    stop.fetch_add(1, Ordering::Release);
                    target.unpark();
                })
            })
            .collect();
        hammers.into_iter().for_each(|h| h.join().unwrap());
        // It may have parked any number of times; what matters is that it was
        // never resumed twice at once (that crashes) and that it finishes.
        g.join().unwrap();
    }
}
