//! The execution trace: recorded around real programs (a ping-pong, a
//! worker pool), parsed back, and checked for what a viewer relies on:
//! run slices of one track never overlap, every wake arrow ends at a
//! later run of the goroutine it woke, and the runs and finishes match
//! `goro::metrics()`. Tracing is process-global: every test here holds
//! [`TRACE`].

mod common;

use goro::chan;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

static TRACE: Mutex<()> = Mutex::new(());

/// A trace file in the temp directory, removed when dropped.
struct TraceFile(PathBuf);

impl TraceFile {
    fn new(name: &str) -> TraceFile {
        let file = format!("goro-trace-{}-{name}.json", std::process::id());
        TraceFile(std::env::temp_dir().join(file))
    }

    fn parse(&self) -> Trace {
        let text = std::fs::read_to_string(&self.0).unwrap();
        let json: Value = serde_json::from_str(&text).expect("the trace is valid JSON");
        Trace(json["traceEvents"].as_array().unwrap().clone())
    }
}

impl Drop for TraceFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The events of a parsed trace.
struct Trace(Vec<Value>);

/// A goroutine's run, in nanoseconds.
#[derive(Debug)]
struct Run {
    tid: u64,
    start: u64,
    end: u64,
    g: u64,
    why: String,
}

/// Microseconds with three decimals, as nanoseconds.
fn nanos(v: &Value) -> u64 {
    (v.as_f64().unwrap() * 1000.0).round() as u64
}

impl Trace {
    fn with(&self, ph: &str) -> impl Iterator<Item = &Value> {
        let ph = ph.to_string();
        self.0.iter().filter(move |e| e["ph"] == *ph.as_str())
    }

    fn runs(&self) -> Vec<Run> {
        self.with("X")
            .filter(|e| e["cat"] == "run")
            .map(|e| Run {
                tid: e["tid"].as_u64().unwrap(),
                start: nanos(&e["ts"]),
                end: nanos(&e["ts"]) + nanos(&e["dur"]),
                g: e["args"]["g"].as_u64().unwrap(),
                why: e["args"]["end"].as_str().unwrap().to_string(),
            })
            .collect()
    }

    fn slices(&self, cat: &str) -> usize {
        self.with("X").filter(|e| e["cat"] == cat).count()
    }
}

/// Runs on one track never overlap.
fn check_runs_disjoint(runs: &[Run]) {
    let mut by_track: HashMap<u64, Vec<&Run>> = HashMap::new();
    runs.iter()
        .for_each(|r| by_track.entry(r.tid).or_default().push(r));
    for (tid, mut track) in by_track {
        track.sort_by_key(|r| r.start);
        for pair in track.windows(2) {
            assert!(
                pair[0].end <= pair[1].start,
                "runs overlap on track {tid}: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}

/// Every arrow starts once and ends once, at the start of a run of the
/// goroutine it names, no earlier than it started.
fn check_arrows(trace: &Trace, runs: &[Run]) -> usize {
    let mut ends: HashMap<u64, &Value> = HashMap::new();
    for f in trace.with("f") {
        assert_eq!(f["bp"], "e");
        let id = f["id"].as_u64().unwrap();
        assert!(ends.insert(id, f).is_none(), "arrow {id} ends twice");
    }
    let mut starts = 0;
    for s in trace.with("s") {
        let id = s["id"].as_u64().unwrap();
        let g = s["args"]["g"].as_u64().unwrap();
        let f = ends
            .remove(&id)
            .unwrap_or_else(|| panic!("arrow {id} never ends: {s}"));
        let (tid, at) = (f["tid"].as_u64().unwrap(), nanos(&f["ts"]));
        assert!(at >= nanos(&s["ts"]), "arrow {id} ends before it starts");
        assert!(
            runs.iter()
                .any(|r| r.tid == tid && r.start == at && r.g == g),
            "arrow {id} (wake of goroutine {g}) ends at no run of it"
        );
        starts += 1;
    }
    assert!(ends.is_empty(), "arrows that never started: {ends:?}");
    starts
}

/// Checks a trace of a workload; returns its runs.
fn check(trace: &Trace, before: &goro::Metrics, after: &goro::Metrics) -> Vec<Run> {
    let runs = trace.runs();
    check_runs_disjoint(&runs);
    let arrows = check_arrows(trace, &runs);
    assert_eq!(
        runs.len() as u64,
        after.context_switches - before.context_switches,
        "one run slice a context switch"
    );
    let finished = runs.iter().filter(|r| r.why == "finish").count() as u64;
    assert_eq!(
        finished,
        after.goroutines_spawned - before.goroutines_spawned
    );
    assert!(arrows as u64 >= finished, "every spawn draws an arrow");
    assert!(trace.with("C").any(|c| c["name"] == "goroutines"));
    runs
}

/// Records a trace of `body` (run from this plain thread, at
/// GOMAXPROCS=`procs`), with the metrics before and after it; waits for
/// every goroutine to finish first.
fn traced(
    procs: usize,
    name: &str,
    body: impl FnOnce(),
) -> (TraceFile, goro::Metrics, goro::Metrics) {
    let file = TraceFile::new(name);
    common::with_procs(procs, || {
        let before = goro::metrics();
        goro::trace::start(&file.0).unwrap();
        body();
        while goro::num_goroutine() > 0 {
            std::thread::yield_now();
        }
        let after = goro::metrics();
        goro::trace::stop().unwrap();
        (file, before, after)
    })
}

fn ping_pong(rounds: u64) {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let echo = goro::spawn(move || {
        while let Ok(n) = ping_rx.recv() {
            pong_tx.send(n + 1).unwrap();
        }
    });
    let main = goro::spawn(move || {
        for n in 0..rounds {
            ping_tx.send(n).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), n + 1);
        }
    });
    main.join().unwrap();
    echo.join().unwrap();
}

#[test]
fn a_ping_pong_trace_holds_together() {
    let _lock = TRACE.lock().unwrap_or_else(|p| p.into_inner());
    for procs in [1, 2] {
        let (file, before, after) = traced(procs, "pingpong", || ping_pong(200));
        let runs = check(&file.parse(), &before, &after);
        assert!(runs.len() >= 400, "{} runs", runs.len());
        let parks = runs
            .iter()
            .filter(|r| r.why.starts_with("park: chan "))
            .count();
        assert!(parks >= 200, "{parks} runs parked on a channel");
        assert!(runs
            .iter()
            .any(|r| r.why.starts_with("park: chan receive at ")));
    }
}

fn worker_pool(jobs: u64, workers: usize) {
    let (job_tx, job_rx) = chan::bounded::<u64>(4);
    let (result_tx, result_rx) = chan::bounded::<u64>(4);
    let wg = goro::sync::WaitGroup::new();
    for _ in 0..workers {
        let (job_rx, result_tx, wg) = (job_rx.clone(), result_tx.clone(), wg.clone());
        wg.add(1);
        goro::spawn(move || {
            for job in job_rx.iter() {
                result_tx.send(job * job).unwrap();
            }
            wg.done();
        });
    }
    drop(result_tx);
    goro::spawn(move || (0..jobs).for_each(|j| job_tx.send(j).unwrap()));
    let sum: u64 = result_rx.iter().sum();
    assert_eq!(sum, (0..jobs).map(|j| j * j).sum::<u64>());
    wg.wait();
}

#[test]
fn a_worker_pool_trace_holds_together() {
    let _lock = TRACE.lock().unwrap_or_else(|p| p.into_inner());
    for procs in [1, 2] {
        let (file, before, after) = traced(procs, "pool", || worker_pool(300, 4));
        let runs = check(&file.parse(), &before, &after);
        assert_eq!(runs.iter().filter(|r| r.why == "finish").count(), 5);
    }
}

#[test]
fn blocking_calls_timers_and_names_show() {
    let _lock = TRACE.lock().unwrap_or_else(|p| p.into_inner());
    let name = "odd \"name\" \\ here\n";
    let (file, before, after) = traced(1, "misc", || {
        let h = goro::Builder::new().name(name).spawn(|| {
            goro::blocking(|| 1);
            goro::sleep(std::time::Duration::from_millis(1));
        });
        h.unwrap().join().unwrap();
    });
    let trace = file.parse();
    check(&trace, &before, &after);
    assert!(trace.slices("blocking") >= 1, "no blocking call slice");
    assert!(trace.slices("timer") >= 1, "no timer slice");
    let named = trace.with("X").find(|e| e["args"]["name"] == name);
    assert!(named.is_some(), "the goroutine's name is lost");
    let helper = trace
        .with("M")
        .any(|m| m["args"]["name"] == "goro-blocking");
    assert!(helper, "the helper thread's track is not named");
}

#[test]
fn start_and_stop_refuse_what_makes_no_sense() {
    let _lock = TRACE.lock().unwrap_or_else(|p| p.into_inner());
    assert!(goro::trace::stop().is_err(), "nothing to stop");
    let file = TraceFile::new("twice");
    goro::trace::start(&file.0).unwrap();
    assert!(
        goro::trace::start(&file.0).is_err(),
        "a second trace at once"
    );
    goro::trace::stop().unwrap();
    file.parse();
    let missing = std::env::temp_dir().join("goro-no-such-dir/trace.json");
    assert!(goro::trace::start(missing).is_err());
}

/// The child of `gotrace_traces_a_whole_run`: runs a ping-pong and
/// returns, leaving the trace to be stopped at exit.
#[test]
#[ignore]
fn gotrace_child() {
    ping_pong(50);
}

#[test]
fn gotrace_traces_a_whole_run() {
    let file = TraceFile::new("gotrace");
    let path = file.0.to_str().unwrap();
    let out = common::child("gotrace_child", &[("GOTRACE", path)]);
    assert!(out.status.success(), "{out:?}");
    let runs = file.parse().runs();
    check_runs_disjoint(&runs);
    assert!(runs.len() >= 100, "{} runs", runs.len());
}

#[test]
fn an_unusable_gotrace_warns() {
    let out = common::child("gotrace_child", &[("GOTRACE", "/nonexistent/goro/t.json")]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GOTRACE=/nonexistent/goro/t.json"),
        "{stderr}"
    );
}
