//! Policies: what a jail may do (DESIGN §8).
//!
//! A policy is written in YAML (format version 1) and read strictly: an
//! unknown key, a bad value, a YAML 1.1 boolean such as `yes`, or a repeated
//! key is an error naming the file, line and column, with a hint when one
//! helps. `policies/default.yaml` documents every field.
//!
//! Each file, and each `--set KEY=VALUE` of the command line, is a partial
//! [`Layer`]. [`load`] stacks them, each over the previous:
//!
//! 1. the built-in defaults ([`Policy::builtin`], the hardened default);
//! 2. the `extends:` chain, outermost ancestor first;
//! 3. the file itself;
//! 4. each `--set`, in order.
//!
//! How a field merges depends on its kind:
//!
//! - scalars (`no_new_privs`, `hostname`, `ids.mode`, …) and plain lists
//!   (`devices`) are replaced by the last layer that sets them;
//! - maps (`env`, `rlimits`) merge key by key; an `env` value of `null`
//!   removes an inherited variable;
//! - `proc`/`sys` mask and read-only lists accumulate, on top of the
//!   mandatory entries ([`MANDATORY_PROC_MASKED`] and friends) that no policy
//!   can remove;
//! - `seccomp.deny` and `seccomp.allow` accumulate; a later layer's `allow`
//!   takes a call off the accumulated `deny` list and vice versa;
//! - the capability mask is built layer by layer, in order: a layer's
//!   `allow` replaces the mask so far, then its `add` is added and its
//!   `drop` removed; so `--set capabilities.allow=[...]` on top of anything
//!   is exactly that list;
//! - setting `ids.mode` to anything but `custom` discards inherited maps.
//!
//! The result is a [`Policy`], which serialises to JSON for the
//! `jail-init` helper.

mod hint;
mod layer;
mod set;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capability::CapMask;
use crate::idmap::IdMap;

pub use layer::{Layer, parse_layer};

/// Files under `/proc` that every jail gets masked, whatever its policy.
pub const MANDATORY_PROC_MASKED: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/kmsg",
    "/proc/acpi",
    "/proc/scsi",
    "/proc/asound",
    "/proc/latency_stats",
    "/proc/timer_stats",
    "/proc/kallsyms",
];

/// Paths under `/proc` that every jail gets read-only, whatever its policy.
pub const MANDATORY_PROC_READONLY: &[&str] =
    &["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"];

/// Paths under `/sys` that every jail gets masked, whatever its policy.
pub const MANDATORY_SYS_MASKED: &[&str] = &[
    "/sys/firmware",
    "/sys/kernel/security",
    "/sys/kernel/debug",
    "/sys/devices/virtual/powercap",
];

/// Paths under `/sys` that every jail gets read-only beyond the whole of
/// `/sys`, which is mounted read-only anyway: none.
pub const MANDATORY_SYS_READONLY: &[&str] = &[];

/// The device nodes a jail's `/dev` may have, bound from the host.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The rlimit names a policy may set (`RLIMIT_` + the upper-cased name).
pub const RLIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// The built-in capability mask: docker's default set minus `MKNOD` and
/// `NET_RAW`. Held in the jail's own user namespace only.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "SETFCAP",
    "AUDIT_WRITE",
];

/// The built-in `PATH` of a jail's payload.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How deep an `extends:` chain may go, counting the file itself.
pub const MAX_EXTENDS_DEPTH: usize = 16;

/// The shipped profiles, by name: the files in `policies/`, embedded.
const PROFILES: &[(&str, &str)] = &[("default", include_str!("../../../policies/default.yaml"))];

/// The names of the shipped profiles, for `--policy NAME` and `extends:`.
pub const SHIPPED: &[&str] = &["default"];

/// The YAML text of shipped profile `name`.
pub fn shipped(name: &str) -> Option<&'static str> {
    PROFILES.iter().find(|&&(n, _)| n == name).map(|&(_, text)| text)
}

/// A resolved policy: every layer merged, every value checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What the policy is for.
    pub description: String,
    /// How ids map between the jail and the host.
    pub ids: IdsPolicy,
    /// The capabilities the jail's root may ever hold (bounding and ambient
    /// set), in the jail's own user namespace.
    pub capabilities: CapMask,
    /// Whether `PR_SET_NO_NEW_PRIVS` is set (breaks setuid programs).
    pub no_new_privs: bool,
    /// Mount flags of the jail's root.
    pub rootfs: RootfsPolicy,
    /// Masked and read-only paths under `/proc`, mandatory ones included.
    pub proc: ProcPolicy,
    /// Masked and read-only paths under `/sys`, mandatory ones included.
    pub sys: SysPolicy,
    /// The device nodes of the jail's `/dev`, a subset of [`DEVICES`].
    pub devices: Vec<String>,
    /// Changes to the default seccomp deny list.
    pub seccomp: SeccompPolicy,
    /// Resource limits by [`RLIMITS`] name; unset ones are inherited.
    pub rlimits: BTreeMap<String, Rlimit>,
    /// The jail's hostname, if the policy sets one.
    pub hostname: Option<String>,
    /// The jail's NIS domain name, if the policy sets one.
    pub domainname: Option<String>,
    /// The payload's environment.
    pub env: BTreeMap<String, String>,
    /// The payload's working directory, inside the jail.
    pub workdir: String,
    /// Who the payload runs as: `root`, `UID`, `UID:GID` or a user name.
    pub user: String,
    /// What runs as pid 1.
    pub init: InitMode,
}

/// How ids inside the jail map to host ids (DESIGN §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdMode {
    /// `0 BASE 65536` with BASE leased from the id pool (the default).
    Isolated,
    /// `0 0 4294967295`: every id is itself on the host.
    Passthrough,
    /// The policy's own `map` (and `gid_map`).
    Custom,
}

impl fmt::Display for IdMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdMode::Isolated => "isolated",
            IdMode::Passthrough => "passthrough",
            IdMode::Custom => "custom",
        })
    }
}

/// The id part of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdsPolicy {
    /// The mode.
    pub mode: IdMode,
    /// The uid map: `Some` exactly when the mode is [`IdMode::Custom`].
    pub map: Option<IdMap>,
    /// The gid map: `Some` exactly when the mode is [`IdMode::Custom`]
    /// (a copy of `map` when the policy gives none).
    pub gid_map: Option<IdMap>,
}

/// Mount flags of the jail's root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsPolicy {
    /// Mount the root read-only.
    pub readonly: bool,
    /// Ignore setuid and setgid bits (`MS_NOSUID`).
    pub nosuid: bool,
    /// Ignore device nodes (`MS_NODEV`).
    pub nodev: bool,
}

/// `/proc` masks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcPolicy {
    /// Paths hidden behind `/dev/null` or an empty read-only tmpfs.
    pub masked: Vec<String>,
    /// Paths remounted read-only.
    pub readonly: Vec<String>,
    /// Keep `/proc/sys/net` writable (it belongs to the jail's netns).
    pub sys_net_writable: bool,
}

/// `/sys` masks; `/sys` itself is always read-only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysPolicy {
    /// Paths hidden behind `/dev/null` or an empty read-only tmpfs.
    pub masked: Vec<String>,
    /// Paths remounted read-only.
    pub readonly: Vec<String>,
}

/// Changes to the default seccomp deny list (which lives in
/// [`crate::seccomp`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompPolicy {
    /// Extra system calls to deny with `EPERM`.
    pub deny: Vec<String>,
    /// System calls to take off the default deny list.
    pub allow: Vec<String>,
}

/// One resource limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    /// The soft limit; [`Rlimit::UNLIMITED`] for none.
    pub soft: u64,
    /// The hard limit; [`Rlimit::UNLIMITED`] for none.
    pub hard: u64,
}

impl Rlimit {
    /// `RLIM_INFINITY`.
    pub const UNLIMITED: u64 = u64::MAX;

    /// A limit for display: the number, or `unlimited`.
    pub fn show(value: u64) -> String {
        if value == Self::UNLIMITED {
            "unlimited".to_string()
        } else {
            value.to_string()
        }
    }
}

/// What runs as pid 1 of the jail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitMode {
    /// The payload itself is pid 1.
    None,
    /// A tiny built-in reaper is pid 1 and runs the payload.
    Builtin,
}

impl Policy {
    /// The built-in defaults, the bottom of every stack: the hardened
    /// default that `policies/default.yaml` spells out.
    pub fn builtin() -> Policy {
        let capabilities = DEFAULT_CAPABILITIES.iter().fold(CapMask::EMPTY, |mask, name| {
            // The table is ours; a missing name is a bug caught by the tests.
            crate::capability::number(name).map_or(mask, |nr| mask.with(nr))
        });
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Policy {
            description: "built-in hardened default".to_string(),
            ids: IdsPolicy {
                mode: IdMode::Isolated,
                map: None,
                gid_map: None,
            },
            capabilities,
            no_new_privs: false,
            rootfs: RootfsPolicy {
                readonly: false,
                nosuid: true,
                nodev: true,
            },
            proc: ProcPolicy {
                masked: strings(MANDATORY_PROC_MASKED),
                readonly: strings(MANDATORY_PROC_READONLY),
                sys_net_writable: true,
            },
            sys: SysPolicy {
                masked: strings(MANDATORY_SYS_MASKED),
                readonly: strings(MANDATORY_SYS_READONLY),
            },
            devices: strings(DEVICES),
            seccomp: SeccompPolicy {
                deny: Vec::new(),
                allow: Vec::new(),
            },
            rlimits: BTreeMap::new(),
            hostname: None,
            domainname: None,
            env: BTreeMap::from([
                ("PATH".to_string(), DEFAULT_PATH.to_string()),
                ("HOME".to_string(), "/root".to_string()),
            ]),
            workdir: "/".to_string(),
            user: "root".to_string(),
            init: InitMode::None,
        }
    }
}

impl Default for Policy {
    /// [`Policy::builtin`].
    fn default() -> Self {
        Policy::builtin()
    }
}

/// Errors from reading, resolving or checking a policy. Each names where
/// the problem comes from: a file (with line and column when the YAML
/// says), a `--set` argument, or a profile name.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A bad key or value at a known place in a file.
    #[error("policy {origin}:{line}:{column}: {message}{}", show_hint(hint))]
    Parse {
        /// The file (or shipped profile) name.
        origin: String,
        /// Line, from 1.
        line: u64,
        /// Column, from 1.
        column: u64,
        /// What is wrong.
        message: String,
        /// How to fix it, when we can tell.
        hint: Option<String>,
    },
    /// A policy file cannot be read.
    #[error("policy {}: cannot read it: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An `extends:` chain that comes back to a policy already in it.
    #[error("policy {}: cycle", chain.join(" extends "))]
    Cycle {
        /// The chain, from the file loaded first to the repeated one.
        chain: Vec<String>,
    },
    /// `--policy NAME` with a name that is not shipped.
    #[error(
        "unknown policy profile `{name}` (shipped profiles: {}; a file path must contain `/` or end in .yaml)",
        known.join(", ")
    )]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The shipped profiles.
        known: Vec<String>,
    },
    /// A bad `--set KEY=VALUE` argument.
    #[error("--set {}: {reason}", printable(arg))]
    BadSet {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A problem with no line and column: a missing field, or a conflict
    /// between layers.
    #[error("policy {origin}: {message}")]
    Invalid {
        /// The file (or shipped profile) name.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// `text` with control characters (and the Unicode line separators)
/// escaped, so that user input in a message cannot break lines or steer a
/// terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// ` (hint)`, or nothing.
fn show_hint(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

/// Where a policy comes from, as `--policy` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// A shipped profile, by name (one of [`SHIPPED`]).
    Shipped(&'static str),
    /// A policy file.
    File(PathBuf),
}

impl PolicySource {
    /// Reads a `--policy` argument: a file path when it contains `/` or ends
    /// in `.yaml` or `.yml`, else the name of a shipped profile.
    pub fn parse(spec: &str) -> Result<PolicySource, PolicyError> {
        if is_path_like(spec) {
            return Ok(PolicySource::File(PathBuf::from(spec)));
        }
        SHIPPED
            .iter()
            .find(|&&name| name == spec)
            .map(|&name| PolicySource::Shipped(name))
            .ok_or_else(|| PolicyError::UnknownProfile {
                name: spec.to_string(),
                known: SHIPPED.iter().map(|s| s.to_string()).collect(),
            })
    }

    /// The name errors use: the path as given, or the profile's name.
    pub fn display_name(&self) -> String {
        match self {
            PolicySource::Shipped(name) => (*name).to_string(),
            PolicySource::File(path) => path.display().to_string(),
        }
    }
}

/// Whether a `--policy` or `extends:` value names a file, not a profile.
fn is_path_like(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml")
}

/// Loads a policy: `spec` as [`PolicySource::parse`] reads it (`None` is
/// the shipped `default`), then each `--set KEY=VALUE` of `sets` on top.
///
/// In a `--set`, KEY is a dotted path (`rootfs.nosuid`, `env.TERM`) and
/// VALUE is YAML (`[SYS_ADMIN]`, `false`, `{soft: 10, hard: 20}`); an empty
/// VALUE is the empty string.
pub fn load(spec: Option<&str>, sets: &[String]) -> Result<Policy, PolicyError> {
    load_source(&PolicySource::parse(spec.unwrap_or("default"))?, sets)
}

/// [`load`] from an already parsed source.
pub fn load_source(source: &PolicySource, sets: &[String]) -> Result<Policy, PolicyError> {
    let mut layers = load_chain(source)?;
    for arg in sets {
        layers.push((Origin::Set(arg.clone()), set::parse_set(arg)?));
    }
    resolve(layers)
}

/// Loads and checks one policy file, with its `extends:` chain: what
/// `jailctl policy validate FILE` runs.
pub fn validate_file(path: &Path) -> Result<Policy, PolicyError> {
    load_source(&PolicySource::File(path.to_path_buf()), &[])
}

/// Where a layer comes from, for errors found while merging.
#[derive(Clone, Debug)]
enum Origin {
    /// A file or shipped profile, by display name.
    File(String),
    /// A `--set` argument.
    Set(String),
}

impl Origin {
    /// An error about this layer.
    fn invalid(&self, message: String) -> PolicyError {
        match self {
            Origin::File(origin) => PolicyError::Invalid {
                origin: origin.clone(),
                message,
            },
            Origin::Set(arg) => PolicyError::BadSet {
                arg: arg.clone(),
                reason: message,
            },
        }
    }
}

/// Reads `source` and its `extends:` ancestors; returns the layers
/// outermost ancestor first.
fn load_chain(source: &PolicySource) -> Result<Vec<(Origin, Layer)>, PolicyError> {
    // (identity, display name) of every policy read so far, in order.
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut layers = Vec::new();
    let mut next = Some(source.clone());
    while let Some(current) = next.take() {
        let display = current.display_name();
        let (identity, text) = read_source(&current, seen.last().map(|(_, d)| d.as_str()))?;
        if seen.iter().any(|(id, _)| *id == identity) {
            let mut chain: Vec<String> = seen.into_iter().map(|(_, d)| d).collect();
            chain.push(display);
            return Err(PolicyError::Cycle { chain });
        }
        if seen.len() == MAX_EXTENDS_DEPTH {
            return Err(PolicyError::Invalid {
                origin: display_of(&seen),
                message: format!("the extends chain is longer than {MAX_EXTENDS_DEPTH} policies"),
            });
        }
        seen.push((identity, display.clone()));

        let layer = parse_layer(&text, &display)?;
        if !layer.has_version() {
            return Err(PolicyError::Invalid {
                origin: display,
                message: "missing `version: 1`: every policy file must say which format it uses".to_string(),
            });
        }
        next = match (&layer.extends, &current) {
            (None, _) => None,
            (Some(layer::Extends::Shipped(name)), _) => Some(PolicySource::Shipped(name)),
            (Some(layer::Extends::Path(path)), PolicySource::File(file)) => {
                let dir = file.parent().unwrap_or(Path::new(""));
                Some(PolicySource::File(dir.join(path)))
            }
            (Some(layer::Extends::Path(path)), PolicySource::Shipped(_)) => {
                return Err(PolicyError::Invalid {
                    origin: display,
                    message: format!("a shipped profile can only extend shipped profiles, not `{path}`"),
                });
            }
        };
        layers.push((Origin::File(display), layer));
    }
    layers.reverse();
    Ok(layers)
}

/// The display name of the last policy in `seen`.
fn display_of(seen: &[(String, String)]) -> String {
    seen.last().map(|(_, d)| d.clone()).unwrap_or_default()
}

/// The identity (for cycle detection) and text of a policy source.
/// `extended_by` names the policy whose `extends:` led here, if any.
fn read_source(source: &PolicySource, extended_by: Option<&str>) -> Result<(String, String), PolicyError> {
    let path = match source {
        PolicySource::Shipped(name) => {
            let text = shipped(name).ok_or_else(|| PolicyError::UnknownProfile {
                name: (*name).to_string(),
                known: SHIPPED.iter().map(|s| s.to_string()).collect(),
            })?;
            return Ok((format!("shipped:{name}"), text.to_string()));
        }
        PolicySource::File(path) => path,
    };
    let read =
        std::fs::canonicalize(path).and_then(|canonical| Ok((canonical.clone(), std::fs::read_to_string(&canonical)?)));
    match (read, extended_by) {
        (Ok((canonical, text)), _) => Ok((canonical.display().to_string(), text)),
        (Err(source), None) => Err(PolicyError::Io {
            path: path.clone(),
            source,
        }),
        (Err(err), Some(parent)) => Err(PolicyError::Invalid {
            origin: parent.to_string(),
            message: format!("cannot read the policy it extends, {}: {err}", path.display()),
        }),
    }
}

/// The capability mask as the layers build it: see the module docs.
struct CapsAccumulator {
    mask: CapMask,
}

impl CapsAccumulator {
    fn mask(names: Vec<layer::CapName>) -> CapMask {
        names.into_iter().fold(CapMask::EMPTY, |mask, name| mask.with(name.0))
    }

    fn finish(self) -> CapMask {
        self.mask
    }
}

/// Appends the entries of `new` to `list` that it does not hold yet.
fn extend_unique(list: &mut Vec<String>, new: impl IntoIterator<Item = String>) {
    for item in new {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Stacks `layers` on the built-in defaults.
fn resolve(layers: Vec<(Origin, Layer)>) -> Result<Policy, PolicyError> {
    let mut policy = Policy::builtin();
    let mut caps = CapsAccumulator {
        mask: Policy::builtin().capabilities,
    };
    let mut ids_origin: Option<Origin> = None;
    for (origin, layer) in layers {
        // Destructured, so that a new field cannot be forgotten here.
        let Layer {
            version: _,
            description,
            extends: _,
            ids,
            capabilities,
            no_new_privs,
            rootfs,
            proc,
            sys,
            devices,
            seccomp,
            rlimits,
            hostname,
            domainname,
            env,
            workdir,
            user,
            init,
        } = layer;

        if let Some(description) = description {
            policy.description = description;
        }
        if let Some(ids) = ids {
            if let Some(mode) = ids.mode {
                if mode != IdMode::Custom {
                    policy.ids.map = None;
                    policy.ids.gid_map = None;
                }
                policy.ids.mode = mode;
            }
            if ids.map.is_some() {
                policy.ids.map = ids.map;
            }
            if ids.gid_map.is_some() {
                policy.ids.gid_map = ids.gid_map;
            }
            ids_origin = Some(origin.clone());
        }
        if let Some(c) = capabilities {
            if let Some(allow) = c.allow {
                caps.mask = CapsAccumulator::mask(allow);
            }
            caps.mask.0 |= CapsAccumulator::mask(c.add.unwrap_or_default()).0;
            caps.mask.0 &= !CapsAccumulator::mask(c.drop.unwrap_or_default()).0;
        }
        if let Some(v) = no_new_privs {
            policy.no_new_privs = v;
        }
        if let Some(r) = rootfs {
            let flags = &mut policy.rootfs;
            flags.readonly = r.readonly.unwrap_or(flags.readonly);
            flags.nosuid = r.nosuid.unwrap_or(flags.nosuid);
            flags.nodev = r.nodev.unwrap_or(flags.nodev);
        }
        if let Some(p) = proc {
            let paths = |v: Option<Vec<layer::KernelPath<'p'>>>| v.unwrap_or_default().into_iter().map(|p| p.0);
            extend_unique(&mut policy.proc.masked, paths(p.masked));
            extend_unique(&mut policy.proc.readonly, paths(p.readonly));
            if let Some(v) = p.sys_net_writable {
                policy.proc.sys_net_writable = v;
            }
        }
        if let Some(s) = sys {
            let paths = |v: Option<Vec<layer::KernelPath<'s'>>>| v.unwrap_or_default().into_iter().map(|p| p.0);
            extend_unique(&mut policy.sys.masked, paths(s.masked));
            extend_unique(&mut policy.sys.readonly, paths(s.readonly));
        }
        if let Some(devices) = devices {
            policy.devices.clear();
            extend_unique(&mut policy.devices, devices.into_iter().map(|d| d.0));
        }
        if let Some(s) = seccomp {
            let deny: Vec<String> = s.deny.unwrap_or_default().into_iter().map(|n| n.0).collect();
            let allow: Vec<String> = s.allow.unwrap_or_default().into_iter().map(|n| n.0).collect();
            if let Some(both) = deny.iter().find(|n| allow.contains(n)) {
                return Err(origin.invalid(format!("seccomp: `{both}` is both in `deny` and in `allow`")));
            }
            policy.seccomp.allow.retain(|n| !deny.contains(n));
            policy.seccomp.deny.retain(|n| !allow.contains(n));
            extend_unique(&mut policy.seccomp.deny, deny);
            extend_unique(&mut policy.seccomp.allow, allow);
        }
        for (name, spec) in rlimits.unwrap_or_default() {
            policy.rlimits.insert(name.0, spec.0);
        }
        if let Some(h) = hostname {
            policy.hostname = Some(h.0);
        }
        if let Some(d) = domainname {
            policy.domainname = Some(d.0);
        }
        for (name, value) in env.unwrap_or_default() {
            match value {
                Some(value) => policy.env.insert(name.0, value.0),
                None => policy.env.remove(&name.0),
            };
        }
        if let Some(w) = workdir {
            policy.workdir = w.0;
        }
        if let Some(u) = user {
            policy.user = u.0;
        }
        if let Some(i) = init {
            policy.init = i;
        }
    }
    policy.capabilities = caps.finish();

    // The id fields must agree once every layer has spoken.
    let ids = &mut policy.ids;
    let ids_error = |message: String| match &ids_origin {
        Some(origin) => origin.invalid(message),
        None => PolicyError::Invalid {
            origin: "built-in defaults".to_string(),
            message,
        },
    };
    match ids.mode {
        IdMode::Custom if ids.map.is_none() => {
            return Err(ids_error("`ids.mode` is custom but no `ids.map` is given".to_string()));
        }
        IdMode::Custom => {
            ids.gid_map = ids.gid_map.take().or_else(|| ids.map.clone());
        }
        mode if ids.map.is_some() || ids.gid_map.is_some() => {
            return Err(ids_error(format!(
                "`ids.map` and `ids.gid_map` are only used with `mode: custom`, but the mode is {mode}"
            )));
        }
        _ => {}
    }
    Ok(policy)
}
