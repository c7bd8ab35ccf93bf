//! How many worker threads (`GOMAXPROCS`) the runtime runs goroutines on.
//!
//! The rule follows Go 1.25+ (`runtime.defaultGOMAXPROCS` and
//! `internal/runtime/cgroup`):
//!
//! 1. If the `GOMAXPROCS` environment variable holds a positive decimal
//!    integer, it wins outright and nothing below is consulted; a value above
//!    [`MAX_PROCS`] is lowered to it, with a one-line warning on stderr. Go's runtime parser is used as the yardstick for "positive
//!    integer": ASCII digits only, no sign, no surrounding whitespace, and the
//!    value must fit in an `i32`. Unset or empty means "use the default".
//!    Anything else is ignored with a one-line warning on stderr (Go ignores it
//!    silently; we warn because a typo there is otherwise invisible).
//! 2. Otherwise the default is the number of CPUs this thread may run on: the
//!    online CPU count, lowered to the size of the thread's affinity mask
//!    (`taskset`, `cpuset` cgroups and container `--cpuset-cpus` shrink it).
//! 3. That is then lowered to the cgroup CPU *bandwidth* limit, i.e. the CFS
//!    quota divided by the period (`cpu.max` in cgroup v2,
//!    `cpu.cfs_quota_us` / `cpu.cfs_period_us` in v1). This is what
//!    Kubernetes' "CPU limit" and `docker --cpus` set.
//!
//! **Rounding up.** A quota of 1.5 CPUs allows 1.5 CPU-seconds of work per
//! second. With one worker thread the process can never use more than 1.0 of
//! that; with two it can use all of it, and the kernel's throttling keeps the
//! total at 1.5 anyway. Rounding down would leave paid-for capacity idle, so
//! the fractional part is rounded up. Like Go, a limit below 2 is then raised
//! to 2 ([`CGROUP_MIN_PROCS`]): with a single worker thread one long-running
//! or blocking goroutine stalls everything, which is worse than being briefly
//! throttled. The floor never raises the result above the CPU count from
//! step 2, so a genuinely single-CPU machine still gets 1.
//!
//! **Minimum over the hierarchy.** A cgroup cannot use more CPU than any of
//! its ancestors allows, so the effective limit is the smallest quota/period
//! ratio found on the path from our cgroup up to the root of the mount. We
//! walk that whole path. (Go 1.25 only reads the leaf cgroup and documents the
//! tighter-parent case as a known limitation; container runtimes usually hide
//! the parents anyway, so in containers both give the same answer.)
//!
//! **Failures mean "no limit".** The cgroup files are an optimisation hint,
//! not a contract: they are missing on non-Linux systems, without the `cpu`
//! controller, in chroots without `/proc`, and their layout varies between
//! cgroup v1, v2 and hybrid setups. A wrong guess in the "no limit" direction
//! costs some throttling; a wrong guess in the other direction (or a panic in
//! runtime start-up) is much worse. So every read or parse failure silently
//! means "this source imposes no limit", and nothing in here panics or prints
//! (except the `GOMAXPROCS` warning above).
//!
//! Which cgroup is ours: `/proc/self/cgroup` lists one line per hierarchy,
//! `ID:controllers:path`. As in Go, a v1 hierarchy whose controller list
//! contains `cpu` takes precedence; otherwise the v2 line `0::path` is used.
//! The directory is the matching mount point from `/proc/self/mountinfo`
//! (`cgroup2` filesystem, or `cgroup` with the `cpu` super option) joined with
//! that path, after stripping the mount's own root (non-`/` when a container
//! runtime bind-mounts only its sub-tree). If `mountinfo` is unreadable or
//! lists no suitable mount, `/sys/fs/cgroup` (v2) or `/sys/fs/cgroup/cpu` (v1)
//! is assumed.
//!
//! Unlike Go 1.25, the value is computed once; there is no background
//! re-evaluation when the affinity mask or the quota changes later.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Hard upper bound on the number of worker threads, whatever the source.
///
/// Go has no such cap; goro sizes its per-worker tables by it. A larger
/// request (`GOMAXPROCS`, `set_gomaxprocs`) is lowered to it with a warning.
pub(crate) const MAX_PROCS: usize = 1024;

/// Smallest value a cgroup CPU limit is allowed to lower the default to
/// (Go 1.25's `max(limit, 2)`); see the module note for why.
///
/// This never raises the default above the CPU/affinity count.
pub(crate) const CGROUP_MIN_PROCS: usize = 2;

/// Name of the environment variable that overrides the default.
const ENV_VAR: &str = "GOMAXPROCS";

/// Which cgroup hierarchy (per controller) this process belongs to.
const PROC_SELF_CGROUP: &str = "/proc/self/cgroup";

/// Mount table of this process's mount namespace.
const PROC_SELF_MOUNTINFO: &str = "/proc/self/mountinfo";

/// Assumed cgroup v2 mount point when `mountinfo` does not name one.
const FALLBACK_V2_MOUNT: &str = "/sys/fs/cgroup";

/// Assumed cgroup v1 `cpu` controller mount point when `mountinfo` does not
/// name one.
const FALLBACK_V1_CPU_MOUNT: &str = "/sys/fs/cgroup/cpu";

/// Largest cgroup control file we are willing to read (they are a few dozen
/// bytes; this only guards against reading something unexpected).
const MAX_LIMIT_FILE_BYTES: u64 = 4096;

// ---------------------------------------------------------------------------
// GOMAXPROCS environment variable
// ---------------------------------------------------------------------------

/// Number of worker threads to start: `GOMAXPROCS` if it is a valid positive
/// integer (clamped to [`MAX_PROCS`]), otherwise [`default_procs`].
///
/// An invalid value (`abc`, `0`, `-1`, `1.5`, ` 4 `, overflow, non-UTF-8)
/// produces exactly one warning line on stderr per call and falls back to the
/// default; so does a value above [`MAX_PROCS`], which is lowered to it. The environment is re-read on every call; callers should call this
/// once at runtime start-up.
pub(crate) fn procs_from_env() -> usize {
    let value = std::env::var_os(ENV_VAR);
    let (procs, warning) = resolve_procs(value.as_deref(), default_procs);
    if let Some(warning) = warning {
        warn(&warning);
    }
    procs
}

/// Writes `warning` and a newline to stderr in one `write_all`, so the line
/// is not split up by output from other threads; errors (closed stderr) are
/// ignored.
fn warn(warning: &str) {
    let line = format!("{warning}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The worker count `set_gomaxprocs(n)` uses for `n >= 1`: `n`, lowered to
/// [`MAX_PROCS`]. The first request lowered says so on stderr, once per
/// process.
pub(crate) fn clamp_requested(n: usize) -> usize {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if n <= MAX_PROCS {
        return n;
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        warn(&clamp_warning(&format!("set_gomaxprocs({n})")));
    }
    MAX_PROCS
}

/// The warning for a request `what` above [`MAX_PROCS`] (no trailing
/// newline).
pub(crate) fn clamp_warning(what: &str) -> String {
    format!("goro: {what} is above goro's limit of {MAX_PROCS} workers; using {MAX_PROCS}")
}

/// Decides the worker count from the raw `GOMAXPROCS` value without touching
/// the process environment or stderr.
///
/// Returns the count and, if the value was invalid, the warning line (without
/// trailing newline) that should be printed. `default` is only called when the
/// variable does not decide the matter on its own.
pub(crate) fn resolve_procs(
    value: Option<&OsStr>,
    default: impl FnOnce() -> usize,
) -> (usize, Option<String>) {
    let parsed = match value {
        None => Ok(None),
        Some(os) => match os.to_str() {
            Some(s) => parse_gomaxprocs(Some(s)),
            None => Err(os.to_string_lossy().into_owned()),
        },
    };
    match parsed {
        Ok(Some(n)) if n > MAX_PROCS => {
            let raw = value.unwrap_or_default().to_string_lossy();
            (MAX_PROCS, Some(clamp_warning(&format!("{ENV_VAR}={raw}"))))
        }
        Ok(Some(n)) => (n, None),
        Ok(None) => (default(), None),
        Err(raw) => {
            let fallback = default();
            (fallback, Some(gomaxprocs_warning(&raw, fallback)))
        }
    }
}

/// Parses a `GOMAXPROCS` value.
///
/// * `None` or `Some("")`: `Ok(None)`, meaning "not set, use the default".
/// * A positive decimal integer that fits in an `i32`: `Ok(Some(n))` (not yet
///   clamped to [`MAX_PROCS`]). Leading zeros are fine (`"007"` is 7).
/// * Anything else: `Err(raw value)`. That includes `0`, negative numbers,
///   fractions, a leading `+`, surrounding whitespace (`" 4 "`) and values
///   above `i32::MAX`. This mirrors Go's runtime, which parses the variable
///   with its internal `atoi32` (digits and an optional `-` only) and ignores
///   the result unless it is `> 0`.
pub(crate) fn parse_gomaxprocs(value: Option<&str>) -> Result<Option<usize>, String> {
    let s = match value {
        None | Some("") => return Ok(None),
        Some(s) => s,
    };
    // `str::parse` would accept a leading '+', so check the digits ourselves.
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(s.to_owned());
    }
    match s.parse::<i32>() {
        Ok(n) if n > 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        // Zero, or too large for an i32 (Go's atoi32 fails on overflow).
        _ => Err(s.to_owned()),
    }
}

/// The warning printed for an invalid `GOMAXPROCS` value `raw` when falling
/// back to `fallback` threads (no trailing newline).
///
/// The value is shown with Rust's debug quoting, so control characters are
/// escaped and the warning always stays on one line.
pub(crate) fn gomaxprocs_warning(raw: &str, fallback: usize) -> String {
    format!(
        "goro: ignoring invalid {ENV_VAR}={raw:?}: expected a positive integer; using {fallback}"
    )
}

// ---------------------------------------------------------------------------
// Default: CPUs, affinity, cgroup quota
// ---------------------------------------------------------------------------

/// Default worker count when `GOMAXPROCS` is not set: the minimum of the
/// online CPU count, this thread's affinity mask and the cgroup CPU quota
/// (rounded up, floored at [`CGROUP_MIN_PROCS`]), always in
/// `1..=`[`MAX_PROCS`].
///
/// Never panics and never prints; sources that cannot be read are ignored.
pub(crate) fn default_procs() -> usize {
    combine_limits(online_cpus(), affinity_cpus(), cgroup_procs())
}

/// Combines the individual sources into the default worker count.
///
/// `None` means the source is unknown or imposes no limit. The CPU count is
/// the smaller of `online` and `affinity` (1 if both are unknown); a cgroup
/// limit can lower it, but not below [`CGROUP_MIN_PROCS`]. The result is
/// clamped to `1..=`[`MAX_PROCS`].
pub(crate) fn combine_limits(
    online: Option<usize>,
    affinity: Option<usize>,
    cgroup: Option<usize>,
) -> usize {
    let cpus = match (online, affinity) {
        (Some(a), Some(b)) => a.min(b),
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => 1,
    };
    let mut procs = cpus.max(1);
    if let Some(limit) = cgroup {
        procs = procs.min(limit.max(CGROUP_MIN_PROCS));
    }
    procs.clamp(1, MAX_PROCS)
}

/// Number of online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`), or `None` if the
/// system cannot tell.
#[cfg(unix)]
fn online_cpus() -> Option<usize> {
    // SAFETY: `sysconf` only reads a system parameter; it takes no pointers
    // and has no memory-safety preconditions. Errors are reported as -1.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// Number of online CPUs; on non-Unix systems the standard library's estimate
/// is the best available.
#[cfg(not(unix))]
fn online_cpus() -> Option<usize> {
    std::thread::available_parallelism().ok().map(|n| n.get())
}

/// Number of CPUs in the calling thread's affinity mask, or `None` if it
/// cannot be read (e.g. more than 1024 CPUs, where the fixed-size
/// `cpu_set_t` is too small and the kernel returns `EINVAL`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn affinity_cpus() -> Option<usize> {
    // SAFETY: `cpu_set_t` is a plain array of integer words with no validity
    // invariants, so the all-zero bit pattern is a valid (empty) CPU set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live, writable `cpu_set_t` and we pass its exact size,
    // so the kernel writes at most `size_of::<cpu_set_t>()` bytes into it.
    // pid 0 means the calling thread. On failure nothing is relied upon.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    // SAFETY: `CPU_COUNT` only counts bits in the referenced, fully
    // initialised `cpu_set_t`; it is `unsafe` in `libc` for historical reasons.
    let n = unsafe { libc::CPU_COUNT(&set) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// Affinity masks are not queried on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn affinity_cpus() -> Option<usize> {
    None
}

/// The cgroup CPU limit of this process as a whole number of CPUs (rounded
/// up, at least 1), or `None` if there is no limit or it cannot be read.
pub(crate) fn cgroup_procs() -> Option<usize> {
    let cgroup = read_small_text(Path::new(PROC_SELF_CGROUP), None)?;
    let mountinfo = read_small_text(Path::new(PROC_SELF_MOUNTINFO), None);
    let (root, relative) = locate_cgroup(&cgroup, mountinfo.as_deref())?;
    root.cpu_limit(&relative).map(CpuQuota::procs)
}

// ---------------------------------------------------------------------------
// Quota arithmetic and control-file parsing
// ---------------------------------------------------------------------------

/// A CFS bandwidth limit: `quota_us` microseconds of CPU time per `period_us`
/// microseconds of wall time, i.e. `quota_us / period_us` CPUs on average.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CpuQuota {
    /// CPU time allowed per period, in microseconds.
    pub(crate) quota_us: u64,
    /// Length of the period, in microseconds; never zero.
    pub(crate) period_us: u64,
}

impl CpuQuota {
    /// Builds a limit, or `None` if `period_us` is zero (meaningless).
    pub(crate) fn new(quota_us: u64, period_us: u64) -> Option<Self> {
        (period_us != 0).then_some(Self {
            quota_us,
            period_us,
        })
    }

    /// The limit as a whole number of CPUs; see [`quota_to_procs`].
    pub(crate) fn procs(self) -> usize {
        quota_to_procs(self.quota_us, self.period_us)
    }

    /// The stricter (smaller quota/period ratio) of two limits, compared
    /// exactly by cross-multiplication rather than in floating point.
    pub(crate) fn tighter(self, other: Self) -> Self {
        let lhs = u128::from(self.quota_us) * u128::from(other.period_us);
        let rhs = u128::from(other.quota_us) * u128::from(self.period_us);
        if rhs < lhs {
            other
        } else {
            self
        }
    }
}

/// Converts a quota/period pair to whole CPUs: `ceil(quota / period)`, at
/// least 1 (e.g. 150000/100000 is 2, 50000/100000 is 1).
///
/// A zero period cannot come out of the parsers (they reject it); it is
/// treated as "no limit" and yields `usize::MAX`.
pub(crate) fn quota_to_procs(quota_us: u64, period_us: u64) -> usize {
    if period_us == 0 {
        return usize::MAX;
    }
    let cpus = quota_us.div_ceil(period_us).max(1);
    usize::try_from(cpus).unwrap_or(usize::MAX)
}

/// Parses a cgroup v2 `cpu.max` file: `"QUOTA PERIOD\n"`, or `"max PERIOD\n"`
/// for no limit.
///
/// Returns `None` for "no limit" and for anything malformed (wrong number of
/// fields, non-numeric or negative values, zero period).
pub(crate) fn parse_cgroup_v2_cpu_max(text: &str) -> Option<CpuQuota> {
    let mut fields = text.split_ascii_whitespace();
    let quota = fields.next()?;
    let period = fields.next()?;
    if fields.next().is_some() || quota == "max" {
        return None;
    }
    CpuQuota::new(quota.parse().ok()?, period.parse().ok()?)
}

/// Parses the contents of cgroup v1 `cpu.cfs_quota_us` and
/// `cpu.cfs_period_us` (one integer each, surrounding whitespace ignored).
///
/// A negative quota (the kernel writes `-1`) means no limit. Returns `None`
/// for no limit and for anything malformed, including a period `<= 0`.
pub(crate) fn parse_cgroup_v1(quota: &str, period: &str) -> Option<CpuQuota> {
    let quota: i64 = quota.trim().parse().ok()?;
    let quota = u64::try_from(quota).ok()?; // negative: unlimited
    let period: i64 = period.trim().parse().ok()?;
    CpuQuota::new(quota, u64::try_from(period).ok()?)
}

// ---------------------------------------------------------------------------
// Finding our cgroup
// ---------------------------------------------------------------------------

/// cgroup hierarchy flavour, which decides the control-file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CgroupVersion {
    /// Legacy per-controller hierarchies (`cpu.cfs_quota_us`).
    V1,
    /// Unified hierarchy (`cpu.max`).
    V2,
}

/// Where this process sits in the hierarchy that carries the CPU controller,
/// as read from `/proc/self/cgroup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupMembership {
    /// Which hierarchy the path belongs to.
    pub(crate) version: CgroupVersion,
    /// Path of our cgroup relative to the hierarchy root, starting with `/`.
    pub(crate) path: String,
}

/// Picks the CPU cgroup from the contents of `/proc/self/cgroup`.
///
/// Each line is `hierarchy-ID:controller-list:path`. As in Go, a v1 line
/// whose comma-separated controller list contains exactly `cpu` (e.g. `cpu`
/// or `cpu,cpuacct`, but not just `cpuacct`) wins; otherwise the v2 line
/// (hierarchy ID `0`) is used. Malformed lines are skipped. Returns `None` if
/// neither exists or the path does not start with `/`.
pub(crate) fn cgroup_path_from_proc_self_cgroup(text: &str) -> Option<CgroupMembership> {
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        if id == "0" {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == "cpu") {
            return Some(CgroupMembership {
                version: CgroupVersion::V1,
                path: path.to_owned(),
            });
        }
    }
    v2.map(|path| CgroupMembership {
        version: CgroupVersion::V2,
        path: path.to_owned(),
    })
}

/// One cgroup filesystem mount from `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// The cgroup (within the hierarchy) that is visible at the mount point;
    /// `/` unless only a sub-tree was bind-mounted.
    pub(crate) root: String,
    /// Where that cgroup directory appears in our filesystem.
    pub(crate) mount_point: PathBuf,
}

/// Lists the mounts in `/proc/self/mountinfo` text that carry the CPU
/// controller for `version`: filesystem type `cgroup2` for v2, or `cgroup`
/// with `cpu` among the super options for v1. Malformed lines are skipped.
///
/// Line format (see `proc_pid_mountinfo(5)`):
/// `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS`,
/// with space, tab, newline and backslash in paths escaped as `\ooo`.
pub(crate) fn cgroup_mounts_from_mountinfo(text: &str, version: CgroupVersion) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        // The optional fields end at the first lone "-" after field 6.
        let Some(sep) = fields.iter().skip(6).position(|&f| f == "-").map(|i| i + 6) else {
            continue;
        };
        let (Some(&fstype), Some(&super_opts)) = (fields.get(sep + 1), fields.get(sep + 3)) else {
            continue;
        };
        let wanted = match version {
            CgroupVersion::V2 => fstype == "cgroup2",
            CgroupVersion::V1 => fstype == "cgroup" && super_opts.split(',').any(|o| o == "cpu"),
        };
        if !wanted {
            continue;
        }
        let (Some(root), Some(mount_point)) =
            (unescape_mountinfo(fields[3]), unescape_mountinfo(fields[4]))
        else {
            continue;
        };
        mounts.push(CgroupMount {
            root,
            mount_point: PathBuf::from(mount_point),
        });
    }
    mounts
}

/// Undoes the kernel's `\ooo` octal escaping of a `mountinfo` path field.
/// Returns `None` for a malformed escape or a result that is not UTF-8.
fn unescape_mountinfo(field: &str) -> Option<String> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digits = bytes.get(i + 1..i + 4)?;
        let mut value: u32 = 0;
        for &d in digits {
            if !(b'0'..=b'7').contains(&d) {
                return None;
            }
            value = value * 8 + u32::from(d - b'0');
        }
        out.push(u8::try_from(value).ok()?);
        i += 4;
    }
    String::from_utf8(out).ok()
}

/// The path of our cgroup relative to a mount whose root is `root`, or `None`
/// if our cgroup is not inside that mount's sub-tree.
fn relative_to_mount_root<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None // e.g. root "/a" and path "/ab"
    }
}

/// Works out the cgroup directory tree to read from the contents of
/// `/proc/self/cgroup` and (if readable) `/proc/self/mountinfo`.
///
/// Returns the mount to read from and our cgroup's path relative to it. A
/// mount whose root contains our cgroup is preferred; failing that, the first
/// suitable mount is joined with the full path (what Go does); with no
/// suitable mount at all, the conventional `/sys/fs/cgroup` location is
/// assumed.
pub(crate) fn locate_cgroup(
    proc_self_cgroup: &str,
    mountinfo: Option<&str>,
) -> Option<(CgroupRoot, String)> {
    let member = cgroup_path_from_proc_self_cgroup(proc_self_cgroup)?;
    let mounts = mountinfo
        .map(|text| cgroup_mounts_from_mountinfo(text, member.version))
        .unwrap_or_default();
    let inside = mounts.iter().find_map(|m| {
        relative_to_mount_root(&member.path, &m.root).map(|rel| (m.mount_point.clone(), rel))
    });
    let (mount_point, relative) = match (inside, mounts.first()) {
        (Some((mount_point, rel)), _) => (mount_point, rel.to_owned()),
        (None, Some(first)) => (first.mount_point.clone(), member.path),
        (None, None) => {
            let fallback = match member.version {
                CgroupVersion::V1 => FALLBACK_V1_CPU_MOUNT,
                CgroupVersion::V2 => FALLBACK_V2_MOUNT,
            };
            (PathBuf::from(fallback), member.path)
        }
    };
    Some((CgroupRoot::new(mount_point, member.version), relative))
}

// ---------------------------------------------------------------------------
// Reading limits from a cgroup directory tree
// ---------------------------------------------------------------------------

/// A mounted cgroup hierarchy (real or, in tests, a fake directory tree)
/// from which CPU limits are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupRoot {
    /// Directory at which the hierarchy is mounted, e.g. `/sys/fs/cgroup`.
    mount_point: PathBuf,
    /// Which control files to read.
    version: CgroupVersion,
}

impl CgroupRoot {
    /// A hierarchy of the given `version` mounted at `mount_point`.
    pub(crate) fn new(mount_point: impl Into<PathBuf>, version: CgroupVersion) -> Self {
        Self {
            mount_point: mount_point.into(),
            version,
        }
    }

    /// The tightest CPU limit on the path from cgroup `relative` (e.g.
    /// `"/kubepods/pod1/ctr"`) up to and including the mount point, or `None`
    /// if no level has a readable limit.
    ///
    /// Levels whose files are missing or malformed are skipped. A path with
    /// `..` or `.` components is rejected outright (`None`), so we never read
    /// outside the mount.
    pub(crate) fn cpu_limit(&self, relative: &str) -> Option<CpuQuota> {
        let mut dir = self.mount_point.clone();
        let mut levels = vec![dir.clone()];
        for component in Path::new(relative).components() {
            match component {
                Component::RootDir => {}
                Component::Normal(name) => {
                    dir.push(name);
                    levels.push(dir.clone());
                }
                Component::CurDir | Component::ParentDir | Component::Prefix(_) => return None,
            }
        }
        levels
            .iter()
            .filter_map(|level| self.limit_at(level))
            .reduce(CpuQuota::tighter)
    }

    /// The limit set directly on the cgroup directory `dir`, if any.
    fn limit_at(&self, dir: &Path) -> Option<CpuQuota> {
        let limit = MAX_LIMIT_FILE_BYTES;
        match self.version {
            CgroupVersion::V2 => {
                parse_cgroup_v2_cpu_max(&read_small_text(&dir.join("cpu.max"), Some(limit))?)
            }
            CgroupVersion::V1 => {
                let quota = read_small_text(&dir.join("cpu.cfs_quota_us"), Some(limit))?;
                let period = read_small_text(&dir.join("cpu.cfs_period_us"), Some(limit))?;
                parse_cgroup_v1(&quota, &period)
            }
        }
    }
}

/// Reads a text file, at most `max_bytes` of it if given; `None` on any
/// error (missing, unreadable, not UTF-8).
fn read_small_text(path: &Path, max_bytes: Option<u64>) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut text = String::new();
    match max_bytes {
        Some(max) => file.take(max).read_to_string(&mut text).ok()?,
        None => (&file).read_to_string(&mut text).ok()?,
    };
    Some(text)
}

#[cfg(test)]
mod tests;
