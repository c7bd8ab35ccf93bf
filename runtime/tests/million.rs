//! A million goroutines parked at once on one channel, then released: on a
//! stock kernel (`vm.max_map_count` 65530, where one mapping per stack would
//! fail near 32K) they must all park, all wake, and all finish, and their
//! memory must go back to a sane figure per goroutine.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::{park_on_gate, rss_kib};

const N: usize = 1_000_000;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_million_goroutines_park_on_one_channel_and_all_wake() {
    park_a_million();
}

/// The same with `userfaultfd` guards, on unpopulated pages (what kernels
/// 6.4 to 6.12, which lack guard regions, use) and on the zero page (5.11
/// to 6.3), forced on a kernel that has them all: `mprotect` guards would
/// hit `vm.max_map_count` near 32K goroutines.
#[test]
fn a_million_goroutines_park_with_userfault_guards() {
    if !userfaultfd_allowed() {
        eprintln!("skipped: this kernel (or its seccomp filter) refuses userfaultfd");
        return;
    }
    for kind in ["userfault", "userfault-zeropage"] {
        let out = common::child("million_child", &[("GORO_GUARDS", kind)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.contains("1000000 parked goroutines"),
            "{kind}: {out:?}"
        );
    }
}

#[test]
#[ignore = "run as a child process by a_million_goroutines_park_with_userfault_guards"]
fn million_child() {
    park_a_million();
    assert_eq!(goro::metrics().stack_guards, "userfault");
}

/// Whether a `userfaultfd` can be had here, as goro asks for one.
fn userfaultfd_allowed() -> bool {
    const USER_MODE_ONLY: libc::c_int = 1;
    // SAFETY: opens a descriptor (closed at once); no memory effects.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | USER_MODE_ONLY) };
    if fd < 0 {
        return false;
    }
    // SAFETY: the descriptor just opened, used by nobody else.
    unsafe { libc::close(fd as libc::c_int) };
    true
}

fn park_a_million() {
    let maps_before = map_count();
    let rss_before = rss_kib();
    let gate = park_on_gate(N);
    assert!(goro::num_goroutine() >= N);
    let per_goroutine = (rss_kib() - rss_before) as f64 / N as f64;
    let maps_during = map_count();
    gate.release();
    eprintln!(
        "{N} parked goroutines: {per_goroutine:.2} KiB RSS each, {} more mappings",
        maps_during.saturating_sub(maps_before)
    );
    // Debug builds use more stack than release; this bound catches a stack
    // that commits far more than its first pages, or one mapping per stack.
    assert!(
        per_goroutine < 16.0,
        "{per_goroutine} KiB per parked goroutine"
    );
    assert!(
        maps_during < maps_before + 1000,
        "{maps_before} -> {maps_during} mappings"
    );
}
