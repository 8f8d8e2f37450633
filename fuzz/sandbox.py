#!/usr/bin/env python3
"""Runs a command as root of a fresh user and mount namespace whose ids 0..65535 are the host ids
BASE..BASE+65535 (BASE: $JAILD_FUZZ_ID_BASE, default 100000).

Root there holds every capability over the files it owns, so the unpacker's chown works, but it
owns nothing of the host: a bug that writes outside the unpack directory fails with EACCES
instead of hurting the host, and the target's own snapshot check reports it. Start it as host
root: the parent writes the new namespace's id maps from outside, which needs no /etc/subuid.

    fuzz/sandbox.py fuzz/target/x86_64-unknown-linux-gnu/release/unpack_paths CORPUS ...
"""

import ctypes
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("sandbox.py: run me as root", file=sys.stderr)
        return 2
    base = int(os.environ.get("JAILD_FUZZ_ID_BASE", "100000"))
    libc = ctypes.CDLL(None, use_errno=True)
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(ready_r)
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            print(f"sandbox.py: unshare: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
            os._exit(2)
        os.write(ready_w, b"u")
        os.close(ready_w)
        if os.read(go_r, 1) != b"g":
            os._exit(2)
        # No exec between unshare and here, so the namespace's full capabilities are still held.
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            print(f"sandbox.py: make / private: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
            os._exit(2)
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        os.execvp(sys.argv[1], sys.argv[1:])
    os.close(go_r)
    os.close(ready_w)
    if os.read(ready_r, 1) != b"u":
        os.waitpid(pid, 0)
        return 2
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(f"0 {base} 65536\n")
    os.write(go_w, b"g")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8


if __name__ == "__main__":
    sys.exit(main())
