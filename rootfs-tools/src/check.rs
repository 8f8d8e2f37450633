//! `jail-rootfs check`: can this tree serve as a jail's root in a given id mode?
//!
//! A parallel walk collects the ids that own entries, the entries a mode cannot serve (on-disk
//! ids outside its range), setuid/setgid files, file capabilities, device nodes and
//! world-writable directories without the sticky bit. Two host-side checks follow: whether the
//! filesystem takes an idmapped mount (tried on a detached clone of the tree with a throwaway
//! user namespace, as the runtime would), and whether some parent directory keeps non-root host
//! users out (the runtime's own check, `libjail::rootfs::open_checked`).

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libjail::idmap::IdMap;
use rustix::fs::FileType;
use serde::Serialize;

use crate::RootfsError;
use crate::at;
use crate::ids::{self, IdRange, IdsMode};
use crate::progress;
use crate::walk::{self, Entry, Visitor};
use crate::xattr::{CAPABILITY, FileCaps};

const TASK: &str = "check";

/// How many paths a report lists per finding (the counts are always complete).
pub const LIST_LIMIT: usize = 200;

/// The host ids the throwaway user namespace of the idmap probe maps the jail's ids to.
const PROBE_BASE: u32 = 1_000_000_000;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The id mode the tree must serve.
    pub mode: IdsMode,
    /// Draw a progress spinner on a terminal.
    pub progress: bool,
}

/// A list of paths: the first [`LIST_LIMIT`], and how many there are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Found {
    pub count: u64,
    pub paths: Vec<PathBuf>,
}

impl Found {
    fn add(&mut self, path: impl FnOnce() -> PathBuf) {
        self.count += 1;
        if self.paths.len() < LIST_LIMIT {
            self.paths.push(path());
        }
    }

    fn extend(&mut self, other: Found) {
        self.count += other.count;
        let room = LIST_LIMIT.saturating_sub(self.paths.len());
        self.paths.extend(other.paths.into_iter().take(room));
    }
}

/// A device node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub path: PathBuf,
    /// `c` or `b`.
    pub kind: char,
    pub major: u32,
    pub minor: u32,
}

/// A file with capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capable {
    pub path: PathBuf,
    /// The permitted set as a bit mask.
    pub permitted: u64,
    /// The v3 root id, `None` for v2 (valid for the filesystem's own root).
    pub rootid: Option<u32>,
}

/// Whether the filesystem takes an idmapped mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "detail")]
pub enum Idmap {
    /// An idmapped clone of the tree was made, and showed the root's owner mapped.
    Supported,
    /// The kernel refused (the error says why).
    Unsupported(String),
    /// Not tried (not root).
    Unknown(String),
}

/// Whether host users other than root can reach the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "detail")]
pub enum Parents {
    /// Some parent directory keeps them out.
    Private,
    /// The runtime would refuse the tree (reachable, or a symlink in the path): its message.
    Refused(String),
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The tree, absolute.
    pub dir: PathBuf,
    /// The id mode checked for.
    pub mode: String,
    /// Entries looked at.
    pub entries: u64,
    /// Owner uids, as runs with entry counts.
    pub uids: Vec<IdRange>,
    /// Owner gids.
    pub gids: Vec<IdRange>,
    /// The on-disk id ranges `[first, last]` the mode serves (`None`: any id).
    pub mode_ranges: Option<Vec<(u64, u64)>>,
    /// Entries owned by (or whose ACL or capability names) an id the mode cannot serve.
    pub outside: Found,
    pub setuid: Found,
    pub setgid: Found,
    pub capabilities: Vec<Capable>,
    pub devices: Vec<Device>,
    /// World-writable directories without the sticky bit.
    pub world_writable: Found,
    /// Directories on another mount (not looked into).
    pub other_mounts: Vec<PathBuf>,
    /// What the `shift` marker on the root says ("shifted by 0:100000:65536 (done)").
    pub shift_marker: Option<String>,
    pub idmapped_mounts: Idmap,
    pub parents: Parents,
    /// Why the tree cannot serve the mode; empty when it can.
    pub problems: Vec<String>,
    /// Worth knowing, but no reason to refuse the tree.
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// Whether the tree can serve the mode.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the tree at `dir`.
pub fn check(dir: &Path, opts: &CheckOptions) -> Result<CheckReport, RootfsError> {
    let (root, path) = at::open_existing(TASK, dir)?;
    let idmap_fd = root.try_clone().map_err(|error| RootfsError::Io {
        task: TASK,
        step: "dup",
        path: path.clone(),
        error,
    })?;
    let visitor = CheckVisitor {
        mode: opts.mode.clone(),
        acc: Mutex::new(Acc::default()),
    };
    let walked = walk::walk(
        TASK,
        &path,
        root,
        &visitor,
        progress::entries(opts.progress, "checking"),
    )?;
    let acc = visitor.acc.into_inner().unwrap_or_else(|p| p.into_inner());

    let idmapped_mounts = probe_idmap(&idmap_fd);
    let shift_marker = crate::shift::describe_marker(&idmap_fd);
    let parents = match libjail::rootfs::open_checked(&path) {
        Ok(_) => Parents::Private,
        Err(e) => Parents::Refused(e.to_string()),
    };

    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if acc.outside.count > 0 {
        problems.push(format!(
            "{} entries have ids that mode {} cannot serve (e.g. /{}){}",
            acc.outside.count,
            opts.mode,
            acc.outside.paths[0].display(),
            match &opts.mode {
                IdsMode::Shifted(base) => format!("; shift the tree with `jail-rootfs shift DIR --to {base}`"),
                _ => String::new(),
            }
        ));
    }
    if let (true, Idmap::Unsupported(why)) = (opts.mode.needs_idmapped_mount(), &idmapped_mounts) {
        problems.push(format!(
            "mode {} needs an idmapped mount of the tree, and this filesystem refuses one ({why}); use shifted mode (`jail-rootfs shift`) instead",
            opts.mode
        ));
    }
    if let Parents::Refused(why) = &parents {
        problems.push(why.clone());
    }
    if let Idmap::Unknown(why) = &idmapped_mounts
        && opts.mode.needs_idmapped_mount()
    {
        warnings.push(format!("idmapped mounts not tried: {why}"));
    }
    if acc.world_writable.count > 0 {
        warnings.push(format!(
            "{} world-writable directories without the sticky bit (e.g. /{})",
            acc.world_writable.count,
            acc.world_writable.paths[0].display()
        ));
    }
    if !acc.devices.is_empty() {
        warnings.push(format!(
            "{} device nodes (the runtime mounts the rootfs nodev, and gives the jail its own /dev)",
            acc.devices.len()
        ));
    }
    if !walked.other_mounts.is_empty() {
        warnings.push(format!(
            "{} mount points inside the tree were not looked into",
            walked.other_mounts.len()
        ));
    }

    Ok(CheckReport {
        dir: path,
        mode: opts.mode.to_string(),
        entries: walked.entries,
        uids: ids::ranges(&acc.uids),
        gids: ids::ranges(&acc.gids),
        mode_ranges: opts
            .mode
            .disk_ranges()
            .map(|r| r.into_iter().map(|(a, b)| (a, b - 1)).collect()),
        outside: acc.outside,
        setuid: acc.setuid,
        setgid: acc.setgid,
        capabilities: acc.capabilities,
        devices: acc.devices,
        world_writable: acc.world_writable,
        other_mounts: walked.other_mounts,
        shift_marker,
        idmapped_mounts,
        parents,
        problems,
        warnings,
    })
}

/// Tries an idmapped mount of the tree: a detached clone (`open_tree(OPEN_TREE_CLONE)`) given
/// a throwaway user namespace's mapping (`mount_setattr(MOUNT_ATTR_IDMAP)`); the clone vanishes
/// when its fd closes. Checks that the clone's root shows the mapped owner.
fn probe_idmap(dir: &OwnedFd) -> Idmap {
    if !rustix::process::geteuid().is_root() {
        return Idmap::Unknown("needs root".into());
    }
    let map = IdMap::isolated(PROBE_BASE);
    let userns = match libjail::ns::create_userns(&map, &map) {
        Ok(fd) => fd,
        Err(e) => return Idmap::Unknown(format!("no user namespace: {e}")),
    };
    let clone = match libjail::sys::clone_tree(dir.as_fd(), false) {
        Ok(fd) => fd,
        Err(e) => return Idmap::Unknown(format!("open_tree: {e}")),
    };
    if let Err(e) = libjail::sys::mount_setattr(
        clone.as_fd(),
        false,
        libjail::sys::MOUNT_ATTR_IDMAP,
        0,
        Some(userns.as_fd()),
    ) {
        return Idmap::Unsupported(format!("mount_setattr(MOUNT_ATTR_IDMAP): {e}"));
    }
    let (Ok(disk), Ok(mapped)) = (at::fstatx(dir.as_fd()), at::fstatx(clone.as_fd())) else {
        return Idmap::Unknown("cannot stat the idmapped clone".into());
    };
    let expected = map.to_host(disk.stx_uid).unwrap_or(u32::MAX - 1);
    if disk.stx_uid < libjail::idmap::SLOT_SIZE && mapped.stx_uid != expected {
        return Idmap::Unsupported(format!(
            "the idmapped clone shows owner {} for on-disk {} (expected {expected})",
            mapped.stx_uid, disk.stx_uid
        ));
    }
    Idmap::Supported
}

#[derive(Default)]
struct Acc {
    uids: BTreeMap<u32, u64>,
    gids: BTreeMap<u32, u64>,
    outside: Found,
    setuid: Found,
    setgid: Found,
    capabilities: Vec<Capable>,
    devices: Vec<Device>,
    world_writable: Found,
}

struct CheckVisitor {
    mode: IdsMode,
    acc: Mutex<Acc>,
}

impl Visitor for CheckVisitor {
    type Acc = Acc;

    fn visit(&self, acc: &mut Acc, entry: &Entry<'_>) -> Result<(), RootfsError> {
        let st = entry.st;
        let ft = entry.file_type();
        let mode = u32::from(st.stx_mode);
        *acc.uids.entry(st.stx_uid).or_default() += 1;
        *acc.gids.entry(st.stx_gid).or_default() += 1;
        let mut serves = self.mode.serves(st.stx_uid) && self.mode.serves(st.stx_gid);
        match ft {
            FileType::RegularFile => {
                if mode & 0o4000 != 0 {
                    acc.setuid.add(|| entry.rel());
                }
                if mode & 0o2000 != 0 && mode & 0o010 != 0 {
                    acc.setgid.add(|| entry.rel());
                }
            }
            FileType::Directory if mode & 0o002 != 0 && mode & 0o1000 == 0 => {
                acc.world_writable.add(|| entry.rel());
            }
            FileType::CharacterDevice | FileType::BlockDevice if acc.devices.len() < LIST_LIMIT => {
                acc.devices.push(Device {
                    path: entry.rel(),
                    kind: if ft == FileType::CharacterDevice { 'c' } else { 'b' },
                    major: st.stx_rdev_major,
                    minor: st.stx_rdev_minor,
                });
            }
            _ => {}
        }
        // Capability root ids and ACL entries name ids the mode must serve too.
        if ft != FileType::Symlink {
            let names = at::list_xattrs(entry.xattrs()).unwrap_or_default();
            let wanted = [CAPABILITY, crate::xattr::ACL_ACCESS, crate::xattr::ACL_DEFAULT];
            for name in names.iter().filter_map(|n| n.to_str()).filter(|n| wanted.contains(n)) {
                let Ok(Some(value)) = at::get_xattr(entry.xattrs(), name) else {
                    continue;
                };
                if name == CAPABILITY {
                    if let Ok(caps) = FileCaps::parse(&value) {
                        serves &= caps.rootid.is_none_or(|r| self.mode.serves(r));
                        if acc.capabilities.len() < LIST_LIMIT {
                            acc.capabilities.push(Capable {
                                path: entry.rel(),
                                permitted: caps.permitted,
                                rootid: caps.rootid,
                            });
                        }
                    }
                } else if let Ok(acl) = crate::xattr::Acl::parse(&value) {
                    serves &= acl.ids().all(|id| self.mode.serves(id));
                }
            }
        }
        if !serves {
            acc.outside.add(|| entry.rel());
        }
        Ok(())
    }

    fn merge(&self, acc: Acc) {
        let mut total = self.acc.lock().unwrap_or_else(|p| p.into_inner());
        for (id, n) in acc.uids {
            *total.uids.entry(id).or_default() += n;
        }
        for (id, n) in acc.gids {
            *total.gids.entry(id).or_default() += n;
        }
        total.outside.extend(acc.outside);
        total.setuid.extend(acc.setuid);
        total.setgid.extend(acc.setgid);
        total.world_writable.extend(acc.world_writable);
        let room = LIST_LIMIT.saturating_sub(total.capabilities.len());
        total.capabilities.extend(acc.capabilities.into_iter().take(room));
        let room = LIST_LIMIT.saturating_sub(total.devices.len());
        total.devices.extend(acc.devices.into_iter().take(room));
    }
}
