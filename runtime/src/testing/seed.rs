//! The seeded random source behind `GOSEED` and [`goro::testing`]: every
//! scheduling choice that is random (steal victims, where a woken or new
//! goroutine goes, which ready `select!` case wins) draws from it while a
//! seed is set, so a run at GOMAXPROCS=1 replays the same interleaving.
//!
//! A SplitMix64 generator in one atomic word. Relaxed throughout: at
//! GOMAXPROCS=1 one thread draws every number, in program order, and the
//! seed is set before the goroutines it governs are spawned (the spawn's
//! queue push orders it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether a seed is set, and the generator's state.
pub(crate) static SEEDED: AtomicBool = AtomicBool::new(false);
pub(crate) static SEED_STATE: AtomicU64 = AtomicU64::new(0);
/// Bumped on every `set_seed`, so workers start each seeded run from the
/// same state (their fairness counters reset).
pub(crate) static SEED_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Sets the scheduling seed (`None`: choices are the runtime's own again);
/// returns the previous one.
pub(crate) fn set_seed(seed: Option<u64>) -> Option<u64> {
    let previous = SEEDED
        .load(Ordering::Relaxed)
        .then(|| SEED_STATE.load(Ordering::Relaxed));
    if let Some(seed) = seed {
        SEED_STATE.store(seed, Ordering::Relaxed);
    }
    SEEDED.store(seed.is_some(), Ordering::Relaxed);
    SEED_EPOCH.fetch_add(1, Ordering::Relaxed);
    previous
}

/// The next seeded random number, if scheduling is seeded.
pub(crate) fn seeded_random() -> Option<u64> {
    if !SEEDED.load(Ordering::Relaxed) {
        return None;
    }
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut z = SEED_STATE
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Some(z ^ (z >> 31))
}

/// A seeded coin toss: `Some(heads)` when scheduling is seeded.
pub(crate) fn seeded_coin() -> Option<bool> {
    seeded_random().map(|r| r & 1 == 1)
}

/// Sets the seed from `GOSEED`, if it holds a number.
pub(crate) fn set_seed_from_env() {
    if let Some(seed) = std::env::var("GOSEED").ok().and_then(|s| s.parse().ok()) {
        set_seed(Some(seed));
    }
}
