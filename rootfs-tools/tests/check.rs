//! `jail-rootfs check`: id ranges, entries a mode cannot serve, setuid/setgid files, device
//! nodes, world-writable directories, idmapped-mount support and reachable parents; the exit
//! status says whether the tree can serve the mode. Needs root.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{jail_rootfs, json, root, scratch};
use rootfs_tools::check::{CheckOptions, Idmap, Parents, check};
use rootfs_tools::ids::IdsMode;

fn build(dir: &Path) {
    for d in ["bin", "tmp", "srv/drop", "home/u", "dev"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(dir.join("srv/drop"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(dir.join("bin/su"), b"").unwrap();
    fs::set_permissions(dir.join("bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(dir.join("bin/wall"), b"").unwrap();
    std::os::unix::fs::chown(dir.join("bin/wall"), Some(0), Some(5)).unwrap();
    fs::set_permissions(dir.join("bin/wall"), fs::Permissions::from_mode(0o2755)).unwrap();
    std::os::unix::fs::chown(dir.join("home/u"), Some(1000), Some(1000)).unwrap();
    let status = Command::new("mknod")
        .args([dir.join("dev/null").to_str().unwrap(), "c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success());
}

fn paths(found: &serde_json::Value) -> Vec<String> {
    found["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_debian_like_tree_serves_isolated_mode() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    build(&dir);
    let report = json(&["check", dir.to_str().unwrap()]);
    assert_eq!(report["mode"], "isolated");
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(
        report["uids"],
        serde_json::json!([{"first": 0, "last": 0, "entries": 10}, {"first": 1000, "last": 1000, "entries": 1}])
    );
    assert_eq!(paths(&report["setuid"]), vec!["bin/su"]);
    assert_eq!(paths(&report["setgid"]), vec!["bin/wall"]);
    assert_eq!(
        report["devices"],
        serde_json::json!([{"path": "dev/null", "kind": "c", "major": 1, "minor": 3}])
    );
    assert_eq!(paths(&report["world_writable"]), vec!["srv/drop"]);
    assert_eq!(report["idmapped_mounts"]["result"], "supported");
    assert_eq!(report["parents"]["result"], "private");
    // Human output.
    let out = jail_rootfs(&["check", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok: the tree can serve id mode isolated"), "{text}");
    assert!(text.contains("idmapped mounts: supported"), "{text}");
}

#[test]
fn ids_outside_the_mode_fail_the_check() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    build(&dir);
    fs::write(dir.join("srv/big-id"), b"").unwrap();
    std::os::unix::fs::chown(dir.join("srv/big-id"), Some(70000), Some(0)).unwrap();

    let out = jail_rootfs(&["check", dir.to_str().unwrap(), "--ids", "isolated", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(paths(&report["outside"]), vec!["srv/big-id"]);
    assert!(report["problems"][0].as_str().unwrap().contains("srv/big-id"));

    // Pass-through serves any id.
    let report = json(&["check", dir.to_str().unwrap(), "--ids", "passthrough"]);
    assert_eq!(report["outside"]["count"], 0);

    // Shifted mode needs the tree shifted: every entry is outside before, none after.
    let report = check(
        &dir,
        &CheckOptions {
            mode: "shifted:100000".parse().unwrap(),
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(report.outside.count, report.entries);
    assert!(
        report.problems[0].contains("jail-rootfs shift"),
        "{:?}",
        report.problems
    );
    fs::remove_file(dir.join("srv/big-id")).unwrap();
    json(&["shift", dir.to_str().unwrap(), "--to", "100000"]);
    let report = json(&["check", dir.to_str().unwrap(), "--ids", "shifted:100000"]);
    assert_eq!(report["problems"], serde_json::json!([]));
    // A custom map says the same.
    let report = json(&["check", dir.to_str().unwrap(), "--ids", "0:100000:65536"]);
    assert_eq!(report["outside"]["count"], 0);
    // And isolated mode no longer fits.
    let out = jail_rootfs(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_reachable_tree_fails_the_check() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    build(&dir);
    // /tmp and the scratch dir both let others through.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let report = check(
        &dir,
        &CheckOptions {
            mode: IdsMode::Isolated,
            progress: false,
        },
    )
    .unwrap();
    assert!(matches!(report.parents, Parents::Refused(_)), "{:?}", report.parents);
    assert!(!report.ok());
    assert!(
        report.problems.iter().any(|p| p.contains("chmod 700")),
        "{:?}",
        report.problems
    );
    assert_eq!(report.idmapped_mounts, Idmap::Supported);

    let out = jail_rootfs(&["check", dir.to_str().unwrap(), "--ids", "nonsense"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a bad mode");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown id mode"));
}
