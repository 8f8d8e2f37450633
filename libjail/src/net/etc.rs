//! `/etc/hosts` and `/etc/resolv.conf` written into a jail's rootfs, by file
//! descriptor: every path is resolved inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so a symlink in the
//! jail's tree (`/etc/resolv.conf -> ../run/...` is common) is followed
//! *inside* the rootfs and can never lead to a host file.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::unistd::{Gid, Uid, UnlinkatFlags};

use super::NetError;
use super::addr::IpNet;
use crate::policy::NetworkPolicy;

/// The files to write; `None` leaves a file alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcFiles {
    /// The text of `/etc/hosts`.
    pub hosts: Option<String>,
    /// The text of `/etc/resolv.conf`.
    pub resolv: Option<String>,
}

impl EtcFiles {
    /// What `policy` asks for: `/etc/hosts` with localhost and `addresses`
    /// under `hostname` when `write_hosts`, `/etc/resolv.conf` with the
    /// name servers when `write_resolv`.
    pub fn for_jail(policy: &NetworkPolicy, hostname: &str, addresses: &[IpNet]) -> EtcFiles {
        let hosts = policy.write_hosts.then(|| {
            let mut text = String::from("# written by jaild\n127.0.0.1\tlocalhost\n");
            text.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
            for net in addresses {
                text.push_str(&format!("{}\t{hostname}\n", net.addr));
            }
            if addresses.is_empty() {
                text.push_str(&format!("127.0.1.1\t{hostname}\n"));
            }
            text
        });
        let resolv = policy.write_resolv.then(|| {
            let mut text = String::from("# written by jaild\n");
            for ns in policy.nameserver_addrs() {
                text.push_str(&format!("nameserver {ns}\n"));
            }
            text
        });
        EtcFiles { hosts, resolv }
    }
}

const RESOLVE: u64 = libc::RESOLVE_NO_MAGICLINKS;

/// Writes `files` into the rootfs whose root directory is `root` (an fd of
/// the host side, before the jail starts): `/etc` is created when missing;
/// an existing file is truncated and rewritten (it must be a regular file);
/// a missing one (or a dangling symlink) is created with mode 0644, owned
/// like `/etc`.
pub fn write_etc(root: BorrowedFd<'_>, files: &EtcFiles) -> Result<(), NetError> {
    for (name, text) in [("hosts", &files.hosts), ("resolv.conf", &files.resolv)] {
        if let Some(text) = text {
            write_one(root, name, text).map_err(|e| NetError::io(format!("write the jail's /etc/{name}"), e))?;
        }
    }
    Ok(())
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `/etc` of the rootfs, created when missing.
fn etc_dir(root: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = (libc::O_RDONLY | libc::O_DIRECTORY) as u64;
    match crate::sys::openat2_in_root(root, c"etc", flags, RESOLVE) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            crate::sys::mkdirat(root, c"etc", 0o755)?;
            crate::sys::openat2_in_root(root, c"etc", flags, RESOLVE)
        }
        other => other,
    }
}

fn write_one(root: BorrowedFd<'_>, name: &str, text: &str) -> io::Result<()> {
    let path = cstr(&format!("etc/{name}"))?;
    // O_PATH first: no open of a device node or FIFO a hostile rootfs put
    // there, only a look at what it is.
    let existing = crate::sys::openat2_in_root(root, &path, libc::O_PATH as u64, RESOLVE);
    let fd = match existing {
        Ok(at) => {
            let st = crate::sys::fstat(at.as_fd())?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(io::Error::other(format!(
                    "/etc/{name} in the jail is not a regular file"
                )));
            }
            // Reopen that very inode for writing.
            let fd = OwnedFd::from(
                std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
                    .open(format!("/proc/thread-self/fd/{}", at.as_raw_fd()))?,
            );
            nix::unistd::ftruncate(&fd, 0).map_err(io::Error::from)?;
            fd
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => create(root, name)?,
        Err(e) => return Err(e),
    };
    let mut file = File::from(fd);
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Creates `/etc/NAME` (replacing a dangling symlink), owned like `/etc`.
fn create(root: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let etc = etc_dir(root)?;
    let cname = cstr(name)?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let fd = match crate::sys::openat(etc.as_fd(), &cname, flags, 0o644) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            // A dangling symlink (openat2 found no target): replace it.
            nix::unistd::unlinkat(&etc, cname.as_c_str(), UnlinkatFlags::NoRemoveDir).map_err(io::Error::from)?;
            crate::sys::openat(etc.as_fd(), &cname, flags, 0o644)?
        }
        other => other?,
    };
    let st = crate::sys::fstat(etc.as_fd())?;
    nix::unistd::fchown(&fd, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)))
        .map_err(io::Error::from)?;
    Ok(fd)
}

/// The name servers of the host's `/etc/resolv.conf` that a jail on a
/// bridge could use (not loopback ones, which are the host's own).
pub fn host_nameservers() -> Vec<IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .filter(|a| !a.is_loopback())
        .collect()
}
