//! Where fresh goroutines go: stolen by idle workers from a backlog, and,
//! for a server's connections, started on the workers in turn.
//!
//! A goroutine stays on the thread it starts on (see the scheduler's
//! "Pinning"), so placement is for life: a thief that took fresh goroutines
//! the moment they were queued would split goroutines that talk to each
//! other (a pair spawned together) between two threads for good, and every
//! hand-off between them would cross threads. So a thief takes from a queue
//! only once it holds a backlog ([`backlog_aged`]): its worker has run one
//! goroutine for [`STUCK_AFTER`] with goroutines queued behind it (seen by
//! the thief, or marked by the monitor in `Shared::stuck`), or it has held
//! [`BACKLOG_LONG`] for [`BACKLOG_AGE`]; and a spawn wakes an idle worker
//! only once that length is reached ([`Worker::holds_backlog`]). (Under
//! the `unsafe` opt-in thieves take on sight, as in Go.) A thief
//! takes half of the queue at once (Go's `runqsteal`). Connections are the
//! exception: they talk to their sockets, not to each other, and an accept
//! loop would start them all where it runs; the first goroutine a worker
//! spawns after an `accept` goes to the next worker in turn
//! ([`Worker::spread_target`]).
//!
//! The thief's view of a victim (`status`, `stuck`, the queues' lengths) is
//! relaxed: a stale look delays a steal or makes one a little early, and
//! the steal itself is the deque's, exact.

use super::worker::{Shared, Worker};
use super::STUCK_AFTER;
use crate::goroutine::Runnable;
use crate::scheduler::counters::WorkerStats;
use crossbeam_deque::Steal;
use std::sync::atomic::Ordering;

/// A steal that leaves fewer than this many never-run goroutines on the
/// thief's queue makes its next steal wait [`SMALL_STEAL_PAUSES`] pauses
/// (a few microseconds) first; see `Worker::steal_from_workers`.
const SMALL_STEAL: usize = 4;
const SMALL_STEAL_PAUSES: usize = 160;

/// How long a victim's queue must hold goroutines before a thief takes
/// some (see [`backlog_aged`]), and how old a sighting may be to count.
const BACKLOG_AGE: u64 = 50_000;
const BACKLOG_FORGET: u64 = 1_000_000;
/// A backlog this long is stolen from a worker that is running others.
const BACKLOG_LONG: usize = 16;

impl Worker {
    /// Where the goroutine being spawned starts, if it is to start
    /// elsewhere (see [`spread_next_spawn`](super::spread_next_spawn)): the
    /// next worker slot after the last one tried whose thread holds a token,
    /// or `None` for this worker.
    pub(super) fn spread_target(&self) -> Option<usize> {
        if !self.spread_next.get() {
            return None;
        }
        self.spread_next.set(false);
        let started = self.rt.started_count.load(Ordering::Acquire);
        let target = (1..=started)
            .map(|k| (self.spread_turn.get() + k) % started)
            .find(|&i| {
                let other = self.rt.shared(i);
                i == self.index
                    || (other.active.load(Ordering::Relaxed)
                        && !other.revoked.load(Ordering::Relaxed))
            })?;
        self.spread_turn.set(target);
        (target != self.index).then_some(target)
    }

    /// Whether this worker's stealable queues hold a backlog long enough
    /// for a thief to take from it (see [`backlog_aged`]).
    pub(super) fn holds_backlog(&self) -> bool {
        self.queue.len() + self.spill.len() >= BACKLOG_LONG
    }

    /// Half of another worker's local queue (or spill), from a random
    /// victim onwards, once that queue holds a backlog (see
    /// [`backlog_aged`]; under the opt-in, at once).
    ///
    /// After a steal that left this worker fewer than [`SMALL_STEAL`]
    /// never-run goroutines, the next steal waits a few microseconds first:
    /// the victim is then usually a goroutine spawning in a loop, each
    /// steal reads the end of its queue that its next push must take back
    /// from this core, and waiting lets it push a bigger batch. Goroutines
    /// that have run before were woken by something and want running soon,
    /// so stealing those never waits.
    pub(super) fn steal_from_workers(&self) -> Option<Runnable> {
        let started = self.rt.started_count.load(Ordering::Acquire);
        if started <= 1 {
            return None;
        }
        if self.small_steal.replace(false) {
            (0..SMALL_STEAL_PAUSES).for_each(|_| std::hint::spin_loop());
        }
        let start = (self.next_random() % started as u64) as usize;
        let now = crate::clock::now_nanos();
        let patient = !super::migration_enabled();
        let mut seen = self.backlog_seen.borrow_mut();
        seen.resize(started, Seen::default());
        loop {
            let mut retry = false;
            for k in 0..started {
                let index = (start + k) % started;
                if index == self.index {
                    continue;
                }
                let victim = self.rt.shared(index);
                if victim.stealer.is_empty() {
                    seen[index] = Seen::default();
                    continue;
                }
                if patient && !backlog_aged(&mut seen[index], victim, now) {
                    continue;
                }
                match victim.stealer.steal_batch_and_pop(&self.queue) {
                    Steal::Success(g) => {
                        // SAFETY: popped off a queue: ours to run.
                        let fresh = unsafe { g.is_unstarted() };
                        self.small_steal
                            .set(fresh && self.queue.len() < SMALL_STEAL);
                        WorkerStats::bump(&self.shared().stats.steals);
                        crate::trace::steal(index, g.id());
                        victim.robbed.fetch_add(1, Ordering::Relaxed);
                        return Some(g);
                    }
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }
}

/// What a thief saw of a victim's queue: since when it has seen it
/// non-empty (0: not, or so long ago that it tells nothing), and since
/// when the victim has run the goroutine it runs now (`status`) meanwhile.
#[derive(Clone, Copy, Default)]
pub(super) struct Seen {
    queued_since: u64,
    status: u64,
    status_since: u64,
}

/// Whether a victim's queue, seen non-empty now, holds a backlog worth
/// stealing: its worker has run one goroutine for [`STUCK_AFTER`] with
/// goroutines queued behind it (seen by this thief, or by the monitor:
/// `Shared::stuck`), or the queue has held at least [`BACKLOG_LONG`]
/// goroutines for [`BACKLOG_AGE`]. The sighting stays while the queue is
/// seen non-empty, so a lasting backlog is stolen from steal after steal.
///
/// A goroutine stays on the thread it starts on, so a thief that took
/// fresh goroutines the moment they were queued would split goroutines
/// that talk to each other (a pair spawned together) between two threads
/// for good; a worker running its short queue will get to it soon.
fn backlog_aged(seen: &mut Seen, victim: &Shared, now: u64) -> bool {
    let status = victim.status.load(Ordering::Relaxed);
    if victim.stuck.load(Ordering::Relaxed) == status {
        return true;
    }
    if seen.queued_since == 0 || now.saturating_sub(seen.queued_since) > BACKLOG_FORGET {
        let first = now.max(1);
        *seen = Seen {
            queued_since: first,
            status,
            status_since: first,
        };
        return false;
    }
    if status != seen.status {
        (seen.status, seen.status_since) = (status, now);
    }
    let stuck = now - seen.status_since >= STUCK_AFTER.as_nanos() as u64;
    let long = now - seen.queued_since >= BACKLOG_AGE && victim.stealer.len() >= BACKLOG_LONG;
    // Seen again in time: the sighting does not expire while it lasts.
    seen.queued_since = seen.queued_since.max(now.saturating_sub(BACKLOG_AGE));
    stuck || long
}
