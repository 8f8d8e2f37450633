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
