//! `resources:` — cgroup limits of the jail (see [`crate::cgroup`]): the
//! resolved [`ResourcesPolicy`], the layer as written, and how layers merge
//! (field by field; `max` lifts an inherited limit).

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::layer::hinted;

/// Cgroup limits. Every part is optional; the default limits nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesPolicy {
    /// Memory limits.
    pub memory: Option<MemoryLimits>,
    /// The number of tasks (processes and threads).
    pub pids: Option<PidsLimit>,
    /// CPU bandwidth and weight.
    pub cpu: Option<CpuLimits>,
    /// Block I/O weight.
    pub io: Option<IoLimits>,
    /// The CPUs the jail may run on.
    pub cpuset: Option<CpusetLimits>,
}

impl ResourcesPolicy {
    /// Whether nothing is limited.
    pub fn is_empty(&self) -> bool {
        *self == ResourcesPolicy::default()
    }
}

/// Memory limits in bytes; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimits {
    /// The hard limit (`memory.max`; v1 `memory.limit_in_bytes`): the OOM
    /// killer acts inside the jail above it.
    pub max: Option<u64>,
    /// Swap the jail may use on top of `max` (`memory.swap.max`; v1
    /// `memory.memsw.limit_in_bytes` = max + swap).
    pub swap: Option<u64>,
    /// The throttling limit (`memory.high`; v1 `memory.soft_limit_in_bytes`).
    pub high: Option<u64>,
}

/// The task limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PidsLimit {
    /// `pids.max`: at most this many tasks (processes and threads).
    pub max: u64,
}

/// CPU limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuLimits {
    /// Bandwidth in cores (`1.5` = one and a half CPUs' time per period):
    /// `cpu.max`, v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`.
    pub max: Option<f64>,
    /// Relative weight, 1..=10000, 100 being the kernel's default
    /// (`cpu.weight`; v1 `cpu.shares` = weight × 1024 / 100).
    pub weight: Option<u64>,
}

/// Block I/O limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoLimits {
    /// Relative weight, 1..=10000, default 100 (`io.weight`; v1
    /// `blkio.weight` = weight / 10, clamped to 10..=1000).
    pub weight: Option<u64>,
}

/// CPU placement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpusetLimits {
    /// The CPUs, as the kernel writes lists: `0-1,3`.
    pub cpus: String,
}

/// The period `cpu.max` is written with, in microseconds.
pub const CPU_PERIOD_USEC: u64 = 100_000;

/// The largest `cpu.max` in cores a policy may give.
pub const MAX_CORES: f64 = 4096.0;

/// The smallest memory limit a policy may give: below it nothing starts.
pub const MIN_MEMORY: u64 = 1 << 20;

/// The largest CPU number a cpuset may name.
const MAX_CPU: u32 = 8191;

impl CpuLimits {
    /// `cpu.max` as `QUOTA PERIOD` in microseconds (quota at least 1000).
    pub fn quota_usec(cores: f64) -> u64 {
        // `cores` is checked to be positive and at most MAX_CORES, so the
        // product fits.
        let quota = (cores * CPU_PERIOD_USEC as f64).round();
        (quota as u64).max(1000)
    }
}

/// A byte count as policies and `explain` show it: `64M`, `1G`, `1536K`,
/// or the number of bytes.
pub fn show_bytes(bytes: u64) -> String {
    for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Reads a byte count: an integer, or an integer with a binary suffix
/// `K`, `M`, `G`, `T` (optionally followed by `i`/`iB`/`B`, any case).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number: u64 = text[..digits].parse().ok()?;
    let suffix = text[digits..].trim_start().to_ascii_lowercase();
    let shift = match suffix.as_str() {
        "" | "b" => 0,
        "k" | "ki" | "kib" | "kb" => 10,
        "m" | "mi" | "mib" | "mb" => 20,
        "g" | "gi" | "gib" | "gb" => 30,
        "t" | "ti" | "tib" | "tb" => 40,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

/// Checks a CPU list (`0-1,3`): comma-separated CPU numbers and ranges,
/// each range ascending. Returns it without blanks.
pub fn check_cpu_list(text: &str) -> Result<String, String> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bad = |why: &str| format!("bad CPU list `{text}`: {why}");
    if clean.is_empty() {
        return Err(bad("it is empty"));
    }
    for part in clean.split(',') {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        let number = |s: &str| -> Result<u32, String> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!("`{part}` is not a CPU number or a range N-M")));
            }
            s.parse::<u32>()
                .ok()
                .filter(|&n| n <= MAX_CPU)
                .ok_or_else(|| bad(&format!("CPU {s} is above {MAX_CPU}")))
        };
        let (from, to) = (number(from)?, number(to)?);
        if from > to {
            return Err(bad(&format!("range `{part}` goes down")));
        }
    }
    Ok(clean)
}

// ---- the layer as written ---------------------------------------------------

/// `resources:` as written; every field optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Resources")]
pub(super) struct ResourcesLayer {
    /// Memory limits: sizes as bytes (1048576), with a K, M, G or T suffix (64M, 1G), or `max` (no limit).
    pub(super) memory: Option<MemoryLayer>,
    /// The number of tasks (processes and threads) in the jail: a fork bomb stops there.
    pub(super) pids: Option<PidsLayer>,
    /// CPU bandwidth and weight.
    pub(super) cpu: Option<CpuLayer>,
    /// Block I/O weight (needs an I/O scheduler with weights on the host's disks).
    pub(super) io: Option<IoLayer>,
    /// The CPUs the jail may run on.
    pub(super) cpuset: Option<CpusetLayer>,
}

/// `resources.memory:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Memory")]
pub(super) struct MemoryLayer {
    /// The hard limit: above it the kernel reclaims, then OOM-kills inside the jail (default max).
    pub(super) max: Option<MemorySize>,
    /// Swap the jail may use on top of `max` (default max; 0 for none).
    pub(super) swap: Option<MemorySize>,
    /// The throttling limit: above it the jail is slowed and reclaimed hard (default max).
    pub(super) high: Option<MemorySize>,
}

/// `resources.pids:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Pids")]
pub(super) struct PidsLayer {
    /// At most this many tasks, or `max` (default max).
    pub(super) max: Option<PidsMax>,
}

/// `resources.cpu:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cpu")]
pub(super) struct CpuLayer {
    /// Bandwidth in cores, e.g. 0.5 or 1.5, or `max` (default max).
    pub(super) max: Option<CpuMax>,
    /// Relative weight against other jails, 1 to 10000 (the kernel's default is 100).
    pub(super) weight: Option<Weight>,
}

/// `resources.io:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Io")]
pub(super) struct IoLayer {
    /// Relative weight against other jails, 1 to 10000 (the kernel's default is 100).
    pub(super) weight: Option<Weight>,
}

/// `resources.cpuset:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cpuset")]
pub(super) struct CpusetLayer {
    /// CPU numbers and ranges, e.g. "0-1,3" (default: all of jaild's own).
    pub(super) cpus: Option<CpuList>,
}

/// A memory size or `max` (`None`).
#[derive(Clone, Copy, Debug)]
pub(super) struct MemorySize(pub(super) Option<u64>);

/// What a memory size may be.
const MEMORY_HINT: &str = "use bytes (1048576), a size with a K, M, G or T suffix (64M, 1G), or `max`";

impl<'de> Deserialize<'de> for MemorySize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<u64>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a memory size (64M, 1G, bytes) or `max`")
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u64>, E> {
                Ok(Some(n))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<u64>, E> {
                u64::try_from(n)
                    .map(Some)
                    .map_err(|_| E::custom(hinted(format!("memory size {n} is negative"), Some(MEMORY_HINT.into()))))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Option<u64>, E> {
                Err(E::custom(hinted(
                    format!("memory size {n} is not a whole number of bytes"),
                    Some(MEMORY_HINT.into()),
                )))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<u64>, E> {
                if s.trim() == "max" {
                    return Ok(None);
                }
                parse_bytes(s).map(Some).ok_or_else(|| {
                    E::custom(hinted(
                        format!("bad memory size `{}`", super::printable(s)),
                        Some(MEMORY_HINT.into()),
                    ))
                })
            }
        }
        d.deserialize_any(V).map(MemorySize)
    }
}

/// `pids.max`: at least 1, or `max` (`None`).
#[derive(Clone, Copy, Debug)]
pub(super) struct PidsMax(pub(super) Option<u64>);

impl<'de> Deserialize<'de> for PidsMax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<u64>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of tasks or `max`")
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u64>, E> {
                if n == 0 {
                    return Err(E::custom(hinted(
                        "`pids.max` 0 would not even let the jail's init run".to_string(),
                        Some("give at least 1, or `max`".to_string()),
                    )));
                }
                Ok(Some(n))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<u64>, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("`pids.max` {n} is negative")))
                    .and_then(|n| self.visit_u64(n))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<u64>, E> {
                match s.trim() {
                    "max" => Ok(None),
                    _ => Err(E::custom(hinted(
                        format!("bad task count `{}`", super::printable(s)),
                        Some("use a number, e.g. 64, or `max`".to_string()),
                    ))),
                }
            }
        }
        d.deserialize_any(V).map(PidsMax)
    }
}

/// `cpu.max` in cores, above 0 and at most [`MAX_CORES`], or `max` (`None`).
#[derive(Clone, Copy, Debug)]
pub(super) struct CpuMax(pub(super) Option<f64>);

impl<'de> Deserialize<'de> for CpuMax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<f64>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of cores (0.5, 2) or `max`")
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Option<f64>, E> {
                if !(n.is_finite() && n > 0.0 && n <= MAX_CORES) {
                    return Err(E::custom(hinted(
                        format!("`cpu.max` {n} is not a number of cores"),
                        Some(format!(
                            "use a number above 0 and at most {MAX_CORES}, e.g. 0.5 or 2, or `max`"
                        )),
                    )));
                }
                if CpuLimits::quota_usec(n) < 1000 || (n * CPU_PERIOD_USEC as f64) < 1000.0 {
                    return Err(E::custom(hinted(
                        format!("`cpu.max` {n} is too small"),
                        Some("the kernel's smallest quota is 0.01 cores".to_string()),
                    )));
                }
                Ok(Some(n))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<f64>, E> {
                self.visit_f64(n as f64)
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<f64>, E> {
                self.visit_f64(n as f64)
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<f64>, E> {
                match s.trim() {
                    "max" => Ok(None),
                    _ => Err(E::custom(hinted(
                        format!("bad CPU bandwidth `{}`", super::printable(s)),
                        Some("use a number of cores, e.g. 0.5 or 2, or `max`".to_string()),
                    ))),
                }
            }
        }
        d.deserialize_any(V).map(CpuMax)
    }
}

/// A weight, 1..=10000.
#[derive(Clone, Copy, Debug)]
pub(super) struct Weight(pub(super) u64);

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u64::try_from(n) {
            Ok(w @ 1..=10000) => Ok(Weight(w)),
            _ => Err(de::Error::custom(hinted(
                format!("weight {n} is out of range"),
                Some("weights go from 1 to 10000; 100 is the default".to_string()),
            ))),
        }
    }
}

/// A checked CPU list.
#[derive(Clone, Debug)]
pub(super) struct CpuList(pub(super) String);

impl<'de> Deserialize<'de> for CpuList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = String;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CPU list such as \"0-1,3\"")
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<String, E> {
                self.visit_str(&n.to_string())
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
                check_cpu_list(s).map_err(|e| {
                    E::custom(hinted(
                        super::printable(&e),
                        Some("write CPU numbers and ranges, e.g. \"0-1,3\"".to_string()),
                    ))
                })
            }
        }
        d.deserialize_any(V).map(CpuList)
    }
}

/// Stacks one layer's `resources:` on `policy`: field by field; `max`
/// lifts an inherited limit.
pub(super) fn merge(policy: &mut ResourcesPolicy, layer: ResourcesLayer) {
    if let Some(m) = layer.memory {
        let memory = policy.memory.get_or_insert_with(MemoryLimits::default);
        for (slot, value) in [
            (&mut memory.max, m.max),
            (&mut memory.swap, m.swap),
            (&mut memory.high, m.high),
        ] {
            if let Some(MemorySize(v)) = value {
                *slot = v;
            }
        }
        if *memory == MemoryLimits::default() {
            policy.memory = None;
        }
    }
    if let Some(PidsLayer {
        max: Some(PidsMax(max)),
    }) = layer.pids
    {
        policy.pids = max.map(|max| PidsLimit { max });
    }
    if let Some(c) = layer.cpu {
        let cpu = policy.cpu.get_or_insert_with(CpuLimits::default);
        if let Some(CpuMax(max)) = c.max {
            cpu.max = max;
        }
        if let Some(Weight(w)) = c.weight {
            cpu.weight = Some(w);
        }
        if *cpu == CpuLimits::default() {
            policy.cpu = None;
        }
    }
    if let Some(IoLayer {
        weight: Some(Weight(w)),
    }) = layer.io
    {
        policy.io = Some(IoLimits { weight: Some(w) });
    }
    if let Some(CpusetLayer {
        cpus: Some(CpuList(cpus)),
    }) = layer.cpuset
    {
        policy.cpuset = Some(CpusetLimits { cpus });
    }
}

/// Checks across fields, once every layer has spoken.
pub(super) fn check(policy: &ResourcesPolicy) -> Result<(), String> {
    if let Some(m) = &policy.memory {
        for (what, value) in [("max", m.max), ("high", m.high)] {
            if let Some(v) = value.filter(|&v| v < MIN_MEMORY) {
                return Err(format!(
                    "`resources.memory.{what}` {} is below {}: nothing could start in the jail",
                    show_bytes(v),
                    show_bytes(MIN_MEMORY)
                ));
            }
        }
        if let (Some(max), Some(high)) = (m.max, m.high)
            && high > max
        {
            return Err(format!(
                "`resources.memory.high` {} is above `max` {}: it would never apply",
                show_bytes(high),
                show_bytes(max)
            ));
        }
    }
    Ok(())
}
