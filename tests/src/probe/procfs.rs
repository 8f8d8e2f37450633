//! Attacks through /proc and /sys as the jail sees them: sysctl writes, masked reads, leaked fds
//! and `/proc/PID/root` escapes.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

use crate::report::{Report, errno};
use crate::status::open_fds;

/// Reads a sysctl-like file and writes the very same bytes back. Harmless when it works (the value
/// does not change), and proof that the file is writable.
pub fn write_back(report: &mut Report, attempt: &str, path: &str) {
    let value = match fs::read(path) {
        Ok(v) => v,
        Err(e) => return report.blocked(attempt, format!("read {path}: {}", errno(&e))),
    };
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            return report.blocked(attempt, format!("open {path} for writing: {}", errno(&e)));
        }
    };
    match file.write_all(&value) {
        Ok(()) => report.escaped(
            attempt,
            format!("wrote {:?} back to {path}", String::from_utf8_lossy(&value).trim_end()),
        ),
        Err(e) => report.blocked(attempt, format!("write {path}: {}", errno(&e))),
    }
}

/// Opens `path` for writing and closes it again without writing anything.
fn open_for_write_only(report: &mut Report, path: &str) {
    let attempt = format!("open {path} for writing");
    let result = OpenOptions::new().write(true).open(path);
    report.expect_err(&attempt, result, |_| "opened (nothing written)".to_owned());
}

pub fn proc_sys() -> i32 {
    let mut r = Report::default();
    write_back(
        &mut r,
        "write /proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/core_pattern",
    );
    write_back(&mut r, "write /proc/sys/kernel/modprobe", "/proc/sys/kernel/modprobe");
    open_for_write_only(&mut r, "/proc/sys/vm/drop_caches");
    open_for_write_only(&mut r, "/proc/sysrq-trigger");
    r.exit_code()
}

/// What reading a masked path gives.
fn read_masked_file(r: &mut Report, path: &str) {
    let attempt = format!("read {path}");
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return r.blocked(&attempt, errno(&e)),
    };
    let meta = file.metadata();
    if let Ok(m) = &meta
        && m.file_type().is_char_device()
    {
        let (major, minor) = (libc::major(m.rdev()), libc::minor(m.rdev()));
        if (major, minor) == (1, 3) {
            return r.blocked(&attempt, "masked by /dev/null");
        }
        return r.escaped(&attempt, format!("opened a char device {major}:{minor}"));
    }
    if path == "/proc/kmsg" {
        // Reading /proc/kmsg consumes the kernel log for everybody: opening it is proof enough.
        return r.escaped(&attempt, "opened the real /proc/kmsg (not read: reads are destructive)");
    }
    let mut buf = vec![0u8; 4096];
    match file.read(&mut buf) {
        Ok(0) => r.blocked(&attempt, "empty"),
        Ok(n) => r.escaped(&attempt, format!("read {n} bytes: {:?}", preview(&buf[..n]))),
        Err(e) => r.blocked(&attempt, format!("read: {}", errno(&e))),
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(60).collect()
}

fn list_masked_dir(r: &mut Report, path: &str) {
    let attempt = format!("list {path}");
    match fs::read_dir(path) {
        Err(e) => r.blocked(&attempt, errno(&e)),
        Ok(dir) => {
            let names: Vec<String> = dir
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect();
            if names.is_empty() {
                r.blocked(&attempt, "empty directory");
            } else {
                r.escaped(&attempt, format!("{} entries: {}", names.len(), names.join(" ")));
            }
        }
    }
}

pub fn masked_reads() -> i32 {
    let mut r = Report::default();
    for path in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/kmsg",
    ] {
        read_masked_file(&mut r, path);
    }
    for path in ["/sys/firmware", "/proc/acpi", "/proc/scsi"] {
        list_masked_dir(&mut r, path);
    }
    r.exit_code()
}

/// (dev, ino) of a path, following symlinks (and /proc magic links).
fn dev_ino(path: &str) -> io::Result<(u64, u64)> {
    fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

pub fn fds() -> i32 {
    let mut r = Report::default();
    for (fd, target) in open_fds() {
        let attempt = format!("fd {fd}");
        if fd > 2 {
            r.escaped(&attempt, format!("open beyond stdio: {target}"));
            continue;
        }
        let anonymous = ["pipe:", "socket:", "anon_inode:"]
            .iter()
            .any(|p| target.starts_with(p));
        if anonymous {
            r.blocked(&attempt, format!("{target} (stdio, no path)"));
            continue;
        }
        // A path: it must name, inside the jail, the very object the fd refers to.
        let fd_path = format!("/proc/self/fd/{fd}");
        let by_fd = dev_ino(&fd_path);
        let by_path = dev_ino(&target);
        match (by_fd, by_path) {
            (Ok(a), Ok(b)) if a == b && target.starts_with('/') => {
                r.blocked(&attempt, format!("{target} (inside the jail)"));
            }
            _ if fs::metadata(&fd_path).is_ok_and(|m| m.is_dir()) => r.escaped(
                &attempt,
                format!("{target}: a directory outside the jail (openat/fchdir reach the host)"),
            ),
            _ => r.note(
                &attempt,
                format!("{target}: a host file given as stdio by the caller (not a directory)"),
            ),
        }
    }
    r.exit_code()
}

pub fn proc_root() -> i32 {
    let mut r = Report::default();
    let root = match dev_ino("/") {
        Ok(v) => v,
        Err(e) => {
            r.escaped("stat /", errno(&e));
            return r.exit_code();
        }
    };
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    pids.sort_unstable();
    for pid in &pids {
        check_same(&mut r, &format!("/proc/{pid}/root"), root);
        check_same(&mut r, &format!("/proc/{pid}/root/../../.."), root);
        check_cwd(&mut r, *pid);
    }
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let attempt = "see host processes";
    if pids.len() > 10 {
        r.escaped(
            attempt,
            format!("host processes visible: {} pids: {}", pids.len(), list.join(" ")),
        );
    } else {
        r.blocked(attempt, format!("{} pids visible: {}", pids.len(), list.join(" ")));
    }
    r.exit_code()
}

fn check_same(r: &mut Report, path: &str, root: (u64, u64)) {
    let attempt = format!("stat {path}/");
    match dev_ino(&format!("{path}/")) {
        Err(e) => r.blocked(&attempt, errno(&e)),
        Ok(v) if v == root => r.blocked(&attempt, "the jail's own root"),
        Ok((dev, ino)) => r.escaped(
            &attempt,
            format!("another directory than the jail root: dev {dev} ino {ino}"),
        ),
    }
}

/// A process's cwd may be any directory of the jail: it must be the directory its path names here.
fn check_cwd(r: &mut Report, pid: u32) {
    let link = format!("/proc/{pid}/cwd");
    let attempt = format!("stat {link}/");
    let target = match fs::read_link(&link) {
        Ok(t) => t,
        Err(e) => return r.blocked(&attempt, errno(&e)),
    };
    let target = target.to_string_lossy().into_owned();
    match (dev_ino(&format!("{link}/")), dev_ino(&target)) {
        (Err(e), _) => r.blocked(&attempt, errno(&e)),
        (Ok(a), Ok(b)) if a == b => r.blocked(&attempt, format!("{target}, inside the jail")),
        (Ok(a), b) => r.escaped(
            &attempt,
            format!("cwd {target} is outside the jail (dev/ino {a:?}, same path here: {b:?})"),
        ),
    }
}
