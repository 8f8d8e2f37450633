//! Capability names and numbers, through CAP_CHECKPOINT_RESTORE (40).
//!
//! The `caps` crate stops at 40 as well; the kernel's last capability is
//! read from `/proc/sys/kernel/cap_last_cap` when the bounding set is cut, so
//! capabilities newer than this table are always dropped.

/// `(name without the CAP_ prefix, number)`, ordered by number.
pub const CAPABILITIES: &[(&str, u8)] = &[
    ("CHOWN", 0),
    ("DAC_OVERRIDE", 1),
    ("DAC_READ_SEARCH", 2),
    ("FOWNER", 3),
    ("FSETID", 4),
    ("KILL", 5),
    ("SETGID", 6),
    ("SETUID", 7),
    ("SETPCAP", 8),
    ("LINUX_IMMUTABLE", 9),
    ("NET_BIND_SERVICE", 10),
    ("NET_BROADCAST", 11),
    ("NET_ADMIN", 12),
    ("NET_RAW", 13),
    ("IPC_LOCK", 14),
    ("IPC_OWNER", 15),
    ("SYS_MODULE", 16),
    ("SYS_RAWIO", 17),
    ("SYS_CHROOT", 18),
    ("SYS_PTRACE", 19),
    ("SYS_PACCT", 20),
    ("SYS_ADMIN", 21),
    ("SYS_BOOT", 22),
    ("SYS_NICE", 23),
    ("SYS_RESOURCE", 24),
    ("SYS_TIME", 25),
    ("SYS_TTY_CONFIG", 26),
    ("MKNOD", 27),
    ("LEASE", 28),
    ("AUDIT_WRITE", 29),
    ("AUDIT_CONTROL", 30),
    ("SETFCAP", 31),
    ("MAC_OVERRIDE", 32),
    ("MAC_ADMIN", 33),
    ("SYSLOG", 34),
    ("WAKE_ALARM", 35),
    ("BLOCK_SUSPEND", 36),
    ("AUDIT_READ", 37),
    ("PERFMON", 38),
    ("BPF", 39),
    ("CHECKPOINT_RESTORE", 40),
];

/// The number of capability `name`; accepts `CHOWN`, `CAP_CHOWN` and any case.
pub fn number(name: &str) -> Option<u8> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITIES.iter().find(|(n, _)| *n == bare).map(|&(_, nr)| nr)
}

/// The canonical name (`CHOWN`) of capability number `nr`.
pub fn name(nr: u8) -> Option<&'static str> {
    CAPABILITIES.iter().find(|&&(_, n)| n == nr).map(|&(name, _)| name)
}

/// A set of capabilities as the kernel's 64-bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapMask(pub u64);

impl CapMask {
    /// The empty set.
    pub const EMPTY: CapMask = CapMask(0);

    /// Whether capability `nr` is in the set.
    pub fn contains(self, nr: u8) -> bool {
        nr < 64 && self.0 & (1u64 << nr) != 0
    }

    /// The set with capability `nr` added.
    #[must_use]
    pub fn with(self, nr: u8) -> CapMask {
        CapMask(self.0 | (1u64 << nr))
    }

    /// The set with capability `nr` removed.
    #[must_use]
    pub fn without(self, nr: u8) -> CapMask {
        CapMask(self.0 & !(1u64 << nr))
    }

    /// The capability numbers in the set, ascending.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0u8..64).filter(move |&nr| self.contains(nr))
    }

    /// The names of the capabilities in the set, ascending.
    pub fn names(self) -> Vec<String> {
        self.iter()
            .map(|nr| name(nr).map_or_else(|| format!("CAP_{nr}"), |n| n.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_and_without_prefix() {
        assert_eq!(number("CHOWN"), Some(0));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("cap_net_admin"), Some(12));
        assert_eq!(number("SYS_ADMINN"), None);
        assert_eq!(name(40), Some("CHECKPOINT_RESTORE"));
    }

    #[test]
    fn mask_round_trips() {
        let m = CapMask::EMPTY.with(0).with(21).without(0);
        assert!(m.contains(21) && !m.contains(0));
        assert_eq!(m.names(), vec!["SYS_ADMIN".to_string()]);
    }
}
