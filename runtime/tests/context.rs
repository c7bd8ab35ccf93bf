//! `goro::context`: cancellation trees, deadlines, values.
//!
//! Timing is only ever asserted as "not early"; waits synchronise on
//! channels.

mod common;

use common::with_procs;
use goro::chan::{self, Receiver};
use goro::context::{
    self, after_func, background, with_cancel, with_deadline, with_timeout, with_value, Context,
    ContextError,
};
use goro::select;
use goro::sync::WaitGroup;
use goro::time::after;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// Whether `done` stays open until a later `after(d)` fires.
fn open_for(done: &Receiver<()>, d: Duration) -> bool {
    select! {
        recv(done) -> _ => false,
        recv(after(d)) -> _ => true,
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A goroutine that waits in a select for `ctx` to end (or for `quit`,
/// which never comes) and returns its error.
fn waiter(ctx: Context, quit: Receiver<()>) -> goro::JoinHandle<Option<ContextError>> {
    goro::spawn(move || {
        select! {
            recv(ctx.done()) -> msg => assert!(msg.is_err(), "done is closed, never sent on"),
            recv(quit) -> _ => unreachable!(),
        }
        ctx.err()
    })
}

#[test]
fn cancellation_reaches_every_descendant() {
    at_1_and_4(|| {
        let (quit_tx, quit) = chan::bounded::<()>(0);
        let (root, cancel_root) = with_cancel(&background());
        let mut keep = Vec::new(); // cancel funcs, not called
        let mut leaves = Vec::new();
        for i in 0..3 {
            let mid = match i {
                0 => with_cancel(&root),
                1 => with_timeout(&root, Duration::from_secs(3600)),
                _ => (with_value(&root, "level", 1u8), with_cancel(&root).1),
            };
            for j in 0..3 {
                let (leaf, cancel) = if j == 0 {
                    with_deadline(&mid.0, Instant::now() + Duration::from_secs(7200))
                } else {
                    with_cancel(&mid.0)
                };
                leaves.push(leaf);
                keep.push(cancel);
            }
            keep.push(mid.1);
        }
        let waiters: Vec<_> = leaves
            .iter()
            .flat_map(|leaf| (0..20).map(|_| waiter(leaf.clone(), quit.clone())))
            .collect();
        assert!(leaves.iter().all(|l| l.err().is_none()));
        cancel_root.cancel();
        for w in waiters {
            assert_eq!(w.join().unwrap(), Some(ContextError::Canceled));
        }
        assert!(leaves
            .iter()
            .all(|l| l.err() == Some(ContextError::Canceled)));
        drop(quit_tx);
    });
}

#[test]
fn a_timeout_reports_deadline_exceeded() {
    at_1_and_4(|| {
        let start = Instant::now();
        let (ctx, cancel) = with_timeout(&background(), ms(10));
        let deadline = ctx.deadline().unwrap();
        assert!(deadline >= start + ms(10));
        assert_eq!(ctx.err(), None);
        let (_quit_tx, quit) = chan::bounded(0);
        assert_eq!(
            waiter(ctx.clone(), quit).join().unwrap(),
            Some(ContextError::DeadlineExceeded)
        );
        assert!(Instant::now() >= deadline);
        cancel.cancel();
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(ctx.err().unwrap().to_string(), "context deadline exceeded");
    });
}

#[test]
fn a_past_deadline_ends_the_context_at_once() {
    let (ctx, _cancel) = with_deadline(&background(), Instant::now());
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    assert!(ctx.done().try_recv().is_err());
    assert!(ctx.done().recv().is_err());
}

#[test]
fn a_child_with_a_later_deadline_ends_with_its_parent() {
    let start = Instant::now();
    let (parent, _cancel_parent) = with_timeout(&background(), ms(10));
    let (child, _cancel_child) = with_timeout(&parent, Duration::from_secs(3600));
    assert_eq!(child.deadline(), parent.deadline());
    assert!(child.done().recv().is_err());
    assert!(start.elapsed() >= ms(10));
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(parent.err(), Some(ContextError::DeadlineExceeded));
}

#[test]
fn a_child_with_an_earlier_deadline_ends_alone() {
    let (parent, cancel_parent) = with_timeout(&background(), Duration::from_secs(3600));
    let (child, _cancel) = with_timeout(&parent, ms(5));
    assert!(child.deadline() < parent.deadline());
    assert!(child.done().recv().is_err());
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(parent.err(), None);
    cancel_parent.cancel();
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
}

#[test]
fn cancelling_a_child_leaves_its_parent_and_siblings_alone() {
    let (parent, cancel_parent) = with_cancel(&background());
    let (child, cancel_child) = with_cancel(&parent);
    let (sibling, _cancel_sibling) = with_cancel(&parent);
    let (grandchild, _cancel_grandchild) = with_cancel(&child);
    cancel_child.cancel();
    cancel_child.cancel(); // twice: a no-op
    assert_eq!(child.err(), Some(ContextError::Canceled));
    assert_eq!(grandchild.err(), Some(ContextError::Canceled));
    assert_eq!(parent.err(), None);
    assert_eq!(sibling.err(), None);
    assert!(open_for(&parent.done(), ms(10)));
    assert!(open_for(&sibling.done(), ms(1)));
    cancel_parent.cancel();
    assert!(sibling.done().recv().is_err());
}

#[test]
fn background_never_ends() {
    let ctx = background();
    assert_eq!(ctx.err(), None);
    assert_eq!(ctx.deadline(), None);
    assert!(open_for(&ctx.done(), ms(10)));
    assert!(open_for(&context::todo().done(), ms(1)));
}

#[test]
fn a_child_of_an_ended_context_is_born_ended() {
    let (parent, cancel) = with_cancel(&background());
    cancel.cancel();
    let (child, _c) = with_timeout(&parent, Duration::from_secs(3600));
    assert_eq!(child.err(), Some(ContextError::Canceled));
    assert!(child.done().recv().is_err());
}

#[test]
fn values_are_found_up_the_chain_nearest_first() {
    #[derive(PartialEq)]
    struct User;
    #[derive(PartialEq)]
    struct Trace(u32);

    let ctx = with_value(&background(), User, "ann");
    let (ctx, _cancel) = with_cancel(&ctx);
    let ctx = with_value(&ctx, Trace(1), 10u64);
    let ctx = with_value(&ctx, Trace(2), 20u64);
    let ctx = with_value(&ctx, User, "bob");
    assert_eq!(ctx.value::<&str, _>(&User), Some(&"bob"));
    assert_eq!(ctx.value::<u64, _>(&Trace(1)), Some(&10));
    assert_eq!(ctx.value::<u64, _>(&Trace(2)), Some(&20));
    assert_eq!(ctx.value::<u64, _>(&Trace(3)), None);
    assert_eq!(ctx.value::<String, _>(&User), None); // wrong value type
    assert_eq!(ctx.value::<u64, _>(&2u32), None); // wrong key type
    let detached = context::without_cancel(&ctx);
    assert_eq!(detached.value::<&str, _>(&User), Some(&"bob"));
}

#[test]
fn a_deep_chain_cancels_and_drops_without_overflowing_a_stack() {
    goro::spawn(|| {
        let (root, cancel) = with_cancel(&background());
        let mut ctx = root.clone();
        let mut cancels = Vec::new();
        for i in 0..100_000u32 {
            ctx = if i % 2 == 0 {
                with_value(&ctx, i, i)
            } else {
                let (c, f) = with_cancel(&ctx);
                cancels.push(f);
                c
            };
        }
        assert_eq!(ctx.value::<u32, _>(&0u32), Some(&0));
        assert_eq!(ctx.value::<u32, _>(&0i32), None);
        cancel.cancel();
        assert!(ctx.done().recv().is_err());
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        drop(cancels);
        drop(ctx);
        // Never cancelled: the tree is dropped with every child attached.
        let (_root, _cancel) = with_cancel(&background());
        let mut ctx = _root.clone();
        for _ in 0..100_000 {
            ctx = with_cancel(&ctx).0;
        }
    })
    .join()
    .unwrap();
}

/// Children are made concurrently with their parent's cancellation: each
/// one is registered in time or born cancelled, never missed.
#[test]
fn children_racing_the_parents_cancel_all_end() {
    at_1_and_4(|| {
        for _ in 0..20 {
            let (parent, cancel) = with_cancel(&background());
            let makers: Vec<_> = (0..8)
                .map(|_| {
                    let parent = parent.clone();
                    goro::spawn(move || (0..50).map(|_| with_cancel(&parent).0).collect::<Vec<_>>())
                })
                .collect();
            goro::yield_now();
            cancel.cancel();
            for maker in makers {
                for child in maker.join().unwrap() {
                    assert!(child.done().recv().is_err());
                    assert_eq!(child.err(), Some(ContextError::Canceled));
                }
            }
        }
    });
}

#[test]
fn ten_thousand_timeouts_cost_no_thread() {
    for procs in [1, 2] {
        with_procs(procs, || {
            let n = 10_000u64;
            let armed = WaitGroup::new();
            armed.add(n as isize);
            let (parent, cancel_parent) = with_cancel(&background());
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let (armed, parent) = (armed.clone(), parent.clone());
                    goro::spawn(move || {
                        let d = ms(20 + i % 40);
                        let start = Instant::now();
                        let (ctx, cancel) = if i % 2 == 0 {
                            with_timeout(&parent, d)
                        } else {
                            with_timeout(&parent, Duration::from_secs(3600))
                        };
                        armed.done();
                        assert!(ctx.done().recv().is_err());
                        cancel.cancel();
                        if i % 2 == 0 {
                            assert!(start.elapsed() >= d);
                            ctx.err()
                        } else {
                            ctx.err()
                        }
                    })
                })
                .collect();
            armed.wait();
            let during = threads();
            assert!(during < 200, "{during} threads for {n} deadlines");
            // The short ones expire on their own; the rest end with the parent.
            let (short, long): (Vec<_>, Vec<_>) = handles
                .into_iter()
                .enumerate()
                .partition(|(i, _)| i % 2 == 0);
            for (_, h) in short {
                assert_eq!(h.join().unwrap(), Some(ContextError::DeadlineExceeded));
            }
            cancel_parent.cancel();
            for (_, h) in long {
                assert_eq!(h.join().unwrap(), Some(ContextError::Canceled));
            }
        });
    }
}

#[test]
fn after_func_runs_when_the_context_ends() {
    at_1_and_4(|| {
        let start = Instant::now();
        let (ctx, cancel) = with_timeout(&background(), ms(5));
        let (tx, rx) = chan::bounded(1);
        let stop = after_func(&ctx, move || tx.send(goro::current_id()).unwrap());
        let id = rx.recv().unwrap();
        assert!(id.is_some() && id != goro::current_id());
        assert!(start.elapsed() >= ms(5));
        assert!(!stop.stop());
        cancel.cancel();
        assert!(rx.recv().is_err()); // it ran once and dropped its sender
                                     // On an ended context it runs at once.
        let (tx, rx) = chan::bounded(1);
        after_func(&ctx, move || tx.send(()).unwrap());
        rx.recv().unwrap();
    });
}

#[test]
fn a_stopped_after_func_never_runs() {
    let (ctx, cancel) = with_cancel(&background());
    let (tx, rx) = chan::bounded::<()>(1);
    let stop = after_func(&ctx, move || tx.send(()).unwrap());
    assert!(stop.stop());
    assert!(!stop.stop());
    cancel.cancel();
    assert!(rx.recv().is_err()); // the function was dropped unrun
    let never = after_func(&background(), || unreachable!());
    assert!(never.stop());
    assert!(!never.stop());
}
