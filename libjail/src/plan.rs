//! The resolved plan: everything the spawn sequence needs, computed before
//! any namespace exists and serialisable so the daemon can hand it to a
//! fresh single-threaded `jail-init` helper.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::capability::CapMask;
use crate::idmap::{IdMap, IdMapEntry};
use crate::landlock;
use crate::policy::{self, IdMode, LandlockMode, Policy, RootMode};
use crate::seccomp::{self, SeccompFilters};

/// How the payload's stdio is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Console {
    /// The caller's stdio passes through; the jail gets a new session.
    Inherit,
    /// A new pty of the jail's own devpts: its slave is the jail's stdio
    /// and controlling terminal, its master goes to the caller.
    Pty,
}

/// A volume as the spawn sequence mounts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub source: String,
    pub target: String,
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub create: bool,
    /// The maps of the volume's own user namespace (disk id → kernel id),
    /// for `MOUNT_ATTR_IDMAP`; `None` for a plain bind.
    pub idmap: Option<(IdMap, IdMap)>,
}

/// Everything the spawn sequence needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The jail's name (for logs, and its hostname when the policy has none).
    pub name: String,
    /// The root directory, checked again when it is opened.
    pub rootfs: PathBuf,
    /// The payload: argv[0] is looked up in the jail's PATH when it has no `/`.
    pub argv: Vec<String>,
    /// The effective policy.
    pub policy: Policy,
    /// The capabilities the jail's root holds: the mask plus what the
    /// allowances need ([`policy::effective_capabilities`]).
    pub caps: CapMask,
    /// uid map of the jail's user namespace.
    pub uid_map: IdMap,
    /// gid map of the jail's user namespace.
    pub gid_map: IdMap,
    /// Whether the rootfs is bound through an idmapped mount.
    pub idmapped_rootfs: bool,
    /// Set `user.max_user_namespaces = 0` in the jail's user namespace.
    pub limit_userns: bool,
    /// The compiled seccomp programs, installed in order.
    pub seccomp: SeccompFilters,
    /// The Landlock rules.
    pub landlock: landlock::Rules,
    /// Volumes, mounted in order.
    pub volumes: Vec<Volume>,
    /// The kernel's last capability (`/proc/sys/kernel/cap_last_cap`).
    pub cap_last_cap: u8,
    /// stdio.
    pub console: Console,
    /// Answer `reboot(2)` through a seccomp user notification whose
    /// listener goes to the parent (the supervisor).
    #[serde(default)]
    pub intercept_reboot: bool,
    /// Give the jail a cgroup (below ours) and a cgroup namespace: when the
    /// policy limits resources, and always for supervised jails.
    #[serde(default)]
    pub cgroup: bool,
    /// The jail's network addresses (static ones from the policy, or leased
    /// by the caller for `address: [auto]`).
    #[serde(default)]
    pub addresses: Vec<crate::net::IpNet>,
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
    #[error("plan: custom ids need a map")]
    NoMap,
    #[error(
        "plan: shifted ids: rootfs {path} is owned by {uid}:{gid}, not by the base of a shifted range; shift it first: `jail-rootfs shift {path} --from 0 --to BASE --count 65536` (BASE a multiple of 65536 that no other jail uses)"
    )]
    NotShifted { path: PathBuf, uid: u32, gid: u32 },
    #[error("plan: stat rootfs {path}: {source}")]
    StatRootfs { path: PathBuf, source: std::io::Error },
    #[error("plan: volume {target}: jail id {id} of its map is not mapped to the host by the jail's id map")]
    VolumeMap { target: String, id: u32 },
}

/// The kernel's last capability (`/proc/sys/kernel/cap_last_cap`).
fn read_cap_last_cap() -> Result<u8, PlanError> {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(PlanError::CapLastCap)?
        .trim()
        .parse::<u8>()
        .map_err(|e| PlanError::CapLastCap(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// The remap maps: jail root is host `r`, every other id itself (DESIGN §5,
/// split around `r` so the extents do not overlap on the host side).
fn remap(r: u32) -> IdMap {
    let mut v = vec![IdMapEntry {
        inside: 0,
        outside: r,
        count: 1,
    }];
    if r > 1 {
        v.push(IdMapEntry {
            inside: 1,
            outside: 1,
            count: r - 1,
        });
    }
    let after = u64::from(r) + 1;
    let end = u64::from(u32::MAX); // ids run to 4294967294
    if after < end {
        let count = u32::try_from(end - after).unwrap_or(0);
        let after = u32::try_from(after).unwrap_or(u32::MAX);
        v.push(IdMapEntry {
            inside: after,
            outside: after,
            count,
        });
    }
    IdMap(v)
}

/// The maps of a volume's own user namespace: the policy says "jail id J is
/// host id H on disk"; an idmapped mount wants "disk id H is kernel id K",
/// where K is what J is in the jail's own map.
fn volume_idmap(target: &str, map: &IdMap, jail: &IdMap) -> Result<IdMap, PlanError> {
    let mut out = Vec::new();
    for e in &map.0 {
        let first = jail.to_host(e.inside).ok_or(PlanError::VolumeMap {
            target: target.into(),
            id: e.inside,
        })?;
        let last_in = e.inside + (e.count - 1);
        let last = jail.to_host(last_in).ok_or(PlanError::VolumeMap {
            target: target.into(),
            id: last_in,
        })?;
        if u64::from(last) != u64::from(first) + u64::from(e.count) - 1 {
            return Err(PlanError::VolumeMap {
                target: target.into(),
                id: last_in,
            });
        }
        out.push(IdMapEntry {
            inside: e.outside,
            outside: first,
            count: e.count,
        });
    }
    let m = IdMap(out);
    m.validate()?;
    Ok(m)
}

/// The Landlock rules of `policy`.
fn landlock_rules(p: &Policy) -> landlock::Rules {
    let l = &p.landlock;
    landlock::Rules {
        mode: match l.mode {
            LandlockMode::Off => landlock::Mode::Off,
            LandlockMode::BestEffort => landlock::Mode::BestEffort,
            LandlockMode::Required => landlock::Mode::Required,
        },
        readonly: l.readonly.clone(),
        noexec: l.noexec.clone(),
        tcp_bind: l.tcp_bind.clone(),
        tcp_connect: l.tcp_connect.clone(),
        scope_abstract_unix: l.scopes.iter().any(|s| s == "abstract_unix_socket"),
        scope_signal: l.scopes.iter().any(|s| s == "signal"),
        skip_fs: p.allow.mount,
    }
}

/// The seccomp view of `policy`'s allowances.
pub fn allowances(p: &Policy) -> seccomp::Allowances {
    let a = &p.allow;
    seccomp::Allowances {
        set_hostname: a.set_hostname,
        mount: a.mount,
        raw_sockets: a.raw_sockets,
        sysvipc: a.sysvipc,
        nested_userns: a.nested_userns,
        ptrace: a.ptrace,
        chroot: a.chroot,
        mknod: a.mknod,
        socket_families: a
            .socket_families
            .iter()
            .filter_map(|f| policy::socket_family(f))
            .collect(),
    }
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
        let (uid_map, gid_map, idmapped_rootfs) = match (policy.ids.mode, policy.ids.root) {
            (IdMode::Passthrough, RootMode::Passthrough) => (IdMap::passthrough(), IdMap::passthrough(), false),
            (IdMode::Passthrough, RootMode::Remap) => (remap(policy.ids.remap_uid), remap(policy.ids.remap_uid), true),
            (IdMode::Isolated, _) => {
                let base = id_base.ok_or(PlanError::NoIdBase)?;
                (IdMap::isolated(base), IdMap::isolated(base), true)
            }
            (IdMode::Shifted, _) => {
                // The tree is already chowned into BASE..BASE+65535: its
                // root directory, owned by the jail's root, tells BASE.
                let meta = std::fs::metadata(&rootfs).map_err(|source| PlanError::StatRootfs {
                    path: rootfs.clone(),
                    source,
                })?;
                let (uid, gid) = (meta.uid(), meta.gid());
                if uid == 0 || uid != gid || uid % 65536 != 0 || u64::from(uid) + 65536 > u64::from(u32::MAX) {
                    return Err(PlanError::NotShifted {
                        path: rootfs.clone(),
                        uid,
                        gid,
                    });
                }
                (IdMap::isolated(uid), IdMap::isolated(uid), false)
            }
            (IdMode::Custom, _) => {
                let uid = policy.ids.map.clone().ok_or(PlanError::NoMap)?;
                let gid = policy.ids.gid_map.clone().unwrap_or_else(|| uid.clone());
                (uid, gid, false)
            }
        };
        uid_map.validate()?;
        gid_map.validate()?;
        let volumes = policy
            .mounts
            .iter()
            .map(|m| {
                let idmap = match &m.map {
                    Some(map) => Some((
                        volume_idmap(&m.target, map, &uid_map)?,
                        volume_idmap(&m.target, map, &gid_map)?,
                    )),
                    None => None,
                };
                Ok(Volume {
                    source: m.source.clone(),
                    target: m.target.clone(),
                    readonly: m.readonly,
                    nosuid: m.nosuid,
                    nodev: m.nodev,
                    noexec: m.noexec,
                    create: m.create,
                    idmap,
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        let seccomp = seccomp::compile_with(&policy.seccomp.deny, &policy.seccomp.allow, &allowances(&policy))?;
        let cap_last_cap = read_cap_last_cap()?;
        let addresses = if policy.network.is_auto() {
            Vec::new()
        } else {
            policy.network.static_addresses()
        };
        let has_no_limits = policy.resources.is_empty();
        Ok(Plan {
            name: name.to_string(),
            rootfs,
            argv,
            caps: policy::effective_capabilities(&policy),
            limit_userns: !policy.allow.nested_userns,
            landlock: landlock_rules(&policy),
            volumes,
            policy,
            uid_map,
            gid_map,
            idmapped_rootfs,
            seccomp,
            cap_last_cap,
            console,
            intercept_reboot: false,
            cgroup: !has_no_limits,
            addresses,
        })
    }
}

impl Plan {
    /// The plan of a process joining a running jail (`jailctl exec`): only
    /// the jail-stage parts matter (capabilities, seccomp, Landlock, rlimits,
    /// user, environment); the tree and the namespaces exist already.
    pub fn for_exec(name: &str, argv: Vec<String>, policy: Policy, console: Console) -> Result<Plan, PlanError> {
        if argv.is_empty() {
            return Err(PlanError::NoCommand);
        }
        let seccomp = seccomp::compile_with(&policy.seccomp.deny, &policy.seccomp.allow, &allowances(&policy))?;
        let cap_last_cap = read_cap_last_cap()?;
        Ok(Plan {
            name: name.to_string(),
            rootfs: PathBuf::from("/"),
            argv,
            caps: policy::effective_capabilities(&policy),
            limit_userns: false,
            landlock: landlock_rules(&policy),
            volumes: Vec::new(),
            policy,
            uid_map: IdMap::passthrough(),
            gid_map: IdMap::passthrough(),
            idmapped_rootfs: false,
            seccomp,
            cap_last_cap,
            console,
            intercept_reboot: false,
            cgroup: false,
            addresses: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_splits_around_the_dedicated_uid() {
        let m = remap(3_000_000_000);
        m.validate().unwrap();
        assert_eq!(m.to_host(0), Some(3_000_000_000));
        assert_eq!(m.to_host(1000), Some(1000));
        assert_eq!(m.to_host(3_000_000_001), Some(3_000_000_001));
        assert_eq!(m.to_host(3_000_000_000), None, "the jail's uid R has no host id");
        assert_eq!(m.to_inside(0), None, "host root is not in the jail");
    }

    #[test]
    fn volume_maps_go_through_the_jail_map() {
        let jail = IdMap::isolated(2_000_000_000);
        let vol: IdMap = IdMap(vec!["0:1000:1".parse().unwrap()]);
        let m = volume_idmap("/mnt/shared", &vol, &jail).unwrap();
        assert_eq!(
            m.0,
            vec![IdMapEntry {
                inside: 1000,
                outside: 2_000_000_000,
                count: 1
            }]
        );
        let vol: IdMap = IdMap(vec!["70000:1000:1".parse().unwrap()]);
        assert!(
            volume_idmap("/mnt/shared", &vol, &jail).is_err(),
            "jail id 70000 is not mapped"
        );
        let pass = volume_idmap("/v", &IdMap(vec!["0:1000:1".parse().unwrap()]), &IdMap::passthrough()).unwrap();
        assert_eq!(
            pass.0,
            vec![IdMapEntry {
                inside: 1000,
                outside: 0,
                count: 1
            }]
        );
    }
}
