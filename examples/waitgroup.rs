//! Waiting for goroutines: Go by Example's "WaitGroups", line for line.
//!
//! `cargo run --release --example waitgroup`
//!
//! ```go
//! func worker(id int) {
//!     fmt.Printf("Worker %d starting\n", id)
//!     time.Sleep(time.Second)
//!     fmt.Printf("Worker %d done\n", id)
//! }
//!
//! func main() {
//!     var wg sync.WaitGroup
//!     for i := 1; i <= 5; i++ {
//!         wg.Add(1)
//!         go func() {
//!             defer wg.Done()
//!             worker(i)
//!         }()
//!     }
//!     wg.Wait()
//! }
//! ```

use goro::go;
use goro::sync::WaitGroup;
use std::time::{Duration, Instant};

fn worker(id: usize) {
    println!("Worker {id} starting");
    goro::sleep(Duration::from_secs(1)); // an expensive task
    println!("Worker {id} done");
}

#[goro::main]
fn main() {
    let start = Instant::now();
    // Go passes `&wg`; a goro `WaitGroup` is a handle whose clones share
    // one counter, so each goroutine takes a clone.
    let wg = WaitGroup::new();
    for i in 1..=5 {
        wg.add(1);
        let wg = wg.clone();
        go!(move || {
            worker(i);
            wg.done();
        });
        // Or, as Go 1.25's `wg.Go(func() { worker(i) })`, which also calls
        // `done` if the goroutine panics: `wg.go(move || worker(i));`
    }
    wg.wait();
    println!(
        "all 5 workers done in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
