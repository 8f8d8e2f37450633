//! `libjail::cgroup` on fake cgroupfs trees in a temp dir (v2 and the v1
//! layout of DESIGN §11): every file it writes, the rollback of a failed
//! create, stats, and the serialised paths. No root needed.

use std::fs;
use std::path::{Path, PathBuf};

use libjail::cgroup::{Cgroup, CgroupError, CgroupPaths, Hierarchy, Mode};
use libjail::policy::{CpuLimits, CpusetLimits, IoLimits, MemoryLimits, PidsLimit, ResourcesPolicy};

/// Creates `files` (name, content) in `dir`.
fn populate(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every entry below `dir` whose name starts with `jaild-`.
fn jail_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name().to_string_lossy().starts_with("jaild-") {
                    found.push(entry.path());
                }
                stack.push(entry.path());
            }
        }
    }
    found
}

fn all_limits() -> ResourcesPolicy {
    ResourcesPolicy {
        memory: Some(MemoryLimits {
            max: Some(64 << 20),
            swap: Some(16 << 20),
            high: Some(48 << 20),
        }),
        pids: Some(PidsLimit { max: 64 }),
        cpu: Some(CpuLimits {
            max: Some(1.5),
            weight: Some(200),
        }),
        io: Some(IoLimits { weight: Some(500) }),
        cpuset: Some(CpusetLimits {
            cpus: "0-1".to_string(),
        }),
    }
}

// ---- v2 ---------------------------------------------------------------------

/// A unified host: jaild runs in /jobs/jaild, which offers every controller.
fn fake_v2(root: &Path) -> Hierarchy {
    let own = root.join("sys/fs/cgroup/jobs/jaild");
    populate(
        &own,
        &[
            ("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n"),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
            ("cgroup.kill", ""),
            ("memory.max", ""),
            ("memory.swap.max", ""),
            ("memory.high", ""),
            ("memory.current", ""),
            ("memory.peak", ""),
            ("pids.max", ""),
            ("pids.current", ""),
            ("cpu.max", ""),
            ("cpu.weight", ""),
            ("cpu.stat", ""),
            ("io.weight", ""),
            ("io.stat", ""),
            ("cpuset.cpus", ""),
        ],
    );
    let mountinfo = "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 \
                     rw,nsdelegate,memory_recursiveprot\n";
    let h = Hierarchy::parse("0::/jobs/jaild\n", mountinfo, root).unwrap();
    assert_eq!(h.mode(), Mode::V2);
    assert!(h.fake);
    h
}

#[test]
fn v2_writes_every_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_v2(tmp.path());
    let own = tmp.path().join("sys/fs/cgroup/jobs/jaild");
    let cg = Cgroup::create_in(&h, "web", &all_limits()).unwrap();
    let paths = cg.paths().clone();
    assert!(
        paths.name.starts_with("jaild-web-") && paths.name.len() == "jaild-web-".len() + 8,
        "{}",
        paths.name
    );
    let dir = paths.unified.clone().unwrap();
    assert_eq!(dir, own.join(&paths.name));
    assert!(paths.v1.is_empty());
    assert_eq!(paths.unified_controllers, ["memory", "pids", "cpu", "io", "cpuset"]);
    // Controllers enabled for our children, then the limits.
    assert_eq!(
        read(&own.join("cgroup.subtree_control")),
        "+memory +pids +cpu +io +cpuset"
    );
    for (file, value) in [
        ("memory.max", "67108864"),
        ("memory.swap.max", "16777216"),
        ("memory.high", "50331648"),
        ("pids.max", "64"),
        ("cpu.max", "150000 100000"),
        ("cpu.weight", "200"),
        ("io.weight", "default 500"),
        ("cpuset.cpus", "0-1"),
    ] {
        assert_eq!(read(&dir.join(file)), value, "{file}");
    }
    assert!(cg.warnings().is_empty(), "{:?}", cg.warnings());

    // add, procs, stats, kill.
    cg.add(4242).unwrap();
    assert_eq!(read(&dir.join("cgroup.procs")), "4242");
    assert_eq!(cg.procs().unwrap(), [4242]);
    fs::write(
        dir.join("cpu.stat"),
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
    )
    .unwrap();
    fs::write(dir.join("memory.current"), "1048576\n").unwrap();
    fs::write(dir.join("memory.peak"), "2097152\n").unwrap();
    fs::write(dir.join("pids.current"), "3\n").unwrap();
    fs::write(
        dir.join("io.stat"),
        "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n",
    )
    .unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu_usec, Some(1500));
    assert_eq!(s.memory_current, Some(1 << 20));
    assert_eq!(s.memory_peak, Some(2 << 20));
    assert_eq!(s.pids_current, Some(3));
    assert_eq!((s.io_read_bytes, s.io_write_bytes), (Some(4096), Some(512)));
    // The fake kernel "kills" when the procs file is emptied.
    fs::write(dir.join("cgroup.procs"), "").unwrap();
    cg.kill_all().unwrap();
    assert_eq!(read(&dir.join("cgroup.kill")), "1");

    // The paths survive a restart of the daemon.
    let json = serde_json::to_string(&paths).unwrap();
    let back: CgroupPaths = serde_json::from_str(&json).unwrap();
    assert_eq!(back, paths);
    assert_eq!(Cgroup::open(back).stats().unwrap(), s);

    cg.remove().unwrap();
    assert!(!dir.exists());
    assert!(jail_dirs(tmp.path()).is_empty());
}

#[test]
fn v2_only_enables_what_is_missing_and_nothing_without_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_v2(tmp.path());
    let own = tmp.path().join("sys/fs/cgroup/jobs/jaild");
    fs::write(own.join("cgroup.subtree_control"), "memory pids\n").unwrap();
    let cg = Cgroup::create_in(&h, "a", &ResourcesPolicy::default()).unwrap();
    assert_eq!(read(&own.join("cgroup.subtree_control")), "+cpu +io +cpuset");
    let dir = cg.paths().unified.clone().unwrap();
    for file in ["memory.max", "pids.max", "cpu.max", "cpuset.cpus"] {
        assert_eq!(read(&dir.join(file)), "", "{file} written without a limit");
    }
    cg.remove().unwrap();
}

#[test]
fn v2_missing_knobs_warn_and_missing_controllers_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_v2(tmp.path());
    let own = tmp.path().join("sys/fs/cgroup/jobs/jaild");
    fs::remove_file(own.join("memory.swap.max")).unwrap();
    fs::remove_file(own.join("io.weight")).unwrap();
    let cg = Cgroup::create_in(&h, "a", &all_limits()).unwrap();
    let warnings = cg.warnings().join("\n");
    assert!(warnings.contains("resources.memory.swap not applied"), "{warnings}");
    assert!(warnings.contains("resources.io.weight not applied"), "{warnings}");
    cg.remove().unwrap();

    // No memory controller offered: a memory limit cannot be had.
    fs::write(own.join("cgroup.controllers"), "cpu pids\n").unwrap();
    let h = Hierarchy::parse(
        "0::/jobs/jaild\n",
        "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        tmp.path(),
    )
    .unwrap();
    let err = Cgroup::create_in(&h, "a", &all_limits()).unwrap_err();
    assert!(matches!(err, CgroupError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("resources.memory asked for"), "{err}");
    assert!(jail_dirs(tmp.path()).is_empty());
}

#[test]
fn v2_failure_half_way_removes_what_was_made() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_v2(tmp.path());
    let own = tmp.path().join("sys/fs/cgroup/jobs/jaild");
    // cpu.max missing: the write fails after the directory and the memory
    // limits were made.
    fs::remove_file(own.join("cpu.max")).unwrap();
    let err = Cgroup::create_in(&h, "a", &all_limits()).unwrap_err();
    assert!(err.to_string().contains("cpu.max"), "{err}");
    assert!(
        jail_dirs(tmp.path()).is_empty(),
        "left behind: {:?}",
        jail_dirs(tmp.path())
    );
}

// ---- v1 (hybrid, as on this machine) ---------------------------------------

/// The layout of DESIGN §11: v1 controllers each in its own hierarchy, memory
/// at /process_api/ID and the others at /, an empty cgroup2 at unified.
fn fake_hybrid(root: &Path, memsw: bool) -> Hierarchy {
    let cg = root.join("sys/fs/cgroup");
    let procs = [("cgroup.procs", ""), ("tasks", "")];
    let mut memory = vec![
        ("memory.limit_in_bytes", "9223372036854771712"),
        ("memory.soft_limit_in_bytes", "9223372036854771712"),
        ("memory.usage_in_bytes", ""),
        ("memory.max_usage_in_bytes", ""),
    ];
    if memsw {
        memory.push(("memory.memsw.limit_in_bytes", "9223372036854771712"));
    }
    memory.extend(procs);
    populate(&cg.join("memory/process_api/abc"), &memory);
    populate(
        &cg.join("pids"),
        &[("pids.max", "max"), ("pids.current", "1"), procs[0]],
    );
    populate(
        &cg.join("cpu"),
        &[
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.shares", "1024"),
            procs[0],
        ],
    );
    populate(&cg.join("cpuacct"), &[("cpuacct.usage", "0"), procs[0]]);
    populate(
        &cg.join("cpuset"),
        &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n"), procs[0]],
    );
    populate(&cg.join("blkio"), &[("blkio.throttle.io_service_bytes", ""), procs[0]]);
    populate(&cg.join("freezer"), &[("freezer.state", "THAWED"), procs[0]]);
    populate(&cg.join("devices"), &[("devices.allow", ""), procs[0]]);
    populate(
        &cg.join("unified"),
        &[("cgroup.controllers", ""), ("cgroup.kill", ""), procs[0]],
    );
    let cgroup = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/process_api/abc\n\
                  3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    let mut mountinfo = String::from("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n");
    for (i, c) in [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
    ]
    .iter()
    .enumerate()
    {
        mountinfo.push_str(&format!(
            "{} 31 0:{} / /sys/fs/cgroup/{c} rw,relatime - cgroup cgroup rw,{c}\n",
            32 + i,
            29 + i
        ));
    }
    mountinfo.push_str("40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n");
    mountinfo.push_str("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    let h = Hierarchy::parse(cgroup, &mountinfo, root).unwrap();
    assert_eq!(h.mode(), Mode::Hybrid);
    h
}

#[test]
fn v1_writes_every_limit_below_our_own_cgroups() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_hybrid(tmp.path(), true);
    let cgroot = tmp.path().join("sys/fs/cgroup");
    let cg = Cgroup::create_in(&h, "db", &all_limits()).unwrap();
    let p = cg.paths().clone();
    let dir = |c: &str| p.v1[c].clone();
    // Each below the path /proc/self/cgroup gives for its hierarchy.
    assert_eq!(dir("memory"), cgroot.join("memory/process_api/abc").join(&p.name));
    assert_eq!(dir("pids"), cgroot.join("pids").join(&p.name));
    assert_eq!(p.unified, Some(cgroot.join("unified").join(&p.name)));
    assert!(p.unified_controllers.is_empty());
    let mut used: Vec<&str> = p.v1.keys().map(String::as_str).collect();
    used.sort_unstable();
    assert_eq!(used, ["blkio", "cpu", "cpuacct", "cpuset", "freezer", "memory", "pids"]);
    // Never in devices or the named systemd hierarchy.
    assert!(jail_dirs(&cgroot.join("devices")).is_empty());
    assert!(!cgroot.join("systemd").exists());
    for (c, file, value) in [
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.soft_limit_in_bytes", "50331648"),
        ("memory", "memory.memsw.limit_in_bytes", "83886080"),
        ("pids", "pids.max", "64"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "150000"),
        ("cpu", "cpu.shares", "2048"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
    ] {
        assert_eq!(read(&dir(c).join(file)), value, "{c}/{file}");
    }
    // No blkio weight file on this host: a warning, not an error.
    let warnings = cg.warnings().join("\n");
    assert!(warnings.contains("resources.io.weight not applied"), "{warnings}");

    cg.add(77).unwrap();
    for d in p.dirs() {
        assert_eq!(read(&d.join("cgroup.procs")), "77", "{}", d.display());
    }
    fs::write(dir("cpuacct").join("cpuacct.usage"), "2500000\n").unwrap();
    fs::write(dir("memory").join("memory.usage_in_bytes"), "4096\n").unwrap();
    fs::write(dir("memory").join("memory.max_usage_in_bytes"), "8192\n").unwrap();
    fs::write(dir("pids").join("pids.current"), "2\n").unwrap();
    fs::write(
        dir("blkio").join("blkio.throttle.io_service_bytes"),
        "8:0 Read 100\n8:0 Write 20\n8:0 Sync 120\n8:0 Async 0\n8:0 Total 120\nTotal 120\n",
    )
    .unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu_usec, Some(2500));
    assert_eq!((s.memory_current, s.memory_peak), (Some(4096), Some(8192)));
    assert_eq!(s.pids_current, Some(2));
    assert_eq!((s.io_read_bytes, s.io_write_bytes), (Some(100), Some(20)));

    cg.remove().unwrap();
    assert!(jail_dirs(tmp.path()).is_empty());
}

#[test]
fn v1_without_swap_accounting_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_hybrid(tmp.path(), false);
    let cg = Cgroup::create_in(&h, "db", &all_limits()).unwrap();
    let warnings = cg.warnings().join("\n");
    assert!(warnings.contains("swapaccount=1"), "{warnings}");
    cg.remove().unwrap();
}

#[test]
fn v1_kill_freezes_when_there_is_no_cgroup_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_hybrid(tmp.path(), true);
    let cg = Cgroup::create_in(&h, "db", &ResourcesPolicy::default()).unwrap();
    let mut paths = cg.paths().clone();
    let unified = paths.unified.take().unwrap();
    let freezer = paths.v1["freezer"].join("freezer.state");
    // The fake freezer is FROZEN at once; the cgroup is empty.
    let v1_only = Cgroup::open(paths);
    v1_only.kill_all().unwrap();
    assert_eq!(read(&freezer), "THAWED");
    drop(v1_only);
    fs::remove_dir_all(unified).unwrap();
    for d in cg.paths().v1.values() {
        let _ = fs::remove_dir_all(d);
    }
    assert!(jail_dirs(tmp.path()).is_empty());
}

#[test]
fn v1_failure_half_way_removes_what_was_made() {
    let tmp = tempfile::tempdir().unwrap();
    let h = fake_hybrid(tmp.path(), true);
    // The pids hierarchy comes last in mountinfo: every other directory is
    // made before its pids.max write fails.
    fs::remove_file(tmp.path().join("sys/fs/cgroup/pids/pids.max")).unwrap();
    let err = Cgroup::create_in(&h, "db", &all_limits()).unwrap_err();
    assert!(err.to_string().contains("pids.max"), "{err}");
    assert!(
        jail_dirs(tmp.path()).is_empty(),
        "left behind: {:?}",
        jail_dirs(tmp.path())
    );

    // A bad name makes nothing.
    let err = Cgroup::create_in(&h, "../x", &all_limits()).unwrap_err();
    assert!(matches!(err, CgroupError::BadName(_)), "{err}");
    assert!(jail_dirs(tmp.path()).is_empty());
}

#[test]
fn v1_without_a_controller_refuses_its_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    populate(
        &root.join("sys/fs/cgroup/pids"),
        &[("pids.max", ""), ("cgroup.procs", "")],
    );
    let h = Hierarchy::parse(
        "1:pids:/\n",
        "30 20 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
        root,
    )
    .unwrap();
    assert_eq!(h.mode(), Mode::V1);
    let limits = ResourcesPolicy {
        cpu: Some(CpuLimits {
            max: Some(0.5),
            weight: None,
        }),
        ..ResourcesPolicy::default()
    };
    let err = Cgroup::create_in(&h, "a", &limits).unwrap_err();
    assert!(err.to_string().contains("resources.cpu asked for"), "{err}");
    assert!(jail_dirs(root).is_empty());
}
