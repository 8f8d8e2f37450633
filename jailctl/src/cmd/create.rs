//! `jailctl create`: a new jail, kept by jaild.

use std::path::{Path, PathBuf};

use clap::Args;
use hyper::Method;
use jaild::api::{CreateRequest, JailSummary, RestartOn, RestartPolicy};

use super::client::{Client, fail};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The jail's name: letters, digits, `_`, `.`, `-`, at most 64 characters.
    name: String,
    /// The jail's root directory (used by no other jail; its parent closed to non-root users).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    #[command(flatten)]
    jail: super::jail_args::PolicyArgs,
    /// Start the jail whenever jaild starts.
    #[arg(long)]
    autostart: bool,
    /// Restart the jail when its init exits: never (default), on-failure or always.
    #[arg(long, value_name = "POLICY", default_value = "never")]
    restart: RestartOn,
    /// At most this many restarts in a row (default 5; 0: no limit).
    #[arg(long, value_name = "N")]
    restart_max: Option<u32>,
    /// Wait before the first restart, in milliseconds (default 100; doubled for each restart in a row).
    #[arg(long, value_name = "MS")]
    restart_backoff_ms: Option<u64>,
    /// The first signal of a stop (default TERM; RTMIN+3 when the init is systemd).
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Build the root filesystem first: busybox, debootstrap:SUITE, tar:PATH or oci:PATH[:REF]
    /// (through the same library as `jail-rootfs`). Removed again if the create fails.
    #[arg(long, value_name = "SOURCE")]
    from: Option<rootfs_tools::source::Source>,
    /// The init command and its arguments (default: /sbin/init).
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// A policy argument that names a file, made absolute: jaild reads it from its own working
/// directory.
fn policy_arg(p: &str) -> String {
    let path_like = p.contains('/') || p.ends_with(".yaml") || p.ends_with(".yml");
    if path_like && !Path::new(p).is_absolute() {
        std::path::absolute(p).map_or_else(|_| p.to_string(), |a| a.to_string_lossy().into_owned())
    } else {
        p.to_string()
    }
}

pub fn run(socket: &Path, args: CreateArgs) -> i32 {
    let root = match std::path::absolute(&args.root) {
        Ok(r) => r,
        Err(e) => return fail(&format!("--root {}: {e}", args.root.display())),
    };
    // --from: build the tree first; a create that fails afterwards removes
    // what we built (only when the directory did not exist before).
    let built_new = match &args.from {
        Some(source) => {
            let existed = root.exists();
            let opts = rootfs_tools::source::BuildOptions {
                progress: libjail::sys::isatty(2),
                ..Default::default()
            };
            if let Err(e) = rootfs_tools::source::build_from(source, &root, &opts) {
                if !existed {
                    let _ = std::fs::remove_dir_all(&root);
                }
                return fail(&format!("--from: {e}"));
            }
            !existed
        }
        None => false,
    };
    let ids = args.jail.id_mode();
    let req = CreateRequest {
        name: args.name,
        root: root.to_string_lossy().into_owned(),
        policy: args.jail.policy.as_deref().map(policy_arg),
        sets: args.jail.sets,
        hostname: args.jail.hostname,
        ids,
        autostart: args.autostart,
        command: args.command,
        restart: RestartPolicy {
            on_exit: args.restart,
            max: args.restart_max,
            backoff_ms: args.restart_backoff_ms,
        },
        stop_signal: args.stop_signal,
    };
    match Client::new(socket).json::<JailSummary>(Method::POST, "/v1/jails", Some(&req)) {
        Ok(j) => {
            println!("{}", j.name);
            0
        }
        Err(e) => {
            if built_new {
                let _ = std::fs::remove_dir_all(&root);
            }
            fail(&e)
        }
    }
}
