//! Installing seccomp filters with the raw `seccomp(2)` system call.
//!
//! seccompiler's own `apply_filter` always sets `PR_SET_NO_NEW_PRIVS` first,
//! which a VM-like jail must not get (it breaks `su` and other setuid
//! programs). The jail stage installs its filters while it still holds
//! CAP_SYS_ADMIN in the jail's user namespace, which the kernel accepts in
//! place of no_new_privs, so the filters go in through [`install_filter`].
//!
//! Everything here that the jail stage calls runs in a forked child and must
//! not allocate.

use std::io;
use std::mem::{align_of, offset_of, size_of};

use crate::seccomp::RawInsn;

// `RawInsn` is the serde-able twin of `struct sock_filter`: the layouts must
// match field for field so that a slice of one can be read as the other.
const _: () = {
    assert!(size_of::<RawInsn>() == size_of::<libc::sock_filter>());
    assert!(align_of::<RawInsn>() == align_of::<libc::sock_filter>());
    assert!(offset_of!(RawInsn, code) == offset_of!(libc::sock_filter, code));
    assert!(offset_of!(RawInsn, jt) == offset_of!(libc::sock_filter, jt));
    assert!(offset_of!(RawInsn, jf) == offset_of!(libc::sock_filter, jf));
    assert!(offset_of!(RawInsn, k) == offset_of!(libc::sock_filter, k));
};

/// Views compiled instructions as the kernel's `sock_filter` array, without
/// copying or allocating.
pub fn as_sock_filters(insns: &[RawInsn]) -> &[libc::sock_filter] {
    // SAFETY: `RawInsn` is `#[repr(C)]` with the same fields, types, order,
    // size and alignment as `libc::sock_filter` (checked at compile time
    // above), both are plain integers valid for every bit pattern, and the
    // returned slice borrows `insns`, so it covers the same live memory for
    // no longer than `insns` lives.
    unsafe { std::slice::from_raw_parts(insns.as_ptr().cast::<libc::sock_filter>(), insns.len()) }
}

/// Installs one classic-BPF program as a seccomp filter on the calling
/// thread: `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`.
///
/// Does not set no_new_privs: the caller needs either CAP_SYS_ADMIN in its
/// user namespace or no_new_privs already set, or the kernel answers EACCES.
/// Does not allocate (safe in a forked child). An empty program or one longer
/// than `u16::MAX` instructions is refused with EINVAL before the call.
pub fn install_filter(prog: &[libc::sock_filter]) -> io::Result<()> {
    set_mode_filter(prog, 0).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`: the call's result.
fn set_mode_filter(prog: &[libc::sock_filter], flags: libc::c_ulong) -> io::Result<libc::c_long> {
    let len = match u16::try_from(prog.len()) {
        Ok(len) if len > 0 => len,
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads (copies) the program; the `*mut` is the C type.
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` is a valid `sock_fprog` on our stack describing `len`
    // initialised instructions borrowed from `prog`, both alive for the whole
    // call; the kernel copies the program and never writes through the
    // pointer. The other arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            &raw const fprog,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: after it, execve never grants privileges
/// (setuid bits and file capabilities are ignored), and seccomp filters can be
/// installed without CAP_SYS_ADMIN. Irreversible. Does not allocate.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes only integer arguments and touches no
    // memory of ours.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `_exit(code)`: ends the process at once, without unwinding, atexit
/// handlers or stdio flushing — the way out of a forked child.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns and touches no
    // memory of ours.
    unsafe { libc::_exit(code) }
}

/// **Test support.** Forks, runs `f` in the child and `_exit`s with its
/// return value; returns the child's exit status, or 128 + the signal number
/// when a signal killed it (as a shell does). A panic in `f` exits with 101.
///
/// Meant for tests that must change irreversible per-process state (seccomp
/// filters, no_new_privs). In a multi-threaded process (the test harness) the
/// child has only the calling thread, so `f` should avoid locks that other
/// threads might have held at the fork: do allocation-heavy work before.
///
/// # Panics
///
/// When `fork` or `waitpid` fails.
pub fn in_child<F: FnOnce() -> i32>(f: F) -> i32 {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    // SAFETY: the child runs only `f` and then `_exit`s; it never returns
    // into the caller's frames, runs no atexit handlers and does not flush
    // buffers shared with the parent. `f` is documented to avoid locks held by
    // other threads at fork time (the only hazard of forking a
    // multi-threaded process, and a deadlock rather than memory unsafety).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            exit_immediately(code)
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as i32,
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => panic!("waitpid({child}): {e}"),
            }
        },
        Err(e) => panic!("fork: {e}"),
    }
}

/// **Test support.** A raw `syscall(nr, args…)`: returns the result and, when
/// it is -1, the errno (0 otherwise). Compiled only for tests.
///
/// The tests pass integers, null or deliberately invalid pointers, or
/// pointers to live buffers of the size the call expects; anything else is
/// the caller's bug. Calls that would change the test process itself are
/// made only in an [`in_child`] child.
#[cfg(test)]
pub(crate) fn raw_syscall(nr: i64, args: [u64; 6]) -> (i64, i32) {
    let [a0, a1, a2, a3, a4, a5] = args;
    // SAFETY: every test call passes integer arguments, null or invalid
    // addresses (which the kernel rejects with EFAULT instead of touching
    // them) or pointers to live, large-enough buffers of the test; the
    // calls with process-wide effects run in forked children only.
    let ret = unsafe { libc::syscall(nr, a0, a1, a2, a3, a4, a5) };
    if ret == -1 {
        (ret, io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        (ret, 0)
    }
}

/// Install `prog` with `SECCOMP_FILTER_FLAG_NEW_LISTENER`: the returned
/// descriptor receives the user notifications the program asks for.
pub fn install_listener(prog: &[libc::sock_filter]) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let rc = set_mode_filter(prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
    let fd = i32::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel returned a fresh listener descriptor that we own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Receive one user notification: `(id, syscall number, arguments)`.
pub fn notif_recv(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(u64, i32, [u64; 6])> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero seccomp_notif is valid (and required by the ioctl).
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is a valid, writable seccomp_notif of the size the ioctl
    // number encodes.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &raw mut n) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n.id, n.data.nr, n.data.args))
}

/// Answer notification `id`: `error` 0 makes the call return `val`.
pub fn notif_send(fd: std::os::fd::BorrowedFd<'_>, id: u64, val: i64, error: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags: 0,
    };
    // SAFETY: `resp` is a valid seccomp_notif_resp for the ioctl.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &raw const resp) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_child_reports_exit_codes_and_signals() {
        assert_eq!(in_child(|| 7), 7);
        assert_eq!(in_child(|| panic!("boom")), 101);
        let code = in_child(|| {
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).ok();
            0
        });
        assert_eq!(code, 128 + libc::SIGKILL);
    }

    #[test]
    fn empty_program_is_refused_before_the_call() {
        let err = install_filter(&[]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn raw_syscall_reports_errno() {
        assert_eq!(
            raw_syscall(libc::SYS_close, [u64::MAX >> 33, 0, 0, 0, 0, 0]),
            (-1, libc::EBADF)
        );
        let (pid, errno) = raw_syscall(libc::SYS_getpid, [0; 6]);
        assert_eq!((pid, errno), (i64::from(std::process::id()), 0));
    }
}
