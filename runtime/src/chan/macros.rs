//! `select!` and `select_biased!`: thin `macro_rules!` fronts (documented
//! here, exported at the crate root) over one procedural macro in
//! `goro-macros` that parses the arms and expands to the select engine.
//!
//! The expansion evaluates, in source order, every channel expression, every
//! send value and the `default` timeout (as Go evaluates a select's
//! operands); builds one operation per arm on the stack; runs them through
//! the engine; and then runs the chosen arm's body with its outcome bound
//! to the arm's pattern, after dropping the other arms (so unsent values are
//! dropped and the channels are no longer borrowed in the body).

/// Waits on several channel operations and runs the arm of the one that
/// completes, as Go's `select` statement; with crossbeam-channel's syntax.
///
/// Arms, in any number and order, separated by commas (optional after a
/// block):
/// - `recv(r) -> msg => body`: `msg` is a `Result<T, RecvError>` (an error
///   once `r`'s channel is closed and drained);
/// - `send(s, value) -> res => body`: `res` is a `Result<(), SendError<T>>`
///   (the error carries `value` back if the channel is closed);
/// - `default => body`: runs if no operation is ready right away;
/// - `default(timeout) => body`: runs if none completes within `timeout`.
///
/// When several operations are ready, one is chosen uniformly at random
/// (Go's rule; [`select_biased!`](crate::select_biased) picks the first in
/// order instead). A closed channel counts as ready. Exactly one operation
/// is completed. Without a `default` arm the select waits as long as it
/// takes, and with no arms at all forever.
///
/// As in Go, every channel expression and every send `value` is evaluated
/// once, in order, before the select starts; the values of send arms that
/// were not chosen are dropped. (crossbeam-channel evaluates a send value
/// only for the chosen arm.) `r` and `s` may be a `Receiver`/`Sender` or a
/// reference to one, including a temporary such as `after(d)`.
///
/// ```
/// use goro::chan::{bounded, unbounded};
/// use goro::select;
/// use std::time::Duration;
///
/// let (s1, r1) = unbounded();
/// let (s2, r2) = bounded(1);
/// s1.send(10).unwrap();
///
/// // Both operations are ready: one is chosen at random.
/// select! {
///     recv(r1) -> msg => assert_eq!(msg, Ok(10)),
///     send(s2, 20) -> res => {
///         assert_eq!(res, Ok(()));
///         assert_eq!(r2.recv(), Ok(20));
///     }
/// }
///
/// // Nothing ready: the default arm runs.
/// let (_s3, r3) = unbounded::<i32>();
/// let got = select! {
///     recv(r3) -> msg => msg.ok(),
///     default => None,
/// };
/// assert_eq!(got, None);
///
/// // A timeout, Go's `case <-time.After(d)`.
/// select! {
///     recv(r3) -> _ => unreachable!(),
///     recv(goro::chan::after(Duration::from_millis(5))) -> _ => {}
/// }
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::chan::__private::__select!($crate, false; $($tokens)*)
    };
}

/// As [`select!`](crate::select), but when several operations are ready
/// the first one in source order is chosen.
///
/// ```
/// use goro::chan::unbounded;
/// use goro::select_biased;
///
/// let (s1, r1) = unbounded();
/// let (s2, r2) = unbounded();
/// s1.send(1).unwrap();
/// s2.send(2).unwrap();
/// let first = select_biased! {
///     recv(r1) -> msg => msg.unwrap(),
///     recv(r2) -> msg => msg.unwrap(),
/// };
/// assert_eq!(first, 1);
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($tokens:tt)*) => {
        $crate::chan::__private::__select!($crate, true; $($tokens)*)
    };
}
