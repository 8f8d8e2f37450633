#!/usr/bin/env bash
# Shared by the benchmark scripts (sourced, not run).

# bench_usage "$@": prints the script's header comment for -h/--help and exits; refuses any
# other argument. Scripts with options of their own handle those first.
bench_usage() {
    case "${1:-}" in
    "") ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    *)
        echo "usage: bench/$(basename "$0") (see --help)" >&2
        exit 2
        ;;
    esac
}

# bench_release_dir PACKAGE...: the directory of the release binaries: BENCH_BIN_DIR when set
# (run-all.sh builds once for every script), else the workspace's, after building PACKAGEs.
bench_release_dir() {
    if [[ -n ${BENCH_BIN_DIR:-} ]]; then
        echo "$BENCH_BIN_DIR"
        return
    fi
    local repo args=() p
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    for p in "$@"; do args+=(-p "$p"); done
    echo "building release binaries..." >&2
    (cd "$repo" && cargo build --release --quiet "${args[@]}")
    echo "$repo/target/x86_64-unknown-linux-gnu/release"
}

# bench_crun_bundle DIR ROOT [--like-unshare] -- ARGS...: an OCI bundle in DIR (made, mode 0700)
# from `crun spec`'s default: ROOT read-only, ARGS as the process, no terminal. With
# --like-unshare, in the namespaces `unshare` makes in start.sh (user with root mapped to root,
# mount, pid, uts, ipc, net); with only root mapped, the default devpts option gid=5 cannot work,
# so it is dropped.
bench_crun_bundle() {
    local dir=$1 root=$2 like=0
    shift 2
    if [[ ${1:-} == --like-unshare ]]; then
        like=1
        shift
    fi
    [[ ${1:-} == -- ]] && shift
    mkdir -m 0700 "$dir"
    (cd "$dir" && crun spec)
    python3 - "$dir/config.json" "$root" "$like" "$@" <<'PY'
import json, sys
path, root, like, args = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
c = json.load(open(path))
c["root"] = {"path": root, "readonly": True}
c["process"]["args"] = args
c["process"]["terminal"] = False
if like:
    c["linux"]["namespaces"] = [{"type": t} for t in ("user", "mount", "pid", "uts", "ipc", "network")]
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    for m in c["mounts"]:
        if m["type"] == "devpts":
            m["options"] = [o for o in m["options"] if o != "gid=5"]
json.dump(c, open(path, "w"), indent=1)
PY
}
