//! The one place that knows the CPU: reading the stack pointer, capturing
//! the caller's own registers, and where corosensei's `switch_yield` leaves
//! a suspended goroutine's registers.
//!
//! When a goroutine suspends, `switch_yield` pushes a few words below the
//! goroutine's stack pointer and keeps the address of the lowest (the
//! *saved stack pointer*) in the `Coroutine`, where nobody else can read it.
//! The saved words hold the pc to resume at (the label right after the
//! switch, inside the function the switch was inlined into) and the frame
//! pointer; the goroutine's own stack pointer is the saved one plus
//! [`SAVED_BYTES`]. [`RESUME_CODE`] is the machine code at that label,
//! which is fixed (the assembly names its registers): it tells the saved
//! words from any other word on the stack.

#[cfg(target_arch = "x86_64")]
mod imp {
    use framehop::x86_64::UnwindRegsX86_64;

    /// `push rbp; mov [rsi - 16], rsp; lea rsp, [rdx + 8]; pop rbx; pop rbp`.
    pub(crate) const RESUME_CODE: &[u8] = &[
        0x55, 0x48, 0x89, 0x66, 0xf0, 0x48, 0x8d, 0x62, 0x08, 0x5b, 0x5d,
    ];
    /// The words pushed: the resume pc, `rbx`, `rbp`.
    pub(crate) const SAVED_BYTES: u64 = 24;
    /// The alignment of a saved stack pointer.
    pub(crate) const ALIGN: u64 = 8;

    /// The pc and registers of a goroutine suspended at `saved`.
    pub(crate) fn suspended(
        saved: u64,
        read: &mut impl FnMut(u64) -> Result<u64, ()>,
    ) -> Option<(u64, UnwindRegsX86_64)> {
        let pc = read(saved).ok()?;
        let bp = read(saved + 16).ok()?;
        Some((pc, UnwindRegsX86_64::new(pc, saved + SAVED_BYTES, bp)))
    }

    /// The stack pointer of the caller (this is inlined into it).
    #[inline(always)]
    pub(crate) fn stack_pointer() -> usize {
        let sp: usize;
        // SAFETY: reads a register; touches no memory.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }

    /// The pc and registers of this function's own frame, to unwind the
    /// caller's stack from.
    #[inline(never)]
    pub(crate) fn here() -> (u64, UnwindRegsX86_64) {
        let (pc, sp, bp): (u64, u64, u64);
        // SAFETY: reads registers and the address of the instruction;
        // touches no memory.
        unsafe {
            std::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc, sp = out(reg) sp, bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            )
        };
        (pc, UnwindRegsX86_64::new(pc, sp, bp))
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use framehop::aarch64::UnwindRegsAarch64;

    /// `stp x29, lr, [sp, #-32]!; str x19, [sp, #16]; mov x3, sp`.
    pub(crate) const RESUME_CODE: &[u8] = &[
        0xfd, 0x7b, 0xbe, 0xa9, 0xf3, 0x0b, 0x00, 0xf9, 0xe3, 0x03, 0x00, 0x91,
    ];
    /// The words pushed: `x19`, `x29`, the resume pc, padding.
    pub(crate) const SAVED_BYTES: u64 = 32;
    /// The alignment of a saved stack pointer.
    pub(crate) const ALIGN: u64 = 16;

    /// The pc and registers of a goroutine suspended at `saved`. Its link
    /// register was not saved (the switch clobbers it): a function that
    /// calls another keeps its return address in its frame.
    pub(crate) fn suspended(
        saved: u64,
        read: &mut impl FnMut(u64) -> Result<u64, ()>,
    ) -> Option<(u64, UnwindRegsAarch64)> {
        let fp = read(saved + 8).ok()?;
        let pc = read(saved + 16).ok()?;
        Some((pc, UnwindRegsAarch64::new(0, saved + SAVED_BYTES, fp)))
    }

    /// The stack pointer of the caller (this is inlined into it).
    #[inline(always)]
    pub(crate) fn stack_pointer() -> usize {
        let sp: usize;
        // SAFETY: reads a register; touches no memory.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }

    /// The pc and registers of this function's own frame, to unwind the
    /// caller's stack from.
    #[inline(never)]
    pub(crate) fn here() -> (u64, UnwindRegsAarch64) {
        let (pc, sp, fp, lr): (u64, u64, u64, u64);
        // SAFETY: reads registers and the address of the instruction;
        // touches no memory.
        unsafe {
            std::arch::asm!(
                "adr {pc}, .",
                "mov {sp}, sp",
                "mov {fp}, x29",
                "mov {lr}, x30",
                pc = out(reg) pc, sp = out(reg) sp, fp = out(reg) fp, lr = out(reg) lr,
                options(nomem, nostack, preserves_flags),
            )
        };
        (pc, UnwindRegsAarch64::new(lr, sp, fp))
    }
}

pub(crate) use imp::*;
