//! `jail-rootfs busybox` against the host's busybox-static, in temp dirs.
//!
//! Needs root (files are chowned to 0 and 1000) and a static busybox at /bin/busybox or
//! /usr/bin/busybox (`apt-get install busybox-static`); `.ci/run` installs it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use rootfs_tools::RootfsError;
use rootfs_tools::busybox::{BusyboxOptions, build};

const BIN: &str = env!("CARGO_BIN_EXE_jail-rootfs");

/// Skips (returns false) when not root: the build chowns files to root and to uid 1000.
fn root() -> bool {
    let is_root = rustix::process::geteuid().is_root();
    if !is_root {
        eprintln!("skipped: needs root");
    }
    is_root
}

fn opts(dir: &Path) -> BusyboxOptions {
    BusyboxOptions {
        dir: dir.to_path_buf(),
        ..Default::default()
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn builds_a_rootfs() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rootfs");
    let report = build(&opts(&dir)).unwrap();
    assert_eq!(report.dir, dir);
    assert!(report.applets > 100, "only {} applets", report.applets);
    assert!(report.bytes > 100_000);

    // Every applet busybox reports is a link that resolves to bin/busybox.
    let busybox = dir.join("bin/busybox");
    assert_eq!(mode(&busybox), 0o755);
    let listed = Command::new(&busybox).arg("--list-full").output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    let mut links = 0;
    for applet in listed.lines().filter(|l| *l != "bin/busybox") {
        let link = dir.join(applet);
        assert!(link.is_symlink(), "{applet} is not a symlink");
        assert_eq!(fs::canonicalize(&link).unwrap(), fs::canonicalize(&busybox).unwrap());
        links += 1;
    }
    assert_eq!(links, report.applets);
    assert_eq!(fs::read_link(dir.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(
        fs::read_link(dir.join("usr/bin/wget")).unwrap(),
        Path::new("../../bin/busybox")
    );

    // The copy runs (busybox dispatches on argv[0]: bin/sh is a shell).
    let out = Command::new(dir.join("bin/sh"))
        .args(["-c", "echo ok"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");

    // Accounts and config.
    let passwd = fs::read_to_string(dir.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l == "root:x:0:0:root:/root:/bin/sh"));
    assert!(passwd.lines().any(|l| l == "user:x:1000:1000:user:/home/user:/bin/sh"));
    assert!(passwd.lines().any(|l| l.starts_with("nobody:x:65534:65534:")));
    let group = fs::read_to_string(dir.join("etc/group")).unwrap();
    for g in [
        "root:x:0:",
        "tty:x:5:",
        "users:x:100:",
        "user:x:1000:",
        "nogroup:x:65534:",
    ] {
        assert!(group.lines().any(|l| l.starts_with(g)), "no {g} in /etc/group");
    }
    let shadow = fs::read_to_string(dir.join("etc/shadow")).unwrap();
    assert!(shadow.lines().all(|l| l.split(':').nth(1) == Some("!")));
    assert_eq!(mode(&dir.join("etc/shadow")), 0o640);
    assert_eq!(fs::read_to_string(dir.join("etc/hostname")).unwrap(), "jail\n");
    let hosts = fs::read_to_string(dir.join("etc/hosts")).unwrap();
    assert!(hosts.contains("127.0.0.1\tlocalhost") && hosts.contains("::1\tlocalhost"));
    let profile = fs::read_to_string(dir.join("etc/profile")).unwrap();
    assert!(profile.contains("PATH=") && profile.contains("PS1="));
    assert!(dir.join("etc/nsswitch.conf").is_file());

    // Directory modes and ownership.
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&dir.join("tmp")), 0o1777);
    assert_eq!(mode(&dir.join("var/tmp")), 0o1777);
    assert_eq!(mode(&dir.join("root")), 0o700);
    let home = fs::metadata(dir.join("home/user")).unwrap();
    assert_eq!((home.uid(), home.gid()), (1000, 1000));
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "home", "var/log", "run", "proc",
    ] {
        assert!(dir.join(d).is_dir(), "no {d}");
    }
    for d in ["sys", "dev", "mnt", "opt", "srv", "lib"] {
        assert!(dir.join(d).is_dir(), "no {d}");
    }
    for entry in ["", "bin", "bin/busybox", "bin/sh", "etc/passwd", "etc/shadow", "tmp"] {
        let meta = fs::symlink_metadata(dir.join(entry)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{entry} not root:root");
    }
}

#[test]
fn an_existing_empty_dir_is_fine() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    build(&opts(tmp.path())).unwrap();
    assert!(tmp.path().join("bin/busybox").is_file());
}

#[test]
fn missing_parents_are_made_private() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("jails/web/rootfs");
    build(&opts(&dir)).unwrap();
    assert_eq!(mode(&tmp.path().join("jails")), 0o700);
    assert_eq!(mode(&tmp.path().join("jails/web")), 0o700);
    assert_eq!(mode(&dir), 0o755);
}

#[test]
fn non_empty_needs_force_and_force_keeps_other_files() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("etc/mine.conf"), "keep me\n").unwrap();
    fs::write(dir.join("bin/sh"), "an old shell\n").unwrap();
    // A symlink at a path we own must be replaced, never written through.
    let victim = tempfile::NamedTempFile::new().unwrap();
    fs::write(victim.path(), "host file\n").unwrap();
    symlink(victim.path(), dir.join("etc/passwd")).unwrap();

    let err = build(&opts(dir)).unwrap_err();
    assert!(matches!(err, RootfsError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(!dir.join("bin/busybox").exists(), "refusal must not write");

    let forced = BusyboxOptions {
        force: true,
        ..opts(dir)
    };
    build(&forced).unwrap();
    assert_eq!(fs::read_to_string(dir.join("etc/mine.conf")).unwrap(), "keep me\n");
    assert_eq!(fs::read_link(dir.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert!(!dir.join("etc/passwd").is_symlink());
    assert!(
        fs::read_to_string(dir.join("etc/passwd"))
            .unwrap()
            .starts_with("root:x:0:0:")
    );
    assert_eq!(fs::read_to_string(victim.path()).unwrap(), "host file\n");

    // Building again over our own result works too.
    build(&forced).unwrap();
}

#[test]
fn force_refuses_to_delete_a_directory() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("etc/passwd/inside")).unwrap();
    let err = build(&BusyboxOptions {
        force: true,
        ..opts(tmp.path())
    })
    .unwrap_err();
    assert!(matches!(err, RootfsError::IsADirectory { .. }), "{err}");
    assert!(tmp.path().join("etc/passwd/inside").is_dir());
}

#[test]
fn refuses_a_symlink_in_the_path() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    symlink(&real, &link).unwrap();

    for dir in [link.join("rootfs"), link.clone()] {
        let err = build(&opts(&dir)).unwrap_err();
        match &err {
            RootfsError::SymlinkInPath { symlink, .. } => assert_eq!(symlink, &link),
            other => panic!("expected a symlink refusal, got {other}"),
        }
        assert!(err.to_string().contains("symlink"), "{err}");
    }
    assert!(fs::read_dir(&real).unwrap().next().is_none(), "wrote through the link");
}

#[test]
fn never_follows_a_symlink_inside_the_rootfs() {
    if !root() {
        return;
    }
    // A rootfs whose bin points outside it (as `bin -> /usr/bin` would on a merged-usr system).
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let dir = tmp.path().join("rootfs");
    fs::create_dir(&outside).unwrap();
    fs::create_dir(&dir).unwrap();
    symlink(&outside, dir.join("bin")).unwrap();
    let err = build(&BusyboxOptions {
        force: true,
        ..opts(&dir)
    })
    .unwrap_err();
    assert!(matches!(err, RootfsError::SymlinkInPath { .. }), "{err}");
    assert!(fs::read_dir(&outside).unwrap().next().is_none(), "wrote outside");
}

#[test]
fn refuses_a_dynamic_busybox() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rootfs");
    let err = build(&BusyboxOptions {
        busybox: Some(PathBuf::from("/bin/ls")),
        ..opts(&dir)
    })
    .unwrap_err();
    assert!(matches!(err, RootfsError::DynamicBusybox { .. }), "{err}");
    assert!(err.to_string().contains("apt-get install busybox-static"), "{err}");
    assert!(!dir.exists(), "refusal must not create the dir");
}

#[test]
fn refuses_a_busybox_that_is_not_elf() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("busybox");
    fs::write(&fake, "#!/bin/sh\n").unwrap();
    let err = build(&BusyboxOptions {
        busybox: Some(fake),
        ..opts(&tmp.path().join("rootfs"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("not an ELF file"), "{err}");
}

#[test]
fn refuses_the_host_root() {
    let err = build(&BusyboxOptions {
        force: true,
        ..opts(Path::new("/tmp/.."))
    })
    .unwrap_err();
    assert!(matches!(err, RootfsError::HostRoot { .. }), "{err}");
}

#[test]
fn cli_prints_json_and_fails_with_a_prefixed_message() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rootfs");
    let out = Command::new(BIN)
        .arg("busybox")
        .arg(&dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dir"], dir.to_str().unwrap());
    assert!(report["busybox"].as_str().unwrap().ends_with("/busybox"));
    assert!(report["applets"].as_u64().unwrap() > 100);
    assert!(report["bytes"].as_u64().unwrap() > 100_000);

    let out = Command::new(BIN).arg("busybox").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("jail-rootfs: busybox: "), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");

    let out = Command::new(BIN)
        .args(["busybox", "--busybox", "/bin/ls"])
        .arg(tmp.path().join("other"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("apt-get install busybox-static"), "{stderr}");

    let out = Command::new(BIN)
        .args(["busybox", "--force"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.contains("applets linked"), "{summary}");
}
