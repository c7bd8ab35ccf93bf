//! `workloads NAME`: one whole-program workload per run, the same programs
//! as `benches/go` (same sizes, same structure), each printing one JSON line
//! `{"workload":..,"metric":..,"unit":..,"value":..,"extra":{..}}` (lower is
//! better). `benches/compare.py` runs both side by side. The names are
//! those of `benches/workloads.json`, checked at start.

mod chan;
mod report;
mod sched;
mod spec;
mod sync;

use report::{fail, Report};

type Workload = fn() -> Report;

fn workloads() -> Vec<(&'static str, Workload)> {
    vec![
        ("spawn", sched::spawn),
        ("parked", sched::parked),
        ("yield", sched::yield_loop),
        ("cpu", sched::cpu),
        ("idle", sched::idle),
        ("sleepers", sched::sleepers),
        ("pingpong", chan::pingpong),
        ("daisychain", chan::daisychain),
        ("mpmc", chan::mpmc),
        ("select", chan::select),
        ("sieve", chan::sieve),
        ("mutex", sync::mutex),
        ("waitgroup", sync::waitgroup),
    ]
}

#[goro::main]
fn main() {
    if std::env::var_os("GORO_BENCH_MIGRATE").is_some() {
        // SAFETY: no workload holds anything thread-bound across a park,
        // which is the opt-in's contract (measuring Go's model).
        unsafe { goro::enable_migration() };
    }
    let name = std::env::args().nth(1).unwrap_or_default();
    let all = workloads();
    let implemented: Vec<_> = all.iter().map(|(n, _)| *n).collect();
    spec::check("goro", &implemented);
    if name == "list" {
        spec::names().iter().for_each(|n| println!("{n}"));
        return;
    }
    match all.iter().find(|(n, _)| *n == name) {
        Some((_, run)) => println!("{}", run().to_json()),
        None => fail(&format!(
            "usage: workloads NAME|list ({})",
            spec::names().join(" ")
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn implements_exactly_the_listed_workloads() {
        let all = super::workloads();
        let implemented: Vec<_> = all.iter().map(|(n, _)| *n).collect();
        assert_eq!(super::spec::mismatch(&implemented), None);
    }
}
