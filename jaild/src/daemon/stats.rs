//! `GET /v1/jails/{name}/stats` and `GET /v1/jails/{name}/ps`: a running jail's cgroup usage and
//! its processes, read from the cgroup and `/proc` by the paths the supervisor recorded in
//! `state.json`.

use std::path::PathBuf;

use super::error::{ApiError, ApiResult};
use super::jails::Jails;
use crate::api::{JailProcess, JailStats};
use crate::state::SupervisorState;

impl Jails {
    /// The state of jail `name` when its init runs; 409 otherwise.
    fn running_state(&self, name: &str, step: &str) -> ApiResult<SupervisorState> {
        self.get(name)?;
        let obs = self.observe(name);
        match obs.st.filter(|s| obs.state.is_active() && s.init_alive()) {
            Some(st) => Ok(st),
            None => Err(
                ApiError::conflict(step, format!("the jail `{name}` is not running ({})", obs.state))
                    .hint(format!("`jailctl start {name}` starts it")),
            ),
        }
    }

    /// `GET /v1/jails/{name}/stats`.
    pub async fn stats(&self, name: &str) -> ApiResult<JailStats> {
        let step = "read the jail's cgroup";
        let st = self.running_state(name, step)?;
        let Some(paths) = st.cgroup else {
            return Err(
                ApiError::conflict(step, format!("the jail `{name}` has no cgroup recorded"))
                    .hint("a jail started by an older jail-init has none: restart it"),
            );
        };
        tokio::task::spawn_blocking(move || libjail::cgroup::Cgroup::open(paths).stats())
            .await
            .map_err(|e| ApiError::internal(step, e.to_string()))?
            .map(JailStats::from)
            .map_err(|e| ApiError::internal(step, e.to_string()))
    }

    /// `GET /v1/jails/{name}/ps`.
    pub async fn ps(&self, name: &str) -> ApiResult<Vec<JailProcess>> {
        let step = "list the jail's processes";
        let st = self.running_state(name, step)?;
        let Some(pid) = st.pid else {
            return Err(ApiError::conflict(step, format!("the jail `{name}` is not running")));
        };
        let uid_map = st.uid_map.clone();
        tokio::task::spawn_blocking(move || processes(pid, uid_map.as_deref()))
            .await
            .map_err(|e| ApiError::internal(step, e.to_string()))?
    }
}

/// Every host process in the pid namespace of `init`, by host pid.
fn processes(init: i32, uid_map: Option<&str>) -> ApiResult<Vec<JailProcess>> {
    let step = "list the jail's processes";
    let ns = |pid: &str| std::fs::read_link(PathBuf::from(format!("/proc/{pid}/ns/pid"))).ok();
    let Some(jail_ns) = ns(&init.to_string()) else {
        return Err(ApiError::conflict(step, "the jail's init is gone"));
    };
    let entries = std::fs::read_dir("/proc").map_err(|e| ApiError::internal(step, format!("read /proc: {e}")))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(host_pid) = file.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if ns(&host_pid.to_string()).as_ref() != Some(&jail_ns) {
            continue;
        }
        // A process may exit at any point here: whatever is gone is skipped.
        let Ok(status) = std::fs::read_to_string(format!("/proc/{host_pid}/status")) else {
            continue;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
                .map(str::trim)
        };
        let jail_pid = field("NSpid")
            .and_then(|v| v.split_whitespace().last())
            .and_then(|v| v.parse().ok());
        let user = field("Uid")
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u32>().ok())
            .and_then(|uid| map_inside(uid_map, uid));
        let cmdline = std::fs::read(format!("/proc/{host_pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let command = if args.is_empty() {
            format!("[{}]", field("Name").unwrap_or("?"))
        } else {
            args.join(" ")
        };
        out.push(JailProcess {
            host_pid,
            jail_pid,
            user,
            command,
        });
    }
    out.sort_by_key(|p| p.host_pid);
    Ok(out)
}

/// Host uid `uid` as seen inside, through `map` (`inside outside count` lines); without a map the
/// jail shares the host's ids.
fn map_inside(map: Option<&str>, uid: u32) -> Option<u32> {
    let Some(map) = map else { return Some(uid) };
    map.lines().find_map(|line| {
        let f: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        let [inside, outside, count] = f.as_slice() else {
            return None;
        };
        let uid = u64::from(uid);
        (uid >= *outside && uid - outside < *count)
            .then(|| u32::try_from(inside + (uid - outside)).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::map_inside;

    #[test]
    fn maps_uids() {
        let m = Some("0 2000000000 65536\n");
        assert_eq!(map_inside(m, 2_000_000_000), Some(0));
        assert_eq!(map_inside(m, 2_000_001_000), Some(1000));
        assert_eq!(map_inside(m, 0), None);
        assert_eq!(map_inside(Some("0 0 4294967295"), 5), Some(5));
        assert_eq!(map_inside(None, 7), Some(7));
    }
}
