//! The two extended attributes that carry ids: file capabilities (`security.capability`, whose
//! v3 form names the root id of the user namespace it is valid in) and POSIX ACLs
//! (`system.posix_acl_access`, `system.posix_acl_default`, whose named entries carry uids and
//! gids). Parsed, shifted and written back in their on-disk (little-endian) formats.

use crate::ids::IdShift;

/// The file capability attribute.
pub const CAPABILITY: &str = "security.capability";
/// The access ACL attribute.
pub const ACL_ACCESS: &str = "system.posix_acl_access";
/// The default ACL attribute (directories only).
pub const ACL_DEFAULT: &str = "system.posix_acl_default";

const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_REVISION_1: u32 = 0x0100_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
const XATTR_CAPS_SZ_1: usize = 12;
const XATTR_CAPS_SZ_2: usize = 20;
const XATTR_CAPS_SZ_3: usize = 24;

const ACL_VERSION: u32 = 2;
/// `ACL_USER_OBJ`.
pub const ACL_USER_OBJ: u16 = 0x01;
/// `ACL_USER`: a named user entry (carries a uid).
pub const ACL_USER: u16 = 0x02;
/// `ACL_GROUP_OBJ`.
pub const ACL_GROUP_OBJ: u16 = 0x04;
/// `ACL_GROUP`: a named group entry (carries a gid).
pub const ACL_GROUP: u16 = 0x08;
/// `ACL_MASK`.
pub const ACL_MASK: u16 = 0x10;
/// `ACL_OTHER`.
pub const ACL_OTHER: u16 = 0x20;
const ACL_UNDEFINED_ID: u32 = u32::MAX;

/// A file capability set as stored in `security.capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    /// Permitted capabilities (bit N = capability N).
    pub permitted: u64,
    /// Inheritable capabilities.
    pub inheritable: u64,
    /// The effective bit: raise the permitted set into the effective set at exec.
    pub effective: bool,
    /// The root id of the user namespace the set is valid in (v3); `None` for v1/v2, valid in
    /// the filesystem's own namespace (as if root id 0).
    pub rootid: Option<u32>,
}

impl FileCaps {
    /// Parses the attribute value (v1, v2 or v3).
    pub fn parse(value: &[u8]) -> Result<FileCaps, String> {
        let word = |i: usize| u32::from_le_bytes([value[i], value[i + 1], value[i + 2], value[i + 3]]);
        if value.len() < 4 {
            return Err(format!("capability attribute of {} bytes", value.len()));
        }
        let magic = word(0);
        let (revision, size) = match magic & VFS_CAP_REVISION_MASK {
            VFS_CAP_REVISION_1 => (1, XATTR_CAPS_SZ_1),
            VFS_CAP_REVISION_2 => (2, XATTR_CAPS_SZ_2),
            VFS_CAP_REVISION_3 => (3, XATTR_CAPS_SZ_3),
            other => return Err(format!("unknown capability revision {:#x}", other >> 24)),
        };
        if value.len() != size {
            return Err(format!(
                "capability attribute v{revision} of {} bytes (expected {size})",
                value.len()
            ));
        }
        let mut permitted = u64::from(word(4));
        let mut inheritable = u64::from(word(8));
        if revision >= 2 {
            permitted |= u64::from(word(12)) << 32;
            inheritable |= u64::from(word(16)) << 32;
        }
        Ok(FileCaps {
            permitted,
            inheritable,
            effective: magic & VFS_CAP_FLAGS_EFFECTIVE != 0,
            rootid: (revision == 3).then(|| word(20)),
        })
    }

    /// The attribute value: v3 with a root id, v2 without.
    pub fn to_bytes(&self) -> Vec<u8> {
        let revision = if self.rootid.is_some() {
            VFS_CAP_REVISION_3
        } else {
            VFS_CAP_REVISION_2
        };
        let magic = revision | if self.effective { VFS_CAP_FLAGS_EFFECTIVE } else { 0 };
        let mut out = Vec::with_capacity(XATTR_CAPS_SZ_3);
        for word in [
            magic,
            self.permitted as u32,
            self.inheritable as u32,
            (self.permitted >> 32) as u32,
            (self.inheritable >> 32) as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        if let Some(rootid) = self.rootid {
            out.extend_from_slice(&rootid.to_le_bytes());
        }
        out
    }

    /// The set moved by `shift`: a v3 root id is shifted; v1/v2 (root id 0) becomes v3 with
    /// the shifted root id; a root id shifted to 0 is written as v2 (what the kernel shows host
    /// root anyway). `Err(id)` when the root id is outside the shift's source range.
    pub fn shifted(&self, shift: IdShift) -> Result<FileCaps, u32> {
        let root = self.rootid.unwrap_or(0);
        let new = shift.map(root).ok_or(root)?;
        Ok(FileCaps {
            rootid: (new != 0).then_some(new),
            ..*self
        })
    }
}

/// One ACL entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclEntry {
    /// `ACL_USER_OBJ`, `ACL_USER`, `ACL_GROUP_OBJ`, `ACL_GROUP`, `ACL_MASK` or `ACL_OTHER`.
    pub tag: u16,
    /// rwx bits (4, 2, 1).
    pub perm: u16,
    /// The uid (`ACL_USER`) or gid (`ACL_GROUP`); `None` for the other tags.
    pub id: Option<u32>,
}

/// A POSIX ACL as stored in `system.posix_acl_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl(pub Vec<AclEntry>);

impl Acl {
    /// Parses the attribute value.
    pub fn parse(value: &[u8]) -> Result<Acl, String> {
        if value.len() < 4 || !(value.len() - 4).is_multiple_of(8) {
            return Err(format!("ACL attribute of {} bytes", value.len()));
        }
        let version = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
        if version != ACL_VERSION {
            return Err(format!("ACL attribute version {version}"));
        }
        let entries = value[4..]
            .chunks_exact(8)
            .map(|e| {
                let tag = u16::from_le_bytes([e[0], e[1]]);
                let perm = u16::from_le_bytes([e[2], e[3]]);
                let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
                AclEntry {
                    tag,
                    perm,
                    id: matches!(tag, ACL_USER | ACL_GROUP).then_some(id),
                }
            })
            .collect();
        Ok(Acl(entries))
    }

    /// The attribute value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.0.len());
        out.extend_from_slice(&ACL_VERSION.to_le_bytes());
        for e in &self.0 {
            out.extend_from_slice(&e.tag.to_le_bytes());
            out.extend_from_slice(&e.perm.to_le_bytes());
            out.extend_from_slice(&e.id.unwrap_or(ACL_UNDEFINED_ID).to_le_bytes());
        }
        out
    }

    /// The ids of the named entries.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().filter_map(|e| e.id)
    }

    /// The ACL with every named entry in the shift's source range moved; the ids of entries
    /// outside it (left alone) are returned beside it.
    pub fn shifted(&self, shift: IdShift) -> (Acl, Vec<u32>) {
        let mut outside = Vec::new();
        let entries = self
            .0
            .iter()
            .map(|e| match e.id {
                Some(id) => match shift.map(id) {
                    Some(new) => AclEntry { id: Some(new), ..*e },
                    None => {
                        outside.push(id);
                        *e
                    }
                },
                None => *e,
            })
            .collect();
        (Acl(entries), outside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `setcap cap_net_bind_service=+ep` as the kernel stores it for host root (v2).
    const V2_NET_BIND: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn caps_round_trip_and_shift() {
        let caps = FileCaps::parse(&V2_NET_BIND).unwrap();
        assert_eq!(caps.permitted, 1 << 10);
        assert!(caps.effective && caps.rootid.is_none());
        assert_eq!(caps.to_bytes(), V2_NET_BIND);

        let shift = IdShift::new(0, 100000, 65536).unwrap();
        let v3 = caps.shifted(shift).unwrap();
        assert_eq!(v3.rootid, Some(100000));
        let bytes = v3.to_bytes();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..4], &[1, 0, 0, 3]);
        assert_eq!(FileCaps::parse(&bytes).unwrap(), v3);
        // Back again: root id 0 is v2, byte for byte.
        assert_eq!(v3.shifted(shift.reversed()).unwrap().to_bytes(), V2_NET_BIND);
        // A root id outside the range is reported, not moved.
        let foreign = FileCaps {
            rootid: Some(70000),
            ..caps
        };
        assert_eq!(foreign.shifted(shift), Err(70000));
        assert!(FileCaps::parse(&[1, 2, 3]).is_err());
        assert!(FileCaps::parse(&V2_NET_BIND[..12]).is_err());
    }

    #[test]
    fn v1_caps_parse() {
        let v1 = [0, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0];
        let caps = FileCaps::parse(&v1).unwrap();
        assert_eq!((caps.permitted, caps.effective, caps.rootid), (1 << 10, false, None));
    }

    #[test]
    fn acls_round_trip_and_shift() {
        let acl = Acl(vec![
            AclEntry {
                tag: ACL_USER_OBJ,
                perm: 6,
                id: None,
            },
            AclEntry {
                tag: ACL_USER,
                perm: 4,
                id: Some(1000),
            },
            AclEntry {
                tag: ACL_GROUP_OBJ,
                perm: 4,
                id: None,
            },
            AclEntry {
                tag: ACL_GROUP,
                perm: 6,
                id: Some(70000),
            },
            AclEntry {
                tag: ACL_MASK,
                perm: 6,
                id: None,
            },
            AclEntry {
                tag: ACL_OTHER,
                perm: 0,
                id: None,
            },
        ]);
        let bytes = acl.to_bytes();
        assert_eq!(bytes.len(), 4 + 6 * 8);
        assert_eq!(&bytes[8..12], &u32::MAX.to_le_bytes());
        assert_eq!(Acl::parse(&bytes).unwrap(), acl);
        let (shifted, outside) = acl.shifted(IdShift::new(0, 100000, 65536).unwrap());
        assert_eq!(shifted.ids().collect::<Vec<_>>(), vec![101000, 70000]);
        assert_eq!(outside, vec![70000]);
        assert!(Acl::parse(&bytes[..7]).is_err());
    }
}
