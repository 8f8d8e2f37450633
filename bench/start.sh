#!/usr/bin/env bash
# Start-time benchmark (issue 3): how long `jailctl run --root R -- /bin/true` takes with the
# default policy, against plain `unshare` of the same namespaces and `bwrap`, all alternating in
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
# BENCH_PROFILE_RUNS. Needs root, python3, unshare (util-linux), bwrap; perf for --profile.
# Builds the release jailctl and jail-rootfs, makes a busybox rootfs in a 0700 temp dir and
# removes it at exit. See bench/README.md for how to read the output.
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
for tool in python3 unshare bwrap; do
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
echo "building release binaries..." >&2
cargo build --release --quiet -p jailctl -p rootfs-tools
rel=$repo/target/x86_64-unknown-linux-gnu/release
jailctl=$rel/jailctl

work=$(mktemp -d /tmp/jail-bench.XXXXXX)
chmod 0700 "$work"
cleanup() {
    # Never delete through a mount that a failed run left behind.
    if grep -qF " $work" /proc/self/mountinfo; then
        echo "bench/start.sh: mounts left under $work; not removing it" >&2
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT

root=$work/root
"$rel/jail-rootfs" busybox "$root" >/dev/null
# The jail's id range comes from a private pool, so the benchmark never touches /run/jaild.
export JAILD_ID_POOL_DIR=$work/idpool JAILD_ID_POOL=1500000000:16

# name \t command (bash words, split by python with shlex)
commands=$(
    cat <<EOF
unshare	unshare --user --map-root-user --mount --pid --fork --uts --ipc --net --mount-proc --root=$root /bin/true
bwrap	bwrap --unshare-all --ro-bind $root / --proc /proc --dev /dev /bin/true
jailctl	$jailctl run --root $root -- /bin/true
jailctl --passthrough-ids	$jailctl run --root $root --passthrough-ids -- /bin/true
EOF
)

# Every command must work before it is timed.
while IFS=$'\t' read -r name cmd; do
    if ! out=$($cmd 2>&1 </dev/null); then
        echo "bench/start.sh: '$name' fails: $cmd" >&2
        echo "$out" >&2
        exit 1
    fi
done <<<"$commands"

export BENCH_COMMANDS=$commands BENCH_ROUNDS=$rounds BENCH_WARMUP=$warmup BENCH_PROFILE_RUNS=$profile_runs
export BENCH_MODE=$mode BENCH_WORK=$work

python3 - <<'PY'
import os
import shlex
import subprocess
import sys
import time

commands = [line.split("\t", 1) for line in os.environ["BENCH_COMMANDS"].splitlines() if line]
commands = [(name, shlex.split(cmd)) for name, cmd in commands]
mode = os.environ["BENCH_MODE"]
devnull = os.open("/dev/null", os.O_RDWR)


def which(argv0):
    if "/" in argv0:
        return argv0
    for d in os.environ["PATH"].split(":"):
        p = os.path.join(d, argv0)
        if os.access(p, os.X_OK):
            return p
    sys.exit(f"bench: {argv0} not found")


def run_once(argv):
    """Wall time (ns) and CPU time (user, sys; ns) of one run, stdio on /dev/null.

    posix_spawn (vfork-like) and wait4 keep the driver's own share small and equal for every
    command; the rusage covers the child and every descendant it waited for."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(
        argv[0],
        argv,
        os.environ,
        file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)],
    )
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    if status != 0:
        sys.exit(f"bench: {shlex.join(argv)} failed (wait status {status:#x})")
    return t1 - t0, int(ru.ru_utime * 1e9), int(ru.ru_stime * 1e9)


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def table():
    rounds = int(os.environ["BENCH_ROUNDS"])
    warmup = int(os.environ["BENCH_WARMUP"])
    resolved = [(name, [which(argv[0])] + argv[1:]) for name, argv in commands]
    for _ in range(warmup):
        for _, argv in resolved:
            run_once(argv)
    n = len(resolved)
    wall = {name: [] for name, _ in resolved}
    user = {name: [] for name, _ in resolved}
    sys_ = {name: [] for name, _ in resolved}
    print(f"{rounds} rounds (after {warmup} warm-up runs of each), each command once per round, "
          f"rotating order; {os.cpu_count()} CPUs, {os.uname().release}; load average {loadavg()}")
    for r in range(rounds):
        order = resolved[r % n:] + resolved[:r % n]
        for name, argv in order:
            w, u, s = run_once(argv)
            wall[name].append(w)
            user[name].append(u)
            sys_[name].append(s)
    base = "unshare"
    base_med = pct(wall[base], 50)
    ms = lambda ns: ns / 1e6
    print()
    print(f"{'command':<27} {'median ms':>9} {'p90 ms':>8} {'min ms':>8} {'CPU ms':>7} {'ratio':>6} {'paired':>7}")
    for name, _ in resolved:
        w = wall[name]
        med = pct(w, 50)
        # user + sys together: for runs this short the kernel splits the two by tick samples, so
        # only their sum is exact.
        cpu = [u + s for u, s in zip(user[name], sys_[name])]
        # Ratio of the medians, and the median of the per-round ratios (robust to drift).
        paired = pct([a / b for a, b in zip(w, wall[base])], 50)
        print(f"{name:<27} {ms(med):9.3f} {ms(pct(w, 90)):8.3f} {ms(min(w)):8.3f} "
              f"{ms(pct(cpu, 50)):7.3f} {med / base_med:5.2f}x {paired:6.2f}x")
    print(f"load average at the end: {loadavg()} (other load skews the absolute figures; the")
    print("alternation keeps the ratios comparable)")
    print()
    print("ratio: median / unshare's median; paired: median over rounds of (this run / unshare's run in")
    print("the same round). CPU: user + sys of the whole process tree (wait4 rusage), median per run.")
    print("Goal (issue 3): jailctl <= 1.25x unshare.")


def profile():
    runs = os.environ["BENCH_PROFILE_RUNS"]
    print(f"perf stat -e task-clock -r {runs}, per command (CPU = every task of the tree)",
          file=sys.stderr)
    rows = []
    for name, argv in commands:
        out = os.path.join(os.environ["BENCH_WORK"], "perf.csv")
        subprocess.run(
            ["perf", "stat", "-x", ",", "-o", out, "-e", "task-clock,context-switches,cpu-migrations,page-faults",
             "-r", runs, "--"] + argv,
            stdin=devnull, stdout=devnull, check=True)
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
        walls = [run_once(argv_r)[0] for _ in range(int(runs))]
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
