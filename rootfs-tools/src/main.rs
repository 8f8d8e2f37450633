//! `jail-rootfs`: build, unpack, shift and check jail root filesystems (thin front end).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use rootfs_tools::busybox::{self, BusyboxOptions, BusyboxReport};

#[derive(Debug, Parser)]
#[command(name = "jail-rootfs", version, about = "Build and check jail root filesystems")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a minimal rootfs from the host's statically linked busybox.
    Busybox(BusyboxArgs),
}

#[derive(Debug, Args)]
struct BusyboxArgs {
    /// The rootfs directory to create (must be missing or empty unless --force).
    dir: PathBuf,
    /// Build over a non-empty directory: replace the files and links it writes, delete nothing else.
    #[arg(long)]
    force: bool,
    /// The static busybox to copy [default: the first static one of /bin/busybox, /usr/bin/busybox].
    #[arg(long, value_name = "PATH")]
    busybox: Option<PathBuf>,
    /// Print a JSON report {dir, busybox, applets, bytes} instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jail-rootfs: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Busybox(args) => {
            let report = busybox::build(&BusyboxOptions {
                dir: args.dir,
                force: args.force,
                busybox: args.busybox,
            })?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", summary(&report));
            }
        }
    }
    Ok(())
}

/// "built /r from /bin/busybox: 268 applets linked, 2.1 MiB".
fn summary(report: &BusyboxReport) -> String {
    format!(
        "built {} from {}: {} applets linked, {}",
        report.dir.display(),
        report.busybox.display(),
        report.applets,
        human_size(report.bytes)
    )
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2 * 1024 * 1024 + 100 * 1024), "2.1 MiB");
    }
}
