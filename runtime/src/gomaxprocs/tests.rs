//! Unit tests of GOMAXPROCS parsing and the cgroup and affinity limits.
use super::*;
use std::sync::atomic::AtomicUsize;

// --- GOMAXPROCS parsing ------------------------------------------------

/// Valid values are accepted, unset/empty mean "default".
#[test]
fn env_valid_and_unset() {
    assert_eq!(parse_gomaxprocs(None), Ok(None));
    assert_eq!(parse_gomaxprocs(Some("")), Ok(None));
    assert_eq!(parse_gomaxprocs(Some("1")), Ok(Some(1)));
    assert_eq!(parse_gomaxprocs(Some("4")), Ok(Some(4)));
    assert_eq!(parse_gomaxprocs(Some("007")), Ok(Some(7)));
    assert_eq!(parse_gomaxprocs(Some("1024")), Ok(Some(1024)));
}

/// Large valid values are clamped to `MAX_PROCS`, with a warning that
/// names the value and the one used.
#[test]
fn env_clamped() {
    assert_eq!(parse_gomaxprocs(Some("1025")), Ok(Some(1025)));
    for big in ["1025", "2147483647"] {
        let (n, warning) = resolve_procs(Some(OsStr::new(big)), || 2);
        assert_eq!(n, MAX_PROCS);
        assert_eq!(
            warning.unwrap(),
            format!("goro: GOMAXPROCS={big} is above goro's limit of 1024 workers; using 1024")
        );
    }
    assert_eq!(resolve_procs(Some(OsStr::new("1024")), || 2), (1024, None));
}

/// Everything Go's atoi32 would reject (or that is <= 0) is invalid,
/// including surrounding whitespace.
#[test]
fn env_invalid() {
    for bad in [
        "abc",
        "0",
        "00",
        "-1",
        "-0",
        "+4",
        "1.5",
        "4x",
        " 4 ",
        " 4",
        "4 ",
        "4\n",
        " ",
        "2147483648",
        "99999999999999999999999",
        "٤", // non-ASCII digit
    ] {
        assert_eq!(parse_gomaxprocs(Some(bad)), Err(bad.to_owned()), "{bad:?}");
    }
}

/// Exact warning text.
#[test]
fn env_warning_text() {
    assert_eq!(
        gomaxprocs_warning("abc", 3),
        "goro: ignoring invalid GOMAXPROCS=\"abc\": expected a positive integer; using 3"
    );
    // Control characters are escaped, so it stays one line.
    assert!(!gomaxprocs_warning("1\n2", 3).contains('\n'));
}

/// `resolve_procs`: valid value wins without computing the default.
#[test]
fn resolve_valid_skips_default() {
    let r = resolve_procs(Some(OsStr::new("8")), || panic!("default computed"));
    assert_eq!(r, (8, None));
}

/// `resolve_procs`: unset/empty use the default silently.
#[test]
fn resolve_unset_uses_default() {
    assert_eq!(resolve_procs(None, || 5), (5, None));
    assert_eq!(resolve_procs(Some(OsStr::new("")), || 5), (5, None));
}

/// `resolve_procs`: invalid values use the default and produce a warning.
#[test]
fn resolve_invalid_warns() {
    let (n, warning) = resolve_procs(Some(OsStr::new("abc")), || 6);
    assert_eq!(n, 6);
    assert_eq!(
        warning.as_deref(),
        Some("goro: ignoring invalid GOMAXPROCS=\"abc\": expected a positive integer; using 6")
    );
    let (n, warning) = resolve_procs(Some(OsStr::new("0")), || 2);
    assert_eq!(n, 2);
    assert!(warning.unwrap().contains("GOMAXPROCS=\"0\""));
}

/// `resolve_procs`: non-UTF-8 values are invalid, not a panic.
#[cfg(unix)]
#[test]
fn resolve_non_utf8_warns() {
    use std::os::unix::ffi::OsStrExt;
    let (n, warning) = resolve_procs(Some(OsStr::from_bytes(b"4\xff")), || 3);
    assert_eq!(n, 3);
    assert!(warning.unwrap().contains("using 3"));
}

// --- quota arithmetic ----------------------------------------------------

/// Rounding up, minimum 1, zero period.
#[test]
fn quota_rounding() {
    assert_eq!(quota_to_procs(100_000, 100_000), 1);
    assert_eq!(quota_to_procs(150_000, 100_000), 2);
    assert_eq!(quota_to_procs(200_000, 100_000), 2);
    assert_eq!(quota_to_procs(200_001, 100_000), 3);
    assert_eq!(quota_to_procs(50_000, 100_000), 1);
    assert_eq!(quota_to_procs(0, 100_000), 1);
    assert_eq!(quota_to_procs(1, 0), usize::MAX);
    assert_eq!(
        quota_to_procs(u64::MAX, 1),
        usize::try_from(u64::MAX).unwrap_or(usize::MAX)
    );
}

/// `tighter` compares ratios, not raw quotas.
#[test]
fn quota_tighter() {
    let a = CpuQuota::new(300_000, 100_000).unwrap(); // 3 CPUs
    let b = CpuQuota::new(250_000, 50_000).unwrap(); // 5 CPUs
    assert_eq!(a.tighter(b), a);
    assert_eq!(b.tighter(a), a);
    assert_eq!(CpuQuota::new(1, 0), None);
}

/// Combining sources, including Go's floor of 2 for cgroup limits.
#[test]
fn combine() {
    assert_eq!(combine_limits(Some(8), Some(8), None), 8);
    assert_eq!(combine_limits(Some(8), Some(4), None), 4);
    assert_eq!(combine_limits(Some(8), None, None), 8);
    assert_eq!(combine_limits(None, Some(3), None), 3);
    assert_eq!(combine_limits(None, None, None), 1);
    assert_eq!(combine_limits(Some(8), Some(8), Some(3)), 3);
    assert_eq!(combine_limits(Some(8), Some(2), Some(3)), 2);
    // A sub-2 quota is raised to 2 ...
    assert_eq!(combine_limits(Some(8), Some(8), Some(1)), CGROUP_MIN_PROCS);
    // ... but never above the CPU count.
    assert_eq!(combine_limits(Some(1), Some(1), Some(1)), 1);
    assert_eq!(combine_limits(Some(4096), None, None), MAX_PROCS);
    assert_eq!(combine_limits(Some(0), Some(0), Some(0)), 1);
}

// --- control-file parsing -----------------------------------------------

/// cgroup v2 `cpu.max`.
#[test]
fn v2_cpu_max() {
    assert_eq!(parse_cgroup_v2_cpu_max("max 100000\n"), None);
    assert_eq!(parse_cgroup_v2_cpu_max("max 100000"), None);
    let q = parse_cgroup_v2_cpu_max("150000 100000\n").unwrap();
    assert_eq!(q, CpuQuota::new(150_000, 100_000).unwrap());
    assert_eq!(q.procs(), 2);
    assert_eq!(
        parse_cgroup_v2_cpu_max("50000 100000\n").unwrap().procs(),
        1
    );
    assert_eq!(parse_cgroup_v2_cpu_max("400000 100000").unwrap().procs(), 4);
    for garbage in [
        "",
        "\n",
        "max",
        "150000",
        "abc 100000",
        "150000 abc",
        "150000 0",
        "-1 100000",
        "1.5 100000",
        "150000 100000 7",
    ] {
        assert_eq!(parse_cgroup_v2_cpu_max(garbage), None, "{garbage:?}");
    }
}

/// cgroup v1 quota/period pair.
#[test]
fn v1_quota_period() {
    assert_eq!(parse_cgroup_v1("-1\n", "100000\n"), None);
    assert_eq!(parse_cgroup_v1("-5", "100000"), None);
    let q = parse_cgroup_v1("150000\n", "100000\n").unwrap();
    assert_eq!(q.procs(), 2);
    assert_eq!(parse_cgroup_v1("50000", "100000").unwrap().procs(), 1);
    assert_eq!(parse_cgroup_v1("abc", "100000"), None);
    assert_eq!(parse_cgroup_v1("150000", "abc"), None);
    assert_eq!(parse_cgroup_v1("150000", "0"), None);
    assert_eq!(parse_cgroup_v1("150000", "-100000"), None);
    assert_eq!(parse_cgroup_v1("", ""), None);
}

// --- /proc/self/cgroup ---------------------------------------------------

/// Pure cgroup v2 system.
#[test]
fn proc_cgroup_v2() {
    let m = cgroup_path_from_proc_self_cgroup("0::/user.slice/session-1.scope\n").unwrap();
    assert_eq!(m.version, CgroupVersion::V2);
    assert_eq!(m.path, "/user.slice/session-1.scope");
    let m = cgroup_path_from_proc_self_cgroup("0::/\n").unwrap();
    assert_eq!(m.path, "/");
    // Colons inside the path are kept.
    let m = cgroup_path_from_proc_self_cgroup("0::/a:b/c\n").unwrap();
    assert_eq!(m.path, "/a:b/c");
}

/// cgroup v1 (and hybrid): the v1 `cpu` hierarchy wins over v2.
#[test]
fn proc_cgroup_v1_and_hybrid() {
    let hybrid = "\
12:cpuset:/
11:cpu,cpuacct:/docker/abc123
10:memory:/docker/abc123
1:name=systemd:/docker/abc123
0::/system.slice/docker.service
";
    let m = cgroup_path_from_proc_self_cgroup(hybrid).unwrap();
    assert_eq!(m.version, CgroupVersion::V1);
    assert_eq!(m.path, "/docker/abc123");

    let separate = "2:cpuacct:/x\n1:cpu:/y\n";
    let m = cgroup_path_from_proc_self_cgroup(separate).unwrap();
    assert_eq!(
        m,
        CgroupMembership {
            version: CgroupVersion::V1,
            path: "/y".into()
        }
    );

    // v1 without a cpu controller: fall back to the v2 line.
    let no_cpu = "4:memory:/m\n3:cpuacct:/c\n0::/v2\n";
    let m = cgroup_path_from_proc_self_cgroup(no_cpu).unwrap();
    assert_eq!(m.version, CgroupVersion::V2);
    assert_eq!(m.path, "/v2");
}

/// No usable line at all.
#[test]
fn proc_cgroup_garbage() {
    assert_eq!(cgroup_path_from_proc_self_cgroup(""), None);
    assert_eq!(cgroup_path_from_proc_self_cgroup("garbage\n"), None);
    assert_eq!(cgroup_path_from_proc_self_cgroup("4:memory:/m\n"), None);
    assert_eq!(cgroup_path_from_proc_self_cgroup("0::relative\n"), None);
}

// --- /proc/self/mountinfo ------------------------------------------------

/// Hybrid layout, co-mounted controllers, escaping and bind-mount roots.
#[test]
fn mountinfo_parsing() {
    let text = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:4 master:2 - cgroup2 cgroup2 rw
50 22 0:38 /docker/abc /my\\040cgroup rw - cgroup2 none rw
bogus line
";
    let v1 = cgroup_mounts_from_mountinfo(text, CgroupVersion::V1);
    assert_eq!(
        v1,
        vec![CgroupMount {
            root: "/".into(),
            mount_point: "/sys/fs/cgroup/cpu,cpuacct".into()
        }]
    );
    let v2 = cgroup_mounts_from_mountinfo(text, CgroupVersion::V2);
    assert_eq!(v2.len(), 2);
    assert_eq!(v2[0].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
    assert_eq!(v2[1].root, "/docker/abc");
    assert_eq!(v2[1].mount_point, PathBuf::from("/my cgroup"));
}

/// Octal unescaping.
#[test]
fn mountinfo_unescape() {
    assert_eq!(
        unescape_mountinfo("/a\\040b\\011c\\134d").as_deref(),
        Some("/a b\tc\\d")
    );
    assert_eq!(unescape_mountinfo("/plain").as_deref(), Some("/plain"));
    assert_eq!(unescape_mountinfo("/bad\\04"), None);
    assert_eq!(unescape_mountinfo("/bad\\089"), None);
}

/// Stripping a bind-mount root from our cgroup path.
#[test]
fn mount_root_stripping() {
    assert_eq!(relative_to_mount_root("/a/b", "/"), Some("/a/b"));
    assert_eq!(relative_to_mount_root("/a/b", "/a"), Some("/b"));
    assert_eq!(relative_to_mount_root("/a", "/a"), Some("/"));
    assert_eq!(relative_to_mount_root("/a", "/a/"), Some("/"));
    assert_eq!(relative_to_mount_root("/ab", "/a"), None);
    assert_eq!(relative_to_mount_root("/x", "/a"), None);
}

/// Choosing the mount and relative path.
#[test]
fn locate() {
    let mountinfo = "\
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 31 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct
";
    // v1 bind-mounted sub-tree: relative path is the remainder.
    let (root, rel) = locate_cgroup("3:cpu,cpuacct:/docker/abc/x\n", Some(mountinfo)).unwrap();
    assert_eq!(
        root,
        CgroupRoot::new("/sys/fs/cgroup/cpu", CgroupVersion::V1)
    );
    assert_eq!(rel, "/x");
    // v2.
    let (root, rel) = locate_cgroup("0::/app.slice\n", Some(mountinfo)).unwrap();
    assert_eq!(
        root,
        CgroupRoot::new("/sys/fs/cgroup/unified", CgroupVersion::V2)
    );
    assert_eq!(rel, "/app.slice");
    // Not inside the only mount's root: full path (Go's behaviour).
    let (root, rel) = locate_cgroup("3:cpu:/elsewhere\n", Some(mountinfo)).unwrap();
    assert_eq!(
        root,
        CgroupRoot::new("/sys/fs/cgroup/cpu", CgroupVersion::V1)
    );
    assert_eq!(rel, "/elsewhere");
    // No mountinfo: conventional locations.
    let (root, _) = locate_cgroup("0::/a\n", None).unwrap();
    assert_eq!(root, CgroupRoot::new(FALLBACK_V2_MOUNT, CgroupVersion::V2));
    let (root, _) = locate_cgroup("1:cpu:/a\n", Some("")).unwrap();
    assert_eq!(
        root,
        CgroupRoot::new(FALLBACK_V1_CPU_MOUNT, CgroupVersion::V1)
    );
    // Not in any cgroup.
    assert_eq!(locate_cgroup("", Some(mountinfo)), None);
}

// --- fake cgroup trees ---------------------------------------------------

/// A uniquely named scratch directory, removed on drop.
struct TempTree(PathBuf);

impl TempTree {
    /// Creates an empty directory under the system temp dir.
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("goro-procs-{}-{}-{}", std::process::id(), n, name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `contents` to `rel` (creating parent directories).
    fn write(&self, rel: &str, contents: &str) {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

impl Drop for TempTree {
    /// Best-effort cleanup.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// v2: the smallest limit anywhere on the path wins; "max", garbage and
/// missing files are "no limit" at that level.
#[test]
fn v2_tree_minimum_over_hierarchy() {
    let t = TempTree::new("v2min");
    t.write("kubepods/cpu.max", "max 100000\n");
    t.write("kubepods/pod/cpu.max", "200000 100000\n"); // 2 CPUs
    t.write("kubepods/pod/ctr/cpu.max", "350000 100000\n"); // 3.5 CPUs
    t.write("kubepods/pod/ctr/leaf/cpu.max", "garbage\n");
    let root = CgroupRoot::new(&t.0, CgroupVersion::V2);
    let q = root.cpu_limit("/kubepods/pod/ctr/leaf").unwrap();
    assert_eq!(q, CpuQuota::new(200_000, 100_000).unwrap());
    assert_eq!(q.procs(), 2);
    // Leaf is tightest.
    t.write("kubepods/pod/ctr/leaf/cpu.max", "50000 100000\n");
    assert_eq!(root.cpu_limit("/kubepods/pod/ctr/leaf").unwrap().procs(), 1);
    // A limit on the mount point itself counts too.
    t.write("cpu.max", "10000 100000\n");
    assert_eq!(
        root.cpu_limit("/kubepods").unwrap(),
        CpuQuota::new(10_000, 100_000).unwrap()
    );
}

/// v2: no limit anywhere, missing directories, and `..` escapes.
#[test]
fn v2_tree_no_limit() {
    let t = TempTree::new("v2none");
    t.write("a/cpu.max", "max 100000\n");
    let root = CgroupRoot::new(&t.0, CgroupVersion::V2);
    assert_eq!(root.cpu_limit("/a"), None);
    assert_eq!(root.cpu_limit("/a/does/not/exist"), None);
    assert_eq!(root.cpu_limit("/"), None);
    t.write("cpu.max", "100000 100000\n");
    assert_eq!(root.cpu_limit("/../a"), None);
    let missing = CgroupRoot::new(t.0.join("nope"), CgroupVersion::V2);
    assert_eq!(missing.cpu_limit("/a"), None);
}

/// v1: -1 means unlimited; a level with an unreadable period is skipped.
#[test]
fn v1_tree_minimum_over_hierarchy() {
    let t = TempTree::new("v1min");
    t.write("cpu.cfs_quota_us", "-1\n");
    t.write("cpu.cfs_period_us", "100000\n");
    t.write("docker/cpu.cfs_quota_us", "150000\n");
    t.write("docker/cpu.cfs_period_us", "100000\n");
    t.write("docker/abc/cpu.cfs_quota_us", "-1\n");
    t.write("docker/abc/cpu.cfs_period_us", "100000\n");
    t.write("docker/abc/x/cpu.cfs_quota_us", "10000\n"); // no period file
    let root = CgroupRoot::new(&t.0, CgroupVersion::V1);
    let q = root.cpu_limit("/docker/abc/x").unwrap();
    assert_eq!(q, CpuQuota::new(150_000, 100_000).unwrap());
    assert_eq!(q.procs(), 2);
    assert_eq!(root.cpu_limit("/"), None);
}

/// End to end through `locate_cgroup` with a fake mountinfo pointing at a
/// temp tree (with a space in the name to exercise unescaping).
#[test]
fn locate_and_read_fake_tree() {
    let t = TempTree::new("with space");
    t.write("ctr/cpu.max", "250000 100000\n");
    let escaped =
        t.0.to_str()
            .unwrap()
            .replace('\\', "\\134")
            .replace(' ', "\\040");
    let mountinfo = format!("99 1 0:40 /host/slice {escaped} rw - cgroup2 cgroup2 rw\n");
    let (root, rel) = locate_cgroup("0::/host/slice/ctr\n", Some(&mountinfo)).unwrap();
    assert_eq!(rel, "/ctr");
    assert_eq!(root.cpu_limit(&rel).unwrap().procs(), 3);
}

// --- this machine --------------------------------------------------------

/// The real default is sane on the machine running the tests.
#[test]
fn default_procs_on_this_machine() {
    let online = online_cpus().expect("online CPU count");
    let procs = default_procs();
    assert!(procs >= 1, "default_procs() = {procs}");
    assert!(
        procs <= online,
        "default_procs() = {procs} > online {online}"
    );
    if let Some(affinity) = affinity_cpus() {
        assert!(procs <= affinity);
    }
    // Reading the real cgroup files must not panic, whatever they say.
    let _ = cgroup_procs();
}
