//! `jailctl ps`: the processes of a running jail, with their host and jail pids.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailProcess;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// The jail.
    name: String,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// The table: HOST-PID JAIL-PID USER COMMAND.
pub fn table(procs: &[JailProcess]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let mut rows = vec![["HOST-PID", "JAIL-PID", "USER", "COMMAND"].map(str::to_string)];
    for p in procs {
        rows.push([
            p.host_pid.to_string(),
            opt(p.jail_pid.map(|v| v.to_string())),
            opt(p.user.map(|v| v.to_string())),
            p.command.clone(),
        ]);
    }
    let mut widths = [0usize; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line = format!(
            "{:>w0$}  {:>w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn run(socket: &Path, args: PsArgs) -> i32 {
    let path = jail_path(&args.name, "/ps");
    match Client::new(socket).json::<Vec<JailProcess>>(Method::GET, &path, None::<&()>) {
        Ok(p) if args.json => match serde_json::to_string_pretty(&p) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => fail(&e),
        },
        Ok(p) => {
            print!("{}", table(&p));
            0
        }
        Err(e) => fail(&e),
    }
}
