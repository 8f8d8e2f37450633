//! `jailctl list`: the jails, like `jls`.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailSummary;

use super::client::{Client, fail};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// The table: NAME STATE PID IDS HOSTNAME IP PATH.
pub fn table(jails: &[JailSummary]) -> String {
    let mut rows = vec![["NAME", "STATE", "PID", "IDS", "HOSTNAME", "IP", "PATH"].map(str::to_string)];
    for j in jails {
        rows.push([
            j.name.clone(),
            j.state.to_string(),
            j.pid.map_or_else(|| "-".to_string(), |p| p.to_string()),
            j.ids.clone(),
            j.hostname.clone(),
            j.ip.clone().unwrap_or_else(|| "-".to_string()),
            j.root.clone(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn run(socket: &Path, args: ListArgs) -> i32 {
    let jails: Vec<JailSummary> = match Client::new(socket).json(Method::GET, "/v1/jails", None::<&()>) {
        Ok(j) => j,
        Err(e) => return fail(&e),
    };
    if args.json {
        match serde_json::to_string_pretty(&jails) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e),
        }
    } else {
        print!("{}", table(&jails));
    }
    0
}
