//! Hello from a goroutine: Go by Example's "Goroutines", line for line.
//!
//! `cargo run --release --example hello`
//!
//! ```go
//! func f(from string) {
//!     for i := range 3 {
//!         fmt.Println(from, ":", i)
//!     }
//! }
//!
//! func main() {
//!     f("direct")
//!     go f("goroutine")
//!     go func(msg string) {
//!         fmt.Println(msg)
//!     }("going")
//!     time.Sleep(time.Second)
//!     fmt.Println("done")
//! }
//! ```

use goro::go;
use std::time::Duration;

fn f(from: &str) {
    for i in 0..3 {
        println!("{from} : {i}");
    }
}

// `#[goro::main]` runs `main` itself as a goroutine (Go's main goroutine).
#[goro::main]
fn main() {
    // An ordinary, synchronous call.
    f("direct");

    // `go!(f(x))` is Go's `go f(x)`: the arguments are evaluated here, and
    // the call runs concurrently in a new goroutine.
    go!(f("goroutine"));

    // A function literal called in a goroutine, as
    // `go func(msg string) {...}("going")`.
    let print = |msg: &str| println!("{msg}");
    go!(print("going"));

    // The two goroutines' output interleaves with each other. Go's example
    // sleeps to wait for them; `go!` also returns a `JoinHandle`, whose
    // `join()` is the precise way to wait (see the waitgroup example too).
    goro::sleep(Duration::from_secs(1));
    println!("done");
}
