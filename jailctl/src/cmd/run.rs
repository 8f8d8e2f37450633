//! `jailctl run`: a one-shot jail, no daemon.

use std::path::PathBuf;

use clap::Args;
use libjail::idmap::IdPool;
use libjail::plan::{Console, Plan};
use libjail::policy::{self, IdMode};

/// Exit status for an error of jailctl itself.
const EXIT_JAILCTL: i32 = 125;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The jail's root directory.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    #[command(flatten)]
    jail: super::jail_args::PolicyArgs,
    /// Give the jail a new pty as its console instead of our stdio.
    #[arg(short = 't', long)]
    tty: bool,
    /// Put a tiny reaper at pid 1 that forwards signals and reaps zombies.
    #[arg(long)]
    init: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// YAML for a plain string value (JSON strings are valid YAML).
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

pub fn run(args: RunArgs, verbose: u8) -> i32 {
    match run_inner(args, verbose) {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("jailctl: {msg}");
            code
        }
    }
}

fn run_inner(args: RunArgs, verbose: u8) -> Result<i32, (i32, String)> {
    let fail = |e: &dyn std::fmt::Display| (EXIT_JAILCTL, e.to_string());
    // The command-line flags are --set layers below the explicit ones.
    let mut sets = Vec::new();
    if let Some(mode) = args.jail.id_mode() {
        sets.push(format!("ids.mode={}", yaml_string(&mode)));
    }
    if let Some(h) = &args.jail.hostname {
        sets.push(format!("hostname={}", yaml_string(h)));
    }
    if args.init {
        sets.push("init=builtin".to_string());
    }
    sets.extend(args.jail.sets.iter().cloned());
    let policy = policy::load(args.jail.policy.as_deref(), &sets).map_err(|e| fail(&e))?;
    // Check the root before leasing anything, so bad input changes nothing.
    drop(libjail::rootfs::open_checked(&args.root).map_err(|e| fail(&e))?);
    let lease = match policy.ids.mode {
        IdMode::Isolated => Some(
            IdPool::from_env()
                .map_err(|e| fail(&e))?
                .lease()
                .map_err(|e| fail(&e))?,
        ),
        _ => None,
    };
    let console = if args.tty { Console::Pty } else { Console::Inherit };
    let root = std::path::absolute(&args.root).map_err(|e| fail(&format!("rootfs {}: {e}", args.root.display())))?;
    // A one-shot jail is named after our pid (its cgroup and host veth are
    // named after the jail); its hostname is `jail` unless the policy says.
    let mut policy = policy;
    policy.hostname.get_or_insert_with(|| "jail".to_string());
    let name = format!("run-{}", std::process::id());
    let plan = Plan::new(
        &name,
        root,
        args.command,
        policy,
        lease.as_ref().map(|l| l.base),
        console,
    )
    .map_err(|e| fail(&e))?;
    tracing::info!(rootfs = %plan.rootfs.display(), uid_map = %plan.uid_map.to_proc().trim(), "starting jail");
    let report = |r: &libjail::spawn::Running| {
        if verbose > 0 {
            let landlock = r.landlock.as_deref().unwrap_or("off");
            eprintln!(
                "jailctl: jail running: host pid {}, uid map {}, landlock {landlock}",
                r.pid, plan.uid_map
            );
        }
    };
    let code = libjail::spawn::run_with(&plan, report).map_err(|e| (e.exit_code(), e.to_string()))?;
    drop(lease);
    Ok(code)
}
