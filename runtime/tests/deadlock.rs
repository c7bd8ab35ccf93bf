//! The deadlock detector and the SIGQUIT dump, tested in child processes
//! of this plain program
//! (no test harness, whose threads would count as threads doing other work):
//! a real deadlock is reported with every goroutine's wait, stack and spawn
//! site (many goroutines grouped by stack) and exit status 2; a program that is merely slow, or waits on a timer or
//! on a thread doing other work, is left alone.

use goro::sync::WaitGroup;
use std::process::Command;
use std::time::Duration;

/// Where the goroutines of the "many" case wait.
#[inline(never)]
fn wait_forever(wg: WaitGroup) {
    wg.wait();
}

/// Each case runs in its own child process, selected by `GORO_CASE`.
fn run_case(case: &str) {
    match case {
        // A hundred goroutines wait in one place, and the main goroutine
        // with them: the report groups them.
        "many" => goro::__private::run_main(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            for _ in 0..100 {
                let wg = wg.clone();
                goro::spawn(move || wait_forever(wg));
            }
            wg.wait();
        }),
        // The main goroutine waits on a WaitGroup nobody will finish, while
        // a named goroutine waits on another.
        "main-goroutine" => goro::__private::run_main(|| {
            let (outer, inner) = (WaitGroup::new(), WaitGroup::new());
            outer.add(1);
            inner.add(1);
            let _stuck = goro::Builder::new()
                .name("stuck")
                .spawn(move || inner.wait())
                .unwrap();
            outer.wait();
        }),
        // A plain main thread joins a goroutine that waits forever.
        "plain-thread" => {
            let wg = WaitGroup::new();
            wg.add(1);
            goro::spawn(move || wg.wait()).join().unwrap();
        }
        // Merely slow: everything waits on a timer for a while.
        "timer" => goro::__private::run_main(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let done = wg.clone();
            goro::spawn(move || {
                goro::sleep(Duration::from_millis(300));
                done.done();
            });
            wg.wait();
        }),
        // Waits on a plain thread that is busy with something else.
        "busy-thread" => goro::__private::run_main(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let done = wg.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                done.done();
            });
            wg.wait();
        }),
        // SIGQUIT while a named goroutine waits on a channel.
        "sigquit" => goro::__private::run_main(|| {
            let (tx, rx) = goro::chan::bounded::<()>(0);
            let _waiter = goro::Builder::new()
                .name("listener")
                .spawn(move || rx.recv())
                .unwrap();
            while !goro::dump().iter().any(|g| g.state == "chan receive") {
                goro::yield_now();
            }
            // SAFETY: sending ourselves a signal has no memory effects.
            unsafe { libc::kill(libc::getpid(), libc::SIGQUIT) };
            // The dump thread exits the process; wait for it.
            goro::sleep(Duration::from_secs(30));
            drop(tx);
        }),
        other => panic!("unknown case {other}"),
    }
}

fn child(case: &str) -> std::process::Output {
    child_with(case, &[], libc::SIG_DFL)
}

/// Runs `case` in a child with `env` added, started with `SIGQUIT`'s
/// disposition set to `sigquit` (`SIG_DFL` or `SIG_IGN`), whatever this
/// process inherited: a shell script's background job, for one, starts
/// with it ignored.
fn child_with(
    case: &str,
    env: &[(&str, &str)],
    sigquit: libc::sighandler_t,
) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("GORO_CASE", case);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: signal(2) is async-signal-safe, so it may run between fork
    // and exec; it touches no memory of ours.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGQUIT, sigquit);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Started with `SIGQUIT` ignored, the program still dumps when sent one,
/// as a Go program does.
fn expect_sigquit_dump_when_started_ignored() -> Result<(), String> {
    let out = child_with("sigquit", &[], libc::SIG_IGN);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && stderr.starts_with("SIGQUIT: quit") {
        Ok(())
    } else {
        Err(format!(
            "sigquit started ignored: {:?}\n{stderr}",
            out.status
        ))
    }
}

/// With `GORO_SIGQUIT_DUMP=0`, SIGQUIT keeps its default action: the
/// process dies of the signal and prints no dump.
fn expect_plain_sigquit() -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let out = child_with("sigquit", &[("GORO_SIGQUIT_DUMP", "0")], libc::SIG_DFL);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.signal() == Some(libc::SIGQUIT) && !stderr.contains("SIGQUIT: quit") {
        Ok(())
    } else {
        Err(format!(
            "sigquit with the dump off: {:?}\n{stderr}",
            out.status
        ))
    }
}

fn expect_deadlock(case: &str, must_show: &[&str]) -> Result<(), String> {
    expect_exit_2(
        case,
        "fatal error: all goroutines are asleep - deadlock!",
        must_show,
    )
}

/// The child exits with status 2 and a report that starts with `first` and
/// shows everything in `must_show`.
fn expect_exit_2(case: &str, first: &str, must_show: &[&str]) -> Result<(), String> {
    let out = child(case);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) {
        return Err(format!(
            "{case}: status {:?}, stderr:\n{stderr}",
            out.status
        ));
    }
    if !stderr.starts_with(first) {
        return Err(format!("{case}: no report:\n{stderr}"));
    }
    match must_show.iter().find(|s| !stderr.contains(*s)) {
        Some(missing) => Err(format!("{case}: report lacks {missing:?}:\n{stderr}")),
        None => Ok(()),
    }
}

fn expect_success(case: &str) -> Result<(), String> {
    let out = child(case);
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{case}: false alarm, status {:?}:\n{stderr}",
            out.status
        ))
    }
}

fn main() {
    if let Ok(case) = std::env::var("GORO_CASE") {
        run_case(&case);
        return;
    }
    let results = [
        expect_deadlock(
            "main-goroutine",
            &[
                "'main' [sync.WaitGroup.Wait",
                "'stuck' [sync.WaitGroup.Wait",
                "spawned at runtime/tests/deadlock.rs:",
                "blocked at runtime/tests/deadlock.rs:",
            ],
        ),
        expect_deadlock("plain-thread", &["[sync.WaitGroup.Wait"]),
        expect_deadlock(
            "many",
            &[
                "\n100 @ 0x",
                "# labels: {\"state\":\"sync.WaitGroup.Wait\"}",
                "\tdeadlock::wait_forever\t",
            ],
        ),
        expect_exit_2(
            "sigquit",
            "SIGQUIT: quit",
            &["'listener' [chan receive", "goroutine 1 'main' ["],
        ),
        expect_sigquit_dump_when_started_ignored(),
        expect_plain_sigquit(),
        expect_success("timer"),
        expect_success("busy-thread"),
    ];
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for f in &failed {
        eprintln!("FAILED: {f}");
    }
    println!(
        "{} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
