//! Confinement read back from inside the jail: capability sets, securebits, seccomp, pid,
//! session and descriptors; setuid binaries gain nothing; a jail root holding CAP_SYS_ADMIN still
//! cannot get around the locked masks.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{
    DEFAULT_MASK, Mode, TestJail, assert_all_blocked, cap, describe, host_hostname, num, parse_status, require_root,
    stdout_text,
};

const NOROOT: i64 = 1 << 0;
const NOROOT_LOCKED: i64 = 1 << 1;
const NO_SETUID_FIXUP: i64 = 1 << 2;
const NO_SETUID_FIXUP_LOCKED: i64 = 1 << 3;
const KEEP_CAPS: i64 = 1 << 4;
const KEEP_CAPS_LOCKED: i64 = 1 << 5;
const NO_CAP_AMBIENT_RAISE: i64 = 1 << 6;
const NO_CAP_AMBIENT_RAISE_LOCKED: i64 = 1 << 7;

/// The bits DESIGN §4 step 12 and 16 set and lock.
const LOCKED_BITS: i64 = NOROOT
    | NOROOT_LOCKED
    | NO_SETUID_FIXUP_LOCKED
    | KEEP_CAPS_LOCKED
    | NO_CAP_AMBIENT_RAISE
    | NO_CAP_AMBIENT_RAISE_LOCKED;

fn assert_securebits(status: &serde_json::Value) {
    let bits = num(status, "securebits");
    assert_eq!(
        bits & LOCKED_BITS,
        LOCKED_BITS,
        "securebits {bits:#x} lack some of {LOCKED_BITS:#x}: {status}"
    );
    assert_eq!(
        bits & (NO_SETUID_FIXUP | KEEP_CAPS),
        0,
        "securebits {bits:#x} must not set NO_SETUID_FIXUP or KEEP_CAPS: {status}"
    );
}

fn root_status(mode: Mode) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.probe(mode.args(), &["status"]);
    let st = parse_status(&out);
    for key in ["CapBnd", "CapEff", "CapPrm", "CapAmb"] {
        assert_eq!(
            cap(&st, key),
            DEFAULT_MASK,
            "{key} should be the default mask {DEFAULT_MASK:#018x}: {st}"
        );
    }
    assert_eq!(num(&st, "uid"), 0, "{st}");
    assert_securebits(&st);
    assert_eq!(num(&st, "Seccomp"), 2, "seccomp filter mode expected: {st}");
    assert_eq!(num(&st, "pid"), 1, "the payload is pid 1: {st}");
    assert_eq!(num(&st, "sid"), num(&st, "pid"), "own session (setsid): {st}");
    let fds: Vec<i64> = st["fds"]
        .as_array()
        .expect("fds list")
        .iter()
        .map(|f| f["fd"].as_i64().expect("fd number"))
        .collect();
    assert_eq!(fds, [0, 1, 2], "only stdio may be open: {st}");
}

#[test]
fn root_status_passthrough() {
    root_status(Mode::Passthrough);
}

#[test]
fn root_status_isolated() {
    root_status(Mode::Isolated);
}

fn user_status(mode: Mode) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let mut args = mode.args().to_vec();
    args.extend(["--set", "user=1000"]);
    let out = jail.probe(&args, &["status"]);
    let st = parse_status(&out);
    assert_eq!(num(&st, "uid"), 1000, "{st}");
    assert_eq!(num(&st, "euid"), 1000, "{st}");
    for key in ["CapEff", "CapPrm", "CapAmb"] {
        assert_eq!(cap(&st, key), 0, "{key} of a non-root user must be 0: {st}");
    }
    assert_eq!(cap(&st, "CapBnd"), DEFAULT_MASK, "{st}");
    assert_securebits(&st);
    assert_eq!(num(&st, "Seccomp"), 2, "{st}");
}

#[test]
fn user_status_passthrough() {
    user_status(Mode::Passthrough);
}

#[test]
fn user_status_isolated() {
    user_status(Mode::Isolated);
}

/// A setuid-root copy of the probe, run by uid 1000 on a rootfs mounted with setuid honoured:
/// the exec makes it euid 0, and NOROOT (locked) gives it no capabilities.
fn setuid_regain(mode: Mode) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let suid = jail.copy_probe("bin/probe-suid", 0o755);
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).expect("chown 0:0");
    // chown clears the setuid bit: set the mode afterwards.
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).expect("chmod 4755");
    let mut args = mode.args().to_vec();
    args.extend(["--set", "user=1000", "--set", "rootfs.nosuid=false"]);
    let out = jail.run(&args, &["/bin/probe-suid", "status"]);
    println!("{}", describe(&out));
    let st = parse_status(&out);
    assert_eq!(num(&st, "uid"), 1000, "{st}");
    assert_eq!(
        num(&st, "euid"),
        0,
        "the setuid bit did not take effect, so the test shows nothing: {st}"
    );
    assert_eq!(cap(&st, "CapEff"), 0, "setuid root gained effective capabilities: {st}");
    assert_eq!(cap(&st, "CapPrm"), 0, "setuid root gained permitted capabilities: {st}");
    assert_eq!(cap(&st, "CapAmb"), 0, "{st}");
}

#[test]
fn setuid_regain_passthrough() {
    setuid_regain(Mode::Passthrough);
}

#[test]
fn setuid_regain_isolated() {
    setuid_regain(Mode::Isolated);
}

/// The admin policy of the issue: CAP_SYS_ADMIN and CAP_NET_ADMIN in the mask, the mount family
/// let through seccomp (`allow.mount`, else the filter and not the kernel's lock would stop the
/// attacks below), pass-through ids.
const ADMIN: &[&str] = &[
    "--passthrough-ids",
    "--set",
    "capabilities.allow=[SYS_ADMIN, NET_ADMIN]",
    "--set",
    "allow.mount=true",
    "--set",
    "seccomp.allow=[mount, umount2, open_tree, move_mount, fsopen, fsconfig, fsmount, mount_setattr, fspick]",
];

/// The jail's root may administer its own namespaces (hostname, loopback, a tmpfs) ...
#[test]
fn admin_may_administer_its_own_namespaces() {
    if !require_root() {
        return;
    }
    let hostname = host_hostname();
    let jail = TestJail::new();
    let out = jail.probe(ADMIN, &["caps-admin"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout_text(&out);
    for what in ["sethostname", "bring up lo", "mount tmpfs"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("ALLOWED {what}:"))),
            "{what} should be ALLOWED for a jail root with CAP_SYS_ADMIN/NET_ADMIN:\n{}",
            describe(&out)
        );
    }
    assert_eq!(host_hostname(), hostname, "the host's hostname changed");
}

/// ... and still not unmount or remount the masks, mount a fresh proc or sysfs, or write a host
/// sysctl: the kernel's MNT_LOCKED stops it, not the seccomp filter.
fn admin_blocked(subcommand: &str) {
    if !require_root() {
        return;
    }
    let core_pattern = fs::read("/proc/sys/kernel/core_pattern").expect("read core_pattern");
    let jail = TestJail::new();
    // The mask really holds CAP_SYS_ADMIN, so the test shows the lock and not a missing cap.
    let st = parse_status(&jail.probe(ADMIN, &["status"]));
    let sys_admin = 1u64 << 21;
    assert_ne!(cap(&st, "CapEff") & sys_admin, 0, "CAP_SYS_ADMIN not effective: {st}");
    let out = jail.probe(ADMIN, &[subcommand]);
    assert_all_blocked(&out, &format!("jail-probe {subcommand} (CAP_SYS_ADMIN, passthrough)"));
    assert_eq!(
        fs::read("/proc/sys/kernel/core_pattern").expect("read core_pattern"),
        core_pattern,
        "the host's core_pattern changed"
    );
}

#[test]
fn admin_cannot_mount_fresh_proc_or_sysfs() {
    admin_blocked("fresh-mounts");
}

#[test]
fn admin_cannot_unmount_or_remount_masks() {
    admin_blocked("mask-mounts");
}

#[test]
fn admin_cannot_write_host_sysctls() {
    admin_blocked("proc-sys");
}

#[test]
fn admin_status_is_still_locked() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let st = parse_status(&jail.probe(ADMIN, &["status"]));
    assert_securebits(&st);
    assert_eq!(num(&st, "Seccomp"), 2, "{st}");
}
