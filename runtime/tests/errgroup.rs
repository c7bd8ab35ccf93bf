//! `goro::sync::ErrGroup`: first error, context cancellation, limits.

mod common;

use common::{panic_message, with_procs};
use goro::context::{self, ContextError};
use goro::sync::ErrGroup;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Every goroutine runs, exactly once; `wait` returns the one error.
#[test]
fn wait_returns_the_first_error_after_all_ran() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let ran = Arc::new(Mutex::new(vec![0u8; 1000]));
            let g = ErrGroup::new();
            for i in 0..1000 {
                let ran = ran.clone();
                g.go(move || {
                    ran.lock().unwrap()[i] += 1;
                    if i == 500 {
                        Err(i)
                    } else {
                        Ok(())
                    }
                });
            }
            assert_eq!(g.wait(), Err(500));
            assert!(ran.lock().unwrap().iter().all(|&n| n == 1));
            assert_eq!(g.wait(), Ok(()), "the error was taken");
        });
    }
}

/// The context is cancelled by the first error, which wakes the
/// goroutines waiting on it.
#[test]
fn the_first_error_cancels_the_context() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let (g, ctx) = ErrGroup::with_context(&context::background());
            let cancelled = Arc::new(AtomicUsize::new(0));
            for _ in 0..100 {
                let (ctx, cancelled) = (ctx.clone(), cancelled.clone());
                g.go(move || {
                    let _ = ctx.done().recv();
                    assert_eq!(ctx.err(), Some(ContextError::Canceled));
                    cancelled.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            g.go(|| Err("failed"));
            assert_eq!(g.wait(), Err("failed"));
            assert_eq!(cancelled.load(Ordering::SeqCst), 100);
        });
    }
}

/// Without an error, `wait` cancels the context when it returns; a
/// cancelled parent cancels the group's context.
#[test]
fn wait_cancels_the_context_and_a_parent_does_too() {
    let (g, ctx) = ErrGroup::<()>::with_context(&context::background());
    g.go(|| Ok(()));
    assert_eq!(g.wait(), Ok(()));
    assert_eq!(ctx.err(), Some(ContextError::Canceled));

    let (parent, cancel) = context::with_cancel(&context::background());
    let (g, ctx) = ErrGroup::<()>::with_context(&parent);
    let waiter = ctx.clone();
    g.go(move || {
        let _ = waiter.done().recv();
        Ok(())
    });
    cancel.cancel();
    assert_eq!(g.wait(), Ok(()));
    assert!(ctx.err().is_some());
}

/// With a limit, never more than that many goroutines of the group run
/// at once, and every one still runs.
#[test]
fn a_limit_bounds_the_running_goroutines() {
    for procs in [1, 2] {
        with_procs(procs, || {
            const LIMIT: usize = 3;
            let g = ErrGroup::<()>::new();
            g.set_limit(LIMIT);
            let now = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..300 {
                let (now, most, ran) = (now.clone(), most.clone(), ran.clone());
                g.go(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    for _ in 0..3 {
                        goro::yield_now();
                    }
                    now.fetch_sub(1, Ordering::SeqCst);
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            g.wait().unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), 300);
            assert!(most.load(Ordering::SeqCst) <= LIMIT);
        });
    }
}

/// `go` from inside a goroutine of the group (through a clone), with a
/// limit, from a goroutine rather than a thread.
#[test]
fn goroutines_of_the_group_start_more() {
    let total = goro::spawn(|| {
        let g = ErrGroup::<()>::new();
        g.set_limit(4);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (g2, count) = (g.clone(), count.clone());
            g.go(move || {
                count.fetch_add(1, Ordering::SeqCst);
                let count = count.clone();
                // Without a limit for the inner ones, or the outer ones
                // holding all slots would wait for themselves.
                goro::spawn(move || count.fetch_add(1, Ordering::SeqCst))
                    .join()
                    .unwrap();
                drop(g2);
                Ok(())
            });
        }
        g.wait().unwrap();
        count.load(Ordering::SeqCst)
    })
    .join()
    .unwrap();
    assert_eq!(total, 20);
}

/// Changing the limit while goroutines run panics, as in Go.
#[test]
fn changing_the_limit_while_running_panics() {
    let g = ErrGroup::<()>::new();
    g.set_limit(1);
    let (tx, rx) = goro::chan::bounded::<()>(0);
    g.go(move || {
        let _ = rx.recv();
        Ok(())
    });
    let err = catch_unwind(AssertUnwindSafe(|| g.set_limit(2))).unwrap_err();
    assert!(panic_message(err).contains("still active"));
    drop(tx);
    g.wait().unwrap();
    g.set_limit(2);
    g.set_limit(-1);
    let n: usize = 3;
    g.set_limit(n);
    g.clear_limit();
}

/// A panicking goroutine's panic is resumed by `wait`, after the others.
#[test]
fn a_panic_is_resumed_by_wait() {
    let g = ErrGroup::<()>::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..10 {
        let ran = ran.clone();
        g.go(move || {
            if i == 3 {
                panic!("task panicked");
            }
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    let err = catch_unwind(AssertUnwindSafe(|| g.wait())).unwrap_err();
    assert_eq!(panic_message(err), "task panicked");
    assert_eq!(ran.load(Ordering::SeqCst), 9);
}
