//! One policy layer as written: a YAML file or one `--set`, every field
//! optional so that layers can be stacked (see [`super::load`]).
//!
//! Every value is checked while it is read, inside the `Deserialize` impls of
//! small newtypes, so that serde-saphyr attaches the line and column of the
//! offending node to the error. Checks that need more than one node (an id
//! map's extents against each other) run when their container has been read
//! and point at its start.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, MessageFormatter, Options, UserMessageFormatter};

use super::hint::did_you_mean;
use super::network::{NetworkLayer, RawNetwork};
use super::resources::ResourcesLayer;
use super::{
    DEVICES, IdMode, InitMode, LANDLOCK_SCOPES, LandlockMode, MountPolicy, PolicyError, RLIMITS, Rlimit, RootMode,
    SHIPPED, SOCKET_FAMILIES, USERNS_MOUNT_TYPES, VOLUME_FORBIDDEN_TARGETS,
};
use crate::idmap::{IdMap, IdMapEntry};

/// Separates a message from its hint inside a serde custom error, which
/// carries a single string. Never part of a message users see.
const HINT_SEP: char = '\u{1f}';

/// A custom error message with an optional hint, for [`split_hint`].
pub(super) fn hinted(message: String, hint: Option<String>) -> String {
    match hint {
        Some(hint) => format!("{message}{HINT_SEP}{hint}"),
        None => message,
    }
}

/// A message made by [`hinted`] as one line: `message (hint)`.
pub(super) fn split_hint_text(text: &str) -> String {
    match split_hint(text) {
        (message, Some(hint)) => format!("{message} ({hint})"),
        (message, None) => message,
    }
}

/// Splits a message made by [`hinted`] back into message and hint.
fn split_hint(text: &str) -> (String, Option<String>) {
    match text.split_once(HINT_SEP) {
        Some((message, hint)) => (message.to_string(), Some(hint.to_string())),
        None => (text.to_string(), None),
    }
}

/// One partial policy: what a file or a `--set` says, nothing inherited.
///
/// Obtained from [`parse_layer`]; [`super::load`] stacks layers on the
/// built-in defaults. Every field is `None` when the layer does not set it.
/// The doc comments of the fields are the descriptions of the JSON schema
/// (`jailctl policy schema`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "jaild policy",
    description = "A jaild policy file (format version 1): what a jail may do. Every field but `version` is \
                   optional; unset fields come from the policy named by `extends`, else from the built-in \
                   hardened default (policies/default.yaml documents every field and its default)."
)]
pub struct Layer {
    /// Format version. Required in every policy file; only 1 exists.
    #[schemars(required, with = "Version")]
    pub(super) version: Option<Version>,
    /// What the policy is for and when to use it (shown by `jailctl policy list` and `explain`).
    pub(super) description: Option<String>,
    /// A policy this one builds on: a shipped profile's name (default, hosting, sandbox) or a file path,
    /// relative to this file's directory. Its fields come first; this file's fields override them.
    pub(super) extends: Option<Extends>,
    /// How ids inside the jail map to ids on the host.
    #[schemars(with = "Option<RawIds>")]
    pub(super) ids: Option<IdsLayer>,
    /// The capability mask: the only capabilities the jail's root can ever hold, and only in the jail's own
    /// user namespace. Applied in order: `allow` replaces the inherited mask, then `add` and `drop` apply.
    pub(super) capabilities: Option<CapsLayer>,
    /// PR_SET_NO_NEW_PRIVS: no exec can gain privileges (breaks setuid programs such as su and sudo).
    pub(super) no_new_privs: Option<bool>,
    /// Mount flags of the jail's root directory.
    pub(super) rootfs: Option<RootfsLayer>,
    /// Extra masked and read-only paths under /proc (added to the mandatory ones).
    pub(super) proc: Option<ProcLayer>,
    /// Extra masked and read-only paths under /sys (always mounted read-only).
    pub(super) sys: Option<SysLayer>,
    /// Device nodes of the jail's /dev, bound from the host; replaces the inherited list.
    pub(super) devices: Option<Vec<Device>>,
    /// Changes to the default seccomp deny list.
    pub(super) seccomp: Option<SeccompLayer>,
    /// Resource limits (setrlimit) by name: an integer (soft = hard), `unlimited`, or {soft, hard}. Unset ones
    /// are inherited from jaild.
    pub(super) rlimits: Option<BTreeMap<RlimitName, RlimitSpec>>,
    /// The jail's hostname: 1 to 64 of A-Z a-z 0-9 . -, not starting with - or .
    pub(super) hostname: Option<HostName>,
    /// The jail's NIS domain name, same rules as `hostname`.
    pub(super) domainname: Option<HostName>,
    /// The payload's environment. Layers merge by name; a null value removes an inherited variable.
    pub(super) env: Option<BTreeMap<EnvName, Option<EnvValue>>>,
    /// The payload's working directory inside the jail (absolute).
    pub(super) workdir: Option<WorkDir>,
    /// Who the payload runs as: root, a UID, UID:GID, or a user name from the jail's /etc/passwd.
    pub(super) user: Option<UserSpec>,
    /// What runs as pid 1: `none` (the payload itself) or `builtin` (a tiny reaper that forwards signals).
    pub(super) init: Option<InitMode>,
    /// Allowances: finer switches carved out of broad capabilities, named after FreeBSD's allow.* jail
    /// parameters and enforced by seccomp. Everything is off by default but set_hostname.
    pub(super) allow: Option<AllowLayer>,
    /// Landlock rules, applied last before seccomp.
    pub(super) landlock: Option<LandlockLayer>,
    /// Volumes: bind mounts from the host into the jail, in order. A layer's list replaces the inherited one.
    #[schemars(with = "Option<Vec<RawVolume>>")]
    pub(super) mounts: Option<Volumes>,
    /// Cgroup limits of the jail: memory, tasks, CPU, I/O weight, CPU placement. Fields merge one by one; `max`
    /// lifts an inherited limit.
    pub(super) resources: Option<ResourcesLayer>,
    /// The jail's network: none (loopback only, the default), bridge, ipvlan or macvlan.
    #[schemars(with = "Option<RawNetwork>")]
    pub(super) network: Option<NetworkLayer>,
}

impl Layer {
    /// Whether the layer says `version: 1` (required in files).
    pub fn has_version(&self) -> bool {
        self.version.is_some()
    }

    /// The layer's `description`, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The layer's `extends` as written (a shipped name or a path), if any.
    pub fn extends(&self) -> Option<&str> {
        match &self.extends {
            Some(Extends::Shipped(name)) => Some(name),
            Some(Extends::Path(path)) => Some(path),
            None => None,
        }
    }
}

/// The YAML options every policy is read with: YAML 1.2 booleans only
/// (`yes` is not `true`), and a repeated key is an error.
fn yaml_options() -> Options {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    // `devices: [null, zero]` names /dev/null: a plain `null` read into a
    // string is the text "null". Optional fields still read `null` as unset.
    options.null_as_string = true;
    // We print our own one-line errors; skip building snippets.
    options.with_snippet = false;
    options
}

/// Reads one layer from YAML `text`. `origin` names the text in errors
/// (a path, or a shipped profile's name). A missing `version` is not an
/// error here: only files need one, and [`super::load`] checks it.
pub fn parse_layer(text: &str, origin: &str) -> Result<Layer, PolicyError> {
    from_yaml(text).map_err(|err| {
        let problem = YamlProblem::from(&err);
        match problem.location {
            Some((line, column)) => PolicyError::Parse {
                origin: origin.to_string(),
                line,
                column,
                message: problem.message,
                hint: problem.hint,
            },
            None => PolicyError::Invalid {
                origin: origin.to_string(),
                message: problem.with_hint(),
            },
        }
    })
}

/// Deserializes `T` from YAML with [`yaml_options`].
pub(super) fn from_yaml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, yaml_options())
}

/// A serde-saphyr error in our words: message, hint and where.
pub(super) struct YamlProblem {
    /// `(line, column)`, both from 1, when known.
    pub(super) location: Option<(u64, u64)>,
    /// What is wrong, lower-case, without location.
    pub(super) message: String,
    /// How to fix it, when we can tell.
    pub(super) hint: Option<String>,
}

impl YamlProblem {
    /// `message (hint)`.
    pub(super) fn with_hint(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{} ({hint})", self.message),
            None => self.message.clone(),
        }
    }
}

impl From<&serde_saphyr::Error> for YamlProblem {
    fn from(err: &serde_saphyr::Error) -> Self {
        use serde_saphyr::Error as E;
        let location = err.location().filter(|l| l.line() > 0).map(|l| (l.line(), l.column()));
        let known = |expected: &[&'static str]| -> Option<String> {
            (!expected.is_empty()).then(|| {
                let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
                format!("expected one of {}", list.join(", "))
            })
        };
        let (message, hint) = match err.without_snippet() {
            E::SerdeUnknownField { field, expected, .. } => (
                format!("unknown field `{field}`"),
                did_you_mean(field, expected.iter().copied()).or_else(|| known(expected)),
            ),
            E::SerdeUnknownVariant { variant, expected, .. } => (
                format!("unknown value `{variant}`"),
                did_you_mean(variant, expected.iter().copied()).or_else(|| known(expected)),
            ),
            other => split_hint(&UserMessageFormatter.format_message(other)),
        };
        YamlProblem {
            location,
            message: super::printable(&message),
            hint: hint.map(|h| super::printable(&h)),
        }
    }
}

/// `version:` — must be 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct Version;

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let version = u64::deserialize(d)?;
        if version == 1 {
            Ok(Version)
        } else {
            Err(de::Error::custom(hinted(
                format!("unsupported policy version {version}"),
                Some("this jaild reads `version: 1`".to_string()),
            )))
        }
    }
}

/// `extends:` — a shipped profile or a file path.
#[derive(Clone, Debug)]
pub(super) enum Extends {
    /// A shipped profile, by name.
    Shipped(&'static str),
    /// A file, relative to the extending file's directory unless absolute.
    Path(String),
}

impl TryFrom<String> for Extends {
    type Error = String;

    fn try_from(spec: String) -> Result<Self, String> {
        if spec.contains('\0') || spec.is_empty() {
            return Err("`extends` must be a shipped profile name or a file path".to_string());
        }
        if super::is_path_like(&spec) {
            return Ok(Extends::Path(spec));
        }
        match SHIPPED.iter().find(|&&name| name == spec) {
            Some(name) => Ok(Extends::Shipped(name)),
            None => Err(hinted(
                format!("unknown shipped profile `{spec}`"),
                did_you_mean(&spec, SHIPPED.iter().copied()).or_else(|| {
                    Some(format!(
                        "shipped profiles: {}; a file path must contain `/` or end in .yaml",
                        SHIPPED.join(", ")
                    ))
                }),
            )),
        }
    }
}

/// Implements `Deserialize` for a newtype through `TryFrom<String>`, so
/// the check's message carries the string's location.
macro_rules! deserialize_via_string {
    ($($ty:ty),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$ty>::try_from(text).map_err(de::Error::custom)
            }
        }
    )*};
}

deserialize_via_string!(
    Extends,
    EntryText,
    CapName,
    KernelPath<'p'>,
    KernelPath<'s'>,
    Device,
    SyscallName,
    RlimitName,
    HostName,
    EnvName,
    EnvValue,
    WorkDir,
    UserSpec,
    MountType,
    SocketFamily,
    LandlockScope,
    JailPath,
    HostPath,
    VolumeTarget,
);

/// `ids:`.
#[derive(Clone, Debug, Default)]
pub(super) struct IdsLayer {
    pub(super) mode: Option<IdMode>,
    pub(super) map: Option<IdMap>,
    pub(super) gid_map: Option<IdMap>,
    pub(super) root: Option<RootMode>,
    pub(super) remap_uid: Option<u32>,
}

/// `ids:` as written, before the check that ties its fields together.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Ids",
    description = "How ids inside the jail map to ids on the host (DESIGN §5)."
)]
struct RawIds {
    /// isolated (default): a private range of 65536 host ids leased per jail, the rootfs idmapped;
    /// passthrough: uid N inside is uid N on the host, as a BSD jail; shifted: as isolated, the rootfs
    /// chowned into the range by `jail-rootfs shift`; custom: the `map` below.
    mode: Option<IdMode>,
    /// custom only: the uid map, extents "INSIDE:OUTSIDE:COUNT" (at most 340, no overlaps).
    map: Option<IdMapSpec>,
    /// custom only: the gid map, same form; defaults to `map`.
    gid_map: Option<IdMapSpec>,
    /// passthrough only: who the jail's root is on the host: passthrough (host uid 0) or remap (the
    /// dedicated host uid `remap_uid`; the rootfs idmapped so root's files stay uid 0 on disk).
    root: Option<RootMode>,
    /// The host uid of the jail's root with `root: remap`: no account's and no other jail's, 65536 or above.
    remap_uid: Option<RemapUid>,
}

impl<'de> Deserialize<'de> for IdsLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawIds::deserialize(d)?;
        if let Some(mode) = raw.mode.filter(|&m| m != IdMode::Custom)
            && (raw.map.is_some() || raw.gid_map.is_some())
        {
            return Err(de::Error::custom(hinted(
                format!("`map` and `gid_map` are only used with `mode: custom`, not `{mode}`"),
                Some("set `mode: custom`, or drop the map".to_string()),
            )));
        }
        if let Some(mode) = raw.mode.filter(|&m| m != IdMode::Passthrough)
            && raw.root == Some(RootMode::Remap)
        {
            return Err(de::Error::custom(hinted(
                format!("`root: remap` is only used with `mode: passthrough`, not `{mode}`"),
                Some(format!(
                    "in {mode} mode the jail's root is already an unprivileged host uid; drop `root`, or set `mode: passthrough`"
                )),
            )));
        }
        Ok(IdsLayer {
            mode: raw.mode,
            map: raw.map.map(|m| m.0),
            gid_map: raw.gid_map.map(|m| m.0),
            root: raw.root,
            remap_uid: raw.remap_uid.map(|u| u.0),
        })
    }
}

/// `ids.remap_uid:` — a host uid for the jail's root: not 0, not
/// `(uid_t)-1`, and above the 65536 ids a jail's users commonly have.
pub(super) struct RemapUid(u32);

impl<'de> Deserialize<'de> for RemapUid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let uid = i64::deserialize(d)?;
        let hint = Some(format!(
            "pick a host uid that no account and no jail uses, such as the default {}",
            super::DEFAULT_REMAP_UID
        ));
        match u32::try_from(uid) {
            Ok(0) => Err(de::Error::custom(hinted(
                "`remap_uid` 0 is host root, which `root: remap` exists to avoid".to_string(),
                hint,
            ))),
            Ok(u32::MAX) | Err(_) => Err(de::Error::custom(hinted(
                format!("`remap_uid` {uid} is not a valid uid (the largest is 4294967294)"),
                hint,
            ))),
            Ok(uid) if uid < MIN_REMAP_UID => Err(de::Error::custom(hinted(
                format!(
                    "`remap_uid` {uid} is below {MIN_REMAP_UID}: it would also be one of the jail's own ids, passed through"
                ),
                hint,
            ))),
            Ok(uid) => Ok(RemapUid(uid)),
        }
    }
}

/// The lowest `remap_uid`: ids below are the ones a jail's own users have.
pub(super) const MIN_REMAP_UID: u32 = 65536;

/// A list of `INSIDE:OUTSIDE:COUNT` strings, checked as a whole.
pub(super) struct IdMapSpec(IdMap);

impl<'de> Deserialize<'de> for IdMapSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<EntryText>::deserialize(d)?;
        let map = IdMap(entries.into_iter().map(|e| e.0).collect());
        map.validate().map_err(de::Error::custom)?;
        Ok(IdMapSpec(map))
    }
}

/// One extent, `INSIDE:OUTSIDE:COUNT` (or `INSIDE OUTSIDE COUNT`).
struct EntryText(IdMapEntry);

impl TryFrom<String> for EntryText {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map(EntryText).map_err(|e| e.to_string())
    }
}

/// `capabilities:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Capabilities")]
pub(super) struct CapsLayer {
    /// The mask, replacing the inherited one. Names as CHOWN or CAP_CHOWN, any case.
    pub(super) allow: Option<Vec<CapName>>,
    /// Capabilities added to the mask.
    pub(super) add: Option<Vec<CapName>>,
    /// Capabilities removed from the mask.
    pub(super) drop: Option<Vec<CapName>>,
}

/// A capability, as `CHOWN`, `CAP_CHOWN` or any case of either.
#[derive(Clone, Copy, Debug)]
pub(super) struct CapName(pub(super) u8);

impl TryFrom<String> for CapName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        crate::capability::number(&name).map(CapName).ok_or_else(|| {
            let upper = name.trim().to_ascii_uppercase();
            let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
            let names = crate::capability::CAPABILITIES.iter().map(|&(n, _)| n);
            hinted(format!("unknown capability `{name}`"), did_you_mean(bare, names))
        })
    }
}

/// `rootfs:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rootfs")]
pub(super) struct RootfsLayer {
    /// Mount the jail's root read-only (default false).
    pub(super) readonly: Option<bool>,
    /// Ignore setuid/setgid bits (default true).
    pub(super) nosuid: Option<bool>,
    /// Ignore device nodes (default true).
    pub(super) nodev: Option<bool>,
}

/// `proc:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Proc")]
pub(super) struct ProcLayer {
    /// Extra paths below /proc/ to hide; they add to the mandatory ones.
    pub(super) masked: Option<Vec<KernelPath<'p'>>>,
    /// Extra paths below /proc/ to make read-only; they add to the mandatory ones.
    pub(super) readonly: Option<Vec<KernelPath<'p'>>>,
    /// Keep /proc/sys/net writable: it belongs to the jail's own network namespace (default true).
    pub(super) sys_net_writable: Option<bool>,
}

/// `sys:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sys")]
pub(super) struct SysLayer {
    /// Extra paths below /sys/ to hide; they add to the mandatory ones.
    pub(super) masked: Option<Vec<KernelPath<'s'>>>,
    /// Extra paths below /sys/ to make read-only.
    pub(super) readonly: Option<Vec<KernelPath<'s'>>>,
}

/// A normalised absolute path below `/proc` (`ROOT = 'p'`) or `/sys`
/// (`ROOT = 's'`).
#[derive(Clone, Debug)]
pub(super) struct KernelPath<const ROOT: char>(pub(super) String);

impl<const ROOT: char> TryFrom<String> for KernelPath<ROOT> {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        let root = if ROOT == 'p' { "/proc" } else { "/sys" };
        let bad = |why: &str| format!("path `{path}` {why}");
        let Some(rest) = path.strip_prefix(root).and_then(|r| r.strip_prefix('/')) else {
            return Err(bad(&format!("is not below {root}/")));
        };
        if path.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        if rest.is_empty() || rest.ends_with('/') {
            return Err(bad("must name an entry without a trailing `/`"));
        }
        if rest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(bad("is not normalised (no `//`, `.` or `..` allowed)"));
        }
        Ok(KernelPath(path))
    }
}

/// One of [`DEVICES`].
#[derive(Clone, Debug)]
pub(super) struct Device(pub(super) String);

impl TryFrom<String> for Device {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if DEVICES.contains(&name.as_str()) {
            Ok(Device(name))
        } else {
            Err(hinted(
                format!("device `{name}` is not one jaild offers"),
                did_you_mean(&name, DEVICES.iter().copied())
                    .or_else(|| Some(format!("devices are {}", DEVICES.join(", ")))),
            ))
        }
    }
}

/// `seccomp:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Seccomp")]
pub(super) struct SeccompLayer {
    /// Extra system calls to refuse with EPERM (x86_64 names).
    pub(super) deny: Option<Vec<SyscallName>>,
    /// System calls to take off the default deny list.
    pub(super) allow: Option<Vec<SyscallName>>,
}

/// A system call known to [`crate::syscalls`].
#[derive(Clone, Debug)]
pub(super) struct SyscallName(pub(super) String);

impl TryFrom<String> for SyscallName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if crate::syscalls::number(&name).is_some() {
            Ok(SyscallName(name))
        } else {
            let names = crate::syscalls::SYSCALLS.iter().map(|&(n, _)| n);
            Err(hinted(
                format!("unknown system call `{name}`"),
                did_you_mean(&name, names),
            ))
        }
    }
}

/// One of [`RLIMITS`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct RlimitName(pub(super) String);

impl TryFrom<String> for RlimitName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if RLIMITS.contains(&name.as_str()) {
            Ok(RlimitName(name))
        } else {
            Err(hinted(
                format!("unknown rlimit `{name}`"),
                did_you_mean(&name, RLIMITS.iter().copied())
                    .or_else(|| Some(format!("rlimits are {}", RLIMITS.join(", ")))),
            ))
        }
    }
}

/// An rlimit: an integer (soft = hard), `unlimited`, or `{soft, hard}`
/// where each is an integer or `unlimited`.
#[derive(Clone, Copy, Debug)]
pub(super) struct RlimitSpec(pub(super) Rlimit);

/// What an rlimit value may be, for serde's "expected …" messages.
const RLIMIT_EXPECTED: &str = "an integer, `unlimited`, or {soft: N, hard: N}";

/// One limit value: an integer or `unlimited`.
struct RlimitValue(u64);

impl<'de> Deserialize<'de> for RlimitValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LimitVisitor).map(RlimitValue)
    }
}

/// Reads an integer or `unlimited`.
struct LimitVisitor;

impl Visitor<'_> for LimitVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or `unlimited`")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
        u64::try_from(n).map_err(|_| E::custom(format!("rlimit {n} is negative")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
        match s {
            "unlimited" | "infinity" => Ok(Rlimit::UNLIMITED),
            _ => Err(E::custom(hinted(
                format!("rlimit `{s}` is not a number"),
                Some("use an integer or `unlimited`".to_string()),
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for RlimitSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Reads a single limit, or a `{soft, hard}` mapping.
        struct SpecVisitor;

        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = Rlimit;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(RLIMIT_EXPECTED)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Rlimit, E> {
                Ok(Rlimit { soft: n, hard: n })
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rlimit, E> {
                LimitVisitor.visit_i64(n).map(|n| Rlimit { soft: n, hard: n })
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rlimit, E> {
                LimitVisitor.visit_str(s).map(|n| Rlimit { soft: n, hard: n })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rlimit, A::Error> {
                const FIELDS: &[&str] = &["soft", "hard"];
                let (mut soft, mut hard) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "soft" => &mut soft,
                        "hard" => &mut hard,
                        _ => return Err(de::Error::unknown_field(&key, FIELDS)),
                    };
                    *slot = Some(map.next_value::<RlimitValue>()?.0);
                }
                let (Some(soft), Some(hard)) = (soft, hard) else {
                    return Err(de::Error::custom(hinted(
                        "an rlimit mapping needs both `soft` and `hard`".to_string(),
                        Some("write a single value to set both".to_string()),
                    )));
                };
                if soft > hard {
                    return Err(de::Error::custom(format!(
                        "rlimit soft limit {} is above its hard limit {}",
                        Rlimit::show(soft),
                        Rlimit::show(hard)
                    )));
                }
                Ok(Rlimit { soft, hard })
            }
        }

        d.deserialize_any(SpecVisitor).map(RlimitSpec)
    }
}

/// A host or domain name: 1 to 64 of `[A-Za-z0-9.-]`, not starting with
/// `-` or `.`.
#[derive(Clone, Debug)]
pub(super) struct HostName(pub(super) String);

impl TryFrom<String> for HostName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let ok_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if (1..=64).contains(&name.len()) && ok_chars && !name.starts_with(['-', '.']) {
            Ok(HostName(name))
        } else {
            Err(format!(
                "bad name `{name}`: use 1 to 64 of A-Z a-z 0-9 . -, not starting with - or ."
            ))
        }
    }
}

/// An environment variable's name: not empty, no `=`, no NUL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct EnvName(pub(super) String);

impl TryFrom<String> for EnvName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if name.is_empty() || name.contains(['=', '\0']) {
            Err(format!(
                "bad environment variable name `{}`: it must be non-empty, without `=` or NUL",
                name.escape_debug()
            ))
        } else {
            Ok(EnvName(name))
        }
    }
}

/// An environment variable's value: no NUL.
#[derive(Clone, Debug)]
pub(super) struct EnvValue(pub(super) String);

impl TryFrom<String> for EnvValue {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        if value.contains('\0') {
            Err("an environment variable's value must not contain NUL".to_string())
        } else {
            Ok(EnvValue(value))
        }
    }
}

/// `workdir:` — an absolute path inside the jail.
#[derive(Clone, Debug)]
pub(super) struct WorkDir(pub(super) String);

impl TryFrom<String> for WorkDir {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        if !path.starts_with('/') {
            Err(format!("workdir `{path}` is not an absolute path"))
        } else if path.contains('\0') {
            Err("workdir must not contain NUL".to_string())
        } else {
            Ok(WorkDir(path))
        }
    }
}

/// `user:` — `root`, `UID`, `UID:GID`, or a user name from the jail's
/// `/etc/passwd` (`[a-z_][a-z0-9_-]{0,31}`).
#[derive(Clone, Debug)]
pub(super) struct UserSpec(pub(super) String);

impl TryFrom<String> for UserSpec {
    type Error = String;

    fn try_from(user: String) -> Result<Self, String> {
        // 4294967295 is (uid_t)-1, which no process can have.
        let id = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok_and(|n| n != u32::MAX)
        };
        let name = |s: &str| {
            let mut bytes = s.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                && s.len() <= 32
                && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        let ok = match user.split_once(':') {
            Some((uid, gid)) => id(uid) && id(gid),
            None => id(&user) || name(&user),
        };
        if ok {
            Ok(UserSpec(user))
        } else {
            Err(hinted(
                format!("bad user `{user}`"),
                Some("use root, a UID, UID:GID (ids below 4294967295), or a user name like `www-data`".to_string()),
            ))
        }
    }
}

/// `allow:` — every field optional, as in any layer.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Allow")]
pub(super) struct AllowLayer {
    /// sethostname/setdomainname in the jail's own UTS namespace (default true; grants SYS_ADMIN, narrowed
    /// by seccomp).
    pub(super) set_hostname: Option<bool>,
    /// mount(2) of the `mount_types`, umount and bind mounts inside the jail (default false). With Landlock
    /// on, its file-system rules are then skipped.
    pub(super) mount: Option<bool>,
    /// What `mount` may mount: types the kernel lets a user namespace mount (default [tmpfs]).
    pub(super) mount_types: Option<Vec<MountType>>,
    /// SOCK_RAW and SOCK_PACKET sockets: ping, DHCP clients (default false; grants NET_RAW).
    pub(super) raw_sockets: Option<bool>,
    /// System V IPC: shared memory, semaphores, message queues (default false).
    pub(super) sysvipc: Option<bool>,
    /// User namespaces inside the jail (default false).
    pub(super) nested_userns: Option<bool>,
    /// ptrace and process_vm_* between the jail's own processes (default false; grants SYS_PTRACE).
    pub(super) ptrace: Option<bool>,
    /// chroot(2) (default false; without it SYS_CHROOT is removed from the mask).
    pub(super) chroot: Option<bool>,
    /// mknod of what a user namespace may create at all: overlayfs whiteouts (default false; grants MKNOD).
    pub(super) mknod: Option<bool>,
    /// The address families socket(2) may open (default [unix, inet, inet6, netlink]).
    pub(super) socket_families: Option<Vec<SocketFamily>>,
}

/// One of [`USERNS_MOUNT_TYPES`].
#[derive(Clone, Debug)]
pub(super) struct MountType(pub(super) String);

impl TryFrom<String> for MountType {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if USERNS_MOUNT_TYPES.contains(&name.as_str()) {
            return Ok(MountType(name));
        }
        let hint = did_you_mean(&name, USERNS_MOUNT_TYPES.iter().copied()).unwrap_or_else(|| {
            format!(
                "the kernel lets a user namespace mount only {}",
                USERNS_MOUNT_TYPES.join(", ")
            )
        });
        let why = match name.as_str() {
            "proc" | "sysfs" | "cgroup" | "cgroup2" => {
                " (a fresh one would bypass the jail's masks, so jaild never allows it)"
            }
            _ => "",
        };
        Err(hinted(
            format!("file-system type `{name}` cannot be allowed{why}"),
            Some(hint),
        ))
    }
}

/// One of [`SOCKET_FAMILIES`].
#[derive(Clone, Debug)]
pub(super) struct SocketFamily(pub(super) String);

impl TryFrom<String> for SocketFamily {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let names = || SOCKET_FAMILIES.iter().map(|&(n, _)| n);
        if names().any(|n| n == name) {
            return Ok(SocketFamily(name));
        }
        // AF_INET, af_inet6, local, route: the usual other spellings.
        let lower = name.to_ascii_lowercase();
        let bare = lower
            .strip_prefix("af_")
            .or_else(|| lower.strip_prefix("pf_"))
            .unwrap_or(&lower);
        let alias = match bare {
            "local" | "file" => Some("unix"),
            "route" => Some("netlink"),
            other => names().find(|&n| n == other),
        };
        let hint = match alias {
            Some(n) => Some(format!("write `{n}`")),
            None => did_you_mean(bare, names())
                .or_else(|| Some(format!("families are {}", names().collect::<Vec<_>>().join(", ")))),
        };
        Err(hinted(format!("unknown socket family `{name}`"), hint))
    }
}

/// Reads a field that is present as `Some`, even when its value is `null`,
/// so that `null` can mean something other than "not set" (use with
/// `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `landlock:`. In `tcp_bind` and `tcp_connect`, `null` (any port) is a
/// value, not "unset".
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Landlock")]
pub(super) struct LandlockLayer {
    /// off, best_effort (apply what the kernel supports; the default) or required (refuse to start unless
    /// every rule is enforced; cannot be combined with allow.mount).
    pub(super) mode: Option<LandlockMode>,
    /// Absolute jail paths below which nothing may be written (reading and executing stay allowed).
    #[schemars(with = "Option<Vec<JailPath>>")]
    pub(super) readonly: Option<PathList>,
    /// Absolute jail paths below which nothing may be executed.
    #[schemars(with = "Option<Vec<JailPath>>")]
    pub(super) noexec: Option<PathList>,
    /// TCP ports the jail may bind (Landlock ABI 4): null for any (the default), a list for only those.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Vec<u16>>")]
    pub(super) tcp_bind: Option<PortRule>,
    /// TCP ports the jail may connect to (Landlock ABI 4): null for any (the default), a list for only those.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Vec<u16>>")]
    pub(super) tcp_connect: Option<PortRule>,
    /// IPC kept inside the jail (Landlock ABI 6; default both).
    pub(super) scopes: Option<Vec<LandlockScope>>,
}

/// A list of [`JailPath`]s, repeats dropped.
#[derive(Clone, Debug)]
pub(super) struct PathList(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut list = Vec::new();
        super::extend_unique(&mut list, Vec::<JailPath>::deserialize(d)?.into_iter().map(|p| p.0));
        Ok(PathList(list))
    }
}

/// A TCP port rule: `null` for any port, or a list of ports (repeats
/// dropped; the empty list allows none).
#[derive(Clone, Debug)]
pub(super) struct PortRule(pub(super) Option<Vec<u16>>);

impl<'de> Deserialize<'de> for PortRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ports = Option::<Vec<Port>>::deserialize(d)?;
        Ok(PortRule(ports.map(|ports| {
            let mut list: Vec<u16> = Vec::new();
            for Port(port) in ports {
                if !list.contains(&port) {
                    list.push(port);
                }
            }
            list
        })))
    }
}

/// A TCP port, 0 to 65535.
struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let port = i64::deserialize(d)?;
        u16::try_from(port).map(Port).map_err(|_| {
            de::Error::custom(hinted(
                format!("{port} is not a TCP port"),
                Some("ports are 0 to 65535".to_string()),
            ))
        })
    }
}

/// One of [`LANDLOCK_SCOPES`].
#[derive(Clone, Debug)]
pub(super) struct LandlockScope(pub(super) String);

impl TryFrom<String> for LandlockScope {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if LANDLOCK_SCOPES.contains(&name.as_str()) {
            Ok(LandlockScope(name))
        } else {
            Err(hinted(
                format!("unknown Landlock scope `{name}`"),
                did_you_mean(&name, LANDLOCK_SCOPES.iter().copied())
                    .or_else(|| Some(format!("scopes are {}", LANDLOCK_SCOPES.join(", ")))),
            ))
        }
    }
}

/// Why `path` is not an absolute, normalised path (`/`, or `/a/b` without
/// `//`, `.`, `..`, a trailing `/` or NUL), if it is not.
fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("is not absolute")
    } else if path.contains('\0') {
        Some("contains a NUL byte")
    } else if path == "/" {
        None
    } else if path[1..].split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        Some("is not normalised (no `//`, `.`, `..` or trailing `/` allowed)")
    } else {
        None
    }
}

/// An absolute, normalised path inside the jail (`/` included).
#[derive(Clone, Debug)]
pub(super) struct JailPath(pub(super) String);

impl TryFrom<String> for JailPath {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        match path_problem(&path) {
            Some(why) => Err(format!("path `{}` {why}", path.escape_debug())),
            None => Ok(JailPath(path)),
        }
    }
}

/// A volume's source: an absolute, normalised host path.
#[derive(Clone, Debug)]
pub(super) struct HostPath(pub(super) String);

impl TryFrom<String> for HostPath {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        match path_problem(&path) {
            Some(why) => Err(format!("volume source `{}` {why}", path.escape_debug())),
            None => Ok(HostPath(path)),
        }
    }
}

/// A volume's target: a [`JailPath`], not `/` and not in one of
/// [`VOLUME_FORBIDDEN_TARGETS`].
#[derive(Clone, Debug)]
pub(super) struct VolumeTarget(pub(super) String);

impl TryFrom<String> for VolumeTarget {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        if let Some(why) = path_problem(&path) {
            return Err(format!("volume target `{}` {why}", path.escape_debug()));
        }
        if path == "/" {
            return Err(hinted(
                "a volume cannot be mounted on the jail's `/`".to_string(),
                Some("the jail's root is the rootfs; mount the volume on a directory in it".to_string()),
            ));
        }
        if let Some(dir) = VOLUME_FORBIDDEN_TARGETS
            .iter()
            .find(|&&dir| super::is_under(&path, dir))
        {
            return Err(hinted(
                format!("volume target `{path}` is in {dir}"),
                Some(format!(
                    "jaild builds the jail's {dir} itself; mount the volume elsewhere, e.g. /mnt"
                )),
            ));
        }
        Ok(VolumeTarget(path))
    }
}

/// `mounts:` — the volumes, no two with the same target.
#[derive(Clone, Debug)]
pub(super) struct Volumes(pub(super) Vec<MountPolicy>);

impl<'de> Deserialize<'de> for Volumes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Reads the list one volume at a time.
        struct VolumesVisitor;

        impl<'de> Visitor<'de> for VolumesVisitor {
            type Value = Vec<MountPolicy>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of volumes, each {source: HOST_PATH, target: JAIL_PATH, ...}")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut volumes: Vec<MountPolicy> = Vec::new();
                while let Some(volume) = seq.next_element_seed(NextVolume { earlier: &volumes })? {
                    volumes.push(volume);
                }
                Ok(volumes)
            }
        }

        d.deserialize_seq(VolumesVisitor).map(Volumes)
    }
}

/// Reads the next volume of a list and checks its target against the
/// `earlier` ones, so that a repeated target is reported at the volume that
/// repeats it.
struct NextVolume<'a> {
    earlier: &'a [MountPolicy],
}

impl<'de> de::DeserializeSeed<'de> for NextVolume<'_> {
    type Value = MountPolicy;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MountPolicy, D::Error> {
        let Volume(volume) = Volume::deserialize(d)?;
        match self.earlier.iter().position(|v| v.target == volume.target) {
            Some(i) => Err(de::Error::custom(hinted(
                format!(
                    "volume {} has the same target `{}` as volume {}",
                    self.earlier.len() + 1,
                    volume.target,
                    i + 1
                ),
                Some("each volume needs a target of its own".to_string()),
            ))),
            None => Ok(volume),
        }
    }
}

/// One volume, defaults filled in.
struct Volume(MountPolicy);

/// One volume as written.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Volume",
    description = "A volume: a bind mount from the host into the jail. Targets must be unique."
)]
struct RawVolume {
    /// Absolute host path.
    source: HostPath,
    /// Absolute jail path, resolved inside the jail's root; not /, not in /proc, /sys or /dev.
    target: VolumeTarget,
    /// Mount it read-only (default false).
    readonly: Option<bool>,
    /// Ignore setuid/setgid bits (default true).
    nosuid: Option<bool>,
    /// Ignore device nodes (default true).
    nodev: Option<bool>,
    /// Refuse exec from it (default false).
    noexec: Option<bool>,
    /// Create the target in the rootfs when missing: a directory, or an empty file for a file source
    /// (default true).
    create: Option<bool>,
    /// The volume's own id map, "JAIL_ID:HOST_ID:COUNT" extents: with ["0:1000:1"] the jail's root writes
    /// there as host uid 1000.
    map: Option<IdMapSpec>,
}

impl<'de> Deserialize<'de> for Volume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawVolume::deserialize(d)?;
        Ok(Volume(MountPolicy {
            source: raw.source.0,
            target: raw.target.0,
            readonly: raw.readonly.unwrap_or(false),
            nosuid: raw.nosuid.unwrap_or(true),
            nodev: raw.nodev.unwrap_or(true),
            noexec: raw.noexec.unwrap_or(false),
            create: raw.create.unwrap_or(true),
            map: raw.map.map(|m| m.0),
        }))
    }
}
