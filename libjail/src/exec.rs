//! Joining a running jail (`jailctl exec`, like FreeBSD's `jexec`).
//!
//! The jail's init is found by pid and checked by its start time (a pid can
//! be reused), then held by a pidfd so every `setns` refers to that very
//! process. The caller joins the jail's pid namespace for its children and
//! forks; the child joins every other namespace of the jail at once and
//! then runs *the same* jail-stage steps as the init (DESIGN §4 steps
//! 11–17: rlimits, closed fds, non-dumpable, new session, securebits,
//! bounding set, no_new_privs, Landlock, seccomp, ids, capabilities) before
//! it execs. Nothing of the host — privileges, descriptors, environment —
//! reaches the jail.

use std::os::fd::AsFd;

use crate::plan::{Console, Plan};
use crate::policy::Policy;
use crate::spawn::{self, Running, SpawnError, live};
use crate::{sync, sys};

/// What to run in which jail.
#[derive(Clone, Debug)]
pub struct ExecRequest {
    /// The jail's name (for messages).
    pub name: String,
    /// Host pid of the jail's init.
    pub pid: libc::pid_t,
    /// Its start time (field 22 of `/proc/PID/stat`), to detect pid reuse.
    pub pid_start: u64,
    /// The jail's effective policy: the confinement the process gets.
    pub policy: Policy,
    /// The command.
    pub argv: Vec<String>,
    /// Run as this user instead of the policy's.
    pub user: Option<String>,
    /// Extra environment, on top of the policy's.
    pub env: Vec<(String, String)>,
    /// Working directory instead of the policy's.
    pub workdir: Option<String>,
    /// A pty of the jail's devpts as the console.
    pub tty: bool,
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`).
pub fn start_time(pid: libc::pid_t) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: count from the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

fn not_running(req: &ExecRequest, why: &str) -> SpawnError {
    SpawnError::Io {
        step: "find the jail's init",
        source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("jail {}: {why}", req.name)),
    }
}

/// Run `req` in the jail and wait for it; its exit status (like
/// `jailctl run`). Single-threaded callers only (the clone has fork
/// semantics).
pub fn exec_in_jail(req: &ExecRequest) -> Result<i32, SpawnError> {
    let mut blocked = spawn::FORWARDED.to_vec();
    blocked.push(libc::SIGCHLD);
    let old = sys::block_signals(&blocked).map_err(|source| SpawnError::Io {
        step: "block signals",
        source,
    })?;
    let result = start(req).and_then(|running| spawn::wait(&running));
    let _ = sys::set_signal_mask(&old);
    result
}

/// Start `req` in the jail; the caller waits.
pub fn start(req: &ExecRequest) -> Result<Running, SpawnError> {
    // The jail's init, held by pidfd and checked by start time.
    let pidfd = sys::pidfd_open(req.pid).map_err(|_| not_running(req, "its init is gone"))?;
    if start_time(req.pid) != Some(req.pid_start) {
        return Err(not_running(req, "its init is gone (the pid was reused)"));
    }
    let mut policy = req.policy.clone();
    if let Some(u) = &req.user {
        policy.user = u.clone();
    }
    for (k, v) in &req.env {
        policy.env.insert(k.clone(), v.clone());
    }
    if let Some(w) = &req.workdir {
        policy.workdir = w.clone();
    }
    let console = if req.tty { Console::Pty } else { Console::Inherit };
    let plan = Plan::for_exec(&req.name, req.argv.clone(), policy, console)?;
    let (parent_sock, child_sock) = sync::pair().map_err(|source| SpawnError::Io {
        step: "socketpair",
        source,
    })?;
    // Our memory is copied into the child, which lives in the jail's pid
    // namespace: make it non-dumpable before the fork, so no jail process
    // can trace it or open the runtime through /proc/PID/exe.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(|source| SpawnError::Io {
        step: "set non-dumpable",
        source,
    })?;
    // Children are born in the jail's pid namespace.
    sys::setns(pidfd.as_fd(), libc::CLONE_NEWPID).map_err(|source| SpawnError::Io {
        step: "join the jail's pid namespace",
        source,
    })?;
    let Some(pid) = sys::clone_fork(0).map_err(|source| SpawnError::Io { step: "fork", source })? else {
        let mut k = live::Live::joining_with(&plan, pidfd, &child_sock);
        spawn::run_child(&mut k, &plan);
    };
    drop(child_sock);
    drop(pidfd);
    sync::send(parent_sock.as_fd(), &sync::ParentMsg::Go)?;
    spawn::await_exec(&parent_sock, pid, console)
}
