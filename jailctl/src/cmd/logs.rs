//! `jailctl logs`: the jail's console output, kept by its supervisor with rotation.

use std::path::Path;

use clap::Args;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The jail.
    name: String,
    /// Keep printing new output while the jail runs.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, short = 'n', value_name = "N")]
    tail: Option<usize>,
}

pub fn run(socket: &Path, args: LogsArgs) -> i32 {
    let mut query = vec![];
    if args.follow {
        query.push("follow=true".to_string());
    }
    if let Some(n) = args.tail {
        query.push(format!("tail={n}"));
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let path = jail_path(&args.name, &format!("/logs{q}"));
    match Client::new(socket).stream(&path, &mut std::io::stdout().lock()) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}
