//! Timeouts with `select!`: Go by Example's "Timeouts" (times scaled down
//! tenfold), then a non-blocking select and goro's `default(timeout)` arm.
//!
//! `cargo run --release --example select_timeout`
//!
//! ```go
//! c1 := make(chan string, 1)
//! go func() {
//!     time.Sleep(2 * time.Second)
//!     c1 <- "result 1"
//! }()
//! select {
//! case res := <-c1:
//!     fmt.Println(res)
//! case <-time.After(1 * time.Second):
//!     fmt.Println("timeout 1")
//! }
//! // ... and again with c2, a 3 s timeout: "result 2"
//! ```

use goro::chan::{self, Receiver};
use goro::{go, select};
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

/// A goroutine that answers after `delay` on a channel with room for one,
/// so it can finish even if nobody listens any more.
fn slow_call(delay: Duration, answer: &'static str) -> Receiver<&'static str> {
    let (tx, rx) = chan::bounded(1);
    go!(move || {
        goro::sleep(delay);
        let _ = tx.send(answer);
    });
    rx
}

#[goro::main]
fn main() {
    let start = Instant::now();
    let at = || format!("[{:>3} ms]", start.elapsed().as_millis());

    // The call takes 200 ms, the timeout is 100 ms: the timeout wins.
    let c1 = slow_call(200 * MS, "result 1");
    select! {
        recv(c1) -> res => println!("{} {}", at(), res.unwrap()),
        recv(chan::after(100 * MS)) -> _ => println!("{} timeout 1", at()),
    }

    // The call takes 200 ms, the timeout is 300 ms: the result wins.
    let c2 = slow_call(200 * MS, "result 2");
    select! {
        recv(c2) -> res => println!("{} {}", at(), res.unwrap()),
        recv(chan::after(300 * MS)) -> _ => println!("{} timeout 2", at()),
    }

    // Go's `select { ...; default: }`: don't wait at all.
    let (_tx, messages) = chan::bounded::<&str>(0);
    select! {
        recv(messages) -> msg => println!("{} received {}", at(), msg.unwrap()),
        default => println!("{} no message received (default arm)", at()),
    }

    // goro's shorthand for a timeout arm: `default(d)` runs if nothing
    // completes within `d`, without making a timer channel.
    let c3 = slow_call(100 * MS, "result 3");
    select! {
        recv(c3) -> res => println!("{} {}", at(), res.unwrap()),
        default(50 * MS) => println!("{} timeout 3 (default(50 ms) arm)", at()),
    }
}
