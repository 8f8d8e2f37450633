#!/bin/sh
# One fuzzing session of one target, as the campaign in README.md ran them:
#
#   fuzz/run.sh TARGET [SECONDS] [LIBFUZZER-ARGS...]
#
# Build first with `cargo +nightly fuzz build` (from fuzz/). The corpus grows in
# fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET), crashes land in fuzz/artifacts/TARGET/,
# libFuzzer's log in fuzz/logs/TARGET/fuzz-0.log. One process (-jobs=1); unpack_paths runs in a
# user namespace through sandbox.py (see there).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
t=${1:?usage: run.sh TARGET [SECONDS] [LIBFUZZER-ARGS...]}
secs=${2:-300}
shift
[ $# -gt 0 ] && shift
bin=$here/target/x86_64-unknown-linux-gnu/release/$t
[ -x "$bin" ] || { echo "run.sh: $bin missing: run \`cargo +nightly fuzz build\` in fuzz/" >&2; exit 2; }
case $t in
    policy_yaml) dict=policy.dict ;;
    policy_set) dict=policy_set.dict ;;
    api_body) dict=api.dict ;;
    *) dict= ;;
esac
mkdir -p "$here/corpus/$t" "$here/artifacts/$t" "$here/logs/$t" "$here/seeds/$t"
rm -f "$here/logs/$t/fuzz-0.log"
set -- "$here/corpus/$t" "$here/seeds/$t" -max_total_time="$secs" -jobs=1 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/artifacts/$t/" \
    ${dict:+-dict="$here/dicts/$dict"} "$@"
cd "$here/logs/$t"
status=0
if [ "$t" = unpack_paths ]; then
    base=${JAILD_FUZZ_ID_BASE:-100000}
    # The namespace's root is host uid $base: let it write the corpus, artifacts and log.
    # The target's scratch trees (TOP in unpack_paths.rs) go here, removed afterwards.
    mkdir -p "$here/logs/$t/tmp"
    chown -R "$base:$base" "$here/corpus/$t" "$here/artifacts/$t" "$here/logs/$t"
    TMPDIR="$here/logs/$t/tmp" "$here/sandbox.py" "$bin" -max_len=8192 -len_control=0 "$@" || status=$?
    rm -rf "$here/logs/$t/tmp"
    chown -R 0:0 "$here/corpus/$t" "$here/artifacts/$t" "$here/logs/$t"
else
    "$bin" "$@" || status=$?
fi
tail -n 40 "$here/logs/$t/fuzz-0.log"
exit $status
