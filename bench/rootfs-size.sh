#!/usr/bin/env bash
# Issue 5: jail start time in isolated mode with a 100,000-file rootfs vs a small one. Idmapped
# mounts cost nothing per file, so the goal is <= 1.05x. The two commands alternate in one run.
#   bench/rootfs-size.sh            # BENCH_ROUNDS=200 by default
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS="${BENCH_ROUNDS:-200}"
cargo build --release -q -p jailctl -p rootfs-tools
REL=target/x86_64-unknown-linux-gnu/release
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
import os, statistics, subprocess, sys, time
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
PY
