//! The jail's root directory: opened once, by fd, after checking the path.
//!
//! Two checks (DESIGN §5): the path must contain no symlink (a symlink in
//! an admin-controlled path can be swapped to redirect the jail), and some
//! parent directory must keep non-root host users out — files in an
//! untranslated rootfs are owned by real low uids, setuid-root programs
//! included, so the tree must not be reachable by ordinary host users (the
//! way `/var/lib/lxc` is mode 0700).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys;

/// Why a root directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The path is not absolute after resolving the working directory.
    #[error("rootfs {path}: cannot resolve the path: {source}")]
    Resolve { path: PathBuf, source: io::Error },
    /// The path does not exist.
    #[error("rootfs {path}: no such directory")]
    Missing { path: PathBuf },
    /// The path is not a directory.
    #[error("rootfs {path}: not a directory")]
    NotDirectory { path: PathBuf },
    /// A component of the path is a symlink.
    #[error(
        "rootfs {path}: the path contains a symlink; give the real path (`realpath {path}`) so it cannot be redirected"
    )]
    Symlink { path: PathBuf },
    /// Opening the path failed for another reason.
    #[error("rootfs {path}: open: {source}")]
    Open { path: PathBuf, source: io::Error },
    /// Every parent lets non-root users through.
    #[error(
        "rootfs {path}: every parent directory lets non-root host users reach the tree (files in it keep their real owners, setuid-root programs included); make a parent private, e.g. `chmod 700 {suggest}`"
    )]
    Reachable { path: PathBuf, suggest: PathBuf },
}

/// An opened, checked root directory.
#[derive(Debug)]
pub struct Rootfs {
    /// The absolute path as given (no symlinks in it).
    pub path: PathBuf,
    /// An `O_PATH` descriptor of the directory.
    pub fd: OwnedFd,
}

/// Make `path` absolute against the working directory without following
/// anything (`..` is refused later by the no-symlink open, which resolves it
/// lexically as the kernel does).
fn absolute(path: &Path) -> Result<PathBuf, RootfsError> {
    std::path::absolute(path).map_err(|source| RootfsError::Resolve {
        path: path.to_path_buf(),
        source,
    })
}

fn cstring(path: &Path) -> Result<CString, RootfsError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| RootfsError::Resolve {
        path: path.to_path_buf(),
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })
}

/// Open the jail root at `path` after the two checks above.
pub fn open_checked(path: &Path) -> Result<Rootfs, RootfsError> {
    let abs = absolute(path)?;
    let c = cstring(&abs)?;
    let flags = (libc::O_PATH | libc::O_DIRECTORY) as u64;
    let fd =
        sys::openat2_cwd(&c, flags, libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS).map_err(|source| {
            match source.raw_os_error() {
                Some(libc::ENOENT) => RootfsError::Missing { path: abs.clone() },
                Some(libc::ENOTDIR) if abs.exists() && !abs.is_dir() => RootfsError::NotDirectory { path: abs.clone() },
                Some(libc::ELOOP) => RootfsError::Symlink { path: abs.clone() },
                Some(libc::ENOTDIR) => RootfsError::Symlink { path: abs.clone() },
                _ => RootfsError::Open {
                    path: abs.clone(),
                    source,
                },
            }
        })?;
    check_private_parent(&abs)?;
    Ok(Rootfs { path: abs, fd })
}

/// Whether some strict ancestor of `path` keeps non-root users out: owned by
/// root, and neither group (unless the group is root's) nor others may
/// search it.
fn check_private_parent(path: &Path) -> Result<(), RootfsError> {
    let mut closed = false;
    for ancestor in path.ancestors().skip(1) {
        let c = cstring(ancestor)?;
        let fd = sys::openat2_cwd(&c, (libc::O_PATH | libc::O_DIRECTORY) as u64, libc::RESOLVE_NO_SYMLINKS).map_err(
            |source| RootfsError::Open {
                path: ancestor.to_path_buf(),
                source,
            },
        )?;
        let st = sys::fstat(fd.as_fd()).map_err(|source| RootfsError::Open {
            path: ancestor.to_path_buf(),
            source,
        })?;
        let others_search = st.st_mode & 0o001 != 0;
        let group_search = st.st_mode & 0o010 != 0 && st.st_gid != 0;
        if st.st_uid == 0 && !others_search && !group_search {
            closed = true;
            break;
        }
    }
    if closed {
        return Ok(());
    }
    let suggest = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Err(RootfsError::Reachable {
        path: path.to_path_buf(),
        suggest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn accepts_a_root_under_a_private_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir(&root).unwrap();
        if sys::geteuid() != 0 {
            // the private parent must be root-owned; as a normal user the
            // check rightly refuses.
            assert!(matches!(open_checked(&root), Err(RootfsError::Reachable { .. })));
            return;
        }
        open_checked(&root).unwrap();
    }

    #[test]
    fn refuses_symlinks_files_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir(&root).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        assert!(matches!(open_checked(&link), Err(RootfsError::Symlink { .. })));
        assert!(matches!(
            open_checked(&link.join("x")),
            Err(RootfsError::Symlink { .. })
        ));
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(open_checked(&file), Err(RootfsError::NotDirectory { .. })));
        assert!(matches!(
            open_checked(&dir.path().join("nope")),
            Err(RootfsError::Missing { .. })
        ));
    }

    #[test]
    fn refuses_a_reachable_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir(&root).unwrap();
        let err = open_checked(&root).unwrap_err();
        assert!(matches!(err, RootfsError::Reachable { .. }), "{err}");
        assert!(err.to_string().contains("chmod 700"));
    }
}
