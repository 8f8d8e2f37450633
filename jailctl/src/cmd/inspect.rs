//! `jailctl inspect`: everything about one jail — policy, state, pid, namespaces, id map,
//! capability mask, Landlock and seccomp status, start time, restarts.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailInspect;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The jail.
    name: String,
    /// Print jaild's JSON answer.
    #[arg(long)]
    json: bool,
}

/// `N s ago`, `N min ago`, ... for a unix time.
fn ago(t: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let d = now.saturating_sub(t);
    match d {
        0..120 => format!("{d} s ago"),
        120..7200 => format!("{} min ago", d / 60),
        7200..172_800 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86400),
    }
}

/// The human-readable form.
pub fn render(j: &JailInspect) -> String {
    let s = &j.summary;
    let c = &j.config;
    let mut lines: Vec<(&str, String)> = Vec::new();
    lines.push(("name", s.name.clone()));
    let mut state = s.state.to_string();
    if let Some(pid) = s.pid {
        state.push_str(&format!(", pid {pid}"));
    }
    if let Some(t) = j.started_at.filter(|_| s.pid.is_some()) {
        state.push_str(&format!(", started {t} ({})", ago(t)));
    }
    state.push_str(&format!(
        ", {} restart{}",
        s.restarts,
        if s.restarts == 1 { "" } else { "s" }
    ));
    lines.push(("state", state));
    if let Some(code) = j.exit_status {
        lines.push(("last exit", code.to_string()));
    }
    if let Some(e) = &j.error {
        lines.push(("error", e.clone()));
    }
    lines.push(("root", s.root.clone()));
    lines.push(("hostname", s.hostname.clone()));
    lines.push(("command", c.command.join(" ")));
    let mut policy = c.policy.clone().unwrap_or_else(|| "default".to_string());
    for set in &c.policy_sets() {
        policy.push_str(&format!(" --set {set}"));
    }
    lines.push(("policy", policy));
    if let Some(e) = &j.policy_error {
        lines.push(("policy error", e.clone()));
    }
    lines.push(("ids", s.ids.clone()));
    if let Some(m) = &j.uid_map {
        lines.push(("uid map", m.replace('\n', "; ")));
    }
    if let Some(m) = &j.gid_map {
        lines.push(("gid map", m.replace('\n', "; ")));
    }
    lines.push((
        "capabilities",
        format!("{} ({})", j.capabilities.mask, j.capabilities.names.join(" ")),
    ));
    if let (Some(b), Some(e)) = (&j.capabilities.bounding, &j.capabilities.effective) {
        lines.push(("init caps", format!("bounding {b}, effective {e}")));
    }
    if let Some(p) = &j.policy {
        lines.push(("no_new_privs", p.no_new_privs.to_string()));
    }
    if s.pid.is_some() {
        let sc = &j.seccomp;
        let mode = match sc.mode {
            Some(0) => "off".to_string(),
            Some(1) => "strict".to_string(),
            Some(2) => format!(
                "filter ({} filters)",
                sc.filters.map_or_else(|| "?".to_string(), |n| n.to_string())
            ),
            Some(n) => n.to_string(),
            None => "?".to_string(),
        };
        lines.push(("seccomp", mode));
        lines.push(("landlock", j.landlock.clone().unwrap_or_else(|| "off".to_string())));
    }
    if !j.namespaces.is_empty() {
        let ns: Vec<String> = j.namespaces.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(("namespaces", ns.join(" ")));
    }
    if let Some(p) = j.supervisor_pid {
        lines.push(("supervisor", format!("pid {p}")));
    }
    lines.push(("autostart", c.autostart.to_string()));
    let r = &c.restart;
    let mut restart = r.on_exit.to_string();
    if let Some(m) = r.max {
        restart.push_str(&format!(", max {m}"));
    }
    if let Some(b) = r.backoff_ms {
        restart.push_str(&format!(", backoff {b} ms"));
    }
    lines.push(("restart", restart));
    lines.push(("console log", j.console_log.clone()));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{:<width$}  {v}\n", format!("{k}:"), width = width + 1))
        .collect()
}

pub fn run(socket: &Path, args: InspectArgs) -> i32 {
    let path = jail_path(&args.name, "");
    let client = Client::new(socket);
    if args.json {
        return match client.call(Method::GET, &path, None) {
            Ok(body) => match serde_json::from_slice::<serde_json::Value>(&body)
                .and_then(|v| serde_json::to_string_pretty(&v))
            {
                Ok(s) => {
                    println!("{s}");
                    0
                }
                Err(e) => fail(&e),
            },
            Err(e) => fail(&e),
        };
    }
    match client.json::<JailInspect>(Method::GET, &path, None::<&()>) {
        Ok(j) => {
            print!("{}", render(&j));
            0
        }
        Err(e) => fail(&e),
    }
}
