//! Goroutines and the scheduler: spawning, joining, panics, GOMAXPROCS,
//! stealing, and the failures that must be reported (overflow, bad input).
//!
//! GOMAXPROCS is process-wide, so tests that change it hold `PROCS`.

mod common;

use common::{child, with_procs};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
fn a_stack_overflow_names_the_goroutine_and_aborts() {
    expect_overflow_report("overflow_child", &[], 64 * 1024);
}

/// The same on a stack of the default size (a slot of the shared arena,
/// where the other stacks live), with each kind of guard: the kernel's
/// guard regions, userfaultfd write protection (on unpopulated pages, and
/// on the zero page as kernels before 6.4 need) and `mprotect`, the
/// fallbacks forced on a kernel that has them all.
#[test]
fn every_kind_of_guard_stops_an_overflow() {
    for kind in ["region", "userfault", "userfault-zeropage", "mprotect"] {
        let env = [("GORO_GUARDS", kind)];
        for (name, bytes) in [
            ("overflow_child", 64 * 1024),
            ("default_stack_overflow_child", 256 * 1024),
        ] {
            let out = expect_overflow_report(name, &env, bytes);
            let used = kind.trim_end_matches("-zeropage");
            let said = format!("stack guards: {used}\n");
            assert!(
                String::from_utf8_lossy(&out.stdout).contains(&said),
                "{name} {kind}: {out:?}"
            );
        }
    }
}

/// The child overflowed a stack of `bytes`, and said so before aborting.
fn expect_overflow_report(name: &str, env: &[(&str, &str)], bytes: usize) -> std::process::Output {
    let out = child(name, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("'deep' stack overflow: exceeded its {bytes}-byte stack");
    assert!(
        stderr.contains(&report) && stderr.contains("fatal error: stack overflow"),
        "{name} {env:?}: {stderr}"
    );
    // The report names the cure as well as the cause.
    assert!(
        stderr.contains("Builder::stack_size") && stderr.contains("GORO_STACK_SIZE"),
        "{name} {env:?}: {stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(SIGABRT),
        "{name} {env:?}: {out:?}"
    );
    out
}

const SIGABRT: i32 = 6;

/// Recursion with a 512-byte frame: `n` levels deep, returns the sum 1..=n.
fn recurse(n: u64) -> u64 {
    let buf = std::hint::black_box([n; 64]);
    if n == 0 {
        0
    } else {
        recurse(n - 1) + buf[3]
    }
}

#[test]
#[ignore = "run as a child process by a_stack_overflow_names_the_goroutine_and_aborts"]
fn overflow_child() {
    overflow(goro::Builder::new().stack_size(64 * 1024));
}

#[test]
#[ignore = "run as a child process by every_kind_of_guard_stops_an_overflow"]
fn default_stack_overflow_child() {
    overflow(goro::Builder::new());
}

/// Overflows a goroutine named "deep" built by `builder`. Once it runs on
/// its guarded stack, and before it overflows, says on stdout which kind
/// of guard is in use.
fn overflow(builder: goro::Builder) {
    let (started, go_on) = (goro::chan::bounded::<()>(0), goro::chan::bounded::<()>(0));
    let (started_tx, started_rx) = started;
    let (go_tx, go_rx) = go_on;
    let h = builder
        .name("deep")
        .spawn(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            recurse(u64::MAX)
        })
        .unwrap();
    started_rx.recv().unwrap();
    println!("stack guards: {}", goro::metrics().stack_guards);
    go_tx.send(()).unwrap();
    let _ = h.join();
}

/// With `mprotect` guards (kernels with neither guard regions nor
/// `userfaultfd`), every stack costs two mappings: at `vm.max_map_count`
/// `Builder::spawn` fails with an error naming that limit, and the
/// goroutines already spawned run on and finish.
#[test]
fn running_out_of_mappings_is_an_error_that_names_the_limit() {
    let out = child("map_limit_child", &[("GORO_GUARDS", "mprotect")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("vm.max_map_count") && stdout.contains("all finished"),
        "{stdout}"
    );
}

#[test]
#[ignore = "run as a child process by running_out_of_mappings_is_an_error_that_names_the_limit"]
fn map_limit_child() {
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        limit <= 1 << 20,
        "vm.max_map_count {limit}: too high to reach here"
    );
    let (gate, wait) = goro::chan::bounded::<()>(0);
    let mut parked = Vec::new();
    let err = loop {
        let wait = wait.clone();
        match goro::Builder::new().spawn(move || wait.recv().is_err()) {
            Ok(handle) => parked.push(handle),
            Err(e) => break e,
        }
        assert!(
            parked.len() <= limit,
            "{} goroutines and no error",
            parked.len()
        );
    };
    println!("{} goroutines, then: {err}", parked.len());
    gate.close();
    assert!(parked.into_iter().all(|h| h.join().unwrap()));
    println!("all finished");
}

#[test]
fn stack_sizes_out_of_bounds_are_errors_that_name_the_limit() {
    let err = goro::Builder::new()
        .stack_size(2 << 30)
        .spawn(|| ())
        .unwrap_err();
    assert!(err.to_string().contains("1073741824-byte limit"), "{err}");
    let err = goro::Builder::new()
        .stack_size(100)
        .spawn(|| ())
        .unwrap_err();
    assert!(err.to_string().contains("at least"), "{err}");
}

#[test]
fn a_large_stack_takes_deep_recursion() {
    let h = goro::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| recurse(10_000))
        .unwrap();
    assert_eq!(h.join().unwrap(), (1..=10_000u64).sum::<u64>());
}

#[test]
fn invalid_gomaxprocs_warns_once_and_uses_the_default() {
    let default = child("print_procs_child", &[]);
    let default = procs_line(&default);
    for bad in ["abc", "0", "-1"] {
        let out = child("print_procs_child", &[("GOMAXPROCS", bad)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches("GOMAXPROCS").count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("\"{bad}\"")), "{stderr}");
        assert_eq!(procs_line(&out), default);
    }
    let out = child("print_procs_child", &[("GOMAXPROCS", "3")]);
    assert_eq!(procs_line(&out), "procs=3.");
}

/// goro runs at most 1024 workers (Go has no such cap): a larger
/// `GOMAXPROCS` or `set_gomaxprocs` says, once, which value it uses.
#[test]
fn gomaxprocs_above_the_limit_warns_once_with_the_value_used() {
    let out = child("print_procs_child", &[("GOMAXPROCS", "100000")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("GOMAXPROCS").count(), 1, "{stderr}");
    assert!(
        stderr.contains("100000") && stderr.contains("using 1024"),
        "{stderr}"
    );
    assert_eq!(procs_line(&out), "procs=1024.");
    let out = child("set_procs_above_the_limit_child", &[("GOMAXPROCS", "2")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("set_gomaxprocs").count(), 1, "{stderr}");
    assert!(
        stderr.contains("10000") && stderr.contains("using 1024"),
        "{stderr}"
    );
    assert_eq!(procs_line(&out), "procs=1024.");
}

#[test]
#[ignore = "run as a child process by gomaxprocs_above_the_limit_warns_once_with_the_value_used"]
fn set_procs_above_the_limit_child() {
    goro::set_gomaxprocs(10_000);
    goro::set_gomaxprocs(20_000);
    println!("procs={}.", goro::gomaxprocs());
    goro::set_gomaxprocs(2);
}

/// The `procs=N.` a child printed.
fn procs_line(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let at = stdout.find("procs=").expect("child printed procs");
    let end = at + stdout[at..].find('.').unwrap() + 1;
    stdout[at..end].to_string()
}

#[test]
#[ignore = "run as a child process by invalid_gomaxprocs_warns_once_and_uses_the_default"]
fn print_procs_child() {
    println!("procs={}.", goro::gomaxprocs());
}

/// The OS threads that ran `n` goroutines which each yield a few times.
fn threads_used(n: usize, spin: u64) -> HashSet<std::thread::ThreadId> {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let seen = seen.clone();
            goro::spawn(move || {
                for _ in 0..4 {
                    let mut x = 1u64;
                    for i in 0..spin {
                        x = std::hint::black_box(x.wrapping_mul(i | 1));
                    }
                    seen.lock().unwrap().insert(std::thread::current().id());
                    goro::yield_now();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn stealing_spreads_goroutines_spawned_on_one_worker() {
    with_procs(2, || {
        // Both are spawned from one goroutine, onto its worker's local
        // queue; they can only meet if the other worker steals one.
        assert!(
            goro::spawn(|| run_in_parallel(2)).join().unwrap(),
            "work was not stolen"
        );
    });
}

/// A goroutine that spawns more than its worker's local queue holds: the
/// goroutines it wakes meanwhile run before most of those it spawned (Go
/// sends the excess to its global queue), where a plain FIFO would run
/// them after all of them.
#[test]
fn goroutines_woken_during_a_spawn_burst_run_before_most_of_the_burst() {
    const BURST: usize = 1000;
    const WOKEN: usize = usize::MAX;
    with_procs(1, || {
        goro::spawn(|| {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = goro::chan::bounded::<()>(0);
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, log) = (rx.clone(), log.clone());
                    goro::spawn(move || {
                        rx.recv().unwrap();
                        log.lock().unwrap().push(WOKEN);
                    })
                })
                .collect();
            goro::yield_now(); // both waiters run and park on `rx`
            let burst: Vec<_> = (0..BURST)
                .map(|i| {
                    let log = log.clone();
                    goro::spawn(move || log.lock().unwrap().push(i))
                })
                .collect();
            // The first woken goes to `runnext`, the second pushes it to
            // the local queue's tail.
            tx.send(()).unwrap();
            tx.send(()).unwrap();
            waiters
                .into_iter()
                .chain(burst)
                .for_each(|h| h.join().unwrap());
            let log = log.lock().unwrap();
            assert_eq!(log.len(), BURST + 2);
            let mut spawned: Vec<usize> = log.iter().copied().filter(|&i| i != WOKEN).collect();
            spawned.sort_unstable();
            assert!(spawned.iter().copied().eq(0..BURST), "each ran once");
            let last_woken = log.iter().rposition(|&i| i == WOKEN).unwrap();
            assert!(
                last_woken < BURST / 2,
                "a woken goroutine ran {last_woken}th, behind most of the burst"
            );
        })
        .join()
        .unwrap();
    });
}

/// Goroutines spawned beyond the local queue's limit still run while the
/// local queue never empties (a goroutine yielding in a loop keeps it
/// busy): one every 61 rounds, as Go takes from its global queue.
#[test]
fn goroutines_spawned_beyond_the_local_queue_are_not_starved() {
    const BURST: usize = 400;
    with_procs(1, || {
        goro::spawn(|| {
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..BURST {
                let ran = ran.clone();
                goro::spawn(move || ran.fetch_add(1, Ordering::SeqCst));
            }
            let mut yields = 0;
            while ran.load(Ordering::SeqCst) < BURST && yields < 1_000_000 {
                goro::yield_now();
                yields += 1;
            }
            assert_eq!(ran.load(Ordering::SeqCst), BURST, "after {yields} yields");
        })
        .join()
        .unwrap();
    });
}

/// Whether `n` goroutines that never yield can all run at the same time:
/// each busy-waits (without yielding) until all have arrived, so fewer than
/// `n` workers cannot get them all there. Gives up after 20 s.
fn run_in_parallel(n: usize) -> bool {
    let arrived = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let arrived = arrived.clone();
            goro::spawn(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                let start = std::time::Instant::now();
                while arrived.load(Ordering::SeqCst) < n {
                    if start.elapsed().as_secs() > 20 {
                        return false;
                    }
                    std::hint::spin_loop();
                }
                true
            })
        })
        .collect();
    handles.into_iter().all(|h| h.join().unwrap())
}

#[test]
fn set_gomaxprocs_takes_effect_live() {
    with_procs(3, || {
        assert_eq!(goro::gomaxprocs(), 3);
        assert!(
            run_in_parallel(3),
            "3 workers did not run 3 goroutines at once"
        );
        assert_eq!(goro::set_gomaxprocs(1), 3);
        // Let surplus workers notice and retire.
        threads_used(8, 1_000);
        // One token can still move to another thread: when the OS stalls
        // the holder mid-goroutine for 10 ms (a loaded machine), the
        // monitor hands the token on. So some round must see a single
        // thread (on a loaded machine, not always one of the first few);
        // with more tokens every round sees several, until the minute the
        // other tests' hang check allows is up.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let (mut rounds, mut fewest) = (0, usize::MAX);
        while fewest > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "{rounds} rounds, none on fewer than {fewest} threads"
            );
            fewest = fewest.min(threads_used(64, 10_000).len());
            rounds += 1;
        }
        goro::set_gomaxprocs(2);
        assert!(
            run_in_parallel(2),
            "2 workers did not run 2 goroutines at once"
        );
    });
}

/// As Go's `runtime.GOMAXPROCS(0)`: 0 only asks, and changes nothing.
#[test]
fn set_gomaxprocs_of_zero_only_queries() {
    with_procs(3, || {
        assert_eq!(goro::set_gomaxprocs(0), 3);
        assert_eq!(goro::gomaxprocs(), 3);
    });
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
