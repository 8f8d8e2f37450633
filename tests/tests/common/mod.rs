//! Shared harness of the end-to-end tests: a throw-away jail root with the probe in it, the real
//! `jailctl` binary, a timeout, and the checks every test makes afterwards (no mount left on the
//! host).
//!
//! Each test builds its own [`TestJail`] (a 0700 temp dir with `rootfs/`, an id pool directory
//! and a TMPDIR for jailctl), so tests share no state and run in parallel under nextest.
#![allow(dead_code)] // every test binary uses a different part of it

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rootfs_tools::busybox::{self, BusyboxOptions};
use serde_json::Value;

/// How long one jail may run before the test kills it.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The probe inside the rootfs.
pub const PROBE: &str = "/bin/jail-probe";

/// The default capability mask (policies/default.yaml): CHOWN DAC_OVERRIDE FOWNER FSETID KILL
/// SETGID SETUID SETPCAP NET_BIND_SERVICE SETFCAP AUDIT_WRITE, plus SYS_ADMIN for
/// `allow.set_hostname` (on by default; seccomp narrows it), without SYS_CHROOT (`allow.chroot` is
/// off by default, which removes it from the listed mask).
pub const DEFAULT_MASK: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 21)
    | (1 << 31)
    | (1 << 29);

/// True when the tests can run. Without root: a failure under `CI=true`, else a skip.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the end-to-end tests need root (CI=true, so not skipping)"
    );
    eprintln!("skipping: needs root");
    false
}

/// `target/<triple>/debug/NAME`, next to the `deps/` directory this test binary lives in; `PACKAGE`
/// builds it.
fn workspace_bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/debug/deps/");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p {package})",
        path.display()
    );
    path
}

/// The `jailctl` binary.
pub fn jailctl_path() -> PathBuf {
    workspace_bin("jailctl", "jailctl")
}

/// The `jail-init` helper (crate `jaild`).
pub fn jail_init_path() -> PathBuf {
    workspace_bin("jail-init", "jaild")
}

/// The id mode a threat test runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `--passthrough-ids`: the jail's root is host uid 0.
    Passthrough,
    /// `--ids isolated`: a private range from the pool, rootfs idmapped.
    Isolated,
}

impl Mode {
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Mode::Passthrough => &["--passthrough-ids"],
            Mode::Isolated => &["--ids", "isolated"],
        }
    }
}

/// A temp dir holding a busybox rootfs with the probe at `/bin/jail-probe`.
pub struct TestJail {
    dir: Option<tempfile::TempDir>,
    /// The temp dir (0700, so non-root users cannot reach the rootfs).
    pub base: PathBuf,
    /// `base/rootfs`.
    pub root: PathBuf,
    /// The id pool's lock directory (`JAILD_ID_POOL_DIR`).
    pub pool_dir: PathBuf,
    /// The first host id of the pool (`JAILD_ID_POOL=START:SLOTS`).
    pub pool_start: u32,
    /// jailctl's TMPDIR, so any temp file it leaves behind is seen by [`TestJail::snapshot`].
    pub tmp: PathBuf,
}

impl TestJail {
    pub fn new() -> TestJail {
        let dir = tempfile::Builder::new()
            .prefix("jail-e2e.")
            .tempdir()
            .expect("create temp dir");
        let base = dir.path().canonicalize().expect("canonical temp dir");
        fs::set_permissions(&base, fs::Permissions::from_mode(0o700)).expect("chmod 0700");
        let root = base.join("rootfs");
        busybox::build(&BusyboxOptions {
            dir: root.clone(),
            force: false,
            busybox: None,
        })
        .unwrap_or_else(|e| panic!("build the busybox rootfs in {}: {e}", root.display()));
        copy_probe(&root, "bin/jail-probe", 0o755);
        let tmp = base.join("tmp");
        fs::create_dir(&tmp).expect("mkdir tmp");
        // A pool range per test process, so parallel tests get different host ids.
        let slot = std::process::id() % 4096;
        let pool_start = 1_000_000_000 + slot * 4 * 65536;
        TestJail {
            dir: Some(dir),
            pool_dir: base.join("idpool"),
            pool_start,
            tmp,
            root,
            base,
        }
    }

    /// `jailctl` with this test's environment; stdin is /dev/null unless changed.
    pub fn jailctl(&self) -> Command {
        let mut cmd = Command::new(jailctl_path());
        cmd.env("JAILD_ID_POOL_DIR", &self.pool_dir)
            .env("JAILD_ID_POOL", format!("{}:4", self.pool_start))
            .env("TMPDIR", &self.tmp)
            .stdin(Stdio::null());
        cmd
    }

    /// `jailctl run --root ROOT ARGS... -- CMD...` for another root than `self.root`.
    pub fn run_cmd_root(&self, root: &Path, args: &[&str], cmd: &[&str]) -> Command {
        let mut c = self.jailctl();
        c.arg("run").arg("--root").arg(root).args(args).arg("--").args(cmd);
        c
    }

    /// `jailctl run --root ROOT ARGS... -- CMD...`, as a command to adjust.
    pub fn run_cmd(&self, args: &[&str], cmd: &[&str]) -> Command {
        self.run_cmd_root(&self.root, args, cmd)
    }

    /// Runs a jail to completion (killed after [`TIMEOUT`]).
    pub fn run(&self, args: &[&str], cmd: &[&str]) -> Output {
        output_with_timeout(self.run_cmd(args, cmd), TIMEOUT)
    }

    /// Runs the probe with `probe_args` in a jail with `args`.
    pub fn probe(&self, args: &[&str], probe_args: &[&str]) -> Output {
        let mut cmd = vec![PROBE];
        cmd.extend_from_slice(probe_args);
        let out = self.run(args, &cmd);
        println!(
            "$ jailctl run {} -- {}\n{}",
            args.join(" "),
            cmd.join(" "),
            describe(&out)
        );
        out
    }

    /// Starts a jail with piped stdin, stdout and stderr.
    pub fn spawn(&self, args: &[&str], cmd: &[&str]) -> Child {
        self.run_cmd(args, cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jailctl")
    }

    /// Every path under the temp dir except the id pool's lock files (which may persist).
    pub fn snapshot(&self) -> BTreeSet<PathBuf> {
        let mut all = BTreeSet::new();
        walk(&self.base, &self.pool_dir, &mut all);
        all
    }

    /// Copies the probe into the rootfs at `rel` (e.g. `bin/probe-suid`) with `mode`.
    pub fn copy_probe(&self, rel: &str, mode: u32) -> PathBuf {
        copy_probe(&self.root, rel, mode)
    }
}

impl Drop for TestJail {
    fn drop(&mut self) {
        let leaked = mounts_under(&self.base);
        if leaked.is_empty() {
            return;
        }
        // Never delete through a leaked mount: keep the directory for inspection.
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        let msg = format!(
            "mounts leaked to the host under {} (kept for inspection): {leaked:?}",
            self.base.display()
        );
        if thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Builds a plain busybox rootfs (no probe) in each of `dirs`.
pub fn busybox_roots(dirs: &[PathBuf]) {
    for dir in dirs {
        busybox::build(&BusyboxOptions {
            dir: dir.clone(),
            force: false,
            busybox: None,
        })
        .unwrap_or_else(|e| panic!("build a busybox rootfs in {}: {e}", dir.display()));
    }
}

fn copy_probe(root: &Path, rel: &str, mode: u32) -> PathBuf {
    let dst = root.join(rel);
    fs::copy(env!("CARGO_BIN_EXE_jail-probe"), &dst)
        .unwrap_or_else(|e| panic!("copy the probe to {}: {e}", dst.display()));
    fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).expect("chmod the probe");
    dst
}

fn walk(dir: &Path, skip: &Path, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.starts_with(skip) && path != skip {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        out.insert(path.clone());
        if is_dir && path != skip {
            walk(&path, skip, out);
        }
    }
}

/// Mount points at or below `dir` in this (the host's) mount namespace.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| *mp == dir || mp.starts_with(&format!("{dir}/")))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if bytes[i] == b'\\'
            && let Some(d) = octal
        {
            out.push(d.iter().fold(0u8, |v, b| v.wrapping_mul(8).wrapping_add(b - b'0')));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `cmd` with piped output; kills it after `timeout` and fails the test.
pub fn output_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    wait_output(child, timeout)
}

/// Collects a spawned child's stdout and stderr and waits for it, at most `timeout`.
pub fn wait_output(mut child: Child, timeout: Duration) -> Output {
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait_timeout(&mut child, timeout);
    // A jail process still holding the pipes must not hang the test.
    let collect = |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let out = Output {
        status: status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("wait after kill")
        }),
        stdout: collect(stdout),
        stderr: collect(stderr),
    };
    assert!(
        status.is_some(),
        "jailctl did not finish within {timeout:?}: killed\n{}",
        describe(&out)
    );
    out
}

/// Waits for `child` at most `timeout`; `None` when it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

/// Reads `child`'s stdout line by line in a thread; the lines arrive on the returned channel.
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim_end_matches('\r').to_owned()).is_err() {
                break;
            }
        }
    });
    rx
}

/// stdout as text, without the `\r` a pty adds.
pub fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).replace('\r', "")
}

/// Exit status, stdout and stderr, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout\n{}--- stderr\n{}---",
        out.status,
        stdout_text(out),
        stderr_text(out)
    )
}

/// The probe exited 0, printed at least one `BLOCKED` line and no `ESCAPED` line.
pub fn assert_all_blocked(out: &Output, what: &str) {
    let text = stdout_text(out);
    // A TIOCSTI that got through echoes its space on a pty: trim it.
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let escaped: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("ESCAPED ")).collect();
    let foreign: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !["BLOCKED ", "ESCAPED ", "NOTE "].iter().any(|p| l.starts_with(p)))
        .collect();
    let blocked = lines.iter().filter(|l| l.starts_with("BLOCKED ")).count();
    assert!(
        out.status.code() == Some(0) && escaped.is_empty() && foreign.is_empty() && blocked > 0,
        "{what}: expected only BLOCKED lines and exit 0; escaped: {escaped:#?}; unexpected lines: \
         {foreign:#?}\n{}",
        describe(out)
    );
}

/// Like [`assert_all_blocked`] for a probe that also prints controls: `ALLOWED`/`DENIED` lines for
/// what the jail may keep. Every `BLOCKED` as there, and an `ALLOWED` line starting with each of
/// `must_allow` (so a filter that refused everything would fail); a `DENIED` control that is not
/// required is shown, not judged.
pub fn assert_blocked_and_allowed(out: &Output, what: &str, must_allow: &[&str]) {
    let text = stdout_text(out);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let with = |prefix: &str| -> Vec<&str> { lines.iter().copied().filter(|l| l.starts_with(prefix)).collect() };
    let escaped = with("ESCAPED ");
    let denied = with("DENIED ");
    let foreign: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            !["BLOCKED ", "ESCAPED ", "NOTE ", "ALLOWED ", "DENIED "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    let missing: Vec<&str> = must_allow
        .iter()
        .copied()
        .filter(|m| !lines.iter().any(|l| l.starts_with(&format!("ALLOWED {m}"))))
        .collect();
    let blocked = with("BLOCKED ").len();
    assert!(
        out.status.code() == Some(0) && escaped.is_empty() && foreign.is_empty() && missing.is_empty() && blocked > 0,
        "{what}: expected BLOCKED lines, the controls ALLOWED and exit 0; escaped: {escaped:#?}; \
         controls missing: {missing:#?}; unexpected lines: {foreign:#?}; (other controls denied: {denied:#?})\n{}",
        describe(out)
    );
}

/// Parses the JSON line of `jail-probe status`.
pub fn parse_status(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "jail-probe status failed\n{}",
        describe(out)
    );
    let text = stdout_text(out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON from jail-probe status\n{}", describe(out)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON ({e}): {line}"))
}

/// A `CapXxx` field of the status (hex string) as a number.
pub fn cap(status: &Value, key: &str) -> u64 {
    let hex = status[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing from {status}"));
    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{key} = {hex:?}: {e}"))
}

/// A numeric field of the status.
pub fn num(status: &Value, key: &str) -> i64 {
    status[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not a number in {status}"))
}

/// Every process as `(pid, ppid)`, from a scan of /proc (zombies included).
pub fn process_parents() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: the comm may hold spaces and parentheses.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()) {
            out.push((p, ppid));
        }
    }
    out
}

/// Host pids of the processes below `pid` that live in a child pid namespace (the jail's).
pub fn jail_processes(pid: u32) -> Vec<u32> {
    let parent_of = process_parents();
    let mut below = vec![pid];
    let mut i = 0;
    while i < below.len() {
        let cur = below[i];
        below.extend(parent_of.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    below
        .into_iter()
        .filter(|p| *p != pid)
        .filter(|p| status_field(*p, "NSpid").is_some_and(|v| v.split_whitespace().count() > 1))
        .collect()
}

/// A field of `/proc/PID/status`.
pub fn status_field(pid: u32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")).map(|v| v.trim().to_owned()))
}

/// The host's hostname.
pub fn host_hostname() -> String {
    nix::unistd::gethostname()
        .expect("gethostname")
        .to_string_lossy()
        .into_owned()
}

/// Kills every process in cgroup `dir` and below (through `cgroup.kill` where `use_kill_file`
/// and the file exists, else SIGKILL to each), then removes the directories, deepest first.
pub fn kill_and_remove_cgroup(dir: &Path, use_kill_file: bool) {
    let mut dirs = Vec::new();
    cgroup_dirs(dir, &mut dirs);
    let deadline = Instant::now() + Duration::from_secs(5);
    for d in dirs.iter().rev() {
        loop {
            let pids = cgroup_pids(&d.join("cgroup.procs"));
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                eprintln!("{}: processes {pids:?} survive SIGKILL", d.display());
                break;
            }
            let kill_file = d.join("cgroup.kill");
            if use_kill_file && kill_file.exists() {
                let _ = fs::write(&kill_file, "1");
            } else {
                for pid in pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        let until = Instant::now() + Duration::from_secs(3);
        while let Err(e) = fs::remove_dir(d) {
            if e.kind() == std::io::ErrorKind::NotFound {
                break;
            }
            if Instant::now() > until {
                eprintln!("rmdir {}: {e}", d.display());
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `dir` and every directory below it, parents first (nothing if `dir` is not a directory).
pub fn cgroup_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_dirs(&e.path(), out);
            }
        }
    }
}

/// The pids listed in a `cgroup.procs` file.
pub fn cgroup_pids(file: &Path) -> Vec<u32> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
