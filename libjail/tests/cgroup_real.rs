//! `libjail::cgroup` on this machine's real cgroups (root; v1 controllers
//! with an empty cgroup2, DESIGN §11; on a v2 host the same tests run
//! against the unified tree). Each test makes its cgroup below the test
//! process's own, puts real children in it, and cleans up in `Drop` even
//! when an assertion fails. Skipped (passing) when not root.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libjail::cgroup::{Cgroup, CgroupPaths, Hierarchy, Mode};
use libjail::policy::{CpuLimits, MemoryLimits, PidsLimit, ResourcesPolicy};

/// The environment variable that turns this test binary into the memory
/// hog of [`memory_max_oom_kills_inside_the_jail`].
const HOG: &str = "JAILD_TEST_MEMORY_HOG";

/// Children and their cgroup: killed and removed on drop, whatever
/// happened.
struct Guard {
    cgroup: Cgroup,
    children: Vec<Child>,
}

impl Guard {
    fn new(name: &str, limits: &ResourcesPolicy) -> Guard {
        Guard {
            cgroup: Cgroup::create(name, limits).unwrap_or_else(|e| panic!("{e}")),
            children: Vec::new(),
        }
    }

    /// Spawns `cmd` with a piped stdin (its "go" signal), puts it in the
    /// cgroup, and returns its index.
    fn spawn_in(&mut self, cmd: &mut Command) -> usize {
        let child = cmd.stdin(Stdio::piped()).spawn().unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        self.cgroup.add(pid).unwrap();
        self.children.len() - 1
    }

    /// Lets child `i` go on (one line on its stdin).
    fn go(&mut self, i: usize) {
        let stdin = self.children[i].stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cgroup.kill_all();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.cgroup.remove();
    }
}

fn is_root() -> bool {
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if !root.unwrap_or(false) {
        eprintln!("skipped: needs root");
        return false;
    }
    true
}

fn exists_any(paths: &CgroupPaths) -> Vec<PathBuf> {
    paths.dirs().into_iter().filter(|d| d.exists()).collect()
}

/// Waits until `f` holds, up to `secs`.
fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn below_our_own_cgroup_with_pids_max_then_killed_and_removed() {
    if !is_root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let limits = ResourcesPolicy {
        pids: Some(PidsLimit { max: 16 }),
        ..ResourcesPolicy::default()
    };
    let mut g = Guard::new("test-pids", &limits);
    let paths = g.cgroup.paths().clone();

    // Every directory is directly below this process's own cgroup.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for (c, dir) in &paths.v1 {
        let line = own
            .lines()
            .find(|l| l.split(':').nth(1).is_some_and(|cs| cs.split(',').any(|x| x == c)))
            .unwrap();
        let own_path = line.splitn(3, ':').nth(2).unwrap();
        assert!(
            dir.to_string_lossy()
                .ends_with(&format!("{}/{}", own_path.trim_end_matches('/'), paths.name)),
            "{c}: {} not below {own_path}",
            dir.display()
        );
        let mount = h.v1.iter().find(|m| m.controllers.contains(c)).unwrap();
        assert_eq!(dir.parent().unwrap(), mount.own);
    }
    if let Some(u) = &h.unified {
        assert_eq!(paths.unified.as_ref().unwrap().parent().unwrap(), u.own);
    }
    assert!(!paths.v1.contains_key("devices"));

    // A shell that forks 40 sleepers once told to: the 17th task fails.
    let i = g.spawn_in(Command::new("sh").args([
        "-c",
        "read go; n=0; for i in $(seq 40); do sleep 30 & n=$((n+1)); done 2>/dev/null; echo started; wait",
    ]));
    let pid = g.children[i].id();
    let own_view = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let expected = if h.mode() == Mode::V2 { 1 } else { paths.dirs().len() };
    let lines = own_view
        .lines()
        .filter(|l| l.ends_with(&format!("/{}", paths.name)))
        .count();
    assert_eq!(lines, expected, "/proc/{pid}/cgroup:\n{own_view}");
    g.go(i);
    assert!(
        wait_for(10, || g.cgroup.stats().unwrap().pids_current == Some(16)),
        "pids.current {:?}",
        g.cgroup.stats().unwrap().pids_current
    );
    std::thread::sleep(Duration::from_millis(300));
    let stats = g.cgroup.stats().unwrap();
    assert_eq!(stats.pids_current, Some(16), "{stats:?}");
    let procs = g.cgroup.procs().unwrap().len();
    assert!((10..=16).contains(&procs), "{procs} processes");
    // The host is unaffected: we can still fork.
    assert!(Command::new("true").status().unwrap().success());

    g.cgroup.kill_all().unwrap();
    assert!(g.cgroup.procs().unwrap().is_empty());
    // The shell either gave up when fork failed (exit 2) or was killed.
    let status = g.children[i].wait().unwrap();
    assert!(
        status.signal() == Some(libc::SIGKILL) || status.code() == Some(2),
        "{status:?}"
    );
    g.cgroup.remove().unwrap();
    assert!(exists_any(&paths).is_empty(), "left: {:?}", exists_any(&paths));
}

#[test]
fn v1_freezer_kill_without_cgroup_kill() {
    if !is_root() {
        return;
    }
    let mut g = Guard::new("test-freeze", &ResourcesPolicy::default());
    if !g.cgroup.paths().v1.contains_key("freezer") {
        eprintln!("skipped: no v1 freezer here");
        return;
    }
    // Forks continuously; freeze stops that while the kill goes out.
    let i = g.spawn_in(Command::new("sh").args(["-c", "read go; while :; do sleep 30 & done"]));
    g.go(i);
    assert!(wait_for(5, || g.cgroup.procs().unwrap().len() > 20));
    // The same cgroup without its unified directory: the v1 way.
    let mut v1_paths = g.cgroup.paths().clone();
    v1_paths.unified = None;
    let v1 = Cgroup::open(v1_paths.clone());
    v1.kill_all().unwrap();
    assert!(v1.procs().unwrap().is_empty());
    assert!(
        g.cgroup.procs().unwrap().is_empty(),
        "the unified tree sees the same processes"
    );
    let state = std::fs::read_to_string(v1_paths.v1["freezer"].join("freezer.state")).unwrap();
    assert_eq!(state.trim(), "THAWED");
    assert_eq!(g.children[i].wait().unwrap().signal(), Some(libc::SIGKILL));
    let paths = g.cgroup.paths().clone();
    g.cgroup.remove().unwrap();
    assert!(exists_any(&paths).is_empty());
}

#[test]
fn memory_max_oom_kills_inside_the_jail() {
    if std::env::var_os(HOG).is_some() {
        // The hog: wait for the go, then touch 256 MiB.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        let hog = vec![1u8; 256 << 20];
        println!("allocated {}", hog.iter().map(|&b| u64::from(b)).sum::<u64>());
        return;
    }
    if !is_root() {
        return;
    }
    let limits = ResourcesPolicy {
        memory: Some(MemoryLimits {
            max: Some(64 << 20),
            swap: Some(0),
            high: None,
        }),
        ..ResourcesPolicy::default()
    };
    let mut g = Guard::new("test-oom", &limits);
    if let Some(dir) = g.cgroup.paths().v1.get("memory") {
        let limit = std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), (64u64 << 20).to_string());
    }
    // A bystander in the same jail.
    let bystander = g.spawn_in(Command::new("sleep").arg("60"));
    let exe = std::env::current_exe().unwrap();
    let hog = g.spawn_in(
        Command::new(exe)
            .args([
                "--exact",
                "memory_max_oom_kills_inside_the_jail",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOG, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    g.go(hog);
    let out = g.children.remove(hog).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{:?}: {stdout}", out.status);
    assert!(!stdout.contains("allocated"), "{stdout}");
    // The kernel says it was the OOM killer (v1 counts in oom_control).
    if let Some(dir) = g.cgroup.paths().v1.get("memory") {
        let control = std::fs::read_to_string(dir.join("memory.oom_control")).unwrap();
        assert!(
            control.lines().any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"),
            "{control}"
        );
    }
    let stats = g.cgroup.stats().unwrap();
    assert!(stats.memory_peak.unwrap() <= 64 << 20, "{stats:?}");
    assert!(stats.memory_peak.unwrap() > 32 << 20, "{stats:?}");
    // The other process of the jail survived.
    assert!(
        g.children[bystander].try_wait().unwrap().is_none(),
        "the bystander died"
    );
    assert_eq!(g.cgroup.procs().unwrap(), [g.children[bystander].id() as i32]);
}

#[test]
fn cpu_max_half_a_core() {
    if !is_root() {
        return;
    }
    let limits = ResourcesPolicy {
        cpu: Some(CpuLimits {
            max: Some(0.5),
            weight: None,
        }),
        ..ResourcesPolicy::default()
    };
    let mut g = Guard::new("test-cpu", &limits);
    let i = g.spawn_in(Command::new("sh").args(["-c", "read go; while :; do :; done"]));
    g.go(i);
    std::thread::sleep(Duration::from_millis(300));
    let before = g.cgroup.stats().unwrap().cpu_usec.unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = g.cgroup.stats().unwrap().cpu_usec.unwrap() - before;
    let share = used as f64 / start.elapsed().as_micros() as f64;
    eprintln!("busy loop with cpu.max 0.5 got {share:.3} of a core");
    assert!((0.35..=0.6).contains(&share), "got {share:.3} of a core");
}
