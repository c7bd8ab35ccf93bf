//! The one JSON line every `workloads` binary prints, and the measurements
//! the workloads take. One copy for all the Rust contenders: a module of
//! goro's `workloads` binary, and included by benches/peers' library with
//! `#[path]` for `may-workloads` and `tokio-workloads`. The protocol is
//! described in `benches/compare.py`.

use std::collections::BTreeMap;
use std::time::Duration;

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
