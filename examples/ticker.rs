//! A ticker stopped after a few ticks: Go by Example's "Tickers" (times
//! scaled down fivefold).
//!
//! `cargo run --release --example ticker`
//!
//! ```go
//! ticker := time.NewTicker(500 * time.Millisecond)
//! done := make(chan bool)
//! go func() {
//!     for {
//!         select {
//!         case <-done:
//!             return
//!         case t := <-ticker.C:
//!             fmt.Println("Tick at", t)
//!         }
//!     }
//! }()
//! time.Sleep(1600 * time.Millisecond)
//! ticker.Stop()
//! done <- true
//! fmt.Println("Ticker stopped")
//! ```

use goro::chan;
use goro::time::Ticker;
use goro::{go, select};
use std::time::{Duration, Instant};

#[goro::main]
fn main() {
    let start = Instant::now();
    let ticker = Ticker::new(Duration::from_millis(100));
    let (done_tx, done) = chan::bounded::<bool>(0);

    // `ticker.C` is `ticker.receiver()`; the goroutine takes its own clone
    // of that receiving end.
    let ticks = ticker.receiver().clone();
    go!(move || loop {
        select! {
            recv(done) -> _ => return,
            recv(ticks) -> t => println!("Tick at {:>3} ms", (t.unwrap() - start).as_millis()),
        }
    });

    goro::sleep(Duration::from_millis(320));
    ticker.stop(); // no tick is delivered after this (Go 1.23 semantics)
    done_tx.send(true).unwrap();
    println!("Ticker stopped at {} ms", start.elapsed().as_millis());
}
