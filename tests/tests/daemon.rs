//! End-to-end tests of jaild and the jailctl lifecycle commands (issue 4): a real daemon on a temp
//! state dir, run dir and socket; real supervisors and jails in busybox roots.
//!
//! - the whole lifecycle, across a `kill -9` of jaild (point 1);
//! - `reboot -f`, `poweroff -f` inside, and `on-failure` restarts up to `max` (point 2);
//! - 50 jails created, started, stopped and destroyed in parallel, with jaild's descriptors, the
//!   mount table and the process list back where they started (point 3);
//! - bad input: clear errors and nothing changed (point 4);
//! - console attach/detach, `logs -f`, autostart, a supervisor that dies, a non-root caller.

mod common;
mod daemon_common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{TestJail, cap, describe, num, parse_status, require_root, stderr_text, stdout_text, wait_timeout};
use daemon_common::{Daemon, fd_count, held_locks, mount_table, processes_with, raw_request, start_time};
use serde_json::Value;

const NOROOT: i64 = 1 << 0;
const NOROOT_LOCKED: i64 = 1 << 1;
const NO_SETUID_FIXUP_LOCKED: i64 = 1 << 3;
const KEEP_CAPS_LOCKED: i64 = 1 << 5;
const NO_CAP_AMBIENT_RAISE: i64 = 1 << 6;
const NO_CAP_AMBIENT_RAISE_LOCKED: i64 = 1 << 7;
const LOCKED_BITS: i64 = NOROOT
    | NOROOT_LOCKED
    | NO_SETUID_FIXUP_LOCKED
    | KEEP_CAPS_LOCKED
    | NO_CAP_AMBIENT_RAISE
    | NO_CAP_AMBIENT_RAISE_LOCKED;

/// A private directory for jaild's files under the test's temp dir.
fn daemon_dir(jail: &TestJail) -> PathBuf {
    let dir = jail.base.join("d");
    fs::create_dir_all(&dir).expect("mkdir the daemon dir");
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A hex capability string (`0x...` or bare) as a number.
fn hex(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn pid_of(v: &Value) -> i32 {
    v["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {v}")) as i32
}

/// Point 1: create, start, `list --json` shows running, `exec` runs inside with the jail's
/// confinement, `kill -9` jaild, start it again, the jail is still running, `exec` and `stop`
/// work, `destroy` removes the jail and its state.
#[test]
fn lifecycle_survives_kill_9_of_the_daemon() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let mut d = Daemon::start(&daemon_dir(&jail));
    let root = path_str(&jail.root);
    d.ok(&[
        "create",
        "web",
        "--root",
        root,
        "--hostname",
        "web.test",
        "--set",
        "init=builtin",
        "--",
        "/bin/sh",
        "-c",
        "echo booted-$((40+2)); exec sleep 100000",
    ]);
    let e = d.entry("web").expect("web is listed");
    assert_eq!(e["state"], "stopped", "{e}");
    assert!(e["pid"].is_null(), "{e}");
    assert!(d.state_dir.join("jails/web/config.yaml").is_file());

    d.ok(&["start", "web"]);
    let e = d.entry("web").expect("web is listed");
    assert_eq!(e["state"], "running", "{e}");
    let pid = pid_of(&e);
    let pid_start = start_time(pid).expect("the init runs");
    assert!(e["ids"].as_str().unwrap_or("").starts_with("isolated "), "{e}");
    assert_eq!(e["hostname"], "web.test", "{e}");

    // inspect: namespaces, id map, capability mask, seccomp, Landlock, exec hint.
    let i = d.inspect("web");
    for ns in ["user", "mnt", "pid", "uts", "ipc", "net"] {
        let own = fs::read_link(format!("/proc/self/ns/{ns}")).expect("own ns");
        let theirs = i["namespaces"][ns]
            .as_str()
            .unwrap_or_else(|| panic!("no {ns} namespace in {i}"));
        assert_ne!(
            theirs,
            own.to_string_lossy(),
            "the jail must have its own {ns} namespace"
        );
    }
    let uid_map = i["uid_map"].as_str().expect("uid map");
    assert!(uid_map.starts_with("0 3"), "isolated map from the test pool: {uid_map}");
    assert_eq!(i["seccomp"]["mode"], 2, "{i}");
    assert_eq!(i["plan_hint"]["pid"], pid, "{i}");
    assert_eq!(i["pid_start"], pid_start, "{i}");
    assert_eq!(i["restarts"], 0, "{i}");
    assert!(i["started_at"].as_u64().is_some(), "{i}");
    let mask = hex(&i["capabilities"]["mask"]);
    assert_eq!(
        hex(&i["capabilities"]["bounding"]),
        mask,
        "the init's bounding set is the mask: {i}"
    );

    // exec: the same confinement as the init, read from inside.
    let out = d.ctl(&["exec", "web", "--", "/bin/jail-probe", "status"]);
    let st = parse_status(&out);
    for key in ["CapBnd", "CapEff", "CapPrm", "CapAmb"] {
        assert_eq!(
            cap(&st, key),
            mask,
            "{key} of an exec'd root process must be the mask: {st}"
        );
    }
    assert_eq!(num(&st, "uid"), 0, "{st}");
    assert_eq!(num(&st, "securebits") & LOCKED_BITS, LOCKED_BITS, "{st}");
    assert_eq!(num(&st, "Seccomp"), 2, "{st}");
    assert_ne!(num(&st, "pid"), 1, "exec'd, not the init: {st}");
    assert_eq!(st["hostname"], "web.test", "{st}");
    let fds: Vec<i64> = st["fds"]
        .as_array()
        .expect("fds")
        .iter()
        .filter_map(|f| f["fd"].as_i64())
        .collect();
    assert_eq!(fds, [0, 1, 2], "no descriptor of jailctl reaches the jail: {st}");
    // Exit status propagates; the user switch works.
    let out = d.ctl(&["exec", "web", "--", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    let out = d.ctl(&[
        "exec",
        "-u",
        "1000",
        "-e",
        "X=y",
        "-w",
        "/tmp",
        "web",
        "--",
        "/bin/sh",
        "-c",
        "echo $(id -u) $X $(pwd)",
    ]);
    assert_eq!(stdout_text(&out).trim(), "1000 y /tmp", "{}", describe(&out));

    // kill -9 jaild: the jail runs on under its supervisor; a new jaild finds it.
    d.kill9();
    assert_eq!(start_time(pid), Some(pid_start), "the jail must outlive jaild");
    d.spawn();
    let e = d.entry("web").expect("web is listed again");
    assert_eq!(e["state"], "running", "{e}");
    assert_eq!(pid_of(&e), pid, "the same init: {e}");
    let out = d.ctl(&["exec", "web", "--", "/bin/sh", "-c", "echo $((6*7))"]);
    assert_eq!(stdout_text(&out).trim(), "42", "{}", describe(&out));
    let logs = d.ok(&["logs", "web"]);
    assert!(logs.contains("booted-42"), "the console log survives: {logs:?}");

    // stop: nothing of the run remains.
    let sup = d.inspect("web")["supervisor_pid"].as_i64().expect("supervisor pid") as i32;
    d.ok(&["stop", "web", "--timeout", "5"]);
    let e = d.entry("web").expect("web is listed");
    assert_eq!(e["state"], "stopped", "{e}");
    assert!(e["pid"].is_null(), "{e}");
    assert_eq!(start_time(pid), None, "the init is gone");
    assert_eq!(start_time(sup), None, "the supervisor is gone");
    assert!(
        !d.run_dir.join("jails/web/control.sock").exists(),
        "no control socket left"
    );
    let out = d.ctl(&["exec", "web", "--", "/bin/true"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "exec into a stopped jail fails: {}",
        describe(&out)
    );
    assert!(stderr_text(&out).contains("not running"), "{}", describe(&out));

    d.ok(&["destroy", "web"]);
    assert!(d.list().is_empty());
    assert!(!d.state_dir.join("jails/web").exists(), "destroy removes the state");
    assert!(!d.run_dir.join("jails/web").exists(), "destroy removes the run dir");
    assert!(
        jail.root.join("bin/busybox").exists(),
        "the root directory itself stays"
    );
}

/// Reads a child's stdout in a thread; the bytes arrive on the channel.
fn pipe_reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects from `rx` until `needle` appears (at most `limit`); everything read.
fn read_until(rx: &mpsc::Receiver<Vec<u8>>, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut all = Vec::new();
    while !String::from_utf8_lossy(&all).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(b) => all.extend(b),
            Err(_) => panic!(
                "{needle:?} did not arrive within {limit:?}; got {:?}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// `console`: attach to an interactive shell on the jail's pty, run a command, detach with
/// Ctrl-] q; what was typed is in the console log.
#[test]
fn console_attach_and_detach() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    d.ok(&[
        "create",
        "c1",
        "--root",
        path_str(&jail.root),
        "--passthrough-ids",
        "--",
        "/bin/sh",
    ]);
    d.ok(&["start", "c1"]);
    let mut child = d
        .jailctl(&["console", "c1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jailctl console");
    let rx = pipe_reader(child.stdout.take().expect("stdout"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"echo console-$((40+2))\n").expect("type");
    read_until(&rx, "console-42", Duration::from_secs(10));
    stdin.write_all(b"\x1dq").expect("detach");
    let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("console detaches");
    let mut err = String::new();
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut err);
    assert!(status.success(), "console: {status}, stderr {err}");
    assert!(err.contains("Ctrl-]"), "console tells how to detach: {err}");
    assert_eq!(
        d.entry("c1").expect("c1")["state"],
        "running",
        "detaching leaves the jail running"
    );
    let logs = d.ok(&["logs", "c1"]);
    assert!(logs.contains("console-42"), "{logs:?}");
    let tail = d.ok(&["logs", "c1", "--tail", "1"]);
    assert!(tail.lines().count() <= 1, "--tail 1: {tail:?}");
    // An interactive shell as pid 1 ignores SIGTERM: the grace period ends in SIGKILL.
    d.ok(&["stop", "c1", "--timeout", "1"]);
    d.ok(&["destroy", "c1"]);
}

/// `logs -f` streams the console while the jail runs and ends when it stops.
#[test]
fn logs_follow_ends_with_the_jail() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    let script = "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.3; done";
    d.ok(&[
        "create",
        "f1",
        "--root",
        path_str(&jail.root),
        "--passthrough-ids",
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    d.ok(&["start", "f1"]);
    let mut child = d
        .jailctl(&["logs", "-f", "f1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn logs -f");
    let rx = pipe_reader(child.stdout.take().expect("stdout"));
    let first = read_until(&rx, "tick1", Duration::from_secs(10));
    let status = wait_timeout(&mut child, Duration::from_secs(20)).expect("logs -f ends when the jail stops");
    assert!(status.success(), "{status}");
    let mut all = first;
    while let Ok(b) = rx.recv_timeout(Duration::from_millis(200)) {
        all.push_str(&String::from_utf8_lossy(&b));
    }
    assert!(all.contains("tick6"), "followed to the end: {all:?}");
    let e = d.entry("f1").expect("f1");
    assert_eq!(
        e["state"], "stopped",
        "an init that exits 0 leaves the jail stopped: {e}"
    );
    d.ok(&["destroy", "f1"]);
}

/// The init script of the reboot tests: waits for a trigger file from the host, then
/// `reboot -f` or `poweroff -f` (busybox: straight to reboot(2)).
const TRIGGERED: &str = "echo up; while :; do \
    if [ -e /reboot-now ]; then rm -f /reboot-now; reboot -f; fi; \
    if [ -e /poweroff-now ]; then rm -f /poweroff-now; poweroff -f; fi; \
    sleep 0.05; done";

/// Point 2: `reboot -f` inside brings the jail back with a new init.
#[test]
fn reboot_inside_restarts_the_jail() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    d.ok(&[
        "create",
        "rb",
        "--root",
        path_str(&jail.root),
        "--passthrough-ids",
        "--",
        "/bin/sh",
        "-c",
        TRIGGERED,
    ]);
    d.ok(&["start", "rb"]);
    let before = d.inspect("rb");
    let pid0 = pid_of(&before);
    fs::write(jail.root.join("reboot-now"), b"").expect("trigger the reboot");
    let after = d.wait_for("rb", Duration::from_secs(20), "running with a new init", |v| {
        v["state"] == "running" && v["pid"].as_i64().is_some_and(|p| p as i32 != pid0) && v["restarts"] == 1
    });
    assert_eq!(start_time(pid0), None, "the old init is gone");
    assert_eq!(
        after["supervisor_pid"], before["supervisor_pid"],
        "the same supervisor: {after}"
    );
    let logs = d.ok(&["logs", "rb"]);
    assert_eq!(logs.matches("up").count(), 2, "two boots in the console log: {logs:?}");
    d.ok(&["stop", "rb", "--timeout", "1"]);
    d.ok(&["destroy", "rb"]);
}

/// Point 2: `poweroff -f` inside stops the jail.
#[test]
fn poweroff_inside_stops_the_jail() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    d.ok(&[
        "create",
        "po",
        "--root",
        path_str(&jail.root),
        "--passthrough-ids",
        "--",
        "/bin/sh",
        "-c",
        TRIGGERED,
    ]);
    d.ok(&["start", "po"]);
    let i = d.inspect("po");
    let (pid, sup) = (pid_of(&i), i["supervisor_pid"].as_i64().expect("supervisor") as i32);
    fs::write(jail.root.join("poweroff-now"), b"").expect("trigger the poweroff");
    d.wait_for("po", Duration::from_secs(20), "stopped", |v| v["state"] == "stopped");
    assert_eq!(start_time(pid), None, "the init is gone");
    let deadline = Instant::now() + Duration::from_secs(5);
    while start_time(sup).is_some() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(start_time(sup), None, "the supervisor exits after a poweroff");
    d.ok(&["start", "po"]);
    d.ok(&["stop", "po", "--timeout", "1"]);
    d.ok(&["destroy", "po"]);
}

/// Point 2: an init that exits non-zero is restarted under `on-failure`, with back-off, up to
/// `max` times; then the jail is down with the exit status recorded.
#[test]
fn on_failure_restarts_up_to_max() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    d.ok(&[
        "create",
        "of",
        "--root",
        path_str(&jail.root),
        "--passthrough-ids",
        "--restart",
        "on-failure",
        "--restart-max",
        "2",
        "--restart-backoff-ms",
        "100",
        "--",
        "/bin/sh",
        "-c",
        "echo try; sleep 0.2; exit 3",
    ]);
    let began = Instant::now();
    d.ok(&["start", "of"]);
    let v = d.wait_for("of", Duration::from_secs(20), "down after two restarts", |v| {
        matches!(v["state"].as_str(), Some("failed" | "stopped"))
    });
    assert_eq!(v["restarts"], 2, "{v}");
    assert_eq!(v["exit_status"], 3, "{v}");
    assert_eq!(v["state"], "failed", "a non-zero exit ends as failed: {v}");
    // Three runs of 0.2 s and back-offs of 100 + 200 ms.
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "back-off: {:?}",
        began.elapsed()
    );
    let logs = d.ok(&["logs", "of"]);
    assert_eq!(logs.matches("try").count(), 3, "three runs: {logs:?}");
    d.ok(&["destroy", "of"]);
}

/// Autostart when jaild starts; a supervisor killed with SIGKILL: jaild kills the orphaned jail
/// and marks it stopped.
#[test]
fn autostart_and_a_dead_supervisor() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let mut d = Daemon::start(&daemon_dir(&jail));
    d.ok(&[
        "create",
        "as1",
        "--root",
        path_str(&jail.root),
        "--autostart",
        "--set",
        "init=builtin",
        "--",
        "/bin/sleep",
        "100000",
    ]);
    assert_eq!(
        d.entry("as1").expect("as1")["state"],
        "stopped",
        "create does not start"
    );
    d.terminate();
    d.spawn();
    let v = d.wait_for("as1", Duration::from_secs(20), "autostarted", |v| {
        v["state"] == "running"
    });
    let (pid, sup) = (pid_of(&v), v["supervisor_pid"].as_i64().expect("supervisor") as i32);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(sup), nix::sys::signal::Signal::SIGKILL).expect("kill -9");
    let v = d.wait_for(
        "as1",
        Duration::from_secs(20),
        "stopped after its supervisor died",
        |v| v["state"] == "stopped",
    );
    assert!(v["error"].as_str().unwrap_or("").contains("supervisor"), "{v}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while start_time(pid).is_some() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(start_time(pid), None, "the orphaned init was killed");
    d.ok(&["start", "as1"]);
    d.ok(&["destroy", "--force", "as1"]);
}

/// Every file under `dir` with its contents (sockets and state files excluded from contents).
fn tree(dir: &Path) -> BTreeSet<(PathBuf, Vec<u8>)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(p.clone());
                out.insert((p, Vec::new()));
            } else {
                let keep = p.extension().is_some_and(|x| x == "yaml" || x == "json");
                out.insert((
                    p.clone(),
                    if keep {
                        fs::read(&p).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                ));
            }
        }
    }
    out
}

/// Point 4: unknown jail, duplicate name, bad names, a root used by another jail, starting a
/// running jail, malformed bodies: clear errors, and nothing changed.
#[test]
fn bad_input_changes_nothing() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let d = Daemon::start(&daemon_dir(&jail));
    let root = path_str(&jail.root);
    d.ok(&[
        "create",
        "a",
        "--root",
        root,
        "--set",
        "init=builtin",
        "--",
        "/bin/sleep",
        "100000",
    ]);
    d.ok(&["start", "a"]);
    let other = jail.base.join("other");
    fs::create_dir(&other).expect("mkdir other");
    let before_tree = (tree(&d.state_dir), tree(&d.run_dir));
    let before_list = d.list();

    for args in [
        &["inspect", "nope"][..],
        &["start", "nope"],
        &["stop", "nope"],
        &["restart", "nope"],
        &["destroy", "nope"],
        &["logs", "nope"],
    ] {
        let err = d.fails(args, "no jail named `nope`");
        assert!(err.contains("HTTP 404"), "{err}");
    }
    let out = d.ctl(&["exec", "nope", "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(stderr_text(&out).contains("no jail named"), "{}", describe(&out));
    let other_s = path_str(&other);
    d.fails(&["create", "a", "--root", other_s], "a jail named `a` already exists");
    d.fails(&["create", "a/b", "--root", other_s], "cannot contain `/`");
    d.fails(&["create", "..", "--root", other_s], "cannot contain `..`");
    d.fails(&["create", "x..y", "--root", other_s], "cannot contain `..`");
    let long = "x".repeat(65);
    d.fails(&["create", &long, "--root", other_s], "at most 64 characters");
    d.fails(
        &["create", ".hidden", "--root", other_s],
        "must start with a letter or a digit",
    );
    d.fails(&["create", "b", "--root", root], "already used by jail `a`");
    let dotted = format!("{}/../rootfs", other.display());
    d.fails(&["create", "b", "--root", &dotted], "already used by jail `a`");
    d.fails(
        &["create", "b", "--root", path_str(&jail.base.join("missing"))],
        "no such directory",
    );
    d.fails(
        &["create", "b", "--root", other_s, "--policy", "nope"],
        "unknown policy profile",
    );
    d.fails(
        &["create", "b", "--root", other_s, "--set", "capabilities.allow=[NOPE]"],
        "resolve the policy",
    );
    d.fails(
        &["create", "b", "--root", other_s, "--stop-signal", "SIGNOPE"],
        "unknown signal",
    );
    d.fails(&["create", "b", "--root", "/tmp"], "chmod 700");
    let err = d.fails(&["start", "a"], "already running");
    assert!(err.contains("HTTP 409"), "{err}");
    d.fails(&["destroy", "a"], "destroy --force");

    // Bodies and queries jailctl would never send.
    for body in [
        &b"{"[..],
        b"[]",
        b"",
        b"{\"name\": \"x\"}",
        b"{\"name\": 1, \"root\": \"/r\"}",
        b"{\"name\": \"x\", \"root\": \"/r\", \"bogus\": 1}",
        b"\xff\xfe",
    ] {
        let (status, resp) = raw_request(&d.socket, "POST", "/v1/jails", Some(body)).expect("request");
        let v: Value = serde_json::from_slice(&resp).unwrap_or_else(|e| panic!("error body not JSON ({e}): {resp:?}"));
        assert_eq!(status, 400, "body {:?}: {v}", String::from_utf8_lossy(body));
        assert_eq!(v["step"], "parse the request", "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    for (method, path, status) in [
        ("DELETE", "/v1/jails/a?force=maybe", 400),
        ("POST", "/v1/jails/a/stop?timeout=soon", 400),
        ("GET", "/v1/jails/a/logs?follow=1&bogus=2", 400),
        ("GET", "/v1/nothing", 404),
        ("PUT", "/v1/jails", 405),
        ("GET", "/v1/jails/a%2Fb", 422),
    ] {
        let (got, resp) = raw_request(&d.socket, method, path, None).expect("request");
        let v: Value =
            serde_json::from_slice(&resp).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {resp:?}"));
        assert_eq!(got, status, "{method} {path}: {v}");
        assert!(v["error"].is_string() && v["step"].is_string(), "{v}");
    }

    assert_eq!(
        (tree(&d.state_dir), tree(&d.run_dir)),
        before_tree,
        "bad input changed the state"
    );
    assert_eq!(d.list(), before_list, "bad input changed the jails");
    d.ok(&["destroy", "--force", "a"]);
}

/// Only root is served: another uid gets 403 and a clear message; the socket is 0660.
#[test]
fn non_root_callers_are_refused() {
    if !require_root() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("jaild-403.")
        .tempdir()
        .expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let d = Daemon::start(dir.path());
    let mode = fs::metadata(&d.socket).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "socket mode");
    // Let uid 65534 reach the socket, to show that jaild itself refuses it.
    fs::set_permissions(&d.socket, fs::Permissions::from_mode(0o666)).expect("chmod socket");
    let mut cmd = d.jailctl(&["list"]);
    cmd.uid(65534).gid(65534);
    let out = common::output_with_timeout(cmd, Duration::from_secs(30));
    let err = stderr_text(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        err.contains("HTTP 403") && err.contains("only root"),
        "{}",
        describe(&out)
    );
    let log = fs::read_to_string(&d.log).unwrap_or_default();
    assert!(log.contains("uid=65534"), "the refusal is logged with the uid:\n{log}");
    assert!(
        log.contains("uid=0"),
        "requests are logged with the caller's uid:\n{log}"
    );
}

/// Point 3: 50 jails created, started, stopped and destroyed by parallel jailctl calls: no
/// errors, and afterwards jaild's descriptors, the mount table and the process list are back
/// where they started.
#[test]
fn fifty_jails_in_parallel() {
    if !require_root() {
        return;
    }
    const N: usize = 50;
    let jail = TestJail::new();
    let roots_dir = jail.base.join("roots");
    fs::create_dir(&roots_dir).expect("mkdir roots");
    let roots: Vec<PathBuf> = (0..=N).map(|i| roots_dir.join(format!("r{i}"))).collect();
    common::busybox_roots(&roots);
    let d = Daemon::start(&daemon_dir(&jail));
    let marker = format!("{}", 500_000 + std::process::id());
    let sleep_cmd = format!("sleep {marker}");
    // Supervisors name their state file under STATE_DIR/jails/ (jaild itself only STATE_DIR).
    let state_marker = format!("{}/jails/", path_str(&d.state_dir));

    // Warm up (the runtime creates some descriptors lazily), then take the baseline.
    let warm = path_str(&roots[N]).to_string();
    d.ok(&[
        "create",
        "warm",
        "--root",
        &warm,
        "--set",
        "init=builtin",
        "--",
        "/bin/sleep",
        &marker,
    ]);
    d.ok(&["start", "warm"]);
    d.ok(&["stop", "warm", "--timeout", "5"]);
    d.ok(&["destroy", "warm"]);
    thread::sleep(Duration::from_millis(300));
    let fds_before = fd_count(d.pid());
    let mounts_before = mount_table();
    assert!(processes_with(&sleep_cmd).is_empty() && processes_with(&state_marker).is_empty());

    let began = Instant::now();
    let run_all = |step: &(dyn Fn(usize) -> Vec<Vec<String>> + Sync)| {
        thread::scope(|s| {
            let handles: Vec<_> = (0..N)
                .map(|i| {
                    let d = &d;
                    s.spawn(move || {
                        for args in step(i) {
                            let args: Vec<&str> = args.iter().map(String::as_str).collect();
                            d.ok(&args);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("a jailctl thread panicked");
            }
        });
    };
    run_all(&|i| {
        let name = format!("j{i}");
        let ids = if i % 2 == 0 { "isolated" } else { "passthrough" };
        vec![
            [
                "create",
                &name,
                "--root",
                path_str(&roots[i]),
                "--ids",
                ids,
                "--set",
                "init=builtin",
                "--",
                "/bin/sleep",
                &marker,
            ]
            .map(str::to_string)
            .to_vec(),
            vec!["start".to_string(), name],
        ]
    });
    let started = began.elapsed();
    let list = d.list();
    assert_eq!(list.len(), N, "{list:?}");
    assert!(list.iter().all(|j| j["state"] == "running"), "{list:?}");
    let pids: BTreeSet<i64> = list.iter().filter_map(|j| j["pid"].as_i64()).collect();
    assert_eq!(pids.len(), N, "distinct inits: {list:?}");
    let sleepers = processes_with(&sleep_cmd).len();
    // Each jail: the sleep, plus the supervisor and the reaper whose command lines carry it too.
    assert!(sleepers >= N, "{sleepers} processes run the payload");
    run_all(&|i| {
        let name = format!("j{i}");
        vec![
            ["stop", &name, "--timeout", "5"].map(str::to_string).to_vec(),
            vec!["destroy".to_string(), name],
        ]
    });
    println!(
        "50 jails: created and started in {started:?}, all done in {:?}",
        began.elapsed()
    );
    assert!(d.list().is_empty());

    // Back where we started. Other test binaries may mount and unmount meanwhile: retry for a
    // while, and if the table never settles, fail only on differences that involve this test.
    let base = path_str(&jail.base).to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fds = fd_count(d.pid());
        let mounts = mount_table();
        let procs = (processes_with(&sleep_cmd), processes_with(&state_marker));
        let locks = held_locks(&d.pool_dir);
        let added: Vec<&String> = mounts.iter().filter(|m| !mounts_before.contains(m)).collect();
        let removed: Vec<&String> = mounts_before.iter().filter(|m| !mounts.contains(m)).collect();
        let others_clean = fds == fds_before && procs.0.is_empty() && procs.1.is_empty() && locks.is_empty();
        if others_clean && added.is_empty() && removed.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let ours = added.iter().chain(&removed).any(|m| m.contains(&base));
            if others_clean && !ours {
                println!("the host mount table changed by other tests meanwhile: added {added:?}, removed {removed:?}");
                break;
            }
            panic!(
                "not back to the start: jaild fds {fds_before} -> {fds}; mounts added {added:?}, removed {removed:?}; \
                 payload processes {:?}; supervisors {:?}; id pool locks still held {locks:?}\n{}",
                procs.0,
                procs.1,
                d.log_text()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(common::mounts_under(&jail.base).is_empty());
    let _ = fs::remove_dir_all(&roots_dir);
}
