//! The real [`Kernel`]: each step as system calls, in the setup stage's
//! process (pid 1 of the new pid namespace).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use super::stages::{Kernel, StepError, StepResult};
use crate::mount::{self, Applied, MountError};
use crate::ns::Holder;
use crate::plan::{Console, Plan};
use crate::sync::{self, ChildMsg, Step};
use crate::{caps, sys, user};

/// The sync socket's number once every other descriptor is closed.
const SYNC_FD: RawFd = 3;

/// The child side's state across steps.
pub struct Live<'a> {
    plan: &'a Plan,
    holder: Option<&'a Holder>,
    rootfs: Option<&'a OwnedFd>,
    /// A pidfd of the running jail's init when joining it (`jailctl exec`).
    join: Option<OwnedFd>,
    sync: RawFd,
    tree: Option<OwnedFd>,
    root: Option<OwnedFd>,
    applied: Vec<Applied>,
    volumes: Vec<(OwnedFd, String)>,
    user: Option<user::User>,
    landlock: Option<String>,
}

fn err(step: Step, e: MountError) -> StepError {
    StepError::new(step, e.what, &e.source)
}

fn io_err(step: Step, detail: impl Into<String>) -> impl FnOnce(std::io::Error) -> StepError {
    move |e| StepError::new(step, detail, &e)
}

impl<'a> Live<'a> {
    /// State for the child of `plan`: `rootfs` is the checked root
    /// directory, `tree` its detached clone, `sync` the child's end of the
    /// socket pair.
    pub fn new(
        plan: &'a Plan,
        holder: &'a Holder,
        rootfs: &'a OwnedFd,
        tree: OwnedFd,
        volumes: Vec<(OwnedFd, String)>,
        sync: &OwnedFd,
    ) -> Live<'a> {
        Live {
            volumes,
            landlock: None,
            join: None,
            plan,
            holder: Some(holder),
            rootfs: Some(rootfs),
            sync: sync.as_raw_fd(),
            tree: Some(tree),
            root: None,
            applied: Vec::new(),
            user: None,
        }
    }

    /// State for a process joining the running jail whose init `pidfd`
    /// refers to.
    pub fn joining_with(plan: &'a Plan, pidfd: OwnedFd, sync: &OwnedFd) -> Live<'a> {
        Live {
            plan,
            holder: None,
            rootfs: None,
            join: Some(pidfd),
            sync: sync.as_raw_fd(),
            tree: None,
            root: None,
            applied: Vec::new(),
            volumes: Vec::new(),
            user: None,
            landlock: None,
        }
    }

    /// Whether this process joins a running jail.
    pub fn joining(&self) -> bool {
        self.join.is_some()
    }

    fn holder(&self, step: Step) -> Result<&'a Holder, StepError> {
        self.holder.ok_or_else(|| StepError {
            step,
            errno: libc::EINVAL,
            detail: "no holder namespaces".into(),
        })
    }

    fn root(&self, step: Step) -> Result<std::os::fd::BorrowedFd<'_>, StepError> {
        self.root.as_ref().map(AsFd::as_fd).ok_or_else(|| StepError {
            step,
            errno: libc::EINVAL,
            detail: "no root mount".into(),
        })
    }

    /// The host uid and gid of the jail's root, when it has one mapped.
    fn root_host_ids(&self) -> Option<(u32, u32)> {
        Some((self.plan.uid_map.to_host(0)?, self.plan.gid_map.to_host(0)?))
    }

    /// Report a failed step to the parent (best effort).
    pub fn report(&self, e: &StepError) {
        let msg = ChildMsg::SetupFailed {
            step: e.step,
            errno: e.errno,
            detail: e.detail.clone(),
        };
        let _ = sync::send(sys::borrow_raw(self.sync), &msg);
    }

    fn masked_paths(&self) -> Vec<String> {
        let p = &self.plan.policy;
        p.proc.masked.iter().chain(p.sys.masked.iter()).cloned().collect()
    }

    fn readonly_paths(&self) -> Vec<String> {
        let p = &self.plan.policy;
        p.proc.readonly.iter().chain(p.sys.readonly.iter()).cloned().collect()
    }
}

/// Look `name` up in the jail's PATH (after the pivot) the way execvp does.
fn find_program(name: &str, path_var: &str) -> Result<String, i32> {
    use std::os::unix::fs::PermissionsExt;
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let mut denied = false;
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{dir}/{name}");
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(candidate),
            Ok(_) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied { libc::EACCES } else { libc::ENOENT })
}

impl Kernel for Live<'_> {
    fn wait_for_go(&mut self) -> StepResult {
        // The socket is borrowed from the spawn frame, which the child
        // never leaves.
        let fd = sys::borrow_raw(self.sync);
        match sync::recv::<sync::ParentMsg>(fd) {
            Ok(Some(sync::ParentMsg::Go)) => Ok(()),
            Ok(None) => Err(StepError {
                step: Step::WaitForGo,
                errno: libc::EPIPE,
                detail: "parent went away".into(),
            }),
            Err(e) => Err(StepError {
                step: Step::WaitForGo,
                errno: libc::EPROTO,
                detail: e.to_string(),
            }),
        }
    }

    fn make_mounts_private(&mut self) -> StepResult {
        sys::make_root_private().map_err(io_err(Step::MakePrivate, "/"))
    }

    fn join_holder_namespaces(&mut self) -> StepResult {
        let h = self.holder(Step::JoinNamespaces)?;
        sys::setns(h.net.as_fd(), libc::CLONE_NEWNET).map_err(io_err(Step::JoinNamespaces, "net"))?;
        sys::setns(h.uts.as_fd(), libc::CLONE_NEWUTS).map_err(io_err(Step::JoinNamespaces, "uts"))?;
        sys::setns(h.ipc.as_fd(), libc::CLONE_NEWIPC).map_err(io_err(Step::JoinNamespaces, "ipc"))?;
        // Our cgroup (the parent placed us) becomes the root of the jail's
        // cgroup namespace.
        if self.plan.cgroup {
            sys::unshare(libc::CLONE_NEWCGROUP).map_err(io_err(Step::JoinNamespaces, "cgroup namespace"))?;
        }
        // The jail's own loopback, up as on any machine.
        sys::loopback_up().map_err(io_err(Step::JoinNamespaces, "bring up lo"))
    }

    fn bind_rootfs(&mut self) -> StepResult {
        let tree = self.tree.take().ok_or_else(|| StepError {
            step: Step::BindRootfs,
            errno: libc::EINVAL,
            detail: "no rootfs clone".into(),
        })?;
        let path = self.plan.rootfs.to_string_lossy();
        let rootfs = self.rootfs.ok_or_else(|| StepError {
            step: Step::BindRootfs,
            errno: libc::EINVAL,
            detail: "no rootfs".into(),
        })?;
        let root = mount::attach_rootfs(tree, &path, rootfs.as_fd()).map_err(|e| err(Step::BindRootfs, e))?;
        self.root = Some(root);
        Ok(())
    }

    fn mount_proc(&mut self) -> StepResult {
        mount::mount_proc(self.root(Step::MountProc)?).map_err(|e| err(Step::MountProc, e))
    }

    fn mount_sys(&mut self) -> StepResult {
        mount::mount_sys(self.root(Step::MountSys)?).map_err(|e| err(Step::MountSys, e))
    }

    fn mount_dev(&mut self) -> StepResult {
        let tty_gid = self.plan.gid_map.to_host(5);
        let ids = self.root_host_ids();
        mount::mount_dev(self.root(Step::MountDev)?, &self.plan.policy.devices, ids, tty_gid)
            .map_err(|e| err(Step::MountDev, e))
    }

    fn apply_masks(&mut self) -> StepResult {
        let null = mount::open_checked_null().map_err(|e| err(Step::Masks, e))?;
        let writable = if self.plan.policy.proc.sys_net_writable {
            vec!["/proc/sys/net".to_string()]
        } else {
            vec![]
        };
        let (masked, readonly) = (self.masked_paths(), self.readonly_paths());
        let applied = mount::apply_masks(self.root(Step::Masks)?, null.as_fd(), &masked, &readonly, &writable)
            .map_err(|e| err(Step::Masks, e))?;
        self.applied = applied;
        Ok(())
    }

    fn verify_masks(&mut self) -> StepResult {
        mount::verify_masks(self.root(Step::VerifyMasks)?, &self.applied).map_err(|e| err(Step::VerifyMasks, e))
    }

    fn mount_volumes(&mut self) -> StepResult {
        let root = self.root(Step::Volumes)?;
        for (tree, target) in &self.volumes {
            mount::attach_volume(root, tree, target).map_err(|e| err(Step::Volumes, e))?;
        }
        Ok(())
    }

    fn make_root_readonly(&mut self) -> StepResult {
        mount::make_root_readonly(self.root(Step::ReadonlyRoot)?).map_err(|e| err(Step::ReadonlyRoot, e))
    }

    fn pivot_root(&mut self) -> StepResult {
        mount::pivot(self.root(Step::PivotRoot)?).map_err(|e| err(Step::PivotRoot, e))
    }

    fn set_hostname(&mut self) -> StepResult {
        let p = &self.plan.policy;
        // Without a hostname of its own the new uts namespace would show
        // the host's: use the jail's name.
        let host = p.hostname.clone().unwrap_or_else(|| self.plan.name.clone());
        sys::sethostname(host.as_bytes()).map_err(io_err(Step::Hostname, host.clone()))?;
        let domain = p.domainname.clone().unwrap_or_else(|| "(none)".to_string());
        sys::setdomainname(domain.as_bytes()).map_err(io_err(Step::Hostname, domain))
    }

    fn enter_user_namespace(&mut self) -> StepResult {
        if let Some(pidfd) = &self.join {
            // Join every namespace of the running jail at once (the pid
            // namespace was joined by the parent, for its children). The
            // mount namespace is the jail's own: its mounts are locked.
            let all = libc::CLONE_NEWUSER
                | libc::CLONE_NEWNS
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWCGROUP;
            return sys::setns(pidfd.as_fd(), all).map_err(io_err(Step::EnterUserNamespace, "setns into the jail"));
        }
        let h = self.holder(Step::EnterUserNamespace)?;
        sys::setns(h.user.as_fd(), libc::CLONE_NEWUSER).map_err(io_err(Step::EnterUserNamespace, "setns user"))?;
        sys::unshare(libc::CLONE_NEWNS).map_err(io_err(Step::EnterUserNamespace, "unshare mount"))
    }

    fn set_rlimits(&mut self) -> StepResult {
        for (name, lim) in &self.plan.policy.rlimits {
            let Some(res) = rlimit_resource(name) else {
                return Err(StepError {
                    step: Step::Rlimits,
                    errno: libc::EINVAL,
                    detail: name.to_string(),
                });
            };
            sys::setrlimit(res, lim.soft, lim.hard).map_err(io_err(Step::Rlimits, name.clone()))?;
        }
        Ok(())
    }

    fn close_fds(&mut self) -> StepResult {
        // Move the sync socket to fd 3 and close everything above it: the
        // rootfs, the holder's namespaces and the root mount included.
        if self.sync != SYNC_FD {
            sys::dup3(self.sync, SYNC_FD, true).map_err(io_err(Step::CloseFds, "dup sync socket"))?;
            self.sync = SYNC_FD;
        }
        // The descriptors we own are closed by close_range; forget them so
        // nothing closes a reused number later.
        std::mem::forget(self.root.take());
        std::mem::forget(self.join.take());
        std::mem::forget(std::mem::take(&mut self.volumes));
        let first = u32::try_from(SYNC_FD + 1).unwrap_or(4);
        sys::close_range(first, u32::MAX).map_err(io_err(Step::CloseFds, "close_range"))
    }

    fn set_dumpable(&mut self, dumpable: bool) -> StepResult {
        sys::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(dumpable))
            .map(drop)
            .map_err(io_err(Step::Dumpable, ""))
    }

    fn new_session(&mut self) -> StepResult {
        sys::setsid().map_err(io_err(Step::NewSession, "setsid"))?;
        if self.plan.console == Console::Pty {
            // The console is a pty of the jail's own devpts instance, so its
            // name resolves inside; the master goes to the parent.
            let (master, slave) = sys::open_pty_pair().map_err(io_err(Step::NewSession, "/dev/ptmx"))?;
            sync::send_with_fd(sys::borrow_raw(self.sync), &ChildMsg::Console, master.as_fd()).map_err(|e| {
                StepError {
                    step: Step::NewSession,
                    errno: libc::EPIPE,
                    detail: e.to_string(),
                }
            })?;
            drop(master);
            for fd in 0..3 {
                sys::dup2(slave.as_raw_fd(), fd).map_err(io_err(Step::NewSession, "console stdio"))?;
            }
            drop(slave);
            sys::set_controlling_tty(0).map_err(io_err(Step::NewSession, "controlling tty"))?;
        }
        Ok(())
    }

    fn lock_securebits(&mut self) -> StepResult {
        caps::lock_securebits().map_err(io_err(Step::Securebits, ""))
    }

    fn drop_bounding_set(&mut self) -> StepResult {
        caps::drop_bounding_set(self.plan.caps, self.plan.cap_last_cap).map_err(io_err(Step::BoundingSet, ""))
    }

    fn set_no_new_privs(&mut self) -> StepResult {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
            .map(drop)
            .map_err(io_err(Step::NoNewPrivs, ""))
    }

    fn apply_landlock(&mut self) -> StepResult {
        self.landlock = crate::landlock::apply(&self.plan.landlock).map_err(|e| StepError {
            step: Step::Landlock,
            errno: libc::EPERM,
            detail: e.to_string(),
        })?;
        Ok(())
    }

    fn apply_seccomp(&mut self) -> StepResult {
        crate::seccomp::install(&self.plan.seccomp).map_err(|e| StepError {
            step: Step::Seccomp,
            errno: libc::EINVAL,
            detail: e.to_string(),
        })?;
        if self.plan.intercept_reboot {
            let listener = crate::reboot::install().map_err(io_err(Step::Seccomp, "reboot listener"))?;
            sync::send_with_fd(sys::borrow_raw(self.sync), &ChildMsg::Notify, listener.as_fd()).map_err(|e| {
                StepError {
                    step: Step::Seccomp,
                    errno: libc::EPIPE,
                    detail: e.to_string(),
                }
            })?;
        }
        Ok(())
    }

    fn set_ids(&mut self) -> StepResult {
        let spec = &self.plan.policy.user;
        let u = user::resolve(spec).map_err(io_err(Step::Ids, format!("user {spec}")))?;
        if u.uid != 0 {
            // A non-root payload will hold no capability after the uid
            // change, so lock the final securebits now.
            caps::lock_final_securebits().map_err(io_err(Step::Ids, "securebits"))?;
        }
        sys::setgroups(&u.groups).map_err(io_err(Step::Ids, format!("setgroups {:?}", u.groups)))?;
        sys::setresgid(u.gid).map_err(io_err(
            Step::Ids,
            format!("gid {} (is it in the jail's gid map?)", u.gid),
        ))?;
        sys::setresuid(u.uid).map_err(io_err(
            Step::Ids,
            format!("uid {} (is it in the jail's uid map?)", u.uid),
        ))?;
        self.user = Some(u);
        Ok(())
    }

    fn set_capabilities(&mut self) -> StepResult {
        match &self.user {
            Some(u) if u.uid == 0 => caps::set_root_capabilities(self.plan.caps),
            _ => caps::clear_capabilities(),
        }
        .map_err(io_err(Step::Capabilities, ""))?;
        // If our parent (jailctl, the supervisor, jailctl exec) dies, so do
        // we: as pid 1 that takes the whole jail down. Set here because the
        // kernel clears it on every credential change (setns into the user
        // namespace, the uid change above).
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
            .map(drop)
            .map_err(io_err(Step::Capabilities, "parent death signal"))
    }

    fn start_init(&mut self) -> StepResult {
        sys::block_signals(&crate::init::all_signals()).map_err(io_err(Step::Init, "block signals"))?;
        match sys::clone_fork(0).map_err(io_err(Step::Init, "fork"))? {
            None => Ok(()),
            Some(payload) => {
                // The reaper: pid 1 for the rest of the jail's life. It holds
                // no descriptor of ours but stdio.
                let _ = sys::close_range(3, u32::MAX);
                crate::init::reap(payload)
            }
        }
    }

    fn send_ready(&mut self) -> StepResult {
        sync::send(
            sys::borrow_raw(self.sync),
            &ChildMsg::Ready {
                landlock: self.landlock.clone(),
            },
        )
        .map_err(|e| StepError {
            step: Step::Ready,
            errno: libc::EPIPE,
            detail: e.to_string(),
        })
    }

    fn exec(&mut self) -> StepError {
        let p = &self.plan.policy;
        let mut env: Vec<(String, String)> = p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(u) = &self.user
            && (!p.env.contains_key("HOME") || u.uid != 0)
        {
            env.retain(|(k, _)| k != "HOME");
            env.push(("HOME".into(), u.home.clone()));
        }
        if !env.iter().any(|(k, _)| k == "container") {
            env.push(("container".into(), "jaild".into()));
        }
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or("/usr/sbin:/usr/bin:/sbin:/bin", |(_, v)| v.as_str());
        let program = match find_program(&self.plan.argv[0], path_var) {
            Ok(p) => p,
            Err(errno) => return self.exec_failed(errno, &self.plan.argv[0].clone()),
        };
        if let Err(e) = std::env::set_current_dir(&p.workdir) {
            return StepError::new(Step::Exec, format!("chdir {}", p.workdir), &e);
        }
        let to_c = |s: &str| CString::new(s).unwrap_or_default();
        let c_program = to_c(&program);
        let c_argv: Vec<CString> = self.plan.argv.iter().map(|a| to_c(a)).collect();
        let c_env: Vec<CString> = env.iter().map(|(k, v)| to_c(&format!("{k}={v}"))).collect();
        let mut argv: Vec<*const libc::c_char> = c_argv.iter().map(|c| c.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = c_env.iter().map(|c| c.as_ptr()).collect();
        envp.push(std::ptr::null());
        // The payload starts with default signal handling and nothing
        // blocked (Rust ignores SIGPIPE; the parent blocked a few).
        sys::reset_signal_dispositions();
        let _ = sys::set_signal_mask(&sys::empty_sigset());
        let e = sys::execve(&c_program, &argv, &envp);
        self.exec_failed(e.raw_os_error().unwrap_or(libc::EIO), &program)
    }
}

impl Live<'_> {
    fn exec_failed(&self, errno: i32, path: &str) -> StepError {
        let _ = sync::send(
            sys::borrow_raw(self.sync),
            &ChildMsg::ExecFailed {
                errno,
                path: path.to_string(),
            },
        );
        StepError {
            step: Step::Exec,
            errno,
            detail: path.to_string(),
        }
    }
}

/// The `RLIMIT_*` number of a policy rlimit name.
pub fn rlimit_resource(name: &str) -> Option<u32> {
    Some(match name {
        "as" => libc::RLIMIT_AS,
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        _ => return None,
    })
}
