#!/usr/bin/env bash
# Start-time benchmark (issue 3): how long `jailctl run --root R -- /bin/true` takes with the
# default policy, against plain `unshare` of the same namespaces, `bwrap`, `crun run` of an OCI
# bundle on the same root and `lxc-execute` (when LXC is installed and works), all alternating in
# one run so that drift (frequency, page cache, other load) hits every command alike.
#
#   bench/start.sh             BENCH_ROUNDS rounds (default 300), each command once per round, in
#                              rotating order; prints median, p90 and CPU per run, and the ratio
#                              to unshare (goal: the hardened jail at <= 1.25x).
#   bench/start.sh --profile   `perf stat -e task-clock` over BENCH_PROFILE_RUNS runs (default 100)
#                              of each command: CPU time (user + sys, every process of the tree)
#                              per run next to the wall time, to separate work from waiting.
#
# Environment: BENCH_ROUNDS, BENCH_WARMUP (default 20 runs of each command first),
# BENCH_PROFILE_RUNS; BENCH_RESULTS=FILE appends one JSON line per command (for bench/run-all.sh);
# BENCH_BIN_DIR=DIR uses the jailctl and jail-rootfs in DIR instead of building them.
# Needs root, python3, unshare (util-linux), bwrap, crun; lxc-execute is optional (without it, or
# if it fails here, the table says why and goes on without it); perf for --profile.
# Builds the release jailctl and jail-rootfs, makes a busybox rootfs in a 0700 temp dir and
# removes it at exit, with the crun container, the LXC container and the cgroups they leave.
# crun runs in a private mount namespace without the cgroup2 mount at /sys/fs/cgroup/unified
# (it refuses this machine's hybrid layout; see bench/daemon.sh); the others run on the host's.
# See bench/README.md for how to read the output.
set -euo pipefail

mode=table
case "${1:-}" in
"") ;;
--profile) mode=profile ;;
-h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
*)
    echo "usage: bench/start.sh [--profile]" >&2
    exit 2
    ;;
esac

rounds=${BENCH_ROUNDS:-300}
warmup=${BENCH_WARMUP:-20}
profile_runs=${BENCH_PROFILE_RUNS:-100}

if [[ $(id -u) -ne 0 ]]; then
    echo "bench/start.sh: run as root (jailctl run needs it)" >&2
    exit 1
fi
for tool in python3 unshare bwrap crun; do
    command -v "$tool" >/dev/null || {
        echo "bench/start.sh: $tool is not installed" >&2
        exit 1
    }
done
if [[ $mode == profile ]] && ! command -v perf >/dev/null; then
    echo "bench/start.sh: --profile needs perf" >&2
    exit 1
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rel=$(bench_release_dir jailctl rootfs-tools)
jailctl=$rel/jailctl

# Runs "$@" where crun works: in a private mount namespace without the cgroup2 mount at
# /sys/fs/cgroup/unified. crun then takes the layout for cgroup v1 (and also makes a directory
# named after the container in the plain tmpfs directory under that mount point, which cleanup
# removes).
no_cgroup2() {
    unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' sh "$@"
}

# Unique per run, so that a concurrent or an aborted run cannot collide with this one.
crun_id=jbench-start-$$
lxc_name=jbench-start-$$
# The cgroups LXC leaves: lxc.pivot in each hierarchy (LXC keeps it on purpose; removed here if
# this run made it), and a container's own if a run was killed.
lxc_cgroups() {
    find /sys/fs/cgroup -maxdepth 6 -type d \( -name lxc.pivot -o -name "lxc.payload.$lxc_name" \
        -o -name "lxc.monitor.$lxc_name" \) 2>/dev/null | sort
}
lxc_before=$(lxc_cgroups)

work=$(mktemp -d /tmp/jail-bench.XXXXXX)
chmod 0700 "$work"
cleanup() {
    # shellcheck disable=SC2016 # expanded by the inner sh
    no_cgroup2 sh -c '
        crun delete -f "$1" >/dev/null 2>&1 || true
        d=/sys/fs/cgroup/unified/$1
        # Only the plain directory crun made on the tmpfs, never a real cgroup2 directory.
        if [ -d "$d" ] && [ "$(stat -f -c %T "$d")" = tmpfs ]; then rm -rf "$d"; fi' sh "$crun_id" || true
    if [[ -d $work/lxc ]]; then
        lxc-stop -k -n "$lxc_name" -P "$work/lxc" >/dev/null 2>&1 || true
        comm -13 <(echo "$lxc_before") <(lxc_cgroups) | sort -r | while read -r d; do
            [[ -z $d ]] || rmdir "$d" 2>/dev/null || true
        done
    fi
    # Never delete through a mount that a failed run left behind.
    if grep -qF " $work" /proc/self/mountinfo; then
        echo "bench/start.sh: mounts left under $work; not removing it" >&2
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root=$work/root
"$rel/jail-rootfs" busybox "$root" >/dev/null
# The jail's id range comes from a private pool, so the benchmark never touches /run/jaild.
export JAILD_ID_POOL_DIR=$work/idpool JAILD_ID_POOL=1500000000:16

# crun's bundle: `crun spec`'s default on the same root, running /bin/true, in unshare's namespaces.
bench_crun_bundle "$work/bundle" "$root" --like-unshare -- /bin/true

# LXC's application containers: lxc-execute with a minimal config on the same directory root, in
# the namespaces unshare makes (LXC adds a cgroup namespace), its cgroups below ours.
lxc_line=
lxc_note=
if ! command -v lxc-execute >/dev/null; then
    lxc_note="lxc-execute is not installed (Debian: apt-get install lxc, or lxc-utils)"
else
    mkdir -m 0700 "$work/lxc"
    cat >"$work/lxc.conf" <<CONF
lxc.uts.name = jbench
lxc.rootfs.path = dir:$root
lxc.idmap = u 0 0 1
lxc.idmap = g 0 0 1
lxc.net.0.type = empty
lxc.mount.auto = proc:rw
lxc.apparmor.profile = unconfined
lxc.cgroup.relative = 1
CONF
    lxc_cmd="lxc-execute -n $lxc_name -P $work/lxc -f $work/lxc.conf -- /bin/true"
    # Three tries: lxc-execute fails now and then here (see RETRY in the driver).
    for _ in 1 2 3; do
        if out=$($lxc_cmd 2>&1 </dev/null); then
            lxc_line=$'lxc-execute\thost\t'$lxc_cmd
            break
        fi
    done
    if [[ -z $lxc_line ]]; then
        lxc_note="lxc-execute fails here: $(grep -v '^$' <<<"$out" | tail -n 1)"
    fi
fi
if [[ -n $lxc_note ]]; then
    echo "bench/start.sh: not comparing LXC: $lxc_note" >&2
fi

# name \t namespace (host, or nocgroup2: see no_cgroup2) \t command (bash words, split by python
# with shlex)
commands=$(
    cat <<CMDS
unshare	host	unshare --user --map-root-user --mount --pid --fork --uts --ipc --net --mount-proc --root=$root /bin/true
bwrap	host	bwrap --unshare-all --ro-bind $root / --proc /proc --dev /dev /bin/true
crun run	nocgroup2	crun run --bundle $work/bundle $crun_id
$lxc_line
jailctl	host	$jailctl run --root $root -- /bin/true
jailctl --passthrough-ids	host	$jailctl run --root $root --passthrough-ids -- /bin/true
CMDS
)
commands=$(grep -v '^$' <<<"$commands")

# Every command must work before it is timed (LXC was tried above).
while IFS=$'\t' read -r name ns cmd; do
    [[ $name != lxc-execute ]] || continue
    rc=0
    # shellcheck disable=SC2086 # cmd is a list of words
    if [[ $ns == nocgroup2 ]]; then
        out=$(no_cgroup2 $cmd 2>&1 </dev/null) || rc=$?
    else
        out=$($cmd 2>&1 </dev/null) || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
        echo "bench/start.sh: '$name' fails: $cmd" >&2
        echo "$out" >&2
        exit 1
    fi
done <<<"$commands"

export BENCH_COMMANDS=$commands BENCH_ROUNDS=$rounds BENCH_WARMUP=$warmup BENCH_PROFILE_RUNS=$profile_runs
export BENCH_MODE=$mode BENCH_WORK=$work BENCH_LXC_NOTE=$lxc_note

python3 - <<'PY'
import ctypes
import json
import os
import shlex
import subprocess
import sys
import time

# name, namespace, argv
commands = [line.split("\t", 2) for line in os.environ["BENCH_COMMANDS"].splitlines() if line]
commands = [(name, ns, shlex.split(cmd)) for name, ns, cmd in commands]
mode = os.environ["BENCH_MODE"]
devnull = os.open("/dev/null", os.O_RDWR)

# crun runs in a mount namespace without the cgroup2 mount (see no_cgroup2 in the script). The
# driver enters it with setns() just before it spawns crun and goes back right after the wait,
# outside the timed span, so crun pays nothing for it and the others run on the host's namespace.
CLONE_NEWNS = 0x00020000
libc = ctypes.CDLL(None, use_errno=True)
mount_ns = {"host": os.open("/proc/self/ns/mnt", os.O_RDONLY)}
if any(ns == "nocgroup2" for _, ns, _ in commands):
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         "umount /sys/fs/cgroup/unified 2>/dev/null; echo ready; read x"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    mount_ns["nocgroup2"] = os.open(f"/proc/{holder.pid}/ns/mnt", os.O_RDONLY)
    holder.stdin.close()
    holder.wait()


def enter(ns):
    if libc.setns(mount_ns[ns], CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        sys.exit(f"bench: setns into the {ns} mount namespace: {os.strerror(e)}")


def which(argv0):
    if "/" in argv0:
        return argv0
    for d in os.environ["PATH"].split(":"):
        p = os.path.join(d, argv0)
        if os.access(p, os.X_OK):
            return p
    sys.exit(f"bench: {argv0} not found")


# lxc-execute 5.0.2 (Debian 12) fails about once in a hundred runs with a user namespace
# (lxc.idmap): "free(): invalid pointer" in the container's setup, then "sync_wake: Broken pipe",
# exit 1. Such a run is not timed: it is counted, its stderr kept apart, and run again.
RETRY = {"lxc-execute": 3}
retried = {}
errlog = os.open(os.path.join(os.environ["BENCH_WORK"], "retried.err"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def run_once(argv, ns="host", name=None):
    """Wall time (ns) and CPU time (user, sys; ns) of one run, stdio on /dev/null.

    posix_spawn (vfork-like) and wait4 keep the driver's own share small and equal for every
    command; the rusage covers the child and every descendant it waited for."""
    tries = RETRY.get(name, 0)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
    if tries:
        actions.append((os.POSIX_SPAWN_DUP2, errlog, 2))
    while True:
        if ns != "host":
            enter(ns)
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        if ns != "host":
            enter("host")
        if status == 0:
            return t1 - t0, int(ru.ru_utime * 1e9), int(ru.ru_stime * 1e9)
        if tries == 0:
            sys.exit(f"bench: {shlex.join(argv)} failed (wait status {status:#x})")
        tries -= 1
        retried[name] = retried.get(name, 0) + 1


def retried_note(name):
    """How many runs of name failed and were run again, and the last error they printed."""
    n = retried.get(name)
    if not n:
        return None
    lines = [l for l in open(os.path.join(os.environ["BENCH_WORK"], "retried.err")).read().splitlines() if l]
    first = next((l for l in lines if "invalid pointer" in l or "error" in l.lower()), lines[-1] if lines else "")
    return f"{n} failed run(s) not timed, run again ({first.strip()})"


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def result(**row):
    """One JSON line for bench/run-all.sh's summary, when BENCH_RESULTS names a file."""
    path = os.environ.get("BENCH_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"benchmark": "start", **row}) + "\n")


GOAL = 1.25  # issue 3: jailctl (default policy) <= 1.25x unshare


def table():
    rounds = int(os.environ["BENCH_ROUNDS"])
    warmup = int(os.environ["BENCH_WARMUP"])
    resolved = [(name, ns, [which(argv[0])] + argv[1:]) for name, ns, argv in commands]
    for _ in range(warmup):
        for name, ns, argv in resolved:
            run_once(argv, ns, name)
    n = len(resolved)
    wall = {name: [] for name, _, _ in resolved}
    user = {name: [] for name, _, _ in resolved}
    sys_ = {name: [] for name, _, _ in resolved}
    print(f"{rounds} rounds (after {warmup} warm-up runs of each), each command once per round, "
          f"rotating order; {os.cpu_count()} CPUs, {os.uname().release}; load average {loadavg()}")
    for r in range(rounds):
        order = resolved[r % n:] + resolved[:r % n]
        for name, ns, argv in order:
            w, u, s = run_once(argv, ns, name)
            wall[name].append(w)
            user[name].append(u)
            sys_[name].append(s)
    base = "unshare"
    base_med = pct(wall[base], 50)
    ms = lambda ns: ns / 1e6
    print()
    print(f"{'command':<27} {'median ms':>9} {'p90 ms':>8} {'min ms':>8} {'CPU ms':>7} {'ratio':>6} {'paired':>7}")
    for name, _, _ in resolved:
        w = wall[name]
        med = pct(w, 50)
        # user + sys together: for runs this short the kernel splits the two by tick samples, so
        # only their sum is exact.
        cpu = [u + s for u, s in zip(user[name], sys_[name])]
        # Ratio of the medians, and the median of the per-round ratios (robust to drift).
        paired = pct([a / b for a, b in zip(w, wall[base])], 50)
        print(f"{name:<27} {ms(med):9.3f} {ms(pct(w, 90)):8.3f} {ms(min(w)):8.3f} "
              f"{ms(pct(cpu, 50)):7.3f} {med / base_med:5.2f}x {paired:6.2f}x")
        note = f"paired {paired:.2f}x, p90 {ms(pct(w, 90)):.2f} ms, CPU {ms(pct(cpu, 50)):.2f} ms"
        if retried_note(name):
            note += "; " + retried_note(name)
        row = dict(command=name, median=round(ms(med), 3), unit="ms", baseline=base,
                   ratio=round(med / base_med, 3), note=note)
        if name == "jailctl":
            row.update(goal=f"<= {GOAL}x", met=med / base_med <= GOAL)
        result(**row)
    for name in retried:
        print(f"{name}: {retried_note(name)}")
    lxc_note = os.environ.get("BENCH_LXC_NOTE")
    if lxc_note:
        print(f"{'lxc-execute':<27} not compared: {lxc_note}")
        result(command="lxc-execute", skipped=lxc_note)
    print(f"load average at the end: {loadavg()} (other load skews the absolute figures; the")
    print("alternation keeps the ratios comparable)")
    print()
    print("ratio: median / unshare's median; paired: median over rounds of (this run / unshare's run in")
    print("the same round). CPU: user + sys of the whole process tree (wait4 rusage), median per run.")
    print(f"Goal (issue 3): jailctl <= {GOAL}x unshare.")


def profile():
    runs = os.environ["BENCH_PROFILE_RUNS"]
    print(f"perf stat -e task-clock -r {runs}, per command (CPU = every task of the tree)",
          file=sys.stderr)
    rows = []
    for name, ns, argv in commands:
        out = os.path.join(os.environ["BENCH_WORK"], "perf.csv")
        if ns != "host":
            enter(ns)
        subprocess.run(
            ["perf", "stat", "-x", ",", "-o", out, "-e", "task-clock,context-switches,cpu-migrations,page-faults",
             "-r", runs, "--"] + argv,
            stdin=devnull, stdout=devnull, check=True)
        if ns != "host":
            enter("host")
        vals = {}
        for line in open(out):
            f = line.strip().split(",")
            if len(f) > 3 and f[0] and not line.startswith("#"):
                try:
                    vals[f[2]] = float(f[0])
                except ValueError:
                    pass
        # Wall time of the same number of runs, measured separately (perf -x omits it).
        argv_r = [which(argv[0])] + argv[1:]
        walls = [run_once(argv_r, ns, name)[0] for _ in range(int(runs))]
        rows.append((name, vals, pct(walls, 50) / 1e6))
    print()
    print(f"{'command':<27} {'CPU ms/run':>10} {'wall ms':>8} {'CPU/wall':>8} {'ctx-sw':>7} {'migr':>5} {'faults':>7}")
    for name, v, wall_ms in rows:
        cpu = v.get("task-clock", float("nan"))
        print(f"{name:<27} {cpu:10.3f} {wall_ms:8.3f} {cpu / wall_ms:8.2f} {v.get('context-switches', 0):7.1f} "
              f"{v.get('cpu-migrations', 0):5.1f} {v.get('page-faults', 0):7.0f}")
    print()
    print("CPU ms/run: task-clock of every process and thread of the run (user + sys), mean over the")
    print("runs; wall: median. CPU/wall below 1 means waiting (or work the kernel does elsewhere,")
    print("e.g. network namespace teardown in a kworker, which neither figure counts).")


table() if mode == "table" else profile()
PY
