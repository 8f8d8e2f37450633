//! `jailctl destroy`: remove a jail and its state (its root directory is left alone).

use std::path::Path;

use clap::Args;
use hyper::Method;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The jail.
    name: String,
    /// Stop the jail first if it runs.
    #[arg(long, short = 'f')]
    force: bool,
}

pub fn run(socket: &Path, args: DestroyArgs) -> i32 {
    let path = jail_path(&args.name, if args.force { "?force=true" } else { "" });
    match Client::new(socket).call(Method::DELETE, &path, None) {
        Ok(_) => {
            println!("{}", args.name);
            0
        }
        Err(e) => fail(&e),
    }
}
