//! The bodies of jaild's REST API, version 1 (`docs/api.md`, `docs/openapi.yaml`).
//!
//! Requests are read strictly (`deny_unknown_fields`): a misspelt field is an error, not a
//! silently ignored wish. Responses may grow fields; clients must ignore the ones they do not
//! know.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The path prefix of this API version.
pub const API_PREFIX: &str = "/v1";

/// Where jaild listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/jaild/jaild.sock";

/// The environment variable jailctl reads the socket path from.
pub const SOCKET_ENV: &str = "JAILD_SOCKET";

/// The longest jail name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a jail name: `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}`. The name becomes a directory name
/// under the state and run directories, so `/`, `..`, a leading dot and control characters are
/// refused.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a jail name cannot be empty".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "a jail name has at most {MAX_NAME_LEN} characters, this one has {}",
            name.len()
        ));
    }
    if name.contains('/') {
        return Err("a jail name cannot contain `/`".to_string());
    }
    if name.contains("..") {
        return Err("a jail name cannot contain `..`".to_string());
    }
    let first_ok = name.as_bytes()[0].is_ascii_alphanumeric();
    if !first_ok {
        return Err("a jail name must start with a letter or a digit".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "a jail name may contain only letters, digits, `_`, `.` and `-`, not {}",
            c.escape_default()
        ));
    }
    Ok(())
}

/// An error answer: every non-2xx status carries one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in one line.
    pub error: String,
    /// The step that failed (`parse the request`, `check the name`, `start the supervisor`, ...).
    pub step: String,
    /// How to fix it, when jaild can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// When the supervisor restarts a jail whose init exited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartOn {
    /// Never: the jail stays stopped (the default).
    #[default]
    Never,
    /// When the init exits non-zero or is killed by a signal.
    OnFailure,
    /// Whenever the init exits, unless the jail is being stopped.
    Always,
}

impl RestartOn {
    /// The word the API and `jail-init supervise --restart` use.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartOn::Never => "never",
            RestartOn::OnFailure => "on-failure",
            RestartOn::Always => "always",
        }
    }
}

impl fmt::Display for RestartOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RestartOn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" | "no" => Ok(RestartOn::Never),
            "on-failure" => Ok(RestartOn::OnFailure),
            "always" => Ok(RestartOn::Always),
            _ => Err(format!("unknown restart policy `{s}` (never, on-failure, always)")),
        }
    }
}

/// The restart policy: what happens when the jail's init exits by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// When to restart.
    #[serde(default)]
    pub on_exit: RestartOn,
    /// At most this many restarts in a row (default 5; 0: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Wait this long before the first restart; the wait doubles with each restart in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
}

/// `POST /v1/jails`: a new jail. Only `name` and `root` are required.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The jail's name, `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}`.
    pub name: String,
    /// The root directory: an absolute path with no symlink in it, whose parent keeps non-root
    /// users out, used by no other jail.
    pub root: String,
    /// A shipped policy name or an absolute policy file path (default: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// `KEY=VALUE` overrides of single policy fields, applied in order after `ids` and `hostname`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<String>,
    /// The jail's hostname (default: the policy's, else the jail's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Id mode: `isolated`, `passthrough`, `shifted` or `custom` (default: the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
    /// Start the jail whenever jaild starts.
    #[serde(default)]
    pub autostart: bool,
    /// The init command and its arguments (default: `/sbin/init`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// What happens when the init exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The signal `stop` sends first: a number or a name (`TERM`, `SIGRTMIN+3`); default
    /// SIGTERM, or SIGRTMIN+3 when the init is systemd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// A jail's configuration as jaild keeps it (`STATE_DIR/jails/NAME/config.yaml`): the create
/// request, normalised (absolute root, default command), and when it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JailConfig {
    /// The jail's name.
    pub name: String,
    /// The root directory, absolute and canonical.
    pub root: String,
    /// The policy as given (shipped name or absolute file path); `None` is `default`.
    #[serde(default)]
    pub policy: Option<String>,
    /// `--set` overrides, in order.
    #[serde(default)]
    pub sets: Vec<String>,
    /// The hostname asked for.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The id mode asked for.
    #[serde(default)]
    pub ids: Option<String>,
    /// Start with the daemon.
    #[serde(default)]
    pub autostart: bool,
    /// The init command.
    pub command: Vec<String>,
    /// The restart policy.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The first signal of `stop`, as given.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Unix time of the create.
    #[serde(default)]
    pub created_at: u64,
}

impl JailConfig {
    /// The policy layers this config adds on top of its policy, in the order `jailctl run`
    /// applies them: the id mode and hostname first, then the explicit `sets`.
    pub fn policy_sets(&self) -> Vec<String> {
        let yaml_string = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut sets = Vec::new();
        if let Some(mode) = &self.ids {
            sets.push(format!("ids.mode={}", yaml_string(mode)));
        }
        if let Some(h) = &self.hostname {
            sets.push(format!("hostname={}", yaml_string(h)));
        }
        sets.extend(self.sets.iter().cloned());
        sets
    }
}

/// The state a jail is in, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// The supervisor is setting the jail up.
    Starting,
    /// The init exited and the restart policy restarts it (after its back-off).
    Restarting,
    /// The init runs.
    Running,
    /// A stop is in progress.
    Stopping,
    /// Not running (never started, stopped, or its init exited for good).
    Stopped,
    /// The last start failed, or the init exited non-zero and is not restarted; `error` or
    /// `exit_status` says why.
    Failed,
    /// A state this jaild does not know (a newer supervisor): taken as active while the
    /// supervisor lives.
    #[serde(other)]
    Unknown,
}

impl RunState {
    /// The lowercase word.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::Restarting => "restarting",
            RunState::Running => "running",
            RunState::Stopping => "stopping",
            RunState::Stopped => "stopped",
            RunState::Failed => "failed",
            RunState::Unknown => "unknown",
        }
    }

    /// Whether a supervisor is (supposed to be) alive in this state.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunState::Starting | RunState::Restarting | RunState::Running | RunState::Stopping | RunState::Unknown
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One jail in `GET /v1/jails` (and the head of `inspect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailSummary {
    /// The name.
    pub name: String,
    /// The state.
    pub state: RunState,
    /// Host pid of the jail's init while it runs.
    pub pid: Option<i32>,
    /// The id mode, with the host range of the jail's root when it runs (`isolated 2000000000+65536`).
    pub ids: String,
    /// The hostname: the one asked for, else the policy's, else the name.
    pub hostname: String,
    /// The jail's first address while it runs with a network of its own.
    pub ip: Option<String>,
    /// The root directory.
    pub root: String,
    /// Started with the daemon.
    pub autostart: bool,
    /// Restarts since the last start.
    pub restarts: u32,
}

/// Seccomp as `/proc/PID/status` shows it for the init.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompStatus {
    /// `Seccomp:` 0 off, 1 strict, 2 filter.
    pub mode: Option<u32>,
    /// `Seccomp_filters:`: how many filters are stacked.
    pub filters: Option<u32>,
    /// `NoNewPrivs:`.
    pub no_new_privs: Option<bool>,
}

/// The capability mask, as a number and as names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The mask the jail's root holds (policy mask plus what the allowances imply), hex.
    pub mask: String,
    /// The same, as names.
    pub names: Vec<String>,
    /// `CapBnd:` of the running init, hex, when it runs.
    pub bounding: Option<String>,
    /// `CapEff:` of the running init, hex, when it runs.
    pub effective: Option<String>,
}

/// What `jailctl exec` needs to join a running jail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecHint {
    /// Host pid of the jail's init.
    pub pid: i32,
    /// Its start time (field 22 of `/proc/PID/stat`), against pid reuse.
    pub pid_start: u64,
    /// The effective policy the init runs under.
    pub policy: libjail::policy::Policy,
}

/// `GET /v1/jails/{name}`: everything about one jail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JailInspect {
    /// The head, as in the list.
    #[serde(flatten)]
    pub summary: JailSummary,
    /// The configuration.
    pub config: JailConfig,
    /// The effective policy: the one the running init was started with, else what a start would use
    /// now (`None` when it does not resolve; `policy_error` says why).
    pub policy: Option<libjail::policy::Policy>,
    /// Why the policy does not resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_error: Option<String>,
    /// The init's start time (field 22 of `/proc/PID/stat`).
    pub pid_start: Option<u64>,
    /// Host pid of the supervisor.
    pub supervisor_pid: Option<i32>,
    /// Unix time the init was started.
    pub started_at: Option<u64>,
    /// Exit status of the last init that ended.
    pub exit_status: Option<i32>,
    /// Why the last start or run failed.
    pub error: Option<String>,
    /// The init's namespaces (`/proc/PID/ns/*` link targets), by kind.
    pub namespaces: BTreeMap<String, String>,
    /// uid map of the jail's user namespace (`/proc/PID/uid_map`).
    pub uid_map: Option<String>,
    /// gid map of the jail's user namespace.
    pub gid_map: Option<String>,
    /// The capability mask.
    pub capabilities: Capabilities,
    /// Landlock status in words (`None` when off or not running).
    pub landlock: Option<String>,
    /// Seccomp status of the init.
    pub seccomp: SeccompStatus,
    /// The supervisor's control socket (`jailctl console` attaches there).
    pub control_socket: String,
    /// The console log.
    pub console_log: String,
    /// For `jailctl exec`, while the jail runs.
    pub plan_hint: Option<ExecHint>,
}

/// `GET /v1/jails/{name}/stats`: usage of the running jail's cgroup; `None` where the host
/// offers no such figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStats {
    /// CPU time used, µs.
    pub cpu_usec: Option<u64>,
    /// Memory in use, bytes.
    pub memory_current: Option<u64>,
    /// The most memory ever used, bytes.
    pub memory_peak: Option<u64>,
    /// Tasks now.
    pub pids_current: Option<u64>,
    /// Bytes read from block devices.
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
}

impl From<libjail::cgroup::CgroupStats> for JailStats {
    fn from(s: libjail::cgroup::CgroupStats) -> JailStats {
        JailStats {
            cpu_usec: s.cpu_usec,
            memory_current: s.memory_current,
            memory_peak: s.memory_peak,
            pids_current: s.pids_current,
            io_read_bytes: s.io_read_bytes,
            io_write_bytes: s.io_write_bytes,
        }
    }
}

/// One process of `GET /v1/jails/{name}/ps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailProcess {
    /// Its pid on the host.
    pub host_pid: i32,
    /// Its pid inside the jail (last field of `NSpid:`).
    pub jail_pid: Option<i32>,
    /// Its real uid as seen inside the jail (`None` when the jail's uid map does not map it).
    pub user: Option<u32>,
    /// Its command line, arguments joined with spaces (`[comm]` for kernel-style empty ones).
    pub command: String,
}

/// `GET /v1/version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// jaild's version.
    pub version: String,
    /// The API version (`v1`).
    pub api: String,
    /// jaild's pid.
    pub pid: u32,
}

/// `POST /v1/jails/{name}/stop` and `restart`: optional body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// Grace period between the stop signal and SIGKILL, in seconds (default 10).
    #[serde(default)]
    pub timeout: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "web", "web-1", "A.b_c", "0", &"x".repeat(64)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a..b",
            ".hidden",
            "-x",
            "_x",
            &"x".repeat(65),
            "a b",
            "a\nb",
            "é",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn restart_words() {
        for r in [RestartOn::Never, RestartOn::OnFailure, RestartOn::Always] {
            assert_eq!(r.as_str().parse::<RestartOn>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
    }
}
