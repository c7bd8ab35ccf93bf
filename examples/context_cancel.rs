//! Cancelling a tree of goroutines with `goro::context`, as Go's `context`
//! package does: each goroutine `select!`s on its context's `done()`
//! channel, and cancelling a context cancels every context derived from it.
//!
//! `cargo run --release --example context_cancel`
//!
//! ```text
//! root (with_cancel; main cancels it at 100 ms)
//! +-- branch a (with_cancel(root))          -> leaves a.1, a.2
//! +-- branch b (with_timeout(root, 40 ms))  -> leaves b.1, b.2
//! ```

use goro::context::{self, Context, ContextError};
use goro::sync::WaitGroup;
use goro::{go, select};
use std::time::{Duration, Instant};

/// Works (one unit every 10 ms) until its context ends; reports why.
fn leaf(ctx: Context, name: String, start: Instant) {
    let work = goro::chan::tick(Duration::from_millis(10));
    let mut units = 0;
    loop {
        select! {
            recv(ctx.done()) -> _ => {
                let why: ContextError = ctx.err().unwrap(); // set once done() is closed
                println!(
                    "[{:>3} ms] leaf {name} stops after {units} units: {why}",
                    start.elapsed().as_millis()
                );
                return;
            }
            recv(work) -> _ => units += 1,
        }
    }
}

/// Starts two leaves under its own context and waits for them.
fn branch(ctx: Context, name: &'static str, start: Instant) {
    let wg = WaitGroup::new();
    for i in 1..=2 {
        let (ctx, name) = (ctx.clone(), format!("{name}.{i}"));
        wg.go(move || leaf(ctx, name, start));
    }
    wg.wait();
    println!("[{:>3} ms] branch {name} done", start.elapsed().as_millis());
}

#[goro::main]
fn main() {
    let start = Instant::now();
    let (root, cancel_root) = context::with_cancel(&context::background());

    // Branch a ends with the root; branch b also has a 40 ms deadline of
    // its own, so it ends first, with DeadlineExceeded.
    let (a, cancel_a) = context::with_cancel(&root);
    let (b, cancel_b) = context::with_timeout(&root, Duration::from_millis(40));
    let branches = [go!(branch(a, "a", start)), go!(branch(b, "b", start))];

    goro::sleep(Duration::from_millis(20));
    println!(
        "[{:>3} ms] {} goroutines running",
        start.elapsed().as_millis(),
        goro::num_goroutine() - 1
    );

    goro::sleep(Duration::from_millis(80));
    println!(
        "[{:>3} ms] main cancels the root",
        start.elapsed().as_millis()
    );
    cancel_root.cancel(); // reaches a, and b had ended already

    for b in branches {
        b.join().unwrap();
    }
    // As in Go, call every CancelFunc when done (`defer cancel()`): a no-op
    // here, since their contexts have ended.
    cancel_a.cancel();
    cancel_b.cancel();
    println!(
        "[{:>3} ms] {} goroutines left; root: {:?}",
        start.elapsed().as_millis(),
        goro::num_goroutine() - 1,
        root.err()
    );
}
