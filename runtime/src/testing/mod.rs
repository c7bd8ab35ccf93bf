//! Replayable scheduling, for finding and replaying order-dependent bugs.
//!
//! Concurrency bugs hide in rare interleavings. With a *seed* set
//! (`GOSEED=n` in the environment, or [`with_seed`]), every scheduling
//! choice the runtime is free to make is drawn from one seeded generator:
//! whether a woken goroutine runs next or queues behind the others, whether
//! a new goroutine runs before or after those already queued, which ready
//! case a `select!` picks, and (from a per-worker generator seeded from
//! it) which worker a thief robs. At GOMAXPROCS=1
//! (which [`with_seed`] sets) nothing else is left to chance, so a program
//! that does not depend on timers or other threads, and where no goroutine
//! holds its worker for the monitor's 10 ms (a long loop or blocking call
//! whose worker's queue the monitor hands to another thread), runs the same
//! interleaving every time under the same seed, and different seeds explore
//! different interleavings. (At GOMAXPROCS > 1 the OS still decides how the
//! workers' threads interleave, so a seed makes a run likelier to repeat,
//! not certain.)
//!
//! [`find_failing_seed`] runs a test under many seeds and reports the first
//! that makes it fail; [`with_seed`] replays it.
//!
//! `GOSEED` must be a decimal number from 0 to 2^64-1; empty means unset.
//! Any other value is reported once on stderr and ignored, so a replay that
//! cannot happen does not pass for one.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//!
//! // A planted bug: the checker assumes the setter has already run.
//! let racy = || {
//!     let flag = Arc::new(AtomicBool::new(false));
//!     let f = flag.clone();
//!     let setter = goro::spawn(move || f.store(true, Ordering::SeqCst));
//!     let checker = goro::spawn(move || flag.load(Ordering::SeqCst));
//!     setter.join().unwrap();
//!     checker.join().unwrap() // false: the bug showed
//! };
//! let seed = goro::testing::find_failing_seed(0..100, racy).expect("some order shows it");
//! for _ in 0..5 {
//!     assert!(!goro::testing::with_seed(seed, racy).unwrap()); // replays every time
//! }
//! ```

pub(crate) mod seed;

use std::sync::Mutex;

/// One seeded run at a time: the seed and GOMAXPROCS are process-wide.
static SEEDED_RUN: Mutex<()> = Mutex::new(());

/// Runs `f` as a goroutine at GOMAXPROCS=1 with every scheduling choice
/// drawn from `seed`, and returns its result (or its panic). The same seed
/// replays the same interleaving; see the module note for what that needs.
/// Restores GOMAXPROCS and the previous seed (`GOSEED`'s, if any) after.
pub fn with_seed<T, F>(seed: u64, f: F) -> std::thread::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let _one_at_a_time = SEEDED_RUN.lock().unwrap_or_else(|p| p.into_inner());
    let procs = crate::set_gomaxprocs(1);
    let previous = seed::set_seed(Some(seed));
    let result = crate::spawn(f).join();
    seed::set_seed(previous);
    crate::set_gomaxprocs(procs);
    result
}

/// Runs `test` under each seed in turn (see [`with_seed`]) and returns the
/// first seed under which it returns `false` or panics, or `None` if it
/// passed under all of them.
pub fn find_failing_seed<F>(seeds: impl IntoIterator<Item = u64>, test: F) -> Option<u64>
where
    F: Fn() -> bool + Send + Sync + Clone + 'static,
{
    seeds
        .into_iter()
        .find(|&seed| !matches!(with_seed(seed, test.clone()), Ok(true)))
}
