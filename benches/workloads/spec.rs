//! What each workload is apart from the runtime it runs on: its sizes, its
//! self-checks and the report it prints, one module a workload. goro's
//! workloads (this folder) and the may and tokio peers (benches/peers, whose
//! library includes this very file with `#[path]`) all take them from here,
//! so the Rust contenders cannot drift apart; the Go programs in
//! `benches/go` use the same numbers.
//!
//! Every workload runs once as a warm-up (the `WARMUP` constants), then once
//! measured.
//!
//! Which workloads there are is not decided here: `benches/workloads.json`
//! lists them for every runner (Rust, Go, may, tokio) and for the renderer,
//! and each runner checks at start that it implements exactly that list
//! (`check`).

use crate::report::{fail, ms, ns_per, Report};
use std::time::Duration;

/// `benches/workloads.json`, read at compile time.
const LIST: &str = include_str!("../workloads.json");

/// The workload names of `benches/workloads.json`, in table order.
pub fn names() -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(LIST)
        .unwrap_or_else(|e| fail(&format!("benches/workloads.json: {e}")));
    let Some(list) = doc["workloads"].as_array() else {
        fail("benches/workloads.json: no \"workloads\" array")
    };
    list.iter()
        .map(|w| match w["name"].as_str() {
            Some(n) => n.to_string(),
            None => fail("benches/workloads.json: a workload without a \"name\""),
        })
        .collect()
}

/// How the workloads a runner implements differ from the list: the names
/// it lacks and those the list does not have. None if they are the same.
pub fn mismatch(implemented: &[&str]) -> Option<String> {
    let listed = names();
    let missing: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|n| !implemented.contains(n))
        .collect();
    let extra: Vec<&str> = implemented
        .iter()
        .copied()
        .filter(|n| !listed.iter().any(|l| l == n))
        .collect();
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!(
            "lacks {} (in benches/workloads.json)",
            missing.join(" ")
        ));
    }
    if !extra.is_empty() {
        why.push(format!(
            "has {} (not in benches/workloads.json)",
            extra.join(" ")
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Exits, saying why, unless `runner` implements exactly the listed
/// workloads: every runner calls this before it runs anything.
pub fn check(runner: &str, implemented: &[&str]) {
    if let Some(why) = mismatch(implemented) {
        fail(&format!("{runner}: {why}"));
    }
}

/// Spawn `N` goroutines that only signal that they are done; wait for all.
pub mod spawn {
    use super::*;

    pub const N: usize = 1_000_000;
    pub const WARMUP: usize = 100_000;

    pub fn report(d: Duration) -> Report {
        Report::new("spawn", "ns_per_goroutine", "ns", ns_per(d, N))
    }
}

/// `N` goroutines block on one gate; RSS growth per goroutine once all have
/// started, then the gate opens and all finish.
pub mod parked {
    use super::*;

    pub const N: usize = 1_000_000;
    /// Small, so the baseline is not inflated by reusable memory.
    pub const WARMUP: usize = 10_000;

    /// `before` and `parked` in KiB; `d` from the first spawn to the last
    /// goroutine's end.
    pub fn report(before: f64, parked: f64, d: Duration) -> Report {
        Report::new(
            "parked",
            "kib_rss_per_goroutine",
            "KiB",
            (parked - before) / N as f64,
        )
        .with("ns_per_goroutine", ns_per(d, N))
        .with("rss_before_kib", before)
        .with("rss_parked_kib", parked)
    }
}

/// `TASKS` goroutines each yield `N` times.
pub mod yield_loop {
    use super::*;

    pub const TASKS: usize = 2;
    pub const N: usize = 1_000_000;
    pub const WARMUP: usize = 10_000;

    pub fn report(d: Duration) -> Report {
        Report::new("yield", "ns_per_yield", "ns", ns_per(d, TASKS * N))
    }
}

/// `TASKS` CPU-bound goroutines, each `xorshift_sum(t, ITERS)`; ms from the
/// first spawn to the last result.
pub mod cpu {
    use super::*;
    use std::sync::Mutex;

    pub const TASKS: usize = 64;
    pub const ITERS: usize = 6_000_000;
    pub const WARMUP_ITERS: usize = ITERS / 50;

    /// The unit of work, as Go's `xorshiftSum`.
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

    /// The goroutines' sums, a slot per goroutine.
    pub struct Sums(Mutex<Vec<u64>>);

    impl Sums {
        pub fn new(tasks: usize) -> Sums {
            Sums(Mutex::new(vec![0u64; tasks]))
        }

        /// Goroutine `t`'s sum is `s`.
        pub fn set(&self, t: usize, s: u64) {
            self.0.lock().unwrap()[t] = s;
        }

        /// The sums added up, for the checksum.
        pub fn total(&self) -> u64 {
            self.0
                .lock()
                .unwrap()
                .iter()
                .fold(0u64, |a, &s| a.wrapping_add(s))
        }
    }

    pub fn report(d: Duration, total: u64) -> Report {
        Report::new("cpu", "ms_total", "ms", ms(d)).with("checksum", (total & 0xFFFF_FFFF) as f64)
    }
}

/// `TASKS` goroutines sleep `NAP`; process CPU time as % of one core.
pub mod idle {
    use super::*;

    pub const TASKS: usize = 1000;
    pub const NAP: Duration = Duration::from_secs(2);
    pub const WARMUP_NAP: Duration = Duration::from_millis(1);

    pub fn report(wall: Duration, busy: Duration) -> Report {
        Report::new(
            "idle",
            "pct_of_core",
            "%",
            100.0 * busy.as_secs_f64() / wall.as_secs_f64(),
        )
        .with("cpu_ms", ms(busy))
        .with("wall_ms", ms(wall))
    }
}

/// `TASKS` goroutines each sleep `NAP` `ITERS` times; wall time and how late
/// the sleeps woke.
pub mod sleepers {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    pub const TASKS: usize = 100_000;
    pub const WARMUP: usize = 1000;
    pub const ITERS: usize = 5;
    pub const NAP: Duration = Duration::from_millis(10);

    /// How late each sleep woke (ns), a slot per goroutine and sleep.
    pub struct Lateness(Vec<AtomicU64>);

    impl Lateness {
        /// Room for `tasks` goroutines' `ITERS` sleeps.
        pub fn new(tasks: usize) -> Lateness {
            Lateness((0..tasks * ITERS).map(|_| AtomicU64::new(0)).collect())
        }

        /// Records goroutine `g`'s sleep `i`, which began at `t0`.
        #[inline]
        pub fn record(&self, g: usize, i: usize, t0: Instant) {
            let over = t0.elapsed().saturating_sub(NAP);
            self.0[g * ITERS + i].store(over.as_nanos() as u64, Ordering::Relaxed);
        }

        /// The samples, sorted.
        pub fn sorted(&self) -> Vec<u64> {
            let mut late: Vec<u64> = self.0.iter().map(|l| l.load(Ordering::Relaxed)).collect();
            late.sort_unstable();
            late
        }
    }

    /// Percentile `p` of the sorted samples (ns), in us.
    fn percentile_us(sorted: &[u64], p: usize) -> f64 {
        if sorted.is_empty() {
            fail("sleepers: no samples");
        }
        sorted[(sorted.len() * p / 100).min(sorted.len() - 1)] as f64 / 1e3
    }

    /// `late` as `Lateness::sorted` returns it.
    pub fn report(d: Duration, late: &[u64]) -> Report {
        Report::new("sleepers", "ms_wall", "ms", ms(d))
            .with("late_p50_us", percentile_us(late, 50))
            .with("late_p99_us", percentile_us(late, 99))
    }
}

/// `N` round trips of a value between two goroutines over two channels.
pub mod pingpong {
    use super::*;

    pub const N: usize = 1_000_000;
    pub const WARMUP: usize = 10_000;

    /// Round trip `i` brought back `got`.
    #[inline]
    pub fn check(i: usize, got: usize) {
        if got != i {
            fail(&format!("pingpong: got {got}, want {i}"));
        }
    }

    pub fn report(d: Duration) -> Report {
        Report::new("pingpong", "ns_per_roundtrip", "ns", ns_per(d, N))
    }
}

/// A chain of `LINKS` goroutines, each forwarding value+1 to its right; a
/// feeder pushes `VALUES` values into the left end while main reads them
/// at the right end. Metric: time / (VALUES * LINKS).
pub mod daisychain {
    use super::*;

    pub const LINKS: usize = 10_000;
    pub const VALUES: usize = 100;
    /// Enough for every link to have run and touched its stack.
    pub const WARMUP: usize = 10;

    /// Value `i` came out of the chain as `got`.
    #[inline]
    pub fn check(i: usize, got: usize) {
        if got != i + LINKS {
            fail(&format!("daisychain: got {got}, want {}", i + LINKS));
        }
    }

    pub fn report(d: Duration) -> Report {
        Report::new("daisychain", "ns_per_hop", "ns", ns_per(d, VALUES * LINKS))
    }
}

/// `PRODUCERS` goroutines each send 1..=per_producer into one channel;
/// `CONSUMERS` goroutines sum until it is closed; the total is checked.
pub mod mpmc {
    use super::*;

    pub const PRODUCERS: usize = 4;
    pub const CONSUMERS: usize = 4;
    /// The channel's capacity, where the runtime's channels have one.
    pub const CAP: usize = 1024;
    pub const PER_PRODUCER: usize = 1_000_000;
    pub const WARMUP: usize = PER_PRODUCER / 100;

    pub fn check(total: usize, per_producer: usize) {
        let want = PRODUCERS * per_producer * (per_producer + 1) / 2;
        if total != want {
            fail(&format!("mpmc: sum {total}, want {want}"));
        }
    }

    pub fn report(d: Duration) -> Report {
        Report::new(
            "mpmc",
            "ns_per_msg",
            "ns",
            ns_per(d, PRODUCERS * PER_PRODUCER),
        )
    }
}

/// A two-way select over two channels, each fed 1..=n by its own
/// goroutine, until all 2n values are in; both sums are checked.
pub mod select {
    use super::*;

    pub const N: usize = 1_000_000;
    /// The channels' capacity, where the runtime's channels have one.
    pub const CAP: usize = 128;
    pub const WARMUP: usize = N / 100;

    pub fn check(sa: usize, sb: usize, n: usize) {
        let want = n * (n + 1) / 2;
        if sa != want || sb != want {
            fail(&format!("select: sums {sa}, {sb}, want {want}"));
        }
    }

    pub fn report(d: Duration) -> Report {
        Report::new("select", "ns_per_select", "ns", ns_per(d, 2 * N))
    }
}

/// The concurrent prime sieve: the first `PRIMES` primes.
pub mod sieve {
    use super::*;

    pub const PRIMES: usize = 3000;
    pub const WARMUP: usize = 300;

    /// `d` for finding `p`, which should be the 3000th prime, 27449: the
    /// check comes first.
    pub fn report(d: Duration, p: usize) -> Report {
        if p != 27449 {
            fail(&format!("sieve: 3000th prime {p}, want 27449"));
        }
        Report::new("sieve", "ms_total", "ms", ms(d))
    }
}

/// A contended mutex: `TASKS` goroutines each lock, increment a shared
/// counter and unlock `ITERS` times; the counter is checked.
pub mod mutex {
    use super::*;

    pub const TASKS: usize = 1000;
    /// 10,000 each: ten million locks, tens of milliseconds, so that one
    /// page-fault storm or preempted vCPU does not decide the figure.
    pub const ITERS: usize = 10_000;
    /// Goroutines and iterations of the warm-up.
    pub const WARMUP: usize = 100;

    pub fn check(counter: usize, tasks: usize, iters: usize) {
        if counter != tasks * iters {
            fail(&format!("mutex: counter {counter}, want {}", tasks * iters));
        }
    }

    pub fn report(d: Duration) -> Report {
        Report::new("mutex", "ns_per_lock", "ns", ns_per(d, TASKS * ITERS))
    }
}

/// WaitGroup fan-in: `REPS` rounds of `N` goroutines that each add their
/// index to a sum and signal done, with one wait per round; the sum is
/// checked.
pub mod waitgroup {
    use super::*;

    pub const N: usize = 100_000;
    pub const REPS: usize = 10;
    /// Rounds of the warm-up.
    pub const WARMUP_REPS: usize = 1;

    pub fn check(got: i64, n: usize, reps: usize) {
        let want = reps as i64 * n as i64 * (n as i64 - 1) / 2;
        if got != want {
            fail(&format!("waitgroup: sum {got}, want {want}"));
        }
    }

    pub fn report(d: Duration) -> Report {
        Report::new("waitgroup", "ns_per_goroutine", "ns", ns_per(d, N * REPS))
    }
}
