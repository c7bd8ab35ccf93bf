//! Micro benchmarks of `goro::context`: deriving a cancellable context and
//! cancelling it, and checking a live context's `err` (what a loop that
//! polls for cancellation pays each round).

mod common;
use common::in_goroutine;
use criterion::{criterion_group, criterion_main, Criterion};
use goro::context;
use std::time::Instant;

fn with_cancel_then_cancel(c: &mut Criterion) {
    c.bench_function("context_with_cancel_cancel", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let parent = context::background();
                let start = Instant::now();
                for _ in 0..iters {
                    let (ctx, cancel) = context::with_cancel(&parent);
                    cancel.cancel();
                    std::hint::black_box(ctx);
                }
                start.elapsed()
            })
        })
    });
}

fn err_of_a_live_context(c: &mut Criterion) {
    c.bench_function("context_err_live", |b| {
        b.iter_custom(|iters| {
            in_goroutine(move || {
                let (ctx, _cancel) = context::with_cancel(&context::background());
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(ctx.err());
                }
                start.elapsed()
            })
        })
    });
}

criterion_group!(benches, with_cancel_then_cancel, err_of_a_live_context);
criterion_main!(benches);
