//! Shared pieces of the peers' binaries. The one-JSON-line report and the
//! measurements (`report`) and each workload's sizes, checks and report
//! (`spec`) are goro's own files from `benches/workloads`, included here so
//! that there is one copy of each; the rest is the peers' own: argument
//! handling, and the tokio and may helpers their binaries share. The
//! protocol is described in `benches/compare.py`.

#[path = "../../workloads/report.rs"]
mod report;
#[path = "../../workloads/spec.rs"]
pub mod spec;

pub use report::{cpu_time, fail, ms, ns_per, rss_kib, Report};

/// The worker count: `GOMAXPROCS` if set to a positive integer, else the
/// number of CPUs this process may run on.
pub fn procs() -> usize {
    std::env::var("GOMAXPROCS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Reports that this runtime has no faithful equivalent of a workload: the
/// reason goes to stderr and the exit code is 2, which the runner shows as
/// "n/a" with the reason.
pub fn not_available(workload: &str, reason: &str) -> ! {
    eprintln!("{workload}: not run: {reason}");
    std::process::exit(2)
}

/// Checks that `table` implements exactly the workloads of
/// `benches/workloads.json`, then runs the one named by `argv[1]` with
/// `run` and prints its JSON line; `list` prints the names.
pub fn main_with<W>(bin: &str, table: &[(&str, W)], run: impl FnOnce(&W) -> Report) {
    let implemented: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    spec::check(bin, &implemented);
    let name = std::env::args().nth(1).unwrap_or_default();
    if name == "list" {
        spec::names().iter().for_each(|n| println!("{n}"));
        return;
    }
    match table.iter().find(|(n, _)| *n == name) {
        Some((_, w)) => println!("{}", run(w).to_json()),
        None => {
            eprintln!("usage: {bin} NAME|list ({})", spec::names().join(" "));
            std::process::exit(2);
        }
    }
}

/// The listen address, the first argument of every server binary.
pub fn listen_addr(bin: &str) -> String {
    match std::env::args().nth(1) {
        Some(a) if std::env::args().len() == 2 => a,
        _ => {
            eprintln!("usage: {bin} ADDR   (e.g. 127.0.0.1:18080; workers from GOMAXPROCS)");
            std::process::exit(2)
        }
    }
}

/// Raises this process's soft limit on open files to the hard limit (a
/// server or load generator holding 10,000 connections needs more than the
/// usual 1024). Returns the limit now in force.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur as u64;
            }
        }
        lim.rlim_cur as u64
    }
}

/// Size of the buffer every echo server reads into (Go's and goro's too):
/// it sets most of the memory an idle connection costs.
pub const ECHO_BUF: usize = 4096;

/// What the tokio binaries share.
pub mod tokio_rt {
    use super::{listen_addr, procs, raise_nofile};
    use std::future::Future;
    use std::sync::atomic::{AtomicIsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::runtime::Runtime;
    use tokio::sync::Notify;

    /// A multi-threaded runtime with `worker_threads` = GOMAXPROCS (default:
    /// the CPUs).
    pub fn runtime() -> std::io::Result<Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(procs())
            .enable_all()
            .build()
    }

    /// Go's `sync.WaitGroup` for tasks: a counter, and a `Notify` whose
    /// stored permit makes a `done` that runs before `wait` starts waiting
    /// not lost.
    #[derive(Clone)]
    pub struct WaitGroup(Arc<(AtomicIsize, Notify)>);

    impl WaitGroup {
        #[allow(clippy::new_without_default)]
        pub fn new() -> WaitGroup {
            WaitGroup(Arc::new((AtomicIsize::new(0), Notify::new())))
        }

        #[inline]
        pub fn add(&self, n: isize) {
            self.0 .0.fetch_add(n, Ordering::AcqRel);
        }

        #[inline]
        pub fn done(&self) {
            if self.0 .0.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.0 .1.notify_one();
            }
        }

        pub async fn wait(&self) {
            while self.0 .0.load(Ordering::Acquire) != 0 {
                self.0 .1.notified().await;
            }
        }
    }

    /// Spawns `n` tasks running `f(0)`, …, `f(n - 1)` (each task gets a
    /// clone of `f`) and waits for all of them with a `WaitGroup`.
    pub async fn spawn_and_wait<F, Fut>(n: usize, f: F)
    where
        F: FnOnce(usize) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let wg = WaitGroup::new();
        wg.add(n as isize);
        for i in 0..n {
            let (wg, f) = (wg.clone(), f.clone());
            tokio::spawn(async move {
                f(i).await;
                wg.done();
            });
        }
        wg.wait().await;
    }

    /// The tokio servers' main: the address from the command line, the open
    /// files limit raised, then on `runtime()` an accept loop that spawns
    /// `handle(stream)` for every connection (called in the loop, so what
    /// it does before its future runs happens before the next accept).
    pub fn serve<F, Fut>(bin: &str, handle: F)
    where
        F: Fn(TcpStream) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listen_addr(bin);
        raise_nofile();
        let rt = runtime().expect("tokio runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
                eprintln!("{bin}: bind {addr}: {e}");
                std::process::exit(1)
            });
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(handle(stream));
                    }
                    // Out of file descriptors and the like: wait, then go on.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        })
    }
}

/// What the may binaries share.
pub mod may_rt {
    use super::procs;
    use may::go;
    use may::sync::WaitGroup;

    /// GOMAXPROCS workers (default: the CPUs), not pinned to cores (Go,
    /// goro and tokio do not pin).
    pub fn configure() {
        may::config().set_workers(procs());
        may::config().set_worker_pin(false);
    }

    /// Spawns `n` coroutines running `f(0)`, …, `f(n - 1)` (each gets a
    /// clone of `f`) and waits for all of them: may's `WaitGroup` counts
    /// clones, and each coroutine drops its clone when done.
    pub fn spawn_and_wait<F>(n: usize, f: F)
    where
        F: FnOnce(usize) + Clone + Send + 'static,
    {
        let wg = WaitGroup::new();
        for i in 0..n {
            let (wg, f) = (wg.clone(), f.clone());
            go!(move || {
                f(i);
                drop(wg);
            });
        }
        wg.wait();
    }
}
