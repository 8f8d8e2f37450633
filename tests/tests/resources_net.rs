//! Resource limits (cgroups) and networking through `jailctl run` (issue 6, "What it must show" 1–4, as far as
//! `jailctl run` can show them; the daemon's `stats`/`ps` are tested elsewhere).
//!
//! - Cgroups: every resource test runs `jailctl` inside a cgroup the test makes below its own
//!   (`jtest-PID-TAG`, in each hierarchy jaild uses: DESIGN §11), so it can check from the host that the jail's
//!   cgroup is `<that cgroup>/jaild-…` in every hierarchy, that the limits bite (fork bomb, OOM, CPU
//!   bandwidth), and that every `jaild-*` directory is gone afterwards, without racing other tests' jails.
//! - Network: each test makes a network namespace that plays the host and runs `jailctl` in it with
//!   `nsenter --net` (not `ip netns exec`: that remounts `/sys`, hiding `/sys/fs/cgroup` from jailctl).
//!
//! Every guard (jailctl, cgroup, netns) cleans up in `Drop`, also when the test fails.

mod common;
mod daemon_common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::{TestJail, describe, jail_processes, jailctl_path, require_root, wait_timeout};

// ---------------------------------------------------------------------------------------------------------------
// host commands

/// Runs a host command; panics with its output when it fails. Returns stdout.
fn host(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {argv:?}: {e}"));
    assert!(out.status.success(), "{argv:?} failed\n{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The link names of `ip -o link show ARGS` (in netns `ns`, or the real host's), without `@peer`.
fn link_names(ns: Option<&str>, args: &[&str]) -> BTreeSet<String> {
    let mut argv = vec!["ip"];
    if let Some(ns) = ns {
        argv.extend(["-n", ns]);
    }
    argv.extend(["-o", "link", "show"]);
    argv.extend(args);
    host(&argv)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// `name-PID-tag`: unique per test process and test (nextest runs each test in its own process; `cargo test`
/// runs them as threads of one, hence the tag).
fn unique(prefix: &str, tag: &str) -> String {
    format!("{prefix}-{}-{tag}", std::process::id())
}

// ---------------------------------------------------------------------------------------------------------------
// a network namespace playing the host

/// A network namespace the test made (`ip netns add`), deleted on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn new(tag: &str) -> NetNs {
        let name = unique("jt", tag);
        // A namespace of a crashed earlier run with our pid: ours now.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        host(&["ip", "netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `ip -n NS ARGS`.
    fn ip(&self, args: &[&str]) -> String {
        let mut argv = vec!["ip", "-n", &self.name];
        argv.extend(args);
        host(&argv)
    }

    /// Every link's name.
    fn links(&self) -> BTreeSet<String> {
        link_names(Some(&self.name), &[])
    }

    /// The veths.
    fn veths(&self) -> BTreeSet<String> {
        link_names(Some(&self.name), &["type", "veth"])
    }

    /// Runs `f` in a thread that entered the namespace (sockets made there stay there).
    fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = self.path();
        thread::spawn(move || {
            let file = fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns into the test's netns");
            f()
        })
        .join()
        .expect("the thread in the test's netns panicked")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let ok = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("could not delete network namespace {}", self.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// cgroups

/// One cgroup hierarchy jaild uses, as the test process sees it.
#[derive(Clone, Debug)]
struct Hier {
    /// The controllers field of `/proc/self/cgroup` (`pids`, `cpu,cpuacct`), or `unified` for `0::`.
    label: String,
    /// Where it is mounted.
    mount: PathBuf,
    /// The test process's own cgroup in it (`/` or `/a/b`).
    own: String,
}

/// The v1 controllers jaild uses (libjail::cgroup::V1_CONTROLLERS); others must stay untouched.
const V1_USED: &[&str] = &["memory", "pids", "cpu", "cpuacct", "blkio", "cpuset", "freezer"];

/// `/proc/PID/cgroup` as label → path (`unified` for the `0::` line).
fn proc_cgroups(pid: u32) -> BTreeMap<String, String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            let label = if id == "0" && ctrls.is_empty() {
                "unified".to_string()
            } else {
                ctrls.to_string()
            };
            Some((label, path.to_string()))
        })
        .collect()
}

/// The hierarchies jaild uses and where the test process sits in each.
fn own_hierarchies() -> Vec<Hier> {
    let own = proc_cgroups(std::process::id());
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mut out = Vec::new();
    for (label, path) in &own {
        let used = label == "unified" || label.split(',').any(|c| V1_USED.contains(&c));
        if !used {
            continue;
        }
        let mount = mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let ok = match *right.first()? {
                "cgroup2" => label == "unified",
                "cgroup" => {
                    let opts: Vec<&str> = right.get(2)?.split(',').collect();
                    label.split(',').all(|c| opts.contains(&c))
                }
                _ => false,
            };
            // Only a mount of the hierarchy's root makes `own` a path below the mount point.
            (ok && left.get(3) == Some(&"/")).then(|| PathBuf::from(left[4]))
        });
        let mount = mount.unwrap_or_else(|| panic!("no root mount of cgroup hierarchy {label}"));
        out.push(Hier {
            label: label.clone(),
            mount,
            own: path.clone(),
        });
    }
    assert!(
        out.iter().any(|h| h.label != "unified"),
        "expected cgroup v1 controllers on this host (DESIGN §11): {out:?}"
    );
    out
}

/// `a` + `/` + `b` for cgroup paths (`/` + `x` is `/x`).
fn cg_join(a: &str, b: &str) -> String {
    format!("{}/{b}", a.trim_end_matches('/'))
}

/// A cgroup the test makes below its own in every hierarchy jaild uses; `jailctl` runs in it. Drop kills
/// whatever is left in it (and in jail cgroups below it) and removes it all.
struct TestCgroup {
    name: String,
    hiers: Vec<Hier>,
}

impl TestCgroup {
    fn new(tag: &str) -> TestCgroup {
        let name = unique("jtest", tag);
        let cg = TestCgroup {
            name,
            hiers: own_hierarchies(),
        };
        for h in &cg.hiers {
            let parent = cg.host_dir(h, &h.own);
            let dir = cg.dir(h);
            if dir.exists() {
                // Left by a crashed earlier run with our pid.
                common::kill_and_remove_cgroup(&dir, h.label == "unified");
            }
            fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            if h.label.split(',').any(|c| c == "cpuset") {
                // A v1 cpuset cgroup starts with no CPUs and no memory nodes.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let value = fs::read_to_string(parent.join(file)).expect("read the parent's cpuset");
                    fs::write(dir.join(file), value.trim()).expect("write cpuset");
                }
            }
        }
        cg
    }

    /// The directory of cgroup `path` of hierarchy `h`.
    fn host_dir(&self, h: &Hier, path: &str) -> PathBuf {
        h.mount.join(path.trim_start_matches('/'))
    }

    /// The test cgroup's path in `h` (as `/proc/PID/cgroup` shows it).
    fn path(&self, h: &Hier) -> String {
        cg_join(&h.own, &self.name)
    }

    /// The test cgroup's directory in `h`.
    fn dir(&self, h: &Hier) -> PathBuf {
        self.host_dir(h, &self.path(h))
    }

    /// The hierarchy holding v1 controller `c`.
    fn hier(&self, c: &str) -> &Hier {
        self.hiers
            .iter()
            .find(|h| h.label.split(',').any(|l| l == c))
            .unwrap_or_else(|| panic!("no cgroup hierarchy with controller {c}"))
    }

    /// A shell script that moves itself into the test cgroup everywhere, then execs its arguments.
    fn enter_script(&self) -> String {
        let files: Vec<String> = self
            .hiers
            .iter()
            .map(|h| format!("'{}'", self.dir(h).join("cgroup.procs").display()))
            .collect();
        format!(
            "for f in {}; do echo $$ > \"$f\" || exit 124; done; exec \"$@\"",
            files.join(" ")
        )
    }

    /// The `jaild-*` directories below the test cgroup, in every hierarchy.
    fn jail_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for h in &self.hiers {
            let Ok(entries) = fs::read_dir(self.dir(h)) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("jaild-") && e.path().is_dir() {
                    out.push(e.path());
                }
            }
        }
        out
    }

    /// Checks, while the jail runs, that its init `pid` sits in `<test cgroup>/jaild-NAME` in every hierarchy
    /// jaild uses (so also below the test process's own cgroup); see [`check_placement`].
    fn check_placement(&self, pid: u32) -> JailCgroup {
        check_placement(&self.hiers, |h| self.path(h), pid)
    }

    /// Fails unless no `jaild-*` directory is left below the test cgroup.
    fn assert_clean(&self, what: &str) {
        let left = self.jail_dirs();
        assert!(left.is_empty(), "{what}: jail cgroups left behind: {left:?}");
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let left = self.jail_dirs();
        if !left.is_empty() {
            eprintln!("cleaning up jail cgroups left behind: {left:?}");
        }
        for h in &self.hiers {
            let dir = self.dir(h);
            if dir.exists() {
                common::kill_and_remove_cgroup(&dir, h.label == "unified");
            }
        }
    }
}

/// Checks, while the jail runs, that its init `pid` sits in `<base(h)>/jaild-NAME` in every hierarchy `h` of
/// `hiers` (jaild's), one name in all, and where the test process is in every other hierarchy (devices,
/// name=systemd: not jaild's to touch); returns the jail's cgroup.
fn check_placement(hiers: &[Hier], base: impl Fn(&Hier) -> String, pid: u32) -> JailCgroup {
    let jail = proc_cgroups(pid);
    let own = proc_cgroups(std::process::id());
    let mut names = BTreeSet::new();
    let mut dirs = BTreeMap::new();
    for h in hiers {
        let path = jail
            .get(&h.label)
            .unwrap_or_else(|| panic!("no {} line in /proc/{pid}/cgroup: {jail:?}", h.label));
        let prefix = format!("{}/jaild-", base(h).trim_end_matches('/'));
        assert!(
            path.starts_with(&cg_join(&h.own, "")) && path.starts_with(&prefix),
            "hierarchy {}: the jail's cgroup {path} is not below the test's own {} as {prefix}*",
            h.label,
            h.own
        );
        let name = &path[prefix.len() - "jaild-".len()..];
        assert!(
            !name.contains('/'),
            "{}: {path} is not directly below {prefix}*",
            h.label
        );
        names.insert(name.to_string());
        dirs.insert(h.label.clone(), h.mount.join(path.trim_start_matches('/')));
    }
    assert_eq!(names.len(), 1, "the jail's cgroup has different names: {names:?}");
    let shown: Vec<String> = dirs.values().map(|d| d.display().to_string()).collect();
    println!("jail init {pid} is in {}", shown.join(" "));
    for (label, path) in &own {
        if !hiers.iter().any(|h| &h.label == label) {
            assert_eq!(
                jail.get(label),
                Some(path),
                "hierarchy {label} is not jaild's to touch: the jail must stay where jailctl was"
            );
        }
    }
    JailCgroup {
        name: names.into_iter().next().unwrap_or_default(),
        dirs,
    }
}

/// A jail's cgroup as seen from the host.
#[derive(Debug)]
struct JailCgroup {
    /// `jaild-jail-XXXXXXXX`.
    name: String,
    /// Its directory in each hierarchy, by label.
    dirs: BTreeMap<String, PathBuf>,
}

impl JailCgroup {
    /// The directory of v1 controller `c`.
    fn dir(&self, c: &str) -> &Path {
        self.dirs
            .iter()
            .find(|(label, _)| label.split(',').any(|l| l == c))
            .map(|(_, d)| d.as_path())
            .unwrap_or_else(|| panic!("the jail's cgroup has no {c} directory: {self:?}"))
    }

    /// A file of the directory of controller `c`, trimmed.
    fn read(&self, c: &str, file: &str) -> String {
        let path = self.dir(c).join(file);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_string()
    }

    /// A numeric file.
    fn read_u64(&self, c: &str, file: &str) -> u64 {
        let text = self.read(c, file);
        text.parse().unwrap_or_else(|e| panic!("{c}/{file} = {text:?}: {e}"))
    }

    /// The value of `key` in a flat keyed file (`memory.oom_control`, `pids.events`).
    fn keyed(&self, c: &str, file: &str, key: &str) -> u64 {
        let text = self.read(c, file);
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {c}/{file}: {text:?}"))
    }

    /// Fails unless every directory is gone.
    fn assert_gone(&self) {
        let left: Vec<&PathBuf> = self.dirs.values().filter(|d| d.exists()).collect();
        assert!(left.is_empty(), "cgroup {} still there: {left:?}", self.name);
    }
}

/// Host processes whose cgroup in hierarchy `label` is `path` (a scan of /proc).
fn processes_in(label: &str, path: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| proc_cgroups(*pid).get(label).is_some_and(|p| p == path))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// a running jailctl

/// Where `jailctl run` runs.
#[derive(Clone, Copy, Default)]
struct Place<'a> {
    /// In this network namespace (as its "host").
    netns: Option<&'a NetNs>,
    /// In this cgroup.
    cgroup: Option<&'a TestCgroup>,
    /// With `-v` (prints the jail's host pid).
    verbose: bool,
}

/// A `jailctl run` in the background with its stdout and stderr read line by line. Drop ends it: SIGTERM
/// (forwarded to the jail), then SIGKILL to jailctl and to the jail's init.
struct Jailctl {
    child: Child,
    stdout_rx: mpsc::Receiver<String>,
    stderr_rx: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    jail_pid: Option<u32>,
    status: Option<ExitStatus>,
}

fn line_reader(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Jailctl {
    /// `[nsenter --net=NS] [sh -c ENTER-CGROUP] jailctl [-v] run --root ROOT ARGS -- CMD`.
    fn command(tj: &TestJail, place: Place<'_>, args: &[&str], cmd: &[&str]) -> Command {
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(ns) = place.netns {
            argv.push("nsenter".into());
            argv.push(format!("--net={}", ns.path().display()).into());
        }
        if let Some(cg) = place.cgroup {
            argv.extend(["/bin/sh".into(), "-c".into(), cg.enter_script().into(), "sh".into()]);
        }
        argv.push(jailctl_path().into());
        if place.verbose {
            argv.push("-v".into());
        }
        argv.extend(["run".into(), "--root".into(), tj.root.clone().into()]);
        argv.extend(args.iter().map(OsString::from));
        argv.push("--".into());
        argv.extend(cmd.iter().map(OsString::from));
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .env("JAILD_ID_POOL_DIR", &tj.pool_dir)
            .env("JAILD_ID_POOL", format!("{}:4", tj.pool_start))
            .env("TMPDIR", &tj.tmp)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    fn start(tj: &TestJail, place: Place<'_>, args: &[&str], cmd: &[&str]) -> Jailctl {
        let mut command = Jailctl::command(tj, place, args, cmd);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let stdout_rx = line_reader(child.stdout.take().expect("piped stdout"));
        let stderr_rx = line_reader(child.stderr.take().expect("piped stderr"));
        Jailctl {
            child,
            stdout_rx,
            stderr_rx,
            stdout: Vec::new(),
            stderr: Vec::new(),
            jail_pid: None,
            status: None,
        }
    }

    /// Runs to completion (at most `timeout`, else fails).
    fn run(tj: &TestJail, place: Place<'_>, args: &[&str], cmd: &[&str], timeout: Duration) -> Jailctl {
        let mut j = Jailctl::start(tj, place, args, cmd);
        j.finish(timeout);
        j
    }

    fn pump(&mut self) {
        self.stdout.extend(self.stdout_rx.try_iter());
        self.stderr.extend(self.stderr_rx.try_iter());
    }

    /// What we have seen so far.
    fn describe(&mut self) -> String {
        self.pump();
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "still running".to_string(),
        };
        format!(
            "jailctl: {status}\n--- stdout\n{}\n--- stderr\n{}\n---",
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }

    /// Waits for a stdout line starting with `prefix`; returns it.
    fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if let Some(l) = self.stdout.iter().find(|l| l.starts_with(prefix)) {
                return l.clone();
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                self.status = exited;
                thread::sleep(Duration::from_millis(50));
                panic!("no stdout line `{prefix}…` within {timeout:?}\n{}", self.describe());
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The jail's init (host pid), from `-v`'s `jail running: host pid N`.
    fn jail_pid(&mut self, timeout: Duration) -> u32 {
        let deadline = Instant::now() + timeout;
        while self.jail_pid.is_none() {
            self.pump();
            self.jail_pid = self.stderr.iter().find_map(|l| {
                let rest = l.split("jail running: host pid ").nth(1)?;
                rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            });
            if self.jail_pid.is_none() {
                assert!(
                    Instant::now() < deadline,
                    "no `jail running: host pid` line within {timeout:?}\n{}",
                    self.describe()
                );
                thread::sleep(Duration::from_millis(5));
            }
        }
        self.jail_pid.unwrap_or_default()
    }

    /// Waits for jailctl to exit (killing it after `timeout` and failing) and collects its output.
    fn finish(&mut self, timeout: Duration) -> ExitStatus {
        if self.status.is_none() {
            self.status = wait_timeout(&mut self.child, timeout);
            if self.status.is_none() {
                let msg = format!("jailctl did not finish within {timeout:?}\n{}", self.describe());
                self.stop();
                panic!("{msg}");
            }
        }
        // The pipes close when the last jail process holding them is gone.
        let until = Instant::now() + Duration::from_secs(5);
        for (rx, out) in [(&self.stdout_rx, &mut self.stdout), (&self.stderr_rx, &mut self.stderr)] {
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(line) => out.push(line),
                    Err(_) => break,
                }
            }
        }
        self.status.expect("finished")
    }

    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn stdout_text(&self) -> String {
        self.stdout.join("\n")
    }

    /// Ends jailctl and the jail: SIGTERM (forwarded), SIGKILL after 2 s; then SIGKILL to the jail's init,
    /// which jailctl's death does not end (a payload at pid 1 may also ignore the forwarded SIGTERM).
    fn stop(&mut self) {
        // The jail's init, found while it is still jailctl's child.
        let mut inits: Vec<u32> = self.jail_pid.into_iter().collect();
        if self.status.is_none() {
            inits.extend(jail_processes(self.child.id()).into_iter().filter(|p| {
                common::status_field(*p, "NSpid").is_some_and(|v| v.split_whitespace().last() == Some("1"))
            }));
            inits.dedup();
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            self.status = wait_timeout(&mut self.child, Duration::from_secs(2));
        }
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        // SIGKILL to a pid namespace's init ends the namespace. (Still in a child pid namespace: not a
        // reused pid.)
        for pid in inits {
            if in_child_pidns(pid) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Jailctl {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `pid` exists and lives in a child pid namespace (a jail's).
fn in_child_pidns(pid: u32) -> bool {
    common::status_field(pid, "NSpid").is_some_and(|v| v.split_whitespace().count() > 1)
}

/// Waits until `cond` holds, at most `timeout`.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A file the test creates in the jail's root to let the payload go on (`wait_file` in the script).
fn touch(tj: &TestJail, name: &str) {
    fs::write(tj.root.join(name), b"").unwrap_or_else(|e| panic!("create /{name} in the rootfs: {e}"));
}

/// Shell: wait (at most about 10 s) for `/NAME` to exist in the jail.
fn wait_file(name: &str) -> String {
    format!("n=0; while [ ! -e /{name} ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done")
}

/// After a jail: nothing left in the test cgroup, the jail's directories gone, and no process in them.
fn assert_cgroups_cleaned(cg: &TestCgroup, jcg: &JailCgroup, what: &str) {
    jcg.assert_gone();
    cg.assert_clean(what);
    let h = cg.hier("pids");
    let path = cg_join(&cg.path(h), &jcg.name);
    let left = processes_in(&h.label, &path);
    assert!(left.is_empty(), "{what}: processes still in {path}: {left:?}");
}

const START: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------------------------
// 1. pids: a fork bomb is contained

#[test]
fn pids_max_contains_a_fork_bomb() {
    if !require_root() {
        return;
    }
    let tj = TestJail::new();
    let cg = TestCgroup::new("pids");
    // The bomb waits for /go, which the test creates only once it has seen pids.max = 64 on the jail's
    // cgroup: a runtime that ignored the limit must not bomb the machine. pid 1 keeps one `sleep` to wait
    // on (it could not fork once the bomb fills the cgroup) and ends on SIGTERM.
    let script = format!(
        "trap 'exit 0' TERM\nsleep 20 & s=$!\n{}\n[ -e /go ] || {{ echo NO-GO; exit 3; }}\nexec 2>/dev/null\n\
         b() {{ b | b & }}\nb\necho BOMBED\nwait $s\nexit 0",
        wait_file("go")
    );
    let place = Place {
        cgroup: Some(&cg),
        verbose: true,
        ..Place::default()
    };
    let mut jail = Jailctl::start(
        &tj,
        place,
        &["--set", "resources={pids: {max: 64}}"],
        &["sh", "-c", &script],
    );
    let pid = jail.jail_pid(START);
    let jcg = cg.check_placement(pid);
    assert_eq!(jcg.read("pids", "pids.max"), "64", "pids.max of {jcg:?}");
    let jail_path = cg_join(&cg.path(cg.hier("pids")), &jcg.name);
    touch(&tj, "go");
    jail.wait_line("BOMBED", START);

    // About 2.5 s of bomb: sample the jail's task count from the host, and fork on the host meanwhile.
    let (mut max_current, mut max_procs, mut max_scan, mut host_forks) = (0u64, 0usize, 0usize, 0);
    let begin = Instant::now();
    let mut next_slow = begin;
    while begin.elapsed() < Duration::from_millis(2500) {
        let current = jcg.read_u64("pids", "pids.current");
        max_current = max_current.max(current);
        max_procs = max_procs.max(common::cgroup_pids(&jcg.dir("pids").join("cgroup.procs")).len());
        if Instant::now() >= next_slow {
            next_slow += Duration::from_millis(250);
            max_scan = max_scan.max(processes_in("pids", &jail_path).len());
            let t = Instant::now();
            let status = Command::new("/bin/true")
                .status()
                .expect("the host can still fork and exec");
            assert!(status.success(), "/bin/true on the host: {status}");
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "the host needed {:?} to run /bin/true",
                t.elapsed()
            );
            host_forks += 1;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let refused = jcg.keyed("pids", "pids.events", "max");
    println!(
        "fork bomb: max pids.current {max_current}, max cgroup.procs {max_procs}, max processes seen in /proc \
         {max_scan}, forks refused (pids.events max) {refused}, host forks {host_forks}"
    );
    assert!(
        max_current <= 64 && max_procs <= 64 && max_scan <= 64,
        "the jail exceeded pids.max 64: current {max_current}, procs {max_procs}, /proc {max_scan}"
    );
    assert!(
        refused > 0 && max_current >= 32,
        "the bomb never hit the limit (forks refused {refused}, max tasks {max_current}): not a real test\n{}",
        jail.describe()
    );
    assert!(host_forks >= 5, "too few host forks checked: {host_forks}");

    // The jail stays manageable: SIGTERM to jailctl reaches pid 1, whose exit ends the namespace.
    let t = Instant::now();
    kill(Pid::from_raw(jail.child.id() as i32), Signal::SIGTERM).expect("SIGTERM jailctl");
    let status = jail.finish(Duration::from_secs(10));
    let stop_time = t.elapsed();
    println!("stopped in {stop_time:?}");
    assert_eq!(status.code(), Some(0), "{}", jail.describe());
    assert!(stop_time < Duration::from_secs(5), "stopping took {stop_time:?}");
    assert!(!in_child_pidns(pid), "the jail's init {pid} is still there");
    assert_cgroups_cleaned(&cg, &jcg, "after the fork bomb");
}

// ---------------------------------------------------------------------------------------------------------------
// 2. memory: a hog is OOM-killed inside the jail, the rest survives

#[test]
fn memory_max_oom_kills_the_hog_only() {
    if !require_root() {
        return;
    }
    let tj = TestJail::new();
    let cg = TestCgroup::new("mem");
    // dd with a 256 MiB block: reading /dev/zero into it touches every page.
    let script = format!(
        "sleep 60 & s=$!\ndd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null\necho \"DD $?\"\n\
         if kill -0 $s; then echo SLEEPER-ALIVE; fi\necho READY\n{}\nkill $s\nexit 0",
        wait_file("release")
    );
    let place = Place {
        cgroup: Some(&cg),
        verbose: true,
        ..Place::default()
    };
    let mut jail = Jailctl::start(
        &tj,
        place,
        &["--set", "resources={memory: {max: 64M, swap: 0}}"],
        &["sh", "-c", &script],
    );
    let pid = jail.jail_pid(START);
    let jcg = cg.check_placement(pid);
    jail.wait_line("READY", Duration::from_secs(30));
    let out = jail.stdout_text();
    assert!(
        out.contains("DD 137"),
        "dd should die from SIGKILL (137)\n{}",
        jail.describe()
    );
    assert!(
        out.contains("SLEEPER-ALIVE"),
        "the other process died\n{}",
        jail.describe()
    );

    // From the host: the limit, the OOM kill counted in the jail's cgroup, the survivors.
    const LIMIT: u64 = 64 << 20;
    assert_eq!(jcg.read_u64("memory", "memory.limit_in_bytes"), LIMIT);
    let memsw = jcg.dir("memory").join("memory.memsw.limit_in_bytes");
    if memsw.exists() {
        assert_eq!(jcg.read_u64("memory", "memory.memsw.limit_in_bytes"), LIMIT, "swap: 0");
    }
    let oom_kills = jcg.keyed("memory", "memory.oom_control", "oom_kill");
    let peak = jcg.read_u64("memory", "memory.max_usage_in_bytes");
    println!("memory: oom_kill {oom_kills}, peak {peak} bytes");
    assert!(oom_kills >= 1, "no OOM kill in the jail's cgroup");
    assert!(peak <= LIMIT, "peak {peak} above the limit");
    let alive: Vec<String> = jail_processes(jail.child.id())
        .iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/cmdline")).ok())
        .map(|c| c.replace('\0', " ").trim().to_string())
        .collect();
    assert!(
        alive.iter().any(|c| c == "sleep 60") && alive.iter().any(|c| c.starts_with("sh -c")),
        "pid 1 and the sleeper should still run: {alive:?}"
    );

    touch(&tj, "release");
    let status = jail.finish(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", jail.describe());
    assert_cgroups_cleaned(&cg, &jcg, "after the OOM test");
}

// ---------------------------------------------------------------------------------------------------------------
// 3. cpu: a busy loop gets about half a core

/// utime + stime of `pids`, in seconds (absent processes count 0).
fn cpu_seconds(pids: &[u32]) -> f64 {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let ticks: u64 = pids
        .iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // After the comm: state is field 3, utime 14 and stime 15.
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    ticks as f64 / tick
}

#[test]
fn cpu_max_half_a_core() {
    if !require_root() {
        return;
    }
    let tj = TestJail::new();
    let cg = TestCgroup::new("cpu");
    // Two busy loops: they would take both CPUs of this machine without the limit.
    let script = format!(
        "trap 'exit 0' TERM\n(while :; do :; done) &\n(while :; do :; done) &\necho BUSY\n{}\nexit 0",
        wait_file("release")
    );
    let place = Place {
        cgroup: Some(&cg),
        verbose: true,
        ..Place::default()
    };
    let mut jail = Jailctl::start(
        &tj,
        place,
        &["--set", "resources={cpu: {max: 0.5}}"],
        &["sh", "-c", &script],
    );
    let pid = jail.jail_pid(START);
    let jcg = cg.check_placement(pid);
    jail.wait_line("BUSY", START);
    assert_eq!(jcg.read_u64("cpu", "cpu.cfs_period_us"), 100_000);
    assert_eq!(jcg.read_u64("cpu", "cpu.cfs_quota_us"), 50_000);

    thread::sleep(Duration::from_millis(300));
    let procs = common::cgroup_pids(&jcg.dir("cpuacct").join("cgroup.procs"));
    let (u0, s0, t0) = (
        jcg.read_u64("cpuacct", "cpuacct.usage"),
        cpu_seconds(&procs),
        Instant::now(),
    );
    thread::sleep(Duration::from_secs(2));
    let (u1, s1, t1) = (
        jcg.read_u64("cpuacct", "cpuacct.usage"),
        cpu_seconds(&procs),
        Instant::now(),
    );
    let wall = (t1 - t0).as_secs_f64();
    let cores = (u1 - u0) as f64 / 1e9 / wall;
    let cores_proc = (s1 - s0) / wall;
    println!("cpu: {cores:.3} cores (cpuacct.usage), {cores_proc:.3} cores (/proc stat of {procs:?}) over {wall:.2} s");
    assert!(
        (0.3..=0.7).contains(&cores),
        "cpu.max 0.5 should give about half a core, got {cores:.3} (cpuacct.usage)"
    );
    assert!(
        (0.25..=0.75).contains(&cores_proc),
        "cpu.max 0.5 should give about half a core, got {cores_proc:.3} (/proc/PID/stat)"
    );

    touch(&tj, "release");
    let status = jail.finish(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", jail.describe());
    assert_cgroups_cleaned(&cg, &jcg, "after the CPU test");
}

// ---------------------------------------------------------------------------------------------------------------
// 4. placement without a test cgroup

/// `jailctl run` started straight from the test process (no test cgroup) puts the jail directly below the test
/// process's own cgroup in every hierarchy, and removes exactly that cgroup afterwards. (Only this jail's
/// directories are checked: other tests' jails may share the parent.)
#[test]
fn jail_cgroup_is_directly_below_the_callers_own() {
    if !require_root() {
        return;
    }
    let tj = TestJail::new();
    let hiers = own_hierarchies();
    let script = format!("echo UP\n{}\nexit 0", wait_file("release"));
    let place = Place {
        verbose: true,
        ..Place::default()
    };
    let mut jail = Jailctl::start(
        &tj,
        place,
        &["--set", "resources={pids: {max: 64}}"],
        &["sh", "-c", &script],
    );
    let pid = jail.jail_pid(START);
    jail.wait_line("UP", START);
    let jcg = check_placement(&hiers, |h| h.own.clone(), pid);
    // Guard: a failure from here on still removes this jail's cgroup.
    let guard = JailCgroupGuard(&hiers, &jcg);
    assert_eq!(jcg.read("pids", "pids.max"), "64");
    touch(&tj, "release");
    let status = jail.finish(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", jail.describe());
    jcg.assert_gone();
    drop(guard);
}

/// Removes a jail's cgroup directories (killing what is in them) when dropped.
struct JailCgroupGuard<'a>(&'a [Hier], &'a JailCgroup);

impl Drop for JailCgroupGuard<'_> {
    fn drop(&mut self) {
        for h in self.0 {
            if let Some(dir) = self.1.dirs.get(&h.label)
                && dir.exists()
            {
                eprintln!("removing the jail's cgroup left behind: {}", dir.display());
                common::kill_and_remove_cgroup(dir, h.label == "unified");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// jailctl's death

/// SIGKILL to `jailctl run` should take its jail down (and the cgroup with it): today the jail's init is
/// reparented to the host's init and keeps running in its cgroup.
#[test]
fn sigkill_to_jailctl_takes_the_jail_down() {
    if !require_root() {
        return;
    }
    let tj = TestJail::new();
    let cg = TestCgroup::new("kill");
    let place = Place {
        cgroup: Some(&cg),
        verbose: true,
        ..Place::default()
    };
    let mut jail = Jailctl::start(&tj, place, &["--set", "resources={pids: {max: 64}}"], &["sleep", "30"]);
    let pid = jail.jail_pid(START);
    let jcg = cg.check_placement(pid);
    let _ = jail.child.kill();
    jail.status = jail.child.wait().ok();
    // The jail dies with jailctl (its pid 1 has a parent-death signal).
    let gone = wait_until(Duration::from_secs(3), || !in_child_pidns(pid));
    assert!(gone, "after SIGKILL to jailctl: jail init {pid} still running");
    // Nobody was left to remove its (now empty) cgroup: the next jailctl run that makes a cgroup
    // sweeps the cgroups of dead one-shot jails.
    let mut next = Jailctl::start(&tj, place, &["--set", "resources={pids: {max: 64}}"], &["true"]);
    let _ = next.child.wait();
    let left = cg.jail_dirs();
    assert!(left.is_empty(), "stale cgroup dirs of the killed run left: {left:?}");
    jcg.assert_gone();
}

// ---------------------------------------------------------------------------------------------------------------
// 5. network, in a namespace playing the host

/// `network={mode: bridge, …}` for a jail at `addr` on bridge jbr0 (made when missing).
fn bridge_net(addr: &str) -> String {
    format!("network={{mode: bridge, bridge: jbr0, create_bridge: true, address: [{addr}], gateway: 10.77.0.1}}")
}

/// Two jails on one bridge exchange data over TCP; afterwards no veth is left and the real host's links
/// are as before. `rename_first`: rename the first jail's host veth before starting the second (see
/// [`bridge_two_jails_exchange_tcp_renamed_veth`]).
fn two_jails_on_a_bridge(tag: &str, rename_first: bool) {
    let host_before = link_names(None, &[]);
    let ns = NetNs::new(tag);
    let tj = TestJail::new();
    let place = Place {
        netns: Some(&ns),
        verbose: true,
        ..Place::default()
    };
    let server_net = bridge_net("10.77.0.2/24");
    let mut server = Jailctl::start(
        &tj,
        place,
        &["--set", &server_net],
        // busybox nc -l stops reading the socket once its stdin is at EOF: a FIFO opened read-write
        // never is, so the server waits for the client's data (without it the test was flaky).
        &[
            "sh",
            "-c",
            "mkfifo /tmp/nc-in; echo LISTENING; exec nc -l -p 5000 <>/tmp/nc-in",
        ],
    );
    server.wait_line("LISTENING", START);
    let ports = link_names(Some(&ns.name), &["master", "jbr0"]);
    assert_eq!(ports.len(), 1, "the first jail's veth on jbr0: {ports:?}");
    if rename_first {
        let veth = ports.iter().next().cloned().unwrap_or_default();
        ns.ip(&["link", "set", &veth, "down"]);
        ns.ip(&["link", "set", &veth, "name", "vjrenamed0"]);
        ns.ip(&["link", "set", "vjrenamed0", "up"]);
    }
    let client_net = bridge_net("10.77.0.3/24");
    let client_script = "i=0; while [ $i -lt 50 ]; do \
                         if echo hello-over-the-bridge | nc -w 2 10.77.0.2 5000; then echo SENT; exit 0; fi; \
                         sleep 0.1; i=$((i+1)); done; exit 1";
    let mut client = Jailctl::run(&tj, place, &["--set", &client_net], &["sh", "-c", client_script], START);
    assert_eq!(client.code(), Some(0), "the client jail\n{}", client.describe());
    let status = server.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "the server jail\n{}", server.describe());
    assert!(
        server.stdout.iter().any(|l| l == "hello-over-the-bridge"),
        "the server did not get the data\n{}",
        server.describe()
    );
    // jailctl deletes its host veth before it exits; a renamed one goes with the first jail's network
    // namespace, which the kernel destroys asynchronously once its last process is gone.
    let grace = if rename_first {
        Duration::from_secs(5)
    } else {
        Duration::ZERO
    };
    wait_until(grace, || ns.veths().is_empty());
    let veths = ns.veths();
    assert!(veths.is_empty(), "veths left in the test's netns: {veths:?}");
    drop(ns);
    assert_eq!(link_names(None, &[]), host_before, "the real host's links changed");
}

#[test]
fn bridge_two_jails_exchange_tcp() {
    if !require_root() {
        return;
    }
    two_jails_on_a_bridge("br2", false);
}

/// The same with the first jail's host veth renamed before the second starts, working around the name clash
/// of [`bridge_two_jails_exchange_tcp`] (delete this once that one passes): it shows the data path (bridge,
/// veths, addresses, TCP between two jails) and that the second jail's teardown removes its veth (the first
/// one's, renamed, goes with its namespace).
#[test]
fn bridge_two_jails_exchange_tcp_renamed_veth() {
    if !require_root() {
        return;
    }
    two_jails_on_a_bridge("br1", true);
}

/// A jail with `mode: none` reaches neither a listener on the host's loopback nor one on the bridge address.
#[test]
fn mode_none_reaches_neither_host_loopback_nor_bridge() {
    if !require_root() {
        return;
    }
    let host_before = link_names(None, &[]);
    let ns = NetNs::new("none");
    ns.ip(&["link", "add", "jbr0", "type", "bridge"]);
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "jbr0"]);
    ns.ip(&["link", "set", "jbr0", "up"]);
    let listeners = ns.run_in(|| {
        let lo = TcpListener::bind("127.0.0.1:0").expect("listen on the netns's loopback");
        let br = TcpListener::bind("10.77.0.1:0").expect("listen on the bridge address");
        // Controls: both are reachable from inside the namespace.
        for l in [&lo, &br] {
            let addr = l.local_addr().expect("local_addr");
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("control connect");
            s.write_all(b"control").expect("control write");
            let (mut a, _) = l.accept().expect("control accept");
            let mut buf = [0u8; 7];
            a.read_exact(&mut buf).expect("control read");
        }
        (lo, br)
    });
    let (lo, br) = listeners;
    let addr = |l: &TcpListener| -> SocketAddr { l.local_addr().expect("local_addr") };
    for l in [&lo, &br] {
        l.set_nonblocking(true).expect("nonblocking");
    }
    let script = format!(
        "ip -o link | cut -d: -f2 | tr -d ' ' | sed 's/^/LINK /'\n\
         timeout 3 nc -w 1 {} {} </dev/null; echo \"LO $?\"\n\
         timeout 3 nc -w 1 {} {} </dev/null; echo \"BR $?\"\nexit 0",
        addr(&lo).ip(),
        addr(&lo).port(),
        addr(&br).ip(),
        addr(&br).port()
    );
    let tj = TestJail::new();
    let place = Place {
        netns: Some(&ns),
        ..Place::default()
    };
    let mut jail = Jailctl::run(
        &tj,
        place,
        &["--set", "network={mode: none}"],
        &["sh", "-c", &script],
        START,
    );
    assert_eq!(jail.code(), Some(0), "{}", jail.describe());
    let links: Vec<String> = jail.stdout.iter().filter(|l| l.starts_with("LINK ")).cloned().collect();
    assert_eq!(
        links,
        ["LINK lo"],
        "the jail should have loopback only\n{}",
        jail.describe()
    );
    for (what, line) in [("the host's loopback", "LO "), ("the bridge address", "BR ")] {
        let code = jail
            .stdout
            .iter()
            .find_map(|l| l.strip_prefix(line))
            .map(str::to_string);
        let code = code.unwrap_or_else(|| panic!("no `{line}` line\n{}", jail.describe()));
        assert_ne!(code, "0", "the jail connected to {what}\n{}", jail.describe());
    }
    for (what, l) in [("loopback", &lo), ("bridge", &br)] {
        match l.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the {what} listener got a connection from the jail: {other:?}"),
        }
    }
    let veths = ns.veths();
    assert!(veths.is_empty(), "veths in the test's netns: {veths:?}");
    drop(ns);
    assert_eq!(link_names(None, &[]), host_before, "the real host's links changed");
}

// ---------------------------------------------------------------------------------------------------------------
// 6. bad input: exit 125, one clear line, nothing made

/// Every path below the jail's temp dir but the id pool's lock directory (a lease may create it; it persists).
fn files(tj: &TestJail) -> BTreeSet<PathBuf> {
    let mut all = tj.snapshot();
    all.remove(&tj.pool_dir);
    all
}

#[test]
fn bad_network_and_resources_input_changes_nothing() {
    if !require_root() {
        return;
    }
    let host_before = link_names(None, &[]);
    let ns = NetNs::new("bad");
    let cg = TestCgroup::new("bad");
    let tj = TestJail::new();
    let bad_policy = tj.base.join("banana.yaml");
    fs::write(
        &bad_policy,
        "version: 1\nextends: default\nresources:\n  memory:\n    max: banana\n",
    )
    .expect("write the policy file");
    let policy_arg = bad_policy.to_string_lossy().into_owned();
    let ns_before = ns.links();
    // The pids limit makes jailctl create a cgroup first, so a later failure must remove it.
    let pids = "resources={pids: {max: 64}}";
    let cases: &[(&str, Vec<&str>, &[&str])] = &[
        (
            "a missing bridge without create_bridge",
            vec![
                "--set",
                pids,
                "--set",
                "network={mode: bridge, bridge: jbrmissing0, address: [10.78.0.2/24]}",
            ],
            &["bridge jbrmissing0 does not exist", "create_bridge"],
        ),
        (
            "a macvlan parent that does not exist",
            vec![
                "--set",
                pids,
                "--set",
                "network={mode: macvlan, parent: nosuchif0, address: [10.78.0.2/24]}",
            ],
            &["parent interface nosuchif0 does not exist"],
        ),
        (
            "an ipvlan parent that does not exist",
            vec!["--set", pids, "--set", "network={mode: ipvlan, parent: nosuchif0}"],
            &["parent interface nosuchif0 does not exist"],
        ),
        (
            "memory max banana (--set)",
            vec!["--set", "resources={memory: {max: banana}}"],
            &["--set resources={memory: {max: banana}}", "banana"],
        ),
        (
            "memory max banana (policy file)",
            vec!["--policy", &policy_arg],
            &["banana.yaml:5:10", "banana"],
        ),
    ];
    for (what, args, needles) in cases {
        let files_before = files(&tj);
        let place = Place {
            netns: Some(&ns),
            cgroup: Some(&cg),
            verbose: false,
        };
        let t = Instant::now();
        let mut j = Jailctl::run(&tj, place, args, &["/bin/true"], START);
        println!("{what}: {:?}: {}", t.elapsed(), j.stderr.join(" | "));
        assert_eq!(j.code(), Some(125), "{what}\n{}", j.describe());
        let lines: Vec<&String> = j.stderr.iter().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("jailctl: "),
            "{what}: expected a one-line error\n{}",
            j.describe()
        );
        for n in *needles {
            assert!(
                lines[0].contains(n),
                "{what}: the error should name `{n}`\n{}",
                j.describe()
            );
        }
        assert!(j.stdout.is_empty(), "{what}\n{}", j.describe());
        assert_eq!(ns.links(), ns_before, "{what}: links made in the test's netns");
        cg.assert_clean(what);
        let files_after = files(&tj);
        let made: Vec<&PathBuf> = files_after.symmetric_difference(&files_before).collect();
        assert!(
            made.is_empty(),
            "{what}: files made or removed in the jail's temp dir: {made:?}"
        );
    }
    drop(ns);
    assert_eq!(link_names(None, &[]), host_before, "the real host's links changed");
}

/// Issue 6 point 2 for the daemon: jaild, started inside a test cgroup, puts each jail's cgroup below
/// its own (its supervisors inherit its cgroup), and the cgroup is gone after stop.
#[test]
fn daemon_places_jail_cgroups_below_its_own() {
    if !require_root() {
        return;
    }
    let tj = TestJail::new();
    let cg = TestCgroup::new("daemon");
    let dir = tj.base.join("daemon");
    fs::create_dir(&dir).expect("mkdir daemon dir");
    let d = daemon_common::Daemon::start(&dir);
    for h in &cg.hiers {
        fs::write(cg.dir(h).join("cgroup.procs"), d.pid().to_string()).expect("move jaild into the test cgroup");
    }
    let root = tj.root.to_str().expect("utf-8 root");
    let init = "trap 'exit 0' TERM; while :; do sleep 0.1; done";
    d.ok(&["create", "cgd", "--root", root, "--", "/bin/sh", "-c", init]);
    d.ok(&["start", "cgd"]);
    let pid = d.inspect("cgd")["pid"].as_u64().expect("a running jail has a pid");
    let jcg = cg.check_placement(u32::try_from(pid).expect("pid"));
    d.ok(&["stop", "cgd"]);
    jcg.assert_gone();
    d.ok(&["destroy", "cgd"]);
    assert!(cg.jail_dirs().is_empty(), "jail cgroups left: {:?}", cg.jail_dirs());
}
