//! Id modes seen from the host (issue 2, "What it must show" 3): in isolated mode the jail's
//! processes run as an unprivileged host uid from the pool while what the jail's root creates is
//! owned by uid 0 on disk (idmapped rootfs); in pass-through mode both are plain uid 0.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use common::{
    Mode, TIMEOUT, TestJail, describe, jail_processes, require_root, status_field, stdout_lines, wait_output,
};

/// Starts a jail whose root creates a file and then waits on stdin; inspects it from the host.
/// Returns the real uids of the jail's processes.
fn jail_uids_and_file(mode: Mode) -> Option<(TestJail, Vec<u32>)> {
    if !require_root() {
        return None;
    }
    let jail = TestJail::new();
    let uids = jail_uids(
        &jail,
        mode.args(),
        "touch /created-by-root && echo ready; read x || sleep 3",
    );
    Some((jail, uids))
}

/// Runs `script` (which prints `ready` and then reads a line) in a jail with `args`; returns the
/// host's view of the real uids of the jail's processes.
fn jail_uids(jail: &TestJail, args: &[&str], script: &str) -> Vec<u32> {
    let mut child = jail.spawn(args, &["/bin/sh", "-c", script]);
    let lines = stdout_lines(&mut child);
    let ready = lines.recv_timeout(TIMEOUT);
    let uids: Vec<u32> = if ready.as_deref() == Ok("ready") {
        jail_processes(child.id())
            .into_iter()
            .filter_map(|pid| {
                let uid = status_field(pid, "Uid")?;
                uid.split_whitespace().next()?.parse().ok()
            })
            .collect()
    } else {
        Vec::new()
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let out = wait_output(child, TIMEOUT);
    assert_eq!(
        ready.as_deref(),
        Ok("ready"),
        "the jail did not start\n{}",
        describe(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!uids.is_empty(), "no jail process found from the host");
    uids
}

#[test]
fn isolated_runs_as_pool_uid_and_writes_uid_0_on_disk() {
    let Some((jail, uids)) = jail_uids_and_file(Mode::Isolated) else {
        return;
    };
    let pool_end = u64::from(jail.pool_start) + 4 * 65536;
    for uid in &uids {
        assert_ne!(*uid, 0, "a jail process runs as host root in isolated mode: {uids:?}");
        assert!(
            u64::from(*uid) >= u64::from(jail.pool_start) && u64::from(*uid) < pool_end,
            "jail process uid {uid} is outside the pool {}..{pool_end}",
            jail.pool_start
        );
    }
    let meta = std::fs::metadata(jail.root.join("created-by-root")).expect("the file exists on disk");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "owner on disk of a file the jail's root made"
    );
}

#[test]
fn passthrough_runs_as_uid_0_and_writes_uid_0_on_disk() {
    let Some((jail, uids)) = jail_uids_and_file(Mode::Passthrough) else {
        return;
    };
    assert!(
        uids.iter().all(|u| *u == 0),
        "pass-through root is host uid 0: {uids:?}"
    );
    let meta = std::fs::metadata(jail.root.join("created-by-root")).expect("the file exists on disk");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "owner on disk of a file the jail's root made"
    );
}

#[test]
fn custom_map_runs_as_mapped_uid() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    // The pool range of this test, used directly as a custom map.
    let map = format!("ids.map=[\"0:{}:65536\"]", jail.pool_start);
    let args = ["--set", "ids.mode=custom", "--set", &map];
    let uids = jail_uids(&jail, &args, "echo ready; read x || sleep 3");
    assert!(
        uids.iter().all(|u| *u == jail.pool_start),
        "jail root should be host uid {}: {uids:?}",
        jail.pool_start
    );
}
