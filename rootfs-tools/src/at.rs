//! Fd-relative file operations shared by `unpack`, `shift` and `check`.
//!
//! Paths inside a rootfs are resolved with `openat2(RESOLVE_IN_ROOT)` (a symlink, however
//! absolute or full of `..`, stays inside the tree, as it would in the jail) or one component at
//! a time relative to a directory fd with `O_NOFOLLOW`; never as a path string from `/`. Extended
//! attributes have no `*at` calls before Linux 6.13, so they go through
//! `/proc/self/fd/DIRFD/NAME` with the `l*xattr` calls (the directory is pinned by its fd and
//! the last component is not followed) or through `/proc/self/fd/FD` of an `O_PATH` fd.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags, Statx, StatxFlags};
use rustix::io::Errno;

use crate::RootfsError;

/// How paths are resolved inside a rootfs: `/` and `..` stop at the root, no magic links
/// (`/proc/self/root`), no crossing into another mount.
pub(crate) const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// A directory opened for listing, never through a symlink.
pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// What `statx` is asked for: type, mode, owner, inode, links, size, and the mount id.
pub(crate) const STATX_WANT: StatxFlags = StatxFlags::BASIC_STATS.union(StatxFlags::MNT_ID);

/// Opens `rel` inside the tree rooted at `root`, resolved as in a chroot.
pub(crate) fn resolve(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    Ok(rustix::fs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )?)
}

/// `statx` of `name` in `dir` without following a symlink.
pub(crate) fn lstat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Statx> {
    Ok(rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, STATX_WANT)?)
}

/// `statx` of an open fd.
pub(crate) fn fstatx(fd: BorrowedFd<'_>) -> io::Result<Statx> {
    Ok(rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, STATX_WANT)?)
}

/// The file type of a `statx` result.
pub(crate) fn file_type(st: &Statx) -> FileType {
    FileType::from_raw_mode(u32::from(st.stx_mode))
}

/// The names in directory `dir`, without `.` and `..`.
pub(crate) fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    Ok(names)
}

/// `/proc/self/fd/FD` (and `/NAME` below it): the path through which the `l*xattr` calls reach
/// the file an fd holds, or entry `NAME` of the directory an fd holds.
pub(crate) fn proc_path(fd: BorrowedFd<'_>, name: Option<&OsStr>) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    if let Some(name) = name {
        path.push(name);
    }
    path
}

thread_local! {
    /// Whether this thread has a working directory of its own (`unshare(CLONE_FS)`).
    static PRIVATE_CWD: Cell<bool> = const { Cell::new(false) };
    /// The directory (by walk node id) this thread's working directory is.
    static CWD_NODE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Gives the calling thread a working directory of its own, so [`enter`] can point it at the
/// directory being walked and attribute calls can name entries relative to it: an
/// `l*xattr(NAME)` relative to the working directory costs a sixth of one through
/// `/proc/self/fd/DIR/NAME`. Best effort: without it, calls go through `/proc`.
pub(crate) fn private_cwd() {
    if libjail::sys::unshare(libc::CLONE_FS).is_ok() {
        PRIVATE_CWD.set(true);
    }
}

/// Makes `dir` (walk node `id`) this thread's working directory, if it has one of its own.
pub(crate) fn enter(dir: BorrowedFd<'_>, id: u64) {
    if PRIVATE_CWD.get() && CWD_NODE.get() != Some(id) {
        CWD_NODE.set(rustix::process::fchdir(dir).ok().map(|()| id));
    }
}

/// Whether this thread's working directory is walk node `id`.
pub(crate) fn in_cwd(id: u64) -> bool {
    PRIVATE_CWD.get() && CWD_NODE.get() == Some(id)
}

/// Where an extended-attribute call goes.
#[derive(Clone, Copy)]
pub(crate) enum Xt<'a> {
    /// An fd opened for reading (a directory we walk): the `f*xattr` calls.
    Fd(BorrowedFd<'a>),
    /// An `O_PATH` fd: `/proc/self/fd/FD`, following that magic link to exactly its inode.
    Pinned(BorrowedFd<'a>),
    /// Entry `NAME` of directory fd `DIR`: `/proc/self/fd/DIR/NAME` with the `l*xattr` calls,
    /// which do not follow `NAME` if it is a symlink.
    At(BorrowedFd<'a>, &'a OsStr),
    /// Entry `NAME` of this thread's working directory (see [`enter`]), with the `l*xattr` calls.
    Cwd(&'a OsStr),
}

/// The names of the extended attributes of `target`.
pub(crate) fn list_xattrs(target: Xt<'_>) -> io::Result<Vec<OsString>> {
    let call = |buf: &mut [u8]| -> rustix::io::Result<usize> {
        match target {
            Xt::Fd(fd) => rustix::fs::flistxattr(fd, buf),
            Xt::Pinned(fd) => rustix::fs::listxattr(proc_path(fd, None), buf),
            Xt::At(dir, name) => rustix::fs::llistxattr(proc_path(dir, Some(name)), buf),
            Xt::Cwd(name) => rustix::fs::llistxattr(name, buf),
        }
    };
    let mut buf = [0u8; 1024];
    match call(&mut buf[..]) {
        Ok(len) => Ok(split_names(&buf[..len])),
        Err(Errno::NOTSUP) => Ok(Vec::new()),
        Err(Errno::RANGE) => {
            let mut big = vec![0u8; 1 << 16];
            let len = call(&mut big[..])?;
            Ok(split_names(&big[..len]))
        }
        Err(e) => Err(e.into()),
    }
}

fn split_names(list: &[u8]) -> Vec<OsString> {
    list.split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| OsString::from_vec(n.to_vec()))
        .collect()
}

/// The value of attribute `name` of `target`, `None` when it is not set.
pub(crate) fn get_xattr(target: Xt<'_>, name: &str) -> io::Result<Option<Vec<u8>>> {
    let call = |buf: &mut [u8]| -> rustix::io::Result<usize> {
        match target {
            Xt::Fd(fd) => rustix::fs::fgetxattr(fd, name, buf),
            Xt::Pinned(fd) => rustix::fs::getxattr(proc_path(fd, None), name, buf),
            Xt::At(dir, entry) => rustix::fs::lgetxattr(proc_path(dir, Some(entry)), name, buf),
            Xt::Cwd(entry) => rustix::fs::lgetxattr(entry, name, buf),
        }
    };
    let mut buf = [0u8; 512];
    match call(&mut buf[..]) {
        Ok(len) => Ok(Some(buf[..len].to_vec())),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(None),
        Err(Errno::RANGE) => {
            let mut big = vec![0u8; 1 << 16];
            let len = call(&mut big[..])?;
            big.truncate(len);
            Ok(Some(big))
        }
        Err(e) => Err(e.into()),
    }
}

/// Sets attribute `name` of `target` to `value`.
pub(crate) fn set_xattr(target: Xt<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    let flags = rustix::fs::XattrFlags::empty();
    Ok(match target {
        Xt::Fd(fd) => rustix::fs::fsetxattr(fd, name, value, flags),
        Xt::Pinned(fd) => rustix::fs::setxattr(proc_path(fd, None), name, value, flags),
        Xt::At(dir, entry) => rustix::fs::lsetxattr(proc_path(dir, Some(entry)), name, value, flags),
        Xt::Cwd(entry) => rustix::fs::lsetxattr(entry, name, value, flags),
    }?)
}

/// Removes attribute `name` of `target` (no error when it is not set).
pub(crate) fn remove_xattr(target: Xt<'_>, name: &str) -> io::Result<()> {
    let result = match target {
        Xt::Fd(fd) => rustix::fs::fremovexattr(fd, name),
        Xt::Pinned(fd) => rustix::fs::removexattr(proc_path(fd, None), name),
        Xt::At(dir, entry) => rustix::fs::lremovexattr(proc_path(dir, Some(entry)), name),
        Xt::Cwd(entry) => rustix::fs::lremovexattr(entry, name),
    };
    match result {
        Ok(()) | Err(Errno::NODATA) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens `name` in `dir` as an `O_PATH` fd without following it, checked to be the inode `st`
/// describes (so a name swapped since `st` was taken is refused, not followed).
pub(crate) fn pin(dir: BorrowedFd<'_>, name: &OsStr, st: &Statx) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    let now = fstatx(fd.as_fd())?;
    if (now.stx_ino, now.stx_mnt_id) != (st.stx_ino, st.stx_mnt_id) {
        return Err(io::Error::other("the entry changed while it was being worked on"));
    }
    Ok(fd)
}

/// `chmod` of a pinned (`O_PATH`) fd: through its `/proc/self/fd` magic link, which names
/// exactly that inode.
pub(crate) fn chmod_pinned(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::chmod(proc_path(fd, None), Mode::from_raw_mode(mode))?)
}

/// Removes `name` from `parent`: a directory with everything in it, depth first, one fd-relative
/// step at a time, never following a symlink and never entering another mount (`mnt_id`).
pub(crate) fn remove_tree(parent: BorrowedFd<'_>, name: &OsStr, mnt_id: u64) -> io::Result<()> {
    let st = lstat(parent, name)?;
    if file_type(&st) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?);
    }
    if st.stx_mnt_id != mnt_id {
        return Err(io::Error::other("a mount point; refusing to remove across mounts"));
    }
    let dir = rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())?;
    for child in list(dir.as_fd())? {
        remove_tree(dir.as_fd(), &child, mnt_id)?;
    }
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

/// Opens an existing directory to work on (shift, check): the path may contain no symlink, and
/// the host's root directory is refused.
pub(crate) fn open_existing(task: &'static str, path: &Path) -> Result<(OwnedFd, PathBuf), RootfsError> {
    let abs = std::path::absolute(path).map_err(|error| RootfsError::Io {
        task,
        step: "resolve",
        path: path.to_path_buf(),
        error,
    })?;
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let fd = rustix::fs::openat2(CWD, &abs, DIR_FLAGS, Mode::empty(), resolve).map_err(|e| match e {
        Errno::LOOP => RootfsError::SymlinkInPath {
            task,
            path: abs.clone(),
            symlink: first_symlink(&abs).unwrap_or_else(|| abs.clone()),
        },
        e => RootfsError::Io {
            task,
            step: "open",
            path: abs.clone(),
            error: e.into(),
        },
    })?;
    let here = rustix::fs::fstat(&fd).map_err(|e| RootfsError::Io {
        task,
        step: "stat",
        path: abs.clone(),
        error: e.into(),
    })?;
    let host = rustix::fs::stat("/").map_err(|e| RootfsError::Io {
        task,
        step: "stat",
        path: "/".into(),
        error: e.into(),
    })?;
    if (here.st_dev, here.st_ino) == (host.st_dev, host.st_ino) {
        return Err(RootfsError::HostRoot { task, path: abs });
    }
    Ok((fd, abs))
}

/// The first component of `path` that is a symlink, for messages.
fn first_symlink(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|p| p.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()))
        .map(Path::to_path_buf)
}

/// `name` as a C-compatible byte string check: no NUL, not empty, no `/`.
pub(crate) fn is_plain_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/') && !b.contains(&0)
}
