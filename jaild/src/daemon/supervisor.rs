//! The per-jail supervisor (`jail-init supervise`, DESIGN §9): how jaild starts one and talks
//! to it.
//!
//! jaild is multi-threaded (tokio and its blocking pool), so it never forks to set a jail up: it
//! execs the single-threaded
//! `jail-init supervise`, which detaches (setsid, double fork), starts the jail, writes
//! `state.json` at every change, keeps the console pty and its log, applies the restart policy,
//! and answers on its control socket (one JSON request per line, one JSON reply line). The
//! supervisor outlives jaild; a restarted jaild finds it again through `state.json`.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::api::JailConfig;

/// What `jail-init supervise` is started with.
#[derive(Clone, Debug)]
pub struct Launch<'a> {
    /// The `jail-init` binary.
    pub jail_init: &'a Path,
    /// The jail.
    pub config: &'a JailConfig,
    /// The resolved policy, as JSON.
    pub policy_json: &'a Path,
    /// Where the supervisor writes its state.
    pub state: &'a Path,
    /// The console log.
    pub console_log: &'a Path,
    /// The control socket.
    pub control: &'a Path,
    /// The supervisor's stderr.
    pub supervisor_log: &'a Path,
    /// The first signal of a stop, when not the supervisor's default.
    pub stop_signal: Option<i32>,
    /// The id pool's lock directory.
    pub id_pool_dir: Option<&'a Path>,
    /// The id pool's range, `START:SLOTS`.
    pub id_pool: Option<&'a str>,
    /// jaild's address pool.
    pub address_pool: Option<&'a libjail::net::AddressPool>,
}

impl Launch<'_> {
    /// The arguments of `jail-init`.
    pub fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let c = self.config;
        let mut a = vec![
            "supervise".to_string(),
            "--policy-json".to_string(),
            path(self.policy_json),
            "--name".to_string(),
            c.name.clone(),
            "--root".to_string(),
            c.root.clone(),
            "--state".to_string(),
            path(self.state),
            "--console-log".to_string(),
            path(self.console_log),
            "--control".to_string(),
            path(self.control),
            "--restart".to_string(),
            c.restart.on_exit.as_str().to_string(),
        ];
        if let Some(max) = c.restart.max {
            a.extend(["--restart-max".to_string(), max.to_string()]);
        }
        if let Some(ms) = c.restart.backoff_ms {
            a.extend(["--restart-backoff-ms".to_string(), ms.to_string()]);
        }
        if let Some(sig) = self.stop_signal {
            a.extend(["--stop-signal".to_string(), sig.to_string()]);
        }
        if let Some(dir) = self.id_pool_dir {
            a.extend(["--id-pool-dir".to_string(), path(dir)]);
        }
        if let Some(range) = self.id_pool {
            a.extend(["--id-pool".to_string(), range.to_string()]);
        }
        if let Some(pool) = self.address_pool {
            a.extend([
                "--address-pool".to_string(),
                pool.cidr.to_string(),
                "--address-dir".to_string(),
                path(&pool.dir),
            ]);
        }
        a.push("--".to_string());
        a.extend(c.command.iter().cloned());
        a
    }

    /// Runs `jail-init supervise`: stdin on /dev/null, stdout read back, stderr appended to the
    /// supervisor log. The supervisor detaches once its first state is written, so this returns
    /// quickly with the exit status of the process we started (0 when the supervisor is on its
    /// way) and what it printed (why not, otherwise); gives up after `limit`.
    pub async fn run(&self, limit: Duration) -> Result<(std::process::ExitStatus, String), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(self.supervisor_log)
            .map_err(|e| format!("open {}: {e}", self.supervisor_log.display()))?;
        let args = self.args();
        tracing::debug!(jail = %self.config.name, ?args, "exec jail-init supervise");
        let mut cmd = tokio::process::Command::new(self.jail_init);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .current_dir("/")
            .kill_on_drop(false);
        let child = cmd
            .spawn()
            .map_err(|e| format!("exec {}: {e}", self.jail_init.display()))?;
        // It returns once its detached child has written the first state; a state directory
        // that hangs (a dead network filesystem) must not hold the jail's lock forever.
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| {
                format!(
                    "{} supervise did not report within {} s (is the state directory reachable?)",
                    self.jail_init.display(),
                    limit.as_secs()
                )
            })?
            .map_err(|e| format!("wait for {}: {e}", self.jail_init.display()))?;
        Ok((out.status, String::from_utf8_lossy(&out.stdout).trim().to_string()))
    }
}

/// The size of `path` (0 when missing): where a new run's messages start in the supervisor log.
pub fn log_offset(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The supervisor log from `offset` (at most its last 2 KiB), trimmed; empty when there is none.
pub fn log_tail(path: &Path, offset: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = offset.max(len.saturating_sub(2048));
    if f.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

/// One request on the control socket at `path`: sends `request` as a line, returns the reply
/// line parsed. Fails when the socket cannot be reached, or no reply comes within `timeout`.
pub async fn control(path: &Path, request: &Value, timeout: Duration) -> Result<Value, String> {
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| format!("connect to {}: {e}", path.display()))?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        line.push(b'\n');
        write
            .write_all(&line)
            .await
            .map_err(|e| format!("write to {}: {e}", path.display()))?;
        let mut reply = String::new();
        BufReader::new(read)
            .read_line(&mut reply)
            .await
            .map_err(|e| format!("read from {}: {e}", path.display()))?;
        if reply.trim().is_empty() {
            return Err(format!(
                "{}: the supervisor closed the connection without a reply",
                path.display()
            ));
        }
        serde_json::from_str::<Value>(reply.trim())
            .map_err(|e| format!("{}: bad reply {:?}: {e}", path.display(), reply.trim()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{}: no reply within {} ms",
            path.display(),
            timeout.as_millis()
        )),
    }
}

/// Whether a control reply says `ok`; else its error.
pub fn reply_ok(reply: &Value) -> Result<(), String> {
    if reply.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(reply
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| reply.to_string(), str::to_string))
    }
}

/// Parses a signal: a number (1–64), or a name with or without `SIG` (`TERM`, `SIGKILL`,
/// `RTMIN+3`, `SIGRTMAX-1`), any case.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let bad = || format!("unknown signal `{s}` (a number or a name such as TERM, INT, RTMIN+3)");
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32, String> {
        // A small unsigned offset: `RTMAX--2147483648` overflowed here (found by the api_body
        // fuzz target).
        let off: u8 = if rest.is_empty() {
            0
        } else {
            rest.parse().map_err(|_| bad())?
        };
        let n = base + sign * i32::from(off);
        if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest.strip_prefix('+').unwrap_or(rest), 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(libc::SIGRTMAX(), rest.strip_prefix('-').unwrap_or(rest), -1);
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| bad())
}

/// The stop signal of `config`: its own, else SIGRTMIN+3 when the init is systemd (which
/// halts on it), else `None` (the supervisor's default, SIGTERM).
pub fn stop_signal(config: &JailConfig) -> Result<Option<i32>, String> {
    if let Some(s) = &config.stop_signal {
        return parse_signal(s).map(Some);
    }
    Ok(init_is_systemd(config).then(|| libc::SIGRTMIN() + 3))
}

/// Whether the jail's init command is systemd: named so, or `/sbin/init` linking to it.
fn init_is_systemd(config: &JailConfig) -> bool {
    let Some(argv0) = config.command.first() else {
        return false;
    };
    if Path::new(argv0).file_name().is_some_and(|n| n == "systemd") {
        return true;
    }
    // Read the link inside the root without following it onto the host.
    let inside = PathBuf::from(&config.root).join(argv0.trim_start_matches('/'));
    std::fs::read_link(inside).is_ok_and(|target| target.file_name().is_some_and(|n| n == "systemd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(libc::SIGKILL));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("RTMAX-1"), Ok(libc::SIGRTMAX() - 1));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("RTMIN+99").is_err());
    }
}

#[cfg(test)]
mod signal_tests {
    use super::parse_signal;

    #[test]
    fn rt_offsets_never_overflow() {
        // Regression inputs from fuzz/regressions/api_body.
        assert!(parse_signal("SIGRTMAX--2147483648").is_err());
        assert!(parse_signal("RTMIN+2147483647").is_err());
        assert!(parse_signal("RTMIN+-1").is_err());
        assert_eq!(parse_signal("RTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("SIGRTMAX-1"), Ok(libc::SIGRTMAX() - 1));
        assert_eq!(parse_signal("term"), Ok(libc::SIGTERM));
    }
}
