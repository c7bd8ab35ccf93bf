//! # goro: Go's concurrency model as a Rust library
//!
//! Goroutines on small, guarded, growable stacks, scheduled M:N on a
//! GOMAXPROCS-sized work-stealing pool of OS threads; written in blocking
//! style, with no `async` colouring.
//!
//! ```
//! use goro::go;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let handles: Vec<_> = (1..=10).map(|i| go!(square(i))).collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 385);
//! ```
//!
//! - [`go!`] / [`spawn`] / [`Builder`] start goroutines; [`JoinHandle`]
//!   waits for one.
//! - [`yield_now`], [`num_goroutine`], [`gomaxprocs`](fn@gomaxprocs), [`set_gomaxprocs`]
//!   are Go's `runtime.Gosched`, `NumGoroutine` and `GOMAXPROCS`.
//! - [`#[goro::main]`](macro@main) runs `main` as the main goroutine.
//! - [`chan`] and [`select!`] are Go's channels and `select`, with
//!   crossbeam-channel's names; [`sync`], [`time`] and [`context`] are Go's
//!   packages of the same names; [`goroutine_local!`] replaces
//!   `thread_local!` inside goroutines.
//! - [`net`] is std's TCP, UDP and Unix sockets on Go's netpoller: a
//!   goroutine waiting for a socket parks, and its thread runs others;
//!   [`fs`] is `std::fs` whose file I/O never stalls a worker thread, and
//!   [`blocking`](fn@blocking) runs any blocking call that way.
//! - [`scope`](fn@scope) spawns goroutines that borrow the caller's locals, as
//!   `std::thread::scope`; [`sync::ErrGroup`] is Go's errgroup.
//! - [`block_on`] runs a future in a goroutine (parking it, not its
//!   thread); channels, [`JoinHandle`], [`time::sleep_async`] and
//!   [`net`]'s streams have async forms for async code, and the `tokio`
//!   feature adds `goro::tokio::block_on` for futures that need tokio.
//! - [`dump`] (with each parked goroutine's stack), [`dump_grouped`],
//!   [`metrics`], `SIGQUIT`, `GODEBUG=schedtrace` and the deadlock report
//!   show what goroutines are doing; [`pprof::goroutine`] writes the
//!   goroutine profile for pprof's tools; [`trace`] records an execution
//!   trace for Perfetto; [`testing`] replays schedules.
//!
//! Environment: `GOMAXPROCS` (workers; default: CPUs available to the
//! process, as Go 1.25 computes it), `GORO_STACK_SIZE` (usable bytes of a
//! goroutine stack, default 256 KiB; `k`/`m` suffixes), `GOSEED`,
//! `GODEBUG=schedtrace=N`, `GOTRACE=path` (an execution trace of the
//! whole run, see [`trace`]), `GORO_SIGQUIT_DUMP=0` and `GORO_GUARDS`
//! (`userfault`, `userfault-zeropage` or `mprotect`: a lesser kind of
//! stack guard, for tests).
//!
//! The design is in `docs/design.md`; what is checked and what is the
//! user's duty is in `docs/safety.md`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate self as goro;

mod blocking;
pub mod chan;
mod clock;
pub mod context;
mod epoll;
pub mod fs;
mod future;
mod gomaxprocs;
mod goroutine;
mod inspect;
pub mod local;
mod mmap;
pub mod net;
mod netpoll;
mod os_thread;
mod panic;
mod park;
pub mod pprof;
mod registry;
mod scheduler;
mod scope;
mod signal;
mod spin;
mod stack;
pub mod sync;
pub mod testing;
pub mod time;
mod timers;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod trace;
mod traceback;
mod userfault;

pub use blocking::blocking;
pub use future::block_on;
pub use goro_macros::{go, main};
pub use goroutine::{current_id, spawn, yield_now, Builder, GoroutineId, JoinHandle};
pub use inspect::{dump, dump_grouped, metrics, GoroutineInfo, Metrics};
pub use scheduler::{
    enable_migration, free_os_memory, gomaxprocs, num_goroutine, set_gomaxprocs, set_max_threads,
};
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use time::sleep;
pub use traceback::StackFrame;

/// Support for the macros; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use std::sync::{Arc, Mutex};

    /// Runs `f` as the main goroutine and returns its value on the calling
    /// thread, re-raising its panic there (what `#[goro::main]` expands to).
    /// Its stack is as large as the main thread's (see
    /// `stack::main_stack_size`), or a default one, with a warning, if that
    /// much cannot be mapped.
    #[track_caller]
    pub fn run_main<F, T>(f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The body stays here until a spawn succeeds: a failed one drops
        // only its closure.
        let body = Arc::new(Mutex::new(Some(f)));
        let size = crate::stack::main_stack_size();
        let handle = match spawn_main(crate::Builder::new().stack_size(size), &body) {
            Ok(handle) => handle,
            Err(e) => {
                eprintln!(
                    "goro: the main goroutine runs on a default stack: no {size}-byte one: {e}"
                );
                spawn_main(crate::Builder::new(), &body)
                    .unwrap_or_else(|e| panic!("goro: cannot start the main goroutine: {e}"))
            }
        };
        join_main(handle)
    }

    /// Spawns the main goroutine to run the body `run_main` keeps.
    #[track_caller]
    fn spawn_main<F, T>(
        builder: crate::Builder,
        body: &Arc<Mutex<Option<F>>>,
    ) -> std::io::Result<crate::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let body = body.clone();
        builder.name("main").spawn(move || {
            let f = body.lock().unwrap_or_else(|p| p.into_inner()).take();
            f.expect("the main goroutine runs once")()
        })
    }

    /// [`run_main`] with a stack of `stack_size` bytes (what
    /// `#[goro::main(stack_size = N)]` expands to).
    #[track_caller]
    pub fn run_main_with_stack_size<F, T>(stack_size: usize, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = crate::Builder::new()
            .name("main")
            .stack_size(stack_size)
            .spawn(f)
            .unwrap_or_else(|e| panic!("goro: cannot start the main goroutine: {e}"));
        join_main(handle)
    }

    fn join_main<T: Send + 'static>(handle: crate::JoinHandle<T>) -> T {
        match handle.join() {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctest;
