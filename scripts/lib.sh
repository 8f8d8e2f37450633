# shellcheck shell=bash
# Helpers shared by scripts/*.sh (sourced, not run).

# rustup installs cargo into ~/.cargo/bin, which a root shell or CI may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

# True when /bin/busybox exists and is statically linked (a jail rootfs has no libc).
have_static_busybox() {
    [[ -x /bin/busybox ]] || return 1
    local out
    out=$(ldd /bin/busybox 2>&1 || true)
    [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]]
}

# apt-get install the given packages; refresh the package lists only if the first try fails.
apt_install() {
    if [[ $EUID -ne 0 ]]; then
        echo "${0##*/}: need root to apt-get install $*" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" || { apt-get update -q && apt-get install -y -q "$@"; }
}

# Exit with rustup instructions when there is no cargo.
require_cargo() {
    command -v cargo >/dev/null 2>&1 && return
    cat >&2 <<'MSG'
cargo not found. Install the Rust toolchain with rustup, then run this again:
    apt-get install -y curl build-essential
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"
MSG
    exit 1
}
