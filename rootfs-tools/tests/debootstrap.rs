//! `jail-rootfs debootstrap`: a real Debian bookworm (minbase) that runs as a jail.
//!
//! One test, run in CI: it downloads about 45 MB from the Debian archive the first time on a
//! machine and keeps the tarball in /var/cache/jaild/debootstrap, so later runs only install
//! from it (about a minute). Then, in isolated mode (an idmapped mount of the tree, files on disk
//! owned by uid 0 and 1000 as Debian made them), `jailctl run` runs apt-get, dpkg and adduser.
//! Needs root, the network to the Debian archive, and the jailctl binary (`cargo build -p
//! jailctl`; the test builds it when it is missing).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::{json, root, scratch};

/// The jailctl binary beside this test's target directory (`target/<triple>/debug/jailctl`).
fn jailctl() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<triple>/debug/deps/debootstrap-HASH -> target/<triple>/debug/jailctl
    let bin = exe.parent().unwrap().parent().unwrap().join("jailctl");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "jailctl"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p jailctl failed");
    }
    assert!(bin.is_file(), "no jailctl at {}", bin.display());
    bin
}

fn run_in_jail(root: &std::path::Path, command: &[&str]) -> Output {
    let mut args = vec!["run", "--root", root.to_str().unwrap(), "--"];
    args.extend_from_slice(command);
    let out = Command::new(jailctl()).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "jailctl {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn debian_bookworm_minbase_runs_as_a_jail() {
    if !root() {
        return;
    }
    // The rootfs lives under a 0700 directory: the runtime refuses a tree others can reach.
    let tmp = scratch();
    let dir = tmp.path().join("bookworm");
    let report = json(&[
        "debootstrap",
        "bookworm",
        dir.to_str().unwrap(),
        "--variant",
        "minbase",
        "--include",
        "adduser",
    ]);
    eprintln!(
        "debootstrap: {:.0} s, tarball {} ({})",
        report["seconds"].as_f64().unwrap(),
        report["tarball"],
        if report["cached"] == true {
            "cached"
        } else {
            "downloaded"
        }
    );
    assert!(
        report["tarball"]
            .as_str()
            .unwrap()
            .ends_with("bookworm-minbase+adduser.tgz")
    );

    // Debian's tree, merged /usr and all.
    assert!(dir.join("usr/bin/apt-get").is_file());
    assert_eq!(fs::read_link(dir.join("bin")).unwrap(), PathBuf::from("usr/bin"));
    // Ready to be a jail: nothing of the host's.
    assert_eq!(fs::read_to_string(dir.join("etc/hostname")).unwrap(), "jail\n");
    let hosts = fs::read_to_string(dir.join("etc/hosts")).unwrap();
    assert!(
        hosts.contains("127.0.1.1\tjail") && hosts.contains("127.0.0.1\tlocalhost"),
        "{hosts}"
    );
    assert_eq!(fs::metadata(dir.join("etc/machine-id")).unwrap().len(), 0);
    let resolv = fs::symlink_metadata(dir.join("etc/resolv.conf")).unwrap();
    assert!(resolv.is_file());
    assert!(
        fs::read_to_string(dir.join("etc/resolv.conf"))
            .unwrap()
            .contains("jail-rootfs")
    );
    let debs = fs::read_dir(dir.join("var/cache/apt/archives"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".deb"))
        .count();
    assert_eq!(debs, 0);
    assert!(!dir.join("debootstrap").exists());

    // The check agrees it can serve isolated mode.
    let check = json(&["check", dir.to_str().unwrap(), "--ids", "isolated"]);
    assert_eq!(check["problems"], serde_json::json!([]), "{check:#}");

    // And it runs as a jail, in isolated mode (the default).
    let out = run_in_jail(&dir, &["/usr/bin/apt-get", "--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("apt "));
    let out = run_in_jail(&dir, &["/bin/sh", "-c", "dpkg -l | wc -l"]);
    let lines: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(lines > 80, "dpkg -l printed {lines} lines");
    run_in_jail(&dir, &["/usr/sbin/adduser", "--disabled-password", "--gecos", "", "u1"]);
    let passwd = fs::read_to_string(dir.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("u1:x:1000:1000:")), "{passwd}");
    // Through the idmapped mount, the jail's uid 1000 is uid 1000 on disk.
    let home = fs::metadata(dir.join("home/u1")).unwrap();
    assert_eq!((home.uid(), home.gid()), (1000, 1000));
    assert_eq!(fs::metadata(dir.join("etc/passwd")).unwrap().uid(), 0);
}
