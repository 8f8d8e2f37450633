#!/usr/bin/env bash
# Network benchmark (issue 6 point 5), in a network namespace this script makes (jbench-$$), which
# acts as the "host"; the real host's interfaces are never touched and all traffic stays inside it.
#
#   (a) TCP throughput jail <-> jail over a bridge (two `jailctl run` jails with `network: {mode:
#       bridge}` on jbr0, busybox nc), against the same busybox nc pair as plain processes over the
#       namespace's own loopback. BENCH_TCP_RUNS (default 3) transfers of BENCH_MB MiB (default 512)
#       each, alternating; prints the median MiB/s of both and their ratio.
#   (b) Start time of `jailctl run --root R -- /bin/true` with `network: {mode: bridge, ...}` against
#       `network: {mode: none}`, alternating for BENCH_ROUNDS rounds (default 50) after BENCH_WARMUP
#       (default 3) runs of each; prints medians and the ratio.
#
# Needs root, python3, nsenter, ip (iproute2) and the host's static busybox. Builds the release
# jailctl and jail-rootfs, makes a busybox rootfs in a 0700 temp dir; the temp dir and the network
# namespace are removed at exit. See bench/README.md. No goal has been set for these figures.
# BENCH_RESULTS=FILE appends one JSON line per figure (for bench/run-all.sh); BENCH_BIN_DIR=DIR
# uses the jailctl and jail-rootfs in DIR instead of building them.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_usage "$@"

if [[ $(id -u) -ne 0 ]]; then
    echo "bench/net.sh: run as root (jailctl run and ip netns need it)" >&2
    exit 1
fi
for tool in python3 nsenter ip busybox; do
    command -v "$tool" >/dev/null || {
        echo "bench/net.sh: $tool is not installed" >&2
        exit 1
    }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
rel=$(bench_release_dir jailctl rootfs-tools)
jailctl=$rel/jailctl

ns=jbench-$$
ns_made=
work=$(mktemp -d /tmp/jail-netbench.XXXXXX)
chmod 0700 "$work"
cleanup() {
    # The jails end by themselves (the driver kills what it started if it fails); the bridge and any
    # veth left go with the namespace.
    if [[ -n $ns_made ]]; then
        ip netns del "$ns" 2>/dev/null || echo "bench/net.sh: could not delete netns $ns" >&2
    fi
    # Never delete through a mount that a failed run left behind.
    if grep -qF " $work" /proc/self/mountinfo; then
        echo "bench/net.sh: mounts left under $work; not removing it" >&2
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root=$work/root
"$rel/jail-rootfs" busybox "$root" >/dev/null
# The jails' id ranges come from a private pool, so the benchmark never touches /run/jaild.
export JAILD_ID_POOL_DIR=$work/idpool JAILD_ID_POOL=1500000000:16
export TMPDIR=$work

ip netns add "$ns"
ns_made=1
ip -n "$ns" link set lo up

busybox=$(command -v busybox)
export BENCH_JAILCTL=$jailctl BENCH_ROOT=$root BENCH_WORK=$work BENCH_BUSYBOX=$busybox
export BENCH_MB=${BENCH_MB:-512} BENCH_TCP_RUNS=${BENCH_TCP_RUNS:-3}
export BENCH_ROUNDS=${BENCH_ROUNDS:-50} BENCH_WARMUP=${BENCH_WARMUP:-3}

# `nsenter --net`, not `ip netns exec`: the latter remounts /sys, which hides /sys/fs/cgroup from
# jailctl. Everything the driver starts inherits the namespace.
nsenter --net="/run/netns/$ns" python3 - <<'PY'
import json
import os
import subprocess
import sys
import time

jailctl = os.environ["BENCH_JAILCTL"]
root = os.environ["BENCH_ROOT"]
work = os.environ["BENCH_WORK"]
busybox = os.environ["BENCH_BUSYBOX"]
mib = int(os.environ["BENCH_MB"])
tcp_runs = int(os.environ["BENCH_TCP_RUNS"])
rounds = int(os.environ["BENCH_ROUNDS"])
warmup = int(os.environ["BENCH_WARMUP"])
PORT = 5001
started = []


def bridge(addr):
    return ("network={mode: bridge, bridge: jbr0, create_bridge: true, "
            f"address: [{addr}/24], gateway: 10.88.0.1}}")


def jail(net, script):
    return [jailctl, "run", "--root", root, "--set", net, "--", "/bin/sh", "-c", script]


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def read_until(proc, word, what, timeout=30):
    """Reads proc's stdout lines until one starts with word; returns that line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(word):
            return line
    rc = proc.poll()
    if rc is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
    sys.exit(f"bench/net.sh: {what}: no '{word}' line (exit {rc})\n{proc.stderr.read()}")


def spawn(argv):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1)
    started.append(p)
    return p


# busybox nc -l stops reading the socket once its stdin is at EOF: a FIFO opened read-write never
# is. It exits when the client closes the connection. The jails share the rootfs (its /tmp too).
SERVER = "rm -f {fifo} && mkfifo {fifo} && echo LISTENING && exec {bb}nc -l -p %d <>{fifo} >/dev/null" % PORT
# The client waits for the driver's "go" on stdin, so the jail's start is not timed.
CLIENT = ("echo READY; read go; {bb}dd if=/dev/zero bs=1M count=%d 2>/dev/null | {bb}nc {ip} %d; "
          "echo DONE $?" % (mib, PORT))


def transfer(kind, n):
    if kind == "bridge":
        server = spawn(jail(bridge("10.88.0.2"), SERVER.format(fifo="/tmp/fifo", bb="")))
        mk_client = lambda: spawn(jail(bridge("10.88.0.3"), CLIENT.format(bb="", ip="10.88.0.2")))
    else:
        fifo = f"{work}/fifo-{n}"
        bb = busybox + " "
        server = spawn([busybox, "sh", "-c", SERVER.format(fifo=fifo, bb=bb)])
        mk_client = lambda: spawn([busybox, "sh", "-c", CLIENT.format(bb=bb, ip="127.0.0.1")])
    read_until(server, "LISTENING", f"{kind} server")
    time.sleep(0.3)  # LISTENING is printed just before nc binds
    client = mk_client()
    read_until(client, "READY", f"{kind} client")
    t0 = time.perf_counter()
    client.stdin.write("go\n")
    client.stdin.flush()
    done = read_until(client, "DONE", f"{kind} client", timeout=300)
    t1 = time.perf_counter()
    if done.split()[1] != "0":
        sys.exit(f"bench/net.sh: {kind} client: nc failed ({done.strip()})\n{client.stderr.read()}")
    for p, what in ((client, "client"), (server, "server")):
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sys.exit(f"bench/net.sh: {kind} {what} did not exit")
        if rc != 0:
            sys.exit(f"bench/net.sh: {kind} {what} exited {rc}\n{p.stderr.read()}")
    return mib / (t1 - t0)


devnull = os.open("/dev/null", os.O_RDWR)


def start_once(argv):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                       (os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, _ = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    if status != 0:
        r = subprocess.run(argv, capture_output=True, text=True)
        sys.exit(f"bench/net.sh: {' '.join(argv)} failed (wait status {status:#x})\n{r.stderr}")
    return (t1 - t0) / 1e6


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def result(**row):
    """One JSON line for bench/run-all.sh's summary, when BENCH_RESULTS names a file."""
    path = os.environ.get("BENCH_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def main():
    print(f"{os.cpu_count()} CPUs, {os.uname().release}; load average {loadavg()}")
    # (a) throughput
    speeds = {"bridge": [], "loopback": []}
    for i in range(tcp_runs):
        order = ["bridge", "loopback"] if i % 2 == 0 else ["loopback", "bridge"]
        for kind in order:
            speeds[kind].append(transfer(kind, i))
    print()
    print(f"(a) TCP throughput, busybox nc, {mib} MiB per transfer, {tcp_runs} transfers each "
          "(alternating), timed from the client's go to its end:")
    for kind, label in (("bridge", "jail -> jail over bridge jbr0"),
                        ("loopback", "netns loopback, no jail")):
        runs = ", ".join(f"{v:.0f}" for v in speeds[kind])
        print(f"  {label:<31} median {median(speeds[kind]):8.0f} MiB/s   (runs: {runs})")
    ratio = median(speeds["bridge"]) / median(speeds["loopback"])
    print(f"  ratio bridge / loopback: {ratio:.2f}")
    for kind, label in (("bridge", "jail -> jail over bridge"), ("loopback", "netns loopback, no jail")):
        result(benchmark=f"net TCP ({mib} MiB, busybox nc)", command=label, median=round(median(speeds[kind]), 1),
               unit="MiB/s", baseline="netns loopback, no jail",
               ratio=round(median(speeds[kind]) / median(speeds["loopback"]), 3),
               goal="none set", note="runs: " + ", ".join(f"{v:.0f}" for v in speeds[kind]))

    # (b) start time
    cmds = {
        "bridge": [jailctl, "run", "--root", root, "--set", bridge("10.88.0.4"), "--", "/bin/true"],
        "none": [jailctl, "run", "--root", root, "--set", "network={mode: none}", "--", "/bin/true"],
    }
    for _ in range(warmup):
        for argv in cmds.values():
            start_once(argv)
    times = {k: [] for k in cmds}
    for r in range(rounds):
        order = ["bridge", "none"] if r % 2 == 0 else ["none", "bridge"]
        for k in order:
            times[k].append(start_once(cmds[k]))
    print()
    print(f"(b) start time of `jailctl run --root R -- /bin/true`, {rounds} rounds (alternating, "
          f"after {warmup} warm-up runs of each):")
    for k, label in (("bridge", "network: {mode: bridge}"), ("none", "network: {mode: none}")):
        t = times[k]
        print(f"  {label:<25} median {median(t):7.2f} ms   min {min(t):7.2f} ms   "
              f"max {max(t):7.2f} ms")
    paired = median([a / b for a, b in zip(times["bridge"], times["none"])])
    print(f"  ratio bridge / none: {median(times['bridge']) / median(times['none']):.2f} "
          f"(paired per round: {paired:.2f})")
    for k, label in (("bridge", "network: bridge"), ("none", "network: none")):
        t = times[k]
        result(benchmark="net start (jailctl run)", command=label, median=round(median(t), 3), unit="ms",
               baseline="network: none", ratio=round(median(t) / median(times["none"]), 3), goal="none set",
               note=f"min {min(t):.2f}, max {max(t):.2f} ms" + (f", paired {paired:.2f}x" if k == "bridge" else ""))
    print(f"load average at the end: {loadavg()}")


try:
    main()
finally:
    for p in started:
        if p.poll() is None:
            p.terminate()  # jailctl forwards SIGTERM to the jail
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
PY
