//! The concurrent prime sieve from Go's documentation: a chain of
//! goroutines, one filter per prime found, each passing on what its prime
//! does not divide. Prints the first 100 primes.
//!
//! `cargo run --release --example sieve`
//!
//! ```go
//! func Generate(ch chan<- int) {
//!     for i := 2; ; i++ {
//!         ch <- i
//!     }
//! }
//!
//! func Filter(in <-chan int, out chan<- int, prime int) {
//!     for {
//!         i := <-in
//!         if i%prime != 0 {
//!             out <- i
//!         }
//!     }
//! }
//!
//! func main() {
//!     ch := make(chan int)
//!     go Generate(ch)
//!     for i := 0; i < 100; i++ {
//!         prime := <-ch
//!         fmt.Println(prime)
//!         ch1 := make(chan int)
//!         go Filter(ch, ch1, prime)
//!         ch = ch1
//!     }
//! }
//! ```

use goro::chan::{self, Receiver, Sender};
use goro::go;
use std::time::{Duration, Instant};

/// Sends 2, 3, 4, ... until nobody listens any more.
fn generate(ch: Sender<u64>) {
    for i in 2.. {
        if ch.send(i).is_err() {
            return; // the receiver is gone: the sieve is over
        }
    }
}

/// Copies what `prime` does not divide from `input` to `out`.
fn filter(input: Receiver<u64>, out: Sender<u64>, prime: u64) {
    for i in input {
        if i % prime != 0 && out.send(i).is_err() {
            return; // the next stage is gone: so are we, and so goes ours
        }
    }
}

#[goro::main]
fn main() {
    let (tx, mut ch) = chan::bounded(0);
    go!(generate(tx));
    let mut primes = Vec::new();
    for _ in 0..100 {
        let prime = ch.recv().unwrap();
        primes.push(prime);
        let (tx1, ch1) = chan::bounded(0);
        go!(filter(ch, tx1, prime));
        ch = ch1;
    }
    for row in primes.chunks(10) {
        let row: Vec<String> = row.iter().map(|p| format!("{p:>3}")).collect();
        println!("{}", row.join(" "));
    }

    // Go's program exits with the chain still running. Here, dropping the
    // last receiver makes the last filter's next send fail; it returns and
    // drops its input, and so on down to the generator.
    println!("goroutines in the chain: {}", goro::num_goroutine() - 1);
    drop(ch);
    let start = Instant::now();
    while goro::num_goroutine() > 1 && start.elapsed() < Duration::from_secs(5) {
        goro::sleep(Duration::from_millis(1));
    }
    println!(
        "after dropping the last receiver: {} left, {:.1} ms later",
        goro::num_goroutine() - 1,
        start.elapsed().as_secs_f64() * 1e3
    );
}
