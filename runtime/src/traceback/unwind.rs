//! Unwinding a stack to its return addresses with framehop, from the
//! program's own `.eh_frame` (read once from `/proc/self/exe`), and copying
//! the stack memory it reads with `process_vm_readv` on our own process:
//! the kernel copies, so a goroutine that resumes meanwhile races with no
//! Rust-level access, and a page that is gone fails the read instead of
//! faulting. A torn copy can only make a wrong or short list of addresses.

use super::arch;
use framehop::{
    ExplicitModuleSectionInfo, FrameAddress, MayAllocateDuringUnwind, Module, Unwinder,
};
use object::{Object, ObjectSection};
use std::ops::Range;
use std::sync::OnceLock;

type Native = framehop::UnwinderNative<Vec<u8>, MayAllocateDuringUnwind>;
/// framehop's cache of unwind rules by address, one per dump.
pub(crate) type RuleCache = framehop::CacheNative<MayAllocateDuringUnwind>;

/// At most this many frames are walked.
const MAX_FRAMES: usize = 128;
/// How far below the stack pointer recorded at the switch the saved
/// registers are looked for (the switch's own frame, when it is not
/// inlined).
const SCAN_BELOW: u64 = 1024;
/// The first copy reaches this far above the recorded stack pointer; it
/// doubles as the unwinding climbs, up to [`MAX_COPY`].
const FIRST_COPY: u64 = 4096;
const MAX_COPY: u64 = 256 * 1024;

/// The program's code and how to unwind through it.
struct Program {
    unwinder: Native,
    /// Where its code lies in memory.
    text: Range<u64>,
}

fn program() -> Option<&'static Program> {
    static PROGRAM: OnceLock<Option<Program>> = OnceLock::new();
    PROGRAM.get_or_init(load).as_ref()
}

fn load() -> Option<Program> {
    let file = std::fs::File::open("/proc/self/exe").ok()?;
    let cache = object::ReadCache::new(file);
    let elf = object::File::parse(&cache).ok()?;
    let bias = super::symbols::load_bias();
    let section = |name: &str| {
        let s = elf.section_by_name(name)?;
        Some((s.address()..s.address() + s.size(), s.data().ok()?.to_vec()))
    };
    let (text_svma, _) = section(".text")?;
    let (eh_frame_svma, eh_frame) = section(".eh_frame")?;
    let hdr = section(".eh_frame_hdr");
    let info = ExplicitModuleSectionInfo {
        base_svma: 0,
        text_svma: Some(text_svma.clone()),
        eh_frame_svma: Some(eh_frame_svma),
        eh_frame: Some(eh_frame),
        eh_frame_hdr_svma: hdr.as_ref().map(|(svma, _)| svma.clone()),
        eh_frame_hdr: hdr.map(|(_, data)| data),
        ..Default::default()
    };
    let text = text_svma.start + bias..text_svma.end + bias;
    let mut unwinder = Native::new();
    unwinder.add_module(Module::new("exe".into(), text.clone(), bias, info));
    Some(Program { unwinder, text })
}

/// A growing copy of a stretch of some stack.
struct StackCopy {
    /// The address of `bytes[0]`.
    start: u64,
    bytes: Vec<u8>,
    /// Whether the last copy stopped short (the mapping ends).
    ended: bool,
}

impl StackCopy {
    fn new(start: u64) -> StackCopy {
        StackCopy {
            start,
            bytes: Vec::new(),
            ended: false,
        }
    }

    /// The word at `addr`, copying more of the stack if need be.
    fn read(&mut self, addr: u64) -> Result<u64, ()> {
        let offset = addr.checked_sub(self.start).ok_or(())? as usize;
        if offset + 8 > self.bytes.len() {
            self.grow(offset as u64 + 8)?;
        }
        let word = self.bytes.get(offset..offset + 8).ok_or(())?;
        Ok(u64::from_ne_bytes(word.try_into().map_err(|_| ())?))
    }

    fn grow(&mut self, at_least: u64) -> Result<(), ()> {
        let len = at_least.max(FIRST_COPY).next_power_of_two();
        if self.ended || len > MAX_COPY {
            return Err(());
        }
        let old = self.bytes.len();
        self.bytes.resize(len as usize, 0);
        let copied = copy_own(self.start + old as u64, &mut self.bytes[old..]);
        self.bytes.truncate(old + copied);
        self.ended = old + copied < len as usize;
        Ok(())
    }
}

/// Copies our own memory at `addr` into `into` through the kernel; returns
/// how many bytes it copied (fewer where the mapping ends).
pub(crate) fn copy_own(addr: u64, into: &mut [u8]) -> usize {
    let local = libc::iovec {
        iov_base: into.as_mut_ptr().cast(),
        iov_len: into.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: into.len(),
    };
    // SAFETY: the kernel writes at most `into.len()` bytes into `into`, which
    // we own; it reads `remote` as it would another process's memory, so no
    // Rust reference to that memory exists and an unmapped address fails
    // with EFAULT (see the module note and docs/safety.md).
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    usize::try_from(n).unwrap_or(0)
}

/// Whether `pc` is corosensei's resume point (see `arch`).
fn is_resume_point(program: &Program, pc: u64) -> bool {
    let mut code = [0u8; 16];
    let code = &mut code[..arch::RESUME_CODE.len()];
    program.text.contains(&pc) && copy_own(pc, code) == code.len() && code == arch::RESUME_CODE
}

/// The addresses of the frames of a goroutine that switched out with its
/// stack pointer at `sp` (innermost first, each the address of the call,
/// for symbolizing), or `None` if its saved registers are not found.
pub(crate) fn suspended(sp: usize, cache: &mut RuleCache, out: &mut Vec<u64>) -> Option<()> {
    let program = program()?;
    let sp = sp as u64;
    let mut copy = StackCopy::new(sp.checked_sub(SCAN_BELOW)?);
    let mut read = |addr| copy.read(addr);
    // Highest first: the saved words sit right below `sp` when the switch
    // is inlined into the frame that recorded `sp`, lower when not.
    let saved = (0..SCAN_BELOW / arch::ALIGN)
        .map(|i| (sp - arch::SAVED_BYTES - i * arch::ALIGN) & !(arch::ALIGN - 1))
        .find(|&at| {
            arch::suspended(at, &mut read).is_some_and(|(pc, _)| is_resume_point(program, pc))
        })?;
    let (pc, regs) = arch::suspended(saved, &mut read)?;
    walk(program, pc, regs, cache, &mut read, out);
    Some(())
}

/// The addresses of the caller's own frames (see [`suspended`]), from its
/// caller's on: `arch::here`'s and this function's are left out (neither
/// is inlined, so they are the first two; the unwinder's code inlined here
/// would otherwise show as frames of its own).
#[inline(never)]
pub(crate) fn here(cache: &mut RuleCache, out: &mut Vec<u64>) -> Option<()> {
    let program = program()?;
    let (pc, regs) = arch::here();
    let mut copy = StackCopy::new(regs.sp());
    walk(program, pc, regs, cache, &mut |addr| copy.read(addr), out);
    out.drain(..out.len().min(2));
    Some(())
}

fn walk(
    program: &Program,
    pc: u64,
    regs: framehop::UnwindRegsNative,
    cache: &mut RuleCache,
    read: &mut impl FnMut(u64) -> Result<u64, ()>,
    out: &mut Vec<u64>,
) {
    let mut frames = program.unwinder.iter_frames(pc, regs, cache, read);
    while let Ok(Some(frame)) = frames.next() {
        if out.len() == MAX_FRAMES {
            break;
        }
        out.push(match frame {
            FrameAddress::InstructionPointer(pc) => pc,
            FrameAddress::ReturnAddress(ra) => u64::from(ra) - 1,
        });
    }
}
