//! `jailctl start`: start a jail under its supervisor.

use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailSummary;

use super::client::{Client, fail, jail_path};

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The jail.
    name: String,
}

pub fn run(socket: &Path, args: StartArgs) -> i32 {
    let path = jail_path(&args.name, "/start");
    match Client::new(socket).json::<JailSummary>(Method::POST, &path, None::<&()>) {
        Ok(j) => {
            println!("{}", j.name);
            0
        }
        Err(e) => fail(&e),
    }
}
