//! The operating-system layer for threads: what the kernel knows of a
//! worker's thread that goro cannot see from inside, asked by the monitor.
//!
//! A worker whose status word has not changed for a while may be running a
//! long goroutine, blocked in the kernel (an unannotated blocking call), or
//! set aside by the OS, runnable but waiting for a CPU (more threads than
//! cores: a container's quota, `GOMAXPROCS` above the CPU count). The first
//! two hold their token and gain from handing it to another thread; the
//! third does not, since another thread would wait for the same CPUs.
//! [`OsThread`] tells them apart: its CPU-time clock
//! (`pthread_getcpuclockid`), which any thread of the process may read,
//! and its scheduling state (`/proc/self/task/TID/stat`). A port to another
//! OS replaces this file.

use std::time::{Duration, Instant};

/// A worker thread as the kernel knows it: its CPU clock and thread id,
/// packed into one word for an atomic (see [`OsThread::to_word`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OsThread {
    clock: libc::clockid_t,
    tid: libc::pid_t,
}

/// A stretch of time over which a thread's CPU time is watched (see
/// [`OsThread::set_aside`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuWindow {
    since: Instant,
    cpu: u64,
}

/// The word of no thread.
pub(crate) const NO_THREAD: u64 = 0;

impl OsThread {
    /// The calling thread; `None` if the kernel will not name its clock.
    pub(crate) fn current() -> Option<OsThread> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is the live calling thread, and `clock`
        // is a valid place for the result.
        let failed = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        // SAFETY: `gettid` has no preconditions.
        let tid = unsafe { libc::gettid() };
        (failed == 0 && tid > 0).then_some(OsThread { clock, tid })
    }

    /// CPU nanoseconds the thread has run; `None` once it has exited.
    pub(crate) fn cpu_nanos(self) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid place for the result; the clock of a
        // thread that has exited is an error, not undefined behaviour.
        let failed = unsafe { libc::clock_gettime(self.clock, &mut ts) };
        (failed == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Whether the thread is runnable (running, or waiting for a CPU)
    /// rather than blocked in the kernel; `None` if the kernel does not say.
    pub(crate) fn runnable(self) -> Option<bool> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid)).ok()?;
        // "TID (NAME) STATE ...": the name may hold spaces and parentheses.
        let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
        Some(state == 'R')
    }

    /// Starts watching its share of a CPU from `now`; `None` if the kernel
    /// does not say.
    pub(crate) fn watch(self, now: Instant) -> Option<CpuWindow> {
        Some(CpuWindow {
            since: now,
            cpu: self.cpu_nanos()?,
        })
    }

    /// Whether the OS has set the thread aside over `window`: it ran less
    /// than half the time and is runnable (waiting for a CPU), not blocked
    /// in the kernel (false where the kernel does not say). `None` while
    /// the window is shorter than `min`; once judged, the window starts
    /// again at `now`.
    pub(crate) fn set_aside(
        self,
        window: &mut CpuWindow,
        now: Instant,
        min: Duration,
    ) -> Option<bool> {
        let wall = now.saturating_duration_since(window.since);
        if wall < min {
            return None;
        }
        let Some(cpu) = self.cpu_nanos() else {
            return Some(false);
        };
        let ran = Duration::from_nanos(cpu.saturating_sub(window.cpu));
        *window = CpuWindow { since: now, cpu };
        Some(ran < wall / 2 && self.runnable() == Some(true))
    }

    /// As one non-zero word; [`OsThread::from_word`] gives it back.
    pub(crate) fn to_word(self) -> u64 {
        (u64::from(self.clock as u32) << 32) | u64::from(self.tid as u32)
    }

    /// The thread stored by [`OsThread::to_word`]; `None` for [`NO_THREAD`].
    pub(crate) fn from_word(word: u64) -> Option<OsThread> {
        (word != NO_THREAD).then_some(OsThread {
            clock: (word >> 32) as u32 as libc::clockid_t,
            tid: word as u32 as libc::pid_t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_thread_survives_its_word() {
        let me = OsThread::current().unwrap();
        assert_eq!(OsThread::from_word(me.to_word()), Some(me));
        assert_eq!(OsThread::from_word(NO_THREAD), None);
    }

    #[test]
    fn a_spinning_thread_is_runnable_and_its_clock_advances() {
        let me = OsThread::current().unwrap();
        assert_eq!(me.runnable(), Some(true));
        let before = me.cpu_nanos().unwrap();
        let mut x = 1u64;
        while me.cpu_nanos().unwrap() == before {
            x = std::hint::black_box(x.wrapping_mul(3));
        }
    }

    /// Pins the calling thread to CPU 0.
    fn pin_to_cpu0() {
        // SAFETY: `set` is a valid, zeroed CPU set that outlives the call;
        // 0 names the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            let size = std::mem::size_of::<libc::cpu_set_t>();
            assert_eq!(libc::sched_setaffinity(0, size, &set), 0);
        }
    }

    /// Four spinning threads sharing one CPU each run about a quarter of
    /// the time: set aside. (Other load on the machine only lowers that.)
    #[test]
    fn a_thread_sharing_its_cpu_with_three_spinners_is_set_aside() {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let spinners: Vec<_> = (0..4)
            .map(|_| {
                let (stop, tx) = (stop.clone(), tx.clone());
                std::thread::spawn(move || {
                    pin_to_cpu0();
                    tx.send(OsThread::current().unwrap()).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let watched = rx.recv().unwrap();
        for _ in 1..4 {
            rx.recv().unwrap();
        }
        let min = Duration::from_millis(30);
        let mut window = watched.watch(Instant::now()).unwrap();
        assert_eq!(watched.set_aside(&mut window, Instant::now(), min), None);
        let verdict = loop {
            if let Some(verdict) = watched.set_aside(&mut window, Instant::now(), min) {
                break verdict;
            }
            std::thread::yield_now();
        };
        stop.store(true, Ordering::Relaxed);
        spinners.into_iter().for_each(|s| s.join().unwrap());
        assert!(verdict, "a quarter of a CPU did not count as set aside");
    }

    #[test]
    fn a_thread_blocked_in_the_kernel_is_not_runnable() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            tx.send(OsThread::current().unwrap()).unwrap();
            let _ = done_rx.recv();
        });
        let other = rx.recv().unwrap();
        // It blocks in `recv` soon after sending; wait until the kernel
        // says so (no timing: a state seen, not a sleep).
        while other.runnable() != Some(false) {
            std::thread::yield_now();
        }
        done_tx.send(()).unwrap();
        sleeper.join().unwrap();
    }
}
