//! Seeing inside: `dump`, `metrics` and `GODEBUG=schedtrace`.

mod common;

use common::child;
use goro::chan;
use std::time::Duration;

/// Spawns `n` goroutines named `name` that wait on a channel, and waits
/// until the dump shows them all waiting; returns the sender that releases
/// them (by being dropped) and their handles.
fn parked_goroutines(n: usize, name: &str) -> (chan::Sender<()>, Vec<goro::JoinHandle<()>>) {
    let (tx, rx) = chan::bounded::<()>(0);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let rx = rx.clone();
            goro::Builder::new()
                .name(name)
                .spawn(move || {
                    let _ = rx.recv();
                })
                .unwrap()
        })
        .collect();
    let waiting =
        |g: &goro::GoroutineInfo| g.name.as_deref() == Some(name) && g.state == "chan receive";
    while goro::dump().iter().filter(|g| waiting(g)).count() < n {
        goro::yield_now();
    }
    (tx, handles)
}

#[test]
fn dump_shows_each_goroutine_with_its_wait_and_spawn_site() {
    let (tx, handles) = parked_goroutines(5, "dumped");
    let dumped: Vec<_> = goro::dump()
        .into_iter()
        .filter(|g| g.name.as_deref() == Some("dumped"))
        .collect();
    assert_eq!(dumped.len(), 5);
    for g in &dumped {
        assert!(g.spawned_at.file().ends_with("tests/inspect.rs"), "{g}");
        assert!(g.waiting_for.is_some());
        assert!(g.to_string().contains("'dumped' [chan receive"), "{g}");
    }
    drop(tx);
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert!(!goro::dump()
        .iter()
        .any(|g| g.name.as_deref() == Some("dumped")));
}

#[test]
fn dump_leaves_out_finished_goroutines_whose_handles_are_kept() {
    let (tx, handles) = parked_goroutines(3, "finishing");
    drop(tx);
    while !handles.iter().all(goro::JoinHandle::is_finished) {
        goro::yield_now();
    }
    // The handles keep the goroutines' memory (and registry entries) alive.
    assert!(!goro::dump()
        .iter()
        .any(|g| g.name.as_deref() == Some("finishing")));
    handles.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn metrics_count_spawns_switches_parks_and_stacks() {
    let before = goro::metrics();
    let (tx, handles) = parked_goroutines(50, "measured");
    let during = goro::metrics();
    assert!(during.goroutines_spawned >= before.goroutines_spawned + 50);
    assert!(during.goroutines_parked >= 50);
    assert!(during.goroutines_live >= 50);
    assert!(during.context_switches >= before.context_switches + 50);
    assert!(during.parks >= before.parks + 50);
    assert!(during.stacks_allocated >= 50);
    assert!(during.stack_bytes_committed >= 50 * 4096);
    drop(tx);
    handles.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn schedtrace_prints_a_line_per_period() {
    let out = child("schedtrace_child", &[("GODEBUG", "schedtrace=50")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("SCHED ")).collect();
    assert!(!lines.is_empty(), "{stderr}");
    assert!(
        lines[0].contains("gomaxprocs=") && lines[0].contains("runqueue="),
        "{stderr}"
    );
}

#[test]
#[ignore = "run as a child process by schedtrace_prints_a_line_per_period"]
fn schedtrace_child() {
    goro::spawn(|| goro::sleep(Duration::from_millis(300)))
        .join()
        .unwrap();
}
