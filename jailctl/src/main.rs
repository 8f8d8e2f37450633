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
    /// jaild's socket (for every command but run and policy).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = jaild::api::SOCKET_ENV,
        default_value = jaild::api::DEFAULT_SOCKET
    )]
    socket: std::path::PathBuf,
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
    /// Create a jail kept by jaild (a trailing `-- CMD...` sets its init command).
    Create(cmd::create::CreateArgs),
    /// Start a jail.
    Start(cmd::start::StartArgs),
    /// Stop a jail: its stop signal, a grace period, then every process killed.
    Stop(cmd::stop::StopArgs),
    /// Restart a jail (a new init), or start it when it is stopped.
    Restart(cmd::restart::RestartArgs),
    /// Destroy a jail and its state (the root directory stays).
    Destroy(cmd::destroy::DestroyArgs),
    /// List the jails (like jls).
    List(cmd::list::ListArgs),
    /// Show everything about a jail.
    Inspect(cmd::inspect::InspectArgs),
    /// Run a command in a running jail (like jexec).
    Exec(cmd::exec::ExecArgs),
    /// Attach to a jail's console (detach with Ctrl-] then q).
    Console(cmd::console::ConsoleArgs),
    /// Print a jail's console output.
    Logs(cmd::logs::LogsArgs),
    /// Show a running jail's usage: CPU, memory, tasks, block I/O.
    Stats(cmd::stats::StatsArgs),
    /// List a running jail's processes.
    Ps(cmd::ps::PsArgs),
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
        Command::Create(a) => cmd::create::run(&cli.socket, a),
        Command::Start(a) => cmd::start::run(&cli.socket, a),
        Command::Stop(a) => cmd::stop::run(&cli.socket, a),
        Command::Restart(a) => cmd::restart::run(&cli.socket, a),
        Command::Destroy(a) => cmd::destroy::run(&cli.socket, a),
        Command::List(a) => cmd::list::run(&cli.socket, a),
        Command::Inspect(a) => cmd::inspect::run(&cli.socket, a),
        Command::Exec(a) => cmd::exec::run(&cli.socket, a),
        Command::Console(a) => cmd::console::run(&cli.socket, a),
        Command::Logs(a) => cmd::logs::run(&cli.socket, a),
        Command::Stats(a) => cmd::stats::run(&cli.socket, a),
        Command::Ps(a) => cmd::ps::run(&cli.socket, a),
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
