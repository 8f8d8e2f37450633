//! Harness of the daemon tests: a real `jaild` on a temp state dir, run dir and socket, the real
//! `jailctl` talking to it, and cleanup that kills every supervisor and jail the test left (jails
//! outlive jaild by design, so a failing test must not leave them running).
#![allow(dead_code)] // each test binary uses a different part of it

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{describe, output_with_timeout, stdout_text};

/// How long one jailctl call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// `target/<triple>/debug/NAME`, beside the `deps/` directory of this test binary.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/debug/deps/");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

/// A running jaild and its directories.
pub struct Daemon {
    /// The directory holding state, run dir, socket, id pool and log.
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub pool_dir: PathBuf,
    /// `START:SLOTS` of the id pool.
    pub pool: String,
    /// jaild's stderr.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts jaild with its files under `dir` (which must exist and be private).
    pub fn start(dir: &Path) -> Daemon {
        // 64 slots per test process, from 3000000000: clear of the other tests' ranges.
        let slot = std::process::id() % 128;
        let pool_start = 3_000_000_000u64 + u64::from(slot) * 64 * 65536;
        let mut d = Daemon {
            dir: dir.to_path_buf(),
            socket: dir.join("jaild.sock"),
            state_dir: dir.join("state"),
            run_dir: dir.join("run"),
            pool_dir: dir.join("idpool"),
            pool: format!("{pool_start}:64"),
            log: dir.join("jaild.log"),
            child: None,
        };
        d.spawn();
        d
    }

    /// jaild's command line.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin("jaild"));
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .arg("--id-pool")
            .arg(&self.pool)
            .arg("--id-pool-dir")
            .arg(&self.pool_dir)
            .arg("--log-level")
            .arg("debug")
            .arg("--start-timeout")
            .arg("30");
        cmd
    }

    /// Starts jaild and waits until it answers.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "jaild is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open jaild's log");
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn jaild");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.try_version().is_some() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("jaild exited with {status}\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "jaild did not answer within 20 s\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /v1/version` over a raw connection, or `None` when nothing answers.
    fn try_version(&self) -> Option<Value> {
        let (status, body) = raw_request(&self.socket, "GET", "/v1/version", None).ok()?;
        (status == 200).then(|| serde_json::from_slice(&body).ok()).flatten()
    }

    /// jaild's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("jaild runs").id()
    }

    /// `kill -9` jaild.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM to jaild; waits for it.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).expect("pid"));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = c.wait();
        }
    }

    /// jaild's log so far.
    pub fn log_text(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(20_000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!("--- jaild log (tail)\n{}---", &text[start..])
    }

    /// `jailctl --socket SOCKET ARGS...`, stdin from /dev/null.
    pub fn jailctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("jailctl"));
        cmd.arg("--socket").arg(&self.socket).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs jailctl to completion.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let out = output_with_timeout(self.jailctl(args), CALL_TIMEOUT);
        println!("$ jailctl {}\n{}", args.join(" "), describe(&out));
        out
    }

    /// Runs jailctl and requires success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "jailctl {} failed\n{}\n{}",
            args.join(" "),
            describe(&out),
            self.log_text()
        );
        stdout_text(&out)
    }

    /// Runs jailctl and requires failure (exit 1) with `needle` in stderr; the stderr.
    pub fn fails(&self, args: &[&str], needle: &str) -> String {
        let out = self.ctl(args);
        let err = crate::common::stderr_text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "jailctl {} should fail\n{}",
            args.join(" "),
            describe(&out)
        );
        assert!(
            err.contains(needle),
            "jailctl {}: expected {needle:?} in stderr\n{}",
            args.join(" "),
            describe(&out)
        );
        err
    }

    /// `jailctl list --json`.
    pub fn list(&self) -> Vec<Value> {
        let text = self.ok(&["list", "--json"]);
        serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("list --json is not JSON ({e}): {text}"))
            .as_array()
            .cloned()
            .expect("list --json is an array")
    }

    /// The list entry of jail `name`.
    pub fn entry(&self, name: &str) -> Option<Value> {
        self.list().into_iter().find(|j| j["name"] == name)
    }

    /// `jailctl inspect NAME --json`.
    pub fn inspect(&self, name: &str) -> Value {
        let text = self.ok(&["inspect", name, "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("inspect --json is not JSON ({e}): {text}"))
    }

    /// Polls `inspect` until `pred` holds (at most `limit`); the last answer.
    pub fn wait_for(&self, name: &str, limit: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let text = stdout_text(&output_with_timeout(
                self.jailctl(&["inspect", name, "--json"]),
                CALL_TIMEOUT,
            ));
            if let Ok(v) = serde_json::from_str::<Value>(&text)
                && pred(&v)
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "jail {name}: {what} not reached within {limit:?}; last inspect: {text}\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The state files of every jail.
    pub fn states(&self) -> Vec<Value> {
        let Ok(entries) = fs::read_dir(self.state_dir.join("jails")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| fs::read(e.path().join("state.json")).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Kills every supervisor and jail init the state files name (only if they are still the
    /// same processes, by start time), and removes the cgroups they record.
    pub fn kill_jails(&self) {
        let mut pids = Vec::new();
        for st in self.states() {
            for (p, s) in [("supervisor_pid", "supervisor_start"), ("pid", "pid_start")] {
                if let (Some(pid), Some(start)) = (st[p].as_i64(), st[s].as_u64())
                    && pid > 0
                    && start_time(pid as i32) == Some(start)
                {
                    pids.push(pid as i32);
                }
            }
        }
        // A supervisor that never wrote its state (a test that failed half-way through a start)
        // is found by its command line, which names this test's state directory.
        let jails_dir = self.state_dir.join("jails");
        if let Some(dir) = jails_dir.to_str().filter(|d| d.len() > "/jails".len()) {
            pids.extend(processes_with(&format!("--state {dir}/")).into_iter().map(|p| p as i32));
        }
        for pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|p| start_time(*p).is_some()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        // A killed supervisor cannot remove its jail's cgroup: do it here (what is left in it is
        // killed first). Veths go with the network namespace of the test that made them.
        for st in self.states() {
            let Ok(paths) = serde_json::from_value::<libjail::cgroup::CgroupPaths>(st["cgroup"].clone()) else {
                continue;
            };
            let cg = libjail::cgroup::Cgroup::open(paths);
            let _ = cg.kill_all();
            if let Err(e) = cg.remove() {
                eprintln!("cannot remove a jail cgroup the test left: {e}");
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        self.kill_jails();
        if thread::panicking() {
            eprintln!("{}", self.log_text());
        }
    }
}

/// The start time of `pid` (field 22 of /proc/PID/stat); `None` for no process or a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut f = rest.split(' ');
    let state = f.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    f.nth(18)?.parse().ok()
}

/// One HTTP/1.1 request over the unix socket, by hand (to send what jailctl never would).
pub fn raw_request(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: jaild\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let mut payload = resp[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        payload = dechunk(&payload);
    }
    Ok((status, payload))
}

/// Undoes chunked transfer encoding.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// The number of open descriptors of `pid`.
pub fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The host's mount table (mount points with their sources), sorted.
pub fn mount_table() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mut v: Vec<String> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let tail = l.split(" - ").nth(1).unwrap_or("");
            format!("{} {}", f.get(4).unwrap_or(&""), tail)
        })
        .collect();
    v.sort();
    v
}

/// Pids of processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && start_time(pid as i32).is_some() {
            out.push(pid);
        }
    }
    out
}

/// The id pool lock files under `dir` that some process still holds (an unlocked file is a free
/// slot: leases may leave their files behind).
pub fn held_locks(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let Ok(f) = fs::File::open(p) else { return false };
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err()
        })
        .collect()
}

/// The fields of `/proc/PID/smaps_rollup` in KiB (`Rss`, `Pss`, `Pss_Anon`, `Anonymous`, …);
/// empty when the process is gone.
pub fn smaps_rollup_kib(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (key, rest) = l.split_once(':')?;
            let kib = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some((key.to_string(), kib))
        })
        .collect()
}

/// `Pss` of `pid` in KiB (0 when the process is gone).
pub fn pss_kib(pid: u32) -> u64 {
    smaps_rollup_kib(pid).get("Pss").copied().unwrap_or(0)
}

/// The number of threads of `pid`.
pub fn thread_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// The children of `pid` (a scan of /proc), zombies included.
pub fn children_of(pid: u32) -> Vec<u32> {
    crate::common::process_parents()
        .into_iter()
        .filter(|(_, ppid)| *ppid == pid)
        .map(|(p, _)| p)
        .collect()
}

/// Entries below `dir` (files, directories, sockets; not `dir` itself) and the bytes of its
/// regular files (directory sizes are left out: ext4 never shrinks a directory).
pub fn dir_usage(dir: &Path) -> (usize, u64) {
    let (mut entries, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(list) = fs::read_dir(&d) else { continue };
        for e in list.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            entries += 1;
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                bytes += meta.len();
            }
        }
    }
    (entries, bytes)
}

/// The link names of `ip -n NETNS -o link show ARGS...`, without `@peer` (e.g. `ARGS` =
/// `["type", "veth"]` for the veths of a network namespace the test made).
pub fn netns_links(netns: &str, args: &[&str]) -> std::collections::BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-n", netns, "-o", "link", "show"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -n {netns} -o link show {args:?}\n{}",
        describe(&out)
    );
    stdout_text(&out)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The jail cgroups (`jaild-*` directories) directly below cgroup directory `dir`.
pub fn jail_cgroup_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("jaild-") && e.path().is_dir())
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// The address pool of a jaild started by [`NetDaemon`].
pub const POOL: &str = "10.99.0.0/29";

/// A network namespace made by the test (`ip netns add`), deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        let name = format!("jdn-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(ok.is_ok_and(|s| s.success()), "ip netns add {name}");
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip -n {} {args:?}\n{}", self.name, describe(&out));
        stdout_text(&out)
    }

    /// The names of the veths (`ip -o link`), without `@peer`.
    pub fn veths(&self) -> BTreeSet<String> {
        self.ip(&["-o", "link", "show", "type", "veth"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let ok = Command::new("ip").args(["netns", "del", &self.name]).status();
        if !ok.is_ok_and(|s| s.success()) {
            eprintln!("could not delete network namespace {}", self.name);
        }
    }
}

/// jaild inside the test's netns (`nsenter --net=...`), with the address pool [`POOL`]; `d`'s own jaild
/// (in the host's netns) is stopped first, so `d`'s helpers talk to this one.
pub struct NetDaemon {
    pub child: Option<Child>,
}

impl NetDaemon {
    pub fn start(d: &Daemon, ns: &NetNs) -> NetDaemon {
        NetDaemon::start_with(d, ns, &[])
    }

    /// [`NetDaemon::start`] with extra environment variables for jaild.
    pub fn start_with(d: &Daemon, ns: &NetNs, env: &[(&str, &str)]) -> NetDaemon {
        let plain = d.command();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&d.log)
            .expect("open jaild's log");
        let child = Command::new("nsenter")
            .arg(format!("--net={}", ns.path().display()))
            .arg("--")
            .arg(bin("jaild"))
            .args(plain.get_args())
            .arg("--address-pool")
            .arg(POOL)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn nsenter jaild");
        let mut me = NetDaemon { child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if raw_request(&d.socket, "GET", "/v1/version", None).is_ok_and(|(s, _)| s == 200) {
                return me;
            }
            if let Some(status) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("jaild exited with {status}\n{}", d.log_text());
            }
            assert!(Instant::now() < deadline, "jaild did not answer\n{}", d.log_text());
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NetDaemon {
    fn drop(&mut self) {
        self.kill9();
    }
}
