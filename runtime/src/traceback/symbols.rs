//! Code addresses to function names and source lines, with addr2line over
//! the program's own DWARF (`/proc/self/exe`, loaded once, on first use).
//! An address expands to its inlined frames, innermost first. Names are
//! demangled without their hash. The function an address is in is named
//! from the symbol table (its full path); functions inlined there are named
//! from DWARF, which with `debug = "line-tables-only"` gives only their
//! short name (`recv<u32>`). Without symbols a frame is `?`.

use super::StackFrame;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The difference between where the program is loaded and the addresses
/// its file states (non-zero for a position-independent executable).
pub(crate) fn load_bias() -> u64 {
    static BIAS: OnceLock<u64> = OnceLock::new();
    *BIAS.get_or_init(|| {
        unsafe extern "C" fn first(
            info: *mut libc::dl_phdr_info,
            _: usize,
            out: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: the loader passes a valid `info`; `out` is the `u64`
            // below. The first object it reports is the program itself.
            unsafe { *out.cast::<u64>() = (*info).dlpi_addr };
            1
        }
        let mut bias = 0u64;
        // SAFETY: `first` only writes `bias`, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(first), (&mut bias as *mut u64).cast()) };
        bias
    })
}

fn loader() -> Option<&'static Mutex<addr2line::Loader>> {
    static LOADER: OnceLock<Option<Mutex<addr2line::Loader>>> = OnceLock::new();
    LOADER
        .get_or_init(|| {
            addr2line::Loader::new("/proc/self/exe")
                .ok()
                .map(Mutex::new)
        })
        .as_ref()
}

/// Symbolizes addresses, each once.
#[derive(Default)]
pub(crate) struct Symbolizer {
    known: HashMap<u64, Vec<StackFrame>>,
}

impl Symbolizer {
    /// The frames at `pc` (an address from `unwind`), innermost first.
    pub(crate) fn frames(&mut self, pc: u64) -> &[StackFrame] {
        self.known.entry(pc).or_insert_with(|| resolve(pc))
    }
}

fn resolve(pc: u64) -> Vec<StackFrame> {
    let unknown = || StackFrame {
        function: "?".into(),
        file: None,
        line: None,
        pc: pc as usize,
    };
    let Some(loader) = loader() else {
        return vec![unknown()];
    };
    let loader = loader.lock().unwrap_or_else(|p| p.into_inner());
    let probe = pc.wrapping_sub(load_bias());
    let mut frames = Vec::new();
    if let Ok(mut iter) = loader.find_frames(probe) {
        while let Ok(Some(frame)) = iter.next() {
            let function = frame.function.as_ref().and_then(|f| f.raw_name().ok());
            frames.push(StackFrame {
                function: function.map_or_else(|| "?".into(), |name| demangle(&name)),
                file: frame
                    .location
                    .as_ref()
                    .and_then(|l| l.file)
                    .map(str::to_string),
                line: frame.location.as_ref().and_then(|l| l.line),
                pc: pc as usize,
            });
        }
    }
    // The symbol table names the function the address is in (the last,
    // outermost frame) with its full path, which line tables alone lack.
    if frames.is_empty() {
        frames.push(unknown());
    }
    if let (Some(outer), Some(name)) = (frames.last_mut(), loader.find_symbol(probe)) {
        outer.function = demangle(name);
    }
    frames
}

/// `name` demangled, without the hash.
fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}
