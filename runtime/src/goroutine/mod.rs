//! Goroutines: how one is born, runs, parks and dies.
//!
//! A goroutine is a [`G`]: an id, an optional name, a park state (see
//! `park`), a join state, a context that only the worker running it touches,
//! and, inline at its end, its body: the closure and the slot its result goes
//! to. So `spawn` makes one allocation, and puts the `G` on a run queue; no
//! stack is taken yet. Before its first run the worker starts it
//! ([`G::start`]: lists it in the registry, binds a stack from the worker's
//! cache and wraps the closure in a corosensei coroutine). The goroutine
//! runs until it yields (Gosched), parks (a blocking primitive), or
//! returns; the worker then requeues it, completes the park, or takes its
//! stack back and drops it.
//!
//! # Contract with the scheduler
//! What the scheduler asks of a goroutine, and nothing else:
//! - [`scheduler::admit`] at spawn (its home worker, id and count), then
//!   [`scheduler::spawn`] to queue it;
//! - [`G::is_unstarted`] and [`G::start`] before its first run, then
//!   [`G::resume`], which returns an [`Outcome`] when it switches out;
//! - `park::complete_park` after [`Outcome::Parked`].
//!
//! What a goroutine asks of the scheduler, and nothing else:
//! - [`switch_out`] with a [`Switch`] (yield, park, park under a lock),
//!   called by `yield_now` and by `park`, never by anything else;
//! - `scheduler::ready` (through `park::unpark`) to make a woken goroutine
//!   runnable. It never calls up into its worker: everything the worker
//!   must do for it is done between two resumes.
//!
//! # Thread-locals and migration
//! A goroutine may resume on another worker than the one it parked on. LLVM
//! may keep the address of a thread-local in a register across a call, and
//! the context switch is such a call, so a cached address could name the old
//! thread's slot. Every read of the runtime's thread-locals therefore goes
//! through an `#[inline(never)]` accessor (`current_ptr`, and the
//! scheduler's `current_worker`), which computes the address afresh.
//!
//! # Parking in the caller's frame
//! corosensei resumes a coroutine with a `call` and suspends it with a
//! `ret`, so the CPU's return-address predictor pairs the two, as long as
//! the goroutine's own calls and returns in between balance. They do not
//! when the switch sits in a function below the code that goes on after
//! it: on resuming, the goroutine returns out of frames it entered before
//! it parked, each return mispredicted, and the one predictor entry
//! misaligned that way makes its next suspend and the scheduler's returns
//! miss too. So the blocking path that hand-offs take (a channel `send` or
//! `recv` that parks: `chan::op::run_blocking`, `park::park_unlocking`,
//! `park::switch_out_waiting`, [`switch_out`], corosensei's `suspend`) is
//! inlined, down to the switch, into the function that called `send` or
//! `recv`; what it calls before the switch (enqueueing, the clock) returns
//! before it.
//!
//! # `Send`
//! `G` holds a corosensei `Coroutine`, which is `!Send` because in general a
//! stack may hold `!Send` data across a suspension. A goroutine's closure is
//! `Send + 'static`, and the runtime's own frames on its stack hold only
//! `Send` data across a switch (see the `unsafe impl`s below); what users hold
//! across a blocking call is the subject of `docs/safety.md`.

use crate::park::{Unparker, WaitReason};
use crate::registry::{self, Links};
use crate::scheduler;
use crate::spin::SpinLock;
use crate::stack::{self, Bounds, Stack};
use crate::timers::Sleep;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

mod handle;
pub use handle::{spawn, Builder, GoroutineId, JoinHandle};

/// A shared reference to a goroutine.
pub(crate) type GRef = Arc<G>;

/// `G::pin` of a goroutine not started yet.
const NOT_PINNED: u32 = u32::MAX;
/// `G::pin` of a goroutine that may resume on any worker.
const MIGRATES: u32 = u32::MAX - 1;

/// A goroutine waiting to run, as the run queues and `runnext` hold it: an
/// owned reference like a [`GRef`], in one word (a `GRef` carries the
/// body's vtable too), so a queue slot, a register or an atomic holds it.
pub(crate) struct Runnable(NonNull<u8>);

// SAFETY: it owns a reference to a `G`, which is `Send + Sync`; through a
// shared `&Runnable` one can only reach `&G` and clone (an atomic count).
unsafe impl Send for Runnable {}
// SAFETY: as above.
unsafe impl Sync for Runnable {}

impl Runnable {
    /// Takes over `g`'s reference.
    pub(crate) fn new(g: GRef) -> Runnable {
        let thin = Arc::into_raw(g) as *mut u8;
        // SAFETY: `Arc::into_raw` never returns null.
        Runnable(unsafe { NonNull::new_unchecked(thin) })
    }

    /// The raw word, owning the reference (for an atomic slot).
    pub(crate) fn into_raw(self) -> *mut u8 {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// A new owned reference to the running goroutine `g`, made from the
    /// one its worker holds while it runs (for a goroutine that parks
    /// publishing its own handle, see `park::park_unlocking`).
    ///
    /// # Safety
    /// The worker's reference must be forgotten in exchange (it does so on
    /// [`Outcome::ParkedUnlocking`]).
    pub(crate) unsafe fn adopt(g: &G) -> Runnable {
        Runnable(NonNull::from(g).cast())
    }

    /// Takes back a word made by [`Runnable::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `into_raw` and is taken back once.
    pub(crate) unsafe fn from_raw(raw: *mut u8) -> Runnable {
        // SAFETY: non-null, as `into_raw` made it from a `NonNull`.
        Runnable(unsafe { NonNull::new_unchecked(raw) })
    }
}

impl Clone for Runnable {
    fn clone(&self) -> Runnable {
        // SAFETY: the reference we own keeps the allocation alive, and
        // `&**self` is the pointer `Arc::into_raw` gave (see `Drop`).
        unsafe { Arc::increment_strong_count(&**self as *const G) };
        Runnable(self.0)
    }
}

impl std::ops::Deref for Runnable {
    type Target = G;

    fn deref(&self) -> &G {
        // SAFETY: the reference we own keeps the `G` alive, and the word is
        // its thin address.
        unsafe { G::from_thin(self.0.as_ptr()) }
    }
}

impl Drop for Runnable {
    fn drop(&mut self) {
        let this = &**self as *const G;
        // SAFETY: `this` is the pointer `Arc::into_raw` gave in `new` (with
        // its vtable); the reference we own is released.
        drop(unsafe { Arc::from_raw(this) });
    }
}

/// Join states (`G::join_state`): the goroutine runs; a joiner is recorded
/// in `G::joiner` and waits; the result is in the body; the handle was
/// dropped before the goroutine finished, so the goroutine drops its own
/// result (on its own stack, where a destructor's panic is caught).
const UNJOINED: u8 = 0;
const JOINING: u8 = 1;
const DONE: u8 = 2;
const DETACHED: u8 = 3;

/// Why a goroutine switched back to its worker.
pub(crate) enum Switch {
    /// `yield_now`: requeue at the back.
    Yield,
    /// A blocking primitive: complete the park.
    Park,
    /// `park::park_unlocking`: the goroutine is parked; release this lock.
    ParkUnlocking(*const SpinLock),
}

type GoCoroutine = Coroutine<(), Switch, (), Stack>;

/// A goroutine; `E` is its body, erased to `dyn Entry` behind a [`GRef`].
/// `repr(C)` puts `this` first, at the same offset for every `E`, so a
/// thin pointer to a `G` finds its own full pointer (see [`Runnable`]).
///
/// A million parked goroutines hold a million records, so the record is
/// kept small: byte-sized fields share a word, rarely used parts take one
/// word (the boxed name, the goroutine-local map), the registry links are
/// thin, and the stack allocated at spawn shares a field with the
/// coroutine that later holds it (at most 248 bytes with a one-word
/// closure; a test holds it there). The
/// fields the spawning worker alone writes come first, those the running
/// worker writes after them.
#[repr(C)]
pub(crate) struct G<E: ?Sized + Entry = dyn Entry> {
    /// Its own `GRef` pointer (with the body's vtable); written once at
    /// spawn, before anyone else can see the `G`.
    this: UnsafeCell<*const G>,
    id: u64,
    /// Its name, if it was given one (boxed twice: one word here).
    name: Option<Box<Box<str>>>,
    /// Where it was spawned.
    spawned_at: &'static Location<'static>,
    /// Its place in its registry list; guarded by that list's lock.
    links: UnsafeCell<Links>,
    /// The worker that allocated it (`u32::MAX` for a plain thread, see
    /// [`G::home`]): the memory goes back there, so the C allocator frees
    /// it on the thread that allocated it (see `scheduler::Worker::release`).
    home: u32,
    /// The registry list it is on (see `inspect`), or `inspect::UNLISTED`:
    /// set when it first runs, cleared when it finishes (or is freed
    /// unfinished); touched only by its owner of the moment, the worker
    /// running it or the thread freeing it.
    list: UnsafeCell<u32>,
    /// The worker slot whose thread it runs on for life, once started
    /// ([`NOT_PINNED`] before; [`MIGRATES`] for a goroutine spawned with
    /// Go's full model, `Builder::migratory` or `goro::enable_migration`,
    /// which may resume on any worker). Written once by the worker that
    /// starts it, before anyone can wake it; read by wakers, who own the
    /// goroutine through the park protocol (see `park`), which orders the
    /// write before their read.
    pin: UnsafeCell<u32>,
    /// Its park state (see `park`).
    pub(crate) park_state: AtomicU8,
    /// `UNJOINED -> JOINING -> DONE`, `UNJOINED -> DONE` or
    /// `UNJOINED -> DETACHED -> DONE` (the handle dropped first); the
    /// handle's owner may also CAS `JOINING -> UNJOINED` to take `joiner`
    /// back (a handle polled as a future, see `future`). The finishing
    /// goroutine swaps in `DONE` (`AcqRel`: publishes the result, and sees
    /// the joiner recorded before `JOINING`); the joiner CASes `JOINING`
    /// (`AcqRel`) after writing `joiner`, and reads the result after seeing
    /// `DONE` (`Acquire`).
    join_state: AtomicU8,
    /// Why it is parked (`WaitReason`), with `wait_since`; written by the
    /// goroutine itself, read by `dump` (relaxed: a snapshot).
    pub(crate) wait: AtomicU8,
    /// The next goroutine in its home's `Returned` list, while in it
    /// (after it finished). Before that, the word holds the execution
    /// trace's flow from its last wake (or spawn) to its next run, 0 if
    /// none (see [`G::set_trace_flow`]): the record has no room for
    /// another word, and the two uses never overlap.
    returned_next: UnsafeCell<*mut u8>,
    /// Since when it waits (coarse clock), with `wait`.
    pub(crate) wait_since: AtomicU64,
    /// Where it called the blocking operation it waits in (the caller's
    /// `#[track_caller]` location), with `wait`; null before its first park.
    pub(crate) blocked_at: AtomicPtr<Location<'static>>,
    /// Its stack pointer as it last switched out (0 before): where
    /// `traceback` finds the registers the switch saved, and around which
    /// a timer that wakes it prefetches its stack. Relaxed: a snapshot.
    pub(crate) parked_sp: AtomicUsize,
    /// The waiting joiner; written by the handle's owner before `JOINING`,
    /// read by the finisher after.
    joiner: UnsafeCell<Option<Unparker>>,
    /// Its own timer for timed parks (see `timer::Sleep`).
    pub(crate) sleep: Sleep,
    ctx: UnsafeCell<RunState>,
    /// The closure, then its result. Run by the goroutine; the result is
    /// taken by the joiner after `DONE`.
    body: UnsafeCell<E>,
}

impl<E: ?Sized + Entry> G<E> {
    /// Its registry links (see `inspect`).
    pub(crate) fn links(&self) -> *mut Links {
        self.links.get()
    }

    /// Its thin address: what a [`Runnable`] and the registry links hold.
    pub(crate) fn thin(&self) -> *const u8 {
        (self as *const G<E>).cast()
    }

    /// The worker that allocated it (`scheduler::NO_HOME` for a plain
    /// thread).
    pub(crate) fn home(&self) -> usize {
        match self.home {
            u32::MAX => scheduler::NO_HOME,
            index => index as usize,
        }
    }

    /// The link to the next goroutine in its home's `Returned` list, while
    /// it is in one (see `scheduler::queues`).
    pub(crate) fn returned_link(&self) -> *mut *mut u8 {
        self.returned_next.get()
    }

    /// Records the execution trace's flow from this wake (or spawn) to its
    /// next run (see `trace`).
    ///
    /// # Safety
    /// The caller owns the goroutine, which has not finished: it is waking
    /// or spawning it.
    pub(crate) unsafe fn set_trace_flow(&self, id: u64) {
        // SAFETY: by the contract, nobody else touches the word, which no
        // `Returned` list uses before the goroutine finishes.
        unsafe { *self.returned_next.get() = id as usize as *mut u8 };
    }

    /// Takes the flow [`set_trace_flow`](Self::set_trace_flow) recorded
    /// (0 if none).
    ///
    /// # Safety
    /// The caller owns the goroutine, which has not finished: it is about
    /// to run it.
    pub(crate) unsafe fn take_trace_flow(&self) -> u64 {
        // SAFETY: as for `set_trace_flow`.
        unsafe { std::mem::replace(&mut *self.returned_next.get(), std::ptr::null_mut()) as u64 }
    }

    /// The registry list it is on, or `registry::UNLISTED`.
    ///
    /// # Safety
    /// The caller owns the goroutine: runs it, or is freeing it.
    pub(crate) unsafe fn registry_list(&self) -> u32 {
        // SAFETY: by the contract, nobody else touches the field meanwhile.
        unsafe { *self.list.get() }
    }

    /// Records the registry list it is on.
    ///
    /// # Safety
    /// As [`registry_list`](Self::registry_list).
    pub(crate) unsafe fn set_registry_list(&self, list: u32) {
        // SAFETY: by the contract, nobody else touches the field meanwhile.
        unsafe { *self.list.get() = list };
    }
}

impl G {
    /// The registry links of the goroutine at a thin address, found without
    /// reading the `G`: `repr(C)` puts `links` at the same offset whatever
    /// the body (only `body`, last, depends on it).
    ///
    /// # Safety
    /// `thin` is the address of a live `G`.
    pub(crate) unsafe fn links_at(thin: *const u8) -> *mut Links {
        let offset = std::mem::offset_of!(G<Body<fn(), ()>>, links);
        // SAFETY: in bounds of the live `G` at `thin`, by the above.
        unsafe { thin.add(offset) as *mut Links }
    }

    /// The goroutine at a thin address (see [`G::thin`]).
    ///
    /// # Safety
    /// `thin` is the address of a live `G`, which outlives `'a`.
    pub(crate) unsafe fn from_thin<'a>(thin: *const u8) -> &'a G {
        // SAFETY: `repr(C)` puts `this` at offset 0 whatever the body, and
        // spawn wrote it before the address was handed to anyone.
        unsafe { &**(*thin.cast::<UnsafeCell<*const G>>()).get() }
    }
}

impl<E: ?Sized + Entry> Drop for G<E> {
    fn drop(&mut self) {
        // A goroutine parked forever, then dropped, leaves the registry
        // with its memory (a finished one has left it already).
        // SAFETY: `&mut self`: we own it.
        unsafe { registry::unregister(self) };
    }
}

/// How far a goroutine has got; one field for its stack before it first
/// runs and its coroutine after.
enum Frame {
    /// Not run yet; holds the stack allocated at spawn for a non-default
    /// size, if one was asked for.
    Unstarted(Option<Stack>),
    /// Started: the coroutine holds its stack.
    Running(GoCoroutine),
    /// Returned; its stack went back to the worker.
    Finished,
}

/// The part of a goroutine only its current runner touches.
struct RunState {
    frame: Frame,
    /// Valid while the coroutine runs; set on its first resume.
    yielder: *const Yielder<(), Switch>,
    /// Where its stack lies, for the overflow report; none before the
    /// first run.
    bounds: Bounds,
    /// Goroutine-local values (`goroutine_local!`), dropped at exit.
    locals: LocalMap,
}

// SAFETY: `ctx` is only accessed by the one worker that owns the goroutine
// at that moment: the worker that popped it from a run queue (queues hand a
// G to exactly one popper) while it runs, and nobody while it is parked (the
// park protocol hands it to exactly one unparker, which only enqueues it).
// `body` is used by the goroutine until it stores its result and publishes
// `DONE`, and by the joiner only after it sees `DONE`; `joiner` is handed
// over the same way (see `join_state`). The body is `Send`; the coroutine's
// stack holds it and runtime frames that keep only `Send` data across a
// switch, so moving it between threads is sound under the rules in
// docs/safety.md.
unsafe impl<E: ?Sized + Entry> Send for G<E> {}
// SAFETY: shared access is limited to `id`, `name` (immutable), the atomics,
// `sleep` (which is `Sync`), the cells whose hand-over is argued above, and
// `returned_next`, written by the one thread handing a finished goroutine
// back and read by its home only after that hand-over (see `Returned`).
unsafe impl<E: ?Sized + Entry> Sync for G<E> {}

/// A goroutine's body, type-erased: the closure and then its result.
pub(crate) trait Entry: Send {
    /// Runs the closure (on the goroutine's stack) and stores its result.
    fn run(&mut self);
    /// The goroutine could not get a stack: store `error` as its result.
    fn abandon(&mut self, error: io::Error);
    /// The result slot, an `Option<std::thread::Result<T>>`.
    fn result(&mut self) -> &mut dyn Any;
    /// Replaces the result with the panic `payload` (a goroutine-local's
    /// destructor panicked after the body returned); the old result is
    /// dropped here, a panic of its destructor caught and forgotten.
    fn fail(&mut self, payload: Box<dyn Any + Send>);
    /// Drops the result, here; its destructor may panic.
    fn drop_result(&mut self);
}

struct Body<F, T> {
    f: Option<F>,
    result: Option<std::thread::Result<T>>,
}

impl<F, T> Entry for Body<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send + 'static,
{
    fn run(&mut self) {
        let f = self.f.take().expect("a goroutine runs once");
        self.result = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    }

    fn abandon(&mut self, error: io::Error) {
        crate::panic::report_abandoned(&error);
        self.f = None;
        self.result = Some(Err(Box::new(error.to_string())));
    }

    fn result(&mut self) -> &mut dyn Any {
        &mut self.result
    }

    fn fail(&mut self, payload: Box<dyn Any + Send>) {
        let old = self.result.replace(Err(payload));
        drop_catching(move || drop(old));
    }

    fn drop_result(&mut self) {
        self.result = None;
    }
}

/// Runs `f` (a drop), catching a panic: the panic hook has reported it, as
/// a panic of the running goroutine, and its payload is forgotten rather
/// than dropped (whose destructor might panic again).
fn drop_catching(f: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        std::mem::forget(payload);
    }
}

impl G {
    /// The goroutine's id (1 and up, never reused).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The goroutine's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref().map(|name| &**name)
    }

    /// Runs the started goroutine on the calling worker until it next
    /// switches out.
    ///
    /// # Safety
    /// The caller must own the goroutine: it popped it from a run queue (or
    /// created it) and nobody else runs it, and has [started](Self::start)
    /// it. Called on the worker's own stack.
    #[inline]
    pub(crate) unsafe fn resume(&self) -> Outcome {
        // SAFETY: exclusive by the caller's contract.
        let ctx = unsafe { &mut *self.ctx.get() };
        let Frame::Running(coroutine) = &mut ctx.frame else {
            // SAFETY: the caller started the goroutine, and a finished one
            // is never resumed (both by the contract): its frame is running.
            unsafe { std::hint::unreachable_unchecked() }
        };
        set_current(self);
        let result = coroutine.resume(());
        set_current(null_g());
        match result {
            CoroutineResult::Yield(Switch::Yield) => Outcome::Yielded,
            CoroutineResult::Yield(Switch::Park) => Outcome::Parked,
            CoroutineResult::Yield(Switch::ParkUnlocking(lock)) => Outcome::ParkedUnlocking(lock),
            CoroutineResult::Return(()) => match std::mem::replace(&mut ctx.frame, Frame::Finished)
            {
                Frame::Running(coroutine) => Outcome::Finished(Some(coroutine.into_stack())),
                _ => unreachable!("it just returned"),
            },
        }
    }

    /// Before its first run on worker slot `worker`: pins the goroutine to
    /// that slot's thread (unless it migrates), lists it in registry
    /// `shard` and binds a stack (its own, if it was spawned with one, else
    /// `take_stack`'s), or, when none can be had, finishes it with the error
    /// as its result. Returns whether it can run. Out of line: it happens
    /// once per goroutine.
    ///
    /// # Safety
    /// The caller owns the goroutine, which has not started, and runs it on
    /// the thread of slot `worker`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn start(
        &self,
        worker: usize,
        shard: usize,
        take_stack: impl FnOnce() -> io::Result<Stack>,
    ) -> bool {
        // SAFETY: we own the goroutine; nobody can wake it before it first
        // parks, after this write (see `pin`).
        unsafe {
            if *self.pin.get() == NOT_PINNED {
                // Slot indices are below `MAX_THREADS`.
                *self.pin.get() = worker as u32;
            }
        }
        // SAFETY: we own the goroutine, by the caller's contract.
        unsafe { registry::register(self, shard) };
        // SAFETY: exclusive by the caller's contract.
        let ctx = unsafe { &mut *self.ctx.get() };
        match ctx.bind_stack(take_stack) {
            Ok(()) => true,
            Err(error) => {
                // SAFETY: the goroutine never ran, so nobody else uses its body.
                unsafe { (*self.body.get()).abandon(error) };
                self.finish();
                false
            }
        }
    }

    /// The worker slot it is pinned to: started, and not migrating.
    ///
    /// # Safety
    /// The caller owns the goroutine: it runs it, took it off a queue, or
    /// is waking it through the park protocol.
    #[inline]
    pub(crate) unsafe fn pinned_to(&self) -> Option<usize> {
        // SAFETY: written once before the goroutine could be queued again
        // or woken, which orders it before the caller's ownership.
        match unsafe { *self.pin.get() } {
            NOT_PINNED | MIGRATES => None,
            slot => Some(slot as usize),
        }
    }

    /// Whether it has never run.
    ///
    /// # Safety
    /// The caller owns the goroutine (popped it from a run queue).
    pub(crate) unsafe fn is_unstarted(&self) -> bool {
        // SAFETY: by the contract, nobody else touches `ctx` meanwhile.
        matches!(unsafe { &(*self.ctx.get()).frame }, Frame::Unstarted(_))
    }

    /// Whether its body has returned (or panicked, or never got a stack).
    pub(crate) fn finished(&self) -> bool {
        self.join_state.load(Ordering::Acquire) == DONE
    }

    /// Where it was spawned.
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// Why it waits and since when (coarse nanoseconds).
    pub(crate) fn wait_state(&self) -> (WaitReason, u64) {
        let reason = WaitReason::from_u8(self.wait.load(Ordering::Relaxed));
        (reason, self.wait_since.load(Ordering::Relaxed))
    }

    /// Where it called the blocking operation it waits in, or last waited
    /// in (`None` if it never parked).
    pub(crate) fn blocked_at(&self) -> Option<&'static Location<'static>> {
        let at = self.blocked_at.load(Ordering::Relaxed);
        // SAFETY: the pointer is null or came from a `&'static Location`.
        unsafe { at.as_ref() }
    }

    /// Takes the goroutine off its registry list, publishes the stored
    /// result and wakes the joiner, if one waits.
    fn finish(&self) {
        // SAFETY: the goroutine finishing owns itself (it runs).
        unsafe { registry::unregister(self) };
        match self.join_state.swap(DONE, Ordering::AcqRel) {
            JOINING => {
                // SAFETY: the joiner wrote `joiner` before its CAS to
                // JOINING, which our swap observed; it no longer touches it.
                if let Some(joiner) = unsafe { (*self.joiner.get()).take() } {
                    joiner.unpark();
                }
            }
            // SAFETY: the handle is gone (its CAS to DETACHED, which our
            // swap observed, was its last touch), so the result is ours.
            DETACHED => drop_catching(|| unsafe { (*self.body.get()).drop_result() }),
            _ => {}
        }
    }

    /// The guard page of this goroutine's stack (`(0, 0)` before it runs).
    pub(crate) fn guard(&self) -> (usize, usize) {
        // SAFETY: read only by the thread running this goroutine (the
        // overflow handler on that thread), which owns `ctx`. The page size
        // was cached before any stack was mapped, so reading it from the
        // signal handler is one atomic load.
        unsafe { (*self.ctx.get()).bounds }.guard()
    }
}

impl G {
    /// One more counted reference to this goroutine's record.
    ///
    /// # Safety
    /// The record is alive while this runs: a reference to it is held
    /// (the registry's, for a goroutine listed under a held list lock).
    pub(crate) unsafe fn counted(&self) -> GRef {
        let ptr: *const G = self;
        // SAFETY: every record is allocated in an `Arc` (see `spawn`), and
        // it is alive (the caller's contract), so counting one more strong
        // reference and owning it is sound.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }

    /// Usable bytes of this goroutine's stack (0 before it runs).
    pub(crate) fn stack_size(&self) -> usize {
        // SAFETY: as for `guard`.
        unsafe { (*self.ctx.get()).bounds }.usable()
    }
}

impl RunState {
    /// Gives the goroutine a stack and wraps its body in a coroutine.
    fn bind_stack(&mut self, take_stack: impl FnOnce() -> io::Result<Stack>) -> io::Result<()> {
        let stack = match std::mem::replace(&mut self.frame, Frame::Finished) {
            Frame::Unstarted(Some(stack)) => stack,
            _ => take_stack()?,
        };
        self.bounds = stack.bounds();
        self.frame = Frame::Running(Coroutine::with_stack(stack, |yielder, ()| {
            let g = current_ptr();
            // SAFETY: `g` is the goroutine this coroutine belongs to, set by
            // `resume` just before switching here and kept alive by the
            // worker's reference while it runs; until it finishes only this
            // goroutine touches its body and context. `g` is a plain pointer,
            // not a thread-local, so it stays right after a migration.
            unsafe {
                (*(*g).ctx.get()).yielder = yielder;
                let body = &mut *(*g).body.get();
                body.run();
                // Destructors of goroutine-locals run here, on the goroutine;
                // one that panics makes that panic the goroutine's result.
                let locals = std::mem::take(&mut (*(*g).ctx.get()).locals);
                let dropped =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(locals)));
                if let Err(payload) = dropped {
                    body.fail(payload);
                }
                (*g).finish();
            }
        }));
        Ok(())
    }
}

/// One goroutine's (or thread's) values, by key address. Boxed, and only
/// once a value is made: every goroutine record carries a map and few use
/// it, so it takes one word there, not three (see [`G`]).
#[derive(Default)]
pub(crate) struct LocalMap {
    entries: Option<Box<Entries>>,
}

/// The values of a [`LocalMap`], each with its key's address.
type Entries = Vec<(usize, Box<dyn Any>)>;

impl LocalMap {
    /// The value for `key`, made with `init` on first use.
    pub(crate) fn get_or_init<T: 'static>(&mut self, key: usize, init: fn() -> T) -> *const T {
        if let Some(value) = self.find::<T>(key) {
            return value;
        }
        // `init` may use other keys (growing the map), so run it first.
        let value = Box::new(init());
        assert!(
            self.find::<T>(key).is_none(),
            "a goroutine_local! initialiser used its own key"
        );
        let ptr: *const T = &*value;
        self.entries
            .get_or_insert_with(Box::default)
            .push((key, value));
        ptr
    }

    fn find<T: 'static>(&self, key: usize) -> Option<*const T> {
        self.entries
            .iter()
            .flat_map(|entries| entries.iter())
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.downcast_ref::<T>().expect("one type per key") as *const T)
    }
}

/// What happened when a worker ran a goroutine.
pub(crate) enum Outcome {
    /// It called `yield_now`.
    Yielded,
    /// It is parking; the worker must call `park::complete_park`.
    Parked,
    /// It parked in `park::park_unlocking`: the handle it published owns it
    /// now, so the worker forgets its own reference, then releases the lock.
    ParkedUnlocking(*const SpinLock),
    /// It returned (or could not start); here is its stack back.
    Finished(Option<Stack>),
}

impl Outcome {
    /// How the execution trace says the run of `g` that had this outcome
    /// ended (a parked goroutine's wait reason and site are still set:
    /// nobody can wake it before its worker completes the park).
    pub(crate) fn trace_end(&self, g: &G) -> crate::trace::End {
        match self {
            Outcome::Yielded => crate::trace::End::Yield,
            Outcome::Parked | Outcome::ParkedUnlocking(_) => {
                crate::trace::End::Park(g.wait_state().0, g.blocked_at())
            }
            Outcome::Finished(_) => crate::trace::End::Finish,
        }
    }
}

thread_local! {
    /// The goroutine running on this thread, or null.
    static CURRENT: Cell<*const G> = const { Cell::new(null_g()) };
}

/// A null `*const G` (a fat pointer needs a concrete type to start from).
pub(crate) const fn null_g() -> *const G {
    std::ptr::null::<G<Body<fn(), ()>>>() as *const G
}

/// The goroutine running on this thread, or null. Never inlined: see the
/// module note on migration.
#[inline(never)]
pub(crate) fn current_ptr() -> *const G {
    CURRENT.with(Cell::get)
}

/// Sets the running goroutine. Called only by `G::resume`, on the
/// worker's own stack, which never changes threads: so it may be inlined
/// there, unlike [`current_ptr`].
#[inline]
fn set_current(g: *const G) {
    CURRENT.with(|c| c.set(g));
}

/// The running goroutine, if the caller is one.
pub(crate) fn current() -> Option<GRef> {
    let ptr = current_ptr();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` came from `Arc::as_ptr` of the GRef the worker holds for
    // as long as the goroutine runs (we are running it), so the allocation is
    // alive and counting one more strong reference is sound.
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// Switches the running goroutine `g` out to its worker, recording its
/// stack pointer for tracebacks (one store; see `traceback`).
#[inline(always)]
pub(crate) fn switch_out(g: &G, why: Switch) {
    g.parked_sp
        .store(crate::traceback::stack_pointer(), Ordering::Relaxed);
    // SAFETY: `g` is the goroutine we are running, on its own stack, so its
    // yielder is set and valid, and only this thread touches `ctx`.
    unsafe {
        let yielder = (*g.ctx.get()).yielder;
        (*yielder).suspend(why);
    }
}

/// The goroutine-local map of the running goroutine, or `None` on a plain
/// thread. Valid until the goroutine finishes; only it uses the map.
pub(crate) fn current_locals() -> Option<*mut LocalMap> {
    let g = current_ptr();
    // SAFETY: non-null means the goroutine we are running; its context is
    // ours while it runs.
    (!g.is_null()).then(|| unsafe { std::ptr::addr_of_mut!((*(*g).ctx.get()).locals) })
}

/// Puts the current goroutine at the back of its worker's run queue so others
/// run first, as Go's `runtime.Gosched`: it always passes through the
/// scheduler, which fires due timers and looks at the other queues on the
/// way. On a plain thread, yields the thread.
///
/// Inlined into the caller, so that no frame of goro's is pending across
/// the switch: a return that crosses a switch is one the CPU cannot
/// predict.
///
/// ```
/// let h = goro::go!(|| { goro::yield_now(); 1 });
/// assert_eq!(h.join().unwrap(), 1);
/// ```
#[inline]
pub fn yield_now() {
    let g = current_ptr();
    if g.is_null() {
        std::thread::yield_now();
    } else {
        // SAFETY: non-null means a live goroutine we are running.
        switch_out(unsafe { &*g }, Switch::Yield);
    }
}

/// The id of the running goroutine, or `None` on a plain thread.
///
/// ```
/// let id = goro::spawn(goro::current_id).join().unwrap();
/// assert!(id.is_some());
/// assert!(goro::current_id().is_none());
/// ```
pub fn current_id() -> Option<GoroutineId> {
    let g = current_ptr();
    // SAFETY: non-null means the goroutine we are running, alive.
    (!g.is_null()).then(|| GoroutineId::from_raw(unsafe { (*g).id }))
}

/// "goroutine N 'name'", as panic and overflow reports name a goroutine.
pub(crate) fn describe(g: &G) -> String {
    match g.name() {
        Some(name) => format!("goroutine {} '{}'", g.id(), name),
        None => format!("goroutine {}", g.id()),
    }
}

#[cfg(test)]
mod tests;
