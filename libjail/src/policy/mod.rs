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
//! - `allow` and `landlock` merge field by field; their lists
//!   (`mount_types`, `socket_families`, `readonly`, `noexec`, `scopes`, the
//!   port lists) are replaced, like any plain list; in `tcp_bind` and
//!   `tcp_connect`, `null` is a value (any port), not "unset";
//! - `mounts` (the volumes) is replaced as a whole;
//! - setting `ids.mode` to anything but `custom` discards inherited maps,
//!   and to anything but `passthrough` resets `ids.root` to `passthrough`.
//!
//! Checks across fields run on the result: `root: remap` needs
//! `mode: passthrough`, and `landlock.mode: required` cannot be combined
//! with `allow.mount: true`.
//!
//! The result is a [`Policy`], which serialises to JSON for the
//! `jail-init` helper.

pub mod explain;
mod hint;
mod layer;
mod network;
mod resources;
mod schema;
mod set;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capability::CapMask;
use crate::idmap::IdMap;

pub use explain::explain;
pub use layer::{Layer, parse_layer};
pub use network::{AUTO as NET_AUTO, NetMode, NetworkPolicy};
pub use resources::{
    CPU_PERIOD_USEC, CpuLimits, CpusetLimits, IoLimits, MemoryLimits, PidsLimit, ResourcesPolicy, parse_bytes,
    show_bytes,
};
pub use schema::{schema, schema_json};

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

/// The socket address families a policy may name in
/// `allow.socket_families`, with their `AF_*` numbers. Families newer than
/// the `libc` crate's table are spelt as numbers.
pub const SOCKET_FAMILIES: &[(&str, i32)] = &[
    ("unix", libc::AF_UNIX),
    ("inet", libc::AF_INET),
    ("ax25", libc::AF_AX25),
    ("ipx", libc::AF_IPX),
    ("appletalk", libc::AF_APPLETALK),
    ("netrom", libc::AF_NETROM),
    ("bridge", libc::AF_BRIDGE),
    ("atmpvc", libc::AF_ATMPVC),
    ("x25", libc::AF_X25),
    ("inet6", libc::AF_INET6),
    ("rose", libc::AF_ROSE),
    ("netbeui", libc::AF_NETBEUI),
    ("security", libc::AF_SECURITY),
    ("key", libc::AF_KEY),
    ("netlink", libc::AF_NETLINK),
    ("packet", libc::AF_PACKET),
    ("ash", libc::AF_ASH),
    ("econet", libc::AF_ECONET),
    ("atmsvc", libc::AF_ATMSVC),
    ("rds", libc::AF_RDS),
    ("sna", libc::AF_SNA),
    ("irda", libc::AF_IRDA),
    ("pppox", libc::AF_PPPOX),
    ("wanpipe", libc::AF_WANPIPE),
    ("llc", libc::AF_LLC),
    ("ib", libc::AF_IB),
    ("mpls", libc::AF_MPLS),
    ("can", libc::AF_CAN),
    ("tipc", libc::AF_TIPC),
    ("bluetooth", libc::AF_BLUETOOTH),
    ("iucv", libc::AF_IUCV),
    ("rxrpc", libc::AF_RXRPC),
    ("isdn", libc::AF_ISDN),
    ("phonet", libc::AF_PHONET),
    ("ieee802154", libc::AF_IEEE802154),
    ("caif", libc::AF_CAIF),
    ("alg", libc::AF_ALG),
    ("nfc", libc::AF_NFC),
    ("vsock", libc::AF_VSOCK),
    ("kcm", 41),
    ("qipcrtr", 42),
    ("smc", 43),
    ("xdp", libc::AF_XDP),
    ("mctp", 45),
];

/// The built-in `allow.socket_families`.
pub const DEFAULT_SOCKET_FAMILIES: &[&str] = &["unix", "inet", "inet6", "netlink"];

/// The file-system types the kernel lets a user namespace mount (those
/// flagged `FS_USERNS_MOUNT`, plus `overlay` and `fuse`), the only ones
/// `allow.mount_types` may name. `proc`, `sysfs` and every block-device
/// file system are absent on purpose: jaild never lets a jail mount them.
pub const USERNS_MOUNT_TYPES: &[&str] = &["tmpfs", "ramfs", "devpts", "mqueue", "fuse", "overlay", "binder"];

/// The built-in `allow.mount_types`.
pub const DEFAULT_MOUNT_TYPES: &[&str] = &["tmpfs"];

/// The Landlock scopes a policy may name (ABI 6).
pub const LANDLOCK_SCOPES: &[&str] = &["abstract_unix_socket", "signal"];

/// Jail directories a volume may not be mounted on or below: the jail's
/// own `/proc`, `/sys` and `/dev` are built by jaild.
pub const VOLUME_FORBIDDEN_TARGETS: &[&str] = &["/proc", "/sys", "/dev"];

/// The built-in `ids.remap_uid`: above the default id pool
/// ([`crate::idmap::IdPool::DEFAULT_START`] and up), below `(uid_t)-1`.
pub const DEFAULT_REMAP_UID: u32 = 2_999_999_999;

/// The built-in `PATH` of a jail's payload.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How deep an `extends:` chain may go, counting the file itself.
pub const MAX_EXTENDS_DEPTH: usize = 16;

/// The shipped profiles, by name: the files in `policies/`, embedded.
const PROFILES: &[(&str, &str)] = &[
    ("default", include_str!("../../../policies/default.yaml")),
    ("hosting", include_str!("../../../policies/hosting.yaml")),
    ("sandbox", include_str!("../../../policies/sandbox.yaml")),
];

/// The names of the shipped profiles, for `--policy NAME` and `extends:`.
pub const SHIPPED: &[&str] = &["default", "hosting", "sandbox"];

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
    /// Finer switches carved out of broad capabilities (FreeBSD's `allow.*`).
    pub allow: AllowPolicy,
    /// Landlock rules, applied last before seccomp.
    pub landlock: LandlockPolicy,
    /// Volumes: bind mounts from the host into the jail, in order.
    pub mounts: Vec<MountPolicy>,
    /// Cgroup limits (nothing limited by default).
    #[serde(default)]
    pub resources: ResourcesPolicy,
    /// The jail's network (loopback only by default).
    #[serde(default)]
    pub network: NetworkPolicy,
}

/// How ids inside the jail map to host ids (DESIGN §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdMode {
    /// `0 BASE 65536` with BASE leased from the id pool (the default).
    Isolated,
    /// `0 0 4294967295`: every id is itself on the host.
    Passthrough,
    /// The policy's own `map` (and `gid_map`).
    Custom,
    /// As isolated, but the rootfs was chowned into the jail's range by
    /// `jail-rootfs shift` instead of being seen through an idmapped mount.
    Shifted,
}

impl fmt::Display for IdMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdMode::Isolated => "isolated",
            IdMode::Passthrough => "passthrough",
            IdMode::Custom => "custom",
            IdMode::Shifted => "shifted",
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
    /// Who the jail's root is on the host; only meaningful with
    /// [`IdMode::Passthrough`].
    pub root: RootMode,
    /// The dedicated host uid of the jail's root with [`RootMode::Remap`].
    pub remap_uid: u32,
}

/// Who the jail's root is on the host in pass-through mode (DESIGN §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RootMode {
    /// Host uid 0, like every other id passed through.
    Passthrough,
    /// A dedicated host uid ([`IdsPolicy::remap_uid`]); every other id is
    /// passed through, and an idmapped rootfs keeps root's files uid 0 on disk.
    Remap,
}

impl fmt::Display for RootMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootMode::Passthrough => "passthrough",
            RootMode::Remap => "remap",
        })
    }
}

/// Allowances: finer switches carved out of broad capabilities, named like
/// FreeBSD's `allow.*` parameters. Everything is off but `set_hostname`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowPolicy {
    /// `sethostname`/`setdomainname` of the jail's own UTS namespace.
    pub set_hostname: bool,
    /// `mount` of the file-system types in `mount_types`, and the calls
    /// that go with it (umount, bind mounts inside the jail).
    pub mount: bool,
    /// What `mount` may mount, a subset of [`USERNS_MOUNT_TYPES`].
    pub mount_types: Vec<String>,
    /// Raw and packet sockets (`SOCK_RAW`, `AF_PACKET`): ping, DHCP clients.
    pub raw_sockets: bool,
    /// System V IPC: message queues, semaphores and shared memory.
    pub sysvipc: bool,
    /// Creating user namespaces inside the jail.
    pub nested_userns: bool,
    /// `ptrace` and its relatives between the jail's own processes.
    pub ptrace: bool,
    /// `chroot(2)`.
    pub chroot: bool,
    /// `mknod` of what a user namespace may create: whiteouts (0:0).
    pub mknod: bool,
    /// The socket address families `socket(2)` may open, names from
    /// [`SOCKET_FAMILIES`].
    pub socket_families: Vec<String>,
}

/// How Landlock is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LandlockMode {
    /// No Landlock ruleset.
    Off,
    /// Apply what the kernel supports; report what was left out.
    BestEffort,
    /// Refuse to start unless every rule is enforced.
    Required,
}

impl fmt::Display for LandlockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LandlockMode::Off => "off",
            LandlockMode::BestEffort => "best_effort",
            LandlockMode::Required => "required",
        })
    }
}

/// Landlock rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockPolicy {
    /// How the ruleset is applied.
    pub mode: LandlockMode,
    /// Absolute jail paths: everything below may be read and executed,
    /// never written.
    pub readonly: Vec<String>,
    /// Absolute jail paths: nothing below may be executed.
    pub noexec: Vec<String>,
    /// `None`: any TCP port may be bound; `Some(list)`: only these (ABI 4).
    pub tcp_bind: Option<Vec<u16>>,
    /// `None`: any TCP port may be connected to; `Some(list)`: only these
    /// (ABI 4).
    pub tcp_connect: Option<Vec<u16>>,
    /// IPC scopes confined to the jail's Landlock domain (ABI 6), a subset
    /// of [`LANDLOCK_SCOPES`].
    pub scopes: Vec<String>,
}

/// A volume: a bind mount from the host into the jail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountPolicy {
    /// Absolute, normalised host path.
    pub source: String,
    /// Absolute, normalised jail path; not `/`, not in `/proc`, `/sys` or
    /// `/dev`.
    pub target: String,
    /// Mount it read-only.
    pub readonly: bool,
    /// Ignore setuid and setgid bits (`MS_NOSUID`).
    pub nosuid: bool,
    /// Ignore device nodes (`MS_NODEV`).
    pub nodev: bool,
    /// Refuse exec from it (`MS_NOEXEC`).
    pub noexec: bool,
    /// Create the target in the rootfs when missing: a directory, or an
    /// empty file when the source is a file.
    pub create: bool,
    /// The volume's own id map (an idmapped bind mount), jail id to host
    /// id: with `["0:1000:1"]` the jail's root writes as host uid 1000.
    pub map: Option<IdMap>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
                root: RootMode::Passthrough,
                remap_uid: DEFAULT_REMAP_UID,
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
            allow: AllowPolicy {
                set_hostname: true,
                mount: false,
                mount_types: strings(DEFAULT_MOUNT_TYPES),
                raw_sockets: false,
                sysvipc: false,
                nested_userns: false,
                ptrace: false,
                chroot: false,
                mknod: false,
                socket_families: strings(DEFAULT_SOCKET_FAMILIES),
            },
            landlock: LandlockPolicy {
                mode: LandlockMode::BestEffort,
                readonly: Vec::new(),
                noexec: Vec::new(),
                tcp_bind: None,
                tcp_connect: None,
                scopes: strings(LANDLOCK_SCOPES),
            },
            mounts: Vec::new(),
            resources: ResourcesPolicy::default(),
            network: NetworkPolicy::default(),
        }
    }
}

impl Default for Policy {
    /// [`Policy::builtin`].
    fn default() -> Self {
        Policy::builtin()
    }
}

/// The capabilities the jail's root holds, as spawn sets them: the
/// policy's mask, plus what the allowances need (`set_hostname` and `mount`
/// need `SYS_ADMIN`, `raw_sockets` `NET_RAW`, `ptrace` `SYS_PTRACE`, `chroot`
/// `SYS_CHROOT`, `mknod` `MKNOD`), minus `SYS_CHROOT` when `chroot` is off,
/// even if the mask lists it. Seccomp narrows what the added ones allow.
pub fn effective_capabilities(policy: &Policy) -> CapMask {
    let mut mask = policy.capabilities;
    for (_, nr) in implied_capabilities(&policy.allow) {
        mask = mask.with(nr);
    }
    if !policy.allow.chroot {
        mask = mask.without(CAP_SYS_CHROOT);
    }
    mask
}

/// The capabilities `allow` switches on, each with the allowance that
/// needs it, in allowance order.
pub fn implied_capabilities(allow: &AllowPolicy) -> Vec<(&'static str, u8)> {
    [
        (allow.set_hostname, "set_hostname", CAP_SYS_ADMIN),
        (allow.mount, "mount", CAP_SYS_ADMIN),
        (allow.raw_sockets, "raw_sockets", CAP_NET_RAW),
        (allow.ptrace, "ptrace", CAP_SYS_PTRACE),
        (allow.chroot, "chroot", CAP_SYS_CHROOT),
        (allow.mknod, "mknod", CAP_MKNOD),
    ]
    .into_iter()
    .filter(|&(on, _, _)| on)
    .map(|(_, name, nr)| (name, nr))
    .collect()
}

/// Capability numbers the allowances refer to.
const CAP_SYS_ADMIN: u8 = 21;
const CAP_NET_RAW: u8 = 13;
const CAP_SYS_PTRACE: u8 = 19;
const CAP_SYS_CHROOT: u8 = 18;
const CAP_MKNOD: u8 = 27;

/// The `AF_*` number of socket family `name` from [`SOCKET_FAMILIES`].
pub fn socket_family(name: &str) -> Option<i32> {
    SOCKET_FAMILIES.iter().find(|&&(n, _)| n == name).map(|&(_, nr)| nr)
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
        // The shipped default is the built-in defaults spelled out (a test
        // holds them equal), and it extends nothing: skip parsing it, which
        // is a tenth of a jail's start.
        if matches!(current, PolicySource::Shipped("default")) {
            break;
        }
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

/// Whether `path` is `dir` or below it (both normalised and absolute).
fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Stacks `layers` on the built-in defaults.
fn resolve(layers: Vec<(Origin, Layer)>) -> Result<Policy, PolicyError> {
    let mut policy = Policy::builtin();
    let mut caps = CapsAccumulator {
        mask: Policy::builtin().capabilities,
    };
    let mut ids_origin: Option<Origin> = None;
    // The last layer that set `landlock.mode` or `allow.mount`.
    let mut landlock_mount_origin: Option<Origin> = None;
    // The last layers that set `resources` and `network`.
    let mut resources_origin: Option<Origin> = None;
    let mut network_origin: Option<Origin> = None;
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
            allow,
            landlock,
            mounts,
            resources,
            network,
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
                if mode != IdMode::Passthrough {
                    policy.ids.root = RootMode::Passthrough;
                }
                policy.ids.mode = mode;
            }
            if let Some(root) = ids.root {
                policy.ids.root = root;
            }
            if let Some(uid) = ids.remap_uid {
                policy.ids.remap_uid = uid;
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
        if let Some(a) = allow {
            let p = &mut policy.allow;
            if a.mount.is_some() {
                landlock_mount_origin = Some(origin.clone());
            }
            for (slot, value) in [
                (&mut p.set_hostname, a.set_hostname),
                (&mut p.mount, a.mount),
                (&mut p.raw_sockets, a.raw_sockets),
                (&mut p.sysvipc, a.sysvipc),
                (&mut p.nested_userns, a.nested_userns),
                (&mut p.ptrace, a.ptrace),
                (&mut p.chroot, a.chroot),
                (&mut p.mknod, a.mknod),
            ] {
                *slot = value.unwrap_or(*slot);
            }
            if let Some(types) = a.mount_types {
                p.mount_types.clear();
                extend_unique(&mut p.mount_types, types.into_iter().map(|t| t.0));
            }
            if let Some(families) = a.socket_families {
                p.socket_families.clear();
                extend_unique(&mut p.socket_families, families.into_iter().map(|f| f.0));
            }
        }
        if let Some(l) = landlock {
            let p = &mut policy.landlock;
            if let Some(mode) = l.mode {
                p.mode = mode;
                landlock_mount_origin = Some(origin.clone());
            }
            if let Some(paths) = l.readonly {
                p.readonly = paths.0;
            }
            if let Some(paths) = l.noexec {
                p.noexec = paths.0;
            }
            if let Some(rule) = l.tcp_bind {
                p.tcp_bind = rule.0;
            }
            if let Some(rule) = l.tcp_connect {
                p.tcp_connect = rule.0;
            }
            if let Some(scopes) = l.scopes {
                p.scopes.clear();
                extend_unique(&mut p.scopes, scopes.into_iter().map(|s| s.0));
            }
        }
        if let Some(volumes) = mounts {
            policy.mounts = volumes.0;
        }
        if let Some(r) = resources {
            resources::merge(&mut policy.resources, r);
            resources_origin = Some(origin.clone());
        }
        if let Some(n) = network {
            network::merge(&mut policy.network, n);
            network_origin = Some(origin.clone());
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
    if ids.root == RootMode::Remap && ids.mode != IdMode::Passthrough {
        return Err(ids_error(format!(
            "`ids.root: remap` is only used with `ids.mode: passthrough`, but the mode is {} \
             (drop `root: remap`, or set `mode: passthrough`)",
            ids.mode
        )));
    }

    // Limits and network fields must agree once every layer has spoken.
    let last_error = |origin: &Option<Origin>, message: String| match origin {
        Some(origin) => origin.invalid(message),
        None => PolicyError::Invalid {
            origin: "built-in defaults".to_string(),
            message,
        },
    };
    resources::check(&policy.resources).map_err(|m| last_error(&resources_origin, m))?;
    network::check(&policy.network).map_err(|m| last_error(&network_origin, m))?;

    // Landlock and mounting cannot both be had in full.
    if policy.landlock.mode == LandlockMode::Required && policy.allow.mount {
        let message = "`landlock.mode: required` and `allow.mount: true` cannot be combined: Landlock forbids \
                       mount topology changes: set landlock.mode: best_effort (the file-system rules are then \
                       skipped) or allow.mount: false"
            .to_string();
        return Err(match &landlock_mount_origin {
            Some(origin) => origin.invalid(message),
            None => PolicyError::Invalid {
                origin: "built-in defaults".to_string(),
                message,
            },
        });
    }
    Ok(policy)
}
