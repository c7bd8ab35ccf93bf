//! The goroutine registry (Go's `allgs`): every goroutine that has started
//! running and not finished is on an intrusive doubly-linked list, one list
//! per worker shard (see `scheduler::shard_of`), each behind its own spin
//! lock.
//!
//! The worker that first runs a goroutine links it on its own list, and the
//! goroutine unlinks itself as it finishes (a goroutine parked forever is
//! unlinked when its `G` is freed), so a `G` on a list is always alive, and
//! records which list it is on. Linking and unlinking are a few stores
//! under a lock whose release is a plain store; the lock is another
//! worker's only for a goroutine that finishes on another worker than it
//! started on. A goroutine not started yet is on no list: linking happens
//! on the worker that starts it, which has the record's cache lines, not on
//! the spawning path.

use crate::goroutine::{GRef, G};
use crate::scheduler::MAX_PROCS;
use crate::spin::SpinLock;
use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;

/// The links of a goroutine on its registry list, as thin addresses (one
/// word each keeps the record small; `G::links_at` finds a neighbour's
/// links, `G::from_thin` the neighbour); guarded by that list's lock.
/// Which list it is on, if any, is its own field (`G::registry_list`).
pub(crate) struct Links {
    prev: *const u8,
    next: *const u8,
}

impl Links {
    /// Links of a goroutine not on any list yet.
    pub(crate) fn new() -> Links {
        Links {
            prev: std::ptr::null(),
            next: std::ptr::null(),
        }
    }
}

/// One worker's list: its head, behind a spin lock (a register or an
/// unregister is a few stores; a lock word and a plain-store unlock keep
/// them cheap on the spawn path).
struct List {
    lock: SpinLock,
    /// The first goroutine's thin address, or null.
    head: UnsafeCell<*const u8>,
}

// SAFETY: `head` and the links it leads to are only touched under `lock`,
// and every G on a list is alive (see the module note).
unsafe impl Sync for List {}
// SAFETY: as above; the pointers are not tied to a thread.
unsafe impl Send for List {}

impl List {
    /// Runs `f` on the list's head under its lock.
    fn with<R>(&self, f: impl FnOnce(&mut *const u8) -> R) -> R {
        self.lock.lock();
        // SAFETY: we hold the lock.
        let result = f(unsafe { &mut *self.head.get() });
        self.lock.unlock();
        result
    }
}

fn lists() -> &'static [CachePadded<List>] {
    static LISTS: std::sync::OnceLock<Box<[CachePadded<List>]>> = std::sync::OnceLock::new();
    LISTS.get_or_init(|| {
        (0..=MAX_PROCS)
            .map(|_| {
                CachePadded::new(List {
                    lock: SpinLock::new(),
                    head: UnsafeCell::new(std::ptr::null()),
                })
            })
            .collect()
    })
}

/// `G::registry_list` of a goroutine on no list.
pub(crate) const UNLISTED: u32 = u32::MAX;

/// Puts a goroutine that starts running on list `shard`: the running
/// worker's (`scheduler::shard_of` its slot).
///
/// # Safety
/// The caller owns `g` (runs it), which is on no list.
pub(crate) unsafe fn register(g: &G, shard: usize) {
    lists()[shard].with(|head| {
        // SAFETY: `g` is on no list, so nobody else touches its links, and
        // its owner is us; the old head is alive and its links are ours
        // under the lock.
        unsafe {
            let links = &mut *g.links();
            links.prev = std::ptr::null();
            links.next = *head;
            if !head.is_null() {
                (*G::links_at(*head)).prev = g.thin();
            }
            // Shards number at most `MAX_PROCS + 1`.
            g.set_registry_list(shard as u32);
        }
        *head = g.thin();
    });
}

/// Takes a goroutine off its list (idempotent).
///
/// # Safety
/// The caller owns `g`: it is the goroutine itself finishing, or the
/// thread freeing its record.
pub(crate) unsafe fn unregister<E: ?Sized + crate::goroutine::Entry>(g: &G<E>) {
    // SAFETY: by the contract, the field is ours; the worker that listed
    // the goroutine owned it then, and ownership passed on since with a
    // happens-before edge (a run queue, a park, the record's last
    // reference).
    let list = unsafe { g.registry_list() };
    if list == UNLISTED {
        return;
    }
    lists()[list as usize].with(|head| {
        // SAFETY: under the list's lock; neighbours are alive while listed.
        unsafe {
            let links = &mut *g.links();
            if links.prev.is_null() {
                *head = links.next;
            } else {
                (*G::links_at(links.prev)).next = links.next;
            }
            if !links.next.is_null() {
                (*G::links_at(links.next)).prev = links.prev;
            }
            g.set_registry_list(UNLISTED);
        }
    });
}

/// Calls `f` on every listed goroutine, one list at a time under its lock.
pub(crate) fn for_each(mut f: impl FnMut(&G)) {
    for list in lists() {
        list.with(|head| {
            let mut at = *head;
            while !at.is_null() {
                // SAFETY: a goroutine on a list is alive (see the module
                // note), and its links are ours under the lock.
                let g = unsafe { G::from_thin(at) };
                f(g);
                // SAFETY: as above.
                at = unsafe { (*g.links()).next };
            }
        });
    }
}

/// Every listed goroutine that has not finished, each with a reference
/// of its own: a caller that looks at them for long (unwinding their
/// stacks) does it without holding the lists' locks, which goroutines
/// starting and finishing take.
pub(crate) fn listed() -> Vec<GRef> {
    let mut all = Vec::new();
    for_each(|g| {
        if !g.finished() {
            // SAFETY: a listed goroutine is alive while we hold its list's
            // lock, which `for_each` does.
            all.push(unsafe { g.counted() });
        }
    });
    all
}

/// "goroutine N 'name', spawned at file:line:col" for the listed goroutine
/// with id `id`, if it is listed.
pub(crate) fn describe(id: u64) -> Option<String> {
    let mut found = None;
    for_each(|g| {
        if found.is_none() && g.id() == id {
            found = Some(format!(
                "{}, spawned at {},",
                crate::goroutine::describe(g),
                g.spawned_at()
            ));
        }
    });
    found
}
