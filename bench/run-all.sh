#!/usr/bin/env bash
# Every benchmark in one command (issue 7), as root:
#
#   sudo bench/run-all.sh                 # the scripts' own counts: 2-3 minutes here, once built
#   sudo BENCH_QUICK=1 bench/run-all.sh   # small counts: a smoke run of under a minute, once built
#   sudo BENCH_ONLY="start daemon" bench/run-all.sh
#
# 1. Installs the peers that are missing, from Debian: bubblewrap crun time python3 iproute2
#    busybox-static, and LXC (lxc-utils where the release has it, else lxc, without its
#    recommended packages and with services kept from starting, so no lxcbr0 bridge appears).
# 2. Builds the release jaild, jail-init, jailctl and jail-rootfs once and copies them to a private
#    temp dir, so a build during the run (other work in the same tree) cannot change what is
#    measured; every script uses that copy (BENCH_BIN_DIR).
# 3. Runs bench/start.sh, daemon.sh, rootfs-shift.sh, rootfs-size.sh and net.sh one after another
#    (each alternates its own commands within its run), their output as usual.
# 4. Prints one summary table (Markdown): benchmark, command, median, unit, baseline, ratio, goal,
#    met; then the notes of each row, the machine, kernel, CPUs, date, commit and load averages at
#    the start and the end, and the time each benchmark took.
#
# Everything is also written to BENCH_OUT (default: a new /tmp/jaild-bench.XXXXXX, kept, outside
# the repository): summary.md, results.jsonl (every row), and per benchmark its output (NAME.log)
# and the rows it appended through BENCH_RESULTS (NAME.jsonl).
#
# Environment:
#   BENCH_QUICK=1        small counts wherever the variable is not set already: start.sh 30 rounds,
#                        daemon.sh 30 exec and 5 start rounds and 20 jails, rootfs-shift.sh 20,000
#                        files in 1 round, rootfs-size.sh 30 rounds, net.sh 1 transfer of 64 MiB
#                        and 10 start rounds
#   BENCH_ONLY="..."     run only these, of: start daemon rootfs-shift rootfs-size net
#   BENCH_OUT=DIR        where the summary and logs go
#   BENCH_TREE=head      build the committed HEAD (from `git archive`, target dir
#                        target/bench-head) instead of the working tree
#   BENCH_BIN_DIR=DIR    use binaries built already (jaild, jail-init, jailctl, jail-rootfs)
#   BENCH_NO_INSTALL=1   never run apt-get
#   The scripts' own knobs pass through to every script that reads them; note that BENCH_ROUNDS
#   and BENCH_WARMUP are read by start.sh, rootfs-size.sh and net.sh alike. See bench/README.md.
#
# Exit status: 0 when every benchmark ran (whether or not it met its goal), 1 when one failed.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_usage "$@"

if [[ $(id -u) -ne 0 ]]; then
    echo "bench/run-all.sh: run as root (sudo bench/run-all.sh)" >&2
    exit 1
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

all=(start daemon rootfs-shift rootfs-size net)
read -r -a only <<<"${BENCH_ONLY:-${all[*]}}"
for b in "${only[@]}"; do
    [[ " ${all[*]} " == *" $b "* ]] || {
        echo "bench/run-all.sh: unknown benchmark '$b' (known: ${all[*]})" >&2
        exit 2
    }
done

out=${BENCH_OUT:-$(mktemp -d /tmp/jaild-bench.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/runs.tsv"

tmp=$(mktemp -d /tmp/jaild-bench-bin.XXXXXX)
chmod 0700 "$tmp"
policy_guard=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    if [[ -n $policy_guard ]]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Peers.
install_peers() {
    local missing=()
    command -v bwrap >/dev/null || missing+=(bubblewrap)
    command -v crun >/dev/null || missing+=(crun)
    [[ -x /usr/bin/time ]] || missing+=(time)
    command -v python3 >/dev/null || missing+=(python3)
    command -v ip >/dev/null || missing+=(iproute2)
    have_static_busybox || missing+=(busybox-static)
    if ((${#missing[@]} > 0)); then
        echo "installing ${missing[*]}" >&2
        apt_install "${missing[@]}"
    fi
    command -v lxc-execute >/dev/null && return
    # Debian 12 ships the LXC tools in `lxc`; later releases in `lxc-utils`.
    local pkg=lxc
    if apt-cache policy lxc-utils 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        pkg=lxc-utils
    fi
    echo "installing $pkg (LXC, for start.sh)" >&2
    # Its lxc-net service would make a bridge (lxcbr0) on the host: keep services from starting
    # during the install, unless a policy is there already.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        policy_guard=1
        printf '#!/bin/sh\n# bench/run-all.sh: no service starts during its apt-get install\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
    fi
    if ! apt_install --no-install-recommends "$pkg"; then
        echo "bench/run-all.sh: could not install $pkg; start.sh goes on without LXC" >&2
    fi
    if [[ -n $policy_guard ]]; then
        rm -f /usr/sbin/policy-rc.d
        policy_guard=
    fi
}
if [[ -z ${BENCH_NO_INSTALL:-} ]]; then
    install_peers
fi

# 2. One build for every benchmark.
if [[ -n ${BENCH_BIN_DIR:-} ]]; then
    bin=$(cd "$BENCH_BIN_DIR" && pwd)
    built_from="prebuilt binaries in $bin"
else
    require_cargo
    if [[ ${BENCH_TREE:-worktree} == head ]]; then
        mkdir "$tmp/src"
        git archive HEAD | tar -x -C "$tmp/src"
        echo "building the release binaries of HEAD ($(git rev-parse --short HEAD))..." >&2
        (cd "$tmp/src" && CARGO_TARGET_DIR=$repo/target/bench-head \
            cargo build --release --quiet -p jaild -p jailctl -p rootfs-tools)
        rel=$repo/target/bench-head/x86_64-unknown-linux-gnu/release
        built_from="HEAD, from git archive"
    else
        echo "building the release binaries of the working tree..." >&2
        cargo build --release --quiet -p jaild -p jailctl -p rootfs-tools
        rel=$repo/target/x86_64-unknown-linux-gnu/release
        built_from="the working tree"
    fi
    bin=$tmp/bin
    mkdir "$bin"
    cp "$rel/jaild" "$rel/jail-init" "$rel/jailctl" "$rel/jail-rootfs" "$bin/"
fi

# 3. The machine, at the start.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
version() {
    if command -v "$1" >/dev/null; then
        "$@" 2>&1 | head -n 1 || true
    else
        echo "$1: not installed"
    fi
}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | awk '{ print $NF }' | grep -v '^bench/\|^BENCHMARKS.md$' || true)
{
    echo "machine:  $(. /etc/os-release && echo "$PRETTY_NAME"); $(lscpu | sed -n 's/^Hypervisor vendor: *//p' |
        sed 's/.\+/& guest; /')$(lscpu | sed -n 's/^Model name: *//p'); $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel:   $(uname -r); CPUs: $(nproc); cgroups: $(stat -f -c %T /sys/fs/cgroup)$(
        [[ -d /sys/fs/cgroup/unified ]] && echo ' (v1, with cgroup2 at /sys/fs/cgroup/unified)')"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit:   $commit ($(git log -1 --format=%s 2>/dev/null | cut -c1-70)); binaries from $built_from"
    if [[ -n $dirty && $built_from == "the working tree" ]]; then
        echo "          uncommitted changes measured with it: $(echo "$dirty" | tr '\n' ' ')"
    fi
    echo "peers:    $(version unshare --version); bwrap $(version bwrap --version | awk '{ print $2 }'); $(version crun --version); lxc $(version lxc-execute --version); $(version busybox | cut -d' ' -f1-2)"
    echo "load average at the start: $(loadavg)"
} | tee "$out/header.txt"
echo

# 4. The benchmarks.
quick_defaults() {
    case $1 in
    start) echo BENCH_ROUNDS=30 BENCH_WARMUP=3 ;;
    daemon) echo BENCH_EXEC_ROUNDS=30 BENCH_START_ROUNDS=5 BENCH_JAILS=20 ;;
    rootfs-shift) echo FILES=20000 ROUNDS=1 ;;
    rootfs-size) echo BENCH_ROUNDS=30 ;;
    net) echo BENCH_MB=64 BENCH_TCP_RUNS=1 BENCH_ROUNDS=10 BENCH_WARMUP=1 ;;
    esac
}
failed=0
start_all=$SECONDS
for b in "${only[@]}"; do
    env_args=()
    if [[ -n ${BENCH_QUICK:-} ]]; then
        for kv in $(quick_defaults "$b"); do
            var=${kv%%=*}
            [[ -n ${!var:-} ]] || env_args+=("$kv")
        done
    fi
    echo "=== bench/$b.sh ${env_args[*]} (load average $(loadavg))"
    t0=$SECONDS
    set +e
    : >"$out/$b.jsonl"
    env "${env_args[@]}" BENCH_RESULTS="$out/$b.jsonl" BENCH_BIN_DIR="$bin" bash "bench/$b.sh" 2>&1 | tee "$out/$b.log"
    rc=${PIPESTATUS[0]}
    set -e
    secs=$((SECONDS - t0))
    printf '%s\t%s\t%s\n' "$b" "$rc" "$secs" >>"$out/runs.tsv"
    if ((rc != 0)); then
        failed=1
        echo "=== bench/$b.sh FAILED (exit $rc); its output is in $out/$b.log"
    fi
    echo
done
total=$((SECONDS - start_all))

# 5. The summary.
{
    echo "load average at the end: $(loadavg)"
    echo "total time of the benchmarks: $((total / 60)) min $((total % 60)) s"
} >"$out/footer.txt"
python3 - "$out" <<'PY' | tee "$out/summary.md"
import json, os, sys

out = sys.argv[1]
runs = [l.rstrip("\n").split("\t") for l in open(f"{out}/runs.tsv") if l.strip()]
# Each script's rows, in the order they ran; a script that failed adds a FAILED row after its own.
rows = []
for name, rc, _ in runs:
    rows += [json.loads(l) for l in open(f"{out}/{name}.jsonl") if l.strip()]
    if rc != "0":
        rows.append(dict(benchmark=name, command=f"bench/{name}.sh", failed=f"exited {rc}: see {out}/{name}.log"))
with open(f"{out}/results.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)


def num(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"


table = [("benchmark", "command", "median", "unit", "baseline", "ratio", "goal", "met")]
notes = []
for r in rows:
    if "skipped" in r or "failed" in r:
        what = "skipped" if "skipped" in r else "FAILED"
        table.append((r["benchmark"], r["command"], what, "", "", "", r.get("goal", ""), "no" if what == "FAILED" else ""))
        notes.append(f"- {r['benchmark']}, {r['command']}: {what.lower()}: {r.get('skipped') or r.get('failed')}")
        continue
    ratio = r.get("ratio")
    met = r.get("met")
    table.append((
        r["benchmark"], r["command"], num(r["median"]), r["unit"],
        r.get("baseline", "") if r.get("baseline") != r["command"] else "(baseline)",
        f"{ratio:.2f}x" if ratio is not None else "",
        r.get("goal", ""),
        {True: "yes", False: "**NO**", None: ""}[met],
    ))
    if r.get("note"):
        notes.append(f"- {r['benchmark']}, {r['command']}: {r['note']}")

widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
right = {2, 5}


def line(row):
    cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
    return "| " + " | ".join(cells) + " |"


print("## Summary")
print()
print(open(f"{out}/header.txt").read().rstrip())
print(open(f"{out}/footer.txt").read().rstrip())
print()
print(line(table[0]))
print("|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|")
for row in table[1:]:
    print(line(row))
goals = [r for r in rows if "met" in r]
print()
print(f"goals: {sum(1 for r in goals if r['met'])} met, {sum(1 for r in goals if not r['met'])} missed"
      + (f"; {len([r for r in runs if r[1] != '0'])} benchmark(s) FAILED" if any(r[1] != "0" for r in runs) else ""))
print("ratio: median / the baseline's median, measured in the same run (for throughput, higher is better).")
print()
print("Notes:")
print("\n".join(notes))
print()
print("time per benchmark: " + ", ".join(f"{n} {int(s) // 60} min {int(s) % 60} s" for n, _, s in runs))
print(f"output of each benchmark: {out}/<name>.log")
PY
echo
echo "summary, results and logs: $out"
exit "$failed"
