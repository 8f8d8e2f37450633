//! `jailctl exec`: run a command in a running jail, like `jexec`. jaild tells where the jail's
//! init is (pid and start time) and the policy it runs under; jailctl itself then joins the
//! jail through pidfds and applies the init's confinement (libjail::exec). The exit status is the
//! command's own; 125 for a jailctl error, 126/127 when the command cannot be run or found.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailInspect;

use super::client::{Client, jail_path};

/// Exit status for an error of jailctl itself.
const EXIT_JAILCTL: i32 = 125;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The jail.
    name: String,
    /// Run as this user (name, UID or UID:GID) instead of the policy's.
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Give the command a new pty of the jail as its terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// Set an environment variable (on top of the policy's environment).
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Working directory inside the jail.
    #[arg(short = 'w', long, value_name = "DIR")]
    workdir: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// The threads of this process: the fork into the jail needs exactly one.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

pub fn run(socket: &Path, args: ExecArgs) -> i32 {
    let mut env = Vec::new();
    for kv in &args.env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
            _ => {
                eprintln!("jailctl: -e {kv}: expected KEY=VALUE");
                return EXIT_JAILCTL;
            }
        }
    }
    // Ask jaild, then drop the runtime (Client::json does): from here on we are single-threaded.
    let info: JailInspect = match Client::new(socket).json(Method::GET, &jail_path(&args.name, ""), None::<&()>) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("jailctl: {e}");
            return EXIT_JAILCTL;
        }
    };
    let Some(hint) = info.plan_hint else {
        eprintln!(
            "jailctl: jail `{}` is not running ({})\n  hint: `jailctl start {}` starts it",
            args.name, info.summary.state, args.name
        );
        return EXIT_JAILCTL;
    };
    let threads = thread_count();
    if threads != 1 {
        eprintln!("jailctl: exec: {threads} threads are running; joining a jail needs a single-threaded process");
        return EXIT_JAILCTL;
    }
    let req = libjail::exec::ExecRequest {
        name: args.name,
        pid: hint.pid,
        pid_start: hint.pid_start,
        policy: hint.policy,
        argv: args.command,
        user: args.user,
        env,
        workdir: args.workdir,
        tty: args.tty,
    };
    match libjail::exec::exec_in_jail(&req) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jailctl: {e}");
            e.exit_code()
        }
    }
}
