//! Fault tests (issue 7): jaild killed at named steps of create, start, stop and destroy, then
//! restarted; a state directory that is full; a jail's supervisor or init killed from outside.
//!
//! The kills are injected deterministically: a debug build of jaild run with `JAILD_FAULT=STEP`
//! sends itself SIGKILL when it reaches STEP (`jaild/src/daemon/fault.rs` lists the steps). Each
//! test checks that jaild really died there (by SIGKILL, with the operation's reply lost), then
//! starts a plain jaild on the same directories and requires a consistent state: the jail is
//! either fully there (running with its supervisor, init, cgroup, veth, id lease and run
//! directory; or stopped with none of those) or fully gone (no state, no run directory, no
//! address lease), never half-made or half-destroyed. Then it finishes the operation and requires
//! that nothing was leaked: no state or run directory entries, no processes, cgroups, veths,
//! address leases, id leases or mounts.
//!
//! Every jail runs isolated ids on a bridge with `address: [auto]`, so every kind of resource a
//! jail holds is in play; jaild runs inside a network namespace the test made.

mod common;
mod daemon_common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::{TestJail, describe, require_root, stderr_text};
use daemon_common::{Daemon, NetDaemon, NetNs, held_locks, mount_table, processes_with, start_time};

const NET_AUTO: &str = "network={mode: bridge, bridge: jbr9, create_bridge: true, address: [auto]}";

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// One fault test's world: a netns playing the host, a busybox root, jaild's directories, and a
/// jaild (plain or with a fault armed) inside the netns.
struct World {
    // Field order is drop order: jaild, the jails, the state tmpfs, the netns, the temp dir.
    jaild: Option<NetDaemon>,
    d: Daemon,
    tmpfs: Option<Tmpfs>,
    ns: NetNs,
    jail: TestJail,
    /// Each jail's payload is `sleep MARKER`: its processes are found by it.
    marker: String,
}

impl World {
    fn new() -> World {
        World::build(None)
    }

    /// A world whose state directory is a tmpfs of `size` (`mount -o size=`).
    fn build(state_tmpfs: Option<&str>) -> World {
        let ns = NetNs::new();
        let jail = TestJail::new();
        let dir = jail.base.join("d");
        fs::create_dir_all(&dir).expect("mkdir the daemon dir");
        let tmpfs = state_tmpfs.map(|size| Tmpfs::mount(&dir.join("state"), size));
        let mut d = Daemon::start(&dir);
        d.kill9();
        let marker = format!("{}", 700_000 + std::process::id());
        let mut w = World {
            jaild: None,
            d,
            tmpfs,
            ns,
            jail,
            marker,
        };
        w.restart(None);
        w
    }

    /// Replaces the running jaild (if any, by SIGKILL) with a new one, `fault` armed.
    fn restart(&mut self, fault: Option<&str>) {
        if let Some(mut j) = self.jaild.take() {
            j.kill9();
        }
        let env: Vec<(&str, &str)> = fault.map(|f| ("JAILD_FAULT", f)).into_iter().collect();
        self.jaild = Some(NetDaemon::start_with(&self.d, &self.ns, &env));
    }

    /// Waits until jaild has died (it must: a fault was armed on the way); requires SIGKILL.
    fn require_killed(&mut self, step: &str) {
        let mut j = self.jaild.take().expect("a jaild runs");
        let child = j.child.as_mut().expect("jaild's process");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for jaild") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "jaild did not die at {step}\n{}",
                self.d.log_text()
            );
            thread::sleep(Duration::from_millis(10));
        };
        // nsenter execs jaild, so this is jaild's own status.
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "jaild at {step}: {status}\n{}",
            self.d.log_text()
        );
        j.child = None;
        let log = fs::read_to_string(&self.d.log).unwrap_or_default();
        assert!(
            log.lines().any(|l| l.contains("JAILD_FAULT") && l.contains(step)),
            "jaild's log names the step {step}\n{}",
            self.d.log_text()
        );
    }

    /// `jailctl create NAME` of a jail in the test's root.
    fn create_args(&self, name: &str) -> Vec<String> {
        [
            "create",
            name,
            "--root",
            path_str(&self.jail.root),
            "--ids",
            "isolated",
            "--set",
            "init=builtin",
            "--set",
            NET_AUTO,
            "--stop-signal",
            "KILL",
            "--",
            "/bin/sleep",
            &self.marker,
        ]
        .map(str::to_string)
        .to_vec()
    }

    fn ok(&self, args: &[String]) -> String {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.d.ok(&args)
    }

    /// Runs jailctl against a jaild that dies on the way: the call must fail (the reply is lost).
    fn lost(&self, args: &[String]) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.d.ctl(&args);
        assert!(
            !out.status.success(),
            "jailctl {} succeeded although jaild was killed\n{}",
            args.join(" "),
            describe(&out)
        );
        let err = stderr_text(&out);
        assert!(!err.is_empty(), "jailctl says why it failed\n{}", describe(&out));
    }

    /// What exists of jail `name` after jaild came back, once any start or stop in flight has
    /// finished: `None` (gone) or its state. Panics on anything inconsistent.
    fn settled(&self, name: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let state = loop {
            let state = self
                .d
                .entry(name)
                .map(|e| e["state"].as_str().unwrap_or("?").to_string());
            match state.as_deref() {
                Some("starting" | "stopping" | "restarting") if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                _ => break state,
            }
        };
        let r = self.resources(name);
        let running = state.as_deref() == Some("running");
        let ctx = format!("jail {name} is {state:?}; resources: {r:#?}\n{}", self.d.log_text());
        match state.as_deref() {
            None => {
                assert!(r.state_dirs.is_empty(), "gone, yet state remains: {ctx}");
                assert!(r.leases.is_empty(), "gone, yet an address is leased: {ctx}");
            }
            Some("running" | "stopped" | "failed") => {
                assert_eq!(r.state_dirs, [name.to_string()].into(), "its state dir alone: {ctx}");
            }
            Some(other) => panic!("jail {name} settled in {other}: {ctx}"),
        }
        assert_eq!(r.run_dirs.contains(name), running, "run dir iff running: {ctx}");
        assert_eq!(!r.processes.is_empty(), running, "processes iff running: {ctx}");
        assert_eq!(r.cgroups.len(), usize::from(running), "a cgroup iff running: {ctx}");
        assert_eq!(r.veths.len(), usize::from(running), "a veth iff running: {ctx}");
        assert_eq!(
            r.id_leases.len(),
            usize::from(running),
            "an id lease iff running: {ctx}"
        );
        if running {
            let v = self.d.inspect(name);
            let pid = v["pid"].as_i64().expect("a running jail has a pid") as i32;
            assert!(start_time(pid).is_some(), "its init {pid} runs: {v}");
            let sup = v["supervisor_pid"].as_i64().expect("a supervisor pid") as i32;
            assert!(start_time(sup).is_some(), "its supervisor {sup} runs: {v}");
            // And it works: exec into it.
            assert_eq!(self.d.ok(&["exec", name, "--", "/bin/echo", "alive"]).trim(), "alive");
        }
        state
    }

    /// Everything of jail `name` (and of this test) that exists on the host.
    fn resources(&self, name: &str) -> Resources {
        let list = |dir: &Path| -> BTreeSet<String> {
            fs::read_dir(dir)
                .map(|es| {
                    es.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let leases = list(&self.d.state_dir.join("addresses"))
            .into_iter()
            .filter(|f| !f.starts_with('.'))
            .collect();
        Resources {
            state_dirs: list(&self.d.state_dir.join("jails")),
            run_dirs: list(&self.d.run_dir.join("jails")),
            processes: processes_with(&format!("sleep {}", self.marker)).into_iter().collect(),
            cgroups: jail_cgroups(name),
            veths: self.ns.veths(),
            id_leases: held_locks(&self.d.pool_dir).into_iter().collect(),
            leases,
            mounts: mount_table()
                .into_iter()
                .filter(|m| m.contains(path_str(&self.jail.base)))
                .filter(|m| {
                    !self
                        .tmpfs
                        .as_ref()
                        .is_some_and(|t| m.starts_with(&format!("{} ", t.path.display())))
                })
                .collect(),
        }
    }

    /// Requires that nothing of any jail is left.
    fn require_clean(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.resources(name);
            if r.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left behind after {name} was destroyed: {r:#?}\n{}",
                self.d.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A tmpfs mounted by the test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(path).expect("mkdir the tmpfs mount point");
        nix::mount::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some(format!("size={size},mode=0700").as_str()),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", path.display()));
        Tmpfs {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH) {
            eprintln!("umount {}: {e}", self.path.display());
        }
    }
}

/// What exists on the host of one jail.
#[derive(Debug)]
struct Resources {
    state_dirs: BTreeSet<String>,
    run_dirs: BTreeSet<String>,
    processes: BTreeSet<u32>,
    cgroups: BTreeSet<PathBuf>,
    veths: BTreeSet<String>,
    id_leases: BTreeSet<PathBuf>,
    leases: BTreeSet<String>,
    mounts: BTreeSet<String>,
}

impl Resources {
    fn is_empty(&self) -> bool {
        self.state_dirs.is_empty()
            && self.run_dirs.is_empty()
            && self.processes.is_empty()
            && self.cgroups.is_empty()
            && self.veths.is_empty()
            && self.id_leases.is_empty()
            && self.leases.is_empty()
            && self.mounts.is_empty()
    }
}

/// The cgroup directories of jail `name` (`jaild-NAME-XXXXXXXX`) in any hierarchy; a jail's
/// cgroups in the several v1 hierarchies count as one.
fn jail_cgroups(name: &str) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let file = e.file_name().to_string_lossy().into_owned();
            if file.starts_with(prefix) {
                out.insert(PathBuf::from(file));
            } else if depth < 8 {
                walk(&e.path(), prefix, depth + 1, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(Path::new("/sys/fs/cgroup"), &format!("jaild-{name}-"), 0, &mut out);
    out
}

/// A jail name unique to this test process.
fn jail_name(step: &str) -> String {
    format!("f{}-{}", std::process::id(), step.replace('.', "-"))
}

/// Kills jaild at each of `steps` during `op` (after `setup`), restarts it, requires the state
/// `expect[i]` (`None`: gone), then tears the jail down and requires that nothing is left.
fn faults(steps: &[(&str, Option<&str>)], setup: &[&str], op: &[&str]) {
    if !require_root() {
        return;
    }
    let mut w = World::new();
    for (step, expect) in steps {
        println!("=== JAILD_FAULT={step}");
        let name = jail_name(step);
        for s in setup {
            match *s {
                "create" => w.ok(&w.create_args(&name)),
                other => w.ok(&[other.to_string(), name.clone()]),
            };
        }
        w.restart(Some(step));
        let args: Vec<String> = match op {
            ["create"] => w.create_args(&name),
            other => other.iter().map(|a| a.replace("NAME", &name)).collect(),
        };
        w.lost(&args);
        w.require_killed(step);
        w.restart(None);
        let state = w.settled(&name);
        assert_eq!(state.as_deref(), *expect, "the state after a kill at {step}");
        // Finish it off; the name is free again and can be made anew.
        if state.is_some() {
            w.ok(&["destroy".into(), "--force".into(), name.clone()]);
        }
        w.require_clean(&name);
        w.ok(&w.create_args(&name));
        w.ok(&["start".into(), name.clone()]);
        assert_eq!(w.settled(&name).as_deref(), Some("running"));
        w.ok(&["destroy".into(), "--force".into(), name.clone()]);
        w.require_clean(&name);
    }
}

#[test]
fn kill_9_during_create() {
    faults(
        &[
            ("create.reserved", None),
            ("create.written", None),
            ("create.renamed", Some("stopped")),
        ],
        &[],
        &["create"],
    );
}

#[test]
fn kill_9_during_start() {
    faults(
        &[
            ("start.prepared", Some("stopped")),
            ("start.launched", Some("running")),
            ("start.running", Some("running")),
        ],
        &["create"],
        &["start", "NAME"],
    );
}

#[test]
fn kill_9_during_stop() {
    faults(
        &[("stop.asked", Some("stopped")), ("stop.stopped", Some("stopped"))],
        &["create", "start"],
        &["stop", "NAME", "--timeout", "5"],
    );
}

#[test]
fn kill_9_during_destroy() {
    faults(
        &[
            ("destroy.stopped", Some("stopped")),
            ("destroy.renamed", None),
            ("destroy.removed", None),
        ],
        &["create", "start"],
        &["destroy", "--force", "NAME"],
    );
}

/// Every step jaild can be killed at has a fault test above.
#[test]
fn every_fault_step_is_tested() {
    let src = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../jaild/src/daemon/fault.rs"))
        .expect("read fault.rs");
    let this = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/faults.rs")).expect("read faults.rs");
    let steps: BTreeSet<&str> = src
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix('"')?.strip_suffix("\","))
        .collect();
    assert_eq!(steps.len(), 11, "the steps of fault.rs: {steps:?}");
    for step in &steps {
        assert!(this.contains(&format!("(\"{step}\", ")), "step {step} has a fault test");
    }
}

/// Fills the filesystem of `dir` with `dir/filler` until it has no room left.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = fs::File::create(dir.join("filler")).expect("create the filler");
    let chunk = [0u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("fill {}: {e}", dir.display()),
        }
    }
    let _ = f.sync_all();
}

/// Every jail's config and state file under `state_dir/jails`, with their contents, and every
/// other entry but the logs by name (what a failed write could have left).
fn state_files(state_dir: &Path) -> BTreeSet<(PathBuf, Vec<u8>)> {
    let mut out = BTreeSet::new();
    let jails = state_dir.join("jails");
    for e in fs::read_dir(&jails).expect("read the state dir").flatten() {
        out.insert((e.path(), Vec::new()));
        for f in fs::read_dir(e.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                continue; // logs grow by design (an empty supervisor log for a failed start)
            }
            let contents = match name.as_str() {
                "config.yaml" | "state.json" => fs::read(f.path()).unwrap_or_default(),
                _ => Vec::new(),
            };
            out.insert((f.path(), contents));
        }
    }
    out
}

/// The state directory fills up: a create and a start fail at once with a clear error, change
/// nothing and leak nothing; the running jail, list and exec go on; a stop still stops; once
/// there is room again everything works.
#[test]
fn a_full_state_directory() {
    if !require_root() {
        return;
    }
    let w = World::build(Some("512k"));
    let (a, b, c) = (jail_name("full-a"), jail_name("full-b"), jail_name("full-c"));
    let roots: Vec<PathBuf> = ["rb", "rc"].iter().map(|r| w.jail.base.join(r)).collect();
    common::busybox_roots(&roots);
    let with_root = |mut args: Vec<String>, root: &Path| {
        args[3] = path_str(root).to_string();
        args
    };
    w.ok(&w.create_args(&a));
    w.ok(&["start".into(), a.clone()]);
    w.ok(&with_root(w.create_args(&b), &roots[0]));
    let before = state_files(&w.d.state_dir);
    let a_pid = w.d.entry(&a).expect("a is listed")["pid"].clone();

    fill(&w.d.state_dir);
    let err = w.d.fails(
        &with_root(w.create_args(&c), &roots[1])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "No space left on device",
    );
    assert!(
        err.contains("write the jail's state") && err.contains(path_str(&w.d.state_dir)),
        "{err}"
    );
    // At once: the supervisor's own error, not jaild's start timeout.
    let err = w.d.fails(&["start", &b], "No space left on device");
    assert!(err.contains("state.json") && !err.contains("within"), "{err}");

    let after = state_files(&w.d.state_dir);
    assert_eq!(
        after
            .symmetric_difference(&before)
            .map(|(p, c)| (p, String::from_utf8_lossy(c)))
            .collect::<Vec<_>>(),
        Vec::new(),
        "the state is as it was"
    );
    let list = w.d.list();
    let names: BTreeSet<&str> = list.iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(names, [a.as_str(), b.as_str()].into(), "{list:?}");
    assert_eq!(w.d.entry(&a).expect("a")["pid"], a_pid, "a runs on");
    assert_eq!(w.d.entry(&b).expect("b")["state"], "stopped");
    assert_eq!(w.d.ok(&["exec", &a, "--", "/bin/echo", "still"]).trim(), "still");
    // Nothing of b's failed start is left: one jail's worth of everything.
    let r = w.resources(&b);
    assert!(r.cgroups.is_empty(), "{r:#?}");
    assert_eq!(
        (r.veths.len(), r.id_leases.len(), r.run_dirs.len()),
        (1, 1, 1),
        "{r:#?}"
    );
    w.ok(&["stop".into(), a.clone(), "--timeout".into(), "5".into()]);
    assert_eq!(w.d.entry(&a).expect("a")["state"], "stopped");

    fs::remove_file(w.d.state_dir.join("filler")).expect("remove the filler");
    w.ok(&with_root(w.create_args(&c), &roots[1]));
    for n in [&a, &b, &c] {
        w.ok(&["start".into(), n.clone()]);
        assert_eq!(w.d.ok(&["exec", n, "--", "/bin/echo", "ok"]).trim(), "ok");
    }
    for n in [&a, &b, &c] {
        w.ok(&["destroy".into(), "--force".into(), n.clone()]);
    }
    w.require_clean(&a);
}

/// A supervisor killed from outside: jaild notices (its sweep), kills the orphaned init, and
/// applies the restart policy: `on-failure` starts the jail again, up to `--restart-max`
/// times in a row (a jail that ran a minute starts a new series); then the jail stays stopped
/// with the reason recorded.
#[test]
fn a_killed_supervisor_gets_the_restart_policy() {
    if !require_root() {
        return;
    }
    let w = World::new();
    let name = jail_name("sup");
    let mut args = w.create_args(&name);
    let at = args.iter().position(|a| a == "--").expect("--");
    args.splice(
        at..at,
        ["--restart", "on-failure", "--restart-max", "1"].map(str::to_string),
    );
    w.ok(&args);
    w.ok(&["start".into(), name.clone()]);
    let kill_supervisor = || {
        let v = w.d.inspect(&name);
        let (pid, sup) = (
            v["pid"].as_i64().expect("pid") as i32,
            v["supervisor_pid"].as_i64().expect("supervisor") as i32,
        );
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(sup), nix::sys::signal::Signal::SIGKILL).expect("kill -9");
        (pid, sup)
    };
    let (pid, sup) = kill_supervisor();
    let v = w.d.wait_for(&name, Duration::from_secs(30), "restarted by jaild", |v| {
        v["state"] == "running" && v["supervisor_pid"].as_i64() != Some(i64::from(sup))
    });
    assert_eq!(v["restarts"], 1, "one restart counted: {v}");
    assert_eq!(start_time(pid), None, "the orphaned init {pid} was killed");
    assert_eq!(w.settled(&name).as_deref(), Some("running"));

    // A jail that ran for a while (its state says it started two minutes ago) starts a new
    // series: restarted again although the limit is 1.
    let state = w.d.state_dir.join("jails").join(&name).join("state.json");
    let mut st: serde_json::Value = serde_json::from_slice(&fs::read(&state).expect("read state.json")).expect("json");
    st["started_at"] = (st["started_at"].as_u64().expect("started_at") - 120).into();
    fs::write(&state, serde_json::to_vec(&st).expect("json")).expect("write state.json");
    let (pid, sup) = kill_supervisor();
    let v =
        w.d.wait_for(&name, Duration::from_secs(30), "restarted after a long run", |v| {
            v["state"] == "running" && v["supervisor_pid"].as_i64() != Some(i64::from(sup))
        });
    assert_eq!(v["restarts"], 1, "a new series: {v}");
    assert_eq!(start_time(pid), None, "the orphaned init {pid} was killed");

    // Again, right away: the limit (1) is reached, the jail stays down.
    let (pid, _) = kill_supervisor();
    let v = w.d.wait_for(&name, Duration::from_secs(30), "stopped for good", |v| {
        v["state"] == "stopped"
    });
    assert!(v["error"].as_str().is_some_and(|e| e.contains("supervisor")), "{v}");
    thread::sleep(Duration::from_secs(6)); // one more sweep: no further restart
    assert_eq!(w.settled(&name).as_deref(), Some("stopped"));
    assert_eq!(start_time(pid), None, "the orphaned init {pid} was killed");
    assert!(w.d.log_text().contains("restart limit reached"), "{}", w.d.log_text());
    w.ok(&["destroy".into(), name.clone()]);
    w.require_clean(&name);
}

/// A jail's init killed from outside: its supervisor applies the restart policy (`on-failure`:
/// a new init; `never`: the jail ends as failed with the signal's status).
#[test]
fn a_killed_init_gets_the_restart_policy() {
    if !require_root() {
        return;
    }
    let w = World::new();
    let kill_init = |name: &str| {
        let pid = w.d.inspect(name)["pid"].as_i64().expect("pid") as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill -9");
        pid
    };
    let name = jail_name("init-restart");
    let mut args = w.create_args(&name);
    let at = args.iter().position(|a| a == "--").expect("--");
    args.splice(
        at..at,
        ["--restart", "on-failure", "--restart-backoff-ms", "50"].map(str::to_string),
    );
    w.ok(&args);
    w.ok(&["start".into(), name.clone()]);
    let old = kill_init(&name);
    let v = w.d.wait_for(&name, Duration::from_secs(20), "a new init", |v| {
        v["state"] == "running" && v["pid"].as_i64().is_some_and(|p| p != i64::from(old))
    });
    assert_eq!(v["restarts"], 1, "{v}");
    assert_eq!(w.settled(&name).as_deref(), Some("running"));
    w.ok(&["destroy".into(), "--force".into(), name.clone()]);
    w.require_clean(&name);

    let name = jail_name("init-never");
    w.ok(&w.create_args(&name));
    w.ok(&["start".into(), name.clone()]);
    kill_init(&name);
    let v =
        w.d.wait_for(&name, Duration::from_secs(20), "failed", |v| v["state"] == "failed");
    assert_eq!(v["exit_status"], 128 + libc::SIGKILL, "{v}");
    assert_eq!(v["restarts"], 0, "{v}");
    assert_eq!(w.settled(&name).as_deref(), Some("failed"));
    w.ok(&["destroy".into(), name.clone()]);
    w.require_clean(&name);
}

/// A state directory that hangs (here: a FIFO where the supervisor writes its first state, so its
/// open blocks, as on a dead network filesystem): the start gives up after jaild's start timeout
/// with a clear error instead of holding the jail's lock forever; jaild goes on serving, and once
/// the directory works again so does the jail.
#[test]
fn a_hanging_state_directory() {
    if !require_root() {
        return;
    }
    let w = World::new();
    let name = jail_name("hang");
    w.ok(&w.create_args(&name));
    let state = w.d.state_dir.join("jails").join(&name).join("state.json");
    let fifo = state.with_file_name(".state.json.tmp");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).expect("mkfifo");
    let err = w.d.fails(&["start", &name], "did not report within 30 s");
    println!("{err}");
    assert_eq!(w.d.entry(&name).expect("listed")["state"], "stopped");
    assert_eq!(w.d.ok(&["list"]).lines().count(), 2, "jaild serves on");
    // The stuck supervisor is ours to end; then the directory works again.
    let stuck = processes_with(path_str(&state));
    assert!(!stuck.is_empty(), "the supervisor is stuck in the open");
    for pid in &stuck {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    fs::remove_file(&fifo).expect("remove the fifo");
    w.ok(&["start".into(), name.clone()]);
    assert_eq!(w.settled(&name).as_deref(), Some("running"));
    w.ok(&["destroy".into(), "--force".into(), name.clone()]);
    w.require_clean(&name);
}
