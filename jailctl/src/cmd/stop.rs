//! `jailctl stop`: the stop signal, a grace period, then every process of the jail killed.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailSummary;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The jail.
    name: String,
    /// Seconds between the stop signal and SIGKILL.
    #[arg(long, short = 't', value_name = "S", default_value_t = 10)]
    timeout: u64,
}

pub fn run(socket: &Path, args: StopArgs) -> i32 {
    let path = jail_path(&args.name, &format!("/stop?timeout={}", args.timeout));
    match Client::new(socket).json::<JailSummary>(Method::POST, &path, None::<&()>) {
        Ok(j) => {
            println!("{}", j.name);
            0
        }
        Err(e) => fail(&e),
    }
}
