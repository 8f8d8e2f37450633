//! `jail-rootfs shift`: move a tree's owners into a jail's id range (DESIGN §5, shifted mode),
//! the uidmapshift job done right.
//!
//! For each entry, in parallel: owner and group moved by offset with `lchown` (ids outside the
//! source range are left alone and reported); setuid/setgid bits, which the kernel clears on
//! chown, set again; the `security.capability` attribute (which the kernel removes on chown)
//! written back with its root id shifted (v2 becomes v3); named entries of POSIX ACLs shifted.
//! A hardlinked inode is shifted once. Another mount is never entered.
//!
//! A marker attribute on the root (`trusted.jail-rootfs.shift`, invisible inside a jail) records
//! the shift, so a second run is refused and an interrupted one resumes; without a marker, a tree
//! whose top looks shifted already is refused too.

use std::collections::{BTreeMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use std::io::{Read, Write};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::RootfsError;
use crate::at::{self, Xt};
use crate::ids::{self, IdRange, IdShift};
use crate::progress;
use crate::walk::{self, Entry, Visitor};
use crate::xattr::{ACL_ACCESS, ACL_DEFAULT, Acl, CAPABILITY, FileCaps};

const TASK: &str = "shift";

/// The marker attribute on the tree's root.
pub const MARKER: &str = "trusted.jail-rootfs.shift";

/// How many example paths a report lists.
const EXAMPLES: usize = 20;

/// What to shift.
#[derive(Debug, Clone)]
pub struct ShiftOptions {
    /// The id shift (`--from`, `--to`, `--count`), always given in the forward direction.
    pub shift: IdShift,
    /// Undo the shift: move ids from `to..` back to `from..`.
    pub reverse: bool,
    /// Look and report, change nothing.
    pub dry_run: bool,
    /// Shift even when the ids seen look shifted already (the marker is still obeyed).
    pub force: bool,
    /// Draw a progress spinner on a terminal.
    pub progress: bool,
}

/// Ids left alone because they are outside the source range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outside {
    /// Entries with at least one such id (owner, group, ACL entry or capability root id).
    pub entries: u64,
    /// The ids, as runs.
    pub ids: Vec<IdRange>,
    /// Some of the entries (relative paths).
    pub examples: Vec<PathBuf>,
}

/// What a shift did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ShiftReport {
    /// The tree, absolute.
    pub dir: PathBuf,
    /// The shift as applied (`--reverse` swaps from and to).
    pub from: u32,
    pub to: u32,
    pub count: u32,
    pub reverse: bool,
    pub dry_run: bool,
    /// An interrupted shift was taken up again.
    pub resumed: bool,
    /// Entries looked at.
    pub entries: u64,
    /// Entries whose owner or group was moved.
    pub changed: u64,
    /// Entries already in the target range (an interrupted shift resumed).
    pub already: u64,
    /// Setuid/setgid bits set again after the chown cleared them.
    pub setuid_restored: u64,
    /// File capabilities rewritten (root id shifted, or kept when outside the range).
    pub capabilities: u64,
    /// ACLs whose named entries were shifted.
    pub acls: u64,
    /// Extra names of hardlinked inodes (shifted once, through their first name).
    pub hardlinks: u64,
    /// Ids left alone.
    pub outside: Outside,
    /// Directories on another mount, not entered.
    pub other_mounts: Vec<PathBuf>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The marker's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    from: u32,
    to: u32,
    count: u32,
    /// "shifting" (in progress), "shifted" (done) or "reversing" (a reverse in progress).
    state: MarkerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MarkerState {
    Shifting,
    Shifted,
    Reversing,
}

/// Shifts the tree at `dir` as `opts` says.
pub fn shift(dir: &Path, opts: &ShiftOptions) -> Result<ShiftReport, RootfsError> {
    let started = Instant::now();
    let forward = opts.shift;
    if forward.overlaps() {
        return Err(RootfsError::Usage {
            task: TASK,
            reason: format!(
                "the ranges {}..{} and {}..{} overlap: a shift between them could move some ids twice",
                forward.from,
                u64::from(forward.from) + u64::from(forward.count) - 1,
                forward.to,
                u64::from(forward.to) + u64::from(forward.count) - 1
            ),
        });
    }
    let applied = if opts.reverse { forward.reversed() } else { forward };
    let (root, path) = at::open_existing(TASK, dir)?;
    let refuse = |reason: String| RootfsError::Shift {
        path: path.clone(),
        reason,
    };

    // 1. The marker and the ids at the top decide whether this shift may run.
    let marker = read_marker(&root).map_err(|e| refuse(format!("read the marker {MARKER}: {e}")))?;
    let same = |m: &Marker| (m.from, m.to, m.count) == (forward.from, forward.to, forward.count);
    let mut resumed = false;
    match (marker, opts.reverse) {
        (Some(m), _) if !same(&m) => {
            return Err(refuse(format!(
                "the tree was shifted by {}:{}:{} ({}), not by {forward}; reverse that shift first",
                m.from,
                m.to,
                m.count,
                state_name(m.state)
            )));
        }
        (Some(m), false) => match m.state {
            MarkerState::Shifted => {
                return Err(refuse(format!(
                    "already shifted by {forward} (marker {MARKER}); use --reverse to undo it"
                )));
            }
            MarkerState::Shifting => resumed = true,
            MarkerState::Reversing => {
                return Err(refuse(
                    "a reverse shift was interrupted; finish it with --reverse first".to_string(),
                ));
            }
        },
        (Some(m), true) => resumed = m.state == MarkerState::Reversing,
        (None, reverse) => {
            if !opts.force {
                let looks = looks_shifted(&root, forward).map_err(|e| refuse(format!("look at the top: {e}")))?;
                match (reverse, looks) {
                    (false, Some(why)) => {
                        return Err(refuse(format!(
                            "the tree looks shifted already ({why}); use --reverse to undo a shift, or --force"
                        )));
                    }
                    (true, None) => {
                        return Err(refuse(format!(
                            "the tree is not shifted by {forward}: no marker, and its root is not owned by an id in {}..{}; use --force to shift back anyway",
                            forward.to,
                            u64::from(forward.to) + u64::from(forward.count) - 1
                        )));
                    }
                    _ => {}
                }
            }
        }
    }

    // 2. Record the shift in progress, so an interruption can be resumed and nothing else runs.
    if !opts.dry_run {
        let state = if opts.reverse {
            MarkerState::Reversing
        } else {
            MarkerState::Shifting
        };
        write_marker(&root, forward, Some(state)).map_err(|e| refuse(format!("write the marker {MARKER}: {e}")))?;
    }

    // 3. Walk, in parallel.
    let visitor = ShiftVisitor {
        shift: applied,
        dry_run: opts.dry_run,
        path: path.clone(),
        seen: Mutex::new(HashSet::new()),
        acc: Mutex::new(Acc::default()),
    };
    let marker_fd = root.try_clone().map_err(|e| refuse(format!("dup: {e}")))?;
    let bar = progress::entries(opts.progress, if opts.dry_run { "looking" } else { "shifting" });
    let walked = walk::walk(TASK, &path, root, &visitor, bar)?;

    // 4. Done: the marker says so (or goes, after a reverse).
    if !opts.dry_run {
        let state = (!opts.reverse).then_some(MarkerState::Shifted);
        write_marker(&marker_fd, forward, state).map_err(|e| refuse(format!("write the marker {MARKER}: {e}")))?;
    }

    let acc = visitor.acc.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(ShiftReport {
        dir: path,
        from: applied.from,
        to: applied.to,
        count: applied.count,
        reverse: opts.reverse,
        dry_run: opts.dry_run,
        resumed,
        entries: walked.entries,
        changed: acc.changed,
        already: acc.already,
        setuid_restored: acc.setuid_restored,
        capabilities: acc.capabilities,
        acls: acc.acls,
        hardlinks: acc.hardlinks,
        outside: Outside {
            entries: acc.outside_entries,
            ids: ids::ranges(&acc.outside_ids),
            examples: acc.examples,
        },
        other_mounts: walked.other_mounts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn state_name(state: MarkerState) -> &'static str {
    match state {
        MarkerState::Shifting => "interrupted",
        MarkerState::Shifted => "done",
        MarkerState::Reversing => "reverse interrupted",
    }
}

/// The marker file used where the filesystem takes no `trusted.*` attribute.
pub const MARKER_FILE: &str = ".jail-rootfs-shift";

fn read_marker(root: &impl AsFd) -> std::io::Result<Option<Marker>> {
    let value = match at::get_xattr(Xt::Fd(root.as_fd()), MARKER)? {
        Some(value) => value,
        None => {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(root.as_fd(), MARKER_FILE, flags, Mode::empty()) {
                Ok(fd) => {
                    let mut value = Vec::new();
                    std::fs::File::from(fd).take(4096).read_to_end(&mut value)?;
                    value
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    };
    serde_json::from_slice(&value)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unreadable marker: {e}")))
}

/// Writes the marker with `state`, or removes it for `None`: an attribute on the root, or a file
/// in it where the filesystem takes no `trusted.*` attribute.
fn write_marker(root: &impl AsFd, shift: IdShift, state: Option<MarkerState>) -> std::io::Result<()> {
    let target = Xt::Fd(root.as_fd());
    let Some(state) = state else {
        match rustix::fs::unlinkat(root.as_fd(), MARKER_FILE, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
        return at::remove_xattr(target, MARKER);
    };
    let marker = Marker {
        from: shift.from,
        to: shift.to,
        count: shift.count,
        state,
    };
    let value = serde_json::to_vec(&marker).map_err(std::io::Error::other)?;
    match at::set_xattr(target, MARKER, &value) {
        Err(e) if e.raw_os_error() == Some(Errno::NOTSUP.raw_os_error()) => {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(root.as_fd(), MARKER_FILE, flags, Mode::from_raw_mode(0o600))?;
            std::fs::File::from(fd).write_all(&value)
        }
        other => other,
    }
}

/// Records on the tree's root that it is shifted by `shift` (as `unpack --shift` leaves it), so
/// `shift` refuses to shift it again and `shift --reverse` undoes it.
pub(crate) fn mark_shifted(root: &impl AsFd, shift: IdShift) -> std::io::Result<()> {
    write_marker(root, shift, Some(MarkerState::Shifted))
}

/// What the marker on `root` says, in words (`None` without one).
pub(crate) fn describe_marker(root: &impl AsFd) -> Option<String> {
    let marker = read_marker(root).ok()??;
    Some(format!(
        "shifted by {}:{}:{} ({})",
        marker.from,
        marker.to,
        marker.count,
        state_name(marker.state)
    ))
}

/// Whether the root and its top-level entries look shifted by `shift` already: some id in the
/// target range and none in the source range. Returns what was seen.
fn looks_shifted(root: &OwnedFd, shift: IdShift) -> std::io::Result<Option<String>> {
    let st = at::fstatx(root.as_fd())?;
    let mut seen = vec![(PathBuf::from("/"), st.stx_uid, st.stx_gid)];
    for name in at::list(root.as_fd())?.into_iter().take(64) {
        if let Ok(st) = at::lstat(root.as_fd(), &name) {
            seen.push((PathBuf::from("/").join(&name), st.stx_uid, st.stx_gid));
        }
    }
    let source = seen.iter().any(|(_, u, g)| shift.in_source(*u) || shift.in_source(*g));
    let target = seen.iter().find(|(_, u, g)| shift.in_target(*u) || shift.in_target(*g));
    Ok(match (source, target) {
        (false, Some((path, u, g))) => Some(format!("{} is owned by {u}:{g}", path.display())),
        _ => None,
    })
}

/// Per-chunk counts, merged into the visitor's.
#[derive(Default)]
struct Acc {
    changed: u64,
    already: u64,
    setuid_restored: u64,
    capabilities: u64,
    acls: u64,
    hardlinks: u64,
    outside_entries: u64,
    outside_ids: BTreeMap<u32, u64>,
    examples: Vec<PathBuf>,
}

struct ShiftVisitor {
    shift: IdShift,
    dry_run: bool,
    path: PathBuf,
    /// Inodes with several names already shifted.
    seen: Mutex<HashSet<u64>>,
    acc: Mutex<Acc>,
}

impl ShiftVisitor {
    fn io(&self, step: &'static str, entry: &Entry<'_>, error: std::io::Error) -> RootfsError {
        RootfsError::Io {
            task: TASK,
            step,
            path: self.path.join(entry.rel()),
            error,
        }
    }
}

impl Visitor for ShiftVisitor {
    type Acc = Acc;

    fn visit(&self, acc: &mut Acc, entry: &Entry<'_>) -> Result<(), RootfsError> {
        let st = entry.st;
        let ft = entry.file_type();
        // A hardlinked inode is shifted through the first of its names only.
        if ft != FileType::Directory && st.stx_nlink > 1 {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.insert(st.stx_ino) {
                acc.hardlinks += 1;
                return Ok(());
            }
        }
        let shift = self.shift;
        let mut outside: Vec<u32> = Vec::new();
        let mut already = false;
        let mut map = |id: u32| {
            let new = shift.map(id);
            if new.is_none() {
                if shift.in_target(id) {
                    already = true;
                } else {
                    outside.push(id);
                }
            }
            new
        };
        let uid = map(st.stx_uid);
        let gid = map(st.stx_gid);
        if already {
            acc.already += 1;
        }

        // The id-carrying attributes, read before the chown removes the capability.
        let mut caps: Option<(FileCaps, Option<FileCaps>)> = None;
        let mut acls: Vec<(&'static str, Acl)> = Vec::new();
        if ft != FileType::Symlink {
            let names = at::list_xattrs(entry.xattrs()).map_err(|e| self.io("list attributes of", entry, e))?;
            for name in &names {
                let Some(name) = name.to_str() else { continue };
                match name {
                    CAPABILITY if ft == FileType::RegularFile => {
                        let Some(value) = at::get_xattr(entry.xattrs(), CAPABILITY)
                            .map_err(|e| self.io("read the capability of", entry, e))?
                        else {
                            continue;
                        };
                        let parsed = FileCaps::parse(&value).map_err(|reason| RootfsError::Invalid {
                            task: TASK,
                            path: self.path.join(entry.rel()),
                            reason,
                        })?;
                        let new = match parsed.shifted(shift) {
                            Ok(new) => Some(new),
                            Err(root) => {
                                outside.push(root);
                                None
                            }
                        };
                        caps = Some((parsed, new));
                    }
                    ACL_ACCESS | ACL_DEFAULT => {
                        let name = if name == ACL_ACCESS { ACL_ACCESS } else { ACL_DEFAULT };
                        let Some(value) =
                            at::get_xattr(entry.xattrs(), name).map_err(|e| self.io("read the ACL of", entry, e))?
                        else {
                            continue;
                        };
                        let acl = Acl::parse(&value).map_err(|reason| RootfsError::Invalid {
                            task: TASK,
                            path: self.path.join(entry.rel()),
                            reason,
                        })?;
                        let (shifted, out) = acl.shifted(shift);
                        outside.extend(out);
                        if shifted != acl {
                            acls.push((name, shifted));
                        }
                    }
                    _ => {}
                }
            }
        }

        if !outside.is_empty() {
            acc.outside_entries += 1;
            for id in outside {
                *acc.outside_ids.entry(id).or_default() += 1;
            }
            if acc.examples.len() < EXAMPLES {
                acc.examples.push(entry.rel());
            }
        }
        let chown = uid.is_some() || gid.is_some();
        if chown {
            acc.changed += 1;
        }
        let suid = ft != FileType::Directory && ft != FileType::Symlink && st.stx_mode & 0o6000 != 0;
        if chown && suid {
            acc.setuid_restored += 1;
        }
        if !acls.is_empty() {
            acc.acls += 1;
        }
        let rewrite_caps = caps
            .as_ref()
            .filter(|(old, new)| chown || new.is_some_and(|n| n != *old));
        if rewrite_caps.is_some() {
            acc.capabilities += 1;
        }
        if self.dry_run {
            return Ok(());
        }

        // Rare steps (setuid, capabilities, ACLs on a non-directory) work on a pinned O_PATH fd.
        let (dir, name) = entry.at();
        let needs_pin = name.is_some() && ((chown && suid) || rewrite_caps.is_some() || !acls.is_empty());
        let pinned: Option<OwnedFd> = match (needs_pin, name) {
            (true, Some(name)) => Some(at::pin(dir, name, st).map_err(|e| self.io("open", entry, e))?),
            _ => None,
        };
        let target = match &pinned {
            Some(fd) => Xt::Pinned(fd.as_fd()),
            None => entry.xattrs(),
        };

        if chown {
            let (u, g) = (uid.map(Uid::from_raw), gid.map(Gid::from_raw));
            match name {
                Some(name) => rustix::fs::chownat(dir, name, u, g, AtFlags::SYMLINK_NOFOLLOW),
                None => rustix::fs::fchown(dir, u, g),
            }
            .map_err(|e| self.io("chown", entry, e.into()))?;
        }
        for (name, acl) in &acls {
            at::set_xattr(target, name, &acl.to_bytes()).map_err(|e| self.io("write the ACL of", entry, e))?;
        }
        if chown && suid {
            let mode = u32::from(st.stx_mode) & 0o7777;
            match &pinned {
                Some(fd) => at::chmod_pinned(fd.as_fd(), mode),
                None => Ok(()),
            }
            .map_err(|e| self.io("chmod", entry, e))?;
        }
        if let Some((old, new)) = rewrite_caps {
            let value = new.unwrap_or(*old).to_bytes();
            at::set_xattr(target, CAPABILITY, &value).map_err(|e| self.io("write the capability of", entry, e))?;
        }
        Ok(())
    }

    fn merge(&self, acc: Acc) {
        let mut total = self.acc.lock().unwrap_or_else(|p| p.into_inner());
        total.changed += acc.changed;
        total.already += acc.already;
        total.setuid_restored += acc.setuid_restored;
        total.capabilities += acc.capabilities;
        total.acls += acc.acls;
        total.hardlinks += acc.hardlinks;
        total.outside_entries += acc.outside_entries;
        for (id, n) in acc.outside_ids {
            *total.outside_ids.entry(id).or_default() += n;
        }
        let room = EXAMPLES.saturating_sub(total.examples.len());
        total.examples.extend(acc.examples.into_iter().take(room));
    }
}
