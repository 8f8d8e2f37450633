//! Typed messages between the parent and the jail's setup stage, one JSON
//! document per `SOCK_SEQPACKET` packet. Each `expect_*` accepts exactly the
//! variants it names and turns anything else into an error.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::sys;

/// A step of the child side of the spawn sequence (DESIGN §4, steps 4–17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    WaitForGo,
    MakePrivate,
    JoinNamespaces,
    BindRootfs,
    MountProc,
    MountSys,
    MountDev,
    Masks,
    VerifyMasks,
    Volumes,
    ReadonlyRoot,
    PivotRoot,
    Hostname,
    EnterUserNamespace,
    Rlimits,
    CloseFds,
    Dumpable,
    NewSession,
    Securebits,
    BoundingSet,
    NoNewPrivs,
    Landlock,
    Seccomp,
    Ids,
    Capabilities,
    Init,
    Ready,
    Exec,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Step::WaitForGo => "wait for the parent",
            Step::MakePrivate => "make mounts private",
            Step::JoinNamespaces => "join the holder namespaces",
            Step::BindRootfs => "bind the rootfs",
            Step::MountProc => "mount /proc",
            Step::MountSys => "mount /sys",
            Step::MountDev => "populate /dev",
            Step::Masks => "mask /proc and /sys paths",
            Step::VerifyMasks => "verify the masks",
            Step::Volumes => "mount volumes",
            Step::ReadonlyRoot => "make the root read-only",
            Step::PivotRoot => "pivot_root",
            Step::Hostname => "set the hostname",
            Step::EnterUserNamespace => "enter the jail's user namespace",
            Step::Rlimits => "set rlimits",
            Step::CloseFds => "close inherited descriptors",
            Step::Dumpable => "set dumpable",
            Step::NewSession => "start a new session",
            Step::Securebits => "lock securebits",
            Step::BoundingSet => "drop the bounding set",
            Step::NoNewPrivs => "set no_new_privs",
            Step::Landlock => "apply landlock",
            Step::Seccomp => "install seccomp",
            Step::Ids => "set user and group ids",
            Step::Capabilities => "set capabilities",
            Step::Init => "start the built-in init",
            Step::Ready => "report ready",
            Step::Exec => "exec",
        };
        f.write_str(s)
    }
}

/// Parent → child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentMsg {
    /// The parent has placed the child (cgroup, network): go on.
    Go,
}

/// Child → parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildMsg {
    /// Every step before exec succeeded; the payload is about to be exec'd.
    /// Carries the Landlock status in words (`None` when Landlock is off).
    Ready { landlock: Option<String> },
    /// The master of the jail's console pty rides along (SCM_RIGHTS).
    Console,
    /// The listener of the reboot filter rides along (SCM_RIGHTS).
    Notify,
    /// A step failed: which, the errno, and what it was working on.
    SetupFailed { step: Step, errno: i32, detail: String },
    /// `execve` of the payload failed.
    ExecFailed { errno: i32, path: String },
}

/// A protocol error on the sync socket.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync socket: {0}")]
    Io(#[from] io::Error),
    #[error("sync socket: malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("sync socket: the other side closed it while waiting for {0}")]
    Closed(&'static str),
    #[error("sync socket: expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: String },
}

/// A connected `SOCK_SEQPACKET` pair, both ends close-on-exec.
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(io::Error::from)
}

/// Send one message.
pub fn send<T: Serialize>(fd: BorrowedFd<'_>, msg: &T) -> Result<(), SyncError> {
    let bytes = serde_json::to_vec(msg)?;
    sys::write_all(fd, &bytes)?;
    Ok(())
}

/// Send one message with a descriptor attached (SCM_RIGHTS).
pub fn send_with_fd<T: Serialize>(fd: BorrowedFd<'_>, msg: &T, attached: BorrowedFd<'_>) -> Result<(), SyncError> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let bytes = serde_json::to_vec(msg)?;
    let iov = [io::IoSlice::new(&bytes)];
    let fds = [attached.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(fd.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(io::Error::from)?;
    Ok(())
}

/// Receive one message and the descriptor attached to it, if any.
pub fn recv_with_fd<T: for<'de> Deserialize<'de>>(
    fd: BorrowedFd<'_>,
) -> Result<Option<(T, Option<OwnedFd>)>, SyncError> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg_space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (n, attached) = {
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let mut attached = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // The kernel just installed this descriptor for us.
                    let owned = crate::sys::take_fd(raw);
                    if attached.is_none() {
                        attached = owned;
                    }
                }
            }
        }
        (msg.bytes, attached)
    };
    if n == 0 {
        return Ok(None);
    }
    Ok(Some((serde_json::from_slice(&buf[..n])?, attached)))
}

/// Receive one message; `None` when the peer closed the socket.
pub fn recv<T: for<'de> Deserialize<'de>>(fd: BorrowedFd<'_>) -> Result<Option<T>, SyncError> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = sys::read(fd, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(serde_json::from_slice(&buf[..n])?))
}

/// Wait for `Go`.
pub fn expect_go(fd: &OwnedFd) -> Result<(), SyncError> {
    match recv::<ParentMsg>(fd.as_fd())? {
        Some(ParentMsg::Go) => Ok(()),
        None => Err(SyncError::Closed("go")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        send(
            a.as_fd(),
            &ChildMsg::SetupFailed {
                step: Step::MountProc,
                errno: 1,
                detail: "/proc".into(),
            },
        )
        .unwrap();
        send(a.as_fd(), &ChildMsg::Ready { landlock: None }).unwrap();
        assert_eq!(
            recv::<ChildMsg>(b.as_fd()).unwrap(),
            Some(ChildMsg::SetupFailed {
                step: Step::MountProc,
                errno: 1,
                detail: "/proc".into()
            })
        );
        assert_eq!(
            recv::<ChildMsg>(b.as_fd()).unwrap(),
            Some(ChildMsg::Ready { landlock: None })
        );
        send(b.as_fd(), &ParentMsg::Go).unwrap();
        expect_go(&a).unwrap();
        drop(b);
        assert!(matches!(expect_go(&a), Err(SyncError::Closed(_))));
    }
}
