//! `go!` and `#[goro::main]` against the real runtime: Go's evaluation order
//! (function value and arguments at the `go!` site, left to right), the
//! value each form returns through `JoinHandle::join`, and hygiene.

mod common;

use goro::go;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

/// Increments `counter` synchronously and returns its new value.
fn bump(counter: &AtomicUsize) -> usize {
    counter.fetch_add(1, Ordering::SeqCst) + 1
}

fn record(i: usize, seen: usize) -> (usize, usize) {
    (i, seen)
}

#[test]
fn call_arguments_are_evaluated_at_the_go_site() {
    let counter = AtomicUsize::new(0);
    let mut handles = Vec::new();
    for i in 0..10 {
        // `bump(&counter)` borrows a local, so it can only compile if it runs
        // here rather than inside the goroutine.
        handles.push(go!(record(i, bump(&counter))));
        assert_eq!(counter.load(Ordering::SeqCst), i + 1);
    }
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), (i, i + 1));
    }
}

fn echo(text: String) -> String {
    text
}

#[test]
fn call_sees_the_value_at_spawn_time() {
    let mut text = String::from("before");
    // Only the clone moves into the goroutine, so `text` stays usable.
    let handle = go!(echo(text.clone()));
    text.push_str(" and after");
    assert_eq!(handle.join().unwrap(), "before");
    assert_eq!(text, "before and after");
}

fn log<T>(log: &Mutex<Vec<&'static str>>, entry: &'static str, value: T) -> T {
    log.lock().unwrap().push(entry);
    value
}

fn sub(a: i32, b: i32) -> i32 {
    a - b
}

#[test]
fn function_value_then_arguments_are_evaluated_left_to_right() {
    let order = Mutex::new(Vec::new());
    let handle = go!(log(&order, "f", sub as fn(i32, i32) -> i32)(
        log(&order, "a0", 10),
        log(&order, "a1", 3)
    ));
    assert_eq!(*order.lock().unwrap(), ["f", "a0", "a1"]);
    assert_eq!(handle.join().unwrap(), 7);
}

#[test]
fn call_accepts_closure_arguments() {
    fn apply(f: impl FnOnce(&str) -> usize + Send + 'static, text: &'static str) -> usize {
        f(text)
    }
    let offset = 1;
    // The closure's parameter type is inferred from `apply`, and `offset` is
    // captured by the goroutine.
    let handle = go!(apply(move |s| s.len() + offset, "four"));
    assert_eq!(handle.join().unwrap(), 5);
}

struct Greeter {
    name: String,
}

impl Greeter {
    fn greet(self, greeting: &str) -> String {
        format!("{greeting}, {}", self.name)
    }
}

fn greeter(name: &str) -> Greeter {
    Greeter {
        name: name.to_string(),
    }
}

#[test]
fn method_call_evaluates_receiver_then_arguments_at_the_go_site() {
    let order = Mutex::new(Vec::new());
    let handle = go!(log(&order, "recv", greeter("gopher")).greet(log(&order, "a0", "hi")));
    assert_eq!(*order.lock().unwrap(), ["recv", "a0"]);
    assert_eq!(handle.join().unwrap(), "hi, gopher");
}

#[test]
fn method_call_receiver_is_the_value_at_spawn_time() {
    let mut name = String::from("first");
    // `greeter(&name)` borrows a local: it runs here, not in the goroutine.
    let handle = go!(greeter(&name).greet("hello"));
    name.push_str(" changed");
    assert_eq!(handle.join().unwrap(), "hello, first");
}

#[test]
fn method_call_with_turbofish_moves_the_receiver() {
    let text = String::from("42");
    let handle = go!(text.parse::<u32>());
    assert_eq!(handle.join().unwrap(), Ok(42));
}

#[test]
fn closure_form_returns_through_join() {
    let base = 40;
    assert_eq!(go!(move || base + 2).join().unwrap(), 42);

    let task = move || base * 2;
    assert_eq!(go!(task).join().unwrap(), 80);
}

#[test]
fn block_form_returns_through_join() {
    let handle = go! {
        let a = 20;
        let b = 22;
        a + b
    };
    assert_eq!(handle.join().unwrap(), 42);

    let (tx, rx) = mpsc::channel();
    let handle = go! {
        tx.send(1).unwrap();
    };
    handle.join().unwrap();
    assert_eq!(rx.recv().unwrap(), 1);
}

#[test]
fn block_like_expressions_run_inside_the_goroutine() {
    let (tx, rx) = mpsc::channel();
    go! {
        for i in 0..3 {
            tx.send(i).unwrap();
        }
    }
    .join()
    .unwrap();
    assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);

    let n = 7;
    let parity = go!(match n % 2 {
        0 => "even",
        _ => "odd",
    });
    assert_eq!(parity.join().unwrap(), "odd");
}

#[test]
#[allow(non_snake_case)]
fn temporaries_do_not_capture_user_names() {
    // Without hygiene the second `let` would read the first temporary.
    let __goro_a0 = 5;
    let __goro_a1 = 10;
    assert_eq!(go!(sub(__goro_a1, __goro_a0)).join().unwrap(), 5);
    let __goro_recv = 1;
    assert_eq!(go!(__goro_a0.min(__goro_recv)).join().unwrap(), 1);
}

#[test]
fn go_works_from_a_plain_function() {
    fn spawn_square(n: u64) -> goro::JoinHandle<u64> {
        go!(move || n * n)
    }
    let handles: Vec<_> = (1..=4).map(spawn_square).collect();
    let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(squares, [1, 4, 9, 16]);
}

#[goro::main]
fn body() -> u32 {
    go!(|| 5).join().unwrap()
}

#[goro::main]
fn fallible_body() -> Result<u32, std::num::ParseIntError> {
    let n = go!("41".parse::<u32>()).join().unwrap()?;
    Ok(n + 1)
}

#[test]
fn goro_main_returns_the_body_value() {
    assert_eq!(body(), 5);
    assert_eq!(fallible_body(), Ok(42));
}

/// Recursion with a 1 KiB frame, `n` levels deep; returns the sum 1..=n.
fn recurse(n: u64) -> u64 {
    let frame = std::hint::black_box([n; 128]);
    if n == 0 {
        0
    } else {
        recurse(n - 1) + frame[5]
    }
}

/// A megabyte of recursion, which Rust's 8 MiB main thread runs.
#[goro::main]
fn deep_main() -> u64 {
    recurse(1024)
}

/// Adding `#[goro::main]` to a working program keeps it working: the main
/// goroutine's stack is as large as the main thread's.
#[test]
fn goro_main_has_a_main_threads_stack() {
    let out = common::child("deep_main_child", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("sum={}.", (1..=1024u64).sum::<u64>())));
}

#[test]
#[ignore = "run as a child process by goro_main_has_a_main_threads_stack"]
fn deep_main_child() {
    println!("sum={}.", deep_main());
}

#[goro::main(stack_size = 64 * 1024)]
fn small_main() -> u64 {
    recurse(1024)
}

/// `#[goro::main(stack_size = N)]` sets the main goroutine's stack.
#[test]
fn goro_main_takes_a_stack_size() {
    let out = common::child("small_main_child", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'main' stack overflow: exceeded its 65536-byte stack"),
        "{stderr}"
    );
    assert!(!out.status.success());
}

#[test]
#[ignore = "run as a child process by goro_main_takes_a_stack_size"]
fn small_main_child() {
    println!("sum={}.", small_main());
}
