//! A panic anywhere in a goroutine's life is the goroutine's panic: in its
//! body, in a goroutine-local's destructor, in the destructor of a detached
//! goroutine's result or panic payload. The goroutine finishes, its joiner
//! gets `Err`, and the worker goes on running the others. Every case runs
//! at GOMAXPROCS=1, where a dead worker would stop everything (each wait is
//! bounded, so a regression fails instead of hanging).

mod common;

use common::with_procs;
use std::sync::mpsc;
use std::time::Duration;

/// A value whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a destructor panicked");
    }
}

goro::goroutine_local! {
    static LOUD: std::cell::RefCell<Option<PanicsOnDrop>> = std::cell::RefCell::new(None);
}

/// Waits for `f` on a thread of its own, for at most a minute.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the runtime stopped running goroutines")
}

/// The worker still runs goroutines.
fn worker_goes_on() {
    assert_eq!(within_a_minute(|| goro::spawn(|| 7).join().unwrap()), 7);
}

#[test]
fn a_goroutine_local_whose_destructor_panics_fails_the_goroutine_only() {
    with_procs(1, || {
        let joined = within_a_minute(|| {
            goro::spawn(|| LOUD.with(|l| *l.borrow_mut() = Some(PanicsOnDrop)))
                .join()
                .map_err(|_| ())
        });
        assert_eq!(joined, Err(()), "the joiner sees the destructor's panic");
        worker_goes_on();
    });
}

#[test]
fn a_detached_goroutines_result_whose_destructor_panics_is_dropped_safely() {
    with_procs(1, || {
        for _ in 0..3 {
            let (go, wait) = goro::chan::bounded::<()>(0);
            let h = goro::spawn(move || {
                let _ = wait.recv();
                PanicsOnDrop
            });
            drop(h); // detached while it waits
            within_a_minute(move || go.send(()).unwrap());
            worker_goes_on();
        }
    });
}

#[test]
fn a_detached_goroutines_panic_payload_whose_destructor_panics_is_dropped_safely() {
    with_procs(1, || {
        for _ in 0..3 {
            let (go, wait) = goro::chan::bounded::<()>(0);
            let h = goro::spawn(move || {
                let _ = wait.recv();
                std::panic::panic_any(PanicsOnDrop);
            });
            drop(h);
            within_a_minute(move || go.send(()).unwrap());
            worker_goes_on();
        }
    });
}

/// A handle dropped after its goroutine finished drops the result where
/// the handle is dropped, as any value's destructor runs: the panic is the
/// dropper's, and the runtime goes on.
#[test]
fn a_finished_goroutines_result_is_dropped_with_its_handle() {
    with_procs(1, || {
        let h = goro::spawn(|| PanicsOnDrop);
        while !h.is_finished() {
            std::thread::yield_now();
        }
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(h)));
        assert!(dropped.is_err(), "the destructor ran here");
        worker_goes_on();
    });
}
