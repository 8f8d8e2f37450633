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
}

/// Create the holder namespaces with `uid_map` and `gid_map`.
///
/// `setgroups` is left at "allow": the maps are written by host root, which
/// is the privileged case; an unprivileged caller (a later issue) writes
/// "deny" first.
pub fn create_holder(uid_map: &IdMap, gid_map: &IdMap) -> Result<Holder, NsError> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| NsError::Pipe(e.into()))?;
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;
    let pid = match sys::clone_fork(flags).map_err(NsError::Clone)? {
        None => {
            // Child: wait until the parent closes its end, then leave.
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
    sys::waitpid(pid, 0).map_err(NsError::Wait)?;
    result
}
