//! `jail-rootfs unpack` with crafted hostile tarballs, every compression, `--shift`, PAX
//! attributes and `--atomic`. Needs root (entries are chowned to their archive owners).

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use common::{E, RawTar, gzip, json, mode, owner, root, scratch, xattr, xz, zstd};
use rootfs_tools::RootfsError;
use rootfs_tools::ids::IdShift;
use rootfs_tools::unpack::{UnpackOptions, unpack};
use rootfs_tools::xattr::{ACL_ACCESS, ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ};
use rootfs_tools::xattr::{Acl, AclEntry, CAPABILITY, FileCaps};

fn skipped_reason(report: &serde_json::Value, path: &str) -> String {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in skipped: {report:#}"))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn hostile_tarball_writes_nothing_outside_dir() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let outside_str = outside.to_str().unwrap().to_string();
    let passwd_before = fs::read("/etc/passwd").unwrap();

    let mut t = RawTar::default();
    t.dir("./")
        // `..` in a path: skipped, named in the report.
        .file("../escaped", b"x")
        .file("a/../../escaped2", b"x")
        // An absolute path: unpacked relative to DIR.
        .file("/abs/file", b"abs")
        // A symlink to the host's /etc, then an entry written through it: lands in DIR/etc.
        .symlink("evil", "/etc")
        .dir("etc")
        .file("evil/owned", b"through the symlink")
        // A symlink climbing out with `..`, then through it.
        .symlink("up", "../../../../../..")
        .file("up/climbed", b"climbed")
        // A symlink to a host directory that does not exist inside DIR: skipped, never followed
        // out.
        .symlink("out", &outside_str)
        .file("out/pwned", b"pwned")
        // A symlink named like a host file, then a regular file of the same name: the link is
        // replaced, the host file untouched.
        .symlink("passwd", "/etc/passwd")
        .file("passwd", b"replaced")
        // Hardlinks to host files: resolved inside DIR (missing there), or refused for `..`.
        .hardlink("hl-abs", "/etc/passwd")
        .hardlink("hl-up", "../../../../etc/passwd")
        .file("etc/passwd", b"the tree's own")
        .hardlink("hl-through", "evil/passwd")
        // Device nodes: skipped unless asked for.
        .add(E {
            path: b"dev/mem",
            kind: tar::EntryType::Char,
            mode: 0o640,
            dev: (1, 1),
            ..E::default()
        })
        .add(E {
            path: b"dev/sda",
            kind: tar::EntryType::Block,
            mode: 0o660,
            dev: (8, 0),
            ..E::default()
        })
        // A setuid-root binary: kept, reported; an owner kept as numeric ids.
        .add(E {
            path: b"bin/su",
            mode: 0o4755,
            data: b"#!/bin/true\n",
            ..E::default()
        })
        .add(E {
            path: b"home/u/file",
            mode: 0o600,
            uid: 1234,
            gid: 5678,
            data: b"mine",
            ..E::default()
        });
    let tarball = tmp.path().join("hostile.tar");
    fs::write(&tarball, t.finish()).unwrap();
    let dir = tmp.path().join("rootfs");
    let report = json(&["unpack", tarball.to_str().unwrap(), dir.to_str().unwrap()]);

    // Nothing outside DIR.
    assert!(!tmp.path().join("escaped").exists() && !tmp.path().join("escaped2").exists());
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "something was written to {outside_str}"
    );
    assert_eq!(fs::read("/etc/passwd").unwrap(), passwd_before);
    assert!(!Path::new("/etc/owned").exists() && !Path::new("/climbed").exists());

    // What went where, and the report names the hostile entries.
    assert!(skipped_reason(&report, "../escaped").contains(".."));
    assert!(skipped_reason(&report, "a/../../escaped2").contains(".."));
    assert_eq!(fs::read(dir.join("abs/file")).unwrap(), b"abs");
    assert!(
        report["adjusted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["path"] == "/abs/file")
    );
    assert_eq!(fs::read(dir.join("etc/owned")).unwrap(), b"through the symlink");
    assert_eq!(fs::read(dir.join("climbed")).unwrap(), b"climbed");
    assert!(skipped_reason(&report, "out/pwned").contains("symlink to a missing directory"));
    assert_eq!(fs::read_link(dir.join("out")).unwrap(), outside);
    assert!(fs::symlink_metadata(dir.join("passwd")).unwrap().is_file());
    assert_eq!(fs::read(dir.join("passwd")).unwrap(), b"replaced");
    assert!(skipped_reason(&report, "hl-abs").contains("not in the tree"));
    assert!(skipped_reason(&report, "hl-up").contains(".."));
    let inner = fs::metadata(dir.join("etc/passwd")).unwrap();
    let linked = fs::metadata(dir.join("hl-through")).unwrap();
    assert_eq!(inner.ino(), linked.ino(), "the hardlink resolves inside DIR");
    assert!(skipped_reason(&report, "dev/mem").contains("--devices"));
    assert!(skipped_reason(&report, "dev/sda").contains("block device 8:0"));
    assert!(!dir.join("dev/mem").exists());
    assert_eq!(mode(&dir.join("bin/su")), 0o4755);
    assert_eq!(report["setuid"], serde_json::json!(["bin/su"]));
    assert_eq!(owner(&dir.join("home/u/file")), (1234, 5678));
    // Implicit parents belong to the jail's root.
    assert_eq!(owner(&dir.join("home/u")), (0, 0));
    assert_eq!(mode(&dir.join("home/u")), 0o755);
    assert_eq!(report["entries"], 21);
}

#[test]
fn devices_are_made_when_asked() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let mut t = RawTar::default();
    t.add(E {
        path: b"dev/null",
        kind: tar::EntryType::Char,
        mode: 0o666,
        dev: (1, 3),
        ..E::default()
    })
    .add(E {
        path: b"run/fifo",
        kind: tar::EntryType::Fifo,
        mode: 0o620,
        uid: 7,
        gid: 8,
        ..E::default()
    });
    let tarball = tmp.path().join("dev.tar");
    fs::write(&tarball, t.finish()).unwrap();
    let dir = tmp.path().join("rootfs");
    let report = json(&["unpack", "--devices", tarball.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(report["nodes"], 2);
    let null = fs::symlink_metadata(dir.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((null.rdev() >> 8, null.rdev() & 0xff), (1, 3));
    assert_eq!(mode(&dir.join("dev/null")), 0o666);
    assert!(
        fs::symlink_metadata(dir.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(owner(&dir.join("run/fifo")), (7, 8));
    assert_eq!(mode(&dir.join("run/fifo")), 0o620);
}

/// A small tree as a tar: a directory, a file, a symlink, a hardlink, owners.
fn sample_tar() -> Vec<u8> {
    let mut t = RawTar::default();
    t.dir("./")
        .dir("usr")
        .dir("usr/bin")
        .symlink("bin", "usr/bin")
        .add(E {
            path: b"usr/bin/tool",
            mode: 0o755,
            data: b"tool contents",
            ..E::default()
        })
        .hardlink("usr/bin/tool2", "usr/bin/tool")
        .add(E {
            path: b"home/u/notes",
            mode: 0o640,
            uid: 1000,
            gid: 1000,
            data: b"notes",
            ..E::default()
        })
        // Written through the merged-/usr symlink.
        .file("bin/via-link", b"via");
    t.finish()
}

#[test]
fn every_compression_unpacks_the_same() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let plain = sample_tar();
    for (name, bytes, format) in [
        ("a.tar", plain.clone(), "tar"),
        ("a.tar.gz", gzip(&plain), "tar+gzip"),
        ("a.tar.xz", xz(&plain), "tar+xz"),
        ("a.tar.zst", zstd(&plain), "tar+zstd"),
    ] {
        let tarball = tmp.path().join(name);
        fs::write(&tarball, bytes).unwrap();
        let dir = tmp.path().join(format!("root-{name}"));
        let report = json(&["unpack", tarball.to_str().unwrap(), dir.to_str().unwrap()]);
        assert_eq!(report["format"], format);
        assert_eq!(report["hardlinks"], 1);
        assert_eq!(fs::read(dir.join("usr/bin/tool")).unwrap(), b"tool contents");
        assert_eq!(mode(&dir.join("usr/bin/tool")), 0o755);
        let a = fs::metadata(dir.join("usr/bin/tool")).unwrap();
        let b = fs::metadata(dir.join("usr/bin/tool2")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(fs::read(dir.join("usr/bin/via-link")).unwrap(), b"via");
        assert!(fs::symlink_metadata(dir.join("bin")).unwrap().is_symlink());
        assert_eq!(owner(&dir.join("home/u/notes")), (1000, 1000));
        assert_eq!(fs::metadata(dir.join("usr/bin/tool")).unwrap().mtime(), 1_700_000_000);
        assert_eq!(fs::metadata(dir.join("usr")).unwrap().mtime(), 1_700_000_000);
        assert_eq!(mode(&dir), 0o755);
    }
}

/// `security.capability` v2 for cap_net_raw, effective.
fn net_raw_caps() -> FileCaps {
    FileCaps {
        permitted: 1 << 13,
        inheritable: 0,
        effective: true,
        rootid: None,
    }
}

fn acl_with(user: u32, group: u32) -> Acl {
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    Acl(vec![
        e(ACL_USER_OBJ, 6, None),
        e(ACL_USER, 4, Some(user)),
        e(ACL_GROUP_OBJ, 4, None),
        e(ACL_GROUP, 6, Some(group)),
        e(ACL_MASK, 6, None),
        e(ACL_OTHER, 0, None),
    ])
}

fn xattr_tar() -> Vec<u8> {
    let caps = net_raw_caps().to_bytes();
    let acl = acl_with(1001, 70001).to_bytes();
    let mut t = RawTar::default();
    t.pax(&[
        ("SCHILY.xattr.security.capability", &caps),
        ("SCHILY.xattr.user.origin", b"test"),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
    ])
    .add(E {
        path: b"bin/ping",
        mode: 0o755,
        data: b"ping",
        ..E::default()
    })
    .pax(&[("SCHILY.xattr.system.posix_acl_access", &acl)])
    .add(E {
        path: b"srv/shared",
        mode: 0o660,
        uid: 1000,
        gid: 70000,
        data: b"shared",
        ..E::default()
    });
    t.finish()
}

#[test]
fn attributes_are_restored_and_shifted() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let tarball = tmp.path().join("x.tar");
    fs::write(&tarball, xattr_tar()).unwrap();

    // As they are.
    let dir = tmp.path().join("plain");
    let report = json(&["unpack", tarball.to_str().unwrap(), dir.to_str().unwrap()]);
    let caps = FileCaps::parse(&xattr(&dir.join("bin/ping"), CAPABILITY).unwrap()).unwrap();
    assert_eq!(caps, net_raw_caps());
    assert_eq!(xattr(&dir.join("bin/ping"), "user.origin").unwrap(), b"test");
    assert!(xattr(&dir.join("bin/ping"), "trusted.overlay.opaque").is_none());
    let adjusted = report["adjusted"].to_string();
    assert!(adjusted.contains("trusted.overlay.opaque"), "{adjusted}");
    let acl = Acl::parse(&xattr(&dir.join("srv/shared"), ACL_ACCESS).unwrap()).unwrap();
    assert_eq!(acl, acl_with(1001, 70001));

    // Shifted as written; ids outside the range kept and reported.
    let dir = tmp.path().join("shifted");
    let report = json(&[
        "unpack",
        "--shift",
        "0:100000:65536",
        tarball.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(owner(&dir), (100000, 100000));
    assert_eq!(owner(&dir.join("bin")), (100000, 100000));
    assert_eq!(owner(&dir.join("bin/ping")), (100000, 100000));
    assert_eq!(owner(&dir.join("srv/shared")), (101000, 70000));
    let caps = FileCaps::parse(&xattr(&dir.join("bin/ping"), CAPABILITY).unwrap()).unwrap();
    assert_eq!(caps.rootid, Some(100000));
    let acl = Acl::parse(&xattr(&dir.join("srv/shared"), ACL_ACCESS).unwrap()).unwrap();
    assert_eq!(acl, acl_with(101001, 70001));
    let unshifted = &report["unshifted"];
    assert_eq!(unshifted["entries"], 1);
    // uid/gid 70000 and the ACL's 70001, as one run.
    assert_eq!(
        unshifted["ids"],
        serde_json::json!([{"first": 70000, "last": 70001, "entries": 2}])
    );

    // The tree is marked shifted: `check` says so, `shift` refuses it, `--reverse` undoes it.
    let check = json(&["check", dir.to_str().unwrap(), "--ids", "passthrough"]);
    assert_eq!(check["shift_marker"], "shifted by 0:100000:65536 (done)");
    let out = common::jail_rootfs(&["shift", dir.to_str().unwrap(), "--to", "100000"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already shifted"));
    json(&["shift", dir.to_str().unwrap(), "--to", "100000", "--reverse"]);
    assert_eq!(owner(&dir.join("srv/shared")), (1000, 70000));
    assert_eq!(
        FileCaps::parse(&xattr(&dir.join("bin/ping"), CAPABILITY).unwrap()).unwrap(),
        net_raw_caps()
    );
    assert_eq!(
        Acl::parse(&xattr(&dir.join("srv/shared"), ACL_ACCESS).unwrap()).unwrap(),
        acl_with(1001, 70001)
    );
}

#[test]
fn a_failed_unpack_leaves_consistent_files_or_nothing_with_atomic() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let mut t = RawTar::default();
    t.file("first", b"complete");
    // Incompressible data, so half the stream is half the data.
    let mut noise = Vec::with_capacity(400_000);
    let mut x: u32 = 12345;
    for _ in 0..400_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    t.file("second", &noise);
    let whole = gzip(&t.finish());
    let tarball = tmp.path().join("cut.tar.gz");
    fs::write(&tarball, &whole[..whole.len() / 2]).unwrap();

    // Plain: the complete entry stays, the cut one is not left half-written.
    let dir = tmp.path().join("plain");
    let out = common::jail_rootfs(&["unpack", tarball.to_str().unwrap(), dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cut.tar.gz"), "{stderr}");
    assert_eq!(fs::read(dir.join("first")).unwrap(), b"complete");
    assert!(!dir.join("second").exists(), "a half-written file was left");

    // Atomic: nothing at all, no staging directory beside it.
    let dir = tmp.path().join("atomic");
    let err = unpack(
        &tarball,
        &dir,
        &UnpackOptions {
            atomic: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, RootfsError::Invalid { .. }), "{err}");
    assert!(!dir.exists());
    let left: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.contains("unpack-")),
        "staging left behind: {left:?}"
    );

    // Atomic success: renamed into place (over an empty directory too), mode from the archive.
    fs::create_dir(&dir).unwrap();
    let good = tmp.path().join("good.tar");
    fs::write(&good, sample_tar()).unwrap();
    let report = unpack(
        &good,
        &dir,
        &UnpackOptions {
            atomic: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(report.atomic);
    assert_eq!(fs::read(dir.join("usr/bin/tool")).unwrap(), b"tool contents");
    assert_eq!(mode(&dir), 0o755);

    // Atomic refuses a non-empty target and leaves it alone.
    let err = unpack(
        &good,
        &dir,
        &UnpackOptions {
            atomic: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn shift_option_rejects_bad_ranges() {
    assert!("0:100000".parse::<IdShift>().is_err());
    let out = common::jail_rootfs(&["unpack", "--shift", "0:1:0", "/nonexistent.tar", "/tmp/x"]);
    assert!(!out.status.success());
}
