//! Seeing inside: `dump`, `metrics` and `GODEBUG=schedtrace`.

mod common;

use common::{child, with_procs};
use goro::chan;
use goro::sync::WaitGroup;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// Spawns 2,000 goroutines from the caller: every fourth one, named
/// "kept", says it has `started` and parks on `gate`, and its handle is
/// returned; the others, named "churn", finish at once and are freed by
/// whoever drops the last reference (detached: their runner or their home
/// worker; joined: the caller).
fn churn(seed: usize, gate: &chan::Receiver<()>, started: &WaitGroup) -> Vec<goro::JoinHandle<()>> {
    let mut kept = Vec::new();
    for i in 0..2000 {
        if (i + seed).is_multiple_of(4) {
            let (gate, started) = (gate.clone(), started.clone());
            started.add(1);
            let h = goro::Builder::new().name("kept").spawn(move || {
                started.done();
                let _ = gate.recv();
            });
            kept.push(h.unwrap());
        } else {
            let h = goro::Builder::new().name("churn").spawn(|| ()).unwrap();
            if i % 2 == 0 {
                h.join().unwrap();
            }
        }
    }
    kept
}

/// The registry stays whole while goroutines are listed and unlisted on
/// several lists at once (spawned from goroutines on every worker and from
/// plain threads, started on any worker, finished on another or freed
/// unfinished) with a thread dumping all the while: no dump shows a
/// goroutine twice, and once the churn is over every goroutine that has
/// started and waits is listed exactly once. A broken link loses or keeps
/// entries, or crashes a dump.
#[test]
fn the_registry_stays_whole_under_churn() {
    for procs in [1, 4] {
        with_procs(procs, || {
            let stop = Arc::new(AtomicBool::new(false));
            let dumper = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut dumps = 0u64;
                    while dumps == 0 || !stop.load(Ordering::Acquire) {
                        let all = goro::dump();
                        let ids: HashSet<_> = all.iter().map(|g| g.id).collect();
                        assert_eq!(ids.len(), all.len(), "a goroutine listed twice");
                        dumps += 1;
                    }
                })
            };
            let (gate_tx, gate_rx) = chan::bounded::<()>(0);
            let started = WaitGroup::new();
            let from_goroutines: Vec<_> = (0..8)
                .map(|seed| {
                    let (gate, started) = (gate_rx.clone(), started.clone());
                    goro::spawn(move || churn(seed, &gate, &started))
                })
                .collect();
            let from_threads: Vec<_> = (0..2)
                .map(|seed| {
                    let (gate, started) = (gate_rx.clone(), started.clone());
                    std::thread::spawn(move || churn(100 + seed, &gate, &started))
                })
                .collect();
            let mut kept: Vec<goro::JoinHandle<()>> = Vec::new();
            for h in from_goroutines {
                kept.extend(h.join().unwrap());
            }
            for t in from_threads {
                kept.extend(t.join().unwrap());
            }
            started.wait();
            let want: HashSet<_> = kept.iter().map(|h| h.id()).collect();
            let listed: Vec<_> = goro::dump()
                .into_iter()
                .filter(|g| g.name.as_deref() == Some("kept"))
                .map(|g| g.id)
                .collect();
            assert_eq!(
                listed.len(),
                kept.len(),
                "every parked goroutine listed once"
            );
            assert_eq!(listed.into_iter().collect::<HashSet<_>>(), want);
            drop(gate_tx);
            kept.into_iter().for_each(|h| h.join().unwrap());
            stop.store(true, Ordering::Release);
            dumper.join().unwrap();
            assert!(!goro::dump()
                .iter()
                .any(|g| matches!(g.name.as_deref(), Some("kept" | "churn"))));
        });
    }
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

/// A goroutine is listed from its first run: spawned by the only worker,
/// which does not switch out before it dumps, it is not listed yet; once
/// it has run, it is. In a child with GOMAXPROCS=1; should the monitor
/// hand the worker's queue to another thread in between (it does after 10
/// ms without a switch), that thread could start the goroutine, so the
/// child checks the first part only while the worker's thread is alone.
#[test]
fn a_goroutine_is_listed_from_its_first_run() {
    let out = child("listed_from_first_run_child", &[("GOMAXPROCS", "1")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("listed after its first run"), "{stdout}");
}

#[test]
#[ignore = "run as a child process by a_goroutine_is_listed_from_its_first_run"]
fn listed_from_first_run_child() {
    goro::spawn(|| {
        let (tx, rx) = chan::bounded::<()>(0);
        let late = goro::Builder::new()
            .name("late")
            .spawn(move || {
                let _ = rx.recv();
            })
            .unwrap();
        let listed = goro::dump().iter().any(|g| g.id == late.id());
        if goro::metrics().worker_threads == 1 {
            assert!(!listed, "listed before its first run");
            println!("not listed before its first run");
        }
        while !goro::dump()
            .iter()
            .any(|g| g.id == late.id() && g.state == "chan receive")
        {
            goro::yield_now();
        }
        println!("listed after its first run");
        drop(tx);
        late.join().unwrap();
    })
    .join()
    .unwrap();
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
