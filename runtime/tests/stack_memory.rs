//! A goroutine that once recursed deep does not keep that memory: its stack
//! goes back to a cache, and the cache's deep pages are released.
//!
//! One test in its own binary, so the RSS it reads is its own.

mod common;
use common::rss_kib;
use goro::sync::WaitGroup;

const GOROUTINES: usize = 64;
const DEPTH_BYTES: usize = 192 * 1024;

/// Recurses until `DEPTH_BYTES` of stack below `top` are in use (measured
/// by the address of a local, whatever the frame sizes), then waits at the
/// bottom until every goroutine is there (so all stacks are deep at once).
fn descend(top: usize, deep: &WaitGroup, release: &WaitGroup) -> u64 {
    let frame = std::hint::black_box([top as u64; 64]);
    let here = &frame as *const _ as usize;
    if top - here >= DEPTH_BYTES {
        deep.done();
        release.wait();
        return frame[0];
    }
    descend(top, deep, release) + frame[7]
}

#[test]
fn deep_stacks_give_their_pages_back() {
    goro::free_os_memory();
    let before = rss_kib();
    let (deep, release, finished) = (WaitGroup::new(), WaitGroup::new(), WaitGroup::new());
    deep.add(GOROUTINES as isize);
    release.add(1);
    finished.add(GOROUTINES as isize);
    for _ in 0..GOROUTINES {
        let (deep, release, finished) = (deep.clone(), release.clone(), finished.clone());
        goro::spawn(move || {
            let top = 0u8;
            descend(&top as *const u8 as usize, &deep, &release);
            finished.done();
        });
    }
    deep.wait();
    let at_depth = rss_kib();
    release.done();
    finished.wait();
    goro::free_os_memory();
    let after = rss_kib();
    eprintln!("RSS KiB: before {before}, all deep {at_depth}, after release {after}");
    let grown = at_depth.saturating_sub(before);
    assert!(
        grown >= GOROUTINES * DEPTH_BYTES / 1024 * 3 / 4,
        "stacks did not go deep: {grown} KiB"
    );
    let kept = after.saturating_sub(before);
    // Each stack may keep its top 16 KiB committed for reuse.
    assert!(
        kept <= GOROUTINES * 24 + 1024,
        "kept {kept} KiB of {grown} KiB"
    );
}
