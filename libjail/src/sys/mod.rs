//! Every `unsafe` call of libjail, each behind a safe function with a
//! `// SAFETY:` comment. Nothing else in the crate may use `unsafe`.
//!
//! The wrappers are thin: one system call each, the raw result turned into
//! `io::Result`, file descriptors returned as [`OwnedFd`]. They never
//! allocate, so the child side of a clone may call them freely.
#![allow(unsafe_code)]

pub mod seccomp;

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The result of a raw system call: `-1` becomes the thread's errno.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A file descriptor returned by a system call, owned from now on.
fn owned(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---------------------------------------------------------------------------
// processes and namespaces

/// `clone(flags | SIGCHLD)` with fork semantics: the child runs on a copy of
/// the caller's stack. Returns `Some(pid)` in the parent, `None` in the child.
///
/// The caller must be single-threaded (jailctl run and jail-init are).
pub fn clone_fork(flags: libc::c_int) -> io::Result<Option<libc::pid_t>> {
    let flags = libc::c_ulong::try_from(flags | libc::SIGCHLD).unwrap_or(0);
    // SAFETY: a NULL stack gives fork semantics (the child continues on a
    // copy-on-write copy of our stack); the caller is single-threaded, so no
    // lock is held by another thread in the child. No pointer arguments.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    })?;
    if ret == 0 {
        Ok(None)
    } else {
        Ok(Some(libc::pid_t::try_from(ret).unwrap_or(-1)))
    }
}

/// `setns(fd, nstype)`.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments; the fd is borrowed and stays open.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }.into()).map(drop)
}

/// `unshare(flags)`.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer argument.
    check(unsafe { libc::unshare(flags) }.into()).map(drop)
}

/// `_exit(code)`: leave the child without running destructors or atexit
/// handlers that belong to the parent's copy of the process.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// `setsid()`.
pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    check(unsafe { libc::setsid() }.into()).map(drop)
}

/// `ioctl(fd, TIOCSCTTY, 0)`: make the terminal on `fd` our controlling one.
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, no pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }.into()).map(drop)
}

/// `ioctl(fd, TIOCSWINSZ, ws)`.
pub fn set_window_size(fd: RawFd, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: `ws` points to a valid winsize for the duration of the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, std::ptr::from_ref(ws)) }.into()).map(drop)
}

/// `ioctl(fd, TIOCGWINSZ)`.
pub fn window_size(fd: RawFd) -> io::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid, writable winsize.
    check(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, std::ptr::from_mut(&mut ws)) }.into())?;
    Ok(ws)
}

/// `kill(pid, sig)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::kill(pid, sig) }.into()).map(drop)
}

/// `dup3(old, new, O_CLOEXEC or 0)`.
pub fn dup3(old: RawFd, new: RawFd, cloexec: bool) -> io::Result<()> {
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: plain integer arguments; the caller owns `new` afterwards.
    check(unsafe { libc::dup3(old, new, flags) }.into()).map(drop)
}

/// `dup2(old, new)` (allows `old == new`, unlike dup3).
pub fn dup2(old: RawFd, new: RawFd) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::dup2(old, new) }.into()).map(drop)
}

/// `close_range(first, last, 0)`.
pub fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments; closing descriptors we do not use.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) }).map(drop)
}

/// `prctl(option, arg2, 0, 0, 0)`.
pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: every option we use takes integer arguments only.
    let ret = unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    check(ret.into()).map(|_| ret)
}

/// `prctl(PR_CAP_AMBIENT, op, cap, 0, 0)`.
pub fn cap_ambient(op: libc::c_ulong, cap: libc::c_ulong) -> io::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, op, cap, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    check(ret.into()).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `capset` of the calling thread: effective, permitted, inheritable masks.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let lo = |v: u64| (v & 0xffff_ffff) as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        CapData {
            effective: lo(effective),
            permitted: lo(permitted),
            inheritable: lo(inheritable),
        },
        CapData {
            effective: hi(effective),
            permitted: hi(permitted),
            inheritable: hi(inheritable),
        },
    ];
    // SAFETY: header and data are valid for the call; version 3 reads two
    // CapData elements, which is what we pass.
    check(unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) }).map(drop)
}

/// `setgroups(groups)`.
pub fn setgroups(groups: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: pointer and length describe a valid slice. The raw syscall is
    // used because glibc's wrapper broadcasts to other threads (we have none).
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

/// `setresgid(gid, gid, gid)` for the calling thread only.
pub fn setresgid(gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// `setresuid(uid, uid, uid)` for the calling thread only.
pub fn setresuid(uid: libc::uid_t) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// `setrlimit(resource, soft, hard)`.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is valid for the call.
    check(unsafe { libc::setrlimit(resource, &raw const lim) }.into()).map(drop)
}

/// `execve(path, argv, envp)`; returns only on failure.
///
/// `argv` and `envp` are NULL-terminated arrays of pointers into C strings
/// that the caller keeps alive.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> io::Error {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: path is a valid C string, argv and envp are NULL-terminated
    // arrays of valid C strings owned by the caller for this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// `waitpid(pid, flags)`: `Some((pid, status))`, `None` with WNOHANG and
/// nothing to reap.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<(libc::pid_t, libc::c_int)>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable int.
        let ret = unsafe { libc::waitpid(pid, &raw mut status, flags) };
        if ret == -1 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok((ret != 0).then_some((ret, status)));
    }
}

/// Block `signals` in the calling thread; returns the previous mask.
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<libc::sigset_t> {
    let set = sigset(signals);
    // SAFETY: zeroed sigset_t is a valid (empty) set; both pointers valid.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigsets.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(old)
}

/// Replace the signal mask of the calling thread.
pub fn set_signal_mask(mask: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `mask` is a valid sigset; the old mask is not wanted.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// The empty signal set.
pub fn empty_sigset() -> libc::sigset_t {
    sigset(&[])
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid, writable storage.
    unsafe { libc::sigemptyset(&raw mut set) };
    for &sig in signals {
        // SAFETY: `set` is initialised; an invalid signal number only
        // returns EINVAL.
        unsafe { libc::sigaddset(&raw mut set, sig) };
    }
    set
}

/// Reset the disposition of every catchable signal to the default.
pub fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; errors for
        // reserved signals are ignored on purpose.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// A `signalfd` for `signals` (which the caller has blocked).
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: `set` is a valid sigset; -1 asks for a new descriptor.
    owned(unsafe { libc::signalfd(-1, &raw const set, libc::SFD_CLOEXEC) }.into())
}

/// Read one `signalfd_siginfo` and return its signal number.
pub fn read_signalfd(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: an all-zero signalfd_siginfo is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` is writable storage of exactly `size` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), std::ptr::from_mut(&mut info).cast(), size) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(libc::c_int::try_from(info.ssi_signo).unwrap_or(0))
}

/// `sigwaitinfo(set)`: the next pending signal of `signals` (all blocked).
pub fn sigwait(signals: &[libc::c_int]) -> io::Result<libc::c_int> {
    let set = sigset(signals);
    loop {
        // SAFETY: `set` is valid; we do not want the siginfo.
        let ret = unsafe { libc::sigwaitinfo(&raw const set, std::ptr::null_mut()) };
        if ret == -1 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok(ret);
    }
}

/// `getpid()`.
pub fn getpid() -> libc::pid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getpid() }
}

/// `geteuid()`.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// `isatty(fd)`.
pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: integer argument only.
    unsafe { libc::isatty(fd) == 1 }
}

// ---------------------------------------------------------------------------
// mounts: the new mount API (open_tree, move_mount, fsopen, fsmount,
// mount_setattr), openat2 and pivot_root

/// `OPEN_TREE_CLONE`.
pub const OPEN_TREE_CLONE: u32 = 1;
/// `OPEN_TREE_CLOEXEC` (= O_CLOEXEC).
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
/// `MOVE_MOUNT_F_EMPTY_PATH`.
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
/// `MOVE_MOUNT_T_EMPTY_PATH`.
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
/// `MOUNT_ATTR_RDONLY`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
/// `MOUNT_ATTR_NOSUID`.
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
/// `MOUNT_ATTR_NODEV`.
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
/// `MOUNT_ATTR_NOEXEC`.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
/// `MOUNT_ATTR_IDMAP`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const FSOPEN_CLOEXEC: u32 = 1;
const FSMOUNT_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `open_tree(dirfd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH [| AT_RECURSIVE])`:
/// a detached copy of the mount at `dirfd`.
pub fn clone_tree(dirfd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the path is a valid empty C string; dirfd is borrowed.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, dirfd.as_raw_fd(), c"".as_ptr(), flags) })
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE)`: a detached bind of a host
/// path (used for the safe device nodes).
pub fn clone_path(path: &CStr) -> io::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    // SAFETY: `path` is a valid C string.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    userns: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: userns.map_or(0, |fd| u64::try_from(fd.as_raw_fd()).unwrap_or(0)),
    };
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: `attr` is valid for the call and its size is passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// `move_mount(from, "", to, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attach the
/// mount `from` on top of the file or directory `to`.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: empty C strings and borrowed descriptors.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `fstype` is a valid C string.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })
}

/// `fsconfig(fd, FSCONFIG_SET_STRING, key, value)`.
pub fn fsconfig_string(fd: BorrowedFd<'_>, key: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: key and value are valid C strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `fsconfig(fd, FSCONFIG_SET_FLAG, key)`.
pub fn fsconfig_flag(fd: BorrowedFd<'_>, key: &CStr) -> io::Result<()> {
    // SAFETY: key is a valid C string; value must be NULL for a flag.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_raw_fd(),
            FSCONFIG_SET_FLAG,
            key.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
    .map(drop)
}

/// `fsconfig(fd, FSCONFIG_CMD_CREATE)`.
pub fn fsconfig_create(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the create command takes no pointers.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
    .map(drop)
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, attrs)`: a detached mount of the context.
pub fn fsmount(fd: BorrowedFd<'_>, attrs: u64) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments only.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fd.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

/// `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dirfd, path, how)` with `RESOLVE_IN_ROOT`: `path` is resolved
/// as if `dirfd` were `/`, so no symlink or `..` can lead outside it.
pub fn openat2_in_root(dirfd: BorrowedFd<'_>, path: &CStr, flags: u64, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: flags | libc::O_CLOEXEC as u64,
        mode: 0,
        resolve: resolve | libc::RESOLVE_IN_ROOT,
    };
    // SAFETY: `path` is a valid C string and `how` is valid for the call.
    owned(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            &raw const how,
            std::mem::size_of::<OpenHow>(),
        )
    })
}

/// `openat2(AT_FDCWD, path, how)` with the given resolve flags.
pub fn openat2_cwd(path: &CStr, flags: u64, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: flags | libc::O_CLOEXEC as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` is a valid C string and `how` is valid for the call.
    owned(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &raw const how,
            std::mem::size_of::<OpenHow>(),
        )
    })
}

/// `openat(dirfd, name, flags, mode)` (no symlink following is the
/// caller's business through `flags`).
pub fn openat(dirfd: BorrowedFd<'_>, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid C string.
    owned(unsafe { libc::openat(dirfd.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC, mode) }.into())
}

/// `mkdirat(dirfd, name, mode)`; an existing entry is not an error.
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `name` is a valid C string.
    let ret = unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) };
    match check(ret.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// `symlinkat(target, dirfd, name)`; an existing entry is not an error.
pub fn symlinkat(target: &CStr, dirfd: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are valid C strings.
    let ret = unsafe { libc::symlinkat(target.as_ptr(), dirfd.as_raw_fd(), name.as_ptr()) };
    match check(ret.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat is valid storage.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(
        // SAFETY: `st` is valid, writable storage; AT_EMPTY_PATH stats the
        // fd itself (works for O_PATH descriptors too).
        unsafe { libc::fstatat(fd.as_raw_fd(), c"".as_ptr(), &raw mut st, libc::AT_EMPTY_PATH) }.into(),
    )?;
    Ok(st)
}

/// `fstatfs(fd)`: the filesystem magic number.
pub fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: a zeroed statfs is valid storage.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid, writable storage.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), &raw mut st) }.into())?;
    Ok(st.f_type)
}

/// The mount id of the mount `fd` lives on (`statx` `STATX_MNT_ID`).
pub fn mount_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: a zeroed statx is valid storage.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    check(
        // SAFETY: `stx` is valid, writable storage; empty path with
        // AT_EMPTY_PATH.
        unsafe {
            libc::statx(
                fd.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                libc::STATX_MNT_ID,
                &raw mut stx,
            )
        }
        .into(),
    )?;
    Ok(stx.stx_mnt_id)
}

/// `fchdir(fd)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: integer argument only.
    check(unsafe { libc::fchdir(fd.as_raw_fd()) }.into()).map(drop)
}

/// `chdir(path)`.
pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) }.into()).map(drop)
}

/// `pivot_root(".", ".")`.
pub fn pivot_root_here() -> io::Result<()> {
    // SAFETY: two valid C strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) }).map(drop)
}

/// `umount2(path, flags)`.
pub fn umount2(path: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `path` is a valid C string.
    check(unsafe { libc::umount2(path.as_ptr(), flags) }.into()).map(drop)
}

/// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)`.
pub fn make_root_private() -> io::Result<()> {
    // SAFETY: valid C strings and NULL pointers where the kernel allows them.
    check(
        unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        }
        .into(),
    )
    .map(drop)
}

/// `sethostname(name)`.
pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: pointer and length describe a valid byte slice.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }.into()).map(drop)
}

/// `setdomainname(name)`.
pub fn setdomainname(name: &[u8]) -> io::Result<()> {
    // SAFETY: pointer and length describe a valid byte slice.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }.into()).map(drop)
}

/// `makedev(major, minor)`.
pub fn makedev(major: u32, minor: u32) -> libc::dev_t {
    libc::makedev(major, minor)
}

/// Read from a raw descriptor into `buf`, retrying on EINTR.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid, writable memory of the given length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok(n.unsigned_abs());
    }
}

/// Write all of `buf` to a raw descriptor, retrying on EINTR.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid memory of the given length.
        let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n.unsigned_abs()..];
    }
    Ok(())
}

/// Read the terminal attributes of `fd`.
pub fn tcgetattr(fd: RawFd) -> io::Result<libc::termios> {
    // SAFETY: a zeroed termios is valid storage.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is valid, writable storage.
    check(unsafe { libc::tcgetattr(fd, &raw mut t) }.into())?;
    Ok(t)
}

/// Set the terminal attributes of `fd` (TCSANOW).
pub fn tcsetattr(fd: RawFd, t: &libc::termios) -> io::Result<()> {
    // SAFETY: `t` is a valid termios.
    check(unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) }.into()).map(drop)
}

/// `cfmakeraw` on a copy of `t`.
pub fn make_raw(t: &libc::termios) -> libc::termios {
    let mut raw = *t;
    // SAFETY: `raw` is a valid termios.
    unsafe { libc::cfmakeraw(&raw mut raw) };
    raw
}

/// `poll(fds, timeout_ms)`, retrying on EINTR.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid, writable slice of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok(n.unsigned_abs() as usize);
    }
}

/// A borrowed view of a raw descriptor that the caller knows to be open
/// (stdio).
pub fn borrow_raw(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: used only for descriptors 0, 1 and 2 and others that stay open
    // for the whole life of the process; a closed one only yields EBADF.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Take ownership of an inherited descriptor `fd` if it is open.
pub fn take_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return None;
    }
    // SAFETY: the descriptor is open and was handed to us by our parent for
    // this purpose; nothing else in the process refers to it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open a new pty in the devpts instance at `/dev/pts` (as the calling
/// process sees it): `(master, slave)`, the slave opened through
/// `TIOCGPTPEER` so no path lookup can be raced.
pub fn open_pty_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: a valid C string; a fresh descriptor is returned.
    let master =
        owned(unsafe { libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) }.into())?;
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &raw mut unlock) }.into())?;
    // SAFETY: TIOCGPTPEER takes open flags as an integer and returns a new
    // descriptor.
    let slave = owned(
        unsafe {
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        }
        .into(),
    )?;
    Ok((master, slave))
}

/// Bring the loopback interface of the current network namespace up
/// (`SIOCGIFFLAGS`/`SIOCSIFFLAGS` on an `AF_INET` datagram socket).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain integer arguments; a fresh descriptor is returned.
    let sock = owned(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }.into())?;
    // SAFETY: an all-zero ifreq is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming "lo"; the kernel fills ifru_flags.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut req) }.into())?;
    // SAFETY: reading the union member the kernel just wrote.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: `req` is a valid ifreq with the new flags.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &raw const req) }.into()).map(drop)
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments; a fresh descriptor is returned.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) })
}

/// The kernel's Landlock ABI version (`landlock_create_ruleset(NULL, 0,
/// LANDLOCK_CREATE_RULESET_VERSION)`), `None` when Landlock is unavailable.
pub fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: a NULL attribute pointer with size 0 is what the version
    // query requires; no memory is read or written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(ret).ok().filter(|&v| v > 0)
}

/// `malloc_trim(0)`: gives the free memory of the heap back to the kernel (a long-lived,
/// mostly idle process such as the supervisor keeps only what it uses).
pub fn malloc_trim() {
    // SAFETY: malloc_trim only walks glibc's own heap; no pointer of ours is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `mallopt(M_ARENA_MAX, max)`: at most `max` malloc arenas. A daemon whose threads come and go
/// (a blocking pool) otherwise gets an arena per new thread, each keeping its memory after the
/// thread is gone. Call before starting threads.
pub fn limit_malloc_arenas(max: i32) {
    // SAFETY: mallopt only sets a glibc allocator parameter; no memory of ours is involved.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, max);
    }
}
