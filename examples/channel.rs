//! A message over a channel: Go by Example's "Channels", line for line.
//!
//! `cargo run --release --example channel`
//!
//! ```go
//! func main() {
//!     messages := make(chan string)
//!
//!     go func() { messages <- "ping" }()
//!
//!     msg := <-messages
//!     fmt.Println(msg)
//! }
//! ```

use goro::chan;
use goro::go;

#[goro::main]
fn main() {
    // `make(chan string)`: an unbuffered channel, which comes in two ends.
    let (messages_tx, messages) = chan::bounded::<String>(0);

    // `messages <- "ping"` from a new goroutine. `send` returns a `Result`:
    // it fails (handing the value back) only if the channel is closed.
    go!(move || messages_tx.send("ping".to_string()).unwrap());

    // `msg := <-messages`: blocks until the goroutine sends. The send and
    // the receive meet (a rendezvous), so no other synchronisation is needed.
    let msg = messages.recv().unwrap();
    println!("{msg}");
}
