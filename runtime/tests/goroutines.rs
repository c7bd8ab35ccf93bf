//! Goroutines: spawning, joining, ids, panics, counting, and `go!` from a
//! plain thread.

mod common;

use common::{child, with_procs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn spawn_and_join_return_values_from_threads_and_goroutines() {
    for procs in [1, 4] {
        with_procs(procs, || {
            let outer = goro::spawn(|| {
                let inner: Vec<_> = (0..100u64).map(|i| goro::spawn(move || i * 2)).collect();
                inner.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            });
            assert_eq!(outer.join().unwrap(), 9900);
        });
    }
}

#[test]
fn every_spawned_goroutine_runs_exactly_once() {
    for procs in [1, 3] {
        with_procs(procs, || {
            // From a plain thread (the global queue), and from a goroutine
            // (its worker's local queue, then its spill, stolen from by
            // the others).
            spawn_yielders_counting_runs();
            goro::spawn(spawn_yielders_counting_runs).join().unwrap();
        });
    }
}

/// Spawns 20,000 goroutines that yield once and count their run; checks
/// that each ran exactly once.
fn spawn_yielders_counting_runs() {
    let n = 20_000;
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let runs = runs.clone();
            goro::spawn(move || {
                goro::yield_now();
                runs[i].fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
}

#[test]
fn join_handle_reports_id_and_finish() {
    let h = goro::spawn(goro::current_id);
    let id = h.id();
    assert_eq!(h.join().unwrap(), Some(id));
    let h = goro::spawn(|| 1);
    while !h.is_finished() {
        goro::yield_now();
    }
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn a_panic_is_returned_by_join_and_the_program_goes_on() {
    let h = goro::Builder::new()
        .name("doomed")
        .spawn(|| -> u32 { panic!("boom {}", std::hint::black_box(7)) })
        .unwrap();
    let payload = h.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");
    assert_eq!(goro::spawn(|| 5).join().unwrap(), 5);
}

#[test]
fn a_detached_panic_names_the_goroutine_and_the_program_goes_on() {
    let out = child("detached_panic_child", &[]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'lost' panicked at") && stderr.contains("nobody joins me"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("still running"));
}

#[test]
#[ignore = "run as a child process by a_detached_panic_names_the_goroutine_and_the_program_goes_on"]
fn detached_panic_child() {
    let h = goro::Builder::new()
        .name("lost")
        .spawn(|| panic!("nobody joins me"))
        .unwrap();
    while !h.is_finished() {
        goro::yield_now();
    }
    drop(h);
    println!("still running: {}", goro::spawn(|| 1).join().unwrap());
}

/// A panic hook the program set before goro started still sees the
/// panics of goroutines, in place of goro's report (as it replaces std's).
#[test]
fn a_panic_hook_set_before_goro_sees_goroutine_panics() {
    let out = child("panic_hook_child", &[]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("my hook: goroutine boom in goroutine Some("),
        "{stderr}"
    );
    assert!(!stderr.contains("'hooked' panicked at"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("joined: Err"));
}

#[test]
#[ignore = "run as a child process by a_panic_hook_set_before_goro_sees_goroutine_panics"]
fn panic_hook_child() {
    std::panic::set_hook(Box::new(|info| {
        let message = info.payload().downcast_ref::<&str>().copied();
        eprintln!(
            "my hook: {} in goroutine {:?}",
            message.unwrap_or("?"),
            goro::current_id()
        );
    }));
    let h = goro::Builder::new()
        .name("hooked")
        .spawn(|| panic!("goroutine boom"))
        .unwrap();
    println!("joined: {:?}", h.join().map_err(|_| ()));
}

/// With `RUST_BACKTRACE=1` a panic on the smallest stack allowed is
/// reported, with its backtrace, and stays recoverable: the report is
/// formatted on a stack with room for it.
#[test]
fn a_panic_on_the_smallest_stack_with_a_backtrace_is_recoverable() {
    for backtrace in ["1", "full"] {
        let out = child("small_stack_panic_child", &[("RUST_BACKTRACE", backtrace)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "RUST_BACKTRACE={backtrace}: {stderr}");
        assert!(
            stderr.contains("'small' panicked at") && stderr.contains("small_stack_panic_child"),
            "RUST_BACKTRACE={backtrace}: {stderr}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("joined: Err"));
    }
}

#[test]
#[ignore = "run as a child process by a_panic_on_the_smallest_stack_with_a_backtrace_is_recoverable"]
fn small_stack_panic_child() {
    let h = goro::Builder::new()
        .name("small")
        .stack_size(16 * 1024)
        .spawn(|| panic!("no room"))
        .unwrap();
    println!("joined: {:?}", h.join().map_err(|_| ()));
}

/// When the program ends, a parked goroutine's stack is not unwound: what
/// it holds is not dropped, as with a detached thread (documented in the
/// guide and in `docs/safety.md`).
#[test]
fn at_exit_a_parked_goroutines_destructors_do_not_run() {
    let out = child("parked_at_exit_child", &[]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("main returns"), "{stdout}");
    assert!(!stdout.contains("dropped"), "{stdout}");
}

#[test]
#[ignore = "run as a child process by at_exit_a_parked_goroutines_destructors_do_not_run"]
fn parked_at_exit_child() {
    parked_at_exit_main();
}

#[goro::main]
fn parked_at_exit_main() {
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            println!("dropped");
        }
    }
    let (tx, rx) = goro::chan::bounded::<()>(0);
    let (parked_tx, parked) = goro::chan::bounded::<()>(0);
    goro::spawn(move || {
        let _held = Loud;
        parked_tx.send(()).unwrap();
        let _ = rx.recv(); // never sent to: parked until the process ends
    });
    parked.recv().unwrap();
    println!("main returns");
    std::mem::forget(tx);
}

#[test]
fn num_goroutine_counts_live_goroutines() {
    let out = child("num_goroutine_child", &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("counts: 0 10 0"),
        "{out:?}"
    );
}

#[test]
#[ignore = "run as a child process by num_goroutine_counts_live_goroutines"]
fn num_goroutine_child() {
    let release = Arc::new(AtomicUsize::new(0));
    let before = goro::num_goroutine();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let release = release.clone();
            goro::spawn(move || {
                while release.load(Ordering::Acquire) == 0 {
                    goro::yield_now();
                }
            })
        })
        .collect();
    let during = goro::num_goroutine();
    release.store(1, Ordering::Release);
    handles.into_iter().for_each(|h| h.join().unwrap());
    // A joined goroutine has stored its result; its count drops right after.
    while goro::num_goroutine() != 0 {
        std::thread::yield_now();
    }
    println!("counts: {before} {during} {}", goro::num_goroutine());
}

#[test]
fn go_macro_from_a_plain_thread_starts_the_runtime_lazily() {
    let h = std::thread::spawn(|| goro::go!(|| goro::current_id().is_some()).join().unwrap());
    assert!(h.join().unwrap());
}
