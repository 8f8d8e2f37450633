//! Namespaces: the holder (the jail's user namespace owning its uts, ipc and
//! net namespaces) created by the parent, and the id maps written for it.
//!
//! The holder is one `clone(CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWIPC |
//! CLONE_NEWNET)`: the child only waits while the parent writes its maps and
//! opens its namespace files, then exits. The descriptors keep the
//! namespaces alive (DESIGN §4 step 2).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use crate::idmap::IdMap;
use crate::sys;

/// The jail's namespaces, held by descriptor.
#[derive(Debug)]
pub struct Holder {
    pub user: OwnedFd,
    pub uts: OwnedFd,
    pub ipc: OwnedFd,
    pub net: OwnedFd,
}

/// Creating the holder failed.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("holder namespaces: clone: {0}")]
    Clone(io::Error),
    #[error("holder namespaces: pipe: {0}")]
    Pipe(io::Error),
    #[error("holder namespaces: write {path}: {source}")]
    WriteMap { path: PathBuf, source: io::Error },
    #[error("holder namespaces: open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("holder namespaces: wait for the holder: {0}")]
    Wait(io::Error),
    #[error(
        "holder namespaces: set user.max_user_namespaces = 0 in the jail's user namespace failed (holder exit status {0})"
    )]
    LimitUserns(i32),
}

/// Create the holder namespaces with `uid_map` and `gid_map`.
///
/// `setgroups` is left at "allow": the maps are written by host root, which
/// is the privileged case; an unprivileged caller (a later issue) writes
/// "deny" first.
///
/// With `limit_userns`, the holder (which holds every capability in the new
/// user namespace) sets `user.max_user_namespaces` to 0 *in* that namespace
/// before it leaves: nothing in the jail can create a nested user namespace
/// even if seccomp let the call through (bubblewrap's `--disable-userns`
/// pattern), and `/proc/sys` is read-only inside, so it cannot be raised.
pub fn create_holder(uid_map: &IdMap, gid_map: &IdMap, limit_userns: bool) -> Result<Holder, NsError> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| NsError::Pipe(e.into()))?;
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;
    let pid = match sys::clone_fork(flags).map_err(NsError::Clone)? {
        None => {
            // Child: optionally limit nested user namespaces, then wait
            // until the parent closes its end, and leave.
            drop(wr);
            let limited = !limit_userns || std::fs::write("/proc/sys/user/max_user_namespaces", b"0").is_ok();
            let mut b = [0u8; 1];
            let _ = sys::read(rd.as_fd(), &mut b);
            sys::exit_now(if limited { 0 } else { 3 });
        }
        Some(pid) => pid,
    };
    drop(rd);
    let result = (|| {
        let base = PathBuf::from(format!("/proc/{pid}"));
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let path = base.join(file);
            std::fs::write(&path, map.to_proc()).map_err(|source| NsError::WriteMap { path, source })?;
        }
        let open = |ns: &str| {
            let path = base.join("ns").join(ns);
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .map_err(|source| NsError::Open { path, source })
        };
        Ok(Holder {
            user: open("user")?,
            uts: open("uts")?,
            ipc: open("ipc")?,
            net: open("net")?,
        })
    })();
    // Release the holder whatever happened: the descriptors keep its
    // namespaces alive.
    drop(wr);
    let status = sys::waitpid(pid, 0).map_err(NsError::Wait)?.map_or(0, |(_, st)| st);
    let holder = result?;
    if status != 0 {
        return Err(NsError::LimitUserns(status));
    }
    Ok(holder)
}

/// A bare user namespace with `uid_map` and `gid_map`, for an idmapped
/// volume mount: its descriptor is all `mount_setattr(MOUNT_ATTR_IDMAP)`
/// needs.
pub fn create_userns(uid_map: &IdMap, gid_map: &IdMap) -> Result<OwnedFd, NsError> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| NsError::Pipe(e.into()))?;
    let pid = match sys::clone_fork(libc::CLONE_NEWUSER).map_err(NsError::Clone)? {
        None => {
            drop(wr);
            let mut b = [0u8; 1];
            let _ = sys::read(rd.as_fd(), &mut b);
            sys::exit_now(0);
        }
        Some(pid) => pid,
    };
    drop(rd);
    let result = (|| {
        let base = PathBuf::from(format!("/proc/{pid}"));
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let path = base.join(file);
            std::fs::write(&path, map.to_proc()).map_err(|source| NsError::WriteMap { path, source })?;
        }
        let path = base.join("ns/user");
        std::fs::File::open(&path)
            .map(OwnedFd::from)
            .map_err(|source| NsError::Open { path, source })
    })();
    drop(wr);
    sys::waitpid(pid, 0).map_err(NsError::Wait)?;
    result
}
