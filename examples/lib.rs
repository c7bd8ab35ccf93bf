//! goro's runnable examples live beside this file; run one with
//! `cargo run --release --example NAME`. This library holds what several
//! examples share: the servers' accept loop ([`accept`]), a small HTTP/1.1
//! server ([`http`]) and the process's resident memory ([`resident_kib`]).

pub mod accept;
pub mod http;

/// The process's resident memory in KiB (`VmRSS`), 0 where unknown.
pub fn resident_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}
