//! Procedural macros for [goro](https://docs.rs/goro): Go's `go` statement and
//! an entry point that runs `main` as a goroutine.
//!
//! Use them through the `goro` crate, which re-exports them as `goro::go!` and
//! `#[goro::main]`; every expansion refers to `::goro::…` paths.
//!
//! # Evaluation order of `go!`
//!
//! Go evaluates the function value and the arguments of `go f(a, b)` in the
//! calling goroutine, left to right, and only runs the call itself in the new
//! goroutine. `go!` does the same when its input is a single call or method
//! call:
//!
//! ```ignore
//! go!(worker(id, jobs.clone(), results.clone()));
//! // expands to
//! {
//!     let __goro_a0 = id;
//!     let __goro_a1 = jobs.clone();
//!     let __goro_a2 = results.clone();
//!     ::goro::spawn(move || worker(__goro_a0, __goro_a1, __goro_a2))
//! }
//! ```
//!
//! so `jobs.clone()` runs before `go!` returns, the goroutine sees the values
//! as they were at the `go!` site, and the clones — not `jobs` itself — move
//! into the goroutine. The temporaries are hygienic (`Span::mixed_site`) and
//! never clash with the caller's names.
//!
//! Two kinds of operand stay in the call, because evaluating them has no side
//! effects and the `move` closure captures their variables at the `go!` site
//! all the same: a function given by a plain path (`worker`, `module::f`, a
//! variable holding a closure) and a closure literal argument (`move |x| x + n`).
//! Left in place, they keep Rust's inference working: a closure argument's
//! parameter types come from the callee. A computed function value, such as
//! `handlers[i](x)` or `make_handler()(x)`, is evaluated first, into
//! `__goro_f`.
//!
//! Statements, blocks and macro calls run entirely inside the goroutine, and
//! any other expression (a closure, a variable holding one) is spawned as is:
//! see [`go!`] for the complete list of forms.

extern crate proc_macro;

mod go;
mod main_attr;
mod select;

use proc_macro::TokenStream;

/// Starts a goroutine, like Go's `go` statement, and returns its
/// `::goro::JoinHandle<T>`, where `T` is the value the goroutine produces.
///
/// The form is chosen from what the input parses as:
///
/// | input | goroutine runs | evaluated at the `go!` site |
/// | --- | --- | --- |
/// | a call `f(a, b)` | `f(a, b)` | `f` (unless a plain path), `a`, `b`, in that order |
/// | a method call `recv.m::<T>(a)` | `recv.m::<T>(a)` | `recv`, `a`, in that order |
/// | statements `let x = 1; tx.send(x).unwrap();` | the statements, as a block | nothing |
/// | a block-like expression or a macro call: `{ … }`, `unsafe { … }`, `if`, `match`, `loop`, `while`, `for`, `println!(…)` | the expression, as a block | nothing |
/// | any other expression, e.g. a closure `move \|\| …` or a variable holding one | the closure it evaluates to | the expression |
///
/// In the call forms the receiver, the function value and the arguments move
/// into the goroutine, as Go copies them; clone what the caller keeps using.
/// To run a whole call chain inside the goroutine rather than only its last
/// call, end it with `;` (its value is then dropped) or write a closure.
///
/// # Examples
///
/// ```ignore
/// use goro::go;
///
/// fn worker(id: usize, results: std::sync::mpsc::Sender<usize>) {
///     results.send(id * 2).unwrap();
/// }
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// for id in 0..4 {
///     // `id` and `tx.clone()` are evaluated here, on every iteration.
///     go!(worker(id, tx.clone()));
/// }
///
/// // Method call: `text` moves into the goroutine, which runs `parse`.
/// let text = String::from("42");
/// let parsed = go!(text.parse::<u32>());
/// assert_eq!(parsed.join().unwrap(), Ok(42));
///
/// // Closure: spawned as is.
/// let answer = go!(move || 40 + 2);
/// assert_eq!(answer.join().unwrap(), 42);
///
/// // Statements: run inside the goroutine, the last expression is its value.
/// let sum = go! {
///     let a = 20;
///     a + 22
/// };
/// assert_eq!(sum.join().unwrap(), 42);
/// ```
///
/// Empty or unparsable input is a compile error pointing at the problem.
#[proc_macro]
pub fn go(input: TokenStream) -> TokenStream {
    go::expand(input.into()).into()
}

/// Runs the function's body as the main goroutine of the goro runtime and
/// returns its value, so the program ends when the body returns — like Go,
/// goroutines still running then are not waited for.
///
/// The function may have any return type (`()`, `Result<(), E>`, …) but must
/// take no parameters and must not be `async`. Attributes and visibility are
/// kept, and the function need not be `main`: the same works for a helper
/// called from tests. If the body panics, the panic is resumed on the calling
/// thread.
///
/// The main goroutine's stack is as large as the main thread's would be (its
/// `RLIMIT_STACK`, 8 MiB by default), so recursion that ran on the main
/// thread still runs. `#[goro::main(stack_size = BYTES)]` sets it instead
/// (any expression of type `usize`, 16 KiB to 1 GiB).
///
/// ```ignore
/// #[goro::main]
/// fn main() -> Result<(), std::num::ParseIntError> {
///     let n = goro::go!("42".parse::<u32>()).join().unwrap()?;
///     println!("{n}");
///     Ok(())
/// }
/// // expands to
/// fn main() -> Result<(), std::num::ParseIntError> {
///     ::goro::__private::run_main(move || -> Result<(), std::num::ParseIntError> {
///         /* body */
///     })
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(attr.into(), item.into()).into()
}

/// The engine behind `goro::select!` and `goro::select_biased!` (use those).
#[doc(hidden)]
#[proc_macro]
pub fn __select(input: TokenStream) -> TokenStream {
    select::expand(input.into()).into()
}

#[cfg(test)]
mod test_util {
    use proc_macro2::TokenStream;

    /// Compares token streams ignoring spacing, which differs between tokens
    /// that were parsed (`| |`) and tokens that were quoted (`||`).
    pub(crate) fn assert_tokens_eq(actual: TokenStream, expected: TokenStream) {
        let squash = |tokens: TokenStream| tokens.to_string().replace(' ', "");
        assert_eq!(squash(actual), squash(expected));
    }

    pub(crate) fn assert_compile_error(actual: TokenStream, message: &str) {
        let actual = actual.to_string();
        assert!(actual.starts_with(":: core :: compile_error !"), "{actual}");
        assert!(actual.contains(message), "{actual}");
    }
}
