//! GOMAXPROCS: the environment variable (an invalid value warns once and
//! the default is used) and `set_gomaxprocs` taking effect live.
//!
//! GOMAXPROCS is process-wide, so tests that change it hold the common lock.

mod common;

use common::{child, run_in_parallel, threads_used, with_procs};

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
