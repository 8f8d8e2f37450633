//! Soak test of jaild (issue 7): many create/start/exec/stop/destroy cycles by several workers at
//! once, then proof that nothing grew. The full run is not part of CI's default run (`#[ignore]`;
//! CI runs the same checks on 60 cycles, `short_soak_leaks_nothing`); run it as root
//! with
//!
//! ```sh
//! cargo build --workspace
//! cargo nextest run -p jail-tests --test soak --run-ignored only --no-capture
//! SOAK_CYCLES=100 SOAK_WORKERS=2 cargo nextest run -p jail-tests --test soak --run-ignored only --no-capture
//! ```
//!
//! Knobs: `SOAK_CYCLES` (default 1000, the measured cycles in all), `SOAK_WORKERS` (default 4,
//! jails at once), `SOAK_WARMUP` (default 300 cycles before the baseline is taken: jaild's heap
//! takes that long to reach about its steady size), `MALLOC_ARENA_MAX` (passed to jaild; unset, jaild
//! limits itself to 1 arena: see [`malloc_arena_max`]).
//!
//! Setup: jaild runs inside a network namespace the test makes (the harness's `NetNs` and
//! `NetDaemon`: `nsenter --net`, so the host's network is never touched) with an address pool,
//! and inside a cgroup the test makes below its own in every hierarchy jaild uses (`jsoak-PID`),
//! so the jail cgroups (`jaild-*`, made below jaild's own: libjail/src/cgroup.rs; every
//! supervised jail gets one) are counted without racing other tests. Each worker has its own
//! busybox root and a new jail name per cycle (`skW-K`); cycle K is isolated (K even) or
//! passthrough ids, on a bridge with an `auto` address when K / 2 is even (workers 0 to 4 only:
//! the pool has 5 addresses), with pids and memory limits every third cycle. Each cycle:
//! `create`, `start`, `inspect --json` and `list --json` (running, the id mode, the address, the
//! cgroup), `exec -- /bin/true` (exit 0), `exec -- /bin/echo hi` ("hi"), for bridged jails the
//! address on eth0 and the host veth, `stop --timeout 5`, `destroy`.
//!
//! Measured before (after the warm-up) and after, each once jaild's blocking pool is idle:
//! jaild's descriptors, threads and memory (`/proc/PID/smaps_rollup`), the host mounts involving
//! this test's directory, jail cgroups, veths and links in the namespace, veths on the host (jaild
//! must make none there), supervisors, jail inits, payloads, jaild's children (zombies included),
//! processes in jaild's cgroup, the state and run dirs (entries and bytes), address leases and
//! held id pool locks. Memory may grow by [`MEM_TOLERANCE_KIB`] (allocator noise); every other
//! figure must come back exactly, retried for [`SETTLE`] since other tests may run meanwhile.

mod common;
mod daemon_common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{TestJail, describe, output_with_timeout, require_root, stdout_text};
use daemon_common::{
    CALL_TIMEOUT, Daemon, NetDaemon, NetNs, POOL, children_of, dir_usage, fd_count, held_locks, jail_cgroup_dirs,
    mount_table, netns_links, smaps_rollup_kib, start_time, thread_count,
};
use serde_json::Value;

/// How many workers run bridged jails: the shared harness's address pool ([`POOL`], a /29)
/// has 5 addresses for jails.
const BRIDGED_WORKERS: usize = 5;
/// The bridge of the bridged jails (made by the first one, inside the namespace).
const BRIDGE: &str = "jbrsoak";
/// How much jaild's RSS and PSS may grow from the baseline. glibc never returns free memory in
/// the middle of its heap, so jaild's footprint follows the high-water mark of its heap, which
/// still creeps up after the warm-up with the interleaving of the workers' requests (about
/// +260 KiB over 1,000 cycles after 300 warm-up cycles, +520 KiB after only 50, with one arena).
/// Measured with a dynamically linked jaild and glibc's `malloc_stats`, the bytes in use stop
/// growing (+7.6 KB over cycles 1,050 to 5,050): the creep is fragmentation, not a leak.
const MEM_TOLERANCE_KIB: u64 = 512;
/// How long the figures may take to come back (other tests may mount, make processes, …).
const SETTLE: Duration = Duration::from_secs(30);
/// Print a progress line every this many cycles.
const PROGRESS_EVERY: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---------------------------------------------------------------------------------------------------------------
// the cgroup jaild runs in

/// A cgroup `jsoak-PID` below the test's own in every hierarchy jaild uses (as libjail detects
/// them); jaild runs in it, so its jails' cgroups are made below it. Drop kills whatever is left
/// in it and removes it all.
struct SoakCgroup {
    /// Its directory in each hierarchy.
    dirs: Vec<PathBuf>,
}

impl SoakCgroup {
    fn new() -> SoakCgroup {
        let h = libjail::cgroup::Hierarchy::detect().expect("detect the cgroup hierarchies");
        let owns: Vec<PathBuf> = h
            .unified
            .iter()
            .map(|u| u.own.clone())
            .chain(h.v1.iter().map(|m| m.own.clone()))
            .collect();
        let name = format!("jsoak-{}", std::process::id());
        let mut cg = SoakCgroup { dirs: Vec::new() };
        for own in owns {
            let dir = own.join(&name);
            if dir.exists() {
                // Left by a crashed earlier run with our pid.
                common::kill_and_remove_cgroup(&dir, false);
            }
            fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            cg.dirs.push(dir.clone());
            if own.join("cpuset.cpus").exists() {
                // A v1 cpuset cgroup starts with no CPUs and no memory nodes.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let value = fs::read_to_string(own.join(file)).expect("read the parent's cpuset");
                    fs::write(dir.join(file), value.trim()).expect("write cpuset");
                }
            }
        }
        cg
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    fn enter(&self, pid: u32) {
        for dir in &self.dirs {
            let procs = dir.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).unwrap_or_else(|e| panic!("write {pid} to {}: {e}", procs.display()));
        }
    }

    /// The `jaild-*` directories below it, in every hierarchy.
    fn jail_dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().flat_map(|d| jail_cgroup_dirs(d)).collect()
    }

    /// Every process in it or below it, in any hierarchy.
    fn processes(&self) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        for dir in &self.dirs {
            let mut all = Vec::new();
            common::cgroup_dirs(dir, &mut all);
            for d in all {
                out.extend(common::cgroup_pids(&d.join("cgroup.procs")));
            }
        }
        out
    }
}

impl Drop for SoakCgroup {
    fn drop(&mut self) {
        let left = self.jail_dirs();
        if !left.is_empty() {
            eprintln!("cleaning up jail cgroups left behind: {left:?}");
        }
        for dir in &self.dirs {
            common::kill_and_remove_cgroup(dir, false);
        }
    }
}

/// Fails unless jaild (`pid`, a child of this process) still runs.
fn assert_alive(pid: u32, d: &Daemon) {
    assert!(start_time(pid as i32).is_some(), "jaild exited\n{}", d.log_text());
}

/// glibc's arena limit for jaild, shown in the output: `MALLOC_ARENA_MAX` from the environment
/// (passed on to jaild), else jaild's own limit, 1 (jaild/src/main.rs). With glibc's default (8
/// per core) every new thread of jaild's blocking pool may get an arena of its own that keeps its
/// memory after the thread exits: bounded, not a leak, but it would hide one.
fn malloc_arena_max() -> Option<String> {
    std::env::var("MALLOC_ARENA_MAX").ok()
}

// ---------------------------------------------------------------------------------------------------------------
// the cycles

/// What the workers share.
struct Soak<'a> {
    d: &'a Daemon,
    ns: &'a NetNs,
    cg: &'a SoakCgroup,
    /// One root per worker.
    roots: Vec<PathBuf>,
    /// The payload's argument: `/bin/sleep MARKER`.
    marker: String,
}

/// Runs jailctl quietly (thousands of calls); the output only on failure.
fn ctl(d: &Daemon, args: &[&str]) -> Output {
    output_with_timeout(d.jailctl(args), CALL_TIMEOUT)
}

/// Runs jailctl and requires success; its stdout. (On failure the `Daemon` guard prints jaild's
/// log.)
fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = ctl(d, args);
    assert!(
        out.status.success(),
        "jailctl {} failed\n{}",
        args.join(" "),
        describe(&out)
    );
    stdout_text(&out)
}

/// `jailctl list --json`, quietly.
fn list(d: &Daemon) -> Vec<Value> {
    let text = ok(d, &["list", "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("list --json is not a JSON array ({e}): {text}"))
}

impl Soak<'_> {
    /// Cycle `k` of worker `w`: create, start, inspect, exec, stop, destroy a new jail.
    fn cycle(&self, w: usize, k: usize) {
        let d = self.d;
        let name = format!("sk{w}-{k}");
        let ids = if k.is_multiple_of(2) { "isolated" } else { "passthrough" };
        let bridged = w < BRIDGED_WORKERS && (k / 2).is_multiple_of(2);
        let limited = k.is_multiple_of(3);
        let net = format!("network={{mode: bridge, bridge: {BRIDGE}, create_bridge: true, address: [auto]}}");
        let mut args = vec![
            "create",
            &name,
            "--root",
            path_str(&self.roots[w]),
            "--ids",
            ids,
            "--set",
            "init=builtin",
        ];
        if bridged {
            args.extend(["--set", &net]);
        }
        if limited {
            args.extend(["--set", "resources={pids: {max: 64}, memory: {max: 64M}}"]);
        }
        args.extend(["--", "/bin/sleep", &self.marker]);
        ok(d, &args);
        ok(d, &["start", &name]);

        let text = ok(d, &["inspect", &name, "--json"]);
        let i: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("inspect --json is not JSON ({e}): {text}"));
        let what = format!("jail {name} ({ids}, bridge {bridged}, limits {limited})");
        assert_eq!(i["state"], "running", "{what}: {i}");
        assert!(i["pid"].as_i64().is_some_and(|p| p > 1), "{what}: {i}");
        let listed = list(d);
        let e = listed
            .iter()
            .find(|j| j["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{what} is not listed: {listed:?}"));
        assert!(e["ids"].as_str().unwrap_or("").starts_with(ids), "{what}: {e}");
        {
            // Every supervised jail has a cgroup (libjail/src/supervise.rs), limits or not.
            let prefix = format!("jaild-{name}-");
            let mine: Vec<PathBuf> = self
                .cg
                .jail_dirs()
                .into_iter()
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
                .collect();
            assert_eq!(
                mine.len(),
                self.cg.dirs.len(),
                "{what}: a cgroup below jaild's in every hierarchy: {mine:?}"
            );
            if limited {
                let pids_max = mine
                    .iter()
                    .find_map(|dir| fs::read_to_string(dir.join("pids.max")).ok())
                    .unwrap_or_default();
                assert_eq!(pids_max.trim(), "64", "{what}: pids.max in {mine:?}");
            }
        }

        let out = ctl(d, &["exec", &name, "--", "/bin/true"]);
        assert_eq!(out.status.code(), Some(0), "{what}: exec /bin/true\n{}", describe(&out));
        let out = ctl(d, &["exec", &name, "--", "/bin/echo", "hi"]);
        assert!(
            out.status.success() && stdout_text(&out) == "hi\n",
            "{what}: exec /bin/echo hi\n{}",
            describe(&out)
        );
        if bridged {
            let ip = e["ip"].as_str().unwrap_or_else(|| panic!("{what} has no address: {e}"));
            let ip = ip.split('/').next().unwrap_or(ip);
            let (net, prefix) = POOL.split_once('/').expect("POOL is ADDR/PREFIX");
            let net = net.rsplit_once('.').map_or(net, |(n, _)| n);
            assert!(ip.starts_with(&format!("{net}.")), "{what}: {ip} is not from {POOL}");
            let addr = ok(d, &["exec", &name, "--", "/bin/sh", "-c", "ip -o -4 addr show eth0"]);
            assert!(addr.contains(&format!("{ip}/{prefix}")), "{what}: eth0 has {addr}");
            let veth = libjail::net::host_ifname(&name);
            let veths = self.ns.veths();
            assert!(veths.contains(&veth), "{what}: no host veth {veth}: {veths:?}");
        }

        ok(d, &["stop", &name, "--timeout", "5"]);
        ok(d, &["destroy", &name]);
        assert!(
            !d.state_dir.join("jails").join(&name).exists(),
            "{what}: destroy left its state"
        );
    }

    /// Runs cycles `first..first + count` on the workers (each takes the next cycle number when
    /// it is free); with `progress`, prints a line every [`PROGRESS_EVERY`] cycles.
    fn run(&self, first: usize, count: usize, progress: Option<u32>) {
        let next = AtomicUsize::new(first);
        let done = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let began = Instant::now();
        let last = std::sync::Mutex::new((0usize, began));
        thread::scope(|s| {
            for w in 0..self.roots.len() {
                let (next, done, failed, last) = (&next, &done, &failed, &last);
                s.spawn(move || {
                    // A failing cycle stops the other workers after their current one.
                    struct OnPanic<'a>(&'a AtomicBool);
                    impl Drop for OnPanic<'_> {
                        fn drop(&mut self) {
                            if thread::panicking() {
                                self.0.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    let _guard = OnPanic(failed);
                    while !failed.load(Ordering::SeqCst) {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if k >= first + count {
                            break;
                        }
                        self.cycle(w, k);
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        if let Some(pid) = progress
                            && (n.is_multiple_of(PROGRESS_EVERY) || n == count)
                        {
                            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                            let now = Instant::now();
                            let total = n as f64 / now.duration_since(began).as_secs_f64();
                            let since = n - last.0;
                            let recent = since as f64 / now.duration_since(last.1).as_secs_f64();
                            *last = (n, now);
                            let mem = smaps_rollup_kib(pid);
                            println!(
                                "[soak] {n:>5}/{count} cycles  {total:5.2} cycles/s (last {}: {recent:5.2}/s)  \
                                 jaild: {} fds, {} threads, RSS {} KiB, PSS {} KiB, PSS anon {} KiB",
                                since,
                                fd_count(pid),
                                thread_count(pid),
                                mem.get("Rss").copied().unwrap_or(0),
                                mem.get("Pss").copied().unwrap_or(0),
                                mem.get("Pss_Anon").copied().unwrap_or(0),
                            );
                        }
                    }
                });
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// the figures

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Must come back exactly.
    Equal,
    /// May grow by this much.
    AtMost(u64),
    /// Shown, not judged.
    Info,
}

/// One look at everything that must not grow.
struct Snapshot {
    rows: Vec<(&'static str, u64, Rule)>,
    /// The host mount table's entries involving the test's directory.
    our_mounts: Vec<String>,
}

/// The veths of the real host's network namespace (jaild, inside the test's, must make none).
fn host_veths() -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "type", "veth"])
        .stdin(Stdio::null())
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip -o link show type veth\n{}", describe(&out));
    stdout_text(&out)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// What the processes on the host are, for this test.
#[derive(Default)]
struct Procs {
    supervisors: u64,
    inits: u64,
    payloads: u64,
    naming_dir: u64,
}

fn scan_processes(state_marker: &str, payload: &str, base: &str) -> Procs {
    let mut p = Procs::default();
    for e in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || start_time(pid as i32).is_none() {
            continue;
        }
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(base) {
            p.naming_dir += 1;
        }
        if cmd.contains(state_marker) {
            // The supervisor's child in the jail's pid namespace is the jail's init.
            let in_jail = common::status_field(pid, "NSpid").is_some_and(|v| v.split_whitespace().count() > 1);
            if in_jail {
                p.inits += 1;
            } else {
                p.supervisors += 1;
            }
        }
        if cmd.trim_end() == payload {
            p.payloads += 1;
        }
    }
    p
}

impl Soak<'_> {
    fn snapshot(&self, jaild: u32, base: &str) -> Snapshot {
        let d = self.d;
        let mem = smaps_rollup_kib(jaild);
        let kib = |k: &str| mem.get(k).copied().unwrap_or(0);
        let mounts = mount_table();
        let our_mounts: Vec<String> = mounts.iter().filter(|m| m.contains(base)).cloned().collect();
        let state_marker = format!("{}/jails/", path_str(&d.state_dir));
        let procs = scan_processes(&state_marker, &format!("/bin/sleep {}", self.marker), base);
        let in_cgroup = self.cg.processes().into_iter().filter(|p| *p != jaild).count();
        let (state_entries, state_bytes) = dir_usage(&d.state_dir);
        let (run_entries, run_bytes) = dir_usage(&d.run_dir);
        let leases = fs::read_dir(d.state_dir.join("addresses"))
            .map(|r| {
                r.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0);
        let pool_files = fs::read_dir(&d.pool_dir).map_or(0, Iterator::count);
        let log = fs::read_to_string(&d.log).unwrap_or_default();
        let n = |v: usize| v as u64;
        let mem_rule = Rule::AtMost(MEM_TOLERANCE_KIB);
        Snapshot {
            rows: vec![
                ("jaild open fds", n(fd_count(jaild)), Rule::Equal),
                ("jaild threads", n(thread_count(jaild)), Rule::Info),
                ("jaild RSS (KiB)", kib("Rss"), mem_rule),
                ("jaild PSS (KiB)", kib("Pss"), mem_rule),
                ("jaild PSS anon (KiB)", kib("Pss_Anon"), mem_rule),
                ("host mounts involving the test dir", n(our_mounts.len()), Rule::Equal),
                ("host mount table (all)", n(mounts.len()), Rule::Info),
                (
                    "jail cgroups (jaild-*) below jaild's",
                    n(self.cg.jail_dirs().len()),
                    Rule::Equal,
                ),
                ("processes in jaild's cgroup but jaild", n(in_cgroup), Rule::Equal),
                ("veths in the test netns", n(self.ns.veths().len()), Rule::Equal),
                (
                    "veths on the host (outside the netns)",
                    n(host_veths().len()),
                    Rule::Equal,
                ),
                (
                    "links in the test netns",
                    n(netns_links(&self.ns.name, &[]).len()),
                    Rule::Equal,
                ),
                ("supervisors", procs.supervisors, Rule::Equal),
                ("jail inits", procs.inits, Rule::Equal),
                ("payloads (sleep MARKER)", procs.payloads, Rule::Equal),
                ("processes naming the test dir", procs.naming_dir, Rule::Equal),
                ("jaild children (zombies too)", n(children_of(jaild).len()), Rule::Equal),
                ("state dir entries", n(state_entries), Rule::Equal),
                ("state dir bytes (files)", state_bytes, Rule::Equal),
                ("run dir entries", n(run_entries), Rule::Equal),
                ("run dir bytes (files)", run_bytes, Rule::Equal),
                ("address leases", n(leases), Rule::Equal),
                ("id pool locks held", n(held_locks(&d.pool_dir).len()), Rule::Equal),
                ("id pool files (one per slot used)", n(pool_files), Rule::Info),
                (
                    "jaild log WARN/ERROR lines",
                    n(log
                        .lines()
                        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                        .count()),
                    Rule::Info,
                ),
            ],
            our_mounts,
        }
    }
}

/// The rows that broke their rule, and mount entries of ours added or removed.
fn violations(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for ((name, b, rule), (_, a, _)) in before.rows.iter().zip(&after.rows) {
        let bad = match rule {
            Rule::Equal => a != b,
            Rule::AtMost(tol) => *a > b + tol,
            Rule::Info => false,
        };
        if bad {
            out.push(format!("{name}: {b} -> {a} ({rule:?})"));
        }
    }
    let added: Vec<&String> = after
        .our_mounts
        .iter()
        .filter(|m| !before.our_mounts.contains(m))
        .collect();
    let removed: Vec<&String> = before
        .our_mounts
        .iter()
        .filter(|m| !after.our_mounts.contains(m))
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        out.push(format!(
            "host mounts of this test: added {added:?}, removed {removed:?}"
        ));
    }
    out
}

fn table(before: &Snapshot, after: &Snapshot) -> String {
    let mut s = format!(
        "{:<40} {:>12} {:>12} {:>10}  {}\n",
        "figure", "before", "after", "delta", "rule"
    );
    for ((name, b, rule), (_, a, _)) in before.rows.iter().zip(&after.rows) {
        let delta = *a as i64 - *b as i64;
        let rule = match rule {
            Rule::Equal => "equal".to_string(),
            Rule::AtMost(t) => format!("<= +{t}"),
            Rule::Info => "info".to_string(),
        };
        s.push_str(&format!("{name:<40} {b:>12} {a:>12} {delta:>+10}  {rule}\n"));
    }
    s
}

/// Waits until jaild's blocking pool is idle (its threads exit 10 s after their last task), so
/// the snapshots before and after see the same threads.
fn settle(jaild: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while thread_count(jaild) > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
}

/// The full soak: 1,000 cycles on 4 workers after 300 warm-up cycles (about 80 s here), or what
/// `SOAK_CYCLES`, `SOAK_WORKERS` and `SOAK_WARMUP` say. Not in CI's default run.
#[test]
#[ignore = "soak: run with --run-ignored only, see tests/tests/soak.rs or the README"]
fn soak_create_start_exec_stop_destroy() {
    if !require_root() {
        return;
    }
    soak(
        env_usize("SOAK_CYCLES", 1000),
        env_usize("SOAK_WORKERS", 4),
        env_usize("SOAK_WARMUP", 300),
    );
}

/// The same checks on a short run, in CI: 60 cycles on 2 workers after 30 warm-up cycles.
#[test]
fn short_soak_leaks_nothing() {
    if !require_root() {
        return;
    }
    soak(60, 2, 30);
}

/// `cycles` measured cycles on `workers` workers after `warmup` warm-up cycles; fails on any growth
/// beyond the rules of [`violations`].
fn soak(cycles: usize, workers: usize, warmup: usize) {
    let workers = workers.max(1);
    // At least the first cycle, which makes the bridge and the address lease directory.
    let warmup = warmup.max(1);

    // Guards, dropped in reverse: jaild, the jails left (by their state files), the test dir,
    // the cgroup (killing what is left in it), the namespace.
    let all_began = Instant::now();
    let ns = NetNs::new();
    let cg = SoakCgroup::new();
    let jail = TestJail::new();
    let base = path_str(&jail.base).to_string();
    let roots_dir = jail.base.join("roots");
    fs::create_dir(&roots_dir).expect("mkdir roots");
    let roots: Vec<PathBuf> = (0..workers).map(|w| roots_dir.join(format!("w{w}"))).collect();
    common::busybox_roots(&roots);
    let dir = jail.base.join("d");
    fs::create_dir(&dir).expect("mkdir the daemon dir");
    let mut d = Daemon::start(&dir);
    d.kill9();
    let arenas = malloc_arena_max();
    let env: Vec<(&str, &str)> = arenas.iter().map(|a| ("MALLOC_ARENA_MAX", a.as_str())).collect();
    let nd = NetDaemon::start_with(&d, &ns, &env);
    // nsenter execs jaild: the child's pid is jaild's.
    let jaild = nd.child.as_ref().expect("jaild runs").id();
    cg.enter(jaild);

    let soak = Soak {
        d: &d,
        ns: &ns,
        cg: &cg,
        roots,
        marker: format!("{}", 600_000 + std::process::id()),
    };
    println!(
        "[soak] jaild {jaild} (MALLOC_ARENA_MAX={}) in netns {} and cgroup {}; {warmup} warm-up cycles, then {cycles} \
         cycles on {workers} workers",
        arenas.as_deref().unwrap_or("unset: jaild's own 1"),
        ns.name,
        cg.dirs.first().map_or(String::new(), |p| p.display().to_string())
    );

    let began = Instant::now();
    // The first cycle alone: it makes the bridge, so the warm-up's later cycles and the measured
    // ones find the steady state (parallel first starts on a new bridge have their own test in
    // daemon_net.rs).
    soak.cycle(0, 0);
    soak.run(1, warmup - 1, None);
    assert_alive(jaild, &d);
    settle(jaild);
    assert!(list(&d).is_empty(), "jails left after the warm-up: {:?}", list(&d));
    let before = soak.snapshot(jaild, &base);
    println!(
        "[soak] warm-up done in {:.1} s; baseline taken",
        began.elapsed().as_secs_f64()
    );

    let began = Instant::now();
    soak.run(warmup, cycles, Some(jaild));
    let took = began.elapsed();
    assert_alive(jaild, &d);
    assert!(list(&d).is_empty(), "jails left: {:?}", list(&d));

    settle(jaild);
    let deadline = Instant::now() + SETTLE;
    let after = loop {
        let after = soak.snapshot(jaild, &base);
        let bad = violations(&before, &after);
        if bad.is_empty() || Instant::now() >= deadline {
            break after;
        }
        thread::sleep(Duration::from_millis(250));
    };
    let rate = cycles as f64 / took.as_secs_f64();
    println!(
        "[soak] {cycles} cycles on {workers} workers in {:.1} s ({rate:.2} cycles/s), after {warmup} warm-up cycles\n{}",
        took.as_secs_f64(),
        table(&before, &after)
    );
    for (name, b, _) in &before.rows {
        if name.contains("(KiB)") {
            let a = after.rows.iter().find(|r| r.0 == *name).map_or(0, |r| r.1);
            let per_cycle = (a as f64 - *b as f64) * 1024.0 / cycles.max(1) as f64;
            println!("[soak] {name}: {per_cycle:+.1} bytes per cycle");
        }
    }
    println!(
        "[soak] total time (roots, warm-up, cycles, settling): {:.1} s",
        all_began.elapsed().as_secs_f64()
    );
    // The table is above; jaild's log follows (the Daemon guard prints it on failure).
    let bad = violations(&before, &after);
    assert!(bad.is_empty(), "grew during the soak: {bad:#?}");
    let _ = fs::remove_dir_all(&roots_dir);
}
