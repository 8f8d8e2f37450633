//! The jail's mount tree, built by the setup stage in its own mount
//! namespace (DESIGN §4 steps 5–9), entirely by file descriptor: every
//! target is resolved inside the new root with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
//! and every mount is attached with `move_mount` onto that descriptor, so a
//! symlink in the jail's tree can never redirect a mount to the host.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys;

/// What failed and where: the step maps it to a [`crate::sync::Step`].
#[derive(Debug)]
pub struct MountError {
    pub what: String,
    pub source: io::Error,
}

impl MountError {
    fn new(what: impl Into<String>, source: io::Error) -> MountError {
        MountError {
            what: what.into(),
            source,
        }
    }
}

type Result<T> = std::result::Result<T, MountError>;

const RESOLVE_STRICT: u64 = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
const TMPFS_MAGIC: i64 = 0x0102_1994;

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| MountError::new(s, io::Error::from_raw_os_error(libc::EINVAL)))
}

/// Resolve `path` (absolute or relative, as the jail sees it) inside `root`
/// to an `O_PATH` descriptor, refusing symlinks on the way.
pub fn resolve(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path.trim_start_matches('/')).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    sys::openat2_in_root(root, &c, (libc::O_PATH | libc::O_NOFOLLOW) as u64, RESOLVE_STRICT)
}

/// Resolve a directory inside `root` for creating entries in it.
fn resolve_dir(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path.trim_start_matches('/')).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    sys::openat2_in_root(
        root,
        &c,
        (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW) as u64,
        RESOLVE_STRICT,
    )
}

/// A new filesystem instance, configured with `options`, as a detached
/// mount with `attrs`.
fn new_fs(fstype: &CStr, options: &[(&str, &str)], attrs: u64) -> io::Result<OwnedFd> {
    let ctx = sys::fsopen(fstype)?;
    for (key, value) in options {
        let k = CString::new(*key).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let v = CString::new(*value).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        sys::fsconfig_string(ctx.as_fd(), &k, &v)?;
    }
    sys::fsconfig_create(ctx.as_fd())?;
    sys::fsmount(ctx.as_fd(), attrs)
}

/// Attach the detached mount `mnt` on the directory `path` inside `root`.
fn attach(mnt: &OwnedFd, root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let target = resolve(root, path).map_err(|e| MountError::new(format!("resolve {path}"), e))?;
    sys::move_mount(mnt.as_fd(), target.as_fd()).map_err(|e| MountError::new(format!("attach {path}"), e))
}

/// Step 2 (parent): make sure the mount points exist in the rootfs, then
/// clone it as a detached mount — `nosuid`/`nodev` as asked, idmapped
/// through `userns` when given (DESIGN §4 step 2). The setup stage attaches
/// the clone in its own mount namespace with [`attach_rootfs`].
pub fn clone_rootfs(
    rootfs: BorrowedFd<'_>,
    rootfs_path: &str,
    userns: Option<BorrowedFd<'_>>,
    nosuid: bool,
    nodev: bool,
) -> Result<OwnedFd> {
    // The mount points, created through the checked descriptor (not the
    // idmapped clone) by host root. An entry that exists must be a
    // directory: a symlink there is refused when it is resolved later.
    let dir = sys::openat(rootfs, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| MountError::new(format!("open {rootfs_path}"), e))?;
    for name in [c"proc", c"sys", c"dev"] {
        sys::mkdirat(dir.as_fd(), name, 0o755)
            .map_err(|e| MountError::new(format!("mkdir {rootfs_path}/{}", name.to_string_lossy()), e))?;
    }
    let tree = sys::clone_tree(rootfs, false).map_err(|e| MountError::new(format!("clone {rootfs_path}"), e))?;
    let mut set = 0;
    if nosuid {
        set |= sys::MOUNT_ATTR_NOSUID;
    }
    if nodev {
        set |= sys::MOUNT_ATTR_NODEV;
    }
    if userns.is_some() {
        set |= sys::MOUNT_ATTR_IDMAP;
    }
    if set != 0 {
        sys::mount_setattr(tree.as_fd(), false, set, 0, userns).map_err(|e| {
            let what = if userns.is_some() {
                format!(
                    "idmap {rootfs_path} (does its filesystem support idmapped mounts? else use --passthrough-ids or a shifted rootfs)"
                )
            } else {
                format!("set nosuid/nodev on {rootfs_path}")
            };
            MountError::new(what, e)
        })?;
    }
    Ok(tree)
}

/// Step 5 (setup stage): attach the detached rootfs clone `tree` over the
/// rootfs directory as this mount namespace sees it. The path is resolved
/// again here (a descriptor from the parent's namespace cannot be a mount
/// target in ours) without following any symlink, and must be the very
/// directory the parent checked (same device and inode). Returns the new
/// root: `tree`, now attached.
pub fn attach_rootfs(tree: OwnedFd, rootfs_path: &str, checked: BorrowedFd<'_>) -> Result<OwnedFd> {
    let target = sys::openat2_cwd(
        &cstr(rootfs_path)?,
        (libc::O_PATH | libc::O_DIRECTORY) as u64,
        libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|e| MountError::new(format!("open {rootfs_path}"), e))?;
    let a = sys::fstat(target.as_fd()).map_err(|e| MountError::new(format!("stat {rootfs_path}"), e))?;
    let b = sys::fstat(checked).map_err(|e| MountError::new(format!("stat {rootfs_path}"), e))?;
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(MountError::new(
            format!("{rootfs_path} changed since it was checked"),
            io::Error::from_raw_os_error(libc::ESTALE),
        ));
    }
    sys::move_mount(tree.as_fd(), target.as_fd()).map_err(|e| MountError::new(format!("attach {rootfs_path}"), e))?;
    Ok(tree)
}

/// Mount flags of a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeFlags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

/// Create `target` (a jail path) below the checked rootfs descriptor if it
/// is missing: directories for every component, the last one a directory
/// or, when `file`, an empty file. Never follows a symlink; works on the
/// underlying directory (not the idmapped clone), as host root.
pub fn create_target(rootfs: BorrowedFd<'_>, target: &str, file: bool) -> Result<()> {
    let comps: Vec<&str> = target.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if comps.contains(&"..") {
        return Err(MountError::new(
            format!("{target}: `..` in a volume target"),
            io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    let mut cur = sys::openat(rootfs, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| MountError::new("open the rootfs", e))?;
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let name = cstr(comp)?;
        if last && file {
            match sys::openat(
                cur.as_fd(),
                &name,
                libc::O_CREAT | libc::O_NOFOLLOW | libc::O_WRONLY,
                0o644,
            ) {
                Ok(_) => return Ok(()),
                // An existing directory or symlink is refused at attach.
                Err(e) if e.raw_os_error() == Some(libc::EISDIR) || e.raw_os_error() == Some(libc::ELOOP) => {
                    return Ok(());
                }
                Err(e) => return Err(MountError::new(format!("create {target}"), e)),
            }
        }
        sys::mkdirat(cur.as_fd(), &name, 0o755).map_err(|e| MountError::new(format!("mkdir {target}"), e))?;
        cur = sys::openat(
            cur.as_fd(),
            &name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| MountError::new(format!("open {target} (is a component a symlink?)"), e))?;
    }
    Ok(())
}

/// Parent: a detached clone of the host path `source` (no symlink in its
/// path) with `flags`, idmapped through `userns` when given.
pub fn clone_volume(source: &str, flags: VolumeFlags, userns: Option<BorrowedFd<'_>>) -> Result<(OwnedFd, bool)> {
    let src = sys::openat2_cwd(&cstr(source)?, libc::O_PATH as u64, RESOLVE_STRICT).map_err(|e| {
        MountError::new(
            format!("open volume source {source} (it must exist and have no symlink in its path)"),
            e,
        )
    })?;
    let st = sys::fstat(src.as_fd()).map_err(|e| MountError::new(format!("stat {source}"), e))?;
    let is_file = st.st_mode & libc::S_IFMT != libc::S_IFDIR;
    let tree = sys::clone_tree(src.as_fd(), false).map_err(|e| MountError::new(format!("clone {source}"), e))?;
    let mut set = 0;
    for (on, bit) in [
        (flags.readonly, sys::MOUNT_ATTR_RDONLY),
        (flags.nosuid, sys::MOUNT_ATTR_NOSUID),
        (flags.nodev, sys::MOUNT_ATTR_NODEV),
        (flags.noexec, sys::MOUNT_ATTR_NOEXEC),
        (userns.is_some(), sys::MOUNT_ATTR_IDMAP),
    ] {
        if on {
            set |= bit;
        }
    }
    if set != 0 {
        sys::mount_setattr(tree.as_fd(), false, set, 0, userns).map_err(|e| {
            MountError::new(
                format!(
                    "set flags{} on volume {source}",
                    if userns.is_some() { " and idmap" } else { "" }
                ),
                e,
            )
        })?;
    }
    Ok((tree, is_file))
}

/// Step 8: attach a volume clone on `target` inside the new root.
pub fn attach_volume(root: BorrowedFd<'_>, tree: &OwnedFd, target: &str) -> Result<()> {
    attach(tree, root, target)
}

/// Step 6: a fresh procfs of the current pid namespace on `/proc`.
pub fn mount_proc(root: BorrowedFd<'_>) -> Result<()> {
    let attrs = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
    let mnt = new_fs(c"proc", &[], attrs).map_err(|e| MountError::new("new procfs", e))?;
    attach(&mnt, root, "/proc")
}

/// Step 6: a read-only sysfs of the jail's network namespace on `/sys`.
pub fn mount_sys(root: BorrowedFd<'_>) -> Result<()> {
    let attrs = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
    let mnt = new_fs(c"sysfs", &[], attrs).map_err(|e| MountError::new("new sysfs", e))?;
    attach(&mnt, root, "/sys")
}

/// The safe device nodes a policy may ask for: name, major, minor.
pub const SAFE_DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Step 6: `/dev` as a small tmpfs owned by the jail's root, the asked-for
/// safe nodes bound from the host (each checked by `fstat`), a new devpts
/// instance, `/dev/shm` and `/dev/mqueue`.
pub fn mount_dev(
    root: BorrowedFd<'_>,
    devices: &[String],
    root_host_ids: Option<(u32, u32)>,
    tty_gid: Option<u32>,
) -> Result<()> {
    let attrs = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
    let (uid, gid) = root_host_ids
        .map(|(u, g)| (u.to_string(), g.to_string()))
        .unwrap_or_default();
    let mut opts = vec![("mode", "0755"), ("size", "64k"), ("nr_inodes", "64")];
    if root_host_ids.is_some() {
        opts.push(("uid", &uid));
        opts.push(("gid", &gid));
    }
    let mnt = new_fs(c"tmpfs", &opts, attrs).map_err(|e| MountError::new("new /dev tmpfs", e))?;
    attach(&mnt, root, "/dev")?;
    let dev = resolve_dir(root, "/dev").map_err(|e| MountError::new("open /dev", e))?;

    for name in devices {
        let Some(&(_, major, minor)) = SAFE_DEVICES.iter().find(|(n, _, _)| n == name) else {
            return Err(MountError::new(
                format!("/dev/{name}: not a safe device"),
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        };
        let host = cstr(&format!("/dev/{name}"))?;
        let src = sys::clone_path(&host).map_err(|e| MountError::new(format!("clone host /dev/{name}"), e))?;
        let st = sys::fstat(src.as_fd()).map_err(|e| MountError::new(format!("stat host /dev/{name}"), e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != sys::makedev(major, minor) {
            return Err(MountError::new(
                format!("host /dev/{name} is not the character device {major}:{minor}"),
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        // The node keeps dev access (its own mount is not nodev) but can
        // neither carry setuid nor be executed.
        sys::mount_setattr(
            src.as_fd(),
            false,
            sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
            0,
            None,
        )
        .map_err(|e| MountError::new(format!("set nosuid,noexec on /dev/{name}"), e))?;
        let cname = cstr(name)?;
        drop(
            sys::openat(
                dev.as_fd(),
                &cname,
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                0o666,
            )
            .map_err(|e| MountError::new(format!("create /dev/{name}"), e))?,
        );
        attach(&src, root, &format!("/dev/{name}"))?;
    }

    sys::mkdirat(dev.as_fd(), c"pts", 0o755).map_err(|e| MountError::new("mkdir /dev/pts", e))?;
    let tty = tty_gid.map(|g| g.to_string()).unwrap_or_default();
    let mut pts_opts = vec![("ptmxmode", "0666"), ("mode", "0620")];
    if tty_gid.is_some() {
        pts_opts.push(("gid", &tty));
    }
    let pts = new_fs(c"devpts", &pts_opts, sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC)
        .map_err(|e| MountError::new("new devpts", e))?;
    attach(&pts, root, "/dev/pts")?;
    sys::symlinkat(c"pts/ptmx", dev.as_fd(), c"ptmx").map_err(|e| MountError::new("symlink /dev/ptmx", e))?;

    sys::mkdirat(dev.as_fd(), c"shm", 0o1777).map_err(|e| MountError::new("mkdir /dev/shm", e))?;
    let shm = new_fs(
        c"tmpfs",
        &[("mode", "1777"), ("size", "64m")],
        sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
    )
    .map_err(|e| MountError::new("new /dev/shm tmpfs", e))?;
    attach(&shm, root, "/dev/shm")?;

    sys::mkdirat(dev.as_fd(), c"mqueue", 0o755).map_err(|e| MountError::new("mkdir /dev/mqueue", e))?;
    let mq = new_fs(c"mqueue", &[], attrs).map_err(|e| MountError::new("new mqueue", e))?;
    attach(&mq, root, "/dev/mqueue")?;

    for (link, target) in [
        (c"fd", c"/proc/self/fd"),
        (c"stdin", c"/proc/self/fd/0"),
        (c"stdout", c"/proc/self/fd/1"),
        (c"stderr", c"/proc/self/fd/2"),
    ] {
        sys::symlinkat(target, dev.as_fd(), link)
            .map_err(|e| MountError::new(format!("symlink /dev/{}", link.to_string_lossy()), e))?;
    }
    Ok(())
}

/// A `/dev/null` we opened ourselves from the host and checked by `fstat`
/// (char 1:3): the source of every file mask (runc CVE-2025-31133).
pub fn open_checked_null() -> Result<OwnedFd> {
    let fd = sys::openat2_cwd(c"/dev/null", libc::O_RDONLY as u64, RESOLVE_STRICT)
        .map_err(|e| MountError::new("open host /dev/null", e))?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| MountError::new("stat host /dev/null", e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != sys::makedev(1, 3) {
        return Err(MountError::new(
            "host /dev/null is not the character device 1:3",
            io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    Ok(fd)
}

/// How a path ended up after the masks, for verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A file covered by `/dev/null`.
    NullFile(String),
    /// A directory covered by an empty read-only tmpfs.
    EmptyDir(String),
    /// A path made read-only.
    ReadOnly(String),
    /// A path made writable again below a read-only one.
    Writable(String),
}

/// Step 7: cover masked paths (files with our checked `/dev/null`,
/// directories with an empty read-only tmpfs), then bind read-only paths
/// read-only, then make `writable` paths (below a read-only one) writable
/// again. Absent paths are skipped (`/proc/kcore` may not exist).
pub fn apply_masks(
    root: BorrowedFd<'_>,
    null: BorrowedFd<'_>,
    masked: &[String],
    readonly: &[String],
    writable: &[String],
) -> Result<Vec<Applied>> {
    let mut applied = Vec::new();
    for path in masked {
        let target = match resolve(root, path) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(MountError::new(format!("resolve {path}"), e)),
        };
        let st = sys::fstat(target.as_fd()).map_err(|e| MountError::new(format!("stat {path}"), e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let attrs =
                sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
            let mnt = new_fs(c"tmpfs", &[("mode", "0555"), ("size", "4k"), ("nr_inodes", "1")], attrs)
                .map_err(|e| MountError::new(format!("new tmpfs for {path}"), e))?;
            sys::move_mount(mnt.as_fd(), target.as_fd()).map_err(|e| MountError::new(format!("mask {path}"), e))?;
            applied.push(Applied::EmptyDir(path.clone()));
        } else {
            let mnt = sys::clone_tree(null, false).map_err(|e| MountError::new("clone /dev/null", e))?;
            let attrs = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC;
            sys::mount_setattr(mnt.as_fd(), false, attrs, 0, None)
                .map_err(|e| MountError::new(format!("set ro,nosuid,noexec on the mask of {path}"), e))?;
            sys::move_mount(mnt.as_fd(), target.as_fd()).map_err(|e| MountError::new(format!("mask {path}"), e))?;
            applied.push(Applied::NullFile(path.clone()));
        }
    }
    let ro = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
    for (paths, set, clear, tag) in [(readonly, ro, 0, true), (writable, 0, sys::MOUNT_ATTR_RDONLY, false)] {
        for path in paths {
            let target = match resolve(root, path) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(MountError::new(format!("resolve {path}"), e)),
            };
            let mnt = sys::clone_tree(target.as_fd(), true).map_err(|e| MountError::new(format!("clone {path}"), e))?;
            sys::mount_setattr(mnt.as_fd(), true, set, clear, None)
                .map_err(|e| MountError::new(format!("set flags on {path}"), e))?;
            sys::move_mount(mnt.as_fd(), target.as_fd()).map_err(|e| MountError::new(format!("bind {path}"), e))?;
            applied.push(if tag {
                Applied::ReadOnly(path.clone())
            } else {
                Applied::Writable(path.clone())
            });
        }
    }
    Ok(applied)
}

/// One line of `/proc/self/mountinfo`: mount id, per-mount options, fstype.
#[derive(Debug)]
struct MountInfo {
    id: u64,
    options: String,
    fstype: String,
}

fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let id = fields.next()?.parse().ok()?;
            let options = fields.nth(4)?.to_string();
            let rest: Vec<&str> = fields.collect();
            let sep = rest.iter().position(|f| *f == "-")?;
            let fstype = rest.get(sep + 1)?.to_string();
            Some(MountInfo { id, options, fstype })
        })
        .collect()
}

/// Step 7: check every applied mask as the kernel sees it: the mount the
/// path now lives on (by `statx` mount id) must be read-only (or writable)
/// in `/proc/self/mountinfo`, a file mask must be char 1:3, a directory mask
/// an empty tmpfs; and `/sys` must be read-only.
pub fn verify_masks(root: BorrowedFd<'_>, applied: &[Applied]) -> Result<()> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| MountError::new("read /proc/self/mountinfo", e))?;
    let table = parse_mountinfo(&text);
    let fail =
        |path: &str, why: &str| MountError::new(format!("{path}: {why}"), io::Error::from_raw_os_error(libc::EIO));
    let lookup = |path: &str| -> Result<(&MountInfo, OwnedFd)> {
        let fd = resolve(root, path).map_err(|e| MountError::new(format!("resolve {path}"), e))?;
        let id = sys::mount_id(fd.as_fd()).map_err(|e| MountError::new(format!("statx {path}"), e))?;
        let info = table
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| fail(path, "mount not in mountinfo"))?;
        Ok((info, fd))
    };
    let is_ro = |m: &MountInfo| m.options.split(',').any(|o| o == "ro");
    for a in applied {
        match a {
            Applied::NullFile(p) => {
                let (_, fd) = lookup(p)?;
                let st = sys::fstat(fd.as_fd()).map_err(|e| MountError::new(format!("stat {p}"), e))?;
                if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != sys::makedev(1, 3) {
                    return Err(fail(p, "mask is not /dev/null"));
                }
            }
            Applied::EmptyDir(p) => {
                let (m, fd) = lookup(p)?;
                let magic = sys::fs_magic(fd.as_fd()).map_err(|e| MountError::new(format!("statfs {p}"), e))?;
                if magic != TMPFS_MAGIC || m.fstype != "tmpfs" || !is_ro(m) {
                    return Err(fail(p, "mask is not a read-only tmpfs"));
                }
            }
            Applied::ReadOnly(p) => {
                let (m, _) = lookup(p)?;
                if !is_ro(m) {
                    return Err(fail(p, "not read-only after the bind"));
                }
            }
            Applied::Writable(p) => {
                let (m, _) = lookup(p)?;
                if is_ro(m) {
                    return Err(fail(p, "still read-only"));
                }
            }
        }
    }
    let (sysfs, _) = lookup("/sys")?;
    if !is_ro(sysfs) || sysfs.fstype != "sysfs" {
        return Err(fail("/sys", "not a read-only sysfs"));
    }
    Ok(())
}

/// Step 5 (last): the root mount read-only.
pub fn make_root_readonly(root: BorrowedFd<'_>) -> Result<()> {
    sys::mount_setattr(root, false, sys::MOUNT_ATTR_RDONLY, 0, None)
        .map_err(|e| MountError::new("remount / read-only", e))
}

/// Step 9: `pivot_root(".", ".")` in the new root, detach the old root
/// stacked on top of it, `chdir("/")`.
pub fn pivot(root: BorrowedFd<'_>) -> Result<()> {
    sys::fchdir(root).map_err(|e| MountError::new("chdir to the new root", e))?;
    sys::pivot_root_here().map_err(|e| MountError::new("pivot_root", e))?;
    sys::umount2(c".", libc::MNT_DETACH).map_err(|e| MountError::new("detach the old root", e))?;
    sys::chdir(c"/").map_err(|e| MountError::new("chdir /", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse() {
        let text = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 36 0:5 / /proc ro,nosuid - proc proc rw\n";
        let t = parse_mountinfo(text);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].id, t[0].options.as_str(), t[0].fstype.as_str()),
            (36, "rw,noatime", "ext3")
        );
        assert_eq!(
            (t[1].id, t[1].options.as_str(), t[1].fstype.as_str()),
            (40, "ro,nosuid", "proc")
        );
    }
}
