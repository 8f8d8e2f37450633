//! `jailctl stats`: a running jail's usage — CPU time, memory, tasks, block I/O — from its cgroup.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailStats;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The jail.
    name: String,
    /// Print jaild's JSON answer.
    #[arg(long)]
    json: bool,
}

/// Bytes as MiB with one decimal.
fn mib(bytes: u64) -> String {
    // Precision loss is irrelevant for a figure shown with one decimal.
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

/// The human-readable form.
pub fn render(s: &JailStats) -> String {
    let na = || "-".to_string();
    #[allow(clippy::cast_precision_loss)]
    let cpu = s.cpu_usec.map_or_else(na, |u| format!("{:.2} s", u as f64 / 1e6));
    let lines = [
        ("cpu", cpu),
        ("memory", s.memory_current.map_or_else(na, mib)),
        ("memory peak", s.memory_peak.map_or_else(na, mib)),
        ("pids", s.pids_current.map_or_else(na, |n| n.to_string())),
        ("io read", s.io_read_bytes.map_or_else(na, mib)),
        ("io write", s.io_write_bytes.map_or_else(na, mib)),
    ];
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    lines
        .iter()
        .map(|(k, v)| format!("{:<width$}  {v}\n", format!("{k}:")))
        .collect()
}

pub fn run(socket: &Path, args: StatsArgs) -> i32 {
    let path = jail_path(&args.name, "/stats");
    match Client::new(socket).json::<JailStats>(Method::GET, &path, None::<&()>) {
        Ok(s) if args.json => match serde_json::to_string_pretty(&s) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => fail(&e),
        },
        Ok(s) => {
            print!("{}", render(&s));
            0
        }
        Err(e) => fail(&e),
    }
}
