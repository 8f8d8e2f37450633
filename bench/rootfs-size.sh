#!/usr/bin/env bash
# Issue 5: jail start time in isolated mode with a 100,000-file rootfs vs a small one. Idmapped
# mounts cost nothing per file, so the goal is <= 1.05x. The two commands alternate in one run.
#   bench/rootfs-size.sh            # BENCH_ROUNDS=200 by default
# BENCH_RESULTS=FILE appends one JSON line per rootfs (for bench/run-all.sh); BENCH_BIN_DIR=DIR
# uses the jailctl and jail-rootfs in DIR instead of building them.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_usage "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) == 0 ]] || { echo "rootfs-size.sh: run as root (jailctl run needs it)" >&2; exit 1; }
ROUNDS="${BENCH_ROUNDS:-200}"
REL=$(bench_release_dir jailctl rootfs-tools)
WORK=$(mktemp -d)
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT
"$REL/jail-rootfs" busybox "$WORK/small" >/dev/null
"$REL/jail-rootfs" busybox "$WORK/big" >/dev/null
python3 - "$WORK/big/data" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    sub = os.path.join(root, f"d{d:03}")
    os.makedirs(sub)
    for f in range(1000):
        with open(os.path.join(sub, f"f{f:04}"), "w") as fh:
            fh.write("x")
PY
echo "small: $(find "$WORK/small" | wc -l) entries; big: $(find "$WORK/big" | wc -l) entries"
JAILD_ID_POOL_DIR="$WORK/pool" python3 - "$REL/jailctl" "$WORK" "$ROUNDS" <<'PY'
import json, os, statistics, subprocess, sys, time
jailctl, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmds = {name: [jailctl, "run", "--root", f"{work}/{name}", "--", "/bin/true"] for name in ("small", "big")}
for cmd in cmds.values():  # warm up
    subprocess.run(cmd, check=True)
times = {name: [] for name in cmds}
for i in range(rounds):
    order = list(cmds) if i % 2 == 0 else list(reversed(cmds))
    for name in order:
        t = time.perf_counter_ns()
        subprocess.run(cmds[name], check=True)
        times[name].append((time.perf_counter_ns() - t) / 1e6)
med = {n: statistics.median(v) for n, v in times.items()}
for n in cmds:
    print(f"{n:6} median {med[n]:7.3f} ms  p90 {statistics.quantiles(times[n], n=10)[-1]:7.3f} ms")
print(f"ratio big/small: {med['big'] / med['small']:.3f}x (goal <= 1.05x)")
if os.environ.get("BENCH_RESULTS"):
    ratio = med["big"] / med["small"]
    with open(os.environ["BENCH_RESULTS"], "a") as f:
        for name, label in (("small", "small rootfs (busybox)"), ("big", "big rootfs (+100,000 files)")):
            row = dict(benchmark="rootfs-size (isolated start)", command=label, median=round(med[name], 3),
                       unit="ms", baseline="small rootfs (busybox)", ratio=round(med[name] / med["small"], 3),
                       note=f"p90 {statistics.quantiles(times[name], n=10)[-1]:.2f} ms, {rounds} rounds")
            if name == "big":
                row.update(goal="<= 1.05x", met=ratio <= 1.05)
            f.write(json.dumps(row) + "\n")
PY
