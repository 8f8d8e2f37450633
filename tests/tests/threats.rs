//! DESIGN §6 from inside: every attack the probe knows, in a real jail, in both id modes. Each
//! test expects the probe to print only `BLOCKED` lines (and `NOTE`s) and to exit 0.

mod common;

use std::net::{TcpListener, TcpStream};

use common::{Mode, TestJail, assert_all_blocked, require_root, stdout_text};

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

/// chroot-in-chroot: the jail's root holds CAP_SYS_CHROOT (default mask), so the chroot itself
/// works; walking up from outside the new root must still end at the jail's root.
fn chroot_escape(mode: Mode) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let marker = jail.base.join("host-marker");
    std::fs::write(&marker, "outside the rootfs\n").expect("write the host marker");
    let out = jail.probe(mode.args(), &["chroot-escape", marker.to_str().expect("utf-8 path")]);
    assert_all_blocked(&out, &format!("jail-probe chroot-escape ({mode:?})"));
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
