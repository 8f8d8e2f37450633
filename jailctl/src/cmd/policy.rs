//! `jailctl policy`: validate, explain, list, schema.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Subcommand;
use libjail::policy;

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
    /// Print the effective policy in plain words: ids and what they mean for
    /// the host, capabilities, allowances, Landlock, masked paths, volumes,
    /// system calls denied.
    Explain {
        /// A shipped profile (default, hosting, sandbox) or a policy file.
        #[arg(value_name = "NAME|FILE", default_value = "default")]
        policy: String,
        /// Override one policy field by its dotted path; VALUE is YAML
        /// (e.g. --set allow.mount=true).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print the resolved policy as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// List the shipped profiles with what each is for.
    List,
    /// Print the JSON schema of the policy file format, for editors
    /// (e.g. `# yaml-language-server: $schema=...`).
    Schema,
}

pub fn run(cmd: PolicyCmd) -> i32 {
    match cmd {
        PolicyCmd::Validate { file, json } => match policy::validate_file(&file) {
            Ok(p) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
                } else {
                    println!("{}: valid", file.display());
                }
                0
            }
            Err(e) => fail(&e),
        },
        PolicyCmd::Explain { policy, sets, json } => match policy::load(Some(&policy), &sets) {
            Ok(p) if json => match serde_json::to_string_pretty(&p) {
                Ok(text) => print(&format!("{text}\n")),
                Err(e) => fail(&e),
            },
            Ok(p) => print(&policy::explain(&p)),
            Err(e) => fail(&e),
        },
        PolicyCmd::List => {
            let mut text = String::new();
            for name in policy::SHIPPED {
                let description = policy::shipped(name)
                    .and_then(|text| policy::parse_layer(text, name).ok())
                    .and_then(|layer| layer.description().map(str::to_string))
                    .unwrap_or_default();
                text.push_str(&format!("{name:<10} {}\n", first_sentence(&description)));
            }
            print(&text)
        }
        PolicyCmd::Schema => print(&format!("{}\n", policy::schema_json())),
    }
}

/// The first sentence of `text` (up to and including the first `. `).
fn first_sentence(text: &str) -> &str {
    text.find(". ").map_or(text, |end| &text[..=end])
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => fail(&format!("stdout: {e}")),
    }
}

/// Prints `e` and returns the exit status of a failed command.
fn fail(e: &dyn std::fmt::Display) -> i32 {
    eprintln!("jailctl: {e}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_works_for_every_shipped_profile() {
        for name in policy::SHIPPED {
            for json in [false, true] {
                let cmd = PolicyCmd::Explain {
                    policy: name.to_string(),
                    sets: Vec::new(),
                    json,
                };
                assert_eq!(run(cmd), 0, "{name} (json: {json})");
            }
        }
        let bad = PolicyCmd::Explain {
            policy: "default".to_string(),
            sets: vec!["allow.mount=maybe".to_string()],
            json: false,
        };
        assert_eq!(run(bad), 1);
        let unknown = PolicyCmd::Explain {
            policy: "nope".to_string(),
            sets: Vec::new(),
            json: false,
        };
        assert_eq!(run(unknown), 1);
    }

    #[test]
    fn schema_and_list_work() {
        assert_eq!(run(PolicyCmd::Schema), 0);
        assert_eq!(run(PolicyCmd::List), 0);
        assert_eq!(first_sentence("Tight sandbox: use it. More."), "Tight sandbox: use it.");
        assert_eq!(first_sentence("One"), "One");
    }
}
