//! The child side of the spawn sequence as two linear functions, one step
//! per line, in the order of DESIGN §4 (steps 4–17) and `docs/spawn.md`.
//!
//! Each step is a method of [`Kernel`]; the real implementation is
//! [`super::live::Live`], and the tests below run the same functions
//! against a recording fake to pin the order.

use crate::policy::InitMode;
use crate::sync::Step;

/// A failed step: which one, the errno, and what it was working on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    pub step: Step,
    pub errno: i32,
    pub detail: String,
}

impl StepError {
    /// A failure of `step` on `detail` with the errno of `err`.
    pub fn new(step: Step, detail: impl Into<String>, err: &std::io::Error) -> StepError {
        StepError {
            step,
            errno: err.raw_os_error().unwrap_or(libc::EIO),
            detail: detail.into(),
        }
    }
}

/// The result of one step.
pub type StepResult = Result<(), StepError>;

/// What a step needs to know of the plan to decide whether it runs.
#[derive(Clone, Copy, Debug)]
pub struct Switches {
    pub no_new_privs: bool,
    pub readonly_root: bool,
    pub init: InitMode,
}

/// The operations of the child side, one per step.
pub trait Kernel {
    fn wait_for_go(&mut self) -> StepResult;
    fn make_mounts_private(&mut self) -> StepResult;
    fn join_holder_namespaces(&mut self) -> StepResult;
    fn bind_rootfs(&mut self) -> StepResult;
    fn mount_proc(&mut self) -> StepResult;
    fn mount_sys(&mut self) -> StepResult;
    fn mount_dev(&mut self) -> StepResult;
    fn apply_masks(&mut self) -> StepResult;
    fn verify_masks(&mut self) -> StepResult;
    fn mount_volumes(&mut self) -> StepResult;
    fn make_root_readonly(&mut self) -> StepResult;
    fn pivot_root(&mut self) -> StepResult;
    fn set_hostname(&mut self) -> StepResult;
    fn enter_user_namespace(&mut self) -> StepResult;
    fn set_rlimits(&mut self) -> StepResult;
    fn close_fds(&mut self) -> StepResult;
    fn set_dumpable(&mut self, dumpable: bool) -> StepResult;
    fn new_session(&mut self) -> StepResult;
    fn lock_securebits(&mut self) -> StepResult;
    fn drop_bounding_set(&mut self) -> StepResult;
    fn set_no_new_privs(&mut self) -> StepResult;
    fn apply_landlock(&mut self) -> StepResult;
    fn apply_seccomp(&mut self) -> StepResult;
    fn set_ids(&mut self) -> StepResult;
    fn set_capabilities(&mut self) -> StepResult;
    /// Fork the built-in reaper: returns in the payload's process only.
    fn start_init(&mut self) -> StepResult;
    fn send_ready(&mut self) -> StepResult;
    /// Exec the payload; returns only on failure.
    fn exec(&mut self) -> StepError;
}

/// Setup stage (DESIGN §4 steps 4–9): pid 1 of the new pid namespace, in a
/// new mount namespace, still privileged. Builds and pivots the tree.
pub fn setup_stage(k: &mut impl Kernel, sw: Switches) -> StepResult {
    k.wait_for_go()?; // 3. the parent has placed us
    k.make_mounts_private()?; // 4. MS_REC|MS_PRIVATE on /
    k.join_holder_namespaces()?; // 4. setns net, uts, ipc
    k.bind_rootfs()?; // 5. rootfs clone: nosuid,nodev, idmapped when asked
    k.mount_proc()?; // 6. fresh /proc of this pid namespace
    k.mount_sys()?; // 6. read-only /sys of the jail's netns
    k.mount_dev()?; // 6. tmpfs /dev: safe nodes, devpts, shm, mqueue
    k.apply_masks()?; // 7. /dev/null and empty tmpfs over masked paths; read-only paths
    k.verify_masks()?; // 7. check every mask through mountinfo and fstat
    k.mount_volumes()?; // 8. policy volumes (bind, read-only, own idmap), targets resolved in the root
    if sw.readonly_root {
        k.make_root_readonly()?; // 5. the rootfs read-only, last so /dev etc. could be made
    }
    k.pivot_root()?; // 9. pivot_root(".", "."), detach the old root, chdir("/")
    k.set_hostname() // 9. hostname and domainname
}

/// Jail stage (DESIGN §4 steps 10–17): the same process enters the jail's
/// user namespace and a new mount namespace (locking every mount above),
/// confines itself and execs the payload.
pub fn jail_stage(k: &mut impl Kernel, sw: Switches) -> StepError {
    match confine(k, sw) {
        Ok(()) => k.exec(), // 17. execve; returns only on failure
        Err(e) => e,
    }
}

/// `jailctl exec`: the same jail stage for a process that joins a running
/// jail (DESIGN §4: "the same steps 11–17"); `enter_user_namespace` joins
/// the jail's namespaces instead of creating a mount namespace. There is no
/// built-in init for an exec'd process.
pub fn join_stage(k: &mut impl Kernel, sw: Switches) -> StepError {
    if let Err(e) = k.wait_for_go() {
        return e; // 3. the parent is ready for our messages
    }
    jail_stage(
        k,
        Switches {
            init: InitMode::None,
            ..sw
        },
    )
}

fn confine(k: &mut impl Kernel, sw: Switches) -> StepResult {
    k.enter_user_namespace()?; // 10. setns(userns) + unshare(CLONE_NEWNS): mounts locked
    k.set_rlimits()?; // 11. rlimits
    k.close_fds()?; // 11. close every fd but stdio and the sync socket
    k.set_dumpable(false)?; // 11. non-dumpable until the payload's exec
    k.new_session()?; // 11. setsid (and the pty as controlling terminal)
    k.lock_securebits()?; // 12. NOROOT, NO_SETUID_FIXUP and KEEP_CAPS locked
    k.drop_bounding_set()?; // 12. bounding set = mask
    if sw.no_new_privs {
        k.set_no_new_privs()?; // 13. PR_SET_NO_NEW_PRIVS
    }
    k.apply_landlock()?; // 14. Landlock: read-only/no-exec paths, TCP ports, scopes
    k.apply_seccomp()?; // 15. seccomp, while CAP_SYS_ADMIN is still effective
    k.set_ids()?; // 16. groups, gid, uid
    k.set_capabilities()?; // 16. root: inh = prm = eff = ambient = mask; lock ambient raise
    if sw.init == InitMode::Builtin {
        k.start_init()?; // the reaper stays pid 1; the payload goes on
    }
    k.send_ready() // 17. Ready
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the name of every step; fails the one named in `fail_at`.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<&'static str>,
        fail_at: Option<&'static str>,
    }

    impl Recorder {
        fn call(&mut self, name: &'static str, step: Step) -> StepResult {
            self.calls.push(name);
            if self.fail_at == Some(name) {
                return Err(StepError {
                    step,
                    errno: libc::EPERM,
                    detail: name.into(),
                });
            }
            Ok(())
        }
    }

    impl Kernel for Recorder {
        fn wait_for_go(&mut self) -> StepResult {
            self.call("go", Step::WaitForGo)
        }
        fn make_mounts_private(&mut self) -> StepResult {
            self.call("private", Step::MakePrivate)
        }
        fn join_holder_namespaces(&mut self) -> StepResult {
            self.call("join", Step::JoinNamespaces)
        }
        fn bind_rootfs(&mut self) -> StepResult {
            self.call("rootfs", Step::BindRootfs)
        }
        fn mount_proc(&mut self) -> StepResult {
            self.call("proc", Step::MountProc)
        }
        fn mount_sys(&mut self) -> StepResult {
            self.call("sys", Step::MountSys)
        }
        fn mount_dev(&mut self) -> StepResult {
            self.call("dev", Step::MountDev)
        }
        fn apply_masks(&mut self) -> StepResult {
            self.call("masks", Step::Masks)
        }
        fn verify_masks(&mut self) -> StepResult {
            self.call("verify", Step::VerifyMasks)
        }
        fn mount_volumes(&mut self) -> StepResult {
            self.call("volumes", Step::Volumes)
        }
        fn make_root_readonly(&mut self) -> StepResult {
            self.call("readonly", Step::ReadonlyRoot)
        }
        fn pivot_root(&mut self) -> StepResult {
            self.call("pivot", Step::PivotRoot)
        }
        fn set_hostname(&mut self) -> StepResult {
            self.call("hostname", Step::Hostname)
        }
        fn enter_user_namespace(&mut self) -> StepResult {
            self.call("userns+newns", Step::EnterUserNamespace)
        }
        fn set_rlimits(&mut self) -> StepResult {
            self.call("rlimits", Step::Rlimits)
        }
        fn close_fds(&mut self) -> StepResult {
            self.call("closefds", Step::CloseFds)
        }
        fn set_dumpable(&mut self, _: bool) -> StepResult {
            self.call("nodump", Step::Dumpable)
        }
        fn new_session(&mut self) -> StepResult {
            self.call("setsid", Step::NewSession)
        }
        fn lock_securebits(&mut self) -> StepResult {
            self.call("securebits", Step::Securebits)
        }
        fn drop_bounding_set(&mut self) -> StepResult {
            self.call("bounding", Step::BoundingSet)
        }
        fn set_no_new_privs(&mut self) -> StepResult {
            self.call("nnp", Step::NoNewPrivs)
        }
        fn apply_landlock(&mut self) -> StepResult {
            self.call("landlock", Step::Landlock)
        }
        fn apply_seccomp(&mut self) -> StepResult {
            self.call("seccomp", Step::Seccomp)
        }
        fn set_ids(&mut self) -> StepResult {
            self.call("ids", Step::Ids)
        }
        fn set_capabilities(&mut self) -> StepResult {
            self.call("caps+ambient", Step::Capabilities)
        }
        fn start_init(&mut self) -> StepResult {
            self.call("init", Step::Init)
        }
        fn send_ready(&mut self) -> StepResult {
            self.call("ready", Step::Ready)
        }
        fn exec(&mut self) -> StepError {
            self.calls.push("exec");
            StepError {
                step: Step::Exec,
                errno: libc::ENOENT,
                detail: "recorded".into(),
            }
        }
    }

    fn run(rec: &mut Recorder, sw: Switches) {
        if setup_stage(rec, sw).is_ok() {
            let _ = jail_stage(rec, sw);
        }
    }

    const FULL: Switches = Switches {
        no_new_privs: true,
        readonly_root: true,
        init: InitMode::Builtin,
    };

    #[test]
    fn order_matches_the_design() {
        let mut rec = Recorder::default();
        run(&mut rec, FULL);
        assert_eq!(
            rec.calls,
            [
                "go",
                "private",
                "join",
                "rootfs",
                "proc",
                "sys",
                "dev",
                "masks",
                "verify",
                "volumes",
                "readonly",
                "pivot",
                "hostname",
                "userns+newns",
                "rlimits",
                "closefds",
                "nodump",
                "setsid",
                "securebits",
                "bounding",
                "nnp",
                "landlock",
                "seccomp",
                "ids",
                "caps+ambient",
                "init",
                "ready",
                "exec",
            ]
        );
    }

    #[test]
    fn mounts_are_locked_before_any_privilege_is_dropped() {
        let mut rec = Recorder::default();
        run(&mut rec, FULL);
        let pos = |name| rec.calls.iter().position(|c| *c == name).unwrap();
        // Every mount is made before the pivot, the pivot before entering
        // the user namespace (which locks them), and that before any
        // confinement; seccomp is installed while CAP_SYS_ADMIN is still
        // effective, i.e. before ids and capability sets change.
        for m in ["rootfs", "proc", "sys", "dev", "masks", "verify", "volumes", "readonly"] {
            assert!(pos(m) < pos("pivot"), "{m} after pivot");
        }
        assert!(pos("pivot") < pos("userns+newns"));
        assert!(pos("userns+newns") < pos("securebits"));
        assert!(pos("securebits") < pos("bounding"));
        assert!(pos("bounding") < pos("nnp"));
        assert!(pos("nnp") < pos("landlock"));
        assert!(pos("landlock") < pos("seccomp"));
        assert!(pos("seccomp") < pos("ids"));
        assert!(pos("ids") < pos("caps+ambient"));
        assert!(pos("caps+ambient") < pos("exec"));
    }

    #[test]
    fn optional_steps_are_skipped() {
        let mut rec = Recorder::default();
        run(
            &mut rec,
            Switches {
                no_new_privs: false,
                readonly_root: false,
                init: InitMode::None,
            },
        );
        for skipped in ["nnp", "readonly", "init"] {
            assert!(!rec.calls.contains(&skipped), "{skipped} ran");
        }
        assert_eq!(rec.calls.last(), Some(&"exec"));
    }

    #[test]
    fn a_failed_step_stops_the_sequence() {
        let mut rec = Recorder {
            fail_at: Some("masks"),
            ..Recorder::default()
        };
        let err = setup_stage(&mut rec, FULL).unwrap_err();
        assert_eq!(err.step, Step::Masks);
        assert_eq!(rec.calls.last(), Some(&"masks"));

        let mut rec = Recorder {
            fail_at: Some("seccomp"),
            ..Recorder::default()
        };
        run(&mut rec, FULL);
        assert_eq!(
            rec.calls.last(),
            Some(&"seccomp"),
            "nothing may run after a failed step"
        );
    }

    #[test]
    fn joining_runs_the_same_jail_stage_without_the_tree() {
        let mut rec = Recorder::default();
        let _ = join_stage(&mut rec, FULL);
        assert_eq!(
            rec.calls,
            [
                "go",
                "userns+newns",
                "rlimits",
                "closefds",
                "nodump",
                "setsid",
                "securebits",
                "bounding",
                "nnp",
                "landlock",
                "seccomp",
                "ids",
                "caps+ambient",
                "ready",
                "exec",
            ],
            "an exec'd process gets steps 11-17 and no built-in init"
        );
    }
}
