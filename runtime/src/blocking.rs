//! Blocking calls: code that blocks its OS thread, run the way Go runs a
//! system call, but on a helper thread.
//!
//! [`blocking`] hands the closure to a pool of helper threads and parks the
//! calling goroutine until a helper has run it; the goroutine's worker runs
//! the other goroutines meanwhile. The goroutine stays on its own thread
//! (see the scheduler's "Pinning"): only the closure crosses to the helper,
//! which is why it must be `Send`.
//!
//! # Design
//! A call is a [`Call`] on the calling goroutine's stack: the closure, the
//! slot for its result and the goroutine's unparker. The pool queue holds
//! a type-erased pointer to it; a helper takes it, runs the closure (a
//! panic is caught and carried back), stores the result, sets `done` and
//! wakes the goroutine, which parks until it sees `done`. The `Call` may
//! borrow from the caller's frame: that frame is live until `done`, since
//! the goroutine does not return from `blocking` before (a spurious wake
//! only makes it park again) and a parked goroutine's stack is never freed
//! while anyone holds its unparker (the helper does, until it has woken it).
//!
//! Helpers are started on demand while calls wait and no helper is free,
//! up to `set_max_threads` threads in all with the workers (past that the
//! program stops with Go's "thread exhaustion"); a helper idle for
//! [`HELPER_IDLE`] exits.
//!
//! # Orderings
//! `done` is stored `Release` by the helper after it wrote the result and
//! loaded `Acquire` by the goroutine before it reads the result. The pool
//! queue is a mutex and condition variable.

use crate::park::{self, Unparker, WaitReason};
use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How long a helper thread waits for a call before it exits.
const HELPER_IDLE: Duration = Duration::from_secs(10);

/// How long a helper that finished a call looks for the next before it
/// sleeps.
const HELPER_SPIN: Duration = Duration::from_micros(50);

/// Runs `f`, which may block its OS thread (a file read, a DNS lookup, a
/// lock of a C library), without stalling other goroutines: `f` runs on a
/// helper thread while the calling goroutine parks, and the goroutine's
/// worker runs the others meanwhile. A panic in `f` is resumed in the
/// caller. `f` may borrow from the caller: it finishes before `blocking`
/// returns. From a plain OS thread, `f` simply runs there.
///
/// ```
/// let n = goro::go!(|| goro::blocking(|| std::fs::read("Cargo.toml").map(|b| b.len())))
///     .join()
///     .unwrap()
///     .unwrap();
/// assert!(n > 0);
/// ```
#[track_caller]
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    if crate::goroutine::current_ptr().is_null() {
        return f();
    }
    let call = Arc::new(Call {
        f: Mutex::new(Some(f)),
        result: Mutex::new(None),
        done: AtomicBool::new(false),
        waiter: Mutex::new(Some(Unparker::current())),
    });
    let erased: Arc<dyn Run + Send + Sync + '_> = call.clone();
    // SAFETY: only the lifetime is erased. What the call borrows outlives
    // every use of it: the helper's last touch of the closure and the
    // result is before it sets `done`, and we do not leave this frame
    // before we see `done` (see the module note).
    let job = Job(unsafe {
        std::mem::transmute::<Arc<dyn Run + Send + Sync + '_>, Arc<dyn Run + Send + Sync + 'static>>(
            erased,
        )
    });
    pool().submit(job);
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let why = WaitReason::Blocking.here();
    while !call.done.load(Ordering::Acquire) {
        park::park(why);
    }
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    let result = call
        .result
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .expect("a finished call has a result");
    match result {
        Ok(value) => value,
        Err(payload) => resume_unwind(payload),
    }
}

/// Blocking calls whose goroutine waits for a helper (the deadlock
/// detector's evidence that something is still running).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Whether a goroutine waits for a helper thread to finish its call.
pub(crate) fn calls_in_flight() -> bool {
    IN_FLIGHT.load(Ordering::SeqCst) > 0
}

/// One call: the closure, its result, and who waits for it.
struct Call<F, R> {
    f: Mutex<Option<F>>,
    result: Mutex<Option<std::thread::Result<R>>>,
    done: AtomicBool,
    waiter: Mutex<Option<Unparker>>,
}

/// A call, type-erased, as a helper runs it.
trait Run {
    /// Runs the closure, stores its result, and wakes the caller.
    fn run(&self);
}

impl<F, R> Run for Call<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(&self) {
        let f = self
            .f
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("a call runs once");
        let result = catch_unwind(AssertUnwindSafe(f));
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        let waiter = self
            .waiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("a call has its waiter");
        self.done.store(true, Ordering::Release);
        waiter.unpark();
    }
}

/// A call handed to the pool.
struct Job(Arc<dyn Run + Send + Sync>);

/// The helper threads and the calls waiting for one.
struct Pool {
    queue: Mutex<Queue>,
    /// `queue.jobs.len()`, written under the lock, read by spinning
    /// helpers without it (`Release`/`Acquire`: a hint; the job itself is
    /// taken under the lock).
    queued: AtomicUsize,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Helpers looking for a call without sleeping (see [`HELPER_SPIN`]).
    spinning: usize,
    /// Helpers waiting for a call.
    idle: usize,
    /// Helpers alive.
    threads: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        queue: Mutex::new(Queue::default()),
        queued: AtomicUsize::new(0),
        ready: Condvar::new(),
    })
}

/// Helper threads alive (for `metrics` and the thread limit).
pub(crate) fn helper_threads() -> usize {
    pool().lock().threads
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; wakes an idle helper, or starts one if every idle
    /// helper has a call waiting for it already (a woken helper counts as
    /// idle until it runs, and the calls queued say how many are taken).
    fn submit(&'static self, job: Job) {
        let mut queue = self.lock();
        queue.jobs.push_back(job);
        self.queued.store(queue.jobs.len(), Ordering::Release);
        if queue.jobs.len() <= queue.spinning {
            return; // a spinning helper takes it
        }
        if queue.jobs.len() <= queue.spinning + queue.idle {
            drop(queue);
            self.ready.notify_one();
            return;
        }
        if !crate::scheduler::helper_allowed(queue.threads) {
            crate::scheduler::thread_exhaustion(crate::scheduler::max_threads());
        }
        queue.threads += 1;
        drop(queue);
        let started = std::thread::Builder::new()
            .name("goro-blocking".into())
            .spawn(move || self.serve());
        if let Err(e) = started {
            self.lock().threads -= 1;
            eprintln!("goro: cannot start a thread for a blocking call ({e}); it waits for one");
        }
    }

    /// A helper's loop: runs calls until none comes for [`HELPER_IDLE`].
    fn serve(&self) {
        let mut queue = self.lock();
        let mut spun = false;
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                self.queued.store(queue.jobs.len(), Ordering::Release);
                drop(queue);
                let traced = crate::trace::slice_begins();
                job.0.run();
                crate::trace::slice_ends(traced, crate::trace::Slice::Blocking);
                drop(job);
                queue = self.lock();
                spun = false;
                continue;
            }
            if !spun {
                // Calls often come in a run (a goroutine reading a file
                // piece by piece): look for the next for a moment before
                // sleeping, since a futex wake costs both sides far more.
                queue.spinning += 1;
                drop(queue);
                let until = std::time::Instant::now() + HELPER_SPIN;
                while self.queued.load(Ordering::Acquire) == 0 && std::time::Instant::now() < until
                {
                    std::hint::spin_loop();
                }
                queue = self.lock();
                queue.spinning -= 1;
                spun = true;
                continue;
            }
            spun = false;
            queue.idle += 1;
            let (woken, timeout) = self
                .ready
                .wait_timeout(queue, HELPER_IDLE)
                .unwrap_or_else(|p| p.into_inner());
            queue = woken;
            queue.idle -= 1;
            if timeout.timed_out() && queue.jobs.is_empty() {
                queue.threads -= 1;
                return;
            }
        }
    }
}
