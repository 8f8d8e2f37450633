//! `rootfs_tools::unpack::unpack` on hostile archives: a tarball, or an OCI layout of several
//! layers (with whiteouts), built from the fuzz input with raw headers so that `..`, absolute
//! names, long (GNU and PAX) names, symlinks out of the tree and hardlinks to host files all
//! reach the unpacker as an attacker would write them.
//!
//! Invariant: nothing outside the target directory changes. Each process makes a scratch tree
//!
//! ```text
//! TOP/canary/{file,dir/,dir/inner,link -> /etc}   host files the archive aims at
//! TOP/work/root/                                  the unpack target (TOP/work holds nothing else)
//! TOP/src/                                        the archive or OCI layout of this run
//! ```
//!
//! and after every run compares an lstat snapshot of TOP (all but `work/root` and `src`, with
//! inode numbers, link counts, sizes, modes, owners, mtimes and ctimes) with the one taken
//! before; checks that `work` holds nothing but `root`, a directory; walks `work/root` with
//! lstat only, refusing any entry on another device or sharing an inode with a canary; and for
//! every symlink in the tree whose target leaves it, checks that the host path it names was not
//! created or changed during the run. Link targets name TOP and `work` by their absolute paths.
//!
//! Run it in a user namespace (`fuzz/sandbox.sh`): as host root it refuses to start unless
//! `JAILD_FUZZ_AS_HOST_ROOT=1`, since a bug it looks for would then write to the host.

#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rootfs_tools::ids::IdShift;
use rootfs_tools::unpack::{UnpackOptions, unpack};
use sha2::{Digest, Sha256};

/// One component of an entry name or link target.
#[derive(Arbitrary, Debug)]
enum Part {
    Dot,
    DotDot,
    Empty,
    A,
    B,
    Etc,
    Lnk,
    /// `.wh.` + a small name: an OCI whiteout.
    Whiteout(u8),
    /// `.wh..wh..opq`.
    Opaque,
    Raw(Vec<u8>),
}

const NAMES: [&[u8]; 4] = [b"a", b"b", b"etc", b"lnk"];

impl Part {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Part::Dot => b".".to_vec(),
            Part::DotDot => b"..".to_vec(),
            Part::Empty => Vec::new(),
            Part::A => b"a".to_vec(),
            Part::B => b"b".to_vec(),
            Part::Etc => b"etc".to_vec(),
            Part::Lnk => b"lnk".to_vec(),
            Part::Whiteout(n) => [b".wh.", NAMES[usize::from(*n) % NAMES.len()]].concat(),
            Part::Opaque => b".wh..wh..opq".to_vec(),
            Part::Raw(raw) => raw.iter().copied().filter(|&b| b != 0).take(300).collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct PathSpec {
    absolute: bool,
    parts: Vec<Part>,
    trailing_slash: bool,
}

impl PathSpec {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.absolute {
            out.push(b'/');
        }
        for (i, p) in self.parts.iter().take(12).enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend(p.bytes());
        }
        if self.trailing_slash {
            out.push(b'/');
        }
        out
    }
}

/// Where a symlink or hardlink points.
#[derive(Arbitrary, Debug)]
enum Target {
    /// As written.
    Spec(PathSpec),
    /// `TOP/work/` + spec: the directory around the target.
    Work(PathSpec),
    /// `TOP/canary/` + spec: host files.
    Canary(PathSpec),
    /// `TOP/work/root`: the target directory itself, by its host path.
    Root,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(Target),
    Hardlink(Target),
    Fifo,
    Char(u8, u8),
    Block(u8, u8),
    /// Any other type byte.
    Other(u8),
}

/// How the entry's names are stored.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum NameEnc {
    /// In the header (truncated to 100 bytes).
    Header,
    /// A GNU `././@LongLink` entry before the header.
    Gnu,
    /// A PAX `path=`/`linkpath=` record before the header.
    Pax,
}

#[derive(Arbitrary, Debug)]
enum Xattr {
    User(u8),
    Trusted,
    Capability,
    AclAccess,
    Raw(String),
}

/// A PAX record that overrides a header field.
#[derive(Arbitrary, Debug)]
enum PaxMeta {
    Uid(String),
    Gid(String),
    Mtime(String),
    /// A small id, so that chown in the sandbox (ids 0..65535) succeeds.
    SmallUid(u16),
    Size(String),
}

#[derive(Arbitrary, Debug)]
struct EntrySpec {
    path: PathSpec,
    kind: Kind,
    mode: u16,
    uid: u16,
    gid: u16,
    enc: NameEnc,
    xattr: Option<(Xattr, Vec<u8>)>,
    pax: Option<PaxMeta>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    layers: Vec<Vec<EntrySpec>>,
    oci: bool,
    atomic: bool,
    devices: bool,
    shift: Option<(u16, u16, u16)>,
}

struct Scratch {
    top: PathBuf,
    work: PathBuf,
    root: PathBuf,
    src: PathBuf,
    canary_inodes: Vec<u64>,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        refuse_host_root();
        let top = tempfile::Builder::new()
            .prefix("jaild-fuzz-unpack.")
            .tempdir()
            .expect("make a scratch directory")
            .keep();
        let canary = top.join("canary");
        fs::create_dir_all(canary.join("dir")).unwrap();
        fs::write(canary.join("file"), b"canary\n").unwrap();
        fs::write(canary.join("dir/inner"), b"inner\n").unwrap();
        std::os::unix::fs::symlink("/etc", canary.join("link")).unwrap();
        let work = top.join("work");
        fs::create_dir(&work).unwrap();
        let src = top.join("src");
        fs::create_dir(&src).unwrap();
        let canary_inodes = ["", "file", "dir", "dir/inner", "link"]
            .iter()
            .map(|p| fs::symlink_metadata(canary.join(p)).unwrap().ino())
            .collect();
        Scratch {
            root: work.join("root"),
            top,
            work,
            src,
            canary_inodes,
        }
    })
}

/// A bug this target hunts would, as host root, write to the host: insist on a user namespace.
fn refuse_host_root() {
    let euid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let host_root = euid == 0 && map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
    if host_root && std::env::var_os("JAILD_FUZZ_AS_HOST_ROOT").is_none() {
        eprintln!(
            "unpack_paths: refusing to run as host root; run it through fuzz/sandbox.sh (a user namespace), \
             or set JAILD_FUZZ_AS_HOST_ROOT=1"
        );
        std::process::exit(2);
    }
}

fn target_bytes(t: &Target, s: &Scratch) -> Vec<u8> {
    let under = |base: &Path, spec: &PathSpec| {
        let mut out = base.as_os_str().as_bytes().to_vec();
        out.push(b'/');
        let rest = spec.bytes();
        out.extend(rest.strip_prefix(b"/").unwrap_or(&rest));
        out
    };
    match t {
        Target::Spec(spec) => spec.bytes(),
        Target::Work(spec) => under(&s.work, spec),
        Target::Canary(spec) => under(&s.top.join("canary"), spec),
        Target::Root => s.root.as_os_str().as_bytes().to_vec(),
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "LEN key=value\n", LEN counting itself.
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend(value);
    rec.push(b'\n');
    rec
}

fn raw_header(name: &[u8], kind: u8, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let field = &mut h.as_old_mut().name;
    let n = name.len().min(field.len());
    field[..n].copy_from_slice(&name[..n]);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn append(b: &mut tar::Builder<Vec<u8>>, mut h: tar::Header, data: &[u8]) {
    h.set_cksum();
    b.append(&h, data).expect("append to a Vec");
}

fn build_tar(entries: &[EntrySpec], s: &Scratch) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries.iter().take(64) {
        let name = e.path.bytes();
        let link = match &e.kind {
            Kind::Symlink(t) | Kind::Hardlink(t) => Some(target_bytes(t, s)),
            _ => None,
        };
        let (kind, data): (u8, &[u8]) = match &e.kind {
            Kind::File(d) => (b'0', &d[..d.len().min(4096)]),
            Kind::Dir => (b'5', &[]),
            Kind::Symlink(_) => (b'2', &[]),
            Kind::Hardlink(_) => (b'1', &[]),
            Kind::Fifo => (b'6', &[]),
            Kind::Char(..) => (b'3', &[]),
            Kind::Block(..) => (b'4', &[]),
            Kind::Other(k) => (*k, &[]),
        };
        let mut pax = Vec::new();
        match e.enc {
            NameEnc::Header => {}
            NameEnc::Gnu => {
                let mut long = name.clone();
                long.push(0);
                append(&mut b, raw_header(b"././@LongLink", b'L', long.len() as u64), &long);
                if let Some(link) = &link {
                    let mut long = link.clone();
                    long.push(0);
                    append(&mut b, raw_header(b"././@LongLink", b'K', long.len() as u64), &long);
                }
            }
            NameEnc::Pax => {
                pax.extend(pax_record("path", &name));
                if let Some(link) = &link {
                    pax.extend(pax_record("linkpath", link));
                }
            }
        }
        if let Some((x, value)) = &e.xattr {
            let key = match x {
                Xattr::User(n) => format!("user.{}", n % 4),
                Xattr::Trusted => "trusted.overlay.opaque".into(),
                Xattr::Capability => "security.capability".into(),
                Xattr::AclAccess => "system.posix_acl_access".into(),
                Xattr::Raw(k) => k.chars().filter(|&c| c != '=' && c != '\0').take(64).collect(),
            };
            pax.extend(pax_record(&format!("SCHILY.xattr.{key}"), &value[..value.len().min(256)]));
        }
        if let Some(meta) = &e.pax {
            let (key, value) = match meta {
                PaxMeta::Uid(v) => ("uid", v.clone()),
                PaxMeta::Gid(v) => ("gid", v.clone()),
                PaxMeta::Mtime(v) => ("mtime", v.clone()),
                PaxMeta::SmallUid(v) => ("uid", v.to_string()),
                PaxMeta::Size(v) => ("size", v.clone()),
            };
            let value: String = value.chars().filter(|&c| c != '\n').take(40).collect();
            pax.extend(pax_record(key, value.as_bytes()));
        }
        if !pax.is_empty() {
            append(&mut b, raw_header(b"././@PaxHeader", b'x', pax.len() as u64), &pax);
        }
        let mut h = raw_header(&name, kind, data.len() as u64);
        h.set_mode(u32::from(e.mode) & 0o7777);
        h.set_uid(u64::from(e.uid));
        h.set_gid(u64::from(e.gid));
        if let Some(link) = &link {
            let field = &mut h.as_old_mut().linkname;
            let n = link.len().min(field.len());
            field[..n].copy_from_slice(&link[..n]);
        }
        if let Kind::Char(ma, mi) | Kind::Block(ma, mi) = e.kind {
            let _ = h.set_device_major(u32::from(ma));
            let _ = h.set_device_minor(u32::from(mi));
        }
        append(&mut b, h, data);
    }
    b.into_inner().expect("finish the archive")
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the source into `src` and returns its path: a tarball, or an OCI layout.
fn write_source(input: &Input, s: &Scratch) -> PathBuf {
    let _ = fs::remove_dir_all(&s.src);
    fs::create_dir(&s.src).unwrap();
    if !input.oci {
        let tar = build_tar(input.layers.first().map_or(&[][..], |l| &l[..]), s);
        let path = s.src.join("archive.tar");
        fs::write(&path, tar).unwrap();
        return path;
    }
    let layout = s.src.join("oci");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let blob = |data: &[u8]| {
        let hex = sha256_hex(data);
        fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let (config, config_size) = blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let layers: Vec<String> = input
        .layers
        .iter()
        .take(4)
        .map(|l| {
            let (digest, size) = blob(&build_tar(l, s));
            format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{digest}","size":{size}}}"#)
        })
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{}]}}"#,
        layers.join(",")
    );
    let (manifest, manifest_size) = blob(manifest.as_bytes());
    fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size}}}]}}"#
        ),
    )
    .unwrap();
    layout
}

/// lstat facts about one path that any write, chmod, chown, link or rename would change.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    kind: String,
    ino: u64,
    nlink: u64,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
    link: Option<PathBuf>,
}

fn facts(path: &Path) -> Facts {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let ft = m.file_type();
    Facts {
        kind: format!("{ft:?}"),
        ino: m.ino(),
        nlink: m.nlink(),
        size: if ft.is_dir() { 0 } else { m.size() },
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        link: ft.is_symlink().then(|| fs::read_link(path).unwrap()),
    }
}

/// Snapshot of TOP, all but `work/root` and `src`.
fn snapshot(s: &Scratch) -> BTreeMap<PathBuf, Facts> {
    fn walk(dir: &Path, s: &Scratch, out: &mut BTreeMap<PathBuf, Facts>) {
        let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for path in names {
            if path == s.root || path == s.src {
                continue;
            }
            let is_dir = fs::symlink_metadata(&path).unwrap().is_dir();
            out.insert(path.clone(), facts(&path));
            if is_dir {
                walk(&path, s, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    // TOP's own mtime changes when the harness rewrites `src`; `work` must not change at all
    // except through `root` (whose creation and removal by the harness or an atomic unpack
    // changes `work`'s mtime and link count): compare work's entries, not its inode.
    walk(&s.top, s, &mut out);
    out.remove(&s.work);
    out
}

/// Walks the unpacked tree with lstat only.
fn check_tree(s: &Scratch, started: SystemTime, input: &Input) {
    let Ok(root_meta) = fs::symlink_metadata(&s.root) else {
        return;
    };
    assert!(root_meta.is_dir(), "work/root is not a directory after unpack: {:?}", root_meta.file_type());
    let dev = root_meta.dev();
    let mut stack = vec![s.root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = fs::symlink_metadata(&path).unwrap();
            assert_eq!(m.dev(), dev, "{} is on another device", path.display());
            assert!(
                !s.canary_inodes.contains(&m.ino()),
                "{} is a host canary file (inode {}) linked into the tree; input {input:?}",
                path.display(),
                m.ino()
            );
            if m.is_dir() {
                stack.push(path);
            } else if m.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                // Where the host would resolve the link, lexically.
                let mut host = if target.is_absolute() {
                    PathBuf::from("/")
                } else {
                    path.parent().unwrap().to_path_buf()
                };
                for c in target.components() {
                    match c {
                        std::path::Component::ParentDir => {
                            host.pop();
                        }
                        std::path::Component::Normal(n) => host.push(n),
                        _ => {}
                    }
                }
                if host.starts_with(&s.root) || host.starts_with(&s.top) {
                    // Inside the tree, or aimed at TOP, which the snapshot covers.
                    continue;
                }
                if let Ok(hm) = fs::symlink_metadata(&host) {
                    // A directory's times move whenever anyone adds to it (think /tmp): for
                    // one, only its birth counts; for anything else, any change.
                    let after = |t: std::io::Result<SystemTime>| t.is_ok_and(|t| t >= started);
                    let ctime = SystemTime::UNIX_EPOCH
                        + std::time::Duration::new(hm.ctime().max(0) as u64, hm.ctime_nsec().max(0) as u32);
                    let touched = if hm.is_dir() {
                        after(hm.created())
                    } else {
                        after(hm.modified()) || ctime >= started || after(hm.created())
                    };
                    assert!(
                        !touched,
                        "{} -> {} : host path {} was made or changed during the unpack; input {input:?}",
                        path.display(),
                        target.display(),
                        host.display()
                    );
                }
            }
        }
    }
}

/// Removes the tree an unpack left, whatever its modes.
fn clear(path: &Path) {
    if fs::symlink_metadata(path).is_err() {
        return;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(m) = fs::symlink_metadata(&dir)
            && m.is_dir()
        {
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
            if let Ok(rd) = fs::read_dir(&dir) {
                stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
    }
    fs::remove_dir_all(path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
}

fuzz_target!(|input: Input| {
    let s = scratch();
    clear(&s.root);
    for entry in fs::read_dir(&s.work).unwrap() {
        // A staging directory an atomic unpack left behind would be a bug found last run.
        panic!("work holds {} before the run", entry.unwrap().path().display());
    }
    if !input.atomic {
        fs::create_dir(&s.root).unwrap();
    }
    let source = write_source(&input, s);
    let before = snapshot(s);
    let started = SystemTime::now();
    let opts = UnpackOptions {
        atomic: input.atomic,
        devices: input.devices,
        shift: input
            .shift
            .and_then(|(from, to, count)| IdShift::new(from.into(), to.into(), count.into()).ok()),
        reference: None,
        progress: false,
    };
    let result = unpack(&source, &s.root, &opts);
    let after = snapshot(s);
    if before != after {
        let changed: Vec<_> = before
            .iter()
            .filter(|(p, f)| after.get(*p) != Some(f))
            .map(|(p, f)| format!("{}: {f:?} -> {:?}", p.display(), after.get(p)))
            .chain(after.keys().filter(|p| !before.contains_key(*p)).map(|p| format!("{}: new", p.display())))
            .collect();
        panic!("unpack changed files outside its directory: {changed:#?}\nresult {result:?}\ninput {input:?}");
    }
    let left: Vec<_> = fs::read_dir(&s.work).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        left.is_empty() || left == [std::ffi::OsString::from("root")],
        "work holds {left:?} after the unpack ({result:?})"
    );
    if input.atomic && result.is_err() {
        assert!(left.is_empty(), "a failed atomic unpack left {left:?}");
    }
    check_tree(s, started, &input);
});
