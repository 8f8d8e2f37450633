//! The resolved plan: everything the spawn sequence needs, computed before
//! any namespace exists and serialisable so the daemon can hand it to a
//! fresh single-threaded `jail-init` helper.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::idmap::IdMap;
use crate::policy::{IdMode, Policy};
use crate::seccomp::SeccompFilters;

/// How the payload's stdio is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Console {
    /// The caller's stdio passes through; the jail gets a new session.
    Inherit,
    /// A new pty: its slave is the jail's stdio and controlling terminal.
    Pty,
}

/// Everything the spawn sequence needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The jail's name (for logs).
    pub name: String,
    /// The root directory, checked again when it is opened.
    pub rootfs: PathBuf,
    /// The payload: argv[0] is looked up in the jail's PATH when it has no `/`.
    pub argv: Vec<String>,
    /// The effective policy.
    pub policy: Policy,
    /// uid map of the jail's user namespace.
    pub uid_map: IdMap,
    /// gid map of the jail's user namespace.
    pub gid_map: IdMap,
    /// Whether the rootfs is bound through an idmapped mount.
    pub idmapped_rootfs: bool,
    /// The compiled seccomp programs, installed in order.
    pub seccomp: SeccompFilters,
    /// The kernel's last capability (`/proc/sys/kernel/cap_last_cap`).
    pub cap_last_cap: u8,
    /// stdio.
    pub console: Console,
}

/// Building the plan failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("plan: no command given")]
    NoCommand,
    #[error("plan: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("plan: id map: {0}")]
    IdMap(#[from] crate::idmap::IdMapError),
    #[error("plan: read /proc/sys/kernel/cap_last_cap: {0}")]
    CapLastCap(std::io::Error),
    #[error("plan: isolated ids need a base from the id pool")]
    NoIdBase,
}

impl Plan {
    /// Resolve `policy` for `rootfs` and `argv`. `id_base` is the leased base
    /// of an isolated jail's range.
    pub fn new(
        name: &str,
        rootfs: PathBuf,
        argv: Vec<String>,
        policy: Policy,
        id_base: Option<u32>,
        console: Console,
    ) -> Result<Plan, PlanError> {
        if argv.is_empty() {
            return Err(PlanError::NoCommand);
        }
        let (uid_map, gid_map, idmapped_rootfs) = match policy.ids.mode {
            IdMode::Passthrough => (IdMap::passthrough(), IdMap::passthrough(), false),
            IdMode::Isolated => {
                let base = id_base.ok_or(PlanError::NoIdBase)?;
                (IdMap::isolated(base), IdMap::isolated(base), true)
            }
            IdMode::Custom => {
                let uid = policy.ids.map.clone().ok_or(PlanError::NoIdBase)?;
                let gid = policy.ids.gid_map.clone().unwrap_or_else(|| uid.clone());
                (uid, gid, false)
            }
        };
        uid_map.validate()?;
        gid_map.validate()?;
        let seccomp = crate::seccomp::compile(&policy.seccomp.deny, &policy.seccomp.allow)?;
        let cap_last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .map_err(PlanError::CapLastCap)?
            .trim()
            .parse::<u8>()
            .map_err(|e| PlanError::CapLastCap(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Ok(Plan {
            name: name.to_string(),
            rootfs,
            argv,
            policy,
            uid_map,
            gid_map,
            idmapped_rootfs,
            seccomp,
            cap_last_cap,
            console,
        })
    }
}
