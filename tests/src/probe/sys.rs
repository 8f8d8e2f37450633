//! Every `unsafe` call the probe makes, each behind a small safe function.
//!
//! The wrappers return `io::Result` with the raw errno, so the attack modules can print exactly what
//! the kernel (or the seccomp filter) answered. None of them does anything beyond the one call it is
//! named after; the callers decide what is harmless to attempt.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_long, c_uint, c_ulong, c_void};

/// Turns a raw `-1`-style return into an `io::Result` carrying errno.
fn check(ret: c_long) -> io::Result<c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a freshly returned descriptor.
fn owned(ret: c_long) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: `fd` was just returned by the kernel as a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring(s: &str) -> CString {
    CString::new(s).expect("probe paths contain no NUL byte")
}

// ---- identity and process state -------------------------------------------------------------

/// `prctl(PR_GET_SECUREBITS)`.
pub fn securebits() -> io::Result<i64> {
    // SAFETY: PR_GET_SECUREBITS takes no pointer arguments and only reads process state.
    let ret = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    check(ret.into())
}

/// `prctl(PR_GET_DUMPABLE)`.
pub fn dumpable() -> io::Result<i64> {
    // SAFETY: PR_GET_DUMPABLE takes no pointer arguments and only reads process state.
    let ret = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    check(ret.into())
}

/// `getsid(0)`.
pub fn getsid() -> io::Result<i64> {
    // SAFETY: getsid(0) has no pointer arguments.
    let ret = unsafe { libc::getsid(0) };
    check(ret.into())
}

/// `getpgid(0)`.
pub fn getpgid() -> io::Result<i64> {
    // SAFETY: getpgid(0) has no pointer arguments.
    let ret = unsafe { libc::getpgid(0) };
    check(ret.into())
}

/// `gethostname`.
pub fn gethostname() -> io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; the kernel NUL-terminates within it
    // (we pass one byte less to be sure).
    let ret = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    check(ret.into())?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// `sethostname`.
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
    let ret = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    check(ret.into()).map(drop)
}

// ---- processes ------------------------------------------------------------------------------

/// Result of [`fork`].
pub enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// `fork()`. The probe is single-threaded, so the child may run ordinary Rust code.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: the probe never starts threads, so the child inherits a consistent address space
    // (no lock held by another thread).
    let pid = unsafe { libc::fork() };
    match check(pid.into())? {
        0 => Ok(Fork::Child),
        _ => Ok(Fork::Parent(pid)),
    }
}

/// How a waited-for child ended.
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// `waitpid(pid, 0)`.
pub fn waitpid(pid: libc::pid_t) -> io::Result<Exit> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    if libc::WIFEXITED(status) {
        Ok(Exit::Code(libc::WEXITSTATUS(status)))
    } else {
        Ok(Exit::Signal(libc::WTERMSIG(status)))
    }
}

/// `_exit(code)`: leaves a forked child without running the parent's atexit handlers or flushing
/// buffers twice.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// `setsid()`.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no arguments.
    let ret = unsafe { libc::setsid() };
    check(ret.into()).map(drop)
}

/// `unshare(flags)`.
pub fn unshare(flags: c_int) -> io::Result<()> {
    // SAFETY: unshare has no pointer arguments.
    let ret = unsafe { libc::unshare(flags) };
    check(ret.into()).map(drop)
}

/// Raw `clone(flags, NULL, ...)` (fork-like: no new stack, no CLONE_VM). The child exits at once
/// with status 0; the parent gets the child's pid.
pub fn clone_raw(flags: c_ulong) -> io::Result<libc::pid_t> {
    // SAFETY: without CLONE_VM the child gets a copy of the address space, so sharing the stack
    // pointer (NULL = same stack) is what fork does; the child only calls `_exit`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<c_void>(),
            std::ptr::null_mut::<c_int>(),
            std::ptr::null_mut::<c_int>(),
            0 as c_ulong,
        )
    };
    match check(ret)? {
        0 => exit_now(0),
        pid => Ok(pid as libc::pid_t),
    }
}

/// Raw `clone3` with the given flags and SIGCHLD as exit signal. The child exits at once.
pub fn clone3(flags: u64) -> io::Result<libc::pid_t> {
    let mut args = [0u64; 8]; // struct clone_args, CLONE_ARGS_SIZE_VER0 = 64 bytes
    args[0] = flags;
    args[4] = libc::SIGCHLD as u64; // exit_signal
    // SAFETY: `args` is a valid clone_args of the size passed; no stack is given, so (as with
    // fork) the child runs on a copy of ours and only calls `_exit`.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, args.as_mut_ptr(), std::mem::size_of_val(&args)) };
    match check(ret)? {
        0 => exit_now(0),
        pid => Ok(pid as libc::pid_t),
    }
}

// ---- mounts ---------------------------------------------------------------------------------

/// `mount(2)`.
pub fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstring);
    let target = cstring(target);
    let fstype = fstype.map(cstring);
    let data = data.map(cstring);
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is NULL or a NUL-terminated string that lives until the call returns.
    let ret = unsafe { libc::mount(ptr(&source), target.as_ptr(), ptr(&fstype), flags, ptr(&data).cast()) };
    check(ret.into()).map(drop)
}

/// `umount2(2)`.
pub fn umount2(target: &str, flags: c_int) -> io::Result<()> {
    let target = cstring(target);
    // SAFETY: `target` is a NUL-terminated string that lives until the call returns.
    let ret = unsafe { libc::umount2(target.as_ptr(), flags) };
    check(ret.into()).map(drop)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    let fstype = cstring(fstype);
    // SAFETY: `fstype` is a NUL-terminated string that lives until the call returns.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), 1 as c_ulong) };
    owned(ret)
}

/// `fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> io::Result<()> {
    const FSCONFIG_CMD_CREATE: c_ulong = 6;
    // SAFETY: CMD_CREATE takes no key or value; the fd is borrowed and stays open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<c_void>(),
            0 as c_int,
        )
    };
    check(ret).map(drop)
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, 0)`: a detached mount, gone when the returned fd is closed.
pub fn fsmount(fs: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments; the fd is borrowed and stays open.
    let ret = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), 1 as c_ulong, 0 as c_ulong) };
    owned(ret)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)`: a detached copy of the mount
/// at `path` alone (not recursive), gone when the returned fd is closed.
pub fn open_tree_clone(path: &str) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: c_ulong = 1;
    let path = cstring(path);
    // SAFETY: `path` is a NUL-terminated string that lives until the call returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as c_ulong,
        )
    };
    owned(ret)
}

/// `mount_setattr(AT_FDCWD, path, 0, {attr_clr})`: clears mount attributes (e.g. read-only).
pub fn mount_setattr_clear(path: &str, attr_clr: u64) -> io::Result<()> {
    let path = cstring(path);
    // struct mount_attr { u64 attr_set; u64 attr_clr; u64 propagation; u64 userns_fd; }
    let mut attr = [0u64, attr_clr, 0, 0];
    // SAFETY: `attr` is a valid mount_attr of the size passed; `path` is NUL-terminated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            0 as c_ulong,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    check(ret).map(drop)
}

/// `mknod(path, mode, makedev(major, minor))`.
pub fn mknod(path: &str, mode: libc::mode_t, major: u32, minor: u32) -> io::Result<()> {
    let path = cstring(path);
    // SAFETY: `path` is a NUL-terminated string that lives until the call returns.
    let ret = unsafe { libc::mknod(path.as_ptr(), mode, libc::makedev(major, minor)) };
    check(ret.into()).map(drop)
}

// ---- kernel interfaces the jail must not reach ------------------------------------------------

/// `init_module(image, len, params)` with a bogus image (never a loadable module).
pub fn init_module(image: &[u8], params: &CStr) -> io::Result<c_long> {
    // SAFETY: the image pointer and length describe a live slice; params is NUL-terminated.
    check(unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len() as c_ulong,
            params.as_ptr(),
        )
    })
}

/// `finit_module(fd, params, flags)`.
pub fn finit_module(fd: c_int, params: &CStr) -> io::Result<c_long> {
    // SAFETY: params is NUL-terminated and outlives the call; a bad fd only yields EBADF.
    check(unsafe { libc::syscall(libc::SYS_finit_module, fd, params.as_ptr(), 0 as c_int) })
}

/// `delete_module(name, O_NONBLOCK)`.
pub fn delete_module(name: &CStr) -> io::Result<c_long> {
    // SAFETY: name is NUL-terminated and outlives the call.
    check(unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) })
}

/// `kexec_load(0, 0, NULL, flags)`.
pub fn kexec_load(flags: c_ulong) -> io::Result<c_long> {
    // SAFETY: zero segments and a NULL segment array: the kernel reads no user memory.
    check(unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0 as c_ulong,
            0 as c_ulong,
            std::ptr::null::<c_void>(),
            flags,
        )
    })
}

/// `kexec_file_load(-1, -1, 0, NULL, flags)`.
pub fn kexec_file_load(flags: c_ulong) -> io::Result<c_long> {
    // SAFETY: no buffers are passed (cmdline length 0, NULL pointer).
    check(unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            -1 as c_int,
            -1 as c_int,
            0 as c_ulong,
            std::ptr::null::<libc::c_char>(),
            flags,
        )
    })
}

/// `bpf(BPF_MAP_CREATE)` for a one-entry array map.
pub fn bpf_array_map() -> io::Result<OwnedFd> {
    const BPF_MAP_CREATE: c_int = 0;
    const BPF_MAP_TYPE_ARRAY: u32 = 2;
    // union bpf_attr, map-create part: map_type, key_size, value_size, max_entries, rest zero.
    let mut attr = [0u32; 16];
    attr[0] = BPF_MAP_TYPE_ARRAY;
    attr[1] = 4;
    attr[2] = 4;
    attr[3] = 1;
    // SAFETY: `attr` is valid for the size passed; unused fields are zero as the kernel requires.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr) as c_ulong,
        )
    };
    owned(ret)
}

/// `perf_event_open` of the software cpu-clock counter for this process, user space only.
pub fn perf_cpu_clock() -> io::Result<OwnedFd> {
    const PERF_TYPE_SOFTWARE: u32 = 1;
    const PERF_ATTR_SIZE_VER0: u32 = 64;
    // struct perf_event_attr, first 64 bytes: type (u32), size (u32), config (u64),
    // sample_period (u64), sample_type (u64), read_format (u64), flags (u64) ...
    let mut attr = [0u64; 16];
    attr[0] = u64::from(PERF_TYPE_SOFTWARE) | (u64::from(PERF_ATTR_SIZE_VER0) << 32);
    attr[1] = 0; // PERF_COUNT_SW_CPU_CLOCK
    attr[5] = 1 | (1 << 5) | (1 << 6); // disabled, exclude_kernel, exclude_hv
    // SAFETY: `attr` is larger than the size it declares; pid 0 / cpu -1 / group -1 measure the
    // calling process only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_mut_ptr(),
            0 as libc::pid_t,
            -1 as c_int,
            -1 as c_int,
            8 as c_ulong, // PERF_FLAG_FD_CLOEXEC
        )
    };
    owned(ret)
}

/// Special keyring ids (linux/keyctl.h).
pub const KEY_SPEC_PROCESS_KEYRING: i32 = -2;
pub const KEY_SPEC_SESSION_KEYRING: i32 = -3;

/// `keyctl(KEYCTL_GET_KEYRING_ID, id, 0)`.
pub fn keyctl_get_keyring_id(id: i32) -> io::Result<c_long> {
    const KEYCTL_GET_KEYRING_ID: c_int = 0;
    // SAFETY: no pointer arguments.
    check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_GET_KEYRING_ID, id, 0 as c_int) })
}

/// `add_key(type, description, payload, keyring)`.
pub fn add_key(kind: &CStr, description: &CStr, payload: &[u8], keyring: i32) -> io::Result<c_long> {
    // SAFETY: the strings are NUL-terminated and the payload pointer/length describe a live slice.
    check(unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            description.as_ptr(),
            payload.as_ptr(),
            payload.len() as c_ulong,
            keyring,
        )
    })
}

/// `request_key(type, description, NULL, 0)` — no upcall.
pub fn request_key(kind: &CStr, description: &CStr) -> io::Result<c_long> {
    // SAFETY: the strings are NUL-terminated; a NULL callout means no upcall is made.
    check(unsafe {
        libc::syscall(
            libc::SYS_request_key,
            kind.as_ptr(),
            description.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0 as c_int,
        )
    })
}

/// `userfaultfd(flags)`.
pub fn userfaultfd(flags: c_int) -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments.
    owned(unsafe { libc::syscall(libc::SYS_userfaultfd, flags) })
}

/// `io_uring_setup(entries, &params)`.
pub fn io_uring_setup(entries: u32) -> io::Result<OwnedFd> {
    let mut params = [0u32; 30]; // struct io_uring_params is 120 bytes
    // SAFETY: `params` is a zeroed io_uring_params the kernel may write back into.
    owned(unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, params.as_mut_ptr()) })
}

/// `swapon(path, 0)`.
pub fn swapon(path: &CStr) -> io::Result<c_long> {
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::syscall(libc::SYS_swapon, path.as_ptr(), 0 as c_int) })
}

/// `clock_gettime(CLOCK_REALTIME)`.
pub fn realtime_now() -> io::Result<libc::timespec> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    check(ret.into()).map(|_| ts)
}

/// Raw `clock_settime(CLOCK_REALTIME, ts)`.
pub fn clock_settime_realtime(ts: &libc::timespec) -> io::Result<c_long> {
    // SAFETY: `ts` points to a valid timespec for the duration of the call.
    check(unsafe { libc::syscall(libc::SYS_clock_settime, libc::CLOCK_REALTIME, std::ptr::from_ref(ts)) })
}

/// Raw `settimeofday(NULL, NULL)`: the permission check runs, but nothing would change.
pub fn settimeofday_null() -> io::Result<c_long> {
    // SAFETY: both pointers are NULL, which the syscall accepts.
    check(unsafe {
        libc::syscall(
            libc::SYS_settimeofday,
            std::ptr::null::<libc::timeval>(),
            std::ptr::null::<c_void>(),
        )
    })
}

/// `acct(path)`.
pub fn acct(path: &CStr) -> io::Result<c_long> {
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::syscall(libc::SYS_acct, path.as_ptr()) })
}

/// `iopl(level)`.
pub fn iopl(level: c_int) -> io::Result<c_long> {
    // SAFETY: no pointer arguments.
    check(unsafe { libc::syscall(libc::SYS_iopl, level) })
}

/// `ioperm(from, num, on)`.
pub fn ioperm(from: c_ulong, num: c_ulong, on: c_int) -> io::Result<c_long> {
    // SAFETY: no pointer arguments.
    check(unsafe { libc::syscall(libc::SYS_ioperm, from, num, on) })
}

/// `syslog(SYSLOG_ACTION_READ_ALL, buf, len)` (non-destructive read of the kernel log).
pub fn syslog_read_all(buf: &mut [u8]) -> io::Result<c_long> {
    const SYSLOG_ACTION_READ_ALL: c_int = 3;
    let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
    // SAFETY: the buffer is valid for `len` bytes of writes.
    check(unsafe { libc::syscall(libc::SYS_syslog, SYSLOG_ACTION_READ_ALL, buf.as_mut_ptr(), len) })
}

/// A file handle as `name_to_handle_at` returns it.
pub struct Handle {
    pub kind: i32,
    pub bytes: Vec<u8>,
}

/// `name_to_handle_at(AT_FDCWD, path, ...)`.
pub fn name_to_handle_at(path: &str) -> io::Result<Handle> {
    const MAX_HANDLE_SZ: usize = 128;
    let path = cstring(path);
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }
    let mut buf = [0u32; 2 + MAX_HANDLE_SZ / 4];
    buf[0] = MAX_HANDLE_SZ as u32;
    let mut mount_id: c_int = 0;
    // SAFETY: `buf` holds a file_handle header plus MAX_HANDLE_SZ bytes, as announced in its
    // handle_bytes field; `mount_id` is a valid out-pointer; `path` is NUL-terminated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            path.as_ptr(),
            buf.as_mut_ptr(),
            &mut mount_id,
            0 as c_int,
        )
    };
    check(ret)?;
    let len = (buf[0] as usize).min(MAX_HANDLE_SZ);
    let bytes: Vec<u8> = buf[2..].iter().flat_map(|w| w.to_ne_bytes()).take(len).collect();
    Ok(Handle {
        kind: buf[1] as i32,
        bytes,
    })
}

/// `open_by_handle_at(mount_fd, handle, O_RDONLY)`.
pub fn open_by_handle_at(mount_fd: BorrowedFd<'_>, handle: &Handle) -> io::Result<OwnedFd> {
    let mut buf = vec![0u8; 8 + handle.bytes.len()];
    buf[..4].copy_from_slice(&(handle.bytes.len() as u32).to_ne_bytes());
    buf[4..8].copy_from_slice(&handle.kind.to_ne_bytes());
    buf[8..].copy_from_slice(&handle.bytes);
    // SAFETY: `buf` is a complete file_handle (header plus the bytes it announces); the fd is
    // borrowed and stays open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd.as_raw_fd(),
            buf.as_mut_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    owned(ret)
}

// ---- terminals ------------------------------------------------------------------------------

/// Raw `ioctl(fd, request, &byte)` through `syscall(2)`, so that the full 64-bit request number
/// reaches the seccomp filter (the kernel itself only looks at the low 32 bits).
pub fn ioctl_byte(fd: BorrowedFd<'_>, request: u64, byte: u8) -> io::Result<c_long> {
    // SAFETY: TIOCSTI reads one byte and TIOCLINUX at least one byte from the pointer, which
    // points to a live local; other requests are not passed here.
    check(unsafe { libc::syscall(libc::SYS_ioctl, fd.as_raw_fd(), request, std::ptr::from_ref(&byte)) })
}

/// `isatty(fd)`.
pub fn isatty(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only queries the descriptor.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// Unlocks a pty master (`TIOCSPTLCK 0`).
pub fn unlockpt(master: BorrowedFd<'_>) -> io::Result<()> {
    let unlock: c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a pointer to a live local.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    check(ret.into()).map(drop)
}

/// Opens the peer of a pty master (`TIOCGPTPEER`).
pub fn pty_peer(master: BorrowedFd<'_>, flags: c_int) -> io::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new descriptor.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    owned(ret.into())
}

/// Makes `fd` the controlling terminal of this (session-leader) process (`TIOCSCTTY 0`).
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int by value.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0 as c_int) };
    check(ret.into()).map(drop)
}

// ---- network ----------------------------------------------------------------------------------

/// `socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)`.
pub fn inet_dgram_socket() -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments.
    let ret = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    owned(ret.into())
}

fn ifreq_for(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *dst = src as libc::c_char;
    }
    req
}

/// `SIOCGIFFLAGS` on interface `name`.
pub fn interface_flags(sock: BorrowedFd<'_>, name: &str) -> io::Result<i16> {
    let mut req = ifreq_for(name);
    // SAFETY: `req` is a valid ifreq the kernel fills in.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    check(ret.into())?;
    // SAFETY: after SIOCGIFFLAGS the flags member of the union is the initialised one.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// `SIOCSIFFLAGS` on interface `name`.
pub fn set_interface_flags(sock: BorrowedFd<'_>, name: &str, flags: i16) -> io::Result<()> {
    let mut req = ifreq_for(name);
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: `req` is a valid ifreq with its name and flags set.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) };
    check(ret.into()).map(drop)
}

/// Raw `socket(domain, type, protocol)` through `syscall(2)`, so that a domain with high bits set
/// reaches the seccomp filter unchanged (the kernel itself reads it as an `int`).
pub fn socket_raw(domain: u64, kind: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments.
    owned(unsafe { libc::syscall(libc::SYS_socket, domain, kind | libc::SOCK_CLOEXEC, protocol) })
}

/// `socketpair(domain, type, 0)`.
pub fn socketpair(domain: c_int, kind: c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut sv: [c_int; 2] = [-1, -1];
    // SAFETY: `sv` is a valid out-array of two ints.
    let ret = unsafe { libc::socketpair(domain, kind | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
    check(ret.into())?;
    // SAFETY: on success both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) })
}

// ---- personality, signals, tracing ------------------------------------------------------------

/// Raw `personality(persona)`: the previous persona, or the current one for `0xffffffff`.
pub fn personality(persona: u64) -> io::Result<c_long> {
    // SAFETY: no pointer arguments.
    check(unsafe { libc::syscall(libc::SYS_personality, persona) })
}

/// `kill(pid, sig)`.
pub fn kill(pid: libc::pid_t, sig: c_int) -> io::Result<()> {
    // SAFETY: no pointer arguments.
    let ret = unsafe { libc::kill(pid, sig) };
    check(ret.into()).map(drop)
}

/// `pause()`: sleeps until a signal arrives (the caller is a forked child that gets SIGKILL).
pub fn pause() {
    // SAFETY: no arguments.
    unsafe { libc::pause() };
}

/// `ptrace(request, pid, 0, 0)` for requests that take no address or data (ATTACH, SEIZE,
/// DETACH).
pub fn ptrace(request: c_uint, pid: libc::pid_t) -> io::Result<c_long> {
    // SAFETY: for these requests the kernel reads neither addr nor data.
    check(unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            c_long::from(request),
            pid,
            std::ptr::null_mut::<c_void>(),
            std::ptr::null_mut::<c_void>(),
        )
    })
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as c_uint) })
}

/// `pidfd_getfd(pidfd, targetfd, 0)`: a duplicate of another process's descriptor.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target: c_int) -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments; the pidfd is borrowed and stays open.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0 as c_uint) })
}

/// `process_vm_readv(pid, ...)` of `len` bytes at `addr` in `pid` into a local buffer.
pub fn process_vm_read(pid: libc::pid_t, addr: usize, buf: &mut [u8]) -> io::Result<c_long> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the local iovec describes `buf`, valid for writes of its length; the remote one is
    // only dereferenced by the kernel in the other process (and checked there).
    check(unsafe {
        libc::syscall(
            libc::SYS_process_vm_readv,
            pid,
            std::ptr::from_ref(&local),
            1 as c_ulong,
            std::ptr::from_ref(&remote),
            1 as c_ulong,
            0 as c_ulong,
        )
    })
}
