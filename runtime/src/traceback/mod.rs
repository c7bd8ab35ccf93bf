//! Goroutine tracebacks, as Go's: each parked goroutine's stack, taken at
//! dump time by unwinding its suspended stack from the registers the
//! context switch saved. Nothing is paid on the park path but one store:
//! `goroutine::switch_out` records the stack pointer as it switches out
//! (`G::parked_sp`), and `arch` finds the saved registers right below it.
//!
//! # Soundness
//! The dumper never reads a goroutine's stack through a Rust pointer: the
//! stack is copied with `process_vm_readv` on our own process (see
//! `unwind`), so a goroutine resumed meanwhile is no data race, and memory
//! that went away fails the copy. The dumper reads the goroutine's wait
//! state and recorded stack pointer before and after unwinding, and keeps
//! the stack only if both are unchanged; a copy torn by a wakeup in between
//! could at worst name wrong frames, never touch memory it should not.
//!
//! # Cost
//! Unwinding uses framehop's rule cache; identical stacks (the same
//! addresses) are interned and symbolized once, and each address is
//! symbolized once, so a million goroutines parked in a few places cost a
//! million small copies and walks and a few symbolizations.
//!
//! # Which frames
//! A stack shows the user's frames, innermost first, down to the body the
//! goroutine was spawned with: goro's and corosensei's frames are left out
//! (the blocking path inlined into the caller expands to them), as are the
//! standard library's frames at either end (the panic catching around the
//! body; `Option::map` in the middle stays). A frame is goro's by its path
//! or, for a function inlined under line tables only, by its source file
//! (under goro's `src/`, corosensei's, or the standard library's).

mod arch;
mod symbols;
mod unwind;

pub(crate) use arch::stack_pointer;

use crate::goroutine::G;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One frame of a goroutine's stack (see
/// [`GoroutineInfo::stack`](crate::GoroutineInfo::stack)).
///
/// ```
/// let frame = goro::StackFrame {
///     function: "app::worker".into(),
///     file: Some("src/app.rs".into()),
///     line: Some(12),
///     pc: 0x1234,
/// };
/// assert_eq!(frame.to_string(), "app::worker\n\tsrc/app.rs:12");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StackFrame {
    /// The function, demangled, without its hash (`app::worker::run`);
    /// `?` if the program has no symbol for it.
    pub function: String,
    /// Its source file, if the program has line tables.
    pub file: Option<String>,
    /// Its line in `file`.
    pub line: Option<u32>,
    /// The code address: the call it is in (frames inlined into one
    /// function share it).
    pub pc: usize,
}

impl fmt::Display for StackFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.function)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "\n\t{file}:{line}"),
            (Some(file), None) => write!(f, "\n\t{file}"),
            _ => write!(f, "\n\t{:#x}", self.pc),
        }
    }
}

/// A stack, shared by the goroutines whose stacks are the same.
pub(crate) type Stack = Arc<[StackFrame]>;

/// Takes the stacks of one dump: raw addresses while the registry is
/// walked, then the symbolized stacks.
pub(crate) struct Tracer {
    rules: unwind::RuleCache,
    /// Each distinct list of addresses, with its index in `raw`.
    interned: HashMap<Vec<u64>, usize>,
    raw: Vec<Vec<u64>>,
    scratch: Vec<u64>,
}

impl Tracer {
    pub(crate) fn new() -> Tracer {
        Tracer {
            rules: unwind::RuleCache::new(),
            interned: HashMap::new(),
            raw: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The stack of `g` if it is parked: an index for [`Tracer::stacks`],
    /// or `None` if it cannot be had (it runs, or switched while we
    /// looked).
    pub(crate) fn take(&mut self, g: &G) -> Option<usize> {
        self.scratch.clear();
        let before = parked_at(g)?;
        unwind::suspended(before.1, &mut self.rules, &mut self.scratch)?;
        (parked_at(g)? == before).then(|| self.intern())
    }

    /// The caller's own stack, as [`Tracer::take`].
    pub(crate) fn take_own(&mut self) -> Option<usize> {
        self.scratch.clear();
        unwind::here(&mut self.rules, &mut self.scratch)?;
        Some(self.intern())
    }

    fn intern(&mut self) -> usize {
        if let Some(&index) = self.interned.get(&self.scratch) {
            return index;
        }
        let index = self.raw.len();
        self.raw.push(self.scratch.clone());
        self.interned.insert(self.scratch.clone(), index);
        index
    }

    /// The symbolized stacks, by the indices [`Tracer::take`] gave.
    pub(crate) fn stacks(self) -> Vec<Stack> {
        let mut symbols = symbols::Symbolizer::default();
        self.raw
            .iter()
            .map(|pcs| {
                let all: Vec<StackFrame> = pcs
                    .iter()
                    .flat_map(|&pc| symbols.frames(pc).to_vec())
                    .collect();
                user_frames(all).into()
            })
            .collect()
    }
}

/// What `g` waits on and where its stack stood as it switched out, if it
/// is parked.
fn parked_at(g: &G) -> Option<(u8, usize)> {
    let wait = g.wait.load(Ordering::Relaxed);
    let sp = g.parked_sp.load(Ordering::Relaxed);
    (wait != crate::park::WaitReason::Running as u8 && sp != 0).then_some((wait, sp))
}

/// The user's frames of a whole stack (see the module note).
fn user_frames(mut all: Vec<StackFrame>) -> Vec<StackFrame> {
    let first = all.iter().position(|f| !is_runtime(f));
    let last = all.iter().rposition(|f| !is_runtime(f));
    match (first, last) {
        (Some(first), Some(last)) => all.drain(first..=last).filter(|f| !is_goro(f)).collect(),
        _ => Vec::new(),
    }
}

/// goro's own sources, as the line tables name them.
const GORO_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// A frame of goro or of the coroutine library, by its path or, for a
/// function inlined under line tables only (no path), by its file.
fn is_goro(frame: &StackFrame) -> bool {
    let path = frame.function.trim_start_matches('<');
    let file = frame.file.as_deref().unwrap_or("");
    ["goro::", "corosensei::"]
        .iter()
        .any(|p| path.starts_with(p))
        || file.starts_with(GORO_SRC)
        || file.contains("/corosensei-")
}

/// A frame of goro, the coroutine library or the standard library, or
/// code with neither a path nor a file (the coroutine's assembly entry).
fn is_runtime(frame: &StackFrame) -> bool {
    let path = frame.function.trim_start_matches('<');
    let file = frame.file.as_deref();
    is_goro(frame)
        || ["std::", "core::", "alloc::", "__rust"]
            .iter()
            .any(|p| path.starts_with(p))
        || file.is_some_and(|f| f.starts_with("/rustc/") || f.contains("/library/std/"))
        || (file.is_none() && !path.contains("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str) -> StackFrame {
        StackFrame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(1),
            pc: 0,
        }
    }

    #[test]
    fn only_the_users_frames_are_kept() {
        let goro_file = format!("{GORO_SRC}park.rs");
        let all = [
            (
                "corosensei::arch::switch_yield",
                "/c/corosensei-0.3.4/src/a.rs",
            ),
            ("switch_out", goro_file.as_str()),
            (
                "core::option::Option<T>::map",
                "/rustc/1/library/core/src/option.rs",
            ),
            ("app::c", "src/app.rs"),
            ("<goro::sync::Once>::call_once", "x.rs"),
            ("app::b", "src/app.rs"),
            (
                "call_once<u32>",
                "/rustc/1/library/core/src/ops/function.rs",
            ),
            (
                "std::panicking::catch_unwind",
                "/rustc/1/library/std/src/panicking.rs",
            ),
            ("run<F, T>", goro_file.as_str()),
            (
                "corosensei::coroutine::on_stack",
                "/c/corosensei-0.3.4/src/c.rs",
            ),
        ];
        let mut frames: Vec<StackFrame> = all.iter().map(|(f, file)| frame(f, file)).collect();
        frames.push(StackFrame {
            file: None,
            ..frame("stack_init_trampoline", "")
        });
        let kept: Vec<String> = user_frames(frames)
            .into_iter()
            .map(|f| f.function)
            .collect();
        assert_eq!(kept, ["app::c", "app::b"]);
    }
}
