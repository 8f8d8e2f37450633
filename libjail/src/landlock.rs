//! Landlock (DESIGN §4 step 14): read-only and no-exec paths, TCP bind and
//! connect ports (ABI 4), and scopes (ABI 6: abstract unix sockets,
//! signals), applied by the jail stage after the pivot and before seccomp.
//!
//! Landlock rules only ever *grant* access, and a rule on a directory covers
//! everything below it. So "everything is writable except `/usr`" is built as
//! a partition: every directory on the way from `/` to a restricted path is
//! split into its entries, each granted what applies to it, and the
//! restricted subtrees get full access minus writing (read-only) or minus
//! executing (no-exec). A consequence, stated in `policy explain`: creating
//! entries directly in a split directory (`/` itself, say) is refused.
//!
//! The safe device nodes and `/dev/pts` stay readable and writable even
//! under a read-only `/`, so `> /dev/null` keeps working.
//!
//! With `allow.mount`, the file-system part is skipped: a Landlock domain
//! that handles file-system access forbids every mount topology change.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use serde::{Deserialize, Serialize};

/// The newest ABI we know; best effort degrades to what the kernel has.
const ABI_WANTED: ABI = ABI::V6;
/// At most this many path rules (a partition of a huge directory is a
/// policy mistake, not something to spend the start on).
const MAX_RULES: usize = 4096;

/// How strictly Landlock is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Not applied.
    Off,
    /// Applied as far as the kernel supports it; the status says how far.
    BestEffort,
    /// Every requested feature must be supported, else the start fails.
    Required,
}

/// The Landlock part of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub mode: Mode,
    /// Subtrees that may be read and executed, never written.
    pub readonly: Vec<String>,
    /// Subtrees where nothing may be executed.
    pub noexec: Vec<String>,
    /// `Some(ports)`: only these TCP ports may be bound.
    pub tcp_bind: Option<Vec<u16>>,
    /// `Some(ports)`: only these TCP ports may be connected to.
    pub tcp_connect: Option<Vec<u16>>,
    /// Restrict connecting to abstract unix sockets created outside.
    pub scope_abstract_unix: bool,
    /// Restrict signalling processes outside.
    pub scope_signal: bool,
    /// Skip the file-system rules (`allow.mount`).
    pub skip_fs: bool,
}

/// Landlock failed.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("landlock: open {path}: {source}")]
    Path {
        path: String,
        source: landlock::PathFdError,
    },
    #[error("landlock: read {path}: {source}")]
    ReadDir { path: String, source: std::io::Error },
    #[error("landlock: more than {MAX_RULES} path rules; restrict fewer or shallower paths")]
    TooManyRules,
}

/// Normalise `p` to an absolute path without `.`/`..`/trailing slash.
fn norm(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        if let std::path::Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// One path rule: the path and what it grants.
#[derive(Debug, PartialEq, Eq)]
pub struct PathRule {
    pub path: PathBuf,
    pub access: BitFlags<AccessFs>,
}

/// Lists a directory: `(name, is_dir)` per entry.
pub type Lister<'a> = dyn FnMut(&Path) -> std::io::Result<Vec<(String, bool)>> + 'a;

/// The walk behind [`partition`].
struct Walk<'a, 'b> {
    ro: Vec<PathBuf>,
    nx: Vec<PathBuf>,
    all: BitFlags<AccessFs>,
    write: BitFlags<AccessFs>,
    file_access: BitFlags<AccessFs>,
    list: &'a mut Lister<'b>,
    rules: Vec<PathRule>,
}

impl Walk<'_, '_> {
    fn visit(&mut self, dir: &Path, is_dir: bool) -> Result<(), LandlockError> {
        if self.rules.len() >= MAX_RULES {
            return Err(LandlockError::TooManyRules);
        }
        let mut access = self.all;
        if self.ro.iter().any(|r| dir.starts_with(r)) {
            access &= !self.write;
        }
        if self.nx.iter().any(|r| dir.starts_with(r)) {
            access &= !BitFlags::from(AccessFs::Execute);
        }
        let split = is_dir && self.ro.iter().chain(&self.nx).any(|r| r != dir && r.starts_with(dir));
        if !split {
            let access = if is_dir { access } else { access & self.file_access };
            self.rules.push(PathRule {
                path: dir.to_path_buf(),
                access,
            });
            return Ok(());
        }
        let entries = (self.list)(dir).map_err(|source| LandlockError::ReadDir {
            path: dir.display().to_string(),
            source,
        })?;
        for (name, child_is_dir) in entries {
            self.visit(&dir.join(name), child_is_dir)?;
        }
        Ok(())
    }
}

/// The partition described in the module docs, for `abi`, reading
/// directories through `list`.
pub fn partition(
    readonly: &[String],
    noexec: &[String],
    abi: ABI,
    list: &mut Lister<'_>,
) -> Result<Vec<PathRule>, LandlockError> {
    let all = AccessFs::from_all(abi);
    let mut walk = Walk {
        ro: readonly.iter().map(|p| norm(p)).collect(),
        nx: noexec.iter().map(|p| norm(p)).collect(),
        all,
        write: AccessFs::from_write(abi) & all,
        file_access: AccessFs::from_file(abi),
        list,
        rules: Vec::new(),
    };
    walk.visit(Path::new("/"), true)?;
    Ok(walk.rules)
}

/// List a real directory: `(name, is_dir)`, symlinks skipped (a rule on a
/// symlink would apply to its target).
fn list_dir(dir: &Path) -> std::io::Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            continue;
        }
        out.push((entry.file_name().to_string_lossy().into_owned(), ft.is_dir()));
    }
    out.sort();
    Ok(out)
}

/// The outcome, as reported to the parent and shown by `jailctl run -v`.
pub fn describe_status(status: &RestrictionStatus) -> String {
    let how = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => "not enforced",
    };
    let abi = match &status.landlock {
        landlock::LandlockStatus::Available { effective_abi, .. } => {
            format!("ABI {}", format!("{effective_abi:?}").trim_start_matches('V'))
        }
        other => format!("{other:?}").to_lowercase(),
    };
    format!("{how}, {abi}")
}

/// Apply `rules` to the calling thread (the jail stage, after the pivot).
/// Returns the status in words; `Ok(None)` when the mode is off.
pub fn apply(rules: &Rules) -> Result<Option<String>, LandlockError> {
    if rules.mode == Mode::Off {
        return Ok(None);
    }
    let level = match rules.mode {
        Mode::Required => CompatLevel::HardRequirement,
        _ => CompatLevel::BestEffort,
    };
    let mut ruleset = Ruleset::default().set_compatibility(level);
    if !rules.skip_fs {
        ruleset = ruleset.handle_access(AccessFs::from_all(ABI_WANTED))?;
    }
    if rules.tcp_bind.is_some() {
        ruleset = ruleset.handle_access(AccessNet::BindTcp)?;
    }
    if rules.tcp_connect.is_some() {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
    }
    if rules.scope_abstract_unix {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket)?;
    }
    if rules.scope_signal {
        ruleset = ruleset.scope(Scope::Signal)?;
    }
    let mut created = ruleset.create()?.no_new_privs(false);
    if !rules.skip_fs {
        let path_rules = partition(&rules.readonly, &rules.noexec, ABI_WANTED, &mut list_dir)?;
        for r in path_rules {
            let fd = PathFd::new(&r.path).map_err(|source| LandlockError::Path {
                path: r.path.display().to_string(),
                source,
            })?;
            created = created.add_rule(PathBeneath::new(fd, r.access))?;
        }
        // The safe device nodes and the console stay usable under a
        // read-only root.
        let dev_access = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
        for dev in [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty",
            "/dev/pts",
        ] {
            if let Ok(fd) = PathFd::new(dev) {
                let access = if dev == "/dev/pts" {
                    dev_access
                } else {
                    dev_access & AccessFs::from_file(ABI_WANTED)
                };
                created = created.add_rule(PathBeneath::new(fd, access))?;
            }
        }
    }
    for port in rules.tcp_bind.iter().flatten() {
        created = created.add_rule(NetPort::new(*port, AccessNet::BindTcp))?;
    }
    for port in rules.tcp_connect.iter().flatten() {
        created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
    }
    let status = created.restrict_self()?;
    Ok(Some(describe_status(&status)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A fake tree: directory → entries.
    fn fake(tree: &[(&str, &[(&str, bool)])]) -> BTreeMap<PathBuf, Vec<(String, bool)>> {
        tree.iter()
            .map(|(d, e)| {
                (
                    PathBuf::from(d),
                    e.iter().map(|(n, isdir)| (n.to_string(), *isdir)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn no_restriction_is_one_rule_on_root() {
        let mut list = |_: &Path| -> std::io::Result<Vec<(String, bool)>> { panic!("no listing needed") };
        let rules = partition(&[], &[], ABI::V6, &mut list).unwrap();
        assert_eq!(
            rules,
            vec![PathRule {
                path: "/".into(),
                access: AccessFs::from_all(ABI::V6)
            }]
        );
    }

    #[test]
    fn readonly_usr_splits_root_only() {
        let tree = fake(&[("/", &[("usr", true), ("etc", true), ("hello", false)])]);
        let mut list = |d: &Path| Ok(tree[d].clone());
        let rules = partition(&["/usr".into()], &[], ABI::V6, &mut list).unwrap();
        let all = AccessFs::from_all(ABI::V6);
        let by: BTreeMap<_, _> = rules.iter().map(|r| (r.path.to_str().unwrap(), r.access)).collect();
        assert_eq!(by["/etc"], all);
        assert_eq!(by["/usr"], all & !AccessFs::from_write(ABI::V6));
        assert!(by["/usr"].contains(AccessFs::Execute) && by["/usr"].contains(AccessFs::ReadFile));
        assert_eq!(by["/hello"], all & AccessFs::from_file(ABI::V6));
        assert!(!by.contains_key("/"), "a split directory gets no rule of its own");
    }

    #[test]
    fn nested_readonly_and_noexec() {
        let tree = fake(&[
            ("/", &[("tmp", true), ("dev", true)]),
            ("/dev", &[("shm", true), ("null", false)]),
        ]);
        let mut list = |d: &Path| Ok(tree[d].clone());
        let rules = partition(&["/".into()], &["/tmp".into(), "/dev/shm/".into()], ABI::V6, &mut list).unwrap();
        let by: BTreeMap<_, _> = rules.iter().map(|r| (r.path.to_str().unwrap(), r.access)).collect();
        for p in ["/tmp", "/dev/shm"] {
            assert!(!by[p].contains(AccessFs::Execute), "{p}");
            assert!(!by[p].contains(AccessFs::WriteFile), "{p}");
        }
        assert!(by["/dev/null"].contains(AccessFs::Execute));
        assert!(!by["/dev/null"].contains(AccessFs::WriteFile));
    }
}
