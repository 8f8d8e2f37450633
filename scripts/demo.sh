#!/usr/bin/env bash
# Run a jail in a minimal busybox rootfs, as root on a fresh Debian machine:
#   scripts/demo.sh            # prints "hello from demo, pid 1" and `id` from inside the jail
#   scripts/demo.sh /bin/sh    # an interactive shell in the jail instead
# The rootfs goes to $JAIL_DEMO_ROOT (default /var/lib/jaild-demo/rootfs).
set -euo pipefail

ROOT="${JAIL_DEMO_ROOT:-/var/lib/jaild-demo/rootfs}"
[[ $ROOT == /* ]] || ROOT="$PWD/$ROOT" # relative to the caller, before the cd below

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
RELEASE=target/x86_64-unknown-linux-gnu/release

if [[ $EUID -ne 0 ]]; then
    echo "demo.sh: run as root (jailctl run needs it)" >&2
    exit 1
fi
require_cargo

# A static busybox is the whole rootfs: Debian's busybox-static package provides it.
have_static_busybox || apt_install busybox-static

cargo build --release -p jailctl -p rootfs-tools

# The runtime refuses a rootfs whose ancestors let non-root users in, so a parent we create is
# 0700 (an existing parent is left as it is: never chmod someone's /tmp). One 0700 directory
# shuts out everything below it, so only the deepest one needs that mode.
parent=$(dirname "$ROOT")
# shellcheck disable=SC2174
[[ -d $parent ]] || mkdir -p -m 0700 "$parent"
"$RELEASE/jail-rootfs" busybox --force "$ROOT"

# No arguments: a one-liner that shows the jail's hostname, that it is pid 1, and its ids.
if (($# == 0)); then
    # shellcheck disable=SC2016 # expanded by the jail's shell, not here
    set -- /bin/sh -c 'echo "hello from $(hostname), pid $$"; id'
fi
exec "$RELEASE/jailctl" run --root "$ROOT" --hostname demo -- "$@"
