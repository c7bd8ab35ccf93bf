//! Go's `sync` package for goroutines.
