//! The spawn sequence (DESIGN §4), parent side: one linear function, one
//! commented step per line. The child side is [`stages`], run for real by
//! [`live::Live`].
//!
//! The caller must be single-threaded and freshly exec'd (`jailctl run`, or
//! the `jail-init` helper that the daemon starts): the clones below have
//! fork semantics.

pub mod live;
pub mod stages;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::plan::{Console, Plan};
use crate::sync::{self, ChildMsg, ParentMsg, Step};
use crate::{ns, rootfs, sys};

/// What went wrong while starting or running a jail.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Namespaces(#[from] ns::NsError),
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
    #[error("spawn: {step}: {source}")]
    Io { step: &'static str, source: io::Error },
    #[error("{step}: {detail}: {}", io::Error::from_raw_os_error(*errno))]
    Setup { step: Step, errno: i32, detail: String },
    #[error("exec {path}: {}", exec_reason(*errno))]
    Exec { path: String, errno: i32 },
    #[error("spawn: the jail's setup stage died before reporting ({0})")]
    Died(String),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
}

fn exec_reason(errno: i32) -> String {
    match errno {
        libc::ENOENT => "command not found in the jail".to_string(),
        _ => io::Error::from_raw_os_error(errno).to_string(),
    }
}

impl SpawnError {
    /// The exit status `jailctl run` reports: 127 when the command is not
    /// found, 126 when it cannot be executed, 125 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::Exec {
                errno: libc::ENOENT, ..
            } => 127,
            SpawnError::Exec { .. } => 126,
            _ => 125,
        }
    }
}

fn io_step(step: &'static str) -> impl FnOnce(io::Error) -> SpawnError {
    move |source| SpawnError::Io { step, source }
}

/// A started jail: the host pid of its pid 1 and the parent's ends.
#[derive(Debug)]
pub struct Running {
    /// Host pid of the jail's init (the setup stage, now the payload).
    pub pid: libc::pid_t,
    /// The pty master when the plan asked for one.
    pub pty: Option<OwnedFd>,
    /// The Landlock status in words (`None` when off).
    pub landlock: Option<String>,
    /// The reboot filter's listener when the plan intercepts `reboot`.
    pub notify: Option<OwnedFd>,
    /// The jail's cgroup, when the plan has one.
    pub cgroup: Option<crate::cgroup::Cgroup>,
    /// What the network setup made (undone by [`Running::cleanup`]).
    pub net: Option<crate::net::NetSetup>,
}

impl Running {
    /// Once the jail's init has ended: kill anything left in its cgroup,
    /// remove the cgroup, remove the host side of its network.
    pub fn cleanup(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.kill_all() {
                tracing::warn!(error = %e, "kill what is left in the jail's cgroup");
            }
            if let Err(e) = cg.remove() {
                tracing::warn!(error = %e, "remove the jail's cgroup");
            }
        }
        if let Some(net) = self.net.take()
            && let Err(e) = net.teardown()
        {
            tracing::warn!(error = %e, "remove the jail's network");
        }
    }
}

/// Resources made for a jail before its setup stage exists, undone if a
/// later step fails.
#[derive(Default)]
struct Made {
    cgroup: Option<crate::cgroup::Cgroup>,
    net: Option<crate::net::NetSetup>,
}

impl Made {
    fn undo(&mut self) {
        let mut r = Running {
            pid: 0,
            pty: None,
            landlock: None,
            notify: None,
            cgroup: self.cgroup.take(),
            net: self.net.take(),
        };
        r.cleanup();
    }
}

/// Signals the parent forwards to the jail (blocked while it runs).
pub const FORWARDED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// Start the jail described by `plan` (DESIGN §4 steps 1–3 and 17).
///
/// The caller has blocked the signals it wants to handle: the child
/// inherits the mask and clears it right before the payload's exec.
pub fn spawn(plan: &Plan) -> Result<Running, SpawnError> {
    let mut made = Made::default();
    match spawn_inner(plan, &mut made) {
        Ok(mut running) => {
            running.cgroup = made.cgroup.take();
            running.net = made.net.take();
            Ok(running)
        }
        Err(e) => {
            made.undo();
            Err(e)
        }
    }
}

fn spawn_inner(plan: &Plan, made: &mut Made) -> Result<Running, SpawnError> {
    // 1. open the rootfs by fd: no symlink in its path, a private parent
    let root = rootfs::open_checked(&plan.rootfs)?;
    // 1. the typed sync channel
    let (parent_sock, child_sock) = sync::pair().map_err(io_step("socketpair"))?;
    // 2. holder: the jail's user namespace with uts, ipc and net; id maps
    // 1. the cgroup, below our own
    if plan.cgroup {
        made.cgroup = Some(crate::cgroup::Cgroup::create(&plan.name, &plan.policy.resources)?);
    }
    let holder = ns::create_holder(&plan.uid_map, &plan.gid_map, plan.limit_userns)?;
    // 2. the network the policy grants, into the holder's netns; /etc files
    if plan.policy.network.mode != crate::policy::NetMode::None {
        made.net = Some(crate::net::setup(
            holder.net.as_fd(),
            &plan.name,
            &plan.policy.network,
            &plan.addresses,
        )?);
        let host = plan.policy.hostname.clone().unwrap_or_else(|| plan.name.clone());
        let files = crate::net::EtcFiles::for_jail(&plan.policy.network, &host, &plan.addresses);
        crate::net::write_etc(root.fd.as_fd(), &files)?;
    }
    // 2. the rootfs as a detached clone: nosuid/nodev, idmapped with the holder's user namespace
    let userns = plan.idmapped_rootfs.then(|| holder.user.as_fd());
    let rp = &plan.policy.rootfs;
    let tree = crate::mount::clone_rootfs(
        root.fd.as_fd(),
        &plan.rootfs.to_string_lossy(),
        userns,
        rp.nosuid,
        rp.nodev,
    )
    .map_err(|e| SpawnError::Io {
        step: "clone the rootfs",
        source: io::Error::other(format!("{}: {}", e.what, e.source)),
    })?;
    // 3. the setup stage: pid 1 of a new pid namespace, in a new mount namespace
    let flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID;
    // 2. volumes: detached clones (idmapped through their own user namespace), targets made in the rootfs
    let volumes = prepare_volumes(plan, &root.fd)?;
    let Some(pid) = sys::clone_fork(flags).map_err(io_step("clone the setup stage"))? else {
        child(plan, &holder, &root.fd, tree, volumes, &child_sock);
    };
    drop(child_sock);
    drop(tree);
    drop(volumes);
    drop(holder);
    drop(root);
    // 3. into the cgroup before it unshares its cgroup namespace; then Go
    if let Some(cg) = &made.cgroup
        && let Err(e) = cg.add(pid)
    {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, 0);
        return Err(e.into());
    }
    sync::send(parent_sock.as_fd(), &ParentMsg::Go)?;
    // 17. Ready, then the payload's exec
    await_exec(&parent_sock, pid, plan.console)
}

/// Parent side of step 17, shared with `jailctl exec`: the console's
/// master (with a pty), then `Ready` or the step that failed, then the
/// socket closing on exec (close-on-exec) or `ExecFailed`.
pub(crate) fn await_exec(parent_sock: &OwnedFd, pid: libc::pid_t, console: Console) -> Result<Running, SpawnError> {
    let mut pty = None;
    let mut notify = None;
    let mut msg = sync::recv_with_fd::<ChildMsg>(parent_sock.as_fd());
    loop {
        match msg {
            Ok(Some((ChildMsg::Console, Some(master)))) if console == Console::Pty && pty.is_none() => {
                if let Ok(ws) = sys::window_size(0) {
                    let _ = sys::set_window_size(master.as_raw_fd(), &ws);
                }
                pty = Some(master);
            }
            Ok(Some((ChildMsg::Notify, Some(listener)))) if notify.is_none() => notify = Some(listener),
            _ => break,
        }
        msg = sync::recv_with_fd::<ChildMsg>(parent_sock.as_fd());
    }
    let landlock = match msg.map(|m| m.map(|(m, _)| m)) {
        Ok(Some(ChildMsg::Ready { landlock })) => landlock,
        other => {
            let err = match other {
                Ok(Some(ChildMsg::SetupFailed { step, errno, detail })) => SpawnError::Setup { step, errno, detail },
                Ok(Some(ChildMsg::ExecFailed { errno, path })) => SpawnError::Exec { path, errno },
                Ok(Some(ChildMsg::Ready { .. } | ChildMsg::Console | ChildMsg::Notify)) | Ok(None) => {
                    SpawnError::Died("no message".into())
                }
                Err(e) => SpawnError::Sync(e),
            };
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            return Err(err);
        }
    };
    match sync::recv::<ChildMsg>(parent_sock.as_fd())? {
        None => {}
        Some(ChildMsg::ExecFailed { errno, path }) => {
            let _ = sys::waitpid(pid, 0);
            return Err(SpawnError::Exec { path, errno });
        }
        Some(other) => {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            return Err(SpawnError::Died(format!("unexpected {other:?}")));
        }
    }
    Ok(Running {
        pid,
        pty,
        landlock,
        notify,
        cgroup: None,
        net: None,
    })
}

/// Step 2 for volumes: each source cloned (through its own user namespace
/// when it has a map), its target created in the rootfs when asked.
fn prepare_volumes(plan: &Plan, rootfs: &OwnedFd) -> Result<Vec<(OwnedFd, String)>, SpawnError> {
    let mut out = Vec::new();
    for v in &plan.volumes {
        let userns = match &v.idmap {
            Some((uid, gid)) => Some(ns::create_userns(uid, gid)?),
            None => None,
        };
        let flags = crate::mount::VolumeFlags {
            readonly: v.readonly,
            nosuid: v.nosuid,
            nodev: v.nodev,
            noexec: v.noexec,
        };
        let mount_err = |e: crate::mount::MountError| SpawnError::Io {
            step: "prepare a volume",
            source: io::Error::new(e.source.kind(), format!("{}: {}", e.what, e.source)),
        };
        let (tree, is_file) =
            crate::mount::clone_volume(&v.source, flags, userns.as_ref().map(AsFd::as_fd)).map_err(mount_err)?;
        if v.create {
            crate::mount::create_target(rootfs.as_fd(), &v.target, is_file).map_err(mount_err)?;
        }
        out.push((tree, v.target.clone()));
    }
    Ok(out)
}

/// The child of the clone: run both stages, report a failure, never return.
fn child(
    plan: &Plan,
    holder: &ns::Holder,
    rootfs: &OwnedFd,
    tree: OwnedFd,
    volumes: Vec<(OwnedFd, String)>,
    sync_fd: &OwnedFd,
) -> ! {
    let mut k = live::Live::new(plan, holder, rootfs, tree, volumes, sync_fd);
    run_child(&mut k, plan)
}

/// Both stages in the child, or only the jail stage when joining.
pub(crate) fn run_child(k: &mut live::Live<'_>, plan: &Plan) -> ! {
    let sw = stages::Switches {
        no_new_privs: plan.policy.no_new_privs,
        readonly_root: plan.policy.rootfs.readonly,
        init: plan.policy.init,
    };
    let err = if k.joining() {
        stages::join_stage(k, sw)
    } else {
        match stages::setup_stage(k, sw) {
            Ok(()) => stages::jail_stage(k, sw),
            Err(e) => e,
        }
    };
    if err.step == Step::Exec {
        // ExecFailed was sent by the exec step itself.
        sys::exit_now(if err.errno == libc::ENOENT { 127 } else { 126 });
    }
    k.report(&err);
    sys::exit_now(125)
}

/// The exit status of a wait status: the code, or 128 + the signal.
pub fn exit_status(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    }
}

/// Wait for the jail's init while forwarding `FORWARDED` signals (already
/// blocked by the caller) and relaying the pty; returns its exit status.
pub fn wait(running: &Running) -> Result<i32, SpawnError> {
    let mut signals = FORWARDED.to_vec();
    signals.push(libc::SIGCHLD);
    let sfd = sys::signalfd(&signals).map_err(io_step("signalfd"))?;
    let _raw = running
        .pty
        .as_ref()
        .filter(|_| sys::isatty(0))
        .and_then(|_| RawMode::enter(0));
    let mut stdin_open = running.pty.is_some();
    let mut master_open = running.pty.is_some();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // The jail may have ended while we were busy.
        if let Some((_, st)) = sys::waitpid(running.pid, libc::WNOHANG).map_err(io_step("waitpid"))? {
            if let Some(m) = &running.pty {
                drain(m, &mut buf);
            }
            return Ok(exit_status(st));
        }
        let mut fds = vec![libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(m) = &running.pty {
            fds.push(libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
            fds.push(libc::pollfd {
                fd: if master_open { m.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
        }
        sys::poll(&mut fds, -1).map_err(io_step("poll"))?;
        if fds[0].revents & libc::POLLIN != 0 {
            let sig = sys::read_signalfd(sfd.as_fd()).map_err(io_step("read signalfd"))?;
            if sig == libc::SIGWINCH {
                if let (Some(m), Ok(ws)) = (&running.pty, sys::window_size(0)) {
                    let _ = sys::set_window_size(m.as_raw_fd(), &ws);
                }
            } else if sig != libc::SIGCHLD {
                let _ = sys::kill(running.pid, sig);
            }
        }
        if let Some(m) = &running.pty {
            if fds[1].revents != 0 {
                match sys::read(sys::borrow_raw(0), &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = sys::write_all(m.as_fd(), &buf[..n]);
                    }
                    _ => stdin_open = false,
                }
            }
            if fds[2].revents != 0 {
                match sys::read(m.as_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = sys::write_all(sys::borrow_raw(1), &buf[..n]);
                    }
                    _ => master_open = false,
                }
            }
        }
    }
}

/// Copy what is left in the pty to stdout once the jail has ended.
fn drain(master: &OwnedFd, buf: &mut [u8]) {
    loop {
        let mut fds = [libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if !matches!(sys::poll(&mut fds, 0), Ok(1)) || fds[0].revents & libc::POLLIN == 0 {
            return;
        }
        match sys::read(master.as_fd(), buf) {
            Ok(n) if n > 0 => {
                let _ = sys::write_all(sys::borrow_raw(1), &buf[..n]);
            }
            _ => return,
        }
    }
}

/// The caller's terminal in raw mode while a pty is relayed; restored on drop.
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        let saved = sys::tcgetattr(fd).ok()?;
        sys::tcsetattr(fd, &sys::make_raw(&saved)).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = sys::tcsetattr(self.fd, &self.saved);
    }
}

/// Start the jail and wait for it: `jailctl run`.
pub fn run(plan: &Plan) -> Result<i32, SpawnError> {
    run_with(plan, |_| {})
}

/// [`run`], calling `started` once the payload runs (to report the pid and
/// the Landlock status).
pub fn run_with(plan: &Plan, started: impl FnOnce(&Running)) -> Result<i32, SpawnError> {
    let mut blocked = FORWARDED.to_vec();
    blocked.push(libc::SIGCHLD);
    let old = sys::block_signals(&blocked).map_err(io_step("block signals"))?;
    let result = spawn(plan).and_then(|mut running| {
        started(&running);
        let status = wait(&running);
        running.cleanup();
        status
    });
    let _ = sys::set_signal_mask(&old);
    result
}
