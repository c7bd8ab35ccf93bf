//! goro's runnable examples live beside this file; run one with
//! `cargo run --release --example NAME`. This library is empty: it only
//! gives the examples a package.
