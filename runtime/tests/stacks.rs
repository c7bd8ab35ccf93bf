//! Tracebacks: a parked goroutine's stack shows the user's functions, in
//! order, innermost first, in `dump`, its Display and the grouped dump.
//! Run in release too (`cargo test --release -p goro --test stacks`), with
//! the workspace's `debug = "line-tables-only"`.

mod common;

use common::outer_a;
use goro::chan;
use goro::GoroutineInfo;

/// The dump entry of the goroutine `id` once it waits in a receive.
fn parked(id: goro::GoroutineId) -> GoroutineInfo {
    loop {
        let found = goro::dump().into_iter().find(|g| g.id == id);
        match found {
            Some(g) if g.state == "chan receive" => return g,
            _ => goro::yield_now(),
        }
    }
}

fn names(g: &GoroutineInfo) -> Vec<&str> {
    g.stack.iter().map(|f| f.function.as_str()).collect()
}

/// The position of each of our three functions in the stack.
fn positions(g: &GoroutineInfo) -> Vec<Option<usize>> {
    let names = names(g);
    ["inner_c", "middle_b", "outer_a"]
        .iter()
        .map(|f| names.iter().position(|n| n.ends_with(f)))
        .collect()
}

fn three_calls_deep(procs: usize) {
    common::with_procs(procs, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let h = goro::spawn(move || outer_a(rx));
        let g = parked(h.id());
        let at = positions(&g);
        assert_eq!(at, [Some(0), Some(1), Some(2)], "{g}");
        let c = &g.stack[0];
        assert!(
            c.file
                .as_deref()
                .is_some_and(|f| f.ends_with("common/mod.rs")),
            "{g}"
        );
        assert!(c.line.is_some(), "{g}");
        let text = g.to_string();
        let c_at = text.find("inner_c\n\t").expect("frames printed Go's way");
        assert!(c_at < text.find("outer_a\n\t").unwrap(), "{text}");
        tx.send(1).unwrap();
        assert_eq!(h.join().unwrap(), 4);
    });
}

#[test]
fn a_parked_goroutine_shows_its_callers_in_order_on_one_worker() {
    three_calls_deep(1);
}

#[test]
fn a_parked_goroutine_shows_its_callers_in_order_on_two_workers() {
    three_calls_deep(2);
}

#[test]
fn goros_own_frames_are_left_out() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let h = goro::spawn(move || outer_a(rx));
    let g = parked(h.id());
    let goro_src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    assert!(
        g.stack.iter().all(|f| !f.function.contains("goro::")
            && !f.function.contains("corosensei")
            && !f.function.starts_with("std::")
            && !f
                .file
                .as_deref()
                .is_some_and(|file| file.starts_with(goro_src))),
        "{g}"
    );
    drop(tx);
    h.join().unwrap();
}

#[test]
fn the_dumping_goroutine_shows_its_own_stack() {
    #[inline(never)]
    fn dump_here() -> GoroutineInfo {
        let me = goro::current_id().unwrap();
        goro::dump().into_iter().find(|g| g.id == me).unwrap()
    }
    let g = goro::spawn(dump_here).join().unwrap();
    assert_eq!(
        names(&g).first(),
        Some(&"stacks::the_dumping_goroutine_shows_its_own_stack::dump_here"),
        "{g}"
    );
}

#[test]
fn identical_stacks_are_grouped_with_a_count() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let hs: Vec<_> = (0..5)
        .map(|_| {
            let rx = rx.clone();
            goro::Builder::new()
                .name("grouped")
                .spawn(move || outer_a(rx))
                .unwrap()
        })
        .collect();
    for h in &hs {
        parked(h.id());
    }
    let text = goro::dump_grouped();
    let group = text
        .split("\n\n")
        .find(|g| g.contains("\"name\":\"grouped\""))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        group.starts_with("5 @ 0x") || group.contains("\n5 @ 0x"),
        "{text}"
    );
    let c = group.find("::inner_c\t").expect(&text);
    assert!(c < group.find("::outer_a\t").expect(&text), "{text}");
    drop(tx);
    hs.into_iter().for_each(|h| {
        h.join().unwrap();
    });
}
