//! tokio futures from goroutines (feature `tokio`): [`block_on`] runs a
//! future on one shared tokio runtime and parks the calling goroutine
//! until it finishes.
//!
//! # Design
//! goro starts the runtime lazily, on first use: a multi-thread tokio
//! runtime of its own ([`WORKERS`] threads, named `goro-tokio`, every
//! driver tokio was built with enabled), kept for the life of the process.
//! [`block_on`] spawns the future there as a task and waits for the task's
//! `JoinHandle` with [`crate::block_on`]: the goroutine parks, and the
//! handle's waker readies it when the task completes. So the future runs
//! inside a tokio runtime (its reactor, timers and `tokio::spawn` work), and
//! the goroutine holds nothing of tokio's but that handle, which is `Send`
//! and bound to no thread, across the park; it never enters the runtime
//! itself.
//!
//! The future need not be `'static`: it may borrow from the caller, which
//! waits for the task to finish. The task writes its output into a slot on
//! the caller's stack, and the task's future (with its borrows) is dropped
//! by tokio before the handle completes, so when the wait ends nothing of
//! the task refers to the caller's frame any more. Should the wait unwind
//! (a panic of the waker machinery), a guard aborts the task and still
//! waits for it to complete before the frame goes.
//!
//! # Invariants
//! - The caller's frame outlives the task's future: the function returns,
//!   or unwinds, only after the task's `JoinHandle` has completed.
//!
//! # Orderings
//! None of its own: the task's completion is published by tokio's
//! `JoinHandle`, and reaches the goroutine through `crate::block_on`.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// Worker threads of the shared runtime.
pub const WORKERS: usize = 2;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The shared tokio runtime, started on first use.
fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("goro-tokio")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("goro::tokio: cannot start the tokio runtime: {e}"))
    })
}

/// A handle to the shared tokio runtime (started if need be), to spawn
/// tasks on it from anywhere.
///
/// ```
/// let h = goro::tokio::handle().spawn(async { 1 + 1 });
/// assert_eq!(goro::block_on(h).unwrap(), 2);
/// ```
pub fn handle() -> tokio::runtime::Handle {
    runtime().handle().clone()
}

/// Where the task writes its output: a slot on the caller's stack.
struct Out<T>(*mut Option<T>);

// SAFETY: the slot is written once, by the task, while the caller only
// waits; the caller reads it after the task's completion, which tokio
// publishes to it. `T: Send` crosses to the task's thread and back.
unsafe impl<T: Send> Send for Out<T> {}

/// Aborts the task and waits for it, if the wait unwinds.
struct WaitOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
            let _ = crate::block_on(handle);
        }
    }
}

/// Runs `fut` on goro's shared tokio runtime and returns its output: the
/// calling goroutine parks until the future finishes (its worker runs
/// other goroutines), so a future that needs tokio's reactor, timers or
/// `tokio::spawn` (a tokio or hyper client, say) can be called from a
/// goroutine. From a plain thread, blocks the thread. A panic of the
/// future is resumed here.
///
/// Do not call it from a task of that runtime (a thread of its own would
/// then wait for itself); inside async code, `.await` the future instead.
///
/// ```
/// let v = goro::go!(|| goro::tokio::block_on(async {
///     tokio::task::yield_now().await;
///     tokio::spawn(async { 21 }).await.unwrap() * 2
/// }))
/// .join()
/// .unwrap();
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    let mut out: Option<F::Output> = None;
    let slot = Out(&mut out);
    let task = async move {
        let slot = slot;
        let value = fut.await;
        // SAFETY: the caller waits for the task before it reads or frees
        // the slot (see the module note).
        unsafe { *slot.0 = Some(value) };
    };
    let task: Pin<Box<dyn Future<Output = ()> + Send + '_>> = Box::pin(task);
    // SAFETY: only the lifetime changes. The task borrows the caller's
    // frame (the future's borrows, the slot), and this function neither
    // returns nor unwinds before tokio has completed the task's handle,
    // which it does after dropping the task's future.
    let task: Pin<Box<dyn Future<Output = ()> + Send + 'static>> = unsafe {
        std::mem::transmute::<
            Pin<Box<dyn Future<Output = ()> + Send + '_>>,
            Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
        >(task)
    };
    let mut wait = WaitOnDrop(Some(runtime().spawn(task)));
    let handle = wait.0.as_mut().expect("just spawned");
    let result = crate::block_on(handle);
    // Completed: nothing to abort or wait for.
    wait.0 = None;
    match result {
        Ok(()) => out.expect("a completed task stored its output"),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("goro::tokio::block_on: the task was cancelled: {e}"),
    }
}
