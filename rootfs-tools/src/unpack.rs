//! `jail-rootfs unpack`: a tarball (tar, tar.gz, tar.xz, tar.zst) or an OCI image layout into a
//! rootfs directory, safe against hostile archives.
//!
//! Every entry is placed by fd: its parent is resolved inside the tree with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` — so a symlink in the tree,
//! however absolute or full of `..`, resolves inside DIR as it would in the jail (Debian's
//! `bin -> usr/bin` works; `evil -> /etc` leads to DIR/etc) — and the entry itself is made with
//! an `*at` call that does not follow its last component. Entry paths with `..` are skipped,
//! absolute ones made relative, both reported; hardlink targets are resolved inside DIR the same
//! way; device nodes are skipped unless asked for; setuid/setgid files are kept and listed.
//! Owners are the archive's numeric ids (or shifted), never looked up by name.
//!
//! OCI layers are applied in order with their whiteouts (`.wh.NAME` removes NAME from the layers
//! below, `.wh..wh..opq` empties its directory of them). With `atomic`, everything goes into a
//! temporary directory beside DIR that is renamed to DIR at the end, or removed on failure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use indicatif::ProgressBar;
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use serde::Serialize;

use crate::RootfsError;
use crate::at::{self, Xt};
use crate::ids::{self, IdRange, IdShift};
use crate::oci::{self, Compression};
use crate::progress;
use crate::tree;
use crate::xattr::{ACL_ACCESS, ACL_DEFAULT, Acl, CAPABILITY, FileCaps};

const TASK: &str = "unpack";

/// Mode of a directory made implicitly for an entry whose parents the archive did not list.
const IMPLICIT_DIR_MODE: u32 = 0o755;

/// The opaque-directory whiteout.
const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of a whiteout.
const WHITEOUT: &[u8] = b".wh.";

/// How to unpack.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Unpack into a temporary directory beside DIR and rename it to DIR at the end; nothing is
    /// left on failure. DIR must be missing or empty.
    pub atomic: bool,
    /// Create device nodes (skipped and reported otherwise).
    pub devices: bool,
    /// Shift owners (and ACL entries, capability root ids) as they are written.
    pub shift: Option<IdShift>,
    /// For an OCI layout with several images: the `org.opencontainers.image.ref.name` to use.
    pub reference: Option<String>,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
}

/// An entry left out or changed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The path as the archive spells it.
    pub path: String,
    pub reason: String,
}

/// Ids outside the `--shift` source range, written unshifted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unshifted {
    pub entries: u64,
    pub ids: Vec<IdRange>,
}

/// What was unpacked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnpackReport {
    /// The rootfs, absolute.
    pub dir: PathBuf,
    /// The tarball or layout.
    pub source: PathBuf,
    /// `tar`, `tar+gzip`, `tar+xz`, `tar+zstd` or `oci`.
    pub format: String,
    /// The manifest digest, for a layout.
    pub manifest: Option<String>,
    /// Archives applied (1 for a tarball).
    pub layers: usize,
    /// Archive entries read (skipped ones included).
    pub entries: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Device nodes and fifos made.
    pub nodes: u64,
    /// Whiteouts applied (OCI).
    pub whiteouts: u64,
    /// Entries not unpacked, with the reason.
    pub skipped: Vec<Note>,
    /// Entries unpacked with a change (an absolute path made relative, an attribute dropped).
    pub adjusted: Vec<Note>,
    /// Setuid or setgid files (kept).
    pub setuid: Vec<String>,
    /// Ids outside the `--shift` range (only with `--shift`).
    pub unshifted: Option<Unshifted>,
    /// Renamed into place at the end (`--atomic`).
    pub atomic: bool,
    pub seconds: f64,
}

/// Unpacks `source` (a tarball, or an OCI image layout directory) into `dir`.
pub fn unpack(source: &Path, dir: &Path, opts: &UnpackOptions) -> Result<UnpackReport, RootfsError> {
    let started = Instant::now();
    let source_meta = std::fs::metadata(source).map_err(|error| RootfsError::Io {
        task: TASK,
        step: "open",
        path: source.to_path_buf(),
        error,
    })?;
    // Read and check the source before the target is touched.
    let input = if source_meta.is_dir() {
        Input::Oci(oci::open(source, opts.reference.as_deref())?)
    } else {
        let file = File::open(source).map_err(|error| RootfsError::Io {
            task: TASK,
            step: "open",
            path: source.to_path_buf(),
            error,
        })?;
        Input::Tar(file, source_meta.len())
    };

    let target = Target::open(dir, opts.atomic)?;
    let mut unpacker = Unpacker::new(&target, opts)?;
    unpacker.report.source = source.to_path_buf();
    unpacker.report.atomic = opts.atomic;
    let result = unpacker.run(source, input);
    let result = result.and_then(|()| unpacker.finish());
    let mut report = std::mem::take(&mut unpacker.report);
    drop(unpacker);
    match result {
        Ok(()) => {
            report.dir = target.commit()?;
            report.seconds = started.elapsed().as_secs_f64();
            Ok(report)
        }
        Err(e) => {
            target.abandon();
            Err(e)
        }
    }
}

enum Input {
    Tar(File, u64),
    Oci(oci::Image),
}

/// Where entries go: DIR itself, or (atomic) a staging directory beside it.
struct Target {
    root: OwnedFd,
    /// DIR, absolute.
    path: PathBuf,
    staging: Option<Staging>,
}

struct Staging {
    parent: OwnedFd,
    tmp: OsString,
    name: OsString,
}

impl Target {
    fn open(dir: &Path, atomic: bool) -> Result<Target, RootfsError> {
        if !atomic {
            let (root, path, _) = tree::open_root(TASK, dir, 0o755)?;
            return Ok(Target {
                root,
                path,
                staging: None,
            });
        }
        let abs = std::path::absolute(dir).map_err(|error| RootfsError::Io {
            task: TASK,
            step: "resolve",
            path: dir.to_path_buf(),
            error,
        })?;
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Err(RootfsError::HostRoot { task: TASK, path: abs });
        };
        let (parent_fd, parent_path, _) = tree::open_root(TASK, parent, 0o700)?;
        let path = parent_path.join(name);
        let io_err = |step, error: io::Error| RootfsError::Io {
            task: TASK,
            step,
            path: path.clone(),
            error,
        };
        match at::lstat(parent_fd.as_fd(), name) {
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
            Err(e) => return Err(io_err("stat", e)),
            Ok(st) => match at::file_type(&st) {
                FileType::Directory => {
                    let fd = rustix::fs::openat(parent_fd.as_fd(), name, at::DIR_FLAGS, Mode::empty())
                        .map_err(|e| io_err("open", e.into()))?;
                    if !at::list(fd.as_fd()).map_err(|e| io_err("list", e))?.is_empty() {
                        return Err(RootfsError::Invalid {
                            task: TASK,
                            path,
                            reason: "exists and is not empty; --atomic replaces only a missing or empty directory"
                                .into(),
                        });
                    }
                }
                FileType::Symlink => {
                    return Err(RootfsError::SymlinkInPath {
                        task: TASK,
                        path: path.clone(),
                        symlink: path,
                    });
                }
                _ => {
                    return Err(io_err(
                        "create",
                        io::Error::from_raw_os_error(Errno::NOTDIR.raw_os_error()),
                    ));
                }
            },
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".unpack-{}-{nanos}", std::process::id()));
        // 0700 while it is being filled: half-made setuid files stay out of reach.
        rustix::fs::mkdirat(parent_fd.as_fd(), &tmp, Mode::from_raw_mode(0o700))
            .map_err(|e| io_err("create a staging directory for", e.into()))?;
        let root = rustix::fs::openat(parent_fd.as_fd(), &tmp, at::DIR_FLAGS, Mode::empty())
            .map_err(|e| io_err("open the staging directory for", e.into()))?;
        Ok(Target {
            root,
            path,
            staging: Some(Staging {
                parent: parent_fd,
                tmp,
                name: name.to_os_string(),
            }),
        })
    }

    /// Puts the staging directory in place (atomic); returns DIR.
    fn commit(self) -> Result<PathBuf, RootfsError> {
        if let Some(s) = &self.staging {
            let renamed = rustix::fs::renameat(s.parent.as_fd(), &s.tmp, s.parent.as_fd(), &s.name);
            if let Err(e) = renamed {
                let _ = at::remove_tree(s.parent.as_fd(), &s.tmp, mnt_id(self.root.as_fd()));
                return Err(RootfsError::Io {
                    task: TASK,
                    step: "rename the staging directory to",
                    path: self.path.clone(),
                    error: e.into(),
                });
            }
        }
        Ok(self.path)
    }

    /// Removes the staging directory (atomic); a plain unpack keeps what it wrote.
    fn abandon(self) {
        if let Some(s) = &self.staging {
            let _ = at::remove_tree(s.parent.as_fd(), &s.tmp, mnt_id(self.root.as_fd()));
        }
    }
}

fn mnt_id(fd: BorrowedFd<'_>) -> u64 {
    at::fstatx(fd).map_or(0, |st| st.stx_mnt_id)
}

/// Metadata of an entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Why an entry is not unpacked (a note in the report, not an error).
type Skip = String;

struct Unpacker<'t> {
    root: BorrowedFd<'t>,
    root_rc: Rc<OwnedFd>,
    mnt_id: u64,
    opts: UnpackOptions,
    report: UnpackReport,
    unshifted: BTreeMap<u32, u64>,
    unshifted_entries: u64,
    /// The last parent directory resolved (O_PATH), by relative path.
    cache: Option<(PathBuf, Rc<OwnedFd>)>,
    /// Directory mtimes, set at the end (writing into a directory changes its mtime).
    dir_times: HashMap<PathBuf, i64>,
    /// The root entry's metadata, applied at the end.
    root_meta: Option<Meta>,
    /// OCI: paths written by the layer being applied (whiteouts spare them).
    layer: Option<HashSet<PathBuf>>,
    bar: ProgressBar,
}

impl<'t> Unpacker<'t> {
    fn new(target: &'t Target, opts: &UnpackOptions) -> Result<Unpacker<'t>, RootfsError> {
        let root_rc = Rc::new(target.root.try_clone().map_err(|error| RootfsError::Io {
            task: TASK,
            step: "dup",
            path: target.path.clone(),
            error,
        })?);
        Ok(Unpacker {
            root: target.root.as_fd(),
            root_rc,
            mnt_id: mnt_id(target.root.as_fd()),
            opts: opts.clone(),
            report: UnpackReport {
                dir: target.path.clone(),
                unshifted: opts.shift.map(|_| Unshifted::default()),
                ..Default::default()
            },
            unshifted: BTreeMap::new(),
            unshifted_entries: 0,
            cache: None,
            dir_times: HashMap::new(),
            root_meta: None,
            layer: None,
            bar: ProgressBar::hidden(),
        })
    }

    fn run(&mut self, source: &Path, input: Input) -> Result<(), RootfsError> {
        match input {
            Input::Tar(file, size) => {
                self.bar = progress::bytes(self.opts.progress, Some(size), "unpacking");
                let mut reader = BufReader::with_capacity(1 << 16, self.bar.wrap_read(file));
                let (decoded, format) = decompress(&mut reader, Compression::Sniff).map_err(|e| RootfsError::Io {
                    task: TASK,
                    step: "read",
                    path: source.to_path_buf(),
                    error: e,
                })?;
                self.report.format = format.to_string();
                self.report.layers = 1;
                self.apply_archive(source, decoded)?;
            }
            Input::Oci(image) => {
                self.report.format = "oci".into();
                self.report.manifest = Some(image.manifest.clone());
                let total = image.layers.iter().map(|l| l.size).sum();
                self.bar = progress::bytes(self.opts.progress, Some(total), "unpacking");
                let count = image.layers.len();
                for (i, layer) in image.layers.into_iter().enumerate() {
                    self.bar.set_message(format!("layer {}/{count}", i + 1));
                    self.layer = Some(HashSet::new());
                    let mut reader = BufReader::with_capacity(1 << 16, self.bar.wrap_read(layer.file));
                    let (decoded, _) = decompress(&mut reader, layer.compression).map_err(|error| RootfsError::Io {
                        task: TASK,
                        step: "read",
                        path: layer.path.clone(),
                        error,
                    })?;
                    self.apply_archive(&layer.path, decoded)?;
                    self.report.layers += 1;
                }
                self.layer = None;
            }
        }
        self.bar.finish_and_clear();
        Ok(())
    }

    /// Applies one tar stream.
    fn apply_archive(&mut self, source: &Path, reader: Box<dyn Read + '_>) -> Result<(), RootfsError> {
        let invalid = |n: u64, e: io::Error| RootfsError::Invalid {
            task: TASK,
            path: source.to_path_buf(),
            reason: format!("after {n} entries: {}", crate::error::io_message(&e)),
        };
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| invalid(0, e))?;
        for (n, entry) in (0u64..).zip(entries) {
            let mut entry = entry.map_err(|e| invalid(n, e))?;
            self.report.entries += 1;
            self.entry(source, &mut entry)?;
        }
        Ok(())
    }

    fn skip(&mut self, path: &str, reason: impl Into<String>) {
        self.report.skipped.push(Note {
            path: path.to_string(),
            reason: reason.into(),
        });
    }

    fn adjust(&mut self, path: &str, reason: impl Into<String>) {
        self.report.adjusted.push(Note {
            path: path.to_string(),
            reason: reason.into(),
        });
    }

    fn io(&self, step: &'static str, rel: &Path, error: io::Error) -> RootfsError {
        RootfsError::Io {
            task: TASK,
            step,
            path: self.report.dir.join(rel),
            error,
        }
    }

    /// An id from the archive, shifted when asked; `outside` notes ids left alone.
    fn map_id(&mut self, id: u64, outside: &mut bool) -> Option<u32> {
        let id = u32::try_from(id).ok().filter(|&id| id != u32::MAX)?;
        let Some(shift) = self.opts.shift else {
            return Some(id);
        };
        Some(shift.map(id).unwrap_or_else(|| {
            *outside = true;
            *self.unshifted.entry(id).or_default() += 1;
            id
        }))
    }

    /// Applies one archive entry.
    fn entry<R: Read>(&mut self, source: &Path, entry: &mut tar::Entry<'_, R>) -> Result<(), RootfsError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let (rel, absolute) = match normalize(&raw) {
            Ok(n) => n,
            Err(reason) => {
                self.skip(&shown, reason);
                return Ok(());
            }
        };
        if absolute {
            self.adjust(&shown, "absolute path: unpacked relative to DIR");
        }
        // OCI whiteouts: never files of their own.
        if self.layer.is_some()
            && let Some(name) = rel.file_name()
            && name.as_bytes().starts_with(WHITEOUT)
        {
            return self.whiteout(&rel, &shown);
        }

        let meta = match self.meta(entry) {
            Ok(meta) => meta,
            Err(reason) => {
                self.skip(&shown, reason);
                return Ok(());
            }
        };
        if rel.as_os_str().is_empty() {
            if kind == tar::EntryType::Directory {
                self.root_meta = Some(meta);
            } else {
                self.skip(&shown, "the root of the tree must be a directory");
            }
            return Ok(());
        }
        if let Some(layer) = &mut self.layer {
            layer.insert(rel.clone());
        }
        let result = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.file(&rel, &shown, meta, entry, source)
            }
            tar::EntryType::Directory => self.dir(&rel, &shown, meta),
            tar::EntryType::Symlink => match entry.link_name_bytes() {
                Some(target) if !target.is_empty() => {
                    let target = OsString::from_vec(target.into_owned());
                    self.symlink(&rel, &shown, &target, meta)
                }
                _ => Ok(Some("symlink without a target".into())),
            },
            tar::EntryType::Link => match entry.link_name_bytes() {
                Some(target) if !target.is_empty() => {
                    let target = target.into_owned();
                    self.hardlink(&rel, &shown, &target)
                }
                _ => Ok(Some("hardlink without a target".into())),
            },
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                self.node(&rel, kind, major, minor, meta)
            }
            other => Ok(Some(format!("unsupported entry type {:?}", other.as_byte() as char))),
        }?;
        if let Some(reason) = result {
            self.skip(&shown, reason);
        }
        Ok(())
    }

    /// The entry's mode, owner (shifted), mtime and attributes (PAX `SCHILY.xattr.*`).
    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<Meta, Skip> {
        let header = entry.header();
        let mode = header.mode().map_err(|e| format!("bad mode: {e}"))? & 0o7777;
        let mut uid = header.uid().map_err(|e| format!("bad uid: {e}"))?;
        let mut gid = header.gid().map_err(|e| format!("bad gid: {e}"))?;
        let mtime = header.mtime().unwrap_or(0);
        let mut mtime = i64::try_from(mtime).unwrap_or(0);
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| format!("bad PAX header: {e}"))? {
            for ext in pax {
                let Ok(ext) = ext else { continue };
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let number = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.split('.').next()?.parse().ok())
                };
                match key {
                    "uid" => uid = number().ok_or("bad PAX uid")?,
                    "gid" => gid = number().ok_or("bad PAX gid")?,
                    "mtime" => mtime = number().and_then(|v: u64| i64::try_from(v).ok()).unwrap_or(mtime),
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        let mut outside = false;
        let uid = self
            .map_id(uid, &mut outside)
            .ok_or(format!("uid {uid} is not a valid id"))?;
        let gid = self
            .map_id(gid, &mut outside)
            .ok_or(format!("gid {gid} is not a valid id"))?;
        if outside {
            self.unshifted_entries += 1;
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// The parent directory of `rel` (an `O_PATH` fd), resolved inside the tree; missing
    /// directories are made (0755, owned by the jail's root). `Err` is why the entry is skipped.
    fn parent(&mut self, rel: &Path) -> Result<Result<Rc<OwnedFd>, Skip>, RootfsError> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        if parent.as_os_str().is_empty() {
            return Ok(Ok(Rc::clone(&self.root_rc)));
        }
        if let Some((path, fd)) = &self.cache
            && path == parent
        {
            return Ok(Ok(Rc::clone(fd)));
        }
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let fd = match at::resolve(self.root, parent, flags) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => match self.make_parents(parent)? {
                Ok(fd) => fd,
                Err(skip) => return Ok(Err(skip)),
            },
            Err(e) => return Ok(Err(resolve_skip(parent, &e))),
        };
        let fd = Rc::new(fd);
        self.cache = Some((parent.to_path_buf(), Rc::clone(&fd)));
        Ok(Ok(fd))
    }

    /// Makes the missing directories of `dir`, one component at a time inside the tree.
    fn make_parents(&mut self, dir: &Path) -> Result<Result<OwnedFd, Skip>, RootfsError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let mut walked = PathBuf::new();
        let mut current = at::resolve(self.root, Path::new(""), flags).map_err(|e| self.io("open", dir, e))?;
        for name in dir.iter() {
            walked.push(name);
            match at::resolve(self.root, &walked, flags) {
                Ok(fd) => {
                    current = fd;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
                Err(e) => return Ok(Err(resolve_skip(&walked, &e))),
            }
            // Missing: a dangling symlink is not followed into a directory we would invent.
            if let Ok(st) = at::lstat(current.as_fd(), name)
                && at::file_type(&st) == FileType::Symlink
            {
                return Ok(Err(format!(
                    "parent {} is a symlink to a missing directory",
                    walked.display()
                )));
            }
            rustix::fs::mkdirat(current.as_fd(), name, Mode::from_raw_mode(0o700))
                .map_err(|e| self.io("mkdir", &walked, e.into()))?;
            let made = rustix::fs::openat(current.as_fd(), name, at::DIR_FLAGS, Mode::empty())
                .map_err(|e| self.io("open", &walked, e.into()))?;
            let mut outside = false;
            let root_uid = self.map_id(0, &mut outside).unwrap_or(0);
            rustix::fs::fchown(&made, Some(Uid::from_raw(root_uid)), Some(Gid::from_raw(root_uid)))
                .map_err(|e| self.io("chown", &walked, e.into()))?;
            rustix::fs::fchmod(&made, Mode::from_raw_mode(IMPLICIT_DIR_MODE))
                .map_err(|e| self.io("chmod", &walked, e.into()))?;
            if let Some(layer) = &mut self.layer {
                layer.insert(walked.clone());
            }
            self.report.dirs += 1;
            current = rustix::fs::openat(
                current.as_fd(),
                name,
                flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.io("open", &walked, e.into()))?;
        }
        Ok(Ok(current))
    }

    /// Resolves the parent of `rel` and clears the name for a new entry: a non-directory there
    /// is removed, a directory too unless the new entry is a directory (then it is kept).
    /// Returns the parent and whether a directory was kept.
    fn slot(&mut self, rel: &Path, for_dir: bool) -> Result<Result<(Rc<OwnedFd>, bool), Skip>, RootfsError> {
        let parent = match self.parent(rel)? {
            Ok(fd) => fd,
            Err(skip) => return Ok(Err(skip)),
        };
        let name = rel.file_name().unwrap_or_default();
        match at::lstat(parent.as_fd(), name) {
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => Ok(Ok((parent, false))),
            Err(e) => Err(self.io("stat", rel, e)),
            Ok(st) if at::file_type(&st) == FileType::Directory => {
                if for_dir {
                    return Ok(Ok((parent, true)));
                }
                if st.stx_mnt_id != self.mnt_id {
                    return Ok(Err("a mount point is in the way".into()));
                }
                self.cache = None;
                at::remove_tree(parent.as_fd(), name, self.mnt_id).map_err(|e| self.io("remove", rel, e))?;
                Ok(Ok((parent, false)))
            }
            Ok(_) => {
                self.cache = None;
                rustix::fs::unlinkat(parent.as_fd(), name, AtFlags::empty())
                    .map_err(|e| self.io("remove", rel, e.into()))?;
                Ok(Ok((parent, false)))
            }
        }
    }

    fn file<R: Read>(
        &mut self,
        rel: &Path,
        shown: &str,
        meta: Meta,
        data: &mut R,
        source: &Path,
    ) -> Result<Option<Skip>, RootfsError> {
        let (parent, _) = match self.slot(rel, false)? {
            Ok(slot) => slot,
            Err(skip) => return Ok(Some(skip)),
        };
        let name = rel.file_name().unwrap_or_default();
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(parent.as_fd(), name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| self.io("create", rel, e.into()))?;
        let mut file = File::from(fd);
        let copied = io::copy(data, &mut file);
        let bytes = match copied {
            Ok(bytes) => bytes,
            Err(e) => {
                // Leave no half-written file behind.
                drop(file);
                let _ = rustix::fs::unlinkat(parent.as_fd(), name, AtFlags::empty());
                return Err(RootfsError::Invalid {
                    task: TASK,
                    path: source.to_path_buf(),
                    reason: format!("reading {shown}: {}", crate::error::io_message(&e)),
                });
            }
        };
        self.apply_meta(rel, shown, file.as_fd(), &meta, true)?;
        if meta.mode & 0o6000 != 0 {
            self.report.setuid.push(rel.display().to_string());
        }
        self.report.files += 1;
        self.report.bytes += bytes;
        Ok(None)
    }

    fn dir(&mut self, rel: &Path, shown: &str, meta: Meta) -> Result<Option<Skip>, RootfsError> {
        let (parent, kept) = match self.slot(rel, true)? {
            Ok(slot) => slot,
            Err(skip) => return Ok(Some(skip)),
        };
        let name = rel.file_name().unwrap_or_default();
        if !kept {
            rustix::fs::mkdirat(parent.as_fd(), name, Mode::from_raw_mode(0o700))
                .map_err(|e| self.io("mkdir", rel, e.into()))?;
        }
        let fd = rustix::fs::openat(parent.as_fd(), name, at::DIR_FLAGS, Mode::empty())
            .map_err(|e| self.io("open", rel, e.into()))?;
        self.apply_meta(rel, shown, fd.as_fd(), &meta, false)?;
        self.dir_times.insert(rel.to_path_buf(), meta.mtime);
        self.report.dirs += 1;
        Ok(None)
    }

    fn symlink(&mut self, rel: &Path, _shown: &str, target: &OsStr, meta: Meta) -> Result<Option<Skip>, RootfsError> {
        let (parent, _) = match self.slot(rel, false)? {
            Ok(slot) => slot,
            Err(skip) => return Ok(Some(skip)),
        };
        let name = rel.file_name().unwrap_or_default();
        // The target is data: it is stored as is, and only ever resolved inside the tree.
        rustix::fs::symlinkat(target, parent.as_fd(), name).map_err(|e| self.io("symlink", rel, e.into()))?;
        let (u, g) = (Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)));
        rustix::fs::chownat(parent.as_fd(), name, u, g, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.io("chown", rel, e.into()))?;
        let times = timestamps(meta.mtime);
        let _ = rustix::fs::utimensat(parent.as_fd(), name, &times, AtFlags::SYMLINK_NOFOLLOW);
        self.report.symlinks += 1;
        Ok(None)
    }

    fn hardlink(&mut self, rel: &Path, _shown: &str, target: &[u8]) -> Result<Option<Skip>, RootfsError> {
        let (target_rel, _) = match normalize(target) {
            Ok(n) => n,
            Err(reason) => {
                return Ok(Some(format!(
                    "hardlink target {}: {reason}",
                    String::from_utf8_lossy(target)
                )));
            }
        };
        if target_rel == rel || target_rel.as_os_str().is_empty() {
            return Ok(Some("hardlink to itself or to the root".into()));
        }
        // The target is resolved inside the tree like any path: it can never name a host file.
        let flags = OFlags::PATH | OFlags::NOFOLLOW;
        let source = match at::resolve(self.root, &target_rel, flags) {
            Ok(fd) => fd,
            Err(e) => {
                return Ok(Some(format!(
                    "hardlink target {} is not in the tree ({})",
                    target_rel.display(),
                    crate::error::io_message(&e)
                )));
            }
        };
        let st = at::fstatx(source.as_fd()).map_err(|e| self.io("stat", &target_rel, e))?;
        if at::file_type(&st) == FileType::Directory {
            return Ok(Some(format!("hardlink to directory {}", target_rel.display())));
        }
        let (parent, _) = match self.slot(rel, false)? {
            Ok(slot) => slot,
            Err(skip) => return Ok(Some(skip)),
        };
        let name = rel.file_name().unwrap_or_default();
        rustix::fs::linkat(source.as_fd(), "", parent.as_fd(), name, AtFlags::EMPTY_PATH)
            .map_err(|e| self.io("link", rel, e.into()))?;
        self.report.hardlinks += 1;
        Ok(None)
    }

    fn node(
        &mut self,
        rel: &Path,
        kind: tar::EntryType,
        major: u32,
        minor: u32,
        meta: Meta,
    ) -> Result<Option<Skip>, RootfsError> {
        let file_type = match kind {
            tar::EntryType::Char => FileType::CharacterDevice,
            tar::EntryType::Block => FileType::BlockDevice,
            _ => FileType::Fifo,
        };
        if file_type != FileType::Fifo && !self.opts.devices {
            let what = if file_type == FileType::CharacterDevice {
                "character"
            } else {
                "block"
            };
            return Ok(Some(format!(
                "{what} device {major}:{minor} (give --devices to make device nodes)"
            )));
        }
        let (parent, _) = match self.slot(rel, false)? {
            Ok(slot) => slot,
            Err(skip) => return Ok(Some(skip)),
        };
        let name = rel.file_name().unwrap_or_default();
        let dev = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(parent.as_fd(), name, file_type, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| self.io("mknod", rel, e.into()))?;
        let (u, g) = (Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)));
        rustix::fs::chownat(parent.as_fd(), name, u, g, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.io("chown", rel, e.into()))?;
        let st = at::lstat(parent.as_fd(), name).map_err(|e| self.io("stat", rel, e))?;
        let pinned = at::pin(parent.as_fd(), name, &st).map_err(|e| self.io("open", rel, e))?;
        at::chmod_pinned(pinned.as_fd(), meta.mode).map_err(|e| self.io("chmod", rel, e))?;
        let _ = rustix::fs::utimensat(parent.as_fd(), name, &timestamps(meta.mtime), AtFlags::SYMLINK_NOFOLLOW);
        self.report.nodes += 1;
        Ok(None)
    }

    /// Owner, mode, attributes and (files) mtime of an entry open as `fd`.
    fn apply_meta(
        &mut self,
        rel: &Path,
        shown: &str,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        times: bool,
    ) -> Result<(), RootfsError> {
        // Owner first: chown clears setuid/setgid bits and file capabilities.
        rustix::fs::fchown(fd, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)))
            .map_err(|e| self.io("chown", rel, e.into()))?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(|e| self.io("chmod", rel, e.into()))?;
        for (name, value) in &meta.xattrs {
            match self.xattr(name, value) {
                Ok(value) => {
                    if let Err(e) = at::set_xattr(Xt::Fd(fd), name, &value) {
                        self.adjust(
                            shown,
                            format!("attribute {name} not set: {}", crate::error::io_message(&e)),
                        );
                    }
                }
                Err(reason) => self.adjust(shown, format!("attribute {name} not set: {reason}")),
            }
        }
        if times {
            let _ = rustix::fs::futimens(fd, &timestamps(meta.mtime));
        }
        Ok(())
    }

    /// The value to write for archive attribute `name` (shifted), or why it is dropped.
    fn xattr(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>, String> {
        let shift = self.opts.shift;
        match name {
            CAPABILITY => {
                let caps = FileCaps::parse(value)?;
                let Some(shift) = shift else {
                    return Ok(value.to_vec());
                };
                Ok(match caps.shifted(shift) {
                    Ok(new) => new.to_bytes(),
                    Err(root) => {
                        *self.unshifted.entry(root).or_default() += 1;
                        value.to_vec()
                    }
                })
            }
            ACL_ACCESS | ACL_DEFAULT => {
                let acl = Acl::parse(value)?;
                let Some(shift) = shift else {
                    return Ok(value.to_vec());
                };
                let (shifted, outside) = acl.shifted(shift);
                for id in outside {
                    *self.unshifted.entry(id).or_default() += 1;
                }
                Ok(shifted.to_bytes())
            }
            n if n.starts_with("user.") => Ok(value.to_vec()),
            // trusted.* (overlayfs metadata among them) and other security labels would let an
            // archive steer the host: not restored.
            _ => Err("only user.*, security.capability and POSIX ACL attributes are restored".into()),
        }
    }

    /// Applies whiteout entry `rel` (`.wh.NAME` or `.wh..wh..opq`).
    fn whiteout(&mut self, rel: &Path, shown: &str) -> Result<(), RootfsError> {
        let name = rel.file_name().unwrap_or_default().as_bytes();
        let dir = rel.parent().unwrap_or(Path::new(""));
        if name == OPAQUE {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY;
            let fd = match at::resolve(self.root, dir, flags) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Ok(()),
                Err(e) => {
                    self.skip(shown, resolve_skip(dir, &e));
                    return Ok(());
                }
            };
            self.cache = None;
            self.prune(fd.as_fd(), dir)?;
            self.report.whiteouts += 1;
            return Ok(());
        }
        let hidden = OsStr::from_bytes(&name[WHITEOUT.len()..]);
        if !at::is_plain_name(hidden) {
            self.skip(shown, "whiteout of no name");
            return Ok(());
        }
        let target = dir.join(hidden);
        if self.layer.as_ref().is_some_and(|l| l.contains(&target)) {
            // Whiteouts hide the layers below, not the entry this layer wrote.
            return Ok(());
        }
        let fd = match at::resolve(self.root, dir, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Ok(()),
            Err(e) => {
                self.skip(shown, resolve_skip(dir, &e));
                return Ok(());
            }
        };
        match at::lstat(fd.as_fd(), hidden) {
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
            Err(e) => return Err(self.io("stat", &target, e)),
            Ok(_) => {
                self.cache = None;
                at::remove_tree(fd.as_fd(), hidden, self.mnt_id).map_err(|e| self.io("remove", &target, e))?;
                self.report.whiteouts += 1;
            }
        }
        Ok(())
    }

    /// Removes from directory `fd` (at `rel`) everything the current layer did not write,
    /// keeping the directories it wrote into but pruning them the same way.
    fn prune(&mut self, fd: BorrowedFd<'_>, rel: &Path) -> Result<(), RootfsError> {
        for name in at::list(fd).map_err(|e| self.io("list", rel, e))? {
            let child = rel.join(&name);
            let written = self.layer.as_ref().is_some_and(|l| l.contains(&child));
            if !written {
                at::remove_tree(fd, &name, self.mnt_id).map_err(|e| self.io("remove", &child, e))?;
                continue;
            }
            let st = at::lstat(fd, &name).map_err(|e| self.io("stat", &child, e))?;
            if at::file_type(&st) == FileType::Directory {
                let sub = rustix::fs::openat(fd, &name, at::DIR_FLAGS, Mode::empty())
                    .map_err(|e| self.io("open", &child, e.into()))?;
                self.prune(sub.as_fd(), &child)?;
            }
        }
        Ok(())
    }

    /// Sets directory mtimes and the root's metadata, and completes the report.
    fn finish(&mut self) -> Result<(), RootfsError> {
        for (rel, mtime) in std::mem::take(&mut self.dir_times) {
            // Resolved again: later entries may have replaced or removed it.
            if let Ok(fd) = at::resolve(self.root, &rel, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW) {
                let _ = rustix::fs::futimens(&fd, &timestamps(mtime));
            }
        }
        let root_meta = match self.root_meta.take() {
            Some(meta) => meta,
            None => {
                let mut outside = false;
                let root_uid = self.map_id(0, &mut outside).unwrap_or(0);
                // No root entry: the root is the jail root's, 0755, keeping its attributes.
                Meta {
                    mode: 0o755,
                    uid: root_uid,
                    gid: root_uid,
                    mtime: -1,
                    xattrs: Vec::new(),
                }
            }
        };
        let keep_time = root_meta.mtime < 0;
        self.apply_meta(Path::new(""), "./", self.root, &root_meta, !keep_time)?;
        if let Some(shift) = self.opts.shift {
            crate::shift::mark_shifted(&self.root, shift)
                .map_err(|e| self.io("write the shift marker on", Path::new(""), e))?;
        }
        if let Some(unshifted) = &mut self.report.unshifted {
            unshifted.entries = self.unshifted_entries;
            unshifted.ids = ids::ranges(&self.unshifted);
        }
        Ok(())
    }
}

/// Why resolving `path` inside the tree failed, as a skip reason.
fn resolve_skip(path: &Path, e: &io::Error) -> Skip {
    let why = match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOTDIR) => "is not a directory".to_string(),
        Some(Errno::XDEV) => "crosses into another mount".to_string(),
        Some(Errno::LOOP) => "has too many levels of symlinks".to_string(),
        _ => format!("cannot be opened ({})", crate::error::io_message(e)),
    };
    format!("parent {} {why}", path.display())
}

/// An archive path as a plain relative path: `/` and `.` components dropped, `..` refused.
/// Returns the path and whether it was absolute.
fn normalize(raw: &[u8]) -> Result<(PathBuf, bool), Skip> {
    let absolute = raw.starts_with(b"/");
    let mut out = PathBuf::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("path contains `..`".into()),
            part => out.push(OsStr::from_bytes(part)),
        }
    }
    debug_assert!(out.components().all(|c| matches!(c, Component::Normal(_))));
    Ok((out, absolute))
}

fn timestamps(mtime: i64) -> Timestamps {
    let time = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

/// The decompressed stream of `reader`, by the compression named or (for `Sniff`) by its first
/// bytes, and the format's name.
fn decompress<'r, R: BufRead + 'r>(
    reader: &'r mut R,
    compression: Compression,
) -> io::Result<(Box<dyn Read + 'r>, &'static str)> {
    let compression = match compression {
        Compression::Sniff => {
            let head = reader.fill_buf()?;
            if head.starts_with(&[0x1f, 0x8b]) {
                Some(Compression::Gzip)
            } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                Some(Compression::Zstd)
            } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
                None
            } else if head.starts_with(b"BZh") {
                return Err(io::Error::other(
                    "bzip2 archives are not supported; recompress with xz or zstd",
                ));
            } else {
                Some(Compression::None)
            }
        }
        other => Some(other),
    };
    Ok(match compression {
        Some(Compression::Gzip) => (Box::new(flate2::bufread::MultiGzDecoder::new(reader)), "tar+gzip"),
        Some(Compression::Zstd) => (Box::new(zstd::stream::read::Decoder::with_buffer(reader)?), "tar+zstd"),
        None => (
            Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader)),
            "tar+xz",
        ),
        Some(_) => (Box::new(reader), "tar"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize() {
        assert_eq!(
            normalize(b"./usr/bin/ls").unwrap(),
            (PathBuf::from("usr/bin/ls"), false)
        );
        assert_eq!(normalize(b"/etc//passwd").unwrap(), (PathBuf::from("etc/passwd"), true));
        assert_eq!(normalize(b"./").unwrap(), (PathBuf::new(), false));
        assert!(normalize(b"a/../../etc/shadow").is_err());
        assert!(normalize(b"..").is_err());
        assert_eq!(normalize(b"a/..b").unwrap().0, PathBuf::from("a/..b"));
    }

    #[test]
    fn compression_is_sniffed() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, b"hello").unwrap();
        let gz = gz.finish().unwrap();
        let mut reader = &gz[..];
        let (mut r, name) = decompress(&mut reader, Compression::Sniff).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!((name, out.as_str()), ("tar+gzip", "hello"));

        let zst = zstd::encode_all(&b"hi"[..], 1).unwrap();
        let mut reader = &zst[..];
        assert_eq!(decompress(&mut reader, Compression::Sniff).unwrap().1, "tar+zstd");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        io::Write::write_all(&mut xz, b"x").unwrap();
        let xz = xz.finish().unwrap();
        let mut reader = &xz[..];
        assert_eq!(decompress(&mut reader, Compression::Sniff).unwrap().1, "tar+xz");
        let mut reader = &b"BZh9"[..];
        assert!(decompress(&mut reader, Compression::Sniff).is_err());
    }
}
