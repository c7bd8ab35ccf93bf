//! Shared pieces of the peers' workload binaries (`may-workloads`,
//! `tokio-workloads`): the one-JSON-line report of `benches/workloads`, and
//! the measurements every workload uses. The protocol is described in
//! `benches/compare.py`.

use std::collections::BTreeMap;
use std::time::Duration;

/// The workload names, in the order of `benches/compare.py`.
pub const WORKLOADS: &[&str] = &[
    "spawn",
    "parked",
    "yield",
    "cpu",
    "idle",
    "pingpong",
    "daisychain",
    "mpmc",
    "select",
    "sieve",
    "mutex",
    "sleepers",
    "waitgroup",
];

/// One workload's result.
pub struct Report {
    workload: &'static str,
    metric: &'static str,
    unit: &'static str,
    value: f64,
    extra: BTreeMap<&'static str, f64>,
}

impl Report {
    /// A result without extra fields.
    pub fn new(
        workload: &'static str,
        metric: &'static str,
        unit: &'static str,
        value: f64,
    ) -> Report {
        Report {
            workload,
            metric,
            unit,
            value,
            extra: BTreeMap::new(),
        }
    }

    /// Adds an extra field.
    pub fn with(mut self, key: &'static str, value: f64) -> Report {
        self.extra.insert(key, value);
        self
    }

    /// The JSON line.
    pub fn to_json(&self) -> String {
        let extra: Vec<String> = self
            .extra
            .iter()
            .map(|(k, v)| format!("\"{k}\":{}", number(*v)))
            .collect();
        format!(
            "{{\"workload\":\"{}\",\"metric\":\"{}\",\"unit\":\"{}\",\"value\":{},\"extra\":{{{}}}}}",
            self.workload,
            self.metric,
            self.unit,
            number(self.value),
            extra.join(",")
        )
    }
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}

/// The worker count: `GOMAXPROCS` if set to a positive integer, else the
/// number of CPUs this process may run on.
pub fn procs() -> usize {
    std::env::var("GOMAXPROCS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Nanoseconds of `d` per one of `n` operations.
pub fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Reports a failed self-check; the runner treats a non-zero exit as "n/a".
pub fn fail(msg: &str) -> ! {
    eprintln!("workloads: {msg}");
    std::process::exit(1)
}

/// Reports that this runtime has no faithful equivalent of a workload: the
/// reason goes to stderr and the exit code is 2, which the runner shows as
/// "n/a" with the reason.
pub fn not_available(workload: &str, reason: &str) -> ! {
    eprintln!("{workload}: not run: {reason}");
    std::process::exit(2)
}

/// Resident set size of this process in KiB (VmRSS).
pub fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| fail("rss: no VmRSS in /proc/self/status"))
}

/// Process CPU time (user + system) so far.
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The cpu workload's unit of work, as Go's `xorshiftSum`.
pub fn xorshift_sum(t: usize, iters: usize) -> u64 {
    let mut x = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut sum = 0u64;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum = sum.wrapping_add(x);
    }
    sum
}

/// Parameters of the cpu workload, as in Go and goro.
pub const CPU_TASKS: usize = 64;
pub const CPU_ITERS: usize = 6_000_000;

/// Sorted lateness samples (ns) to the sleepers report's percentiles (us).
pub fn percentile_us(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        fail("sleepers: no samples");
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)] as f64 / 1e3
}

/// Dispatches `argv[1]` to one of `run(name)`'s workloads and prints its
/// JSON line; `list` prints the names.
pub fn main_with(bin: &str, run: impl FnOnce(&str) -> Report) {
    let name = std::env::args().nth(1).unwrap_or_default();
    if name == "list" {
        WORKLOADS.iter().for_each(|n| println!("{n}"));
        return;
    }
    if !WORKLOADS.contains(&name.as_str()) {
        eprintln!("usage: {bin} NAME|list ({})", WORKLOADS.join(" "));
        std::process::exit(2);
    }
    println!("{}", run(&name).to_json());
}

/// The listen address, the first argument of every server binary.
pub fn listen_addr(bin: &str) -> String {
    match std::env::args().nth(1) {
        Some(a) if std::env::args().len() == 2 => a,
        _ => {
            eprintln!("usage: {bin} ADDR   (e.g. 127.0.0.1:18080; workers from GOMAXPROCS)");
            std::process::exit(2)
        }
    }
}

/// Raises this process's soft limit on open files to the hard limit (a
/// server or load generator holding 10,000 connections needs more than the
/// usual 1024). Returns the limit now in force.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur as u64;
            }
        }
        lim.rlim_cur as u64
    }
}

/// Size of the buffer every echo server reads into (Go's and goro's too):
/// it sets most of the memory an idle connection costs.
pub const ECHO_BUF: usize = 4096;
