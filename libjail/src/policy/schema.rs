//! The JSON schema of the policy file format (a [`Layer`]), for editors:
//! `jailctl policy schema`, and `policies/schema.json` in the source tree.
//!
//! The structs derive their schemas, with their doc comments as
//! descriptions. The checked newtypes of [`super::layer`] read plain YAML
//! values through custom `Deserialize` impls, so their schemas are written
//! here by hand, from the same tables the checks use. A schema can only say
//! so much (duplicate volume targets, overlapping id map extents and the
//! checks across fields are left to `jailctl policy validate`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::layer::{
    CapName, Device, EnvName, EnvValue, Extends, HostName, HostPath, IdMapSpec, JailPath, KernelPath, LandlockScope,
    Layer, MIN_REMAP_UID, MountType, RemapUid, RlimitName, RlimitSpec, SocketFamily, SyscallName, UserSpec, Version,
    VolumeTarget, WorkDir,
};
use super::network::{AddressSpec, IfName, Ip, Mac, Mtu};
use super::resources::{CpuList, CpuMax, MAX_CORES, MemorySize, PidsMax, Weight};
use super::{DEVICES, LANDLOCK_SCOPES, RLIMITS, SHIPPED, SOCKET_FAMILIES, USERNS_MOUNT_TYPES};
use crate::capability::CAPABILITIES;
use crate::idmap::MAX_EXTENTS;

/// The schema of a policy file.
pub fn schema() -> Schema {
    schemars::schema_for!(Layer)
}

/// [`schema`] as pretty-printed JSON, without a final newline
/// (`policies/schema.json` is this plus a newline).
pub fn schema_json() -> String {
    // Serialising a `Value` cannot fail.
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

/// Implements `JsonSchema` for newtypes with a hand-written, inlined schema.
macro_rules! inline_schema {
    ($($ty:ty => $name:literal, $schema:expr;)*) => {$(
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    )*};
}

/// A string schema: one of `names`, with a description.
fn one_of(names: impl IntoIterator<Item = String>, description: &str) -> Schema {
    let names: Vec<Value> = names.into_iter().map(Value::String).collect();
    json_schema!({ "type": "string", "enum": names, "description": description })
}

/// A string schema with a pattern and a description.
fn pattern(pattern: &str, description: &str) -> Schema {
    json_schema!({ "type": "string", "pattern": pattern, "description": description })
}

/// `^/...` normalised: `/`, or `/` and components without `.`/`..`.
const ABSOLUTE_PATH: &str = r"^/$|^(/(?!\.\.?(/|$))[^/\u0000]+)+$";

/// Strings of `list`, owned.
fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

inline_schema! {
    Version => "Version", json_schema!({ "type": "integer", "const": 1, "description": "Format version: 1." });
    Extends => "Extends", json_schema!({
        "description": "A shipped profile's name, or a file path (containing `/` or ending in .yaml or .yml).",
        "anyOf": [
            { "type": "string", "enum": owned(SHIPPED) },
            { "type": "string", "pattern": r"/|\.ya?ml$" },
        ],
    });
    IdMapSpec => "IdMap", json_schema!({
        "description": "Extents \"INSIDE:OUTSIDE:COUNT\": COUNT ids from INSIDE in the jail are the ids from \
                        OUTSIDE outside. No two extents may overlap on either side.",
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_EXTENTS,
        "items": {
            "type": "string",
            "pattern": r"^\s*[0-9]+(\s*:\s*|\s+)[0-9]+(\s*:\s*|\s+)[0-9]+\s*$",
            "examples": ["0:100000:65536"],
        },
    });
    RemapUid => "RemapUid", json_schema!({
        "type": "integer",
        "minimum": MIN_REMAP_UID,
        "maximum": u32::MAX - 1,
        "description": "A host uid that no account and no other jail uses.",
    });
    CapName => "Capability", {
        let names: Vec<Value> = CAPABILITIES
            .iter()
            .flat_map(|&(n, _)| [n.to_string(), format!("CAP_{n}")])
            .map(Value::String)
            .collect();
        json_schema!({
            "description": "A capability: CHOWN or CAP_CHOWN, in any case.",
            "anyOf": [
                { "type": "string", "enum": names },
                { "type": "string", "pattern": "^([Cc][Aa][Pp]_)?[A-Za-z_]+$" },
            ],
        })
    };
    KernelPath<'p'> => "ProcPath", pattern(r"^/proc(/(?!\.\.?(/|$))[^/\u0000]+)+$", "A normalised path below /proc/.");
    KernelPath<'s'> => "SysPath", pattern(r"^/sys(/(?!\.\.?(/|$))[^/\u0000]+)+$", "A normalised path below /sys/.");
    Device => "Device", {
        // `null` unquoted is YAML's null, which this list reads as "null".
        let mut names: Vec<Value> = DEVICES.iter().map(|&d| Value::String(d.to_string())).collect();
        names.push(Value::Null);
        json_schema!({ "enum": names, "description": "A device node of the jail's /dev, bound from the host." })
    };
    SyscallName => "Syscall", pattern("^[a-z0-9_]+$", "An x86_64 system call name, e.g. `ptrace`.");
    RlimitName => "RlimitName", one_of(owned(RLIMITS), "A resource limit: RLIMIT_ and the name upper-cased.");
    HostName => "HostName", pattern(
        "^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$",
        "1 to 64 of A-Z a-z 0-9 . -, not starting with - or .",
    );
    EnvName => "EnvName", pattern(r"^[^=\u0000]+$", "A variable name: not empty, no `=`.");
    EnvValue => "EnvValue", pattern(r"^[^\u0000]*$", "A variable's value.");
    WorkDir => "WorkDir", pattern("^/", "An absolute path inside the jail.");
    UserSpec => "User", pattern(
        "^(root|[0-9]+|[0-9]+:[0-9]+|[a-z_][a-z0-9_-]{0,31})$",
        "root, a UID, UID:GID, or a user name from the jail's /etc/passwd.",
    );
    MountType => "MountType", one_of(
        owned(USERNS_MOUNT_TYPES),
        "A file-system type the kernel lets a user namespace mount.",
    );
    SocketFamily => "SocketFamily", one_of(
        SOCKET_FAMILIES.iter().map(|&(n, _)| n.to_string()),
        "A socket address family (AF_ and the name upper-cased).",
    );
    LandlockScope => "LandlockScope", json_schema!({
        "type": "string",
        "enum": owned(LANDLOCK_SCOPES),
        "description": "abstract_unix_socket: no connecting to abstract unix sockets made outside the jail; \
                        signal: no signals to processes outside it.",
    });
    JailPath => "JailPath", pattern(ABSOLUTE_PATH, "An absolute, normalised path inside the jail.");
    HostPath => "HostPath", pattern(ABSOLUTE_PATH, "An absolute, normalised path on the host.");
    VolumeTarget => "VolumeTarget", json_schema!({
        "type": "string",
        "pattern": ABSOLUTE_PATH,
        "not": { "pattern": "^/$|^/(proc|sys|dev)(/|$)" },
        "description": "An absolute, normalised jail path: not /, not in /proc, /sys or /dev.",
    });
}

inline_schema! {
    MemorySize => "MemorySize", json_schema!({
        "description": "Bytes, a size with a K, M, G or T suffix (binary: 64M is 64 MiB), or `max` (no limit).",
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": "^(max|[0-9]+ *([KMGTkmgt](i?[Bb]?)?|[Bb])?)$", "examples": ["64M", "1G"] },
        ],
    });
    PidsMax => "PidsMax", json_schema!({
        "description": "A number of tasks (processes and threads), or `max`.",
        "anyOf": [{ "type": "integer", "minimum": 1 }, { "type": "string", "const": "max" }],
    });
    CpuMax => "CpuMax", json_schema!({
        "description": "CPU bandwidth in cores (0.5 is half a CPU's time), or `max`.",
        "anyOf": [
            { "type": "number", "exclusiveMinimum": 0, "maximum": MAX_CORES },
            { "type": "string", "const": "max" },
        ],
    });
    Weight => "Weight", json_schema!({
        "type": "integer",
        "minimum": 1,
        "maximum": 10000,
        "description": "A relative weight; 100 is the kernel's default.",
    });
    CpuList => "CpuList", json_schema!({
        "description": "CPU numbers and ascending ranges, comma-separated: \"0-1,3\".",
        "anyOf": [
            { "type": "string", "pattern": "^ *[0-9]+(-[0-9]+)?( *, *[0-9]+(-[0-9]+)?)* *$" },
            { "type": "integer", "minimum": 0 },
        ],
    });
    IfName => "InterfaceName", pattern(
        "^[A-Za-z0-9_.-]{1,15}$",
        "A network interface name: 1 to 15 of A-Z a-z 0-9 _ . -",
    );
    AddressSpec => "Address", json_schema!({
        "type": "string",
        "description": "An address with its prefix length (10.0.0.2/24, fd00::2/64), or `auto`.",
        "anyOf": [
            { "const": "auto" },
            { "pattern": "^[0-9.]+/[0-9]{1,2}$" },
            { "pattern": "^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/[0-9]{1,3}$" },
        ],
        "examples": ["10.0.0.2/24", "fd00::2/64", "auto"],
    });
    Ip => "IpAddress", json_schema!({
        "type": "string",
        "description": "An IPv4 or IPv6 address, without prefix length.",
        "anyOf": [{ "format": "ipv4" }, { "format": "ipv6" }],
    });
    Mtu => "Mtu", json_schema!({ "type": "integer", "minimum": 68, "maximum": 65535, "description": "An MTU." });
    Mac => "MacAddress", pattern(
        "^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$",
        "A unicast MAC address, e.g. 02:00:0a:00:00:02.",
    );
}

impl JsonSchema for RlimitSpec {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Rlimit")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<RlimitValue>();
        json_schema!({
            "description": "An integer (soft = hard), `unlimited`, or {soft, hard}, each an integer or `unlimited`.",
            "anyOf": [
                value,
                {
                    "type": "object",
                    "properties": { "soft": value, "hard": value },
                    "required": ["soft", "hard"],
                    "additionalProperties": false,
                },
            ],
        })
    }
}

/// The value of one resource limit, as [`RlimitSpec`]'s schema uses it.
struct RlimitValue;

impl JsonSchema for RlimitValue {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("RlimitValue")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "enum": ["unlimited", "infinity"] },
            ],
        })
    }
}
