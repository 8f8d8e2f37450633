//! `jailctl create --from SOURCE` (issue 5): the rootfs is built through the rootfs-tools library,
//! then the jail is created and runs; a create that fails removes the tree it built.

mod common;
mod daemon_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::require_root;
use daemon_common::Daemon;

fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("jail-from.")
        .tempdir()
        .expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

#[test]
fn create_from_busybox_builds_and_runs() {
    if !require_root() {
        return;
    }
    let dir = private_dir();
    let d = Daemon::start(dir.path());
    let root = dir.path().join("from-busybox");
    let root_s = root.to_str().unwrap();
    d.ok(&[
        "create",
        "fb",
        "--root",
        root_s,
        "--from",
        "busybox",
        "--",
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    assert!(root.join("bin/busybox").exists(), "the rootfs was built");
    d.ok(&["start", "fb"]);
    let out = d.ok(&["exec", "fb", "--", "/bin/sh", "-c", "cat /etc/hostname; id -u"]);
    assert!(out.ends_with("0\n"), "{out}");
    d.ok(&["destroy", "--force", "fb"]);
}

#[test]
fn failed_create_removes_the_tree_it_built() {
    if !require_root() {
        return;
    }
    let dir = private_dir();
    let d = Daemon::start(dir.path());
    let root = dir.path().join("from-busybox");
    let root_s = root.to_str().unwrap();
    // An invalid name: the tree is built, the create refused, the tree removed.
    d.fails(&["create", "bad/name", "--root", root_s, "--from", "busybox"], "name");
    assert!(!root.exists(), "a failed create must not leave the tree it built");
    // A bad source: nothing is made at all.
    d.fails(
        &["create", "x", "--root", root_s, "--from", "tar:/nonexistent.tar"],
        "nonexistent",
    );
    assert!(!root.exists());
}
