//! Guard pages by `userfaultfd` write protection, for kernels that have it
//! but not guard regions: Linux 5.11 to 6.12 (the kernels of Ubuntu 22.04
//! and 24.04, Debian 12 and RHEL 9 among them).
//!
//! Without guard regions the only other guard is `mprotect(PROT_NONE)`,
//! which splits the stack arena into two mappings per stack, so the
//! kernel's `vm.max_map_count` (65530 by default) caps live goroutines near
//! 32K. Write protection through a `userfaultfd` costs no mapping: the
//! arena is registered once (one mapping, flagged), and each guard page gets
//! a write-protect marker in its page-table entry. From Linux 6.4
//! (`UFFD_FEATURE_WP_UNPOPULATED`) the page need not be populated; before,
//! the guard is first read, which maps the kernel's shared zero page there,
//! and then protected, so a write takes the write-protect fault before the
//! copy-on-write one. Either way a guard costs no memory. (5.11 is the
//! first kernel with `UFFD_USER_MODE_ONLY`, below; on a 6.4+ kernel the
//! zero-page way is tested with `GORO_GUARDS=userfault-zeropage`, which
//! withholds the newer feature.) A user-mode write to a marked page does
//! not complete:
//! the kernel stops the writing thread and queues an event on our
//! descriptor. A descriptor opened with `UFFD_USER_MODE_ONLY` (which needs
//! no privilege) makes a *kernel* write there, such as a `read(2)` into the
//! page, fail with `EFAULT`.
//!
//! # From the event to the report
//! A thread of ours ("goro-guards") reads the events. For a write into a
//! guard it makes that page `PROT_NONE` and then lifts the write
//! protection, which wakes the writer: the write runs again, faults on the
//! `PROT_NONE` page, and the `SIGSEGV` goes to the overflow handler in
//! `signal`, on the overflowing thread, which names the goroutine and
//! aborts, exactly as with the other guards. The `mprotect` splits the
//! mapping, once, on the way to the abort. Should it fail, the thread
//! writes a report without the goroutine's name and aborts itself. Nothing
//! ever lets the write through.
//!
//! # Differences from guard regions
//! - Reads of a guard page are not caught (they read zeros): a stack
//!   overflows by writing (a call pushes its return address, and Rust's
//!   stack probes write a zero into every page of a large frame), so every
//!   overflow is still caught before it writes below the guard.
//! - `MADV_DONTNEED` drops a marker, so guard pages are never released
//!   (every release range starts above the guard, see `stack`).
//! - A child made by `fork` inherits neither the registration nor the
//!   markers (no `UFFD_FEATURE_EVENT_FORK`); it normally `exec`s at once.

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;

/// `UFFD_API`: the protocol version.
const UFFD_API: u64 = 0xAA;
/// `UFFD_USER_MODE_ONLY`: user-mode faults only, allowed unprivileged.
const USER_MODE_ONLY: libc::c_int = 1;
/// `UFFD_FEATURE_PAGEFAULT_FLAG_WP`: write-protect faults are reported.
const FEATURE_WP: u64 = 1 << 0;
/// `UFFD_FEATURE_WP_UNPOPULATED`: unpopulated pages can be protected.
const FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
/// `UFFDIO_REGISTER_MODE_WP`.
const REGISTER_MODE_WP: u64 = 1 << 1;
/// `UFFDIO_WRITEPROTECT_MODE_WP` (without it: lift and wake).
const WRITEPROTECT_MODE_WP: u64 = 1 << 0;
/// `UFFD_EVENT_PAGEFAULT`.
const EVENT_PAGEFAULT: u8 = 0x12;
/// `UFFD_PAGEFAULT_FLAG_WP`: the fault hit a write-protected page.
const PAGEFAULT_FLAG_WP: u64 = 1 << 1;

/// `_IOWR(0xAA, nr, size)`: the encoding is the same on x86-64 and aarch64.
const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | (0xAA << 8) | nr
}
const UFFDIO_API: u64 = iowr(0x3F, std::mem::size_of::<Api>());
const UFFDIO_REGISTER: u64 = iowr(0x00, std::mem::size_of::<Register>());
const UFFDIO_WRITEPROTECT: u64 = iowr(0x06, std::mem::size_of::<WriteProtect>());

/// `struct uffdio_api`.
#[repr(C)]
struct Api {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_range`.
#[repr(C)]
struct Range {
    start: u64,
    len: u64,
}

/// `struct uffdio_register`.
#[repr(C)]
struct Register {
    range: Range,
    mode: u64,
    ioctls: u64,
}

/// `struct uffdio_writeprotect`.
#[repr(C)]
struct WriteProtect {
    range: Range,
    mode: u64,
}

/// `struct uffd_msg` as a page fault fills it (the kernel's is 32 packed
/// bytes: the event, then a union whose page-fault member starts with the
/// flags and the address).
#[repr(C)]
#[derive(Default)]
struct Message {
    event: u8,
    _reserved: [u8; 7],
    flags: u64,
    address: u64,
    _feature: u64,
}

/// An open descriptor whose watcher runs.
#[derive(Clone, Copy)]
struct Guards {
    fd: RawFd,
    /// Without `UFFD_FEATURE_WP_UNPOPULATED` only a present page can carry
    /// the marker: guards are mapped to the zero page first (module note).
    zero_page: bool,
}

/// The guards, once opened; `None` where the kernel (or a seccomp filter,
/// or the lack of a thread) says no.
static GUARDS: OnceLock<Option<Guards>> = OnceLock::new();

/// Whether write-protect guards can be had here (decided once).
/// `zero_page_only` withholds `UFFD_FEATURE_WP_UNPOPULATED`, as a kernel
/// before 6.4 would (to test that way on a newer one).
pub(crate) fn available(zero_page_only: bool) -> bool {
    GUARDS.get_or_init(|| open(zero_page_only)).is_some()
}

/// Threads this module runs: the watcher, once started.
pub(crate) fn threads() -> usize {
    usize::from(matches!(GUARDS.get(), Some(Some(_))))
}

/// Opens the descriptor with the features guards need, and starts the
/// thread that turns a guard's write fault into the overflow report.
fn open(zero_page_only: bool) -> Option<Guards> {
    let supported = api(0, 0).map(|(fd, features)| {
        close(fd);
        features
    })?;
    let zero_page = zero_page_only || supported & FEATURE_WP_UNPOPULATED == 0;
    let wanted = FEATURE_WP | if zero_page { 0 } else { FEATURE_WP_UNPOPULATED };
    let (fd, _) = api(wanted, wanted)?;
    let watching = std::thread::Builder::new()
        .name("goro-guards".into())
        .spawn(move || watch(fd))
        .is_ok();
    if !watching {
        close(fd);
        return None;
    }
    Some(Guards { fd, zero_page })
}

/// A new descriptor and the features its kernel supports, with `request`
/// enabled; `None` unless the kernel supports everything in `need`.
/// (The handshake can be made once per descriptor, so asking what is
/// supported takes a descriptor of its own.)
fn api(request: u64, need: u64) -> Option<(RawFd, u64)> {
    // SAFETY: userfaultfd takes flags and touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | USER_MODE_ONLY) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    let mut api = Api {
        api: UFFD_API,
        features: request,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_API reads and writes one `Api`, which lives here.
    let agreed =
        unsafe { libc::ioctl(fd, UFFDIO_API as _, &mut api) } == 0 && api.features & need == need;
    if !agreed {
        close(fd);
        return None;
    }
    Some((fd, api.features))
}

fn close(fd: RawFd) {
    // SAFETY: our own descriptor, used by nobody else.
    unsafe { libc::close(fd) };
}

/// Write-protects each `(start, len)` range of `mapping`, registering the
/// mapping first (registering it again changes nothing).
///
/// # Safety
/// `mapping` must be one anonymous private mapping of ours (not yet
/// registered with another descriptor), and the ranges guard pages in it
/// that nothing will write.
pub(crate) unsafe fn guard(mapping: (usize, usize), ranges: &[(usize, usize)]) -> io::Result<()> {
    let Some(Some(guards)) = GUARDS.get().copied() else {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    };
    let mut register = Register {
        range: range(mapping),
        mode: REGISTER_MODE_WP,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_REGISTER reads and writes one `Register`; the caller
    // vouches for the mapping.
    if unsafe { libc::ioctl(guards.fd, UFFDIO_REGISTER as _, &mut register) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for &guard in ranges {
        if guards.zero_page {
            // SAFETY: guard pages of our mapping (see the caller), which
            // hold nothing: reading them maps the zero page.
            unsafe { map_zero_page(guard) };
        }
        write_protect(guards.fd, guard, WRITEPROTECT_MODE_WP)?;
    }
    Ok(())
}

/// Reads a byte of every page of `(start, len)`, so that each is present
/// (the shared zero page, for a page never written).
///
/// # Safety
/// The range must be readable memory of ours.
unsafe fn map_zero_page((start, len): (usize, usize)) {
    let page = crate::mmap::page_size();
    for addr in (start..start + len).step_by(page) {
        // SAFETY: readable, by the contract.
        unsafe { std::ptr::read_volatile(addr as *const u8) };
    }
}

fn range((start, len): (usize, usize)) -> Range {
    Range {
        start: start as u64,
        len: len as u64,
    }
}

/// Sets (`WRITEPROTECT_MODE_WP`) or lifts (0, which also wakes the threads
/// waiting on the range) the write protection of `pages`.
fn write_protect(fd: RawFd, pages: (usize, usize), mode: u64) -> io::Result<()> {
    let mut wp = WriteProtect {
        range: range(pages),
        mode,
    };
    // SAFETY: UFFDIO_WRITEPROTECT reads one `WriteProtect`; protecting
    // pages of a registered mapping changes no data.
    if unsafe { libc::ioctl(fd, UFFDIO_WRITEPROTECT as _, &mut wp) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The watcher: every event is a write into a guard page.
fn watch(fd: RawFd) {
    loop {
        let mut message = Message::default();
        // SAFETY: reads at most one message into `message`, which is as
        // large as the kernel's.
        let n = unsafe {
            libc::read(
                fd,
                (&mut message as *mut Message).cast(),
                std::mem::size_of::<Message>(),
            )
        };
        if n == std::mem::size_of::<Message>() as isize
            && message.event == EVENT_PAGEFAULT
            && message.flags & PAGEFAULT_FLAG_WP != 0
        {
            make_fault_fatal(fd, message.address as usize);
        } else if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Turns the write into the guard page at `address` into a `SIGSEGV` on
/// the writing thread (see the module note), or aborts from here.
fn make_fault_fatal(fd: RawFd, address: usize) {
    let page = crate::mmap::page_size();
    let start = address & !(page - 1);
    // SAFETY: a guard page holds nothing; from now on any access faults.
    let sealed = unsafe { libc::mprotect(start as *mut libc::c_void, page, libc::PROT_NONE) } == 0;
    if !sealed || write_protect(fd, (start, page), 0).is_err() {
        const REPORT: &[u8] = b"goroutine stack overflow (its guard page was written)\n\
              fatal error: stack overflow\n";
        // SAFETY: write(2) of a static buffer, then abort: the writer stays
        // stopped, so nothing is written past the guard.
        unsafe {
            libc::write(2, REPORT.as_ptr().cast(), REPORT.len());
            libc::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structures_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<Api>(), 24);
        assert_eq!(std::mem::size_of::<Register>(), 32);
        assert_eq!(std::mem::size_of::<WriteProtect>(), 24);
        assert_eq!(std::mem::size_of::<Message>(), 32);
        assert_eq!(UFFDIO_API, 0xC018_AA3F);
        assert_eq!(UFFDIO_REGISTER, 0xC020_AA00);
        assert_eq!(UFFDIO_WRITEPROTECT, 0xC018_AA06);
    }
}
