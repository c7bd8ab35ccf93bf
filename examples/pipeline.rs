//! A pipeline with fan-out and fan-in, after the Go blog's "Pipelines and
//! cancellation": a generator feeds numbers to several squarers (fan-out),
//! whose outputs are merged onto one channel (fan-in).
//!
//! `cargo run --release --example pipeline`
//!
//! ```text
//!                    +-> sq 1 -+
//! gen(1..=N) -> ch --+-> sq 2 -+--> merge -> main: sum
//!                    +-> sq 3 -+
//!                    +-> sq 4 -+
//! ```

use goro::chan::{self, Receiver};
use goro::go;

const N: u64 = 10_000;
const SQUARERS: usize = 4;

/// Stage 1: sends `nums` on a channel, then closes it (by dropping the
/// sender when the goroutine ends).
fn gen(nums: impl Iterator<Item = u64> + Send + 'static) -> Receiver<u64> {
    let (out, rx) = chan::bounded(0);
    go!(move || {
        for n in nums {
            out.send(n).unwrap();
        }
        // `out` is dropped here: the last sender gone, the channel closes,
        // which is Go's `close(out)`.
    });
    rx
}

/// Stage 2, run `SQUARERS` times on one input channel (fan-out): each
/// number goes to whichever squarer receives it first. Tags the squares
/// with the squarer's id, to show how the work spread.
fn sq(id: usize, input: Receiver<u64>) -> Receiver<(usize, u64)> {
    let (out, rx) = chan::bounded(0);
    go!(move || {
        for n in input {
            out.send((id, n * n)).unwrap();
        }
    });
    rx
}

/// Stage 3, fan-in: copies every input channel onto one output channel,
/// which closes once all inputs have. Go's version needs a WaitGroup and a
/// goroutine that waits on it to call `close(out)`; here each copier holds
/// a clone of the sender, and the channel closes when the last one drops.
fn merge<T: Send + 'static>(inputs: Vec<Receiver<T>>) -> Receiver<T> {
    let (out, rx) = chan::bounded(0);
    for input in inputs {
        let out = out.clone();
        go!(move || {
            for v in input {
                out.send(v).unwrap();
            }
        });
    }
    rx
}

#[goro::main]
fn main() {
    let numbers = gen(1..=N);
    let squares = (1..=SQUARERS).map(|id| sq(id, numbers.clone())).collect();
    drop(numbers); // main keeps no end of that channel
    let merged = merge(squares);

    let mut per_squarer = [0usize; SQUARERS + 1];
    let mut sum = 0u64;
    for (id, square) in merged {
        per_squarer[id] += 1;
        sum += square;
    }
    println!(
        "sum of the squares of 1..={N}: {sum} (expected {})",
        N * (N + 1) * (2 * N + 1) / 6
    );
    for (id, count) in per_squarer.iter().enumerate().skip(1) {
        println!("  squarer {id} squared {count} numbers");
    }
}
