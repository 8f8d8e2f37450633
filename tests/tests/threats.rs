//! DESIGN §6 from inside: every attack the probe knows, in a real jail, in both id modes. Each
//! test expects the probe to print only `BLOCKED` lines (and `NOTE`s) and to exit 0.

mod common;

use std::net::{TcpListener, TcpStream};

use common::{Mode, TestJail, assert_all_blocked, assert_blocked_and_allowed, require_root, stdout_text};

/// Runs `jail-probe ARGS` in a fresh jail in `mode` and checks that everything was blocked.
/// Returns the probe's stdout for extra checks.
fn attack(mode: Mode, extra: &[&str], probe_args: &[&str]) -> Option<String> {
    if !require_root() {
        return None;
    }
    let jail = TestJail::new();
    let mut args = mode.args().to_vec();
    args.extend_from_slice(extra);
    let out = jail.probe(&args, probe_args);
    assert_all_blocked(&out, &format!("jail-probe {} ({mode:?})", probe_args.join(" ")));
    Some(stdout_text(&out))
}

/// One test per id mode for a probe subcommand without arguments.
macro_rules! threat {
    ($module:ident, $subcommand:literal) => {
        mod $module {
            use super::*;

            #[test]
            fn passthrough() {
                attack(Mode::Passthrough, &[], &[$subcommand]);
            }

            #[test]
            fn isolated() {
                attack(Mode::Isolated, &[], &[$subcommand]);
            }
        }
    };
}

// /proc/sys, core_pattern, modprobe, drop_caches, sysrq-trigger: read-only.
threat!(proc_sys, "proc-sys");
// kcore, keys, timer_list, sched_debug, kmsg, /sys/firmware, acpi, scsi: masked.
threat!(masked_reads, "masked-reads");
// The seed's attack: a fresh procfs or sysfs to get around the masks.
threat!(fresh_mounts, "fresh-mounts");
// Unmount, remount read-write or mount over the masks.
threat!(mask_mounts, "mask-mounts");
// mknod of a host disk and /dev/mem; host device nodes absent.
threat!(mknod, "mknod");
// Modules, kexec, bpf, perf, keyrings, userfaultfd, io_uring, swap, clock, acct, iopl, syslog.
threat!(kernel_calls, "kernel-calls");
// The shocker attack.
threat!(open_by_handle, "open-by-handle");
// Leaked descriptors.
threat!(fds, "fds");
// Nested user namespaces (clone3 answers ENOSYS).
threat!(userns, "userns");

/// /proc/PID/root and /proc/PID/cwd lead nowhere outside; host processes are not visible.
fn proc_root(mode: Mode) {
    if let Some(out) = attack(mode, &[], &["proc-root"]) {
        assert!(out.contains("pids visible"), "no pid count in:\n{out}");
    }
}

#[test]
fn proc_root_passthrough() {
    proc_root(Mode::Passthrough);
}

#[test]
fn proc_root_isolated() {
    proc_root(Mode::Isolated);
}

/// chroot-in-chroot: with `allow.chroot` the jail's root holds CAP_SYS_CHROOT, so the chroot itself
/// works; walking up from outside the new root must still end at the jail's root.
fn chroot_escape(mode: Mode) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let marker = jail.base.join("host-marker");
    std::fs::write(&marker, "outside the rootfs\n").expect("write the host marker");
    let mut args = mode.args().to_vec();
    args.extend(["--set", "allow.chroot=true"]);
    let out = jail.probe(&args, &["chroot-escape", marker.to_str().expect("utf-8 path")]);
    assert_all_blocked(&out, &format!("jail-probe chroot-escape ({mode:?}, allow.chroot)"));
    let text = stdout_text(&out);
    assert!(
        text.contains("still at the jail's root"),
        "the chroot itself did not happen, so the escape was not really tried:\n{text}"
    );
}

#[test]
fn chroot_escape_passthrough() {
    chroot_escape(Mode::Passthrough);
}

#[test]
fn chroot_escape_isolated() {
    chroot_escape(Mode::Isolated);
}

/// By default (`allow.chroot` off) chroot(2) itself is refused.
#[test]
fn chroot_refused_by_default() {
    if let Some(out) = attack(Mode::Passthrough, &[], &["chroot-escape"]) {
        assert!(
            out.contains("chroot(/tmp/c): EPERM"),
            "chroot should be refused without allow.chroot:\n{out}"
        );
    }
}

/// A TCP service on the host's loopback must be unreachable from the jail.
fn loopback(mode: Mode) {
    if !require_root() {
        return;
    }
    let v4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = v4.local_addr().expect("local_addr").port();
    // The same port on ::1 when it is free (it is not an error if IPv6 is off).
    let _v6 = TcpListener::bind(("::1", port)).ok();
    // The listener works from the host, so a refusal inside is the jail's doing.
    TcpStream::connect(("127.0.0.1", port)).expect("connect from the host");
    let jail = TestJail::new();
    let port = port.to_string();
    let out = jail.probe(mode.args(), &["loopback", &port]);
    assert_all_blocked(&out, &format!("jail-probe loopback ({mode:?})"));
}

#[test]
fn loopback_passthrough() {
    loopback(Mode::Passthrough);
}

#[test]
fn loopback_isolated() {
    loopback(Mode::Isolated);
}

/// TIOCSTI/TIOCLINUX (also with high bits set): on stdio (pipes here), /dev/tty (none: new
/// session) and a fresh pty that the probe makes its controlling terminal.
#[test]
fn tiocsti_passthrough() {
    attack(Mode::Passthrough, &[], &["tiocsti"]);
}

#[test]
fn tiocsti_isolated() {
    attack(Mode::Isolated, &[], &["tiocsti"]);
}

/// The same with `-t`: the jail's console is a pty, the jail's own controlling terminal.
fn tiocsti_tty(mode: Mode) {
    if let Some(out) = attack(mode, &["-t"], &["tiocsti"]) {
        assert!(
            out.contains("(a tty)"),
            "with -t the probe should find a terminal on its stdio:\n{out}"
        );
    }
}

#[test]
fn tiocsti_tty_passthrough() {
    tiocsti_tty(Mode::Passthrough);
}

#[test]
fn tiocsti_tty_isolated() {
    tiocsti_tty(Mode::Isolated);
}

/// With `--init` the payload runs under the built-in reaper: it must not hand down descriptors,
/// and its /proc entries must lead nowhere outside either.
#[test]
fn fds_with_init_passthrough() {
    attack(Mode::Passthrough, &["--init"], &["fds"]);
}

#[test]
fn fds_with_init_isolated() {
    attack(Mode::Isolated, &["--init"], &["fds"]);
}

#[test]
fn proc_root_with_init_passthrough() {
    attack(Mode::Passthrough, &["--init"], &["proc-root"]);
}

#[test]
fn proc_root_with_init_isolated() {
    attack(Mode::Isolated, &["--init"], &["proc-root"]);
}

/// Runs `jail-probe ARGS` in a fresh jail in `mode`: every attack blocked, every control allowed.
fn attack_with_controls(mode: Mode, probe_args: &[&str], must_allow: &[&str]) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.probe(mode.args(), probe_args);
    assert_blocked_and_allowed(
        &out,
        &format!("jail-probe {} ({mode:?})", probe_args.join(" ")),
        must_allow,
    );
}

/// Socket families beyond unix, inet, inet6 and netlink answer EPERM from seccomp — AF_ALG ("Copy
/// Fail"), AF_PACKET, AF_VSOCK, AF_BLUETOOTH, AF_KEY, AF_XDP, AF_TIPC, AF_RDS and every other one
/// below AF_MAX, also with high bits in the domain; raw IP sockets need CAP_NET_RAW. The four
/// kept families must still work.
const KEPT_SOCKETS: &[&str] = &[
    "socket(AF_UNIX, SOCK_STREAM)",
    "socket(AF_UNIX, SOCK_DGRAM)",
    "socket(AF_INET, SOCK_STREAM)",
    "socket(AF_INET, SOCK_DGRAM)",
    "socket(AF_INET6, SOCK_STREAM)",
    "socket(AF_INET6, SOCK_DGRAM)",
    "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)",
    "socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE)",
    "socketpair(AF_UNIX, SOCK_STREAM)",
];

#[test]
fn sockets_passthrough() {
    attack_with_controls(Mode::Passthrough, &["sockets"], KEPT_SOCKETS);
}

#[test]
fn sockets_isolated() {
    attack_with_controls(Mode::Isolated, &["sockets"], KEPT_SOCKETS);
}

/// `personality` beyond the default (READ_IMPLIES_EXEC, ADDR_COMPAT_LAYOUT, MMAP_PAGE_ZERO, PER_BSD,
/// PER_SVR4, ...) is refused; the query and the personas the filter keeps still work, among them
/// ADDR_NO_RANDOMIZE (`setarch -R`, gdb).
const KEPT_PERSONAS: &[&str] = &[
    "personality(0xffffffff) (query)",
    "personality(PER_LINUX 0x0)",
    "personality(PER_LINUX32 0x8)",
    "personality(UNAME26 0x20000)",
    "personality(ADDR_NO_RANDOMIZE 0x40000)",
    "personality(PER_LINUX32|ADDR_NO_RANDOMIZE 0x40008)",
    "personality(UNAME26|ADDR_NO_RANDOMIZE 0x60000)",
];

#[test]
fn personality_passthrough() {
    attack_with_controls(Mode::Passthrough, &["personality"], KEPT_PERSONAS);
}

#[test]
fn personality_isolated() {
    attack_with_controls(Mode::Isolated, &["personality"], KEPT_PERSONAS);
}

/// runc CVE-2019-5736 against the built-in reaper (our own binary, non-dumpable for life, pid 1
/// with `--init`): its /proc/1/exe cannot be opened (O_WRONLY, O_RDONLY, O_PATH) or read as a
/// link; environ, maps, auxv, syscall and mem are closed; its fds cannot be followed or taken
/// (`pidfd_getfd`); `process_vm_readv`, PTRACE_SEIZE and PTRACE_ATTACH fail.
fn runtime_exe(mode: Mode, extra: &[&str]) {
    let mut args = vec!["--init"];
    args.extend_from_slice(extra);
    if let Some(out) = attack(mode, &args, &["runtime-exe"]) {
        assert!(
            out.contains("NOTE pid 1: comm \"jailctl\""),
            "pid 1 should be jailctl's reaper:\n{out}"
        );
        assert!(
            out.contains("BLOCKED open /proc/1/exe O_WRONLY"),
            "the exe attack was not made:\n{out}"
        );
    }
}

#[test]
fn runtime_exe_passthrough() {
    runtime_exe(Mode::Passthrough, &[]);
}

#[test]
fn runtime_exe_isolated() {
    runtime_exe(Mode::Isolated, &[]);
}

/// The same with `allow.ptrace` on, so that ptrace, `process_vm_readv` and `pidfd_getfd` reach the
/// kernel: the reaper's non-dumpable state alone must refuse them.
#[test]
fn runtime_exe_ptrace_allowed_passthrough() {
    runtime_exe(Mode::Passthrough, &["--set", "allow.ptrace=true"]);
}

#[test]
fn runtime_exe_ptrace_allowed_isolated() {
    runtime_exe(Mode::Isolated, &["--set", "allow.ptrace=true"]);
}

/// The control for `runtime-exe`: with a jail shell as pid 1 (dumpable, the jail's own busybox)
/// the very same attempts work, so the probe does see an open door when there is one.
#[test]
fn runtime_exe_probe_sees_a_dumpable_pid_1() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(
        Mode::Isolated.args(),
        &["/bin/sh", "-c", "/bin/jail-probe runtime-exe; echo probe exit $?"],
    );
    let text = stdout_text(&out);
    for line in [
        "ESCAPED open /proc/1/exe O_RDONLY",
        "ESCAPED readlink /proc/1/exe: -> /bin/busybox",
        "ESCAPED read /proc/1/environ",
        "ESCAPED open /proc/1/mem O_RDONLY",
        "probe exit 1",
    ] {
        assert!(
            text.contains(line),
            "expected {line:?} with a dumpable pid 1\n{}",
            common::describe(&out)
        );
    }
}

/// Signals reach only the jail's processes: `kill(pid, 0)` over pids 1..=65536 finds only what the
/// jail's /proc shows (fewer than 10), and this test's own host pid is ESRCH (also for
/// `pidfd_open`).
fn host_signals(mode: Mode, extra: &[&str]) {
    let host_pid = std::process::id().to_string();
    if let Some(out) = attack(mode, extra, &["host-signals", &host_pid]) {
        assert!(
            out.contains(&format!("BLOCKED kill({host_pid}, 0) (a host pid): ESRCH"))
                || out.contains("also a jail pid"),
            "the host pid was not tried:\n{out}"
        );
    }
}

#[test]
fn host_signals_passthrough() {
    host_signals(Mode::Passthrough, &[]);
}

#[test]
fn host_signals_isolated() {
    host_signals(Mode::Isolated, &[]);
}

#[test]
fn host_signals_with_init_passthrough() {
    host_signals(Mode::Passthrough, &["--init"]);
}
