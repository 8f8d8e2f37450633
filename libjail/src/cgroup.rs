//! Cgroups of jails (DESIGN §4 steps 1 and 3, §7, §11): our own module of
//! plain file writes.
//!
//! Each jail gets a cgroup `jaild-NAME-XXXXXXXX` *below the cgroup the
//! calling process runs in* — in every hierarchy we use, each below the path
//! `/proc/self/cgroup` lists for it — never below another process's cgroup.
//!
//! - **cgroup v2** is first-class: on a unified host the jail's cgroup is
//!   one directory of the unified tree, its limits written to `memory.max`,
//!   `pids.max`, `cpu.max`, … and `cgroup.kill` ends it.
//! - **v1** is the fallback for controllers the host mounts as v1
//!   hierarchies: `memory`, `pids`, `cpu`, `cpuacct`, `blkio`, `cpuset` and
//!   `freezer` — only these; `devices`, `net_cls`, named hierarchies and
//!   the others are never touched (the reason cgroups-rs is not used).
//!   On a hybrid host (v1 controllers and an empty cgroup2 at
//!   `/sys/fs/cgroup/unified`) the jail also gets a directory in the unified
//!   tree: it groups the processes and offers `cgroup.kill`.
//!
//! Every path is derived from a [`Hierarchy`], detected from
//! `/proc/self/cgroup` and `/proc/self/mountinfo`, or parsed from given
//! texts under an injectable root so tests run on a fake cgroupfs in a temp
//! dir ([`Hierarchy::fake`] makes `mkdir` populate directories the way the
//! kernel does).
//!
//! A [`Cgroup`] is identified by its [`CgroupPaths`], which serialise, so a
//! restarted daemon can [`Cgroup::open`] a jail's cgroup again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::policy::{CPU_PERIOD_USEC, CpuLimits, ResourcesPolicy, show_bytes};

/// The v1 controllers jaild uses; any other v1 hierarchy is left alone.
pub const V1_CONTROLLERS: &[&str] = &["memory", "pids", "cpu", "cpuacct", "blkio", "cpuset", "freezer"];

/// The v2 controllers jaild enables for its jails, where the host has them.
pub const V2_CONTROLLERS: &[&str] = &["memory", "pids", "cpu", "io", "cpuset"];

/// On a v2 host whose own cgroup holds processes, controllers cannot be
/// enabled for children ("no internal processes"): the caller moves itself
/// into this leaf below its cgroup, and jails go beside it.
pub const SELF_LEAF: &str = "jaild-self";

/// The prefix of every jail cgroup's name.
pub const PREFIX: &str = "jaild-";

/// How long [`Cgroup::kill_all`] waits for the cgroup to empty.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Cgroup::remove`] retries a busy `rmdir`.
const RMDIR_TIMEOUT: Duration = Duration::from_secs(3);

/// What went wrong, with the path it happened at.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file or directory operation failed.
    #[error("cgroup: cannot {what} {}: {source}", path.display())]
    Io {
        /// What we tried: `create`, `write 64M to`, `read`, …
        what: String,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `/proc/self/cgroup` or `/proc/self/mountinfo` is not as expected.
    #[error("cgroup: cannot make sense of {what}: {why}")]
    Detect {
        /// Which file.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The policy asks for a limit no mounted controller can enforce.
    #[error("cgroup: {what} asked for, but {why}")]
    Unsupported {
        /// The limit, e.g. `resources.memory`.
        what: String,
        /// Why it cannot be had here.
        why: String,
    },
    /// A jail name unfit for a directory name.
    #[error("cgroup: bad jail name `{0}` (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)")]
    BadName(String),
    /// The cgroup did not empty after SIGKILL.
    #[error("cgroup {name}: processes {pids:?} still there {secs} s after SIGKILL")]
    KillTimeout {
        /// The cgroup's name.
        name: String,
        /// Who is left.
        pids: Vec<i32>,
        /// How long we waited.
        secs: u64,
    },
    /// v2: our own cgroup holds other processes, so no controller can be
    /// enabled below it.
    #[error(
        "cgroup: {} holds other processes ({others:?}), so cgroup v2 controllers cannot be enabled below it; \
         run jaild in a cgroup of its own (a systemd service with Delegate=yes)",
        own.display()
    )]
    NotDelegated {
        /// Our cgroup.
        own: PathBuf,
        /// The other processes in it.
        others: Vec<i32>,
    },
}

type Result<T> = std::result::Result<T, CgroupError>;

fn io_err(what: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let what = what.into();
    let path = path.to_path_buf();
    move |source| CgroupError::Io { what, path, source }
}

// ---------------------------------------------------------------------------
// detection

/// The unified (v2) tree, as far as we use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnifiedMount {
    /// Where the cgroup2 file system is mounted.
    pub mount: PathBuf,
    /// Our own cgroup's directory in it.
    pub own: PathBuf,
    /// The controllers our cgroup offers (its `cgroup.controllers`).
    pub controllers: Vec<String>,
}

/// One v1 hierarchy we use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Mount {
    /// The controllers of the hierarchy that we use (`cpu` and `cpuacct`
    /// may share one).
    pub controllers: Vec<String>,
    /// Our own cgroup's directory in it.
    pub own: PathBuf,
}

/// Which cgroup version does the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only the unified tree.
    V2,
    /// v1 controllers, plus the unified tree for grouping and `cgroup.kill`.
    Hybrid,
    /// v1 controllers only.
    V1,
}

/// The cgroup hierarchies of the calling process: where its own cgroup is
/// in each one we use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// The unified tree, when mounted.
    pub unified: Option<UnifiedMount>,
    /// The v1 hierarchies of [`V1_CONTROLLERS`], when mounted.
    pub v1: Vec<V1Mount>,
    /// A fake cgroupfs (tests): `mkdir` also creates, empty, every file the
    /// parent directory has, as the kernel populates a new cgroup.
    pub fake: bool,
}

impl Hierarchy {
    /// The hierarchies of the calling process, from `/proc/self/cgroup` and
    /// `/proc/self/mountinfo`.
    pub fn detect() -> Result<Hierarchy> {
        let read = |path: &str| fs::read_to_string(path).map_err(io_err("read", Path::new(path)));
        Hierarchy::parse(
            &read("/proc/self/cgroup")?,
            &read("/proc/self/mountinfo")?,
            Path::new("/"),
        )
    }

    /// Reads the texts of `/proc/self/cgroup` and `/proc/self/mountinfo`;
    /// every mount point is taken below `root` (`/` on a real system, a
    /// temp dir for a fake tree). For the unified tree, our cgroup's
    /// `cgroup.controllers` is read from there.
    pub fn parse(self_cgroup: &str, mountinfo: &str, root: &Path) -> Result<Hierarchy> {
        // hierarchy id 0 → path; v1 controller → path.
        let mut unified_path: Option<String> = None;
        let mut v1_paths: BTreeMap<String, String> = BTreeMap::new();
        for line in self_cgroup.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(CgroupError::Detect {
                    what: "/proc/self/cgroup",
                    why: format!("line `{line}` is not ID:CONTROLLERS:PATH"),
                });
            };
            if id == "0" && ctrls.is_empty() {
                unified_path = Some(path.to_string());
            } else {
                for c in ctrls.split(',') {
                    v1_paths.insert(c.to_string(), path.to_string());
                }
            }
        }

        let mut unified = None;
        let mut v1: Vec<V1Mount> = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            if left.len() < 5 || right.len() < 3 {
                continue;
            }
            let (mount_root, mount_point, fstype, options) = (left[3], unescape(left[4]), right[0], right[2]);
            let below_root = |point: &str| root.join(point.trim_start_matches('/'));
            match fstype {
                "cgroup2" if unified.is_none() => {
                    let Some(own) = unified_path.as_deref().and_then(|p| relative(p, mount_root)) else {
                        continue;
                    };
                    let mount = below_root(&mount_point);
                    let mut own_dir = mount.join(&own);
                    // A daemon that moved itself into its leaf places jails beside it.
                    if own_dir.file_name().is_some_and(|n| n == SELF_LEAF) {
                        own_dir.pop();
                    }
                    let controllers = fs::read_to_string(own_dir.join("cgroup.controllers"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    unified = Some(UnifiedMount {
                        mount,
                        own: own_dir,
                        controllers,
                    });
                }
                "cgroup" => {
                    let ours: Vec<String> = options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o))
                        .map(str::to_string)
                        .collect();
                    if ours.is_empty() || v1.iter().any(|m| m.controllers.iter().any(|c| ours.contains(c))) {
                        continue;
                    }
                    let Some(own) = v1_paths.get(&ours[0]).and_then(|p| relative(p, mount_root)) else {
                        continue;
                    };
                    v1.push(V1Mount {
                        controllers: ours,
                        own: below_root(&mount_point).join(own),
                    });
                }
                _ => {}
            }
        }
        if unified.is_none() && v1.is_empty() {
            return Err(CgroupError::Detect {
                what: "/proc/self/mountinfo",
                why: "no cgroup file system is mounted where this process can see it".to_string(),
            });
        }
        Ok(Hierarchy {
            unified,
            v1,
            fake: root != Path::new("/"),
        })
    }

    /// Which version does the limits.
    pub fn mode(&self) -> Mode {
        match (&self.unified, self.v1.is_empty()) {
            (_, true) => Mode::V2,
            (Some(_), false) => Mode::Hybrid,
            (None, false) => Mode::V1,
        }
    }

    /// The v1 hierarchy of `controller`, if mounted.
    fn v1_of(&self, controller: &str) -> Option<&V1Mount> {
        self.v1.iter().find(|m| m.controllers.iter().any(|c| c == controller))
    }

    /// The v2 controllers jails get: offered by our cgroup and not bound to
    /// a v1 hierarchy.
    fn v2_controllers(&self) -> Vec<String> {
        let Some(u) = &self.unified else { return Vec::new() };
        V2_CONTROLLERS
            .iter()
            .filter(|c| u.controllers.iter().any(|o| o == *c))
            .filter(|c| self.v1_of(c).is_none())
            .map(|c| c.to_string())
            .collect()
    }
}

/// `path` relative to a mount whose root is `mount_root`, or `None` when
/// the path lies outside the mount.
fn relative(path: &str, mount_root: &str) -> Option<PathBuf> {
    let rest = if mount_root == "/" {
        path
    } else {
        let rest = path.strip_prefix(mount_root)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    let rest = rest.trim_start_matches('/');
    if rest.split('/').any(|c| c == "..") {
        return None;
    }
    Some(PathBuf::from(rest))
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
            && let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------
// a jail's cgroup

/// Where a jail's cgroup lives: enough to find it again after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    /// The directory name, `jaild-NAME-XXXXXXXX`, the same in every
    /// hierarchy.
    pub name: String,
    /// Its directory in the unified tree, if it has one.
    pub unified: Option<PathBuf>,
    /// The v2 controllers enabled for it (the limits written there).
    pub unified_controllers: Vec<String>,
    /// Its directory in each v1 hierarchy, by controller (`cpu` and
    /// `cpuacct` share one where the host co-mounts them).
    pub v1: BTreeMap<String, PathBuf>,
}

impl CgroupPaths {
    /// Every directory, each once: the unified one first.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.unified.iter().cloned().collect();
        for dir in self.v1.values() {
            if !dirs.contains(dir) {
                dirs.push(dir.clone());
            }
        }
        dirs
    }

    /// The directory of v1 controller `c`.
    fn v1(&self, c: &str) -> Option<&Path> {
        self.v1.get(c).map(PathBuf::as_path)
    }

    /// The unified directory when v2 controller `c` is enabled there.
    fn v2(&self, c: &str) -> Option<&Path> {
        self.unified
            .as_deref()
            .filter(|_| self.unified_controllers.iter().any(|e| e == c))
    }
}

/// Usage of a jail's cgroup, from the v2 files or their v1 equivalents;
/// `None` where the host offers no such figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// CPU time used, µs (`cpu.stat` usage_usec; v1 `cpuacct.usage` / 1000).
    pub cpu_usec: Option<u64>,
    /// Memory in use, bytes (`memory.current`; v1 `memory.usage_in_bytes`).
    pub memory_current: Option<u64>,
    /// The most memory ever used, bytes (`memory.peak`; v1
    /// `memory.max_usage_in_bytes`).
    pub memory_peak: Option<u64>,
    /// Tasks now (`pids.current`).
    pub pids_current: Option<u64>,
    /// Bytes read from block devices (`io.stat` rbytes; v1
    /// `blkio.throttle.io_service_bytes` Read).
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
}

/// Remove the empty cgroups of one-shot jails (`jaild-run-PID-*`) whose
/// `jailctl run` is gone: killed with SIGKILL, it could not remove them (its
/// jail died with it, through the parent-death signal). Directories that
/// still hold a process are not removable and stay.
pub fn sweep_stale_runs(h: &Hierarchy) {
    let prefix = format!("{PREFIX}run-");
    let owns = h
        .unified
        .iter()
        .map(|u| u.own.clone())
        .chain(h.v1.iter().map(|m| m.own.clone()));
    for dir in owns {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir(entry.path());
            }
        }
    }
}

/// A jail's cgroup.
#[derive(Debug)]
pub struct Cgroup {
    paths: CgroupPaths,
    warnings: Vec<String>,
    /// On a fake tree, directories hold plain files: remove them too.
    fake: bool,
}

impl Cgroup {
    /// Creates the cgroup of jail `name` below our own, in the detected
    /// hierarchies, with `limits` written. See [`Cgroup::create_in`].
    pub fn create(name: &str, limits: &ResourcesPolicy) -> Result<Cgroup> {
        let h = Hierarchy::detect()?;
        sweep_stale_runs(&h);
        Cgroup::create_in(&h, name, limits)
    }

    /// Creates `jaild-NAME-XXXXXXXX` below our own cgroup in every
    /// hierarchy of `h` we use and writes `limits`. A failure half-way
    /// removes every directory made so far. A limit the host cannot enforce
    /// at all (no controller for it) is an error; a lesser knob the host
    /// lacks (v1 swap accounting, an I/O weight without a weighting
    /// scheduler) is skipped and named in [`Cgroup::warnings`].
    pub fn create_in(h: &Hierarchy, name: &str, limits: &ResourcesPolicy) -> Result<Cgroup> {
        check_name(name)?;
        require(h, limits)?;
        let leaf = format!("{PREFIX}{name}-{}", random_suffix());
        let mut cg = Cgroup {
            paths: CgroupPaths {
                name: leaf.clone(),
                ..CgroupPaths::default()
            },
            warnings: Vec::new(),
            fake: h.fake,
        };
        match cg.build(h, &leaf, limits) {
            Ok(()) => Ok(cg),
            Err(e) => {
                // Nothing is in it yet: the directories go at once.
                for dir in cg.paths.dirs().iter().rev() {
                    let _ = if h.fake {
                        fs::remove_dir_all(dir)
                    } else {
                        fs::remove_dir(dir)
                    };
                }
                Err(e)
            }
        }
    }

    /// The cgroup recorded in `paths` (after a daemon restart). Nothing is
    /// checked: every operation copes with directories that are gone.
    pub fn open(paths: CgroupPaths) -> Cgroup {
        Cgroup {
            paths,
            warnings: Vec::new(),
            fake: false,
        }
    }

    /// Where it lives.
    pub fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    /// Limits asked for that the host could not apply (see
    /// [`Cgroup::create_in`]).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Makes the directories and writes the limits, recording each
    /// directory in `self.paths` as soon as it exists.
    fn build(&mut self, h: &Hierarchy, leaf: &str, limits: &ResourcesPolicy) -> Result<()> {
        if let Some(u) = &h.unified {
            let controllers = h.v2_controllers();
            let dir = u.own.join(leaf);
            let made = enable_controllers(h, &u.own, &controllers).and_then(|()| make_dir(h, &dir));
            match made {
                Ok(()) => {
                    self.paths.unified = Some(dir);
                    self.paths.unified_controllers = controllers;
                }
                // On a hybrid host the unified tree only adds cgroup.kill:
                // go on without it when it is not ours to write.
                Err(CgroupError::Io { source, .. })
                    if h.mode() == Mode::Hybrid
                        && matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)) =>
                {
                    self.warnings.push(format!(
                        "no cgroup in the unified tree at {}: {source}; stop freezes and kills through v1",
                        u.own.display()
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        for m in &h.v1 {
            let dir = m.own.join(leaf);
            make_dir(h, &dir)?;
            for c in &m.controllers {
                self.paths.v1.insert(c.clone(), dir.clone());
            }
            if m.controllers.iter().any(|c| c == "cpuset") {
                // A v1 cpuset cgroup starts with no CPUs and no memory
                // nodes: nothing could run in it. Take the parent's.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let value = read_string(&m.own.join(file))?;
                    write_file(&dir.join(file), value.trim())?;
                }
            }
        }
        self.write_limits(limits)
    }

    /// Writes every limit of `limits` to the files of the version that
    /// holds its controller.
    fn write_limits(&mut self, limits: &ResourcesPolicy) -> Result<()> {
        let p = self.paths.clone();
        if let Some(m) = &limits.memory {
            if let Some(dir) = p.v1("memory") {
                if let Some(max) = m.max {
                    write_file(&dir.join("memory.limit_in_bytes"), &max.to_string())?;
                }
                if let Some(high) = m.high {
                    write_file(&dir.join("memory.soft_limit_in_bytes"), &high.to_string())?;
                }
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                match (m.swap, m.max) {
                    (None, _) => {}
                    (Some(swap), Some(max)) if memsw.exists() => {
                        write_file(&memsw, &max.saturating_add(swap).to_string())?;
                    }
                    (Some(_), Some(_)) => self.warnings.push(
                        "resources.memory.swap not applied: the host does not account swap in cgroup v1 \
                         (no memory.memsw files; boot with swapaccount=1)"
                            .to_string(),
                    ),
                    (Some(_), None) => self.warnings.push(
                        "resources.memory.swap not applied: cgroup v1 limits swap only together with \
                         resources.memory.max"
                            .to_string(),
                    ),
                }
            } else if let Some(dir) = p.v2("memory") {
                let show = |v: Option<u64>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
                if m.max.is_some() {
                    write_file(&dir.join("memory.max"), &show(m.max))?;
                }
                if m.high.is_some() {
                    write_file(&dir.join("memory.high"), &show(m.high))?;
                }
                if let Some(swap) = m.swap {
                    let file = dir.join("memory.swap.max");
                    if file.exists() {
                        write_file(&file, &swap.to_string())?;
                    } else {
                        self.warnings.push(
                            "resources.memory.swap not applied: the host has no swap accounting (no \
                             memory.swap.max)"
                                .to_string(),
                        );
                    }
                }
            }
        }
        if let Some(pids) = &limits.pids
            && let Some(dir) = p.v1("pids").or_else(|| p.v2("pids"))
        {
            write_file(&dir.join("pids.max"), &pids.max.to_string())?;
        }
        if let Some(cpu) = &limits.cpu {
            if let Some(dir) = p.v1("cpu") {
                if let Some(cores) = cpu.max {
                    write_file(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_USEC.to_string())?;
                    write_file(&dir.join("cpu.cfs_quota_us"), &CpuLimits::quota_usec(cores).to_string())?;
                }
                if let Some(weight) = cpu.weight {
                    write_file(&dir.join("cpu.shares"), &shares(weight).to_string())?;
                }
            } else if let Some(dir) = p.v2("cpu") {
                if let Some(cores) = cpu.max {
                    let value = format!("{} {CPU_PERIOD_USEC}", CpuLimits::quota_usec(cores));
                    write_file(&dir.join("cpu.max"), &value)?;
                }
                if let Some(weight) = cpu.weight {
                    write_file(&dir.join("cpu.weight"), &weight.to_string())?;
                }
            }
        }
        if let Some(weight) = limits.io.and_then(|io| io.weight) {
            let written = if let Some(dir) = p.v1("blkio") {
                // blkio.weight (CFQ) is 10..=1000, blkio.bfq.weight 1..=1000.
                let w = (weight / 10).clamp(10, 1000);
                try_write_first(&[
                    (dir.join("blkio.weight"), w.to_string()),
                    (dir.join("blkio.bfq.weight"), w.to_string()),
                ])?
            } else if let Some(dir) = p.v2("io") {
                try_write_first(&[
                    (dir.join("io.weight"), format!("default {weight}")),
                    (dir.join("io.bfq.weight"), format!("default {}", weight.clamp(1, 1000))),
                ])?
            } else {
                false
            };
            if !written {
                self.warnings.push(
                    "resources.io.weight not applied: no disk scheduler with weights (io.weight/blkio.weight) on \
                     this host"
                        .to_string(),
                );
            }
        }
        if let Some(cpuset) = &limits.cpuset
            && let Some(dir) = p.v1("cpuset").or_else(|| p.v2("cpuset"))
        {
            write_file(&dir.join("cpuset.cpus"), &cpuset.cpus)?;
        }
        Ok(())
    }

    /// Moves process `pid` (all its threads) into the cgroup, in every
    /// hierarchy.
    pub fn add(&self, pid: i32) -> Result<()> {
        for dir in self.paths.dirs() {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the cgroup (host pids), from every hierarchy,
    /// sorted.
    pub fn procs(&self) -> Result<Vec<i32>> {
        let mut pids = BTreeSet::new();
        for dir in self.paths.dirs() {
            pids.extend(read_pids(&dir.join("cgroup.procs"))?);
        }
        Ok(pids.into_iter().collect())
    }

    /// Kills everything in the cgroup and waits until it is empty: v2
    /// `cgroup.kill` where the cgroup has one; else (v1) freeze, SIGKILL
    /// every process, thaw. Repeated until nothing is left; every pid is
    /// signalled only while frozen, so none can be reused under us (on a
    /// v1 host without a freezer, plain SIGKILL by pid is all there is).
    pub fn kill_all(&self) -> Result<()> {
        let kill_file = self
            .paths
            .unified
            .as_ref()
            .map(|d| d.join("cgroup.kill"))
            .filter(|f| f.exists());
        let deadline = Instant::now() + KILL_TIMEOUT;
        loop {
            match &kill_file {
                Some(file) => write_file(file, "1")?,
                None => self.freeze_and_kill()?,
            }
            // Let the killed run to their exit.
            let settle = Instant::now() + Duration::from_millis(200);
            loop {
                let left = self.procs()?;
                if left.is_empty() {
                    return Ok(());
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(CgroupError::KillTimeout {
                        name: self.paths.name.clone(),
                        pids: left,
                        secs: KILL_TIMEOUT.as_secs(),
                    });
                }
                if now >= settle {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// One v1 round: `freezer.state` FROZEN (waited for, up to a second),
    /// SIGKILL to every process, THAWED so the killed can exit.
    fn freeze_and_kill(&self) -> Result<()> {
        let state = self.paths.v1("freezer").map(|d| d.join("freezer.state"));
        if let Some(state) = &state {
            write_file(state, "FROZEN")?;
            // FREEZING until every task is stopped; a task stuck in the
            // kernel may keep it there, so do not wait for ever.
            let until = Instant::now() + Duration::from_secs(1);
            while read_string(state)?.trim() != "FROZEN" && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let killed = self.procs().map(|pids| {
            for pid in pids {
                let _ = crate::sys::kill(pid, libc::SIGKILL);
            }
        });
        if let Some(state) = &state {
            write_file(state, "THAWED")?;
        }
        killed
    }

    /// Removes every directory of the cgroup (it must be empty: see
    /// [`Cgroup::kill_all`]), retrying briefly while exiting processes
    /// leave. Directories already gone are fine.
    pub fn remove(&self) -> Result<()> {
        let mut first_error = None;
        for dir in self.paths.dirs().iter().rev() {
            let deadline = Instant::now() + RMDIR_TIMEOUT;
            loop {
                let removed = if self.fake {
                    fs::remove_dir_all(dir)
                } else {
                    fs::remove_dir(dir)
                };
                match removed {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        first_error.get_or_insert(CgroupError::Io {
                            what: "remove".to_string(),
                            path: dir.clone(),
                            source: e,
                        });
                        break;
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Usage figures (see [`CgroupStats`]).
    pub fn stats(&self) -> Result<CgroupStats> {
        let p = &self.paths;
        let mut s = CgroupStats::default();
        if let Some(dir) = p.v1("cpuacct") {
            s.cpu_usec = read_u64(&dir.join("cpuacct.usage"))?.map(|ns| ns / 1000);
        } else if let Some(dir) = &p.unified {
            s.cpu_usec = read_keyed(&dir.join("cpu.stat"), "usage_usec")?;
        }
        if let Some(dir) = p.v1("memory") {
            s.memory_current = read_u64(&dir.join("memory.usage_in_bytes"))?;
            s.memory_peak = read_u64(&dir.join("memory.max_usage_in_bytes"))?;
        } else if let Some(dir) = p.v2("memory") {
            s.memory_current = read_u64(&dir.join("memory.current"))?;
            s.memory_peak = read_u64(&dir.join("memory.peak"))?;
        }
        if let Some(dir) = p.v1("pids").or_else(|| p.v2("pids")) {
            s.pids_current = read_u64(&dir.join("pids.current"))?;
        }
        if let Some(dir) = p.v1("blkio") {
            if let Some(text) = read_optional(&dir.join("blkio.throttle.io_service_bytes"))? {
                let (r, w) = blkio_bytes(&text);
                (s.io_read_bytes, s.io_write_bytes) = (Some(r), Some(w));
            }
        } else if let Some(dir) = p.v2("io")
            && let Some(text) = read_optional(&dir.join("io.stat"))?
        {
            let (r, w) = io_stat_bytes(&text);
            (s.io_read_bytes, s.io_write_bytes) = (Some(r), Some(w));
        }
        Ok(s)
    }
}

/// cpu.weight → v1 cpu.shares, keeping the defaults equal (100 ↔ 1024).
fn shares(weight: u64) -> u64 {
    (weight * 1024 / 100).max(2)
}

/// Checks a jail name for use in a directory name.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(CgroupError::BadName(name.to_string()))
    }
}

/// Refuses limits that no mounted controller can enforce.
fn require(h: &Hierarchy, limits: &ResourcesPolicy) -> Result<()> {
    let v2 = h.v2_controllers();
    let has = |v1: &str, v2name: &str| h.v1_of(v1).is_some() || v2.iter().any(|c| c == v2name);
    for (asked, what, v1, v2name) in [
        (limits.memory.is_some(), "resources.memory", "memory", "memory"),
        (limits.pids.is_some(), "resources.pids", "pids", "pids"),
        (limits.cpu.is_some(), "resources.cpu", "cpu", "cpu"),
        (limits.cpuset.is_some(), "resources.cpuset", "cpuset", "cpuset"),
    ] {
        if asked && !has(v1, v2name) {
            return Err(CgroupError::Unsupported {
                what: what.to_string(),
                why: format!(
                    "this host has no {v1} controller for jaild's cgroup (not mounted as v1, not offered in \
                     {})",
                    h.unified.as_ref().map_or_else(
                        || "a cgroup2 tree".to_string(),
                        |u| u.own.join("cgroup.controllers").display().to_string()
                    )
                ),
            });
        }
    }
    Ok(())
}

/// Enables `controllers` for the children of `own` (v2), those not yet
/// enabled. When `own` holds processes the kernel refuses (EBUSY): then we
/// move ourselves into `own/jaild-self` and try again, and refuse if other
/// processes are still there.
fn enable_controllers(h: &Hierarchy, own: &Path, controllers: &[String]) -> Result<()> {
    let file = own.join("cgroup.subtree_control");
    let enabled = read_optional(&file)?.unwrap_or_default();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let value = missing.join(" ");
    match write_file(&file, &value) {
        Err(CgroupError::Io { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
            let leaf = own.join(SELF_LEAF);
            make_dir(h, &leaf)?;
            write_file(&leaf.join("cgroup.procs"), &std::process::id().to_string())?;
            let others = read_pids(&own.join("cgroup.procs"))?;
            if !others.is_empty() {
                return Err(CgroupError::NotDelegated {
                    own: own.to_path_buf(),
                    others,
                });
            }
            write_file(&file, &value)
        }
        other => other,
    }
}

/// `mkdir dir` (mode 0755); on a fake tree, also the parent's files, empty.
fn make_dir(h: &Hierarchy, dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.file_name().is_some_and(|n| n == SELF_LEAF) => {
            return Ok(());
        }
        Err(e) => return Err(io_err("create", dir)(e)),
    }
    if h.fake
        && let Some(parent) = dir.parent()
    {
        let entries = fs::read_dir(parent).map_err(io_err("read", parent))?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let path = dir.join(entry.file_name());
                fs::write(&path, "").map_err(io_err("create", &path))?;
            }
        }
    }
    Ok(())
}

/// Writes `value` to an existing cgroup file in one `write(2)`.
pub(crate) fn write_file(path: &Path, value: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(format!("open for writing `{value}`"), path))?;
    file.write_all(value.as_bytes())
        .map_err(io_err(format!("write `{value}` to"), path))
}

/// Writes the first of `candidates` whose file exists; `false` when none
/// does.
fn try_write_first(candidates: &[(PathBuf, String)]) -> Result<bool> {
    for (path, value) in candidates {
        if path.exists() {
            write_file(path, value)?;
            return Ok(true);
        }
    }
    Ok(false)
}

fn read_string(path: &Path) -> Result<String> {
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(io_err("read", path))?;
    Ok(text)
}

/// The file's text, `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// A file holding one number; `None` when missing or empty.
fn read_u64(path: &Path) -> Result<Option<u64>> {
    Ok(read_optional(path)?.and_then(|t| t.trim().parse().ok()))
}

/// `KEY VALUE` lines (`cpu.stat`): the value of `key`.
fn read_keyed(path: &Path, key: &str) -> Result<Option<u64>> {
    Ok(read_optional(path)?.and_then(|text| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    }))
}

/// The pids in a `cgroup.procs` file; a missing file is empty.
fn read_pids(path: &Path) -> Result<Vec<i32>> {
    Ok(read_optional(path)?
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// Read and write bytes summed over the devices of a v1
/// `blkio.throttle.io_service_bytes` (`8:0 Read 4096` lines).
fn blkio_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [_dev, op, n] = parts[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => read += n,
                "Write" => write += n,
                _ => {}
            }
        }
    }
    (read, write)
}

/// Read and write bytes summed over the devices of a v2 `io.stat`
/// (`8:0 rbytes=4096 wbytes=0 …` lines).
fn io_stat_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        if let Some((k, v)) = field.split_once('=') {
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => read += v,
                "wbytes" => write += v,
                _ => {}
            }
        }
    }
    (read, write)
}

/// Eight random hex digits (from the kernel's random pool; the pid and the
/// time if that fails).
fn random_suffix() -> String {
    let mut bytes = [0u8; 4];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes = (nanos ^ std::process::id().rotate_left(16)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A human description of the limits for logs: `memory.max 64M, pids.max 64`.
pub fn describe(limits: &ResourcesPolicy) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &limits.memory {
        for (k, v) in [("max", m.max), ("swap", m.swap), ("high", m.high)] {
            if let Some(v) = v {
                parts.push(format!("memory.{k} {}", show_bytes(v)));
            }
        }
    }
    if let Some(p) = &limits.pids {
        parts.push(format!("pids.max {}", p.max));
    }
    if let Some(c) = &limits.cpu {
        if let Some(m) = c.max {
            parts.push(format!("cpu.max {m}"));
        }
        if let Some(w) = c.weight {
            parts.push(format!("cpu.weight {w}"));
        }
    }
    if let Some(w) = limits.io.and_then(|io| io.weight) {
        parts.push(format!("io.weight {w}"));
    }
    if let Some(c) = &limits.cpuset {
        parts.push(format!("cpuset.cpus {}", c.cpus));
    }
    if parts.is_empty() {
        "no limits".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_this_machines_layout() {
        let cgroup = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n\
                      4:memory:/process_api/abc\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let h = Hierarchy::parse(cgroup, mountinfo, Path::new("/nonexistent-root")).unwrap();
        assert_eq!(h.mode(), Mode::Hybrid);
        let names: Vec<&str> =
            h.v1.iter()
                .flat_map(|m| m.controllers.iter().map(String::as_str))
                .collect();
        assert_eq!(
            names,
            ["cpu", "cpuacct", "cpuset", "memory", "freezer", "blkio", "pids"]
        );
        let memory = h.v1_of("memory").unwrap();
        assert_eq!(
            memory.own,
            Path::new("/nonexistent-root/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            h.v1_of("pids").unwrap().own,
            Path::new("/nonexistent-root/sys/fs/cgroup/pids")
        );
        assert!(h.v1_of("devices").is_none());
        let u = h.unified.as_ref().unwrap();
        assert_eq!(u.own, Path::new("/nonexistent-root/sys/fs/cgroup/unified"));
        assert!(u.controllers.is_empty());
        assert!(h.v2_controllers().is_empty());
    }

    #[test]
    fn mount_roots_and_escapes() {
        // A cgroup namespace-less container: the mount's root is a subtree.
        let cgroup = "0::/docker/abc/inner\n";
        let mountinfo = "30 20 0:26 /docker/abc /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n";
        let h = Hierarchy::parse(cgroup, mountinfo, Path::new("/r")).unwrap();
        assert_eq!(h.unified.unwrap().own, Path::new("/r/sys/fs/cgroup x/inner"));
        // Our cgroup outside the mount: unusable.
        let mountinfo = "30 20 0:26 /other /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert!(Hierarchy::parse(cgroup, mountinfo, Path::new("/r")).is_err());
        // Co-mounted cpu,cpuacct.
        let cgroup = "3:cpu,cpuacct:/a\n";
        let mountinfo = "30 20 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let h = Hierarchy::parse(cgroup, mountinfo, Path::new("/")).unwrap();
        assert_eq!(h.mode(), Mode::V1);
        assert_eq!(h.v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(h.v1[0].own, Path::new("/sys/fs/cgroup/cpu,cpuacct/a"));
        assert!(!h.fake);
        assert!(relative("/a/../b", "/").is_none());
    }

    #[test]
    fn conversions() {
        assert_eq!(shares(100), 1024);
        assert_eq!(shares(1), 10);
        assert_eq!(shares(10000), 102400);
        assert_eq!(
            blkio_bytes("8:0 Read 4096\n8:0 Write 10\n8:16 Read 1\nTotal 4107\n"),
            (4097, 10)
        );
        assert_eq!(
            io_stat_bytes("8:0 rbytes=100 wbytes=7 rios=1\n8:16 rbytes=1 wbytes=0\n"),
            (101, 7)
        );
        assert!(check_name("web-1.a_b").is_ok());
        for bad in ["", "-x", "a/b", "a..b", ".x", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(random_suffix().len(), 8);
    }
}
