//! goro's runnable examples live beside this file; run one with
//! `cargo run --release --example NAME`. This library holds what several
//! examples share: a small HTTP/1.1 server ([`http`]).

pub mod http;
