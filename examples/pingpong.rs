//! Two goroutines hand a number back and forth over unbuffered channels:
//! the smallest program to look at in an execution trace.
//!
//! ```text
//! GOTRACE=pingpong.json cargo run --release --example pingpong
//! python3 scripts/trace_svg.py pingpong.json -o pingpong.svg
//! ```

use goro::chan;
use goro::go;

#[goro::main]
fn main() {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let echo = go!(move || {
        for v in ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    let mut v = 0;
    for _ in 0..20 {
        ping_tx.send(v).unwrap();
        v = pong_rx.recv().unwrap();
    }
    drop(ping_tx);
    echo.join().unwrap();
    println!("20 round trips: {v}");
}
