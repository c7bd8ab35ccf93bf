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

/// Sets the seed from `GOSEED`, if it holds one (see [`seed_from_env`]).
pub(crate) fn set_seed_from_env() {
    if let Some(seed) = seed_from_env() {
        set_seed(Some(seed));
    }
}

/// The seed `GOSEED` sets, if any; an invalid value is reported on stderr
/// (one line) and ignored. Read once, when the runtime starts.
pub(crate) fn seed_from_env() -> Option<u64> {
    let value = std::env::var_os("GOSEED")?;
    match parse_seed(&value) {
        Ok(seed) => seed,
        Err(raw) => {
            let line = format!(
                "goro: ignoring invalid GOSEED={raw:?}: expected a number from 0 to \
                 18446744073709551615; scheduling is not seeded\n"
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
    }
}

/// Parses a `GOSEED` value: `Ok(None)` when empty, `Ok(Some(seed))` for
/// decimal digits that fit a `u64`, else `Err` with the value as text.
fn parse_seed(value: &std::ffi::OsStr) -> Result<Option<u64>, String> {
    let text = value
        .to_str()
        .ok_or_else(|| value.to_string_lossy().into_owned())?;
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(text.to_owned());
    }
    text.parse().map(Some).map_err(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_seed;
    use std::ffi::OsStr;

    #[test]
    fn seeds_parse_as_u64_and_nothing_else_does() {
        let parse = |s: &str| parse_seed(OsStr::new(s));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("0"), Ok(Some(0)));
        assert_eq!(parse("007"), Ok(Some(7)));
        assert_eq!(parse("18446744073709551615"), Ok(Some(u64::MAX)));
        for bad in [
            "notanumber",
            "-1",
            "+1",
            " 7",
            "7 ",
            "1.5",
            "18446744073709551616",
        ] {
            assert_eq!(parse(bad), Err(bad.to_owned()), "{bad:?}");
        }
    }
}
