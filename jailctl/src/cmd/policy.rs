//! `jailctl policy`: validate (and, later, explain and schema).

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Check a policy file: exit 0 when valid, else print the error (file,
    /// line, column) and exit 1.
    Validate {
        /// The policy file.
        file: PathBuf,
        /// Print the effective policy as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: PolicyCmd) -> i32 {
    match cmd {
        PolicyCmd::Validate { file, json } => match libjail::policy::validate_file(&file) {
            Ok(p) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
                } else {
                    println!("{}: valid", file.display());
                }
                0
            }
            Err(e) => {
                eprintln!("jailctl: {e}");
                1
            }
        },
    }
}
