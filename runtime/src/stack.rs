//! Goroutine stacks: one large lazy reservation cut into guarded slots.
//!
//! Go grows a stack by copying it; Rust cannot (pointers into the stack are
//! ordinary references), so a goro stack is "growable" the way an OS thread's
//! is: every goroutine gets a large *virtual* slot (256 KiB usable by
//! default) and the kernel commits physical pages only as they are touched.
//! A goroutine that never goes deep costs one or two pages.
//!
//! # Layout
//! The *arena* is a single `MAP_NORESERVE` mapping of up to 1 TiB made at
//! start-up, marked `MADV_NOHUGEPAGE` (a stray touch must not commit 2 MiB).
//! Slot `i` is `[base + i*slot, base + (i+1)*slot)`; its lowest page is the
//! guard. Guards are installed in batches as the arena's used prefix grows
//! (see `sys`), so with `MADV_GUARD_INSTALL` (or, before Linux 6.13,
//! `userfaultfd` write protection) the whole arena stays one VMA no
//! matter how many goroutines live: a million parked goroutines are one
//! mapping, where one `mmap` per stack would hit `vm.max_map_count`. Once
//! half the first batch is used, [`GUARD_AHEAD`] to [`GUARD_REFILL`]
//! slots are kept guarded ahead: by the monitor, when a worker asks, so
//! that workers starting goroutines on fresh stacks do not spend a
//! microsecond a guard between two of them; by a worker itself, when the
//! monitor falls behind.
//! Stacks of a non-default size (`Builder::stack_size`) get a mapping of
//! their own.
//!
//! # Reuse and release
//! A stack is bound to a goroutine when it first *runs*, not when it is
//! spawned, and goes back to the worker's [`StackCache`] when the goroutine
//! finishes: a million goroutines that finish at once reuse a handful of hot
//! stacks and pay no page faults. A cached stack keeps its top [`KEEP`]
//! bytes committed; the pages below are released with `MADV_DONTNEED` when
//! its worker has idled for a while (or on `free_os_memory`), so a goroutine
//! that once recursed deep does not keep that memory. Stacks that overflow a
//! worker's cache go to the arena's free list, still committed, where the
//! next goroutines to start take them first (no page faults). They move
//! between a cache and the free list [`CACHE_BATCH`] at a time, under one
//! lock of the list: two workers starting and finishing goroutines by the
//! million would otherwise meet on that lock for every stack. The monitor
//! scavenges the free list: each [`SCAVENGE_PERIOD`] it releases, whole, the
//! stacks nobody took during the whole period (the list is a LIFO, so those
//! are the bottom ones, below the period's low-water mark), and before it
//! sleeps for want of work it releases them all. Releasing goes a batch of
//! 1024 ranges per `process_madvise` call, on the monitor's thread, without
//! a million system calls and without making the workers that finish
//! goroutines pay for it (Go likewise frees stacks at its GC, not on exit).
//! While any worker runs goroutines, a period releases at most
//! [`SCAVENGE_BUDGET`] stacks, the coldest first: releasing costs CPU and
//! interrupts the workers (each call flushes their TLBs), so a program
//! still busy after many goroutines finished must not lose its CPU to the
//! monitor (Go's background scavenger is paced the same way). An idle
//! program's monitor releases everything left at once.
//!
//! # Invariants
//! - A slot handed out is owned by exactly one [`Stack`] value, in use or
//!   in a worker's cache, or by its index in the arena's free list
//!   (committed or trimmed): a `Stack` becomes an index only by
//!   `Arena::slot_of`, which consumes it, and an index becomes a `Stack`
//!   only when taken out of the list. The bump index `next` only grows.
//!   Only slots taken out of the free list are released, so a stack in use
//!   is never released under it.
//! - Slots `[0, guarded)` have their guard installed; a slot is handed out
//!   only once it is below `guarded`. No release covers a guard page: every
//!   range released starts above it (a `userfaultfd` guard's marker would
//!   not survive `MADV_DONTNEED`, see `userfault`).
//! - `guarded` and `next` are read with `Acquire` and published with
//!   `Release` so a thread that sees an index as guarded also sees the guard
//!   install (the system call itself orders the page tables).

use crate::mmap;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Usable bytes of a default goroutine stack, unless `GORO_STACK_SIZE` says
/// otherwise.
pub(crate) const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Smallest stack a goroutine may ask for.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest stack a goroutine may ask for (Go's limit).
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;

/// Bytes at the top of a stack that stay committed while it is cached.
pub(crate) const KEEP: usize = 16 * 1024;

/// Stacks a worker keeps for reuse before it hands them to the arena.
const CACHE_MAX: usize = 64;

/// Stacks moved between a worker's cache and the arena's free list at a
/// time, under one lock of the list (Go's stack cache refills and releases
/// half of itself the same way).
const CACHE_BATCH: usize = CACHE_MAX / 2;

/// How long a free stack of the arena stays committed, unused, before the
/// monitor releases it.
pub(crate) const SCAVENGE_PERIOD: Duration = Duration::from_millis(100);

/// Most stacks a scavenge releases while workers run goroutines: one
/// `process_madvise` call a [`SCAVENGE_PERIOD`] (a million stacks come
/// back in under two minutes of continuous load, and at once when the
/// program idles).
const SCAVENGE_BUDGET: usize = 1024;

/// Guards installed per system call. Small, because the call holds the
/// process's memory-map lock throughout, and a thread growing the C heap
/// (`mprotect`) waits for it, with every page fault queued behind that.
const GUARD_BATCH: usize = 128;

/// Guarded slots kept ahead of the last one handed out, once
/// `GUARD_BATCH / 2` are in use: fewer, and a worker asks the monitor
/// for more.
const GUARD_AHEAD: usize = 1024;

/// Guarded slots ahead once the monitor has answered a request: twice
/// [`GUARD_AHEAD`], so a worker starting fresh goroutines asks once per
/// `GUARD_AHEAD` slots. Each request wakes the monitor (a futex wake, and
/// in a virtual machine an inter-processor interrupt), so requests are
/// kept rare.
const GUARD_REFILL: usize = 2 * GUARD_AHEAD;

/// A worker asked the monitor to install guards ahead (see
/// [`Arena::guard_ahead`]). Relaxed: the guard lock orders the install
/// itself, and a missed request only means a worker installs a batch.
static GUARDS_WANTED: AtomicBool = AtomicBool::new(false);

/// The arena had no slot left for a goroutine starting to run: spawns fail
/// (see [`reserve`]) until a stack comes back. Relaxed: a hint; a spawn
/// that misses it admits one more goroutine, which then fails to start
/// and is reported as such.
static EXHAUSTED: AtomicBool = AtomicBool::new(false);

/// Who installs guards ahead when asked: the monitor registers how to wake
/// it (`set_guard_helper`), so this module never calls up into the
/// scheduler. Until one registers, a request waits for a worker's own batch.
static GUARD_HELPER: OnceLock<fn()> = OnceLock::new();

/// Registers `wake` as the way to ask for guards ahead (see
/// [`install_wanted_guards`], which the woken helper then calls).
pub(crate) fn set_guard_helper(wake: fn()) {
    let _ = GUARD_HELPER.set(wake);
}

/// Virtual space reserved for the arena; halved until the kernel agrees.
const ARENA_RESERVE: usize = 1 << 40;

/// A goroutine stack: `[bottom, top)`, guard page at `bottom`.
pub(crate) struct Stack {
    top: usize,
    bottom: usize,
    /// Whether the stack is a slot of the arena (else a mapping of its own).
    in_arena: bool,
    /// Used since its pages below [`KEEP`] were last released.
    dirty: bool,
}

// SAFETY: `base` is the top of a mapping we own for the Stack's lifetime and
// `limit` its bottom; the lowest page of that range is a guard page (installed
// before the Stack was created), as corosensei's contract demands. Both are
// page-aligned, which exceeds STACK_ALIGNMENT.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.top).expect("stack top is non-null")
    }

    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.bottom).expect("stack bottom is non-null")
    }
}

/// Where a stack lies: its bottom (where its guard page starts) and its
/// top. The default, all zero, stands for no stack yet.
#[derive(Clone, Copy, Default)]
pub(crate) struct Bounds {
    bottom: usize,
    top: usize,
}

impl Bounds {
    /// The guard page `[start, end)`; `(0, 0)` for no stack.
    pub(crate) fn guard(self) -> (usize, usize) {
        match self.bottom {
            0 => (0, 0),
            bottom => (bottom, bottom + mmap::page_size()),
        }
    }

    /// Usable bytes above the guard; 0 for no stack.
    pub(crate) fn usable(self) -> usize {
        match self.bottom {
            0 => 0,
            bottom => self.top - bottom - mmap::page_size(),
        }
    }
}

impl Stack {
    /// Allocates a stack with `size` usable bytes: a slot of the arena for
    /// the default size, a mapping of its own otherwise. Fails with a message
    /// naming the limit that was hit.
    pub(crate) fn for_size(size: usize) -> io::Result<Stack> {
        let arena = Arena::get()?;
        if size == arena.usable() {
            arena.fresh_slot()
        } else {
            Stack::dedicated(size)
        }
    }

    /// Where it lies, for the overflow report.
    pub(crate) fn bounds(&self) -> Bounds {
        Bounds {
            bottom: self.bottom,
            top: self.top,
        }
    }

    /// Usable bytes above the guard.
    pub(crate) fn usable(&self) -> usize {
        self.bounds().usable()
    }

    fn dedicated(size: usize) -> io::Result<Stack> {
        let page = mmap::page_size();
        let usable = size.div_ceil(page) * page;
        let len = usable + page;
        let ptr = mmap::map_lazy(len).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot map a {usable}-byte goroutine stack: {e}"),
            )
        })?;
        let bottom = ptr as usize;
        // SAFETY: the first page of a fresh mapping of ours holds nothing.
        if let Err(e) = unsafe { mmap::install_guards((bottom, len), &[(bottom, page)]) } {
            // SAFETY: the mapping was just made and nobody refers to it.
            unsafe { mmap::unmap(ptr, len) };
            return Err(guard_error(e));
        }
        Ok(Stack {
            top: bottom + len,
            bottom,
            in_arena: false,
            dirty: true,
        })
    }

    /// The range to release, if used since its pages were last released:
    /// everything below the top `keep` bytes.
    fn used_range(&self, keep: usize) -> Option<(usize, usize)> {
        let start = self.bottom + mmap::page_size();
        let end = self.top - keep.min(self.usable());
        (self.dirty && end > start).then_some((start, end - start))
    }
}

/// Releases the pages below the top `keep` bytes of every stack used since
/// its last release, in as few system calls as the kernel allows.
fn trim_all(stacks: &mut [Stack], keep: usize) {
    let ranges: Vec<(usize, usize)> = stacks.iter().filter_map(|s| s.used_range(keep)).collect();
    // SAFETY: none of these stacks is in use by a coroutine (they are cached
    // or free), so nothing below their tops is live; each range starts above
    // its stack's guard page (`used_range`).
    unsafe { mmap::release_batch(&ranges) };
    stacks.iter_mut().for_each(|s| s.dirty = false);
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.in_arena {
            self.in_arena = false; // the copy below now owns the slot
            let stack = Stack {
                top: self.top,
                bottom: self.bottom,
                in_arena: true,
                dirty: self.dirty,
            };
            if let Ok(arena) = Arena::get() {
                arena.recycle(stack);
            }
        } else if self.top != 0 {
            // SAFETY: a dedicated stack is its own mapping and, being
            // dropped, no coroutine runs on it.
            unsafe { mmap::unmap(self.bottom as *mut u8, self.top - self.bottom) };
        }
    }
}

/// A worker's stacks kept for reuse (see the module note).
#[derive(Default)]
pub(crate) struct StackCache {
    stacks: Vec<Stack>,
}

impl StackCache {
    /// A stack with the default size: cached, from the arena's free list, or
    /// a fresh slot.
    pub(crate) fn take(&mut self) -> io::Result<Stack> {
        let mut stack = match self.stacks.pop() {
            Some(stack) => stack,
            None => self.refill()?,
        };
        stack.dirty = true;
        Ok(stack)
    }

    /// The cache is empty: takes up to [`CACHE_BATCH`] stacks from the
    /// arena's free list and returns one of them, or a fresh slot.
    #[cold]
    fn refill(&mut self) -> io::Result<Stack> {
        let arena = Arena::get()?;
        arena.take_free(CACHE_BATCH, &mut self.stacks);
        match self.stacks.pop() {
            Some(stack) => Ok(stack),
            None => arena.fresh_slot(),
        }
    }

    /// Keeps a finished goroutine's stack for the next one; a full cache
    /// first hands its oldest [`CACHE_BATCH`] to the arena.
    pub(crate) fn put(&mut self, stack: Stack) {
        if !stack.in_arena {
            return; // dropped: a mapping of its own, unmapped
        }
        if EXHAUSTED.load(Ordering::Relaxed) {
            EXHAUSTED.store(false, Ordering::Relaxed);
        }
        if self.stacks.len() >= CACHE_MAX {
            if let Ok(arena) = Arena::get() {
                arena.recycle_all(self.stacks.drain(..CACHE_BATCH));
            }
        }
        self.stacks.push(stack);
    }

    /// Stacks in the cache.
    pub(crate) fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Releases the deep pages of every cached stack (when the worker idles,
    /// or on `free_os_memory`).
    pub(crate) fn trim(&mut self) {
        trim_all(&mut self.stacks, KEEP);
    }
}

/// The arena's free stacks, by slot index: the recently freed ones, still
/// committed, and the released ones. Reuse prefers the committed ones (they
/// are warm). Four bytes a stack (a `Stack` is 24), since a million
/// goroutines finishing at once put a million stacks here, and a list of
/// 24-byte entries cost their finishers 24 MB of fresh pages and copies.
#[derive(Default)]
struct FreeList {
    /// A LIFO at its back; the front entries have been free the longest.
    untrimmed: VecDeque<u32>,
    /// The fewest entries `untrimmed` held since the last scavenge: the
    /// front `low_water` were not taken during the whole period.
    low_water: usize,
    trimmed: Vec<u32>,
}

impl FreeList {
    /// A free slot and whether its pages may be committed.
    fn pop(&mut self) -> Option<(u32, bool)> {
        match self.untrimmed.pop_back() {
            Some(slot) => {
                self.low_water = self.low_water.min(self.untrimmed.len());
                Some((slot, true))
            }
            None => self.trimmed.pop().map(|slot| (slot, false)),
        }
    }

    /// Takes out up to `most` of the committed stacks nobody took since the
    /// last scavenge (the front `low_water`), the coldest first, and starts
    /// a new period. Those left stay in front, to go in a later period.
    fn take_cold(&mut self, most: usize) -> Vec<u32> {
        let cold = self.low_water.min(self.untrimmed.len()).min(most);
        let cold = self.untrimmed.drain(..cold).collect();
        self.low_water = self.untrimmed.len();
        cold
    }

    /// Takes out every committed stack.
    fn take_all(&mut self) -> Vec<u32> {
        self.low_water = 0;
        std::mem::take(&mut self.untrimmed).into()
    }
}

/// The reservation all default-size stacks are cut from.
struct Arena {
    base: usize,
    /// Bytes reserved from `base`.
    len: usize,
    /// Bytes per slot, guard included.
    slot: usize,
    slots: usize,
    /// Next never-used slot.
    next: AtomicUsize,
    /// Slots `[0, guarded)` have their guard page installed.
    guarded: AtomicUsize,
    guard_lock: Mutex<()>,
    free: Mutex<FreeList>,
}

impl Arena {
    fn get() -> io::Result<&'static Arena> {
        static ARENA: OnceLock<Result<Arena, String>> = OnceLock::new();
        ARENA
            .get_or_init(|| Arena::reserve(default_stack_size()))
            .as_ref()
            .map_err(|msg| io::Error::new(io::ErrorKind::OutOfMemory, msg.clone()))
    }

    fn reserve(usable: usize) -> Result<Arena, String> {
        let slot = usable + mmap::page_size();
        let mut len = ARENA_RESERVE;
        loop {
            match mmap::map_lazy(len) {
                Ok(ptr) => {
                    return Ok(Arena {
                        base: ptr as usize,
                        len,
                        slot,
                        slots: len / slot,
                        next: AtomicUsize::new(0),
                        guarded: AtomicUsize::new(0),
                        guard_lock: Mutex::new(()),
                        free: Mutex::new(FreeList::default()),
                    })
                }
                Err(e) if len / 2 >= slot * 1024 => {
                    let _ = e;
                    len /= 2;
                }
                Err(e) => {
                    return Err(format!(
                        "cannot reserve address space for goroutine stacks: {e}"
                    ))
                }
            }
        }
    }

    fn usable(&self) -> usize {
        self.slot - mmap::page_size()
    }

    /// Takes a stack back, still committed; the monitor releases it if
    /// nobody takes it within a [`SCAVENGE_PERIOD`].
    fn recycle(&self, stack: Stack) {
        self.recycle_all(std::iter::once(stack));
    }

    /// Takes back `stacks` under one lock, as [`Arena::recycle`].
    fn recycle_all(&self, stacks: impl Iterator<Item = Stack>) {
        let mut free = self.free_list();
        free.untrimmed
            .extend(stacks.map(|stack| self.slot_of(stack)));
    }

    /// Moves up to `n` free stacks into `into`, committed ones first.
    fn take_free(&self, n: usize, into: &mut Vec<Stack>) {
        let mut free = self.free_list();
        let stacks = std::iter::from_fn(|| free.pop()).take(n);
        into.extend(stacks.map(|(slot, dirty)| self.stack_at(slot, dirty)));
    }

    /// The slot index of `stack`, a slot of this arena, which it gives up.
    fn slot_of(&self, stack: Stack) -> u32 {
        debug_assert!(stack.in_arena, "a stack of its own mapping");
        let index = (stack.bottom - self.base) / self.slot;
        // The index stands for the slot now: dropping `stack` would
        // recycle it a second time.
        std::mem::forget(stack);
        // `slots` fits: 1 TiB of slots of at least 20 KiB.
        index as u32
    }

    /// Where slot `index` starts (its guard page).
    fn bottom_of(&self, index: usize) -> usize {
        self.base + index * self.slot
    }

    /// The stack of slot `index`, taken out of the free list.
    fn stack_at(&self, index: u32, dirty: bool) -> Stack {
        let bottom = self.bottom_of(index as usize);
        Stack {
            top: bottom + self.slot,
            bottom,
            in_arena: true,
            dirty,
        }
    }

    /// Releases every free stack now (`free_os_memory`, or an idle program).
    fn trim_free(&self) {
        let batch = self.free_list().take_all();
        self.release_whole(batch);
    }

    /// Releases up to `most` of the free stacks nobody took since the last
    /// call.
    fn scavenge(&self, most: usize) {
        let batch = self.free_list().take_cold(most);
        self.release_whole(batch);
    }

    /// Releases all pages of the free slots `batch` and files them as
    /// trimmed.
    fn release_whole(&self, mut batch: Vec<u32>) {
        if batch.is_empty() {
            return;
        }
        crate::trace::scavenge(batch.len());
        let page = mmap::page_size();
        let ranges: Vec<(usize, usize)> = batch
            .iter()
            .map(|&index| (self.bottom_of(index as usize) + page, self.usable()))
            .collect();
        // SAFETY: free slots: no coroutine runs on them, so nothing below
        // their tops is live; each range starts above the slot's guard.
        unsafe { mmap::release_batch(&ranges) };
        self.free_list().trimmed.append(&mut batch);
    }

    fn free_list(&self) -> std::sync::MutexGuard<'_, FreeList> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A never-used slot, its guard installed.
    fn fresh_slot(&self) -> io::Result<Stack> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if index >= self.slots {
            self.next.fetch_sub(1, Ordering::Relaxed);
            EXHAUSTED.store(true, Ordering::Relaxed);
            return Err(self.exhausted());
        }
        self.ensure_guarded(index + 1)?;
        self.guard_ahead(index);
        let bottom = self.bottom_of(index);
        Ok(Stack {
            top: bottom + self.slot,
            bottom,
            in_arena: true,
            dirty: true,
        })
    }

    /// Installs guards until at least `count` slots have one, a batch of
    /// [`GUARD_BATCH`] at a time.
    fn ensure_guarded(&self, count: usize) -> io::Result<()> {
        if self.guarded.load(Ordering::Acquire) >= count {
            return Ok(());
        }
        let _lock = self.guard_lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.guarded.load(Ordering::Acquire) < count {
            self.guard_next_batch()?;
        }
        Ok(())
    }

    /// Keeps guarded slots ahead of slot `index`, once half the first
    /// batch is in use (a program that never needs many stacks pays for one
    /// batch only). Fewer than [`GUARD_AHEAD`] ahead: asks the monitor to
    /// install more (a microsecond a guard, page tables included, which the
    /// worker would otherwise spend between two goroutines). Fewer than
    /// half that: the monitor is not keeping up, so this thread installs a
    /// batch itself, unless another thread is installing one. Either way
    /// the threads that need fresh slots meanwhile take them from what is
    /// guarded already instead of waiting on the lock. A failure here is
    /// left for `ensure_guarded` to meet again and report. Not with
    /// mprotect guards: each costs two of the process's limited mappings,
    /// so those are never installed ahead of need.
    fn guard_ahead(&self, index: usize) {
        let guarded = self.guarded.load(Ordering::Acquire);
        if index < GUARD_BATCH / 2
            || index + GUARD_AHEAD < guarded
            || mmap::guard_kind().costs_mappings()
        {
            return;
        }
        if index + GUARD_AHEAD / 2 >= guarded {
            if let Ok(_lock) = self.guard_lock.try_lock() {
                let _ = self.guard_next_batch();
            }
        } else if !GUARDS_WANTED.load(Ordering::Relaxed)
            && !GUARDS_WANTED.swap(true, Ordering::Relaxed)
        {
            if let Some(wake) = GUARD_HELPER.get() {
                wake();
            }
        }
    }

    /// The monitor's part of [`Arena::guard_ahead`]: installs guards until
    /// [`GUARD_REFILL`] slots past the next fresh one have theirs.
    fn guard_wanted(&self) {
        let _lock = self.guard_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Cleared first: a request made during the install gets a round.
        GUARDS_WANTED.store(false, Ordering::Relaxed);
        while self.guarded.load(Ordering::Acquire)
            <= self.next.load(Ordering::Relaxed) + GUARD_REFILL
        {
            if self.guard_next_batch().is_err() {
                return; // left for `ensure_guarded` to report
            }
        }
    }

    /// Installs the guards of the batch after `guarded`. The caller holds
    /// `guard_lock`.
    fn guard_next_batch(&self) -> io::Result<()> {
        let page = mmap::page_size();
        let done = self.guarded.load(Ordering::Acquire);
        let batch = GUARD_BATCH.min(self.slots - done);
        if batch == 0 {
            return Err(self.exhausted());
        }
        let ranges: Vec<(usize, usize)> = (done..done + batch)
            .map(|i| (self.bottom_of(i), page))
            .collect();
        // SAFETY: these slots are beyond `guarded`, and slots at or above it
        // are handed out only after their guard is in (`fresh_slot` waits in
        // `ensure_guarded`), so nothing lives in their bottom pages.
        unsafe { mmap::install_guards((self.base, self.len), &ranges) }.map_err(guard_error)?;
        self.guarded.store(done + batch, Ordering::Release);
        Ok(())
    }

    fn exhausted(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot allocate a goroutine stack: all {} slots of {} KiB in the \
                 {} GiB stack reservation are in use (set GORO_STACK_SIZE smaller; \
                 the reservation is smaller under a `ulimit -v` address-space limit)",
                self.slots,
                self.slot / 1024,
                (self.slots * self.slot) >> 30
            ),
        )
    }
}

/// Stacks the arena ever handed out (slots used), free stacks in its free
/// list, and bytes of the arena committed (resident), from `smaps`.
pub(crate) fn arena_stats() -> (usize, usize, usize) {
    let Ok(arena) = Arena::get() else {
        return (0, 0, 0);
    };
    let free = arena.free_list();
    let free = free.untrimmed.len() + free.trimmed.len();
    let used = arena.next.load(Ordering::Relaxed);
    (
        used,
        free,
        mmap::resident_in(arena.base, arena.len).unwrap_or(0),
    )
}

/// Releases every free stack of the arena.
pub(crate) fn trim_free_stacks() {
    if let Ok(arena) = Arena::get() {
        arena.trim_free();
    }
}

/// Releases the free stacks of the arena that nobody took since the last
/// call, at most [`SCAVENGE_BUDGET`] of them while `busy` (the monitor
/// calls it each [`SCAVENGE_PERIOD`], `busy` while any worker runs
/// goroutines).
pub(crate) fn scavenge_free_stacks(busy: bool) {
    if let Ok(arena) = Arena::get() {
        arena.scavenge(if busy { SCAVENGE_BUDGET } else { usize::MAX });
    }
}

/// The monitor's round: installs the guards a worker asked for, if any.
pub(crate) fn install_wanted_guards() {
    if GUARDS_WANTED.load(Ordering::Relaxed) {
        if let Ok(arena) = Arena::get() {
            arena.guard_wanted();
        }
    }
}

/// Called at spawn so that running out of stacks is an error from
/// `Builder::spawn`, not a failure later. With guard regions (or userfault
/// guards) a guard costs no mapping and the arena holds millions of slots,
/// so guards are installed lazily as slots are first used, and only the
/// arena's own limit is checked (cheaply: when the bump index nears it).
/// With mprotect guards every guard costs mappings, so they are installed
/// here, for every live goroutine, and the `vm.max_map_count` limit
/// surfaces as this error.
pub(crate) fn reserve(live: impl FnOnce() -> usize) -> io::Result<()> {
    let arena = Arena::get()?;
    if EXHAUSTED.load(Ordering::Relaxed) {
        return Err(arena.exhausted());
    }
    let near_limit = arena.next.load(Ordering::Relaxed) + GUARD_AHEAD >= arena.slots;
    if !near_limit && !mmap::guard_kind().costs_mappings() {
        return Ok(());
    }
    let live = live();
    if live > arena.slots {
        return Err(arena.exhausted());
    }
    arena.ensure_guarded(live)
}

/// Words a failed guard install in terms of the limit that was hit.
fn guard_error(e: io::Error) -> io::Error {
    if mmap::guard_kind() == mmap::GuardKind::Mprotect && e.raw_os_error() == Some(libc::ENOMEM) {
        let (limit, kept) = mmap::max_map_count().map_or(("?".into(), "?".into()), |n| {
            (n.to_string(), mmap::mappings_kept_free(n).to_string())
        });
        return io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot guard a goroutine stack: the kernel's vm.max_map_count ({limit}) is \
                 nearly reached ({kept} mappings are kept for the rest of the program); \
                 neither guard regions (MADV_GUARD_INSTALL, Linux 6.13+) nor userfaultfd \
                 write protection (Linux 5.11+, unless a seccomp filter forbids it) are in \
                 force here, so every stack costs two memory mappings. Raise \
                 vm.max_map_count or upgrade the kernel"
            ),
        );
    }
    io::Error::new(e.kind(), format!("cannot guard a goroutine stack: {e}"))
}

/// Usable bytes of a default stack: `GORO_STACK_SIZE` (bytes, or with a `k`
/// or `m` suffix) or [`DEFAULT_STACK_SIZE`]. An invalid value is reported once
/// on stderr and ignored.
pub(crate) fn default_stack_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let Ok(value) = std::env::var("GORO_STACK_SIZE") else {
            return DEFAULT_STACK_SIZE;
        };
        match parse_stack_size(&value) {
            Ok(size) => size,
            Err(why) => {
                eprintln!(
                    "goro: ignoring invalid GORO_STACK_SIZE={value:?}: {why}; using {DEFAULT_STACK_SIZE}"
                );
                DEFAULT_STACK_SIZE
            }
        }
    })
}

/// Usable bytes of the main goroutine's stack (`#[goro::main]`): as much as
/// the main thread may have, so that a program keeps working under the
/// attribute. That is the soft `RLIMIT_STACK` (8 MiB unless the shell said
/// otherwise; 8 MiB if unknown), the largest stack allowed when unlimited,
/// and never less than a default stack.
pub(crate) fn main_stack_size() -> usize {
    const MAIN_THREAD_DEFAULT: usize = 8 * 1024 * 1024;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } == 0;
    let bytes = if !known {
        MAIN_THREAD_DEFAULT
    } else if limit.rlim_cur == libc::RLIM_INFINITY {
        MAX_STACK_SIZE
    } else {
        usize::try_from(limit.rlim_cur).unwrap_or(MAX_STACK_SIZE)
    };
    bytes.clamp(default_stack_size(), MAX_STACK_SIZE)
}

/// Parses a stack size such as `262144`, `256k` or `1M`, rounded up to whole
/// pages and checked against [`MIN_STACK_SIZE`] and [`MAX_STACK_SIZE`].
pub(crate) fn parse_stack_size(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1024),
        Some((i, 'm' | 'M')) => (&text[..i], 1024 * 1024),
        _ => (text, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| "expected a number of bytes, optionally with a k or m suffix".to_string())?;
    let bytes = n.checked_mul(unit).ok_or_else(|| "too large".to_string())?;
    check_stack_size(bytes)
}

/// Rounds `bytes` up to whole pages and checks the bounds.
pub(crate) fn check_stack_size(bytes: usize) -> Result<usize, String> {
    if bytes < MIN_STACK_SIZE {
        return Err(format!("a stack needs at least {MIN_STACK_SIZE} bytes"));
    }
    if bytes > MAX_STACK_SIZE {
        return Err(format!(
            "goroutine stack of {bytes} bytes exceeds the {MAX_STACK_SIZE}-byte limit"
        ));
    }
    let page = mmap::page_size();
    Ok(bytes.div_ceil(page) * page)
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
/// what it runs now. A prefetch never faults,
/// so a stale hint costs nothing but the loads.
pub(crate) fn prefetch_stack(hint: usize) {
    prefetch_range(hint.wrapping_sub(STACK_WINDOW / 2), STACK_WINDOW);
}

/// Starts loading the cache lines of `[start, start + len)` (any address:
/// a prefetch never faults, so a stale one costs nothing but the loads).
pub(crate) fn prefetch_range(start: usize, len: usize) {
    for line in (0..len).step_by(64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes_parse_with_units_and_bounds() {
        assert_eq!(parse_stack_size("262144"), Ok(262144));
        assert_eq!(parse_stack_size("256k"), Ok(262144));
        assert_eq!(parse_stack_size("1M"), Ok(1 << 20));
        assert!(parse_stack_size("abc").is_err());
        assert!(parse_stack_size("1k").is_err());
        assert!(parse_stack_size("2048m").is_err());
        assert_eq!(parse_stack_size("20000"), Ok(20480));
    }

    #[test]
    fn a_cached_stack_is_reused_and_trimmed() {
        let mut cache = StackCache::default();
        let stack = cache.take().unwrap();
        let top = stack.top;
        cache.put(stack);
        cache.trim();
        assert!(cache.stacks[0].used_range(KEEP).is_none());
        assert_eq!(cache.take().unwrap().top, top);
    }

    #[test]
    fn a_full_cache_hands_its_oldest_half_to_the_arena() {
        let arena = Arena::get().unwrap();
        let stacks: Vec<Stack> = (0..=CACHE_MAX)
            .map(|_| arena.fresh_slot().unwrap())
            .collect();
        let (oldest, newest) = (stacks[0].top, stacks[CACHE_MAX].top);
        let mut cache = StackCache::default();
        stacks.into_iter().for_each(|stack| cache.put(stack));
        assert_eq!(cache.len(), CACHE_MAX - CACHE_BATCH + 1);
        assert!(cache.stacks.iter().all(|stack| stack.top != oldest));
        assert_eq!(cache.stacks.last().unwrap().top, newest);
    }

    #[test]
    fn the_monitor_installs_the_guards_a_worker_asked_for() {
        let arena = Arena::get().unwrap();
        if mmap::guard_kind().costs_mappings() {
            return; // mprotect guards are never installed ahead
        }
        let next = arena.next.load(Ordering::Relaxed);
        GUARDS_WANTED.store(true, Ordering::Relaxed);
        install_wanted_guards();
        let guarded = arena.guarded.load(Ordering::Acquire);
        assert!(
            guarded > next + GUARD_REFILL,
            "{guarded} guarded, next {next}"
        );
        assert!(!mmap::writable_by_kernel(arena.bottom_of(guarded - 1)));
    }

    /// The slot's index in the arena.
    fn index_of(arena: &Arena, stack: &Stack) -> usize {
        (stack.bottom - arena.base) / arena.slot
    }

    #[test]
    fn the_next_batch_of_guards_is_in_before_the_last_one_runs_out() {
        let arena = Arena::get().unwrap();
        if mmap::guard_kind().costs_mappings() {
            return; // mprotect guards are never installed ahead
        }
        // Fresh slots until we hold the last one of a batch (other tests
        // may take slots meanwhile; their indices only grow).
        let mut held = Vec::new();
        let last = loop {
            let stack = arena.fresh_slot().unwrap();
            let index = index_of(arena, &stack);
            held.push(stack);
            if index >= GUARD_AHEAD && index % GUARD_BATCH == GUARD_BATCH - 1 {
                break index;
            }
        };
        // Any install in progress on another thread finishes first.
        let _lock = arena.guard_lock.lock().unwrap();
        let guarded = arena.guarded.load(Ordering::Acquire);
        assert!(
            guarded > last + GUARD_BATCH,
            "slot {last} handed out with only {guarded} slots guarded"
        );
        for stack in &held {
            assert!(!mmap::writable_by_kernel(stack.bottom), "an unguarded slot");
        }
        assert!(!mmap::writable_by_kernel(arena.bottom_of(guarded - 1)));
    }
}
