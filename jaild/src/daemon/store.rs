//! The state and run directories.
//!
//! ```text
//! STATE_DIR/jails/NAME/config.yaml     the jail's configuration (jaild writes it, atomically)
//! STATE_DIR/jails/NAME/state.json      its runtime state (the supervisor writes it, atomically)
//! STATE_DIR/jails/NAME/console.log     console output (the supervisor writes and rotates it)
//! STATE_DIR/jails/NAME/supervisor.log  the supervisor's own messages
//! RUN_DIR/jails/NAME/policy.json       the resolved policy the supervisor starts the jail with
//! RUN_DIR/jails/NAME/control.sock      the supervisor's control socket
//! ```
//!
//! A create writes the configuration into `STATE_DIR/jails/.NAME.creating` and renames that
//! directory into place, so a create that fails half-way leaves nothing behind; a destroy renames
//! the directory to `.NAME.destroying` before removing it. Leftovers of either (a crash in the
//! middle) are removed when jaild starts.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::fault;
use crate::api::JailConfig;
use crate::state::{sync_dir, write_atomic};

/// The longest path a unix socket address can hold (`sun_path` minus the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Where everything lives.
#[derive(Clone, Debug)]
pub struct Store {
    /// `STATE_DIR/jails`.
    pub jails: PathBuf,
    /// `RUN_DIR/jails`.
    pub run: PathBuf,
}

impl Store {
    /// The store under `state_dir` and `run_dir`; creates the directories (mode 0700).
    pub fn open(state_dir: &Path, run_dir: &Path) -> std::io::Result<Store> {
        let store = Store {
            jails: state_dir.join("jails"),
            run: run_dir.join("jails"),
        };
        for dir in [&store.jails, &store.run] {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        Ok(store)
    }

    /// `STATE_DIR/jails/NAME`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.jails.join(name)
    }

    /// `STATE_DIR/jails/NAME/config.yaml`.
    pub fn config(&self, name: &str) -> PathBuf {
        self.dir(name).join("config.yaml")
    }

    /// `STATE_DIR/jails/NAME/state.json`.
    pub fn state(&self, name: &str) -> PathBuf {
        self.dir(name).join("state.json")
    }

    /// `STATE_DIR/jails/NAME/console.log`.
    pub fn console_log(&self, name: &str) -> PathBuf {
        self.dir(name).join("console.log")
    }

    /// `STATE_DIR/jails/NAME/supervisor.log`.
    pub fn supervisor_log(&self, name: &str) -> PathBuf {
        self.dir(name).join("supervisor.log")
    }

    /// `RUN_DIR/jails/NAME`.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.run.join(name)
    }

    /// `RUN_DIR/jails/NAME/policy.json`.
    pub fn policy_json(&self, name: &str) -> PathBuf {
        self.run_dir(name).join("policy.json")
    }

    /// `RUN_DIR/jails/NAME/control.sock`.
    pub fn control(&self, name: &str) -> PathBuf {
        self.run_dir(name).join("control.sock")
    }

    /// Reads every jail's configuration; removes the leftovers of interrupted creates and
    /// destroys. A directory whose config cannot be read is reported and skipped (left as is).
    pub fn load_all(&self) -> std::io::Result<Vec<JailConfig>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.jails)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') {
                if name.ends_with(".creating") || name.contains(".destroying") {
                    tracing::info!(path = %path.display(), "removing the leftover of an interrupted create or destroy");
                    if let Err(e) = std::fs::remove_dir_all(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove it");
                    }
                }
                continue;
            }
            if !entry.file_type()?.is_dir() {
                continue;
            }
            match self.read_config(&name) {
                Ok(c) if c.name == name => out.push(c),
                Ok(c) => {
                    tracing::warn!(dir = %path.display(), config_name = %c.name, "config names another jail: skipped")
                }
                Err(e) => tracing::warn!(dir = %path.display(), error = %e, "cannot read the jail's config: skipped"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Reads `NAME/config.yaml`.
    pub fn read_config(&self, name: &str) -> Result<JailConfig, String> {
        let path = self.config(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Creates the jail's state directory with `config`, all or nothing: the directory is built
    /// as `.NAME.creating` and renamed into place. Fails if the jail exists.
    pub fn create(&self, config: &JailConfig) -> std::io::Result<()> {
        let name = &config.name;
        let tmp = self.jails.join(format!(".{name}.creating"));
        let _ = std::fs::remove_dir_all(&tmp);
        let result = (|| {
            DirBuilder::new().mode(0o700).create(&tmp)?;
            let yaml = serde_saphyr::to_string(config).map_err(std::io::Error::other)?;
            let text = format!("# jaild: the configuration of jail {name}. Written by jaild; edit with care.\n{yaml}");
            write_atomic(&tmp.join("config.yaml"), text.as_bytes(), 0o600)?;
            fault::point("create.written");
            // rename(2) onto an existing empty directory would succeed: refuse explicitly.
            let dest = self.dir(name);
            if dest.exists() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists", dest.display()),
                ));
            }
            std::fs::rename(&tmp, &dest)?;
            sync_dir(&self.jails)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Removes the jail's state and run directories: the state directory is renamed away first,
    /// so a crash leaves either the whole jail or a leftover that the next start removes.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        let _ = std::fs::remove_dir_all(self.run_dir(name));
        let dir = self.dir(name);
        let gone = self.jails.join(format!(
            ".{name}.destroying.{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::rename(&dir, &gone)?;
        sync_dir(&self.jails)?;
        fault::point("destroy.renamed");
        std::fs::remove_dir_all(&gone)?;
        sync_dir(&self.jails)
    }

    /// Creates `RUN_DIR/jails/NAME` (mode 0700).
    pub fn make_run_dir(&self, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.run_dir(name);
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(dir)
    }

    /// Removes what a run left in `RUN_DIR/jails/NAME`.
    pub fn clean_run_dir(&self, name: &str) {
        let dir = self.run_dir(name);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the jail's run directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RestartPolicy;

    fn config(name: &str) -> JailConfig {
        JailConfig {
            name: name.to_string(),
            root: "/srv/j/root".to_string(),
            policy: Some("hosting".to_string()),
            sets: vec!["env.A=\"b: c\"".to_string()],
            hostname: None,
            ids: Some("passthrough".to_string()),
            autostart: true,
            command: vec!["/bin/sh".to_string(), "-c".to_string(), "echo 'x' \"y\"".to_string()],
            restart: RestartPolicy::default(),
            stop_signal: None,
            created_at: 1,
        }
    }

    #[test]
    fn config_round_trips_through_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state"), &dir.path().join("run")).unwrap();
        let c = config("web");
        store.create(&c).unwrap();
        assert_eq!(store.read_config("web").unwrap(), c);
        assert!(store.create(&c).is_err(), "a second create of the same name fails");
        assert_eq!(store.load_all().unwrap(), vec![c]);
        store.remove("web").unwrap();
        assert_eq!(std::fs::read_dir(&store.jails).unwrap().count(), 0);
    }

    #[test]
    fn leftovers_are_removed_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state"), &dir.path().join("run")).unwrap();
        std::fs::create_dir(store.jails.join(".x.creating")).unwrap();
        std::fs::create_dir(store.jails.join(".y.destroying.5")).unwrap();
        assert!(store.load_all().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(&store.jails).unwrap().count(), 0);
    }
}
