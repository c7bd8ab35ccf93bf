//! The operating-system layer: memory mapping and guard pages.
//!
//! Everything goro asks of the kernel about memory goes through this one
//! module, so a port to another OS replaces this file (and `signal.rs`).
//!
//! # Guards
//! A stack needs an inaccessible page below it so an overflow faults instead
//! of running into the neighbouring stack. Linux 6.13+ offers *guard regions*
//! (`madvise(MADV_GUARD_INSTALL)`): the range faults on any access, survives
//! `MADV_DONTNEED`, and costs no extra VMA. Older kernels answer `EINVAL`;
//! then, from Linux 6.4, we use write protection through a `userfaultfd`
//! (see `userfault`): no extra VMA either, but only writes are caught, and
//! a release must never cover a guard. Without that, we fall back to
//! `mprotect(PROT_NONE)`, which splits the mapping and costs two VMAs per
//! stack, so `vm.max_map_count` (65530 by default) caps the number of live
//! stacks near 32K; the resulting limit is reported in the error a failed
//! spawn returns. The kind is decided at the first install;
//! `GORO_GUARDS` can start the search further down the list (to test the
//! fallbacks on a kernel that has them all).
//!
//! A yes is checked once too: the first guard installed must make the
//! kernel refuse to read it (`write(2)` from it fails with `EFAULT`), or,
//! for a write-protect guard, to write it (`read(2)` into it). An emulator
//! can accept advice it does not implement (qemu-user answers success to
//! any `madvise` it does not know), and stacks without guards would
//! overflow into their neighbours silently; there we fall back further.
//!
//! Guards are installed in batches with `process_madvise` on a pidfd of our
//! own process (one system call for up to [`MAX_BATCH`] ranges) where the
//! kernel allows it, else one `madvise` per range.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// `MADV_GUARD_INSTALL` (Linux 6.13); the `libc` crate does not define it yet.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Most ranges one `process_madvise` call takes (the kernel's `UIO_MAXIOV`).
pub(crate) const MAX_BATCH: usize = 1024;

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

/// Maps `len` bytes of private, anonymous, read-write memory that is not
/// charged against the commit limit (`MAP_NORESERVE`) and never backed by
/// transparent huge pages: pages cost memory only once touched.
pub(crate) fn map_lazy(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous mapping at an address the kernel chooses touches
    // no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the range was just mapped by us. The advice only affects how
    // the kernel backs it, so a failure (THP compiled out) is harmless.
    unsafe { libc::madvise(ptr, len, libc::MADV_NOHUGEPAGE) };
    Ok(ptr.cast())
}

/// Unmaps a range obtained from [`map_lazy`].
///
/// # Safety
/// The range must be one mapping of ours that nothing refers to any more.
pub(crate) unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is ours and unused.
    unsafe { libc::munmap(ptr.cast(), len) };
}

/// Gives the physical pages of a range back to the kernel; the range stays
/// mapped and reads as zeros when touched again.
///
/// # Safety
/// The range must be mapped memory of ours whose contents nobody needs,
/// and cover no guard page (guard regions would survive, but a userfault
/// guard's marker would not).
pub(crate) unsafe fn release(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the contents are dead.
    unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) };
}

/// [`release`] for many ranges, batched through `process_madvise` where the
/// kernel allows `MADV_DONTNEED` there (else one `madvise` per range).
///
/// # Safety
/// As [`release`], for every range.
pub(crate) unsafe fn release_batch(ranges: &[(usize, usize)]) {
    for chunk in ranges.chunks(MAX_BATCH) {
        // SAFETY: forwarded from our caller.
        if unsafe { process_madvise(chunk, libc::MADV_DONTNEED) }.is_err() {
            for &(start, len) in chunk {
                // SAFETY: forwarded from our caller.
                unsafe { release(start as *mut u8, len) };
            }
        }
    }
}

/// One `process_madvise` call on our own process for up to [`MAX_BATCH`]
/// ranges; `Err` if the kernel refused or did only part of it.
///
/// # Safety
/// `advice` must be safe for every range (see the callers).
unsafe fn process_madvise(ranges: &[(usize, usize)], advice: libc::c_int) -> io::Result<()> {
    let fd = self_pidfd().ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))?;
    let iov: Vec<libc::iovec> = ranges
        .iter()
        .map(|&(start, len)| libc::iovec {
            iov_base: start as *mut libc::c_void,
            iov_len: len,
        })
        .collect();
    let total: usize = ranges.iter().map(|r| r.1).sum();
    // SAFETY: `iov` describes ranges our caller vouched for; the pidfd names
    // this very process.
    let done = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            fd,
            iov.as_ptr(),
            iov.len(),
            advice,
            0,
        )
    };
    if done < 0 {
        return Err(io::Error::last_os_error());
    }
    if done as usize != total {
        return Err(io::Error::from_raw_os_error(libc::EAGAIN));
    }
    Ok(())
}

/// How guard pages are made on this kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum GuardKind {
    /// `MADV_GUARD_INSTALL`: no VMA per guard.
    Region,
    /// Write protection through a `userfaultfd` (see `userfault`): no VMA
    /// per guard either.
    Userfault,
    /// `mprotect(PROT_NONE)`: two VMAs per guarded stack.
    Mprotect,
}

impl GuardKind {
    /// Whether each guard costs mappings of the process's limited number.
    pub(crate) fn costs_mappings(self) -> bool {
        self == GuardKind::Mprotect
    }

    /// Its name, as `GORO_GUARDS` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GuardKind::Region => "region",
            GuardKind::Userfault => "userfault",
            GuardKind::Mprotect => "mprotect",
        }
    }
}

const KIND_UNKNOWN: u8 = 0;
const KIND_REGION: u8 = 1;
const KIND_USERFAULT: u8 = 2;
const KIND_MPROTECT: u8 = 3;
/// The kind in use, decided at the first install: the first of region,
/// userfault and mprotect, in that order, that the kernel has (or the one
/// `GORO_GUARDS` names, and those after it).
static GUARD_KIND: AtomicU8 = AtomicU8::new(KIND_UNKNOWN);

/// The guard mechanism in use, once the first guard decided it.
pub(crate) fn guard_kind_decided() -> Option<GuardKind> {
    (GUARD_KIND.load(Ordering::Relaxed) != KIND_UNKNOWN).then(guard_kind)
}

/// The guard mechanism in use; `Region` until a kernel refuses it.
pub(crate) fn guard_kind() -> GuardKind {
    match GUARD_KIND.load(Ordering::Relaxed) {
        KIND_USERFAULT => GuardKind::Userfault,
        KIND_MPROTECT => GuardKind::Mprotect,
        _ => GuardKind::Region,
    }
}

/// `GORO_GUARDS`, which can skip the better kinds of guard, to test the
/// fallbacks on a kernel that has them all: `region` (the default),
/// `userfault`, `userfault-zeropage` (userfault guards as kernels before
/// 6.4 make them) or `mprotect`.
fn forced_guards() -> Option<String> {
    std::env::var("GORO_GUARDS").ok()
}

/// The first kind to try.
fn first_kind() -> u8 {
    match forced_guards().as_deref() {
        Some("userfault" | "userfault-zeropage") => KIND_USERFAULT,
        Some("mprotect") => KIND_MPROTECT,
        _ => KIND_REGION,
    }
}

/// The kind after guard regions failed: userfault if the kernel has it.
fn fallback_kind() -> u8 {
    let zero_page_only = forced_guards().as_deref() == Some("userfault-zeropage");
    if crate::userfault::available(zero_page_only) {
        KIND_USERFAULT
    } else {
        KIND_MPROTECT
    }
}

/// The kernel's `vm.max_map_count`, for error messages.
pub(crate) fn max_map_count() -> Option<usize> {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

/// Makes every `(start, len)` range, inside the mapping `mapping`, fault on
/// access (with `Userfault`, on writes: see `userfault`).
///
/// # Safety
/// `mapping` must be one anonymous private mapping of ours (from
/// [`map_lazy`]); every range must be page-aligned, inside it, hold nothing
/// anybody will read again, and never be released.
pub(crate) unsafe fn install_guards(
    mapping: (usize, usize),
    ranges: &[(usize, usize)],
) -> io::Result<()> {
    if GUARD_KIND.load(Ordering::Relaxed) == KIND_UNKNOWN {
        let first = match first_kind() {
            KIND_USERFAULT => fallback_kind(),
            kind => kind,
        };
        let _ =
            GUARD_KIND.compare_exchange(KIND_UNKNOWN, first, Ordering::Relaxed, Ordering::Relaxed);
    }
    match GUARD_KIND.load(Ordering::Relaxed) {
        // SAFETY: forwarded from our caller.
        KIND_USERFAULT => unsafe { userfault_guards(mapping, ranges) },
        // SAFETY: forwarded from our caller.
        KIND_MPROTECT => unsafe { mprotect_guards(ranges) },
        // SAFETY: forwarded from our caller.
        _ => unsafe { region_guards(mapping, ranges) },
    }
}

/// The kind in use has been seen to work: its first guard was checked to
/// stop the kernel (see the module note).
static VERIFIED: AtomicBool = AtomicBool::new(false);

/// Whether the first guard installed, at `guard`, stops what `blocked`
/// checks; checked once per kind.
fn verified(guard: usize, blocked: impl FnOnce(usize) -> bool) -> bool {
    VERIFIED.load(Ordering::Relaxed) || {
        let ok = blocked(guard);
        VERIFIED.store(ok, Ordering::Relaxed);
        ok
    }
}

/// Moves on to the next kind (after `failed`) and installs with it.
///
/// # Safety
/// As [`install_guards`].
unsafe fn fall_back(
    failed: u8,
    mapping: (usize, usize),
    ranges: &[(usize, usize)],
) -> io::Result<()> {
    let next = if failed == KIND_REGION {
        fallback_kind()
    } else {
        KIND_MPROTECT
    };
    GUARD_KIND.store(next, Ordering::Relaxed);
    VERIFIED.store(false, Ordering::Relaxed);
    // SAFETY: forwarded from our caller.
    unsafe { install_guards(mapping, ranges) }
}

/// Guard regions, falling back when the kernel refuses them or accepts
/// them without enforcing them.
///
/// # Safety
/// As [`install_guards`].
unsafe fn region_guards(mapping: (usize, usize), ranges: &[(usize, usize)]) -> io::Result<()> {
    for chunk in ranges.chunks(MAX_BATCH) {
        // SAFETY: forwarded from our caller.
        match unsafe { guard_regions(chunk) } {
            Ok(()) if verified(chunk[0].0, |g| !readable_by_kernel(g)) => {}
            Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
            // SAFETY: forwarded from our caller.
            _ => return unsafe { fall_back(KIND_REGION, mapping, ranges) },
        }
    }
    Ok(())
}

/// Write-protect guards, falling back to `mprotect` if the kernel lets
/// itself write into the first one.
///
/// # Safety
/// As [`install_guards`].
unsafe fn userfault_guards(mapping: (usize, usize), ranges: &[(usize, usize)]) -> io::Result<()> {
    // SAFETY: forwarded from our caller.
    match unsafe { crate::userfault::guard(mapping, ranges) } {
        Ok(()) if ranges.is_empty() || verified(ranges[0].0, |g| !writable_by_kernel(g)) => Ok(()),
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(e),
        // SAFETY: forwarded from our caller.
        _ => unsafe { fall_back(KIND_USERFAULT, mapping, ranges) },
    }
}

/// Whether the kernel can read the byte at `addr`: `write(2)` it into a
/// pipe, which fails with `EFAULT` on a guard page (a guard region or
/// `PROT_NONE`). When no pipe can be had, answers no (trust the kernel).
fn readable_by_kernel(addr: usize) -> bool {
    through_a_pipe(|[_, write_end]| {
        // SAFETY: the kernel checks `addr` itself and answers EFAULT instead
        // of faulting; nothing in this process reads or writes through it.
        unsafe { libc::write(write_end, addr as *const libc::c_void, 1) }
    })
}

/// Whether the kernel can write the byte at `addr`: `read(2)` one byte
/// from a pipe into it, which fails with `EFAULT` on a guard page of any
/// kind. If it is no guard, the byte lands there (callers check fresh
/// guard pages, which hold nothing). When no pipe can be had, answers no.
pub(crate) fn writable_by_kernel(addr: usize) -> bool {
    through_a_pipe(|[read_end, write_end]| {
        // SAFETY: writes one byte from a static into our pipe, then has the
        // kernel copy it to `addr`, which it checks itself (EFAULT instead
        // of a fault); `addr` is a fresh guard page that holds nothing.
        unsafe {
            libc::write(write_end, b"g".as_ptr().cast(), 1);
            libc::read(read_end, addr as *mut libc::c_void, 1)
        }
    })
}

/// Whether `copy` moved one byte, given a fresh pipe's two ends.
fn through_a_pipe(copy: impl FnOnce([libc::c_int; 2]) -> isize) -> bool {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return false;
    }
    let moved = copy(fds);
    // SAFETY: closing the two descriptors opened above, used nowhere else.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    moved == 1
}

/// Installs guard regions, batched through `process_madvise` when possible.
///
/// # Safety
/// As [`install_guards`].
unsafe fn guard_regions(ranges: &[(usize, usize)]) -> io::Result<()> {
    // SAFETY: forwarded from our caller.
    if unsafe { process_madvise(ranges, MADV_GUARD_INSTALL) }.is_ok() {
        return Ok(());
    }
    // A short or refused batch: redo every range one by one, which is
    // idempotent for ranges already guarded.
    for &(start, len) in ranges {
        // SAFETY: as above.
        if unsafe { libc::madvise(start as *mut libc::c_void, len, MADV_GUARD_INSTALL) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Fallback guards for kernels with neither guard regions nor userfaultfd.
/// Fails with `ENOMEM` rather than take mappings the rest of the program
/// needs (see [`room_for_guards`]).
///
/// # Safety
/// As [`install_guards`].
unsafe fn mprotect_guards(ranges: &[(usize, usize)]) -> io::Result<()> {
    if !room_for_guards(ranges.len()) {
        return Err(io::Error::from_raw_os_error(libc::ENOMEM));
    }
    for &(start, len) in ranges {
        // SAFETY: as above.
        if unsafe { libc::mprotect(start as *mut libc::c_void, len, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Mappings kept for the rest of the program when `mprotect` guards are in
/// use: an eighth of `vm.max_map_count`. A spawn can fail with an error
/// that names the limit; a worker thread whose stack cannot be mapped, or
/// a C heap that cannot grow, cannot, so stack guards stop short of the
/// limit (where taking the last mappings made the next thread to start
/// fatal).
pub(crate) fn mappings_kept_free(limit: usize) -> usize {
    limit / 8
}

/// Whether `n` more `mprotect` guards, two mappings each at most, leave
/// [`mappings_kept_free`]. Counting the process's mappings reads
/// `/proc/self/maps` (milliseconds, with tens of thousands), so guards are
/// admitted from an allowance: at first a quarter of the limit (half of it
/// in mappings), then, at each count, half of what the room left would
/// hold; a few counts on the way to the limit, not one per batch.
fn room_for_guards(n: usize) -> bool {
    static ALLOWANCE: Mutex<Option<usize>> = Mutex::new(None);
    let Some(limit) = max_map_count() else {
        return true;
    };
    let mut allowance = ALLOWANCE.lock().unwrap_or_else(PoisonError::into_inner);
    let left = allowance.get_or_insert(limit / 4);
    if *left < n {
        let room = map_count().map_or(0, |now| {
            limit.saturating_sub(now + mappings_kept_free(limit)) / 2
        });
        if room < n {
            return false;
        }
        *left = (room / 2).max(n);
    }
    *left -= n;
    true
}

/// The process's memory mappings now.
fn map_count() -> Option<usize> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|&&b| b == b'\n').count())
}

/// A pidfd of this process for `process_madvise`, if the kernel has both.
fn self_pidfd() -> Option<libc::c_int> {
    static FD: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *FD.get_or_init(|| {
        // SAFETY: pidfd_open on our own pid has no memory effects.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        (fd >= 0).then_some(fd as libc::c_int)
    })
}

/// Asks the C allocator to give its free memory back to the kernel.
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resident bytes of `[start, start + len)`, from `/proc/self/smaps`: the
/// sum over every mapping that overlaps it (`mprotect` guards split the
/// stack arena into two mappings per stack). A neighbour the kernel merged
/// into an edge mapping counts too: an estimate, never an undercount.
pub(crate) fn resident_in(start: usize, len: usize) -> Option<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut kib = 0;
    for line in smaps.lines() {
        if let Some((from, to)) = mapping_range(line) {
            inside = from < start + len && to > start;
        } else if let Some(rss) = line.strip_prefix("Rss:").filter(|_| inside) {
            kib += rss
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()?;
        }
    }
    Some(kib * 1024)
}

/// The address range of an `smaps` mapping header (`from-to perms ...`);
/// `None` for the field lines under it.
fn mapping_range(line: &str) -> Option<(usize, usize)> {
    let (from, to) = line.split(' ').next()?.split_once('-')?;
    Some((
        usize::from_str_radix(from, 16).ok()?,
        usize::from_str_radix(to, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on `pages` fresh pages of our own (their address and the
    /// page size), then unmaps them.
    fn with_fresh_pages(pages: usize, test: impl FnOnce(usize, usize)) {
        let page = page_size();
        let memory = map_lazy(pages * page).unwrap();
        test(memory as usize, page);
        // SAFETY: our mapping, no longer used.
        unsafe { unmap(memory, pages * page) };
    }

    /// The probe tells an ordinary page from a `PROT_NONE` one.
    #[test]
    fn the_kernel_reads_a_mapped_page_and_not_a_protected_one() {
        with_fresh_pages(2, |memory, page| {
            assert!(readable_by_kernel(memory));
            // SAFETY: the first page of our own fresh mapping, unused.
            unsafe { mprotect_guards(&[(memory, page)]) }.unwrap();
            assert!(!readable_by_kernel(memory));
            assert!(readable_by_kernel(memory + page));
        });
    }

    /// Resident memory is summed over a range split into several mappings,
    /// counting only the pages touched.
    #[test]
    fn resident_bytes_sum_the_mappings_of_a_range() {
        with_fresh_pages(10, |memory, page| {
            let guards = [0, 4, 9].map(|i| (memory + i * page, page));
            // SAFETY: pages of our own fresh mapping, unused. The edges keep
            // the kernel from merging a neighbour into the range; the middle
            // one splits it.
            unsafe { mprotect_guards(&guards) }.unwrap();
            for i in [1, 6, 8] {
                // SAFETY: a read-write page of our own mapping.
                unsafe { ((memory + i * page) as *mut u8).write_volatile(1) };
            }
            assert_eq!(resident_in(memory + page, 8 * page), Some(3 * page));
            assert_eq!(resident_in(memory + 5 * page, 4 * page), Some(2 * page));
        });
    }

    /// Whatever mechanism this kernel ends up with, a guard installed is in
    /// force: the kernel cannot write it, and the page above it is intact.
    #[test]
    fn an_installed_guard_is_in_force() {
        with_fresh_pages(4, |memory, page| {
            let guards = [(memory, page), (memory + 2 * page, page)];
            // SAFETY: pages of our own fresh mapping, unused.
            unsafe { install_guards((memory, 4 * page), &guards) }.unwrap();
            assert!(!writable_by_kernel(memory));
            assert!(!writable_by_kernel(memory + 2 * page));
            assert!(writable_by_kernel(memory + page));
        });
    }
}
