//! Stacks and their limits: an overflow is caught by every kind of guard
//! and named, sizes out of bounds and the mapping limit are errors, a
//! large stack takes deep recursion.

mod common;

use common::child;

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

/// Under an address-space limit (`ulimit -v`) the stack reservation is
/// small. Spawning far more waiting goroutines than it holds: spawns fail
/// with an error naming the limit and its cures once the stacks ran out,
/// the goroutines admitted before that which could not start finish with
/// an error (their joiners get `Err`), and stderr says so in a few lines,
/// not one line per goroutine.
#[test]
fn running_out_of_stacks_fails_spawns_and_is_reported_in_a_few_lines() {
    let out = child("out_of_stacks_child", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("spawn errors: yes") && stdout.contains("all joined"),
        "{stdout}"
    );
    assert!(
        stderr.contains("GORO_STACK_SIZE") && stderr.contains("ulimit -v"),
        "{stderr}"
    );
    let lines = stderr.lines().count();
    assert!(lines < 64, "{lines} lines on stderr:\n{stderr}");
}

#[test]
#[ignore = "run as a child process by running_out_of_stacks_fails_spawns_and_is_reported_in_a_few_lines"]
fn out_of_stacks_child() {
    // 4 GiB of address space leaves a reservation of a few GiB: some
    // thousands of default stacks.
    let limit = libc::rlimit {
        rlim_cur: 4 << 30,
        rlim_max: 4 << 30,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let (gate, waiting) = goro::chan::bounded::<()>(0);
    let mut handles = Vec::new();
    let mut first_error = None;
    for _ in 0..200_000 {
        let waiting = waiting.clone();
        match goro::Builder::new().spawn(move || {
            let _ = waiting.recv();
        }) {
            Ok(h) => handles.push(h),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let error = first_error.expect("the stacks ran out");
    eprintln!("first spawn error: {error}");
    println!("spawn errors: yes");
    assert!(gate.close());
    for h in handles {
        let _ = h.join();
    }
    println!("all joined");
}
