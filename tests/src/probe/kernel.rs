//! Kernel interfaces a jail must not reach: device nodes, modules, kexec, bpf, perf, keyrings,
//! file handles, user namespaces and friends. Every call is made so that it would do no harm even
//! if it went through (bogus images, invalid flags, values written back unchanged).

use std::ffi::CStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::report::{Report, errno, is_denial};
use crate::sys;

/// A syscall that the jail must be refused: blocked when it fails with a permission errno
/// (EPERM/EACCES from a capability check or the seccomp filter, ENOSYS from the filter). Success,
/// or a failure past the permission check (e.g. ENOENT for a module that does not exist), means
/// the call reached the kernel code it guards.
fn denied<T>(r: &mut Report, attempt: &str, result: io::Result<T>) {
    match result {
        Err(e) if is_denial(&e) => r.blocked(attempt, errno(&e)),
        Err(e) => r.escaped(
            attempt,
            format!("passed the permission check, then failed with {}", errno(&e)),
        ),
        Ok(_) => r.escaped(attempt, "succeeded"),
    }
}

pub fn kernel_calls() -> i32 {
    let mut r = Report::default();
    let empty: &CStr = c"";

    // A 16-byte image is no ELF: if the permission check passed, loading fails with ENOEXEC.
    denied(&mut r, "init_module", sys::init_module(&[0u8; 16], empty));
    denied(&mut r, "finit_module", sys::finit_module(-1, empty));
    denied(
        &mut r,
        "delete_module(\"jail_probe_nonexistent\")",
        sys::delete_module(c"jail_probe_nonexistent"),
    );
    // Flag bits the kernel rejects after the permission check: nothing is loaded or unloaded.
    denied(&mut r, "kexec_load", sys::kexec_load(0x80));
    denied(&mut r, "kexec_file_load", sys::kexec_file_load(0x8000_0000));
    denied(&mut r, "bpf(BPF_MAP_CREATE array)", sys::bpf_array_map());
    denied(&mut r, "perf_event_open(cpu-clock, self)", sys::perf_cpu_clock());
    denied(
        &mut r,
        "keyctl(KEYCTL_GET_KEYRING_ID, session)",
        sys::keyctl_get_keyring_id(sys::KEY_SPEC_SESSION_KEYRING),
    );
    // The process keyring dies with the probe, so a key added there does not outlive it.
    denied(
        &mut r,
        "add_key(user, process keyring)",
        sys::add_key(c"user", c"jail-probe", b"x", sys::KEY_SPEC_PROCESS_KEYRING),
    );
    denied(
        &mut r,
        "request_key(user)",
        sys::request_key(c"user", c"jail-probe-nonexistent"),
    );
    const UFFD_USER_MODE_ONLY: libc::c_int = 1;
    denied(
        &mut r,
        "userfaultfd(UFFD_USER_MODE_ONLY)",
        sys::userfaultfd(libc::O_CLOEXEC | UFFD_USER_MODE_ONLY),
    );
    denied(&mut r, "io_uring_setup", sys::io_uring_setup(1));
    // /tmp/x is never created: with CAP_SYS_ADMIN this would be ENOENT.
    let _ = fs::remove_file("/tmp/x");
    denied(&mut r, "swapon(/tmp/x)", sys::swapon(c"/tmp/x"));
    match sys::realtime_now() {
        Ok(now) => denied(
            &mut r,
            "clock_settime(CLOCK_REALTIME, now)",
            sys::clock_settime_realtime(&now),
        ),
        Err(e) => r.note("clock_gettime", errno(&e)),
    }
    denied(&mut r, "settimeofday(NULL, NULL)", sys::settimeofday_null());
    // A path that does not exist: with CAP_SYS_PACCT this is ENOENT and accounting is unchanged.
    denied(&mut r, "acct(/nonexistent)", sys::acct(c"/nonexistent-jail-probe-acct"));
    let iopl = sys::iopl(3);
    let worked = iopl.is_ok();
    denied(&mut r, "iopl(3)", iopl);
    if worked {
        let _ = sys::iopl(0);
    }
    let ioperm = sys::ioperm(0x80, 1, 1);
    let worked = ioperm.is_ok();
    denied(&mut r, "ioperm(0x80, 1, on)", ioperm);
    if worked {
        let _ = sys::ioperm(0x80, 1, 0);
    }
    let mut buf = vec![0u8; 4096];
    denied(&mut r, "syslog(SYSLOG_ACTION_READ_ALL)", sys::syslog_read_all(&mut buf));
    r.exit_code()
}

pub fn mknod() -> i32 {
    let mut r = Report::default();
    let _ = fs::create_dir_all("/tmp");
    for (path, kind, major, minor, what) in [
        ("/tmp/sda", libc::S_IFBLK, 8, 0, "block 8:0"),
        ("/tmp/mem", libc::S_IFCHR, 1, 1, "char 1:1"),
    ] {
        let _ = fs::remove_file(path);
        let attempt = format!("mknod {path} ({what})");
        let result = sys::mknod(path, kind | 0o600, major, minor);
        if r.expect_err(&attempt, result, |()| "created".to_owned()) {
            continue;
        }
        let opened = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
        r.expect_err(&format!("open {path}"), opened, |_| "opened".to_owned());
        let _ = fs::remove_file(path);
    }
    for path in ["/dev/mem", "/dev/kmem", "/dev/kmsg", "/dev/sda", "/dev/port"] {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path);
        r.expect_err(&format!("open {path}"), opened, |_| "opened (not read)".to_owned());
    }
    r.exit_code()
}

pub fn open_by_handle() -> i32 {
    let mut r = Report::default();
    let root = match fs::File::open("/") {
        Ok(f) => f,
        Err(e) => {
            r.note("open /", errno(&e));
            return r.exit_code();
        }
    };
    match sys::name_to_handle_at("/") {
        Ok(own) => {
            let kind = own.kind;
            let result = sys::open_by_handle_at(root.as_fd(), &own);
            r.expect_err(
                &format!("open_by_handle_at(handle of / from name_to_handle_at, type {kind})"),
                result,
                |_| "opened".to_owned(),
            );
        }
        Err(e) => r.note("name_to_handle_at(/)", errno(&e)),
    }
    // The shocker handle: FILEID_INO32_GEN with inode 2 (the root of an ext4 file system) and
    // generation 0, which reaches the top of the host file system the rootfs lives on.
    let mut bytes = 2u32.to_ne_bytes().to_vec();
    bytes.extend(0u32.to_ne_bytes());
    let shocker = sys::Handle { kind: 1, bytes };
    let result = sys::open_by_handle_at(root.as_fd(), &shocker);
    r.expect_err("open_by_handle_at(inode 2, shocker)", result, |_| {
        "opened the file system's root directory".to_owned()
    });
    r.exit_code()
}

/// How a forked attempt ended, as a report line.
fn reap(r: &mut Report, attempt: &str, pid: libc::pid_t) {
    match sys::waitpid(pid) {
        Ok(sys::Exit::Code(0)) => r.escaped(attempt, "succeeded (child exited)"),
        Ok(sys::Exit::Code(c)) => r.escaped(attempt, format!("succeeded; child exited with {c}")),
        Ok(sys::Exit::Signal(s)) => r.escaped(attempt, format!("succeeded; child killed by signal {s}")),
        Err(e) => r.escaped(attempt, format!("succeeded; waitpid: {}", errno(&e))),
    }
}

pub fn userns() -> i32 {
    let mut r = Report::default();
    let attempt = "unshare(CLONE_NEWUSER)";
    // In a child, so the probe itself stays in the jail's user namespace.
    match sys::fork() {
        Err(e) => r.note(attempt, format!("fork: {}", errno(&e))),
        Ok(sys::Fork::Child) => {
            let code = match sys::unshare(libc::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(255),
            };
            sys::exit_now(code);
        }
        Ok(sys::Fork::Parent(pid)) => match sys::waitpid(pid) {
            Ok(sys::Exit::Code(0)) => r.escaped(attempt, "created a user namespace"),
            Ok(sys::Exit::Code(code)) => r.blocked(attempt, errno(&io::Error::from_raw_os_error(code))),
            Ok(sys::Exit::Signal(s)) => r.escaped(attempt, format!("child killed by signal {s}")),
            Err(e) => r.escaped(attempt, format!("waitpid: {}", errno(&e))),
        },
    }

    let flags = libc::CLONE_NEWUSER as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    let attempt = "clone(CLONE_NEWUSER|SIGCHLD)";
    match sys::clone_raw(flags) {
        Err(e) => r.blocked(attempt, errno(&e)),
        Ok(pid) => reap(&mut r, attempt, pid),
    }

    let attempt = "clone3(CLONE_NEWUSER)";
    match sys::clone3(libc::CLONE_NEWUSER as u64) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => r.blocked(attempt, errno(&e)),
        Err(e) => r.blocked(attempt, format!("{} (expected ENOSYS)", errno(&e))),
        Ok(pid) => reap(&mut r, attempt, pid),
    }
    r.exit_code()
}
