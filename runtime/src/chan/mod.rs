//! Channels and select: Go's semantics with crossbeam-channel's names.
