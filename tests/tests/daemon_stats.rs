//! End-to-end test of `jailctl stats` and `jailctl ps` (`GET /v1/jails/{name}/stats` and `/ps`):
//! a real daemon, a jail whose init runs a `sleep`, its cgroup usage and its processes.

mod common;
mod daemon_common;

use std::fs;
use std::path::PathBuf;

use common::{TestJail, require_root};
use daemon_common::Daemon;
use serde_json::Value;

/// A private directory for jaild's files under the test's temp dir.
fn daemon_dir(jail: &TestJail) -> PathBuf {
    let dir = jail.base.join("d");
    fs::create_dir_all(&dir).expect("mkdir the daemon dir");
    dir
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn stats_and_ps_of_a_running_jail() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    let root = jail.root.to_str().expect("utf-8 path");
    d.ok(&[
        "create",
        "st",
        "--root",
        root,
        "--",
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; sleep 1000 & wait",
    ]);

    // Not running: a clear 409.
    d.fails(&["stats", "st"], "not running");
    d.fails(&["ps", "st"], "not running");

    d.ok(&["start", "st"]);
    // The shell forks its sleep right after it starts: wait for both.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (stats, ps) = loop {
        let stats = json(&d.ok(&["stats", "st", "--json"]));
        let ps = json(&d.ok(&["ps", "st", "--json"]));
        let has_sleep = ps.as_array().is_some_and(|a| {
            a.iter()
                .any(|p| p["command"].as_str().is_some_and(|c| c.contains("sleep")))
        });
        if has_sleep && stats["pids_current"].as_u64().unwrap_or(0) >= 2 {
            break (stats, ps);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sleep in the jail within 20 s: {stats} {ps}\n{}",
            d.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(stats["pids_current"].as_u64().unwrap_or(0) >= 2, "{stats}");
    assert!(stats["memory_current"].as_u64().unwrap_or(0) > 0, "{stats}");
    let procs = ps.as_array().expect("ps --json is an array");
    let sleep = procs
        .iter()
        .find(|p| p["command"].as_str().is_some_and(|c| c.contains("sleep 1000")))
        .unwrap_or_else(|| panic!("no `sleep 1000` in {ps}"));
    assert_ne!(sleep["jail_pid"], sleep["host_pid"], "{sleep}");
    assert!(sleep["jail_pid"].as_i64().is_some(), "{sleep}");
    assert_eq!(sleep["user"], 0, "the jail's root: {sleep}");
    let init = d.entry("st").expect("st is listed")["pid"].clone();
    let first = procs
        .iter()
        .find(|p| p["host_pid"] == init)
        .expect("the init is listed");
    assert_eq!(first["jail_pid"], 1, "{first}");

    // The tables.
    let table = d.ok(&["stats", "st"]);
    assert!(table.contains("memory") && table.contains("MiB"), "{table}");
    let table = d.ok(&["ps", "st"]);
    assert!(table.starts_with("HOST-PID"), "{table}");
    assert!(table.contains("sleep 1000"), "{table}");

    d.ok(&["stop", "st"]);
    d.fails(&["stats", "st"], "not running");
    d.ok(&["destroy", "st"]);
}
