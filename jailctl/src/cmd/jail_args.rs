//! The policy flags `run` and `create` share.

use clap::Args;

/// Which policy, which ids, which hostname, and `--set` overrides.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// A shipped policy name or a policy file.
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Option<String>,
    /// Pass ids straight through (uid N inside is uid N on the host), as a
    /// FreeBSD jail does. Shorthand for --ids passthrough.
    #[arg(long, conflicts_with = "ids")]
    pub passthrough_ids: bool,
    /// Id mode: isolated (default), passthrough, shifted or custom.
    #[arg(long, value_name = "MODE")]
    pub ids: Option<String>,
    /// The jail's hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Override one policy field by its dotted path; VALUE is YAML
    /// (e.g. --set capabilities.allow='[CHOWN]').
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

impl PolicyArgs {
    /// The id mode the flags ask for, if any.
    pub fn id_mode(&self) -> Option<String> {
        if self.passthrough_ids {
            Some("passthrough".to_string())
        } else {
            self.ids.clone()
        }
    }
}
