//! `jail-rootfs shift` on a tree with a setuid-root binary, v2 and v3 file capabilities, ACLs
//! with user and group entries, a hardlink pair, a symlink, ids outside the range, a large
//! directory and a mount point: every owner, bit, capability root id and ACL entry is checked
//! after the shift (read back with the syscalls), and `--reverse` restores the tree exactly.
//! Needs root.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use common::{BIN, jail_rootfs, json, mode, owner, root, scratch, set_xattr, snapshot, xattr};
use rootfs_tools::ids::IdShift;
use rootfs_tools::shift::{MARKER, ShiftOptions, shift};
use rootfs_tools::xattr::{
    ACL_ACCESS, ACL_DEFAULT, ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, Acl, AclEntry,
    CAPABILITY, FileCaps,
};

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn acl(user: u32, group: u32) -> Acl {
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    Acl(vec![
        e(ACL_USER_OBJ, 7, None),
        e(ACL_USER, 4, Some(user)),
        e(ACL_GROUP_OBJ, 5, None),
        e(ACL_GROUP, 6, Some(group)),
        e(ACL_MASK, 7, None),
        e(ACL_OTHER, 0, None),
    ])
}

const NET_RAW: u64 = 1 << 13;
const BIG: usize = 700;

/// The test tree (ids as Debian would have them, plus one foreign id).
fn build(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("home/u/shared")).unwrap();
    fs::create_dir_all(dir.join("srv")).unwrap();
    fs::create_dir_all(dir.join("big")).unwrap();
    chmod(dir, 0o755);

    let su = dir.join("bin/su");
    fs::write(&su, b"su").unwrap();
    chmod(&su, 0o4755);
    let newgrp = dir.join("bin/newgrp");
    fs::write(&newgrp, b"newgrp").unwrap();
    chown(&newgrp, 0, 50);
    chmod(&newgrp, 0o2755);
    let ping = dir.join("bin/ping");
    fs::write(&ping, b"ping").unwrap();
    chmod(&ping, 0o755);
    let v2 = FileCaps {
        permitted: NET_RAW,
        inheritable: 0,
        effective: true,
        rootid: None,
    };
    set_xattr(&ping, CAPABILITY, &v2.to_bytes());
    let nsping = dir.join("bin/nsping");
    fs::write(&nsping, b"nsping").unwrap();
    set_xattr(
        &nsping,
        CAPABILITY,
        &FileCaps {
            rootid: Some(1000),
            ..v2
        }
        .to_bytes(),
    );
    let link = dir.join("bin/sh");
    symlink("su", &link).unwrap();
    chown(&link, 5, 5);

    let home = dir.join("home/u");
    chown(&home, 1000, 1000);
    chmod(&home, 0o700);
    let file = home.join("acl-file");
    fs::write(&file, b"acl").unwrap();
    chown(&file, 1000, 1000);
    set_xattr(&file, ACL_ACCESS, &acl(1001, 1002).to_bytes());
    let shared = home.join("shared");
    chown(&shared, 1000, 100);
    chmod(&shared, 0o2770);
    set_xattr(&shared, ACL_DEFAULT, &acl(1003, 100).to_bytes());
    set_xattr(&shared, ACL_ACCESS, &acl(1003, 100).to_bytes());
    let h1 = home.join("h1");
    fs::write(&h1, b"linked").unwrap();
    chown(&h1, 1000, 1000);
    fs::hard_link(&h1, home.join("h2")).unwrap();

    let foreign = dir.join("srv/foreign");
    fs::write(&foreign, b"foreign").unwrap();
    chown(&foreign, 70000, 70000);
    let status = Command::new("mkfifo").arg(dir.join("srv/fifo")).status().unwrap();
    assert!(status.success());

    // More entries than one chunk of the parallel walk.
    for i in 0..BIG {
        let f = dir.join("big").join(format!("f{i}"));
        fs::write(&f, b"").unwrap();
        let id = if i % 2 == 0 { 0 } else { 1000 };
        chown(&f, id, id);
    }
}

fn opts(reverse: bool) -> ShiftOptions {
    ShiftOptions {
        shift: IdShift::new(0, 100000, 65536).unwrap(),
        reverse,
        dry_run: false,
        force: false,
        progress: false,
    }
}

#[test]
fn shift_moves_everything_and_reverse_restores_it() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    build(&dir);
    let before = snapshot(&dir);

    // A dry run changes nothing but counts the same.
    let mut dry = opts(false);
    dry.dry_run = true;
    let planned = shift(&dir, &dry).unwrap();
    assert_eq!(snapshot(&dir), before);
    assert!(xattr(&dir, MARKER).is_none());

    let report = json(&[
        "shift",
        dir.to_str().unwrap(),
        "--from",
        "0",
        "--to",
        "100000",
        "--count",
        "65536",
    ]);
    assert_eq!(report["changed"], planned.changed);
    assert_eq!(report["entries"], planned.entries);
    // Root, 4 dirs below it... every entry but the foreign one and the second hardlink name.
    let entries = before.len() as u64;
    assert_eq!(report["entries"], entries);
    assert_eq!(report["changed"], entries - 2);
    assert_eq!(report["hardlinks"], 1);
    assert_eq!(report["setuid_restored"], 2);
    assert_eq!(report["capabilities"], 2);
    assert_eq!(report["acls"], 2);
    assert_eq!(report["outside"]["entries"], 1);
    assert_eq!(report["outside"]["examples"], serde_json::json!(["srv/foreign"]));
    assert_eq!(
        report["outside"]["ids"],
        serde_json::json!([{"first": 70000, "last": 70000, "entries": 2}])
    );

    // Owners.
    assert_eq!(owner(&dir), (100000, 100000));
    assert_eq!(owner(&dir.join("bin/newgrp")), (100000, 100050));
    assert_eq!(owner(&dir.join("bin/sh")), (100005, 100005), "the symlink itself");
    assert_eq!(owner(&dir.join("home/u")), (101000, 101000));
    assert_eq!(owner(&dir.join("home/u/shared")), (101000, 100100));
    assert_eq!(owner(&dir.join("home/u/h1")), (101000, 101000));
    assert_eq!(owner(&dir.join("srv/foreign")), (70000, 70000));
    assert_eq!(owner(&dir.join("srv/fifo")), (100000, 100000));
    assert_eq!(owner(&dir.join("big/f0")), (100000, 100000));
    assert_eq!(owner(&dir.join(format!("big/f{}", BIG - 1))), (101000, 101000));
    // Bits the chown cleared.
    assert_eq!(mode(&dir.join("bin/su")), 0o4755);
    assert_eq!(mode(&dir.join("bin/newgrp")), 0o2755);
    assert_eq!(mode(&dir.join("home/u/shared")), 0o2770);
    // Capabilities: v2 became v3 with the shifted root id; v3's root id moved.
    let ping = FileCaps::parse(&xattr(&dir.join("bin/ping"), CAPABILITY).unwrap()).unwrap();
    assert_eq!(
        (ping.permitted, ping.effective, ping.rootid),
        (NET_RAW, true, Some(100000))
    );
    let nsping = FileCaps::parse(&xattr(&dir.join("bin/nsping"), CAPABILITY).unwrap()).unwrap();
    assert_eq!(nsping.rootid, Some(101000));
    // ACL entries.
    let file_acl = Acl::parse(&xattr(&dir.join("home/u/acl-file"), ACL_ACCESS).unwrap()).unwrap();
    assert_eq!(file_acl, acl(101001, 101002));
    let default = Acl::parse(&xattr(&dir.join("home/u/shared"), ACL_DEFAULT).unwrap()).unwrap();
    assert_eq!(default, acl(101003, 100100));

    // Shifting again is refused by the marker...
    let err = shift(&dir, &opts(false)).unwrap_err();
    assert!(err.to_string().contains("already shifted"), "{err}");
    // ... and, without the marker, by the ids seen at the top.
    let marker = xattr(&dir, MARKER).unwrap();
    rustix::fs::removexattr(&dir, MARKER).unwrap();
    let err = shift(&dir, &opts(false)).unwrap_err();
    assert!(err.to_string().contains("looks shifted"), "{err}");
    set_xattr(&dir, MARKER, &marker);

    // Reverse: exactly the tree we started from, and no marker.
    let back = json(&["shift", dir.to_str().unwrap(), "--to", "100000", "--reverse"]);
    assert_eq!(back["from"], 100000);
    assert_eq!(back["to"], 0);
    assert_eq!(snapshot(&dir), before);
    assert!(xattr(&dir, MARKER).is_none());

    // Reverse of a tree that is not shifted is refused.
    let err = shift(&dir, &opts(true)).unwrap_err();
    assert!(err.to_string().contains("not shifted"), "{err}");
}

#[test]
fn an_interrupted_shift_resumes() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    build(&dir);
    let before = snapshot(&dir);
    // As if a run had died half-way: the marker says "shifting", part of the tree is moved.
    set_xattr(
        &dir,
        MARKER,
        br#"{"from":0,"to":100000,"count":65536,"state":"shifting"}"#,
    );
    for i in 0..BIG / 2 {
        let f = dir.join("big").join(format!("f{i}"));
        let (u, g) = owner(&f);
        chown(&f, u + 100000, g + 100000);
    }
    let report = shift(&dir, &opts(false)).unwrap();
    assert!(report.resumed);
    assert_eq!(report.already, (BIG / 2) as u64);
    assert_eq!(report.outside.entries, 1, "ids already moved are not 'outside'");
    assert_eq!(owner(&dir.join("big/f0")), (100000, 100000));
    assert_eq!(owner(&dir.join(format!("big/f{}", BIG - 1))), (101000, 101000));
    shift(&dir, &opts(true)).unwrap();
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn bad_ranges_are_refused() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let out = jail_rootfs(&["shift", tmp.path().to_str().unwrap(), "--to", "1000"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlap"));
    let out = jail_rootfs(&["shift", tmp.path().to_str().unwrap(), "--to", "4294967290"]);
    assert!(!out.status.success());
    let out = jail_rootfs(&["shift", "/", "--to", "100000"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("host's root"));
}

#[test]
fn another_mount_is_never_entered() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    fs::create_dir_all(dir.join("mnt")).unwrap();
    fs::write(dir.join("file"), b"").unwrap();
    // In a private mount namespace, so the tmpfs goes away with it.
    let script = format!(
        "set -e; mount -t tmpfs none {d}/mnt; touch {d}/mnt/inside; {bin} shift {d} --to 100000 --json; stat -c %u {d}/mnt/inside",
        d = dir.display(),
        bin = BIN
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let report: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(report["other_mounts"], serde_json::json!(["mnt"]));
    assert_eq!(lines.next(), Some("0"), "a file on the other mount was shifted");
    assert_eq!(owner(&dir.join("file")), (100000, 100000));
}
