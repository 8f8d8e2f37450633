//! jail-init: the fresh, single-threaded helper that runs jails for the
//! daemon (DESIGN §3). The threaded daemon never forks to set up a jail
//! itself; it execs this helper.
//!
//! - `jail-init --plan FILE` / `jail-init --plan-fd N`: run one jail from a
//!   serialised `libjail::plan::Plan` (JSON) and wait for it. Exit status:
//!   the payload's own, 125 for a setup error, 126/127 when the command
//!   cannot be executed or found.
//! - `jail-init supervise ...`: detach and supervise one jail for its whole
//!   life (`libjail::supervise`): console, state file, restart policy,
//!   reboot and poweroff, control socket.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::Parser;

/// `eprintln!` that cannot panic: stderr is the supervisor log, on a disk that may be full.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn read_plan(args: &[String]) -> Result<libjail::plan::Plan, String> {
    let text = match args {
        [flag, fd] if flag == "--plan-fd" => {
            let fd: i32 = fd
                .parse()
                .map_err(|_| format!("--plan-fd {fd}: not a descriptor number"))?;
            if fd < 3 {
                return Err(format!("--plan-fd {fd}: stdio is the jail's"));
            }
            let owned = libjail::sys::take_fd(fd).ok_or_else(|| format!("--plan-fd {fd}: not open"))?;
            let mut s = String::new();
            std::fs::File::from(owned)
                .read_to_string(&mut s)
                .map_err(|e| format!("read plan from fd {fd}: {e}"))?;
            s
        }
        [flag, file] if flag == "--plan" => {
            std::fs::read_to_string(file).map_err(|e| format!("read plan {file}: {e}"))?
        }
        _ => return Err("usage: jail-init --plan-fd N | --plan FILE | supervise ...".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| format!("parse plan: {e}"))
}

/// Supervise one jail (started by jaild).
#[derive(Debug, Parser)]
#[command(name = "jail-init supervise")]
struct Supervise {
    /// The jail's name.
    #[arg(long)]
    name: String,
    /// The jail's root directory.
    #[arg(long)]
    root: PathBuf,
    /// The resolved policy (JSON of `libjail::policy::Policy`).
    #[arg(long)]
    policy_json: PathBuf,
    /// The state file, written atomically at every change.
    #[arg(long)]
    state: PathBuf,
    /// The console log (rotated past 4 MiB).
    #[arg(long)]
    console_log: PathBuf,
    /// The control socket.
    #[arg(long)]
    control: PathBuf,
    /// never, on-failure or always.
    #[arg(long, default_value = "never")]
    restart: libjail::supervise::RestartPolicy,
    /// At most this many consecutive restarts (0: no limit).
    #[arg(long, default_value_t = 5)]
    restart_max: u32,
    /// First back-off in milliseconds, doubled per consecutive restart.
    #[arg(long, default_value_t = 100)]
    restart_backoff_ms: u64,
    /// The signal `stop` sends first.
    #[arg(long, default_value_t = libc::SIGTERM)]
    stop_signal: i32,
    /// The id pool's lock directory (isolated jails).
    #[arg(long)]
    id_pool_dir: Option<PathBuf>,
    /// The id pool as START:SLOTS.
    #[arg(long)]
    id_pool: Option<String>,
    /// jaild's address pool (`address: [auto]`), as a CIDR.
    #[arg(long, requires = "address_dir")]
    address_pool: Option<String>,
    /// The address pool's lease directory.
    #[arg(long)]
    address_dir: Option<PathBuf>,
    /// Stay in the foreground (for debugging).
    #[arg(long)]
    foreground: bool,
    /// The jail's init command.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn supervise(args: Supervise) -> i32 {
    let text = match std::fs::read_to_string(&args.policy_json) {
        Ok(t) => t,
        Err(e) => {
            say!("jail-init: read {}: {e}", args.policy_json.display());
            return 125;
        }
    };
    let policy: libjail::policy::Policy = match serde_json::from_str(&text) {
        Ok(p) => p,
        Err(e) => {
            say!("jail-init: parse {}: {e}", args.policy_json.display());
            return 125;
        }
    };
    let mut pool = match libjail::idmap::IdPool::from_env() {
        Ok(p) => p,
        Err(e) => {
            say!("jail-init: {e}");
            return 125;
        }
    };
    if let Some(dir) = args.id_pool_dir {
        pool.dir = dir;
    }
    if let Some(range) = &args.id_pool {
        let parsed = range
            .split_once(':')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        match parsed.map(|(start, slots)| libjail::idmap::IdPool::new(pool.dir.clone(), start, slots)) {
            Some(Ok(p)) => pool = p,
            _ => {
                say!("jail-init: --id-pool {range}: expected START:SLOTS");
                return 125;
            }
        }
    }
    let address_pool = match (&args.address_pool, &args.address_dir) {
        (Some(cidr), Some(dir)) => {
            let parsed = cidr
                .parse::<libjail::net::IpNet>()
                .and_then(|net| libjail::net::AddressPool::new(net, dir.clone()).map_err(|e| e.to_string()));
            match parsed {
                Ok(p) => Some(p),
                Err(e) => {
                    say!("jail-init: --address-pool {cidr}: {e}");
                    return 125;
                }
            }
        }
        _ => None,
    };
    let mut ready = None;
    if !args.foreground {
        // Detach: we go on in our own session, re-parented away from the
        // daemon. The caller (jaild) gets our exit status once the child has
        // written its first state (it says `ok` on the pipe, or why not, or
        // dies): a jaild killed right after finds the supervisor on disk, and
        // a state that cannot be written fails the start at once.
        let (ready_r, ready_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
            Ok(p) => p,
            Err(e) => {
                say!("jail-init: pipe: {e}");
                return 125;
            }
        };
        match libjail::sys::clone_fork(0) {
            Ok(Some(_)) => {
                drop(ready_w);
                let mut report = String::new();
                let _ = std::io::Read::read_to_string(&mut std::fs::File::from(ready_r), &mut report);
                if report == "ok" {
                    return 0;
                }
                if report.is_empty() {
                    report = "the supervisor died before it wrote its first state".to_string();
                }
                // Our stdout goes back to jaild, our stderr to the supervisor log.
                let _ = writeln!(std::io::stdout(), "{report}");
                say!("jail-init: {report}");
                return 125;
            }
            Ok(None) => {
                drop(ready_r);
                let _ = libjail::sys::setsid();
                // jaild reads our parent's stdout until it closes: let go of it.
                match std::fs::File::options().write(true).open("/dev/null") {
                    Ok(null) => {
                        let _ = libjail::sys::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
                    }
                    Err(e) => say!("jail-init: open /dev/null: {e}"),
                }
                ready = Some(ready_w);
            }
            Err(e) => {
                say!("jail-init: fork: {e}");
                return 125;
            }
        }
    }
    libjail::supervise::supervise(libjail::supervise::Options {
        name: args.name,
        root: args.root,
        argv: args.command,
        policy,
        state: args.state,
        console_log: args.console_log,
        control: args.control,
        restart: args.restart,
        restart_max: args.restart_max,
        restart_backoff: std::time::Duration::from_millis(args.restart_backoff_ms),
        stop_signal: args.stop_signal,
        id_pool: pool,
        address_pool,
        ready,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = if args.first().map(String::as_str) == Some("supervise") {
        match Supervise::try_parse_from(std::env::args().skip(1)) {
            Ok(s) => supervise(s),
            Err(e) => {
                let _ = e.print();
                if e.use_stderr() { 125 } else { 0 }
            }
        }
    } else {
        match read_plan(&args) {
            Ok(plan) => match libjail::spawn::run(&plan) {
                Ok(code) => code,
                Err(e) => {
                    say!("jail-init: {e}");
                    e.exit_code()
                }
            },
            Err(e) => {
                say!("jail-init: {e}");
                125
            }
        }
    };
    #[allow(clippy::exit)]
    std::process::exit(code);
}
