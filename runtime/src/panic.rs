//! Panics inside goroutines.
//!
//! A panic unwinds to the root of its goroutine, where `catch_unwind` stores
//! the payload for [`JoinHandle::join`](crate::JoinHandle::join); the program
//! goes on. Like a panicking `std::thread`, the panic is reported on stderr
//! when it happens, whether or not anybody joins; the report names the
//! goroutine instead of the worker thread that happened to run it:
//! `goroutine 7 'fetcher' panicked at src/main.rs:10:5:` then the message.
//!
//! The runtime installs its hook once, when it starts, chaining to the hook
//! that was in place: that hook still reports panics on plain threads. goro's
//! report takes the place of std's default one only; a hook the program set
//! before goro started is called for goroutine panics too, in place of goro's
//! report, as it replaces std's for threads (inside it, [`crate::current_id`]
//! tells which goroutine panicked). A hook set after goro started replaces
//! goro's, as any `set_hook` does. (A test harness that captures output may
//! have set a hook of its own, which then reports goroutine panics as std
//! reports a thread's.)
//!
//! A goroutine's stack may be as small as 16 KiB, too small to capture and
//! symbolize a backtrace (`RUST_BACKTRACE`) or to run an arbitrary hook. So
//! for a goroutine panic the hook runs on a stack of its own, of
//! [`HOOK_STACK`] bytes, the size of a std thread's; a backtrace taken there
//! walks on into the goroutine's frames.

use crate::goroutine;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Bytes of the stack a goroutine panic's hook runs on: std's default for a
/// spawned thread, where the default hook runs with room to spare.
const HOOK_STACK: usize = 2 * 1024 * 1024;

/// The hook as `take_hook` returns it.
type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs the goroutine-aware panic hook (once per process).
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        // `take_hook` left std's default hook in place: take it too, to tell
        // whether `previous` is that one or the program's own.
        let default = std::panic::take_hook();
        let previous_is_default = same_hook(&previous, &default);
        drop(default);
        std::panic::set_hook(Box::new(move |info| {
            let g = goroutine::current_ptr();
            if g.is_null() {
                previous(info);
                return;
            }
            on_roomy_stack(|| {
                if previous_is_default {
                    // SAFETY: non-null means the goroutine this thread runs.
                    report(goroutine::describe(unsafe { &*g }), info);
                } else {
                    previous(info);
                }
            });
        }));
    });
}

/// Whether two hooks are the same function: std's default hook is a
/// zero-sized function item, so both boxes of it have the same address and
/// the same vtable (both made by the one `take_hook` in std), and no other
/// hook has that vtable.
fn same_hook(a: &Hook, b: &Hook) -> bool {
    let a: *const (dyn Fn(&PanicHookInfo<'_>) + Sync + Send) = &**a;
    let b: *const (dyn Fn(&PanicHookInfo<'_>) + Sync + Send) = &**b;
    std::ptr::eq(a, b)
}

/// Runs `f` on a fresh stack of [`HOOK_STACK`] bytes (with a guard page),
/// or where it is if no memory can be had for one.
fn on_roomy_stack(f: impl FnOnce()) {
    match corosensei::stack::DefaultStack::new(HOOK_STACK) {
        Ok(stack) => corosensei::on_stack(stack, f),
        Err(_) => f(),
    }
}

fn report(who: String, info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let message = payload_message(info.payload());
    let backtrace = match std::env::var_os("RUST_BACKTRACE") {
        Some(v) if v != "0" => format!("\n{}", std::backtrace::Backtrace::force_capture()),
        _ => String::new(),
    };
    eprintln!("{who} panicked{location}:\n{message}{backtrace}");
}

/// The text of a panic payload (`&str` or `String`), as std prints it.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

/// Reports a goroutine that never ran because it got no stack.
/// The first goroutine that cannot start is reported in full; after that
/// a count, at every power of two, so a burst of thousands is a few lines.
pub(crate) fn report_abandoned(error: &std::io::Error) {
    static ABANDONED: AtomicU64 = AtomicU64::new(0);
    let n = ABANDONED.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 {
        eprintln!("goro: a goroutine could not start: {error}");
    } else if n.is_power_of_two() {
        eprintln!("goro: {n} goroutines could not start so far (the first said why)");
    }
}
