//! The runtime and the host as targets: overwriting or reading the runtime's own process through
//! `/proc/1` (runc CVE-2019-5736, where the jail's root opened the runtime's binary through
//! `/proc/PID/exe` and rewrote it), and signalling host processes.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::report::{Report, errno};
use crate::sys;

/// Blocked on EPERM or EACCES (a ptrace access check or a proc permission check said no); any
/// other outcome means the check passed.
fn access_denied<T>(r: &mut Report, attempt: &str, result: io::Result<T>, worked: impl FnOnce(T) -> String) {
    match result {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => r.blocked(attempt, errno(&e)),
        Err(e) => r.escaped(
            attempt,
            format!("passed the access check, then failed with {}", errno(&e)),
        ),
        Ok(v) => {
            let detail = worked(v);
            r.escaped(attempt, detail);
        }
    }
}

/// Opens `path` read-only or write-only, plus `flags` (O_PATH makes the access mode moot). Never
/// O_TRUNC or O_CREAT, and nothing is written: an open that works changes nothing.
fn open_flags(path: &str, write: bool, flags: i32) -> io::Result<fs::File> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(flags | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
}

/// The pids this process can see in its /proc.
fn visible_pids() -> BTreeSet<i32> {
    fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

pub fn runtime_exe() -> i32 {
    let mut r = Report::default();
    if std::process::id() == 1 {
        r.note(
            "pid 1",
            "is the probe itself: run it under `jailctl run --init` to reach the runtime's reaper",
        );
        return r.exit_code();
    }
    let comm = fs::read_to_string("/proc/1/comm").unwrap_or_else(|e| errno(&e));
    r.note(
        "pid 1",
        format!("comm {:?} (under --init: the runtime's reaper)", comm.trim_end()),
    );

    // The CVE-2019-5736 path: a writable (or O_PATH, reopened later) descriptor of the runtime's
    // binary. O_WRONLY without O_TRUNC writes nothing even when the open works.
    access_denied(
        &mut r,
        "open /proc/1/exe O_WRONLY",
        open_flags("/proc/1/exe", true, 0),
        |_| "opened the runtime's binary for writing (nothing written)".to_owned(),
    );
    access_denied(
        &mut r,
        "open /proc/1/exe O_RDONLY",
        open_flags("/proc/1/exe", false, 0),
        |_| "opened the runtime's binary".to_owned(),
    );
    access_denied(
        &mut r,
        "open /proc/1/exe O_PATH",
        open_flags("/proc/1/exe", false, libc::O_PATH),
        |_| "got an O_PATH descriptor of the runtime's binary (reopenable via /proc/self/fd)".to_owned(),
    );
    access_denied(&mut r, "readlink /proc/1/exe", fs::read_link("/proc/1/exe"), |p| {
        format!("-> {}", p.display())
    });
    for file in ["environ", "maps", "auxv", "syscall"] {
        let path = format!("/proc/1/{file}");
        let result = open_flags(&path, false, 0).and_then(|mut f| {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map(|_| buf)
        });
        match result {
            Ok(buf) if buf.is_empty() => r.blocked(&format!("read {path}"), "empty"),
            other => access_denied(&mut r, &format!("read {path}"), other, |buf| {
                format!("read {} bytes", buf.len())
            }),
        }
    }
    // Opening is proof enough for mem: no byte of the reaper is read.
    access_denied(
        &mut r,
        "open /proc/1/mem O_RDONLY",
        open_flags("/proc/1/mem", false, 0),
        |_| "opened (not read)".to_owned(),
    );
    fds_of_pid_1(&mut r);
    let mut buf = [0u8; 8];
    access_denied(
        &mut r,
        "process_vm_readv(1)",
        sys::process_vm_read(1, 0x40_0000, &mut buf),
        |n| format!("read {n} bytes of the reaper's memory"),
    );
    match sys::pidfd_open(1) {
        Err(e) => r.note("pidfd_open(1)", errno(&e)),
        Ok(pidfd) => {
            for target in 0..3 {
                access_denied(
                    &mut r,
                    &format!("pidfd_getfd(pid 1, fd {target})"),
                    sys::pidfd_getfd(pidfd.as_fd(), target),
                    |_| "took a copy of the reaper's descriptor".to_owned(),
                );
            }
        }
    }
    ptrace_pid_1(&mut r);
    kill_pid_1(&mut r);
    r.exit_code()
}

/// /proc/1/fd: the names may be listable (the directory belongs to the jail's root when ids pass
/// through), but no link may be followed or read.
fn fds_of_pid_1(r: &mut Report) {
    let names: Vec<String> = match fs::read_dir("/proc/1/fd") {
        Err(e) => return r.blocked("list /proc/1/fd", errno(&e)),
        Ok(dir) => dir
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect(),
    };
    r.note("list /proc/1/fd", format!("names only: [{}]", names.join(" ")));
    for name in names {
        let path = format!("/proc/1/fd/{name}");
        access_denied(r, &format!("readlink {path}"), fs::read_link(&path), |p| {
            format!("-> {}", p.display())
        });
        access_denied(r, &format!("open {path}"), open_flags(&path, false, 0), |_| {
            "opened the reaper's descriptor".to_owned()
        });
    }
}

/// PTRACE_SEIZE, then PTRACE_ATTACH, of pid 1, from a child: a tracer that exits detaches, so an
/// attach that works leaves nothing behind. SEIZE comes first because it does not stop the tracee;
/// ATTACH (which queues a SIGSTOP) is tried only when SEIZE was refused — both pass the same check.
fn ptrace_pid_1(r: &mut Report) {
    const PTRACE_ATTACH: libc::c_uint = 16;
    const PTRACE_SEIZE: libc::c_uint = 0x4206;
    match sys::fork() {
        Err(e) => r.note("fork", errno(&e)),
        Ok(sys::Fork::Child) => {
            let mut child = Report::default();
            let seize = sys::ptrace(PTRACE_SEIZE, 1);
            let seized = seize.is_ok();
            access_denied(&mut child, "ptrace(PTRACE_SEIZE, 1)", seize, |_| {
                "now tracing the reaper (detached when this child exits)".to_owned()
            });
            if seized {
                child.note("ptrace(PTRACE_ATTACH, 1)", "not tried: PTRACE_SEIZE already worked");
            } else {
                access_denied(
                    &mut child,
                    "ptrace(PTRACE_ATTACH, 1)",
                    sys::ptrace(PTRACE_ATTACH, 1),
                    |_| "now tracing the reaper (detached when this child exits)".to_owned(),
                );
            }
            sys::exit_now(child.exit_code());
        }
        Ok(sys::Fork::Parent(pid)) => match sys::waitpid(pid) {
            Ok(sys::Exit::Code(0)) => r.absorb_child(false),
            Ok(sys::Exit::Code(_)) => r.absorb_child(true),
            Ok(sys::Exit::Signal(s)) => r.escaped("ptrace pid 1", format!("child killed by signal {s}")),
            Err(e) => r.escaped("ptrace pid 1", format!("waitpid: {}", errno(&e))),
        },
    }
}

/// `kill(1, SIGKILL)` from a child in the jail: the kernel drops SIGKILL sent to a pid namespace's
/// init from inside, so the reaper (and with it this probe) lives on. Reported, not judged: if it
/// did die, the whole jail would go with it and the probe's output would end here.
fn kill_pid_1(r: &mut Report) {
    match sys::fork() {
        Err(e) => r.note("fork", errno(&e)),
        Ok(sys::Fork::Child) => {
            let code = match sys::kill(1, libc::SIGKILL) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(255),
            };
            sys::exit_now(code);
        }
        Ok(sys::Fork::Parent(pid)) => {
            let sent = match sys::waitpid(pid) {
                Ok(sys::Exit::Code(0)) => "kill returned 0".to_owned(),
                Ok(sys::Exit::Code(c)) => format!("kill failed: {}", errno(&io::Error::from_raw_os_error(c))),
                Ok(sys::Exit::Signal(s)) => format!("child killed by signal {s}"),
                Err(e) => format!("waitpid: {}", errno(&e)),
            };
            let alive = match sys::kill(1, 0) {
                Ok(()) => "pid 1 still alive".to_owned(),
                Err(e) => format!("kill(1, 0): {}", errno(&e)),
            };
            r.note("kill(1, SIGKILL) from a child", format!("{sent}; {alive}"));
        }
    }
}

/// How far [`host_signals`] probes pid numbers with `kill(pid, 0)`.
const PID_SCAN: i32 = 65536;

pub fn host_signals(host_pid: Option<i32>) -> i32 {
    let mut r = Report::default();
    // A second jail process, so that kill(-1, 0) has something of the jail's to reach.
    let sleeper = match sys::fork() {
        Err(e) => {
            r.note("fork", errno(&e));
            None
        }
        Ok(sys::Fork::Child) => loop {
            sys::pause();
        },
        Ok(sys::Fork::Parent(pid)) => Some(pid),
    };
    match sys::kill(-1, 0) {
        Ok(()) => r.note(
            "kill(-1, 0)",
            "reached at least one process (checked below: only the jail's)",
        ),
        Err(e) => r.note("kill(-1, 0)", errno(&e)),
    }
    let mut answered = Vec::new();
    for pid in 1..=PID_SCAN {
        match sys::kill(pid, 0) {
            Ok(()) => answered.push(pid),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => answered.push(pid),
            Err(_) => {}
        }
    }
    let visible = visible_pids();
    let hidden: Vec<i32> = answered.iter().copied().filter(|p| !visible.contains(p)).collect();
    let list = |pids: &[i32]| pids.iter().map(i32::to_string).collect::<Vec<_>>().join(" ");
    let attempt = format!("kill(pid, 0) for pid 1..={PID_SCAN}");
    if !hidden.is_empty() {
        r.escaped(
            &attempt,
            format!("processes outside the jail's /proc answered: {}", list(&hidden)),
        );
    } else if answered.len() >= 10 {
        r.escaped(
            &attempt,
            format!("{} processes answered: {}", answered.len(), list(&answered)),
        );
    } else {
        r.blocked(
            &attempt,
            format!(
                "only the jail's {} processes answered: {}",
                answered.len(),
                list(&answered)
            ),
        );
    }
    match host_pid {
        None => r.note("host pid", "none given"),
        Some(pid) if visible.contains(&pid) => r.note(
            &format!("kill({pid}, 0)"),
            "that number is also a jail pid: not conclusive",
        ),
        Some(pid) => {
            let attempt = format!("kill({pid}, 0) (a host pid)");
            match sys::kill(pid, 0) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => r.blocked(&attempt, errno(&e)),
                Err(e) => r.escaped(&attempt, format!("the process exists here: {}", errno(&e))),
                Ok(()) => r.escaped(&attempt, "signal 0 delivered"),
            }
            let attempt = format!("pidfd_open({pid}) (a host pid)");
            match sys::pidfd_open(pid) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => r.blocked(&attempt, errno(&e)),
                Err(e) => r.escaped(&attempt, format!("the process exists here: {}", errno(&e))),
                Ok(_) => r.escaped(&attempt, "opened a pidfd of a host process"),
            }
        }
    }
    if let Some(pid) = sleeper {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid);
    }
    r.exit_code()
}
