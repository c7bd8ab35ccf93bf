//! What the criterion benches share.

use std::time::Duration;

/// Runs `f` as a goroutine and returns what it measured.
pub fn in_goroutine(f: impl FnOnce() -> Duration + Send + 'static) -> Duration {
    goro::spawn(f).join().unwrap()
}
