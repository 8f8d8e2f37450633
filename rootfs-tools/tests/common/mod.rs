//! Helpers shared by the rootfs-tools integration tests: the root check, a private scratch
//! directory, a raw tar writer for hostile archives, and attribute access.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_jail-rootfs");

/// Whether the test may go on: it needs root. Under CI (CI=true) a missing root is a failure,
/// elsewhere the test is skipped with the reason printed.
pub fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "this test needs root, and CI=true: it must not be skipped"
    );
    eprintln!("skipped: needs root (files are chowned to other users)");
    false
}

/// A scratch directory whose own mode is 0700 (so a rootfs inside passes the runtime's
/// private-parent check).
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("rootfs-test").tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// Runs `jail-rootfs ARGS`.
pub fn jail_rootfs(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Runs `jail-rootfs ARGS --json`, expects success, returns the report.
pub fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = jail_rootfs(&all);
    assert!(
        out.status.success(),
        "jail-rootfs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

pub fn owner(path: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

/// An extended attribute of `path` (not following a symlink).
pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

/// Everything `shift` may touch, for every entry under `dir`: owner, mode, capability and ACLs.
pub type Snapshot = BTreeMap<PathBuf, (u32, u32, u32, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>)>;

pub fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(dir).unwrap().to_path_buf();
        out.insert(
            rel,
            (
                meta.uid(),
                meta.gid(),
                meta.mode() & 0o7777,
                xattr(&path, "security.capability"),
                xattr(&path, "system.posix_acl_access"),
                xattr(&path, "system.posix_acl_default"),
            ),
        );
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    out
}

/// A tar stream written header by header, so tests can write what `tar::Builder` refuses
/// (`..`, absolute paths, links out of the tree).
#[derive(Default)]
pub struct RawTar {
    pub buf: Vec<u8>,
}

pub struct E<'a> {
    pub path: &'a [u8],
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub dev: (u32, u32),
}

impl Default for E<'_> {
    fn default() -> Self {
        E {
            path: b"",
            kind: tar::EntryType::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            link: b"",
            data: b"",
            dev: (0, 0),
        }
    }
}

impl RawTar {
    pub fn add(&mut self, e: E<'_>) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        assert!(e.path.len() <= 100 && e.link.len() <= 100);
        h.as_old_mut().name[..e.path.len()].copy_from_slice(e.path);
        h.as_old_mut().linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(1_700_000_000);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.data(e.data);
        self
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.add(E {
            path: path.as_bytes(),
            data,
            ..E::default()
        })
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.add(E {
            path: path.as_bytes(),
            kind: tar::EntryType::Directory,
            mode: 0o755,
            ..E::default()
        })
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(E {
            path: path.as_bytes(),
            kind: tar::EntryType::Symlink,
            mode: 0o777,
            link: target.as_bytes(),
            ..E::default()
        })
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(E {
            path: path.as_bytes(),
            kind: tar::EntryType::Link,
            link: target.as_bytes(),
            ..E::default()
        })
    }

    /// A PAX extended header for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {key}=").as_bytes());
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.data(&body);
        self
    }

    fn data(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }

    /// The archive with its end marker.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(data).unwrap();
    xz.finish().unwrap()
}
