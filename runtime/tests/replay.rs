//! Replayable scheduling: a seed finds an order-dependent bug, and the same
//! seed replays the same interleaving every time.

mod common;

use common::child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A planted bug: the checker assumes the setter ran first. Returns
/// whether the run was correct.
fn checker_after_setter() -> bool {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let setter = goro::spawn(move || f.store(true, Ordering::SeqCst));
    let checker = goro::spawn(move || flag.load(Ordering::SeqCst));
    setter.join().unwrap();
    checker.join().unwrap()
}

/// Five goroutines that yield and talk over a channel; returns the order in
/// which their steps ran.
fn interleaving() -> String {
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = goro::chan::bounded::<u8>(1);
    let handles: Vec<_> = (b'a'..=b'e')
        .map(|name| {
            let (log, tx, rx) = (log.clone(), tx.clone(), rx.clone());
            goro::spawn(move || {
                for step in 0..3 {
                    log.lock().unwrap().push(name as char);
                    if step == 1 {
                        tx.send(name).unwrap();
                        let _ = rx.recv();
                    }
                    goro::yield_now();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let log = log.lock().unwrap().clone();
    log
}

#[test]
fn a_seed_finds_the_bug_and_replays_it_every_time() {
    let seed = goro::testing::find_failing_seed(0..200, checker_after_setter)
        .expect("some seed runs the checker first");
    for _ in 0..20 {
        assert!(!goro::testing::with_seed(seed, checker_after_setter).unwrap());
    }
    let good = (0..200)
        .find(|&s| goro::testing::with_seed(s, checker_after_setter).unwrap())
        .expect("some seed runs the setter first");
    for _ in 0..20 {
        assert!(goro::testing::with_seed(good, checker_after_setter).unwrap());
    }
}

#[test]
fn the_same_seed_gives_the_same_interleaving() {
    for seed in [1, 2, 3, 42] {
        let first = goro::testing::with_seed(seed, interleaving).unwrap();
        for _ in 0..10 {
            assert_eq!(goro::testing::with_seed(seed, interleaving).unwrap(), first);
        }
    }
    let distinct: std::collections::HashSet<_> = (0..20)
        .map(|seed| goro::testing::with_seed(seed, interleaving).unwrap())
        .collect();
    assert!(distinct.len() > 1, "seeds explore one interleaving only");
}

#[test]
fn goseed_in_the_environment_replays_a_whole_program() {
    let run = |seed: &str| {
        let out = child("goseed_child", &[("GOSEED", seed), ("GOMAXPROCS", "1")]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let at = stdout.find("order=").expect("child printed its order");
        stdout[at..].lines().next().unwrap().to_string()
    };
    assert_eq!(run("7"), run("7"));
    let orders: std::collections::HashSet<_> = ["1", "2", "3", "4", "5", "6"].map(run).into();
    assert!(orders.len() > 1);
}

#[test]
#[ignore = "run as a child process by goseed_in_the_environment_replays_a_whole_program"]
fn goseed_child() {
    println!("order={}", goro::spawn(interleaving).join().unwrap());
}

/// A `GOSEED` that is not a number from 0 to 2^64-1 cannot replay
/// anything: it is reported once on stderr (as an invalid `GOMAXPROCS`
/// is), and the run goes on unseeded.
#[test]
fn an_invalid_goseed_warns_once() {
    for bad in ["notanumber", "-1", "18446744073709551616", " 7"] {
        let out = child("goseed_child", &[("GOSEED", bad), ("GOMAXPROCS", "1")]);
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches("GOSEED").count(), 1, "{bad}: {stderr}");
        assert!(stderr.contains(&format!("{bad:?}")), "{bad}: {stderr}");
    }
    let out = child("goseed_child", &[("GOSEED", "18446744073709551615")]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("GOSEED"));
}
