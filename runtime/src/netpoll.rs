//! Go's netpoller, one per worker: goroutines wait for sockets without
//! holding a thread, and a socket's event reaches the thread its goroutine
//! runs on.
//!
//! # The protocol
//! A goroutine tries its call on the non-blocking socket; on `EAGAIN` it
//! calls [`Registration::wait_read`] (or `wait_write`), which either
//! consumes the direction's *ready flag* (an event came since the flag was
//! last consumed: retry the call) or records the goroutine as that
//! direction's one *waiter* and parks it (`IO wait`). For each event a
//! poll sets the flag of every direction the event reports, or, if a
//! waiter is recorded there, takes the waiter out instead and unparks it.
//!
//! # Pollers
//! Every worker slot has a [`Poller`] (an epoll instance and a wake
//! eventfd), up to two per GOMAXPROCS token (at least 16): past that, a
//! slot's goroutines use the shared poller below. A socket is registered with the poller of the worker whose
//! goroutine first waits on it, and moves to another worker's poller when
//! a goroutine of that worker waits on it while the other direction has no
//! waiter (`follow_waiter`). A started goroutine stays on its thread, so
//! its sockets' events come to the poller its own thread sleeps in when
//! idle and polls without blocking when busy: the wake is a push onto its
//! own run queue, not a hand-off to another thread. Sockets registered off
//! the workers (by a future polled on another thread) go to the *shared*
//! epoll, which is nested, level-triggered, in every worker's poller, so
//! any worker that sleeps or polls sees its events. A worker whose thread
//! gives up its token (and may exit) *orphans* its poller: the poller
//! leaves the shared one and is nested in it instead, so the sockets of
//! its goroutines that migrate (and its pinned goroutines' wakes, sent to
//! their home's inbox) are still seen; a thread with the slot's token
//! adopts it back. The monitor polls a worker's poller that nobody has
//! polled for 10 ms (its worker busy in one goroutine), and the shared one
//! when no worker sleeps in a poller.
//!
//! Sockets are registered once, edge-triggered (see `epoll`), on their first
//! wait: an event means "something changed", so the flag is a hint to retry,
//! never a promise that the retry succeeds.
//!
//! # No lost wakeup
//! Invariant: *after a waiter's call failed with `EAGAIN`, the next event
//! for its direction either finds it recorded (and unparks it) or sets the
//! flag it will consume before it parks.* Each direction's flag and waiter
//! live under its descriptor's lock, and both the event and the waiter act
//! on them in one critical section each, so one of the two orders holds.
//! Edge-triggered epoll reports every change of readiness after our call
//! (a change while the descriptor is already queued as ready is merged into
//! that report, which is collected later still), so the event exists. A
//! socket that moves is added to its new poller before it leaves the old
//! one: a report still queued in the old one is dropped with it, but the
//! readiness it reported still holds (only the goroutine whose turn it is
//! in that direction consumes it), and the add reports the socket's
//! current readiness in both directions.
//! Only the direction's one waiter consumes its flag: the socket layer lets
//! one goroutine at a time wait per direction (Go's `fdMutex`), and it makes
//! its call after it has the turn, so no earlier event can be consumed on its
//! behalf by somebody else.
//!
//! # Stale events (Go's fdseq)
//! `PollDesc` records are type-stable: they live in a slab that never frees
//! them, and a closed socket's record is reused for the next one. Every
//! registration has a sequence number, packed with the record's index into
//! the event token; deregistering bumps it. An event still in flight for a
//! closed socket carries the old number and is ignored, and a waiter woken
//! by the deregistration sees that the number moved on and fails.
//!
//! # Orderings
//! - Flags, waiters and sequence numbers are only touched under their
//!   descriptor's mutex, which orders them (and the unparker handed over).
//! - [`WAITERS`] is `SeqCst`: the scheduler reads it in its deadlock check
//!   (`all_idle`) among other `SeqCst` accesses. A waiter counts itself
//!   before it parks and uncounts itself only once it runs again, so a
//!   goroutine on its way from the poller to a run queue is never taken for
//!   a deadlocked program.
//! - A poller's `wake_pending` is `SeqCst`: the scheduler's waker stores a
//!   worker's `wake` flag, then calls [`Poller::wake`]; the worker clears
//!   the pending mark after draining the eventfd and only then returns to
//!   read the flags. A waker that sees the mark still set (and skips the
//!   write) thus comes before that clear in the single `SeqCst` order, and
//!   the worker's later reads see what the waker stored.
//! - The netpoller and each worker's poller are published by `OnceLock`s
//!   (release/acquire); a descriptor's poller is read under its mutex.

use crate::epoll::{Epoll, Event, EventFd, Events, Interest};
use crate::park::{self, Unparker, WaitReason};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Descriptors per slab chunk, and chunks at most: 1 Mi sockets polled at
/// once, Linux's default limit of open files per process (`fs.nr_open`).
const CHUNK: usize = 1024;
const MAX_CHUNKS: usize = 1024;

/// The token of a poller's wake eventfd; descriptor tokens have index < 2^20.
const WAKE_TOKEN: u64 = u64::MAX;

/// The token of the shared poller's epoll, nested in a worker's.
const SHARED_TOKEN: u64 = u64::MAX - 1;

/// The low half of the token of an orphaned worker poller nested in the
/// shared one (the high half is its slot); descriptor tokens have a low
/// half below 2^20.
const ORPHAN_LOW: u32 = u32::MAX - 2;

/// Goroutines (and threads) that have recorded themselves as waiters and
/// not yet resumed. `SeqCst`: see the module note.
static WAITERS: AtomicUsize = AtomicUsize::new(0);

/// When any poll last returned (`crate::clock::now_nanos`), for the
/// monitor's check that somebody polls. Relaxed: only a heuristic reads it.
static LAST_POLL: AtomicU64 = AtomicU64::new(0);

/// The records and the shared poller, created on the first registration.
static NETPOLL: OnceLock<Netpoll> = OnceLock::new();

struct Netpoll {
    /// Sockets registered off the workers' threads (by a future polled
    /// elsewhere), and those of a worker whose own poller could not be had.
    /// Nobody blocks in it directly: it is nested in every worker's poller.
    shared: Epoll,
    /// When the shared poller was last polled (Relaxed, a heuristic).
    shared_polled: AtomicU64,
    slab: Slab,
}

/// A worker's poller: the sockets its goroutines registered, the shared
/// poller nested (level-triggered), and the eventfd that breaks its wait.
/// The scheduler keeps one per worker slot, made on the slot's first idle
/// once the netpoller exists.
pub(crate) struct Poller {
    epoll: Epoll,
    wake: EventFd,
    /// A wake write to the eventfd is outstanding (not yet drained), so
    /// another is not needed. `SeqCst`: see the module note.
    wake_pending: AtomicBool,
    /// When a poll of it last returned (Relaxed: the monitor's heuristic).
    last_poll: AtomicU64,
    /// Whether it is nested in the shared poller (its thread has no token,
    /// or exited) rather than nesting it; see [`Poller::orphan`]. Only the
    /// slot's thread of the moment changes it.
    orphaned: Mutex<bool>,
}

/// One direction of a descriptor.
#[derive(Default)]
struct Side {
    /// An event came since the waiter last looked.
    ready: bool,
    /// The goroutine (or thread) parked until the next event.
    waiter: Option<Unparker>,
    /// Where the waiter's stack was as it parked (`stack::stack_hint`): the
    /// event that takes the waiter out prefetches around it.
    stack_hint: usize,
    /// (Read side) an event said the peer closed or the socket failed; it
    /// stays so.
    hung_up: bool,
}

#[derive(Default)]
struct DescState {
    /// Bumped when the descriptor is deregistered.
    seq: u32,
    /// The worker's poller the descriptor is registered with (`None`: the
    /// shared one, or not registered).
    owner: Option<&'static Poller>,
    read: Side,
    write: Side,
}

impl DescState {
    fn side(&mut self, interest: Interest) -> &mut Side {
        match interest {
            Interest::Read => &mut self.read,
            Interest::Write => &mut self.write,
        }
    }
}

/// The poller's record of one registered descriptor; never freed.
struct PollDesc {
    index: u32,
    state: Mutex<DescState>,
}

impl PollDesc {
    fn lock(&self) -> MutexGuard<'_, DescState> {
        // Nothing panics under the lock; a poisoned state is still sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies an event of registration `seq`; returns who to unpark.
    fn ready(&self, seq: u32, event: &Event) -> [Option<Unparker>; 2] {
        let Event {
            readable,
            writable,
            hung_up,
            ..
        } = *event;
        let mut state = self.lock();
        if state.seq != seq {
            return [None, None]; // for a descriptor closed since
        }
        state.read.hung_up |= hung_up;
        [
            state.read.ready_now(readable),
            state.write.ready_now(writable),
        ]
    }
}

impl Side {
    /// If `event` reports this direction: takes the waiter out to be
    /// unparked, or, with none recorded, sets the flag.
    fn ready_now(&mut self, event: bool) -> Option<Unparker> {
        if !event {
            return None;
        }
        let waiter = self.waiter.take();
        // A goroutine learns of the event by being taken out; a future's
        // task (see `net::async_io`) from the flag, when it polls again.
        self.ready = matches!(waiter, None | Some(Unparker::Waker(_)));
        if waiter.is_some() {
            crate::stack::prefetch_stack(self.stack_hint);
        }
        waiter
    }
}

/// The records, allocated a chunk at a time and reused, never freed.
struct Slab {
    chunks: Box<[OnceLock<Box<[PollDesc]>>]>,
    free: Mutex<FreeList>,
}

#[derive(Default)]
struct FreeList {
    /// Records given back, to reuse first.
    reusable: Vec<u32>,
    /// The first index never handed out.
    fresh: u32,
}

impl Slab {
    fn new() -> Slab {
        Slab {
            chunks: (0..MAX_CHUNKS).map(|_| OnceLock::new()).collect(),
            free: Mutex::new(FreeList::default()),
        }
    }

    fn alloc(&self) -> io::Result<&PollDesc> {
        let index = {
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            match free.reusable.pop() {
                Some(index) => index,
                None if (free.fresh as usize) < CHUNK * MAX_CHUNKS => {
                    free.fresh += 1;
                    free.fresh - 1
                }
                None => return Err(io::Error::from_raw_os_error(libc::EMFILE)),
            }
        };
        let chunk = index as usize / CHUNK;
        let records = self.chunks[chunk].get_or_init(|| {
            (0..CHUNK)
                .map(|i| PollDesc {
                    index: (chunk * CHUNK + i) as u32,
                    state: Mutex::default(),
                })
                .collect()
        });
        Ok(&records[index as usize % CHUNK])
    }

    /// The record with `index`, if its chunk exists.
    fn get(&self, index: u32) -> Option<&PollDesc> {
        let chunk = self.chunks.get(index as usize / CHUNK)?.get()?;
        chunk.get(index as usize % CHUNK)
    }

    fn free(&self, desc: &PollDesc) {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        free.reusable.push(desc.index);
    }
}

/// An event token: the record's index and the registration's number.
fn token(index: u32, seq: u32) -> u64 {
    u64::from(seq) << 32 | u64::from(index)
}

fn untoken(token: u64) -> (u32, u32) {
    (token as u32, (token >> 32) as u32)
}

/// Creates the netpoller, and the calling worker's poller, now if they do
/// not exist yet, as a socket is made: each takes descriptors, and a
/// process that later runs out of them (`EMFILE`) must still be able to
/// wait on the sockets it has. A failure here is left for the first wait
/// to meet again.
pub(crate) fn start() {
    if netpoll().is_ok() {
        crate::scheduler::current_poller();
    }
}

/// The netpoller, created on first use.
fn netpoll() -> io::Result<&'static Netpoll> {
    if let Some(netpoll) = NETPOLL.get() {
        return Ok(netpoll);
    }
    static CREATING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(netpoll) = NETPOLL.get() {
        return Ok(netpoll);
    }
    let shared = Epoll::new()?;
    Ok(NETPOLL.get_or_init(|| Netpoll {
        shared,
        shared_polled: AtomicU64::new(0),
        slab: Slab::new(),
    }))
}

/// Worker pollers made (never freed: a worker slot keeps its poller for
/// the next thread that runs it).
static POLLERS: AtomicUsize = AtomicUsize::new(0);

impl Poller {
    /// A worker's poller, with the shared one nested in it (creating the
    /// netpoller if need be); an error if `limit` pollers exist already:
    /// each holds two descriptors, and a program whose goroutines held
    /// hundreds of threads (each idling with a token at some point) must
    /// not run out of descriptors for its sockets. A worker without one
    /// sleeps on its parker, and its goroutines' sockets go to the shared
    /// poller, which every other worker's nests.
    pub(crate) fn new(limit: usize) -> io::Result<Poller> {
        POLLERS
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| io::Error::other("as many network pollers as allowed exist"))?;
        Poller::open().inspect_err(|_| {
            POLLERS.fetch_sub(1, Ordering::Relaxed);
        })
    }

    fn open() -> io::Result<Poller> {
        let shared = &netpoll()?.shared;
        let epoll = Epoll::new()?;
        let wake = EventFd::new()?;
        epoll.add_level(wake.as_raw_fd(), WAKE_TOKEN)?;
        epoll.add_level(shared.as_raw_fd(), SHARED_TOKEN)?;
        Ok(Poller {
            epoll,
            wake,
            wake_pending: AtomicBool::new(false),
            orphaned: Mutex::new(false),
            last_poll: AtomicU64::new(0),
        })
    }

    /// Waits for events for at most `timeout` (`None`: until an event or
    /// [`wake`](Self::wake); `Some(ZERO)`: don't block), unparks every
    /// waiter whose socket became ready (`Unparker::unpark`: a goroutine
    /// goes to its home worker, or, if it migrates and this is a worker's
    /// thread, to this worker's run queue), and returns how many it
    /// unparked. Events of the nested shared poller are taken too.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> usize {
        let traced = crate::trace::slice_begins();
        let blocking = timeout != Some(Duration::ZERO);
        let mut events = Events::new();
        wait_for_events(&self.epoll, &mut events, timeout);
        self.last_poll
            .store(LAST_POLL.load(Ordering::Relaxed), Ordering::Relaxed);
        let mut unparked = 0;
        for event in events.iter() {
            match event.token {
                WAKE_TOKEN if blocking => {
                    // Only a blocking wait drains: the wakeup is meant for it.
                    self.wake.drain();
                    self.wake_pending.store(false, Ordering::SeqCst);
                }
                WAKE_TOKEN => {}
                SHARED_TOKEN => unparked += poll_shared(),
                _ => unparked += dispatch(&event),
            }
        }
        if blocking || unparked > 0 {
            let readied = unparked as u32;
            crate::trace::slice_ends(traced, crate::trace::Slice::Netpoll { readied, blocking });
        }
        unparked
    }

    /// Its thread gave up its token (and may exit): nests this poller in
    /// the shared one, token carrying `slot`, so that whichever worker
    /// sleeps in or polls its own poller (which nests the shared one) sees
    /// these sockets' events. The shared one leaves this poller first: an
    /// epoll may not (even for a moment) be nested in one it nests.
    pub(crate) fn orphan(&self, slot: usize) {
        let mut orphaned = self.orphaned.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(netpoll) = NETPOLL.get() else {
            return;
        };
        if *orphaned {
            return;
        }
        let _ = self.epoll.delete(netpoll.shared.as_raw_fd());
        let token = (slot as u64) << 32 | u64::from(ORPHAN_LOW);
        if netpoll
            .shared
            .add_level(self.epoll.as_raw_fd(), token)
            .is_ok()
        {
            *orphaned = true;
        } else {
            // Out of memory: left as it was, watched by the monitor only.
            let _ = self
                .epoll
                .add_level(netpoll.shared.as_raw_fd(), SHARED_TOKEN);
        }
    }

    /// Polls an orphaned poller without blocking, from another thread (an
    /// event of it came through the shared poller), draining its eventfd:
    /// a wake written for the thread that left would keep it readable, and
    /// every worker nesting the shared poller awake. Under the lock that
    /// [`adopt`](Self::adopt) takes, so that a wake meant for a thread
    /// blocked in it is never drained here.
    fn poll_orphaned(&self) -> usize {
        let orphaned = self.orphaned.lock().unwrap_or_else(PoisonError::into_inner);
        if !*orphaned {
            return 0;
        }
        self.wake.drain();
        self.wake_pending.store(false, Ordering::SeqCst);
        self.poll(Some(Duration::ZERO))
    }

    /// A thread with a token runs its slot again: undoes [`orphan`](Self::orphan).
    pub(crate) fn adopt(&self) {
        let mut orphaned = self.orphaned.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(netpoll) = NETPOLL.get() else {
            return;
        };
        if !*orphaned {
            return;
        }
        let _ = netpoll.shared.delete(self.epoll.as_raw_fd());
        // Fails only out of memory: then the shared poller's events reach
        // this thread through the other workers and the monitor.
        let _ = self
            .epoll
            .add_level(netpoll.shared.as_raw_fd(), SHARED_TOKEN);
        *orphaned = false;
    }

    /// Makes a blocked [`poll`](Self::poll) return soon (an eventfd write,
    /// skipped while an earlier one is still pending). The scheduler calls
    /// it only when it knows the worker is blocked in `poll`.
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            self.wake.signal();
        }
    }

    /// Nanoseconds since a [`poll`](Self::poll) of this poller last
    /// returned.
    pub(crate) fn since_last_poll(&self) -> u64 {
        since(&self.last_poll)
    }
}

/// `epoll_wait` into `events`; stamps [`LAST_POLL`].
fn wait_for_events(epoll: &Epoll, events: &mut Events, timeout: Option<Duration>) {
    if let Err(e) = epoll.wait(events, timeout) {
        // Only a bug (a bad descriptor or buffer) makes epoll_wait fail.
        eprintln!("fatal error: goro netpoll: epoll_wait failed: {e}");
        std::process::abort();
    }
    LAST_POLL.store(crate::clock::now_nanos(), Ordering::Relaxed);
}

/// Polls the shared poller without blocking; returns how many waiters it
/// unparked.
fn poll_shared() -> usize {
    let Some(netpoll) = NETPOLL.get() else {
        return 0;
    };
    let mut events = Events::new();
    wait_for_events(&netpoll.shared, &mut events, Some(Duration::ZERO));
    netpoll
        .shared_polled
        .store(LAST_POLL.load(Ordering::Relaxed), Ordering::Relaxed);
    events
        .iter()
        .map(|event| match untoken(event.token) {
            (ORPHAN_LOW, slot) => {
                crate::scheduler::slot_poller(slot as usize).map_or(0, Poller::poll_orphaned)
            }
            _ => dispatch(&event),
        })
        .sum()
}

/// Applies a socket's event: unparks its waiters, or sets its flags.
/// Returns how many it unparked.
fn dispatch(event: &Event) -> usize {
    let (index, seq) = untoken(event.token);
    let Some(desc) = NETPOLL.get().and_then(|n| n.slab.get(index)) else {
        return 0;
    };
    let waiters = desc.ready(seq, event);
    let unparked = waiters.iter().flatten().count();
    waiters.into_iter().flatten().for_each(wake);
    unparked
}

/// The monitor's backstop for the shared poller: polls it without blocking
/// if nobody has for `neglect`. Returns how many waiters it unparked.
pub(crate) fn poll_shared_if_neglected(neglect: Duration) -> usize {
    match NETPOLL.get() {
        Some(netpoll) if since(&netpoll.shared_polled) >= neglect.as_nanos() as u64 => {
            poll_shared()
        }
        _ => 0,
    }
}

fn since(stamp: &AtomicU64) -> u64 {
    crate::clock::now_nanos().saturating_sub(stamp.load(Ordering::Relaxed))
}

/// The epoll a registration's events go to: its worker's, or the shared.
fn epoll_of(owner: Option<&'static Poller>) -> &'static Epoll {
    match owner {
        Some(poller) => &poller.epoll,
        None => {
            &NETPOLL
                .get()
                .expect("a registration implies the netpoller")
                .shared
        }
    }
}

/// A socket registered with the netpoller. Dropping it deregisters the
/// socket, which must still be open then.
pub(crate) struct Registration {
    desc: &'static PollDesc,
    seq: u32,
    fd: RawFd,
}

/// Registers an open, non-blocking socket with the calling worker's poller
/// (off the workers, or without a poller of its own: with the shared one),
/// creating the netpoller on first use. Keep `fd` open until the
/// registration is dropped.
pub(crate) fn register(fd: BorrowedFd<'_>) -> io::Result<Registration> {
    let slab = &netpoll()?.slab;
    let desc = slab.alloc()?;
    let owner = crate::scheduler::current_poller();
    let mut state = desc.lock();
    let seq = state.seq;
    if let Err(e) = epoll_of(owner).add_edge(fd.as_raw_fd(), token(desc.index, seq)) {
        drop(state);
        slab.free(desc);
        return Err(e);
    }
    state.owner = owner;
    Ok(Registration {
        desc,
        seq,
        fd: fd.as_raw_fd(),
    })
}

impl Registration {
    /// Waits until the socket may be readable (an event came since the
    /// last wait), or `deadline` passes: then the error is `EAGAIN`
    /// ([`timed_out`]), as from a socket whose `SO_RCVTIMEO` expired.
    #[track_caller]
    pub(crate) fn wait_read(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.wait(Interest::Read, deadline)
    }

    /// Whether an event has said the peer closed its end (or the socket
    /// failed): then a read returns at once, and end of stream may be
    /// pending even after a read that returned data.
    pub(crate) fn read_hung_up(&self) -> bool {
        self.desc.lock().read.hung_up
    }

    /// As [`wait_read`](Self::wait_read), for writing.
    #[track_caller]
    pub(crate) fn wait_write(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.wait(Interest::Write, deadline)
    }

    #[track_caller]
    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        let displaced = {
            let mut state = self.desc.lock();
            self.check_open(&state)?;
            let side = state.side(interest);
            if std::mem::take(&mut side.ready) {
                return Ok(());
            }
            self.follow_waiter(&mut state, interest);
            let side = state.side(interest);
            // A future's waker (mixed blocking and async use): it is woken,
            // and finds the goroutine waiting when it polls again.
            let displaced = side.waiter.take();
            debug_assert!(
                matches!(displaced, None | Some(Unparker::Waker(_))),
                "two goroutines waiting on one direction"
            );
            side.waiter = Some(Unparker::current());
            side.stack_hint = crate::stack::stack_hint();
            WAITERS.fetch_add(1, Ordering::SeqCst);
            displaced
        };
        displaced.into_iter().for_each(wake);
        let result = self.park_as_waiter(interest, deadline);
        WAITERS.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Moves the registration to the calling worker's poller if it is with
    /// another (a socket made on one thread and handed to a goroutine of
    /// another), so that the event that wakes us reaches our own thread.
    /// Not while the other direction has a waiter, whose poller it is. The
    /// socket is added to ours before it leaves the other: an event either
    /// is queued in one of them, or, queued in the old one and dropped with
    /// it, still holds as the socket's state, which the add reports.
    fn follow_waiter(&self, state: &mut DescState, interest: Interest) {
        let Some(here) = crate::scheduler::current_poller() else {
            return;
        };
        let other = match interest {
            Interest::Read => &state.write,
            Interest::Write => &state.read,
        };
        if state.owner.is_some_and(|p| std::ptr::eq(p, here)) || other.waiter.is_some() {
            return;
        }
        if here
            .epoll
            .add_edge(self.fd, token(self.desc.index, self.seq))
            .is_ok()
        {
            let _ = epoll_of(state.owner).delete(self.fd);
            state.owner = Some(here);
        }
    }

    /// Parks until an event (or the deregistration) takes our waiter entry
    /// out, or until `deadline`, when we take it out ourselves.
    #[track_caller]
    fn park_as_waiter(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        let why = WaitReason::IoWait.here();
        loop {
            let expired = match deadline {
                Some(deadline) => park::park_until(deadline, why),
                None => {
                    park::park(why);
                    false
                }
            };
            let mut state = self.desc.lock();
            self.check_open(&state)?;
            let side = state.side(interest);
            if side.waiter.is_none() {
                return Ok(()); // an event took us out
            }
            if expired {
                side.waiter = None;
                return Err(timed_out());
            }
            // A stale wakeup: park again.
        }
    }

    /// A future's readiness poll (see `net::async_io`): ready if an event
    /// came since the flag was last consumed (consuming it); else records
    /// `waker` as the direction's waiter, counted among the [`WAITERS`]
    /// until an event or the deregistration takes it out, replacing an
    /// earlier poll's. An error if the socket was closed, or if a
    /// goroutine's blocking call waits on the direction.
    pub(crate) fn poll_ready(
        &self,
        interest: Interest,
        waker: &std::task::Waker,
    ) -> std::task::Poll<io::Result<()>> {
        use std::task::Poll;
        let mut state = self.desc.lock();
        if let Err(e) = self.check_open(&state) {
            return Poll::Ready(Err(e));
        }
        let side = state.side(interest);
        if std::mem::take(&mut side.ready) {
            return Poll::Ready(Ok(()));
        }
        let replaced = match &side.waiter {
            Some(Unparker::Waker(old)) if old.will_wake(waker) => return Poll::Pending,
            Some(Unparker::Waker(_)) => side.waiter.replace(Unparker::waker(waker)),
            Some(_) => return Poll::Ready(Err(io::Error::other(TAKEN))),
            None => {
                WAITERS.fetch_add(1, Ordering::SeqCst);
                side.waiter = Some(Unparker::waker(waker));
                None
            }
        };
        drop(state);
        drop(replaced);
        Poll::Pending
    }

    fn check_open(&self, state: &DescState) -> io::Result<()> {
        if state.seq == self.seq {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "use of closed network connection",
            ))
        }
    }
}

impl Drop for Registration {
    /// Leaves epoll, invalidates events in flight, wakes any waiter (with an
    /// error), and gives the record back for reuse.
    fn drop(&mut self) {
        let waiters = {
            let mut guard = self.desc.lock();
            let state = &mut *guard;
            // Fails only if the descriptor is not registered or not open,
            // which the socket layer rules out; nothing to undo either way.
            let _ = epoll_of(state.owner.take()).delete(self.fd);
            state.seq = state.seq.wrapping_add(1);
            [&mut state.read, &mut state.write].map(|side| std::mem::take(side).waiter)
        };
        waiters.into_iter().flatten().for_each(wake);
        let netpoll = NETPOLL.get().expect("a registration implies the netpoller");
        netpoll.slab.free(self.desc);
    }
}

/// The error of a future's readiness poll on a direction a goroutine waits
/// on.
const TAKEN: &str = "a goroutine's blocking call waits on this socket in the same direction";

/// Wakes a waiter taken out of a direction. A future's waker is uncounted
/// from the [`WAITERS`] once woken (its goroutine, if `block_on` runs it,
/// is then on a run queue); a goroutine uncounts itself when it runs.
fn wake(waiter: Unparker) {
    let task = matches!(waiter, Unparker::Waker(_));
    waiter.unpark();
    if task {
        WAITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The error of a wait whose deadline passed: `EAGAIN`, which std's socket
/// calls return when their timeout expires (`ErrorKind::WouldBlock`).
pub(crate) fn timed_out() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

/// Whether the netpoller exists (some socket was ever made). Cheap: one
/// atomic load.
pub(crate) fn initialized() -> bool {
    NETPOLL.get().is_some()
}

/// Goroutines (and threads) currently parked waiting for I/O readiness
/// (counted until they run again).
pub(crate) fn waiters() -> usize {
    WAITERS.load(Ordering::SeqCst)
}

/// Nanoseconds since any poll last returned.
pub(crate) fn since_last_poll() -> u64 {
    since(&LAST_POLL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn nonblocking_pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Pollers are made up to the limit, then refused.
    #[test]
    fn pollers_stop_at_their_limit() {
        // Other tests make pollers too (the count only grows).
        let limit = POLLERS.load(Ordering::Relaxed) + 3;
        let made: Vec<_> = std::iter::from_fn(|| Poller::new(limit).ok())
            .take(4)
            .collect();
        assert!(made.len() <= 3);
        assert!(Poller::new(limit).is_err());
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(untoken(token(5, u32::MAX)), (5, u32::MAX));
        assert_ne!(token((CHUNK * MAX_CHUNKS) as u32, u32::MAX), WAKE_TOKEN);
    }

    /// An event for a registration that was dropped (and whose record was
    /// reused) is ignored.
    #[test]
    fn an_event_of_a_closed_registration_is_stale() {
        let (a, _b) = nonblocking_pair();
        let old = register(std::os::fd::AsFd::as_fd(&a)).unwrap();
        let (desc, seq) = (old.desc, old.seq);
        drop(old);
        let both = Event {
            token: 0,
            readable: true,
            writable: true,
            hung_up: false,
        };
        assert_eq!(desc.ready(seq, &both).iter().flatten().count(), 0);
        let state = desc.lock();
        assert!(!state.read.ready && !state.write.ready);
    }

    /// A waiter parked on a socket whose registration is dropped wakes with
    /// an error instead of sleeping forever.
    #[test]
    fn deregistering_wakes_a_waiter_with_an_error() {
        let (a, _b) = nonblocking_pair();
        let registration = register(std::os::fd::AsFd::as_fd(&a)).unwrap();
        // A second handle on the same registration that never deregisters,
        // for the waiter, so this thread can drop the real one meanwhile.
        let view = std::mem::ManuallyDrop::new(Registration {
            desc: registration.desc,
            seq: registration.seq,
            fd: registration.fd,
        });
        let waiter = crate::spawn(move || view.wait_read(None));
        // Either the waiter parks first (and is woken by the drop), or it
        // finds the registration gone: both must end in the error.
        while WAITERS.load(Ordering::SeqCst) == 0 && !waiter.is_finished() {
            std::thread::yield_now();
        }
        drop(registration);
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    }

    /// Data written to a socket wakes the goroutine waiting to read it.
    #[test]
    fn a_readable_event_wakes_the_reader() {
        let (a, mut b) = nonblocking_pair();
        let reader = crate::spawn(move || {
            let registration = register(std::os::fd::AsFd::as_fd(&a)).unwrap();
            let mut buf = [0u8; 4];
            loop {
                match (&a).read(&mut buf) {
                    Ok(n) => return buf[..n].to_vec(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        registration.wait_read(None).unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        });
        b.write_all(b"ping").unwrap();
        assert_eq!(reader.join().unwrap(), b"ping");
    }
}
