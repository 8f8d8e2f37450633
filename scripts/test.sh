#!/usr/bin/env bash
# The project's test command (as root; CI runs it through .ci/run):
#   scripts/test.sh                       # fmt, clippy, build, every test
#   scripts/test.sh -E 'package(libjail)'  # extra arguments go to `cargo nextest run`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
require_cargo

# System packages the tests use: a static busybox for jail rootfs, bwrap for comparisons,
# ip for the network tests.
missing=()
have_static_busybox || missing+=(busybox-static)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

# nextest runs each test in its own process (needed for seccomp, Landlock and namespace tests).
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# Cheap checks first, and stop at the first failure.
cargo fmt --check
cargo clippy --workspace --all-targets -- -D warnings

cargo build --workspace
cargo nextest run --workspace --no-fail-fast "$@"
