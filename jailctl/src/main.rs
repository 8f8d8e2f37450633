//! jailctl — run and manage jails. Thin: parse, call libjail, print.

mod cmd;

use clap::{CommandFactory, Parser, Subcommand};

/// Hardened, BSD-jail-style jails for Linux.
#[derive(Debug, Parser)]
#[command(name = "jailctl", version, about, propagate_version = true)]
pub struct Cli {
    /// More output: the spawn steps and their results (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command in a one-shot jail, without the daemon.
    Run(cmd::run::RunArgs),
    /// Check and show policies.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("JAILD_LOG").unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let code = match cli.command {
        Command::Run(args) => cmd::run::run(args, cli.verbose),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "jailctl", &mut std::io::stdout());
            0
        }
        Command::Man => match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("jailctl: man: {e}");
                125
            }
        },
    };
    #[allow(clippy::exit)]
    std::process::exit(code);
}
