//! A supervisor's runtime state file (`STATE_DIR/jails/NAME/state.json`), written atomically by
//! `jail-init supervise` at every change, and the checks that tell whether the processes it names
//! are still the same processes.
//!
//! A pid alone proves nothing (pids are reused): a process is "the same" only if its start time
//! (field 22 of `/proc/PID/stat`, in clock ticks since boot) matches the one recorded.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::api::RunState;

/// The contents of `state.json`. Unknown fields are ignored, missing ones default, so the daemon
/// and the supervisor can each be a version ahead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorState {
    /// The jail's state.
    pub state: RunState,
    /// The supervisor's pid.
    #[serde(default)]
    pub supervisor_pid: i32,
    /// The supervisor's start time.
    #[serde(default)]
    pub supervisor_start: u64,
    /// Host pid of the jail's init.
    #[serde(default)]
    pub pid: Option<i32>,
    /// The init's start time.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// Unix time the init started.
    #[serde(default)]
    pub started_at: Option<u64>,
    /// Restarts since the jail was started.
    #[serde(default)]
    pub restarts: u32,
    /// Exit status of the last init that ended.
    #[serde(default)]
    pub exit_status: Option<i32>,
    /// Landlock status in words.
    #[serde(default)]
    pub landlock: Option<String>,
    /// The uid map, as `/proc/PID/uid_map` has it.
    #[serde(default)]
    pub uid_map: Option<String>,
    /// Why the jail failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The jail's cgroup while it runs.
    #[serde(default)]
    pub cgroup: Option<libjail::cgroup::CgroupPaths>,
    /// What the network setup made while it runs.
    #[serde(default)]
    pub net: Option<libjail::net::NetSetup>,
}

impl SupervisorState {
    /// Reads `path`: `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> std::io::Result<Option<SupervisorState>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes it to `path` atomically (temp file, fsync, rename, fsync of the directory).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        write_atomic(path, &text, 0o600)
    }

    /// Whether the supervisor recorded here is still alive.
    pub fn supervisor_alive(&self) -> bool {
        self.supervisor_pid > 0 && same_process(self.supervisor_pid, self.supervisor_start)
    }

    /// Whether the init recorded here is still alive.
    pub fn init_alive(&self) -> bool {
        match (self.pid, self.pid_start) {
            (Some(pid), Some(start)) if pid > 0 => same_process(pid, start),
            _ => false,
        }
    }
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`); `None` when there is no such
/// process, or it is a zombie (already dead, only waiting to be reaped).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: the comm may hold spaces and parentheses.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // After the state (field 3) come fields 4..; the start time is field 22.
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` is alive and started at `start`.
pub fn same_process(pid: i32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// Writes `data` to `path` atomically: a temp file beside it (mode `mode`), fsync, rename over
/// `path`, fsync of the directory. A crash leaves the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    write_replace(path, data, mode, true)
}

/// Like [`write_atomic`], with the fsyncs only when `durable`: for runtime files (`RUN_DIR`,
/// normally a tmpfs) that a reboot discards anyway, the rename alone keeps readers from ever
/// seeing half a file.
pub fn write_replace(path: &Path, data: &[u8], mode: u32, durable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        if durable { sync_dir(dir) } else { Ok(()) }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsync of a directory, so a rename or unlink in it is on disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_stable() {
        let me = i32::try_from(std::process::id()).unwrap();
        let t = start_time(me).expect("own start time");
        assert!(same_process(me, t));
        assert!(!same_process(me, t + 1));
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn reads_the_contract_shape() {
        let text = r#"{"state": "running", "supervisor_pid": 10, "supervisor_start": 5, "pid": 11,
            "pid_start": 6, "started_at": 1700000000, "restarts": 0, "exit_status": null,
            "landlock": "fully enforced", "uid_map": "0 0 4294967295\n", "error": null, "extra": 1}"#;
        let s: SupervisorState = serde_json::from_str(text).unwrap();
        assert_eq!(s.state, RunState::Running);
        assert_eq!(s.pid, Some(11));
        let minimal: SupervisorState = serde_json::from_str(r#"{"state":"failed","error":"x"}"#).unwrap();
        assert_eq!(minimal.error.as_deref(), Some("x"));
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
    }
}
