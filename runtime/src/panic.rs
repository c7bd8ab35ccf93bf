//! Panics inside goroutines.
//!
//! A panic unwinds to the root of its goroutine, where `catch_unwind` stores
//! the payload for [`JoinHandle::join`](crate::JoinHandle::join); the program
//! goes on. Like a panicking `std::thread`, the panic is reported on stderr
//! when it happens, whether or not anybody joins; the report names the
//! goroutine instead of the worker thread that happened to run it:
//! `goroutine 7 'fetcher' panicked at src/main.rs:10:5:` then the message.
//!
//! The runtime installs its hook once, chaining to the hook that was in place
//! (the default one, or the user's), which still reports panics on plain
//! threads.

use crate::goroutine;
use std::panic::PanicHookInfo;
use std::sync::Once;

/// Installs the goroutine-aware panic hook (once per process).
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let g = goroutine::current_ptr();
            if g.is_null() {
                previous(info);
            } else {
                // SAFETY: non-null means the goroutine this thread runs.
                report(goroutine::describe(unsafe { &*g }), info);
            }
        }));
    });
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
pub(crate) fn report_abandoned(error: &std::io::Error) {
    eprintln!("goro: a goroutine could not start: {error}");
}
