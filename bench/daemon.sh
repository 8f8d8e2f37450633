#!/usr/bin/env bash
# Daemon benchmarks (issue 4), all in one run on this machine, with a release jaild on a temp
# state dir and socket:
#
#   1. exec: `jailctl exec NAME -- /bin/true` against `nsenter -a -t PID /bin/true` into the
#      same jail (and `crun exec` into a crun container, for reference), alternating, median
#      ratio (goal: jailctl exec <= 1.5x nsenter).
#   2. create+start: `jailctl create` + `jailctl start` of a jail running sleep (returns once the
#      jail runs), passthrough and isolated ids, against `crun run -d` of the same rootfs with the
#      same command; alternating, median ratio (goal: <= 1.0x crun).
#   3. 100 jails running sleep: time to create and to start them all (BENCH_PARALLEL jailctl
#      calls at a time), the manager's memory per jail (PSS of every process of the jail that is
#      not the payload: the supervisor; jaild itself excluded; goal <= 256 KiB), and the time to
#      stop and destroy them all.
#
# Environment: BENCH_EXEC_ROUNDS (default 200), BENCH_START_ROUNDS (default 30), BENCH_JAILS
# (default 100), BENCH_PARALLEL (default 8); BENCH_RESULTS=FILE appends one JSON line per figure
# (for bench/run-all.sh); BENCH_BIN_DIR=DIR uses the jaild, jail-init, jailctl and jail-rootfs in
# DIR instead of building them. Needs root, python3, nsenter, crun.
#
# crun on this machine: it refuses the hybrid cgroup layout ("cgroups in hybrid mode not
# supported": the cgroup2 mount at /sys/fs/cgroup/unified carries the hugetlb controller), so
# the driver runs in a private mount namespace where that mount is detached; crun then uses the
# v1 hierarchies (and makes a plain directory per container in the tmpfs directory under that
# mount point, which the cleanup removes). jaild runs outside, on the host's mount namespace.
# The crun containers are named jbench-PID-*, unique per run, and deleted at exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_usage "$@"

if [[ $(id -u) -ne 0 ]]; then
    echo "bench/daemon.sh: run as root (jaild needs it)" >&2
    exit 1
fi
for tool in python3 nsenter crun unshare; do
    command -v "$tool" >/dev/null || {
        echo "bench/daemon.sh: $tool is not installed" >&2
        exit 1
    }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
rel=$(bench_release_dir jaild jailctl rootfs-tools)

# Runs "$@" where crun works: in a private mount namespace without the cgroup2 mount.
no_cgroup2() {
    unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' sh "$@"
}
crun_prefix=jbench-$$-

work=$(mktemp -d /tmp/jaild-bench.XXXXXX)
chmod 0700 "$work"
jaild_pid=
cleanup() {
    if [[ -n $jaild_pid ]]; then
        kill -9 "$jaild_pid" 2>/dev/null || true
        wait "$jaild_pid" 2>/dev/null || true # reaped quietly, without bash's "Killed" line
    fi
    # Jails outlive jaild: kill what the state files name, and remove their cgroups.
    for st in "$work"/state/jails/*/state.json; do
        [[ -f $st ]] || continue
        python3 - "$st" <<'PY' || true
import json, os, signal, sys, time
s = json.load(open(sys.argv[1]))
for k in ("pid", "supervisor_pid"):
    if s.get(k):
        try:
            os.kill(s[k], signal.SIGKILL)
        except ProcessLookupError:
            pass
# Then the jail's cgroup, once its processes are gone (only directories named as jaild names them).
cg = s.get("cgroup") or {}
dirs = ([cg["unified"]] if cg.get("unified") else []) + list((cg.get("v1") or {}).values())
for d in dirs:
    if not os.path.basename(d).startswith("jaild-"):
        continue
    for _ in range(40):
        try:
            os.rmdir(d)
            break
        except FileNotFoundError:
            break
        except OSError:
            time.sleep(0.05)
PY
    done
    # shellcheck disable=SC2016 # expanded by the inner sh
    no_cgroup2 sh -c '
        for c in $(crun list -q 2>/dev/null | grep "^$1" || true); do crun delete -f "$c" >/dev/null 2>&1 || true; done
        # Only the plain directories crun made on the tmpfs, never a real cgroup2 directory.
        for d in /sys/fs/cgroup/unified/"$1"*; do
            if [ -d "$d" ] && [ "$(stat -f -c %T "$d")" = tmpfs ]; then rm -rf "$d"; fi
        done' sh "$crun_prefix" || true
    sleep 0.3
    if grep -qF " $work" /proc/self/mountinfo; then
        echo "bench/daemon.sh: mounts left under $work; not removing it" >&2
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jails=${BENCH_JAILS:-100}
mkdir -m 0700 "$work/roots"
echo "making $((jails + 1)) busybox roots..." >&2
for i in $(seq 0 "$jails"); do
    "$rel/jail-rootfs" busybox "$work/roots/r$i" >/dev/null
done

# crun's bundle: the default spec, our rootfs, sleep.
bench_crun_bundle "$work/bundle" "$work/roots/r0" -- /bin/sleep 100000

"$rel/jaild" --socket "$work/jaild.sock" --state-dir "$work/state" --run-dir "$work/run" \
    --id-pool 1600000000:$((jails + 28)) --id-pool-dir "$work/idpool" --log-level warn \
    2>"$work/jaild.log" &
jaild_pid=$!
for _ in $(seq 100); do
    [[ -S $work/jaild.sock ]] && break
    sleep 0.05
done

export BENCH_WORK=$work BENCH_JAILCTL=$rel/jailctl BENCH_JAILD_PID=$jaild_pid BENCH_JAILS=$jails
export BENCH_EXEC_ROUNDS=${BENCH_EXEC_ROUNDS:-200} BENCH_START_ROUNDS=${BENCH_START_ROUNDS:-30}
export BENCH_PARALLEL=${BENCH_PARALLEL:-8} BENCH_CRUN_PREFIX=$crun_prefix

cat >"$work/driver.py" <<'PY'
import concurrent.futures
import json
import os
import subprocess
import sys
import time

work = os.environ["BENCH_WORK"]
jailctl = [os.environ["BENCH_JAILCTL"], "--socket", f"{work}/jaild.sock"]
jaild_pid = int(os.environ["BENCH_JAILD_PID"])
n_jails = int(os.environ["BENCH_JAILS"])
parallel = int(os.environ["BENCH_PARALLEL"])
devnull = os.open("/dev/null", os.O_RDWR)
crun_x = os.environ["BENCH_CRUN_PREFIX"] + "x"
crun_s = os.environ["BENCH_CRUN_PREFIX"] + "s"


def result(**row):
    """One JSON line for bench/run-all.sh's summary, when BENCH_RESULTS names a file."""
    path = os.environ.get("BENCH_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def run(argv, check=True):
    r = subprocess.run(argv, stdin=devnull, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def quiet(argv):
    """Runs argv with every stdio on /dev/null: `crun run -d` hands its own stdio to the container,
    which would hold a pipe open for ever."""
    r = subprocess.run(argv, stdin=devnull, stdout=devnull, stderr=devnull)
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed ({r.returncode})")


def timed(argv, stderr=False):
    """Wall time (ns) of one run, stdio on /dev/null (stderr too with `stderr`; posix_spawn, so the
    driver costs little)."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
    if stderr:
        actions.append((os.POSIX_SPAWN_DUP2, devnull, 2))
    t0 = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    if status != 0:
        sys.exit(f"bench: {' '.join(argv)} failed (wait status {status:#x})")
    return t1 - t0


def ctl(*args):
    return run(jailctl + list(args))


def inspect(name):
    return json.loads(ctl("inspect", name, "--json").stdout)


def median(v):
    s = sorted(v)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def ms(ns):
    return ns / 1e6


print(f"{os.cpu_count()} CPUs, kernel {os.uname().release}; release build")
print()

# 1. exec against nsenter (and crun exec).
rounds = int(os.environ["BENCH_EXEC_ROUNDS"])
ctl("create", "bx", "--root", f"{work}/roots/r0", "--stop-signal", "KILL", "--", "/bin/sleep", "100000")
ctl("start", "bx")
pid = str(inspect("bx")["pid"])
quiet(["crun", "run", "-d", "-b", f"{work}/bundle", crun_x])
probe = run(jailctl + ["exec", "bx", "--", "/bin/true"], check=False)
exec_works = probe.returncode == 0
cases = [
    ("jailctl exec", jailctl + ["exec", "bx", "--", "/bin/true"]),
    ("nsenter -a", ["nsenter", "-a", "-t", pid, "/bin/true"]),
    ("crun exec", ["crun", "exec", crun_x, "/bin/true"]),
]
if not exec_works:
    print(f"1. jailctl exec fails here ({probe.stderr.strip()}): timing the others only")
    result(benchmark="exec", command="jailctl exec", failed=f"fails: {probe.stderr.strip()}")
    cases = cases[1:]
for _ in range(10):
    for _, argv in cases:
        timed(argv)
walls = {name: [] for name, _ in cases}
for r in range(rounds):
    order = cases[r % len(cases):] + cases[:r % len(cases)]
    for name, argv in order:
        walls[name].append(timed(argv))
base = median(walls["nsenter -a"])
print(f"1. exec into a running jail, {rounds} rounds alternating (isolated jail, default policy)")
print(f"   {'command':<14} {'median ms':>9} {'min ms':>7} {'vs nsenter':>10}")
for name, _ in cases:
    m = median(walls[name])
    print(f"   {name:<14} {ms(m):9.3f} {ms(min(walls[name])):7.3f} {m / base:9.2f}x")
    row = dict(benchmark="exec", command=name, median=round(ms(m), 3), unit="ms", baseline="nsenter -a",
               ratio=round(m / base, 3), note=f"min {ms(min(walls[name])):.2f} ms")
    if name == "jailctl exec":
        row.update(goal="<= 1.5x", met=m / base <= 1.5)
    result(**row)
print("   goal: jailctl exec <= 1.5x nsenter")
print()
ctl("destroy", "--force", "bx")
quiet(["crun", "delete", "-f", crun_x])

# 2. create+start against crun run -d.
rounds = int(os.environ["BENCH_START_ROUNDS"])
root = f"{work}/roots/r0"


def jail_start(ids):
    def go():
        t0 = time.perf_counter_ns()
        timed(jailctl + ["create", "bs", "--root", root, "--ids", ids, "--stop-signal", "KILL", "--",
                         "/bin/sleep", "100000"])
        timed(jailctl + ["start", "bs"])
        t = time.perf_counter_ns() - t0
        ctl("destroy", "--force", "bs")
        return t
    return go


def crun_start():
    t = timed(["crun", "run", "-d", "-b", f"{work}/bundle", crun_s], stderr=True)
    quiet(["crun", "delete", "-f", crun_s])
    return t


cases = [("jail passthrough", jail_start("passthrough")), ("jail isolated", jail_start("isolated")),
         ("crun run -d", crun_start)]
for _ in range(3):
    for _, f in cases:
        f()
walls = {name: [] for name, _ in cases}
for r in range(rounds):
    order = cases[r % len(cases):] + cases[:r % len(cases)]
    for name, f in order:
        walls[name].append(f())
base = median(walls["crun run -d"])
print(f"2. create + start (until the jail runs) vs crun run -d, {rounds} rounds alternating")
print(f"   {'command':<17} {'median ms':>9} {'min ms':>7} {'vs crun':>8}")
for name, _ in cases:
    m = median(walls[name])
    print(f"   {name:<17} {ms(m):9.3f} {ms(min(walls[name])):7.3f} {m / base:7.2f}x")
    row = dict(benchmark="create+start", command=name, median=round(ms(m), 3), unit="ms",
               baseline="crun run -d", ratio=round(m / base, 3), note=f"min {ms(min(walls[name])):.2f} ms")
    if name.startswith("jail "):
        row.update(goal="<= 1.0x", met=m / base <= 1.0)
    result(**row)
print("   (jail: two jailctl calls, create and start; crun: one call, no user namespace, no seccomp")
print("   notify filter, no supervisor. goal: <= 1.0x crun)")
print()

# 3. 100 jails.
names = [f"m{i}" for i in range(n_jails)]


def all_of(args_of):
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda name: ctl(*args_of(name)), names))


t0 = time.perf_counter()
all_of(lambda n: ["create", n, "--root", f"{work}/roots/r{int(n[1:]) + 1}", "--stop-signal", "KILL", "--",
                  "/bin/sleep", "100000"])
t_create = time.perf_counter() - t0
t0 = time.perf_counter()
all_of(lambda n: ["start", n])
t_start = time.perf_counter() - t0
listed = json.loads(ctl("list", "--json").stdout)
running = sum(1 for j in listed if j["state"] == "running")


def children():
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    return kids


def kib(pid, key):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


kids = children()
manager_pss = manager_rss = payload_pss = 0
manager_procs = 0
for name in names:
    i = inspect(name)
    sup, payload = i["supervisor_pid"], i["pid"]
    stack = [sup]
    while stack:
        p = stack.pop()
        if p == payload:
            payload_pss += kib(p, "Pss")
            continue  # the payload and its children are the jail itself
        manager_pss += kib(p, "Pss")
        manager_rss += kib(p, "Rss")
        manager_procs += 1
        stack.extend(kids.get(p, []))
jaild_pss = kib(jaild_pid, "Pss")
jaild_rss = kib(jaild_pid, "Rss")

t0 = time.perf_counter()
all_of(lambda n: ["stop", n])
t_stop = time.perf_counter() - t0
t0 = time.perf_counter()
all_of(lambda n: ["destroy", n])
t_destroy = time.perf_counter() - t0

print(f"3. {n_jails} jails running sleep (isolated ids, default policy; {parallel} jailctl calls at a time)")
print(f"   running after start:        {running}/{n_jails}")
print(f"   create all:                 {t_create:.2f} s ({t_create / n_jails * 1000:.1f} ms per jail)")
print(f"   start all:                  {t_start:.2f} s ({t_start / n_jails * 1000:.1f} ms per jail)")
print(f"   manager PSS per jail:       {manager_pss / n_jails:.0f} KiB ({manager_procs / n_jails:.1f} processes per jail:")
print(f"                               the supervisor; RSS {manager_rss / n_jails:.0f} KiB) - goal <= 256 KiB")
print(f"   payload PSS per jail:       {payload_pss / n_jails:.0f} KiB (sleep; not counted)")
print(f"   jaild itself (excluded):    PSS {jaild_pss} KiB, RSS {jaild_rss} KiB")
print(f"   stop all (SIGKILL):         {t_stop:.2f} s")
print(f"   destroy all:                {t_destroy:.2f} s")
bench = f"{n_jails} jails"
result(benchmark=bench, command="create all", median=round(t_create, 3), unit="s",
       note=f"{t_create / n_jails * 1000:.1f} ms per jail, {parallel} calls at a time")
result(benchmark=bench, command="start all", median=round(t_start, 3), unit="s",
       note=f"{t_start / n_jails * 1000:.1f} ms per jail; {running}/{n_jails} running after")
pss = manager_pss / n_jails
result(benchmark=bench, command="manager PSS per jail", median=round(pss), unit="KiB", goal="<= 256 KiB",
       met=pss <= 256 and running == n_jails,
       note=f"RSS {manager_rss / n_jails:.0f} KiB, {manager_procs / n_jails:.1f} processes per jail"
            + ("" if running == n_jails else f"; only {running}/{n_jails} running"))
result(benchmark=bench, command="stop all (SIGKILL)", median=round(t_stop, 3), unit="s")
result(benchmark=bench, command="destroy all", median=round(t_destroy, 3), unit="s")
PY

# The driver runs where crun works: a mount namespace without the cgroup2 mount.
no_cgroup2 python3 -u "$work/driver.py"
