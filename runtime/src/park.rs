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
//!   AWAKE  --unpark--> NOTIFIED --park--> AWAKE            (token consumed)
//!   AWAKE  --park: switch out, then worker CASes--> PARKED
//!   PARKED --unpark CAS--> AWAKE + readied (scheduler::ready, exactly once)
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
//! ([`park_unlocking`]). A holder of the lock that takes the
//! handle out finds the goroutine parked, owns it, and readies it; the park
//! state stays `AWAKE` throughout, so an unpark meant for an earlier wait
//! leaves a token (a later `park` returns spuriously, as allowed) and never
//! pushes the goroutine anywhere.
//!
//! # Orderings
//! Every decision `unpark` takes is made by a successful CAS, including
//! "a token is there already" (`NOTIFIED -> NOTIFIED`): a relaxed look may
//! show a token the goroutine has consumed since, after which it parks, and
//! a wake dropped on that look would be lost.
//! `unpark`'s CAS is `Release` (or `AcqRel`): everything the waker wrote
//! before it (the value handed over, the dequeued waiter) is visible to the
//! parked side, which reads the state with `Acquire` (the token fast path) or
//! gets there through the run queue, which itself synchronises. The worker's
//! `AWAKE -> PARKED` CAS is `AcqRel` so the unparker that sees `PARKED`
//! also sees the coroutine's saved context.
//!
//! # Wait reasons
//! A goroutine records why it parks ([`WaitReason`]: `chan receive`,
//! `sync.Mutex.Lock`, ...), since when, from the coarse clock (one
//! relaxed load on the park path, not a clock read), and where: a [`Why`]
//! pairs the reason with the user's call site, taken by
//! [`WaitReason::here`] in a primitive whose functions up to the public
//! operation are `#[track_caller]` (a hidden pointer argument, no work).
//! All for `dump` and the deadlock report; relaxed, as those read a
//! snapshot.

use crate::goroutine::{self, Runnable, Switch, G};
use crate::spin::SpinLock;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Park states (`G::park_state`); see the module note.
pub(crate) const AWAKE: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;

/// Who to wake: a goroutine or an OS thread blocked in a goro primitive.
pub(crate) enum Unparker {
    /// A goroutine; woken onto the waker's run queue.
    Goroutine(Runnable),
    /// A goroutine that parked holding the lock of the queue this handle
    /// is in ([`park_unlocking`]): taken out under that lock, it
    /// is surely parked, so waking it is readying it. Never cloned.
    Parked(Runnable),
    /// A plain thread blocked in `std::thread::park`.
    Thread(Arc<ThreadParker>),
    /// A future's task (see `future`): waking it is `Waker::wake`. Boxed,
    /// so that the handle stays two words (every goroutine's record holds
    /// one, for its joiner).
    Waker(Box<std::task::Waker>),
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
            Unparker::Waker(w) => Unparker::Waker(w.clone()),
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

    /// A future's task, woken by `waker`.
    pub(crate) fn waker(waker: &std::task::Waker) -> Unparker {
        Unparker::Waker(Box::new(waker.clone()))
    }

    /// Wakes the target, or leaves it a token if it is not parked yet.
    /// Consumes the handle: a woken goroutine's reference moves straight
    /// into the run queue.
    #[inline]
    pub(crate) fn unpark(self) {
        match self {
            Unparker::Goroutine(g) => unpark(g),
            Unparker::Parked(g) => crate::scheduler::ready(g),
            Unparker::Thread(t) => {
                t.set_blocked(false);
                t.thread.unpark();
            }
            Unparker::Waker(w) => w.wake(),
        }
    }
}

/// Parks the current goroutine (or blocks the current thread) until
/// unparked, recording why. May return spuriously; see the module note.
pub(crate) fn park(why: Why) {
    if !park_current(why) {
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

/// As [`park`], but returns by `deadline` at the latest. Returns whether
/// the deadline has passed.
pub(crate) fn park_until(deadline: Instant, why: Why) -> bool {
    let now = Instant::now();
    now >= deadline || park_from(now, deadline, why)
}

/// As [`park_until`], for a caller that read the clock at `now`, before
/// `deadline`. A goroutine whose timer fired knows the deadline has passed
/// without reading the clock again.
pub(crate) fn park_from(now: Instant, deadline: Instant, why: Why) -> bool {
    match park_current_until(crate::clock::to_nanos(deadline), why) {
        Some(true) => true,
        Some(false) => Instant::now() >= deadline,
        None => {
            // A thread with a deadline is not blocked for good: not counted.
            std::thread::park_timeout(deadline - now);
            Instant::now() >= deadline
        }
    }
}

/// The worker's half of a park: after `g` has switched out, marks it
/// parked unless a wakeup already came. Returns whether it is parked
/// (else it must run again).
pub(crate) fn complete_park(g: &G) -> bool {
    match g
        .park_state
        .compare_exchange(AWAKE, PARKED, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => true,
        Err(_) => {
            // NOTIFIED: only we change it from here; consume the token.
            g.park_state.store(AWAKE, Ordering::Relaxed);
            false
        }
    }
}

/// Parks the running goroutine `g` (`how`), recording `why`, since when and
/// where (the blocking operation's caller) for `dump` while it is away.
#[inline(always)]
fn switch_out_waiting(g: &G, why: Why, how: Switch) {
    g.wait_since
        .store(crate::clock::coarse_now(), Ordering::Relaxed);
    let at: *const Location<'static> = why.at;
    g.blocked_at.store(at.cast_mut(), Ordering::Relaxed);
    g.wait.store(why.reason as u8, Ordering::Relaxed);
    goroutine::switch_out(g, how);
    g.wait.store(WaitReason::Running as u8, Ordering::Relaxed);
}

/// Parks the current goroutine, recording `why`; `false` if the caller is
/// not a goroutine.
pub(crate) fn park_current(why: Why) -> bool {
    let g = goroutine::current_ptr();
    if g.is_null() {
        return false;
    }
    // SAFETY: non-null means a live goroutine we are running.
    let g = unsafe { &*g };
    // A token is rare: look before paying for the CAS.
    let has_token = g.park_state.load(Ordering::Relaxed) == NOTIFIED
        && g.park_state
            .compare_exchange(NOTIFIED, AWAKE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
    if !has_token {
        switch_out_waiting(g, why, Switch::Park);
    }
    true
}

/// Parks the running goroutine as the waiter of a queue that `lock` guards,
/// and releases `lock` only once the goroutine is off its stack (Go's
/// `gopark` with an unlock function). `publish` gets the goroutine's handle
/// to put in the queue; whoever takes it out, under `lock`, therefore finds
/// the goroutine parked for sure, owns it (the handle carries the reference
/// its worker held while it ran) and wakes it with `scheduler::ready`: no
/// wakeup can race the park, so neither side needs the park state's CAS,
/// and no reference is counted. Returns `false`, doing nothing, on a plain
/// thread. Always parks: a stale token (see `park`) is left for later.
///
/// # Safety
/// The caller holds `lock`. The handle must be taken out only under `lock`
/// and then woken exactly once (`Unparker::unpark`), never dropped or
/// cloned; so the goroutine runs again only once somebody has done that.
/// Whatever `publish` makes reachable must stay valid until then.
#[inline(always)]
pub(crate) unsafe fn park_unlocking(
    lock: &SpinLock,
    why: Why,
    publish: impl FnOnce(Runnable),
) -> bool {
    let g = goroutine::current_ptr();
    if g.is_null() {
        return false;
    }
    // SAFETY: non-null means a live goroutine we are running.
    let g = unsafe { &*g };
    // The address `Arc::into_raw` gave for this `G` (the worker holds that
    // reference while we run, and gives it to this handle when we park).
    // SAFETY: the worker's reference passes to this handle, and the worker
    // forgets its own when the switch reports `ParkUnlocking`.
    publish(unsafe { Runnable::adopt(g) });
    switch_out_waiting(g, why, Switch::ParkUnlocking(lock));
    true
}

/// Parks the current goroutine until unparked or `deadline` (nanoseconds,
/// see `crate::clock::to_nanos`), recording `why`. `None` if the caller is not a
/// goroutine; else whether the deadline's timer fired, which means the
/// deadline has passed.
pub(crate) fn park_current_until(deadline: u64, why: Why) -> Option<bool> {
    let g = goroutine::current()?;
    // SAFETY: `g` is the goroutine we are running; its worker holds a
    // reference while it runs, so the `G` outlives this borrow even after
    // `g` itself moves into the timer below.
    let sleep = unsafe { &(*Arc::as_ptr(&g)).sleep };
    match sleep.arm(g, deadline) {
        Ok(heap) => {
            park_current(why);
            Some(sleep.cancel(heap))
        }
        Err(g) => {
            // The entry of an earlier park is still queued: a one-off timer.
            let g = Runnable::new(g);
            let timer = crate::timers::Callback::call_at_nanos(deadline, move || unpark(g));
            park_current(why);
            Some(!timer.cancel())
        }
    }
}

/// Wakes `g` if parked, else leaves it a token. See the `park` module.
pub(crate) fn unpark(g: Runnable) {
    let mut state = g.park_state.load(Ordering::Relaxed);
    loop {
        // A token seen by the relaxed load may be one the goroutine has
        // consumed since (and then parked): it counts only once a CAS has
        // confirmed it, or the wake would be lost.
        let next = match state {
            PARKED => AWAKE,
            _ => NOTIFIED,
        };
        match g
            .park_state
            .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(PARKED) => return crate::scheduler::ready(g),
            Ok(_) => return,
            Err(now) => state = now,
        }
    }
}

/// Why a goroutine (or thread) is parked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum WaitReason {
    /// Not parked.
    Running = 0,
    /// `Receiver::recv` and friends.
    ChanReceive,
    /// `Sender::send` and friends.
    ChanSend,
    /// `select!` / `Select`.
    Select,
    /// `sleep`.
    Sleep,
    /// `JoinHandle::join`.
    Join,
    /// `WaitGroup::wait`.
    WaitGroup,
    /// `Mutex::lock`, `RwLock` writers.
    Mutex,
    /// `RwLock` readers.
    RwLock,
    /// `RwLock` writers.
    RwLockWrite,
    /// `Cond::wait`.
    Cond,
    /// `Semaphore::acquire`.
    Semaphore,
    /// `Once::call_once` waiting for another caller.
    Once,
    /// `Barrier::wait`.
    Barrier,
    /// A socket call waiting for the netpoller.
    IoWait,
    /// `goro::blocking`: a helper thread runs its call.
    Blocking,
}

/// A call site in the user's code.
pub(crate) type Site = &'static Location<'static>;

/// Why a goroutine parks and where: the reason and the call site of the
/// blocking operation in the user's code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Why {
    pub(crate) reason: WaitReason,
    pub(crate) at: Site,
}

impl WaitReason {
    /// This reason, at the caller's call site (followed up through every
    /// `#[track_caller]` function).
    #[track_caller]
    #[inline(always)]
    pub(crate) fn here(self) -> Why {
        self.at(Location::caller())
    }

    /// This reason, at `at`.
    #[inline(always)]
    pub(crate) fn at(self, at: Site) -> Why {
        Why { reason: self, at }
    }

    /// Go's name for the state.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::Running => "running",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::Join => "join",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::Mutex => "sync.Mutex.Lock",
            WaitReason::RwLock => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::Cond => "sync.Cond.Wait",
            WaitReason::Semaphore => "semaphore.Acquire",
            WaitReason::Once => "sync.Once.Do",
            WaitReason::Barrier => "sync.Barrier.Wait",
            WaitReason::IoWait => "IO wait",
            WaitReason::Blocking => "syscall",
        }
    }

    pub(crate) fn from_u8(v: u8) -> WaitReason {
        const ALL: [WaitReason; 16] = [
            WaitReason::Running,
            WaitReason::ChanReceive,
            WaitReason::ChanSend,
            WaitReason::Select,
            WaitReason::Sleep,
            WaitReason::Join,
            WaitReason::WaitGroup,
            WaitReason::Mutex,
            WaitReason::RwLock,
            WaitReason::RwLockWrite,
            WaitReason::Cond,
            WaitReason::Semaphore,
            WaitReason::Once,
            WaitReason::Barrier,
            WaitReason::IoWait,
            WaitReason::Blocking,
        ];
        ALL.get(usize::from(v))
            .copied()
            .unwrap_or(WaitReason::Running)
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
            if park_until(deadline, WaitReason::Running.here()) && !ready() {
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
    fn every_reason_round_trips_through_its_byte() {
        for v in 0..=15u8 {
            assert_eq!(WaitReason::from_u8(v) as u8, v);
        }
    }

    #[test]
    fn timed_parks_after_an_early_wake_still_time_out() {
        crate::spawn(|| {
            Unparker::current().unpark();
            let far = Instant::now() + Duration::from_secs(3600);
            assert!(
                !park_until(far, WaitReason::Running.here()),
                "woken by the token"
            );
            for _ in 0..3 {
                let deadline = Instant::now() + Duration::from_millis(1);
                while !park_until(deadline, WaitReason::Running.here()) {}
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
                            if park_until(deadline, WaitReason::Running.here()) {
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
    /// (`park::park_unlocking`): the stray wakeups leave tokens and
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
                    park(WaitReason::Running.here());
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
