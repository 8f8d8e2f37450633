//! Writing into a rootfs directory without ever following a symlink.
//!
//! A rootfs is untrusted content: `bin` may be a symlink to `/usr/bin` *of the host*. So every
//! directory is opened by fd, one component at a time, with `O_NOFOLLOW`, and every entry is
//! created relative to its parent's fd. A symlink met on the way is an error, never a detour.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::RootfsError;

/// How every directory is opened: readable (for listing, `fchmod`), never through a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Mode of missing ancestors created on the way to the rootfs: the runtime refuses a rootfs
/// that non-root users can reach, so a parent we make keeps them out.
const ANCESTOR_MODE: u32 = 0o700;

/// Mode of directories created implicitly inside the tree (parents of files and links).
const INNER_DIR_MODE: u32 = 0o755;

/// An open rootfs directory: the fd of its root and of every directory used below it.
pub(crate) struct Tree {
    task: &'static str,
    /// The absolute path, for messages only: nothing is ever resolved through it again.
    root: PathBuf,
    /// Open directories by path relative to the root (`""` is the root itself).
    dirs: HashMap<PathBuf, OwnedFd>,
}

/// Why opening one component failed.
enum Fail {
    Io(&'static str, io::Error),
    Symlink,
}

impl Tree {
    /// Opens `path` as a rootfs root, creating it with `mode` (and missing ancestors 0700, owned
    /// by root) when absent. Returns the tree and whether the root was created.
    pub(crate) fn open(task: &'static str, path: &Path, mode: u32) -> Result<(Tree, bool), RootfsError> {
        let (fd, root, created) = open_root(task, path, mode)?;
        let mut dirs = HashMap::new();
        dirs.insert(PathBuf::new(), fd);
        Ok((Tree { task, root, dirs }, created))
    }

    /// The fd of the root directory.
    pub(crate) fn root_fd(&self) -> BorrowedFd<'_> {
        self.fd(Path::new(""))
    }

    /// The absolute path of `rel`, for messages.
    pub(crate) fn path(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Whether the root directory has no entries.
    pub(crate) fn is_empty(&self) -> Result<bool, RootfsError> {
        let root = &self.dirs[Path::new("")];
        let err = |error: Errno| self.io("list", Path::new(""), error.into());
        let dir = rustix::fs::Dir::read_from(root).map_err(err)?;
        for entry in dir {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Makes sure directory `rel` exists, then sets its mode and owner.
    pub(crate) fn set_dir(&mut self, rel: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), RootfsError> {
        self.ensure_dir(rel)?;
        let fd = self.fd(rel);
        rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| self.io("chown", rel, e.into()))?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(|e| self.io("chmod", rel, e.into()))
    }

    /// Writes a regular file at `rel` from `contents`, replacing a file or link that is there.
    /// Returns the number of bytes written.
    pub(crate) fn write_file<R: Read + ?Sized>(
        &mut self,
        rel: &Path,
        mode: u32,
        uid: u32,
        gid: u32,
        contents: &mut R,
    ) -> Result<u64, RootfsError> {
        let name = self.slot(rel)?;
        let parent = self.fd(parent_of(rel));
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| self.io("create", rel, e.into()))?;
        let mut file = File::from(fd);
        let bytes = io::copy(contents, &mut file).map_err(|e| self.io("write", rel, e))?;
        // Owner first: chown clears the setuid and setgid bits that chmod then sets.
        rustix::fs::fchown(&file, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| self.io("chown", rel, e.into()))?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(|e| self.io("chmod", rel, e.into()))?;
        Ok(bytes)
    }

    /// Makes `rel` a symlink to `target`, replacing a file or link that is there.
    pub(crate) fn symlink(&mut self, rel: &Path, target: &Path, uid: u32, gid: u32) -> Result<(), RootfsError> {
        let name = self.slot(rel)?;
        let parent = self.fd(parent_of(rel));
        rustix::fs::symlinkat(target, parent, name).map_err(|e| self.io("symlink", rel, e.into()))?;
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        rustix::fs::chownat(parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.io("chown", rel, e.into()))
    }

    /// Opens the parent of `rel` and clears the entry's name: a file or symlink there is
    /// removed (it is ours to replace), a directory is an error (never deleted).
    /// Returns the entry's name.
    fn slot<'a>(&mut self, rel: &'a Path) -> Result<&'a OsStr, RootfsError> {
        let name = rel
            .file_name()
            .ok_or_else(|| self.io("create", rel, io::Error::from(io::ErrorKind::InvalidInput)))?;
        self.ensure_dir(parent_of(rel))?;
        let parent = self.fd(parent_of(rel));
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {}
            Err(e) => return Err(self.io("stat", rel, e.into())),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(RootfsError::IsADirectory {
                    task: self.task,
                    path: self.path(rel),
                });
            }
            Ok(_) => {
                rustix::fs::unlinkat(parent, name, AtFlags::empty()).map_err(|e| self.io("remove", rel, e.into()))?
            }
        }
        Ok(name)
    }

    /// Opens directory `rel` (relative to the root), creating missing components 0755 root:root.
    fn ensure_dir(&mut self, rel: &Path) -> Result<(), RootfsError> {
        let mut walked = PathBuf::new();
        for component in rel.components() {
            let Component::Normal(name) = component else {
                let error = io::Error::new(io::ErrorKind::InvalidInput, "not a plain relative path");
                return Err(self.io("open", rel, error));
            };
            let parent = walked.clone();
            walked.push(name);
            if self.dirs.contains_key(&walked) {
                continue;
            }
            let opened = open_component(self.dirs[&parent].as_fd(), name, Some(INNER_DIR_MODE));
            let (fd, _) = opened.map_err(|fail| match fail {
                Fail::Io(step, error) => self.io(step, &walked, error),
                Fail::Symlink => RootfsError::SymlinkInPath {
                    task: self.task,
                    path: self.path(rel),
                    symlink: self.path(&walked),
                },
            })?;
            self.dirs.insert(walked.clone(), fd);
        }
        Ok(())
    }

    /// The fd of directory `rel`, opened before by `ensure_dir`.
    fn fd(&self, rel: &Path) -> BorrowedFd<'_> {
        self.dirs[rel].as_fd()
    }

    fn io(&self, step: &'static str, rel: &Path, error: io::Error) -> RootfsError {
        RootfsError::Io {
            task: self.task,
            step,
            path: self.path(rel),
            error,
        }
    }
}

/// Opens (or creates with `mode`, missing ancestors 0700 root-owned) directory `path` one
/// component at a time without following a symlink, and refuses the host's root directory.
/// Returns the fd, the absolute path and whether the directory was created.
pub(crate) fn open_root(task: &'static str, path: &Path, mode: u32) -> Result<(OwnedFd, PathBuf, bool), RootfsError> {
    let root = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|error| RootfsError::Io {
            task,
            step: "resolve",
            path: path.to_path_buf(),
            error,
        })?;
        cwd.join(path)
    };
    let io_err = |step, at: &Path, error| RootfsError::Io {
        task,
        step,
        path: at.to_path_buf(),
        error,
    };

    let mut fd =
        rustix::fs::openat(CWD, "/", DIR_FLAGS, Mode::empty()).map_err(|e| io_err("open", Path::new("/"), e.into()))?;
    let mut walked = PathBuf::from("/");
    let mut created = false;
    let components: Vec<Component> = root.components().collect();
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            Component::ParentDir => {
                walked.push("..");
                fd = rustix::fs::openat(&fd, "..", DIR_FLAGS, Mode::empty())
                    .map_err(|e| io_err("open", &walked, e.into()))?;
                created = false;
            }
            Component::Normal(name) => {
                walked.push(name);
                let mode = if last { mode } else { ANCESTOR_MODE };
                let (next, made) = open_component(fd.as_fd(), name, Some(mode)).map_err(|fail| match fail {
                    Fail::Io(step, error) => io_err(step, &walked, error),
                    Fail::Symlink => RootfsError::SymlinkInPath {
                        task,
                        path: root.clone(),
                        symlink: walked.clone(),
                    },
                })?;
                fd = next;
                created = made;
            }
        }
    }

    // Never build over the host's own root, however the path spells it.
    let here = rustix::fs::fstat(&fd).map_err(|e| io_err("stat", &root, e.into()))?;
    let host = rustix::fs::stat("/").map_err(|e| io_err("stat", Path::new("/"), e.into()))?;
    if (here.st_dev, here.st_ino) == (host.st_dev, host.st_ino) {
        return Err(RootfsError::HostRoot { task, path: root });
    }

    Ok((fd, root, created))
}

/// The parent of a relative path (`""` for a top-level entry).
fn parent_of(rel: &Path) -> &Path {
    rel.parent().unwrap_or(Path::new(""))
}

/// Opens directory `name` under `parent` without following a symlink; with `create`, makes it
/// (that mode, owned by root) when it is missing. Returns the fd and whether it was created.
fn open_component(parent: BorrowedFd<'_>, name: &OsStr, create: Option<u32>) -> Result<(OwnedFd, bool), Fail> {
    match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => return Ok((fd, false)),
        Err(Errno::NOENT) if create.is_some() => {}
        // O_NOFOLLOW on a symlink gives ELOOP (or ENOTDIR with O_DIRECTORY): find out which.
        Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
            return match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => Err(Fail::Symlink),
                _ => Err(Fail::Io("open", e.into())),
            };
        }
        Err(e) => return Err(Fail::Io("open", e.into())),
    }
    let mode = create.unwrap_or(INNER_DIR_MODE);
    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(mode)) {
        Ok(()) => {}
        // Lost a race with another creator: open what is there (still never a symlink).
        Err(Errno::EXIST) => return open_component(parent, name, None),
        Err(e) => return Err(Fail::Io("mkdir", e.into())),
    }
    let (fd, _) = open_component(parent, name, None)?;
    // The umask and a setgid parent must not decide the mode or group.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(|e| Fail::Io("chmod", e.into()))?;
    rustix::fs::fchown(&fd, Some(Uid::ROOT), Some(Gid::ROOT)).map_err(|e| Fail::Io("chown", e.into()))?;
    Ok((fd, true))
}
