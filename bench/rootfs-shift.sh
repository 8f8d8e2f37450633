#!/usr/bin/env bash
# Benchmark (issue 5): `jail-rootfs shift` of a 100,000-file tree against plain recursive lchown
# walks of identical copies, in the same run:
#   - `chown -R -h --from=U:G` once per owner pair in the tree (the pairs are found beforehand,
#     untimed: a gift to the baseline);
#   - a Python walk calling os.lchown on every entry once (one pass, single-threaded).
# The baselines only move owners; shift also restores setuid bits, shifts capabilities and ACLs
# (looking at every entry's attributes for them) and checks hardlinks and mounts.
# Each round times the three on their copies (wall and CPU seconds, by GNU time), then puts every
# copy back, untimed; the machine may be shared, so the median of the rounds is printed, with the
# ratios (goal: shift >= 2x faster than chown -R). As root:
#   bench/rootfs-shift.sh                         # 100,000 files, 3 rounds
#   FILES=20000 ROUNDS=1 bench/rootfs-shift.sh    # a quicker run
# BENCH_RESULTS=FILE appends one JSON line per command (for bench/run-all.sh); BENCH_BIN_DIR=DIR
# uses the jail-rootfs in DIR instead of building it.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_usage "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FILES=${FILES:-100000}
ROUNDS=${ROUNDS:-3}
FROM=0
TO=100000
COUNT=65536

[[ $(id -u) == 0 ]] || { echo "rootfs-shift.sh: run as root (it chowns files)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "rootfs-shift.sh: needs python3" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "rootfs-shift.sh: needs GNU time (apt-get install time)" >&2; exit 1; }

BIN=$(bench_release_dir rootfs-tools)/jail-rootfs

# On the root filesystem (not a tmpfs), as a rootfs would be.
WORK=$(mktemp -d /var/tmp/rootfs-shift.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 700 "$WORK"

echo "building a tree of $FILES files under $WORK ..."
python3 - "$WORK/tree" "$FILES" <<'PY'
import os, sys
root, files = sys.argv[1], int(sys.argv[2])
# Owners as in a Debian rootfs: mostly root, some users and system groups.
owners = [(0, 0)] * 16 + [(1000, 1000)] * 2 + [(0, 5), (100, 101)]
os.makedirs(root)
per_dir = 100
n = 0
d = 0
while n < files:
    sub = os.path.join(root, f"d{d // 10:03d}", f"s{d % 10}")
    os.makedirs(sub, exist_ok=True)
    for i in range(min(per_dir, files - n)):
        p = os.path.join(sub, f"f{i:03d}")
        with open(p, "wb"):
            pass
        uid, gid = owners[(n * 7) % len(owners)]
        os.lchown(p, uid, gid)
        if n % 5000 == 0:
            os.chmod(p, 0o4755)
        n += 1
    d += 1
for i in range(0, d, 10):
    os.symlink("s0", os.path.join(root, f"d{i // 10:03d}", "link"))
PY
for copy in shift chown python; do
    cp -a "$WORK/tree" "$WORK/$copy"
done
rm -rf "$WORK/tree"
sync
ENTRIES=$(find "$WORK/shift" | wc -l)
PAIRS=$(find "$WORK/chown" -printf '%U:%G\n' | sort -u | tr '\n' ' ')
echo "$ENTRIES entries, owner pairs: $PAIRS"

# The baselines as scripts, so GNU time can time each as one command.
{
    echo "set -e"
    for pair in $PAIRS; do
        u=${pair%%:*}
        g=${pair##*:}
        echo "chown -R -h --from=$u:$g $((u + TO - FROM)):$((g + TO - FROM)) '$WORK/chown'"
    done
} >"$WORK/chown.sh"
cat >"$WORK/lchown.py" <<'PY'
import os, sys
root, src, dst, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def move(path):
    st = os.lstat(path)
    u = st.st_uid + dst - src if src <= st.st_uid < src + count else st.st_uid
    g = st.st_gid + dst - src if src <= st.st_gid < src + count else st.st_gid
    os.lchown(path, u, g)
move(root)
for top, dirs, files in os.walk(root):
    for name in dirs + files:
        move(os.path.join(top, name))
PY

timed() {
    local out=$1
    shift
    /usr/bin/time -f "%e %U %S" -a -o "$out" "$@"
}
for round in $(seq "$ROUNDS"); do
    sync
    timed "$WORK/shift.times" "$BIN" shift "$WORK/shift" --from $FROM --to $TO --count $COUNT --json >"$WORK/shift.json"
    sync
    timed "$WORK/chown.times" bash "$WORK/chown.sh"
    sync
    timed "$WORK/python.times" python3 "$WORK/lchown.py" "$WORK/python" $FROM $TO $COUNT
    # The three trees must agree on every owner.
    for copy in chown python; do
        diff -q <(cd "$WORK/shift" && find . -printf '%p %U:%G\n' | sort) \
                <(cd "$WORK/$copy" && find . -printf '%p %U:%G\n' | sort) >/dev/null || {
            echo "rootfs-shift.sh: the $copy tree's owners differ from the shifted one" >&2
            exit 1
        }
    done
    if ((round < ROUNDS)); then
        for copy in shift chown python; do
            "$BIN" shift "$WORK/$copy" --from $FROM --to $TO --count $COUNT --reverse --force --json >/dev/null
        done
    fi
done

python3 - "$WORK" "$ENTRIES" "$(nproc)" "$ROUNDS" <<'PY'
import json, os, statistics, sys
work, entries, cores, rounds = sys.argv[1:5]
def times(name):
    rows = [list(map(float, l.split())) for l in open(f"{work}/{name}.times") if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] + r[2] for r in rows)
shift, chown, python = times("shift"), times("chown"), times("python")
r = json.load(open(f"{work}/shift.json"))
print(f"{entries} entries ({r['setuid_restored']} setuid bits restored by shift); median of {rounds} rounds")
print(f"{'':34}{'wall s':>8}{'cpu s':>8}   shift is faster by (wall)")
print(f"{'jail-rootfs shift (' + cores + ' cores)':34}{shift[0]:8.3f}{shift[1]:8.3f}")
print(f"{'chown -R -h per owner pair':34}{chown[0]:8.3f}{chown[1]:8.3f}   {chown[0] / shift[0]:.2f}x")
print(f"{'python os.lchown walk':34}{python[0]:8.3f}{python[1]:8.3f}   {python[0] / shift[0]:.2f}x")
print("goal (shift >= 2x faster than chown -R):", "met" if chown[0] / shift[0] >= 2 else "NOT met")
if os.environ.get("BENCH_RESULTS"):
    # Ratio: this command's wall time / chown -R's (the goal, >= 2x faster, is <= 0.5).
    rows = [
        dict(command="jail-rootfs shift", median=shift[0], cpu=shift[1], goal="<= 0.5x (>= 2x faster)",
             met=chown[0] / shift[0] >= 2),
        dict(command="chown -R -h per owner pair", median=chown[0], cpu=chown[1]),
        dict(command="python os.lchown walk", median=python[0], cpu=python[1]),
    ]
    with open(os.environ["BENCH_RESULTS"], "a") as f:
        for r in rows:
            cpu = r.pop("cpu")
            r.update(benchmark=f"rootfs-shift ({entries} entries)", median=round(r["median"], 3), unit="s",
                     baseline="chown -R -h per owner pair", ratio=round(r["median"] / chown[0], 3),
                     note=f"CPU {cpu:.2f} s, median of {rounds} rounds")
            f.write(json.dumps(r) + "\n")
PY
