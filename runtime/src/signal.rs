//! Signals: stack overflow (report which goroutine overflowed, then abort)
//! and `SIGQUIT` (dump the goroutines and exit, as Go does).
//!
//! Every goroutine stack has a guard page at its bottom (see `stack`), and
//! Rust's stack probes touch every page of a large frame, so an overflow
//! always faults in the guard. A `SIGSEGV`/`SIGBUS` handler running on an
//! alternate signal stack (the goroutine's own stack is exhausted) compares
//! the fault address with the guard of the goroutine this thread runs. On a
//! hit it writes, with async-signal-safe `write(2)` only:
//!
//! ```text
//! goroutine 7 'parser' stack overflow: exceeded its 262144-byte stack
//! fatal error: stack overflow
//! goro: to recurse deeper, give this goroutine a larger stack (goro::Builder::stack_size; ...
//! ```
//!
//! (the last line names the cures: `Builder::stack_size`,
//! `#[goro::main(stack_size = BYTES)]` and `GORO_STACK_SIZE`) and aborts: memory is never corrupted silently. Any other fault goes to
//! the handler that was installed before ours (std's, which reports thread
//! stack overflows), or to the default action.

use crate::goroutine;
use std::sync::OnceLock;

/// The handlers ours replaced, for `SIGSEGV` and `SIGBUS`.
struct Previous {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// Bytes of each worker's alternate signal stack.
const ALT_STACK: usize = 64 * 1024;

/// Installs the overflow handler for the process (once).
pub(crate) fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sigaction is given valid, initialised structs; a zeroed
        // sigaction is a valid "default action" value. Until PREVIOUS is set
        // the handler treats foreign faults with the default action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous = Previous {
                segv: std::mem::zeroed(),
                bus: std::mem::zeroed(),
            };
            libc::sigaction(libc::SIGSEGV, &action, &mut previous.segv);
            libc::sigaction(libc::SIGBUS, &action, &mut previous.bus);
            previous
        }
    });
}

/// Gives the calling worker thread an alternate signal stack if it has none.
pub(crate) fn prepare_thread() {
    // SAFETY: querying the current alternate stack writes only `current`.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return; // std already gave this thread one
    }
    let Ok(memory) = crate::mmap::map_lazy(ALT_STACK) else {
        return; // without it an overflow still faults, just without a report
    };
    let stack = libc::stack_t {
        ss_sp: memory.cast(),
        ss_flags: 0,
        ss_size: ALT_STACK,
    };
    // SAFETY: `memory` is a fresh mapping of ALT_STACK bytes that lives as
    // long as the process (worker threads never exit), so it outlives every
    // signal this thread can take.
    unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
}

extern "C" fn handler(signum: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let g = goroutine::current_ptr();
    if !g.is_null() {
        // SAFETY: a non-null current goroutine is alive while its thread runs
        // it, and the fault interrupted that very thread.
        let g = unsafe { &*g };
        let (lo, hi) = g.guard();
        if addr >= lo && addr < hi {
            report_overflow(g);
        }
    }
    // SAFETY: a zeroed sigaction means SIG_DFL.
    let default: libc::sigaction = unsafe { std::mem::zeroed() };
    let previous = match PREVIOUS.get() {
        Some(p) if signum == libc::SIGBUS => &p.bus,
        Some(p) => &p.segv,
        None => &default,
    };
    chain(signum, info, context, previous);
}

/// Hands a fault that is not ours to the previous handler, or restores the
/// default action so returning re-faults and kills the process as usual.
fn chain(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
    previous: &libc::sigaction,
) {
    let target = previous.sa_sigaction;
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signum, &action, std::ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed as an SA_SIGINFO
        // handler, so it has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(target) };
        f(signum, info, context);
    } else {
        // SAFETY: a handler without SA_SIGINFO takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(target) };
        f(signum);
    }
}

/// What to do about an overflow, the report's last line.
const OVERFLOW_HELP: &[u8] = b"goro: to recurse deeper, give this goroutine a larger stack \
    (goro::Builder::stack_size; #[goro::main(stack_size = BYTES)] for main) or every \
    goroutine one (GORO_STACK_SIZE=8m, say); see \"Deep recursion\" in goro's guide\n";

/// Writes the overflow report with `write(2)` only, then aborts.
fn report_overflow(g: &goroutine::G) -> ! {
    let mut buf = [0u8; 1024];
    let mut out = Writer {
        buf: &mut buf,
        len: 0,
    };
    out.push(b"goroutine ");
    out.number(g.id());
    if let Some(name) = g.name() {
        out.push(b" '");
        out.push(name.as_bytes());
        out.push(b"'");
    }
    out.push(b" stack overflow: exceeded its ");
    out.number(g.stack_size() as u64);
    out.push(b"-byte stack\nfatal error: stack overflow\n");
    out.push(OVERFLOW_HELP);
    // SAFETY: write(2) and abort are async-signal-safe; `buf[..len]` is
    // initialised.
    unsafe {
        libc::write(2, out.buf.as_ptr().cast(), out.len);
        libc::abort();
    }
}

/// A fixed buffer that silently truncates, for signal-safe formatting.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// The write end of the pipe the `SIGQUIT` handler pokes, once installed.
static QUIT_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Go's `SIGQUIT` behaviour: print the goroutines to stderr (every one that
/// has started, with a count of those not started yet) and exit with
/// status 2. The handler only writes a byte to a pipe (async-signal-safe);
/// a helper thread blocked on the pipe prints the dump. Off when
/// `GORO_SIGQUIT_DUMP=0`, or when the program already handles `SIGQUIT`
/// with a handler of its own. An ignored `SIGQUIT` is taken over, as Go's
/// runtime does (it respects an inherited "ignore" only for `SIGHUP` and
/// `SIGINT`): a program started in the background by a script inherits
/// `SIGQUIT` ignored, and is still meant to dump when sent one.
/// Returns whether the helper thread was started.
pub(crate) fn install_quit_dump() -> bool {
    if std::env::var_os("GORO_SIGQUIT_DUMP").is_some_and(|v| v == "0") {
        return false;
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return false;
    }
    let [read_end, write_end] = fds;
    let spawned = std::thread::Builder::new()
        .name("goro-sigquit".into())
        .spawn(move || wait_for_quit(read_end));
    if spawned.is_err() {
        return false;
    }
    QUIT_PIPE.store(write_end, std::sync::atomic::Ordering::Release);
    // SAFETY: installs a handler that only calls write(2); the previous
    // disposition is kept if the program had its own handler.
    unsafe {
        let mut previous: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGQUIT, std::ptr::null(), &mut previous);
        if previous.sa_sigaction != libc::SIG_DFL && previous.sa_sigaction != libc::SIG_IGN {
            return true; // the program's own handler wins; our thread idles
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = quit_handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGQUIT, &action, std::ptr::null_mut());
    }
    true
}

extern "C" fn quit_handler(_: libc::c_int) {
    let fd = QUIT_PIPE.load(std::sync::atomic::Ordering::Acquire);
    // SAFETY: write(2) is async-signal-safe; a failed write only loses the
    // dump.
    unsafe { libc::write(fd, b"q".as_ptr().cast(), 1) };
}

fn wait_for_quit(fd: libc::c_int) {
    let mut byte = 0u8;
    // SAFETY: reads one byte into `byte`; blocks until the handler writes.
    while unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) } != 1 {}
    let mut out = String::from("SIGQUIT: quit\n");
    let listed = crate::inspect::report(&mut out);
    let unlisted = crate::num_goroutine().saturating_sub(listed);
    if unlisted > 0 {
        out.push_str(&format!(
            "\n{unlisted} more goroutines not started yet (runnable) or finishing\n"
        ));
    }
    eprint!("{out}");
    std::process::exit(2);
}
