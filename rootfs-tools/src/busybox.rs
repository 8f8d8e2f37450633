//! `jail-rootfs busybox`: a minimal jail rootfs from the host's static busybox.
//!
//! The result is a small FHS tree with `bin/busybox`, one symlink per applet, and the handful of
//! `/etc` files a shell and `id` need. Everything is owned by root on disk: the runtime's idmapped
//! mount keeps on-disk uid 0 as the jail's root. Nothing is written through a symlink (see
//! [`crate::tree`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::RootfsError;
use crate::elf::{self, Linkage};
use crate::tree::Tree;

const TASK: &str = "busybox";

/// Where a static busybox is looked for, in order, when none is given.
pub const DEFAULT_BUSYBOX: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// Where the binary goes inside the rootfs; every applet links to it.
const BUSYBOX_IN_ROOTFS: &str = "bin/busybox";

/// The unprivileged user every rootfs gets.
const USER_ID: u32 = 1000;

/// FHS directories with their modes, all root:root, parents before children.
const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("root", 0o700),
    ("home", 0o755),
    ("tmp", 0o1777),
    ("var", 0o755),
    ("var/tmp", 0o1777),
    ("var/log", 0o755),
    ("run", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("mnt", 0o755),
    ("opt", 0o755),
    ("srv", 0o755),
    ("lib", 0o755),
];

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

const GROUP: &str = "\
root:x:0:
tty:x:5:
users:x:100:user
user:x:1000:
nogroup:x:65534:
";

/// Every password locked (`!`): log in with `jailctl exec`, not with a password.
const SHADOW: &str = "\
root:!::0:99999:7:::
user:!::0:99999:7:::
nobody:!::0:99999:7:::
";

const HOSTNAME: &str = "jail\n";

const HOSTS: &str = "\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
";

const NSSWITCH: &str = "\
passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
";

const PROFILE: &str = r#"# /etc/profile: written by jail-rootfs for busybox sh.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
if [ "$(id -u)" -eq 0 ]; then
    PS1='\h:\w# '
else
    PS1='\u@\h:\w$ '
fi
export PS1
"#;

/// The files under `etc/`: path, mode, contents (all root:root).
const ETC_FILES: &[(&str, u32, &str)] = &[
    ("etc/passwd", 0o644, PASSWD),
    ("etc/group", 0o644, GROUP),
    ("etc/shadow", 0o640, SHADOW),
    ("etc/hostname", 0o644, HOSTNAME),
    ("etc/hosts", 0o644, HOSTS),
    ("etc/nsswitch.conf", 0o644, NSSWITCH),
    ("etc/profile", 0o644, PROFILE),
];

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BusyboxOptions {
    /// The rootfs directory; created 0755 when missing.
    pub dir: PathBuf,
    /// Build over a non-empty directory, replacing only the files and links we write.
    pub force: bool,
    /// The busybox binary to copy; the first static one of [`DEFAULT_BUSYBOX`] when `None`.
    pub busybox: Option<PathBuf>,
}

/// What was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusyboxReport {
    /// The rootfs directory, absolute.
    pub dir: PathBuf,
    /// The busybox binary that was copied.
    pub busybox: PathBuf,
    /// How many applet symlinks were made.
    pub applets: usize,
    /// Bytes of regular files written (busybox and `/etc`).
    pub bytes: u64,
}

/// Builds a busybox rootfs as `opts` says.
pub fn build(opts: &BusyboxOptions) -> Result<BusyboxReport, RootfsError> {
    // 1. Pick the busybox binary; it must be static to run without a libc.
    let (busybox, mut binary) = find_busybox(opts.busybox.as_deref())?;
    // 2. Ask it for its applets before the target is touched.
    let applets = list_applets(&busybox)?;
    // 3. Open or create the target, never through a symlink; refuse a non-empty one unless forced.
    let (mut tree, created) = Tree::open(TASK, &opts.dir, 0o755)?;
    if !created && !opts.force && !tree.is_empty()? {
        return Err(RootfsError::NotEmpty {
            task: TASK,
            path: tree.path(Path::new("")),
        });
    }
    // 4. The FHS directories.
    for &(dir, mode) in DIRS {
        tree.set_dir(Path::new(dir), mode, 0, 0)?;
    }
    // 5. The binary itself.
    binary.seek(SeekFrom::Start(0)).map_err(|error| RootfsError::Io {
        task: TASK,
        step: "read",
        path: busybox.clone(),
        error,
    })?;
    let mut bytes = tree.write_file(Path::new(BUSYBOX_IN_ROOTFS), 0o755, 0, 0, &mut binary)?;
    // 6. One symlink per applet.
    for applet in &applets {
        tree.symlink(applet, &link_target(applet), 0, 0)?;
    }
    // 7. The /etc files.
    for &(path, mode, contents) in ETC_FILES {
        bytes += tree.write_file(Path::new(path), mode, 0, 0, &mut contents.as_bytes())?;
    }
    // 8. The unprivileged user's home.
    tree.set_dir(Path::new("home/user"), 0o700, USER_ID, USER_ID)?;

    Ok(BusyboxReport {
        dir: tree.path(Path::new("")),
        busybox,
        applets: applets.len(),
        bytes,
    })
}

/// The given busybox, or the first static one of [`DEFAULT_BUSYBOX`], checked by its ELF program
/// headers and opened (the same open file is copied later).
fn find_busybox(explicit: Option<&Path>) -> Result<(PathBuf, File), RootfsError> {
    let inspect = |path: &Path| -> Result<(File, Linkage), RootfsError> {
        let io_err = |error| RootfsError::Io {
            task: TASK,
            step: "inspect",
            path: path.to_path_buf(),
            error,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let linkage = elf::linkage_of(&mut file).map_err(io_err)?;
        Ok((file, linkage))
    };
    if let Some(path) = explicit {
        return match inspect(path)? {
            (file, Linkage::Static) => Ok((path.to_path_buf(), file)),
            (_, Linkage::Dynamic { interpreter }) => Err(RootfsError::DynamicBusybox {
                path: path.to_path_buf(),
                interpreter,
            }),
        };
    }
    let mut dynamic = None;
    for candidate in DEFAULT_BUSYBOX.map(Path::new) {
        match inspect(candidate) {
            Ok((file, Linkage::Static)) => return Ok((candidate.to_path_buf(), file)),
            Ok((_, Linkage::Dynamic { interpreter })) => {
                dynamic.get_or_insert(RootfsError::DynamicBusybox {
                    path: candidate.to_path_buf(),
                    interpreter,
                });
            }
            // Missing or not an ELF file: try the next place.
            Err(_) => {}
        }
    }
    Err(dynamic.unwrap_or(RootfsError::NoStaticBusybox {
        searched: DEFAULT_BUSYBOX.map(PathBuf::from).to_vec(),
    }))
}

/// The applet paths `busybox --list-full` reports ("usr/bin/wget"), checked to be plain relative
/// paths, without `bin/busybox` itself, sorted and unique.
fn list_applets(busybox: &Path) -> Result<BTreeSet<PathBuf>, RootfsError> {
    // argv[0] "busybox" whatever the file is called: busybox dispatches on argv[0].
    let output = Command::new(busybox)
        .arg0("busybox")
        .arg("--list-full")
        .output()
        .map_err(|error| RootfsError::Io {
            task: TASK,
            step: "run",
            path: busybox.to_path_buf(),
            error,
        })?;
    if !output.status.success() {
        return Err(RootfsError::AppletList {
            path: busybox.to_path_buf(),
            status: output.status,
            // The first line says what went wrong; the rest is usually usage text.
            stderr: String::from_utf8_lossy(&output.stderr)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string(),
        });
    }
    let mut applets = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let path = Path::new(line);
        let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain || line.starts_with('/') {
            return Err(RootfsError::BadApplet {
                path: busybox.to_path_buf(),
                applet: line.to_string(),
            });
        }
        if path != Path::new(BUSYBOX_IN_ROOTFS) {
            applets.insert(path.to_path_buf());
        }
    }
    Ok(applets)
}

/// The relative symlink target from `applet` to `bin/busybox`: `busybox` from `bin/`,
/// `../../bin/busybox` from `usr/bin/`, `bin/busybox` from the top.
fn link_target(applet: &Path) -> PathBuf {
    let parent = applet.parent().unwrap_or(Path::new(""));
    if parent == Path::new("bin") {
        return PathBuf::from("busybox");
    }
    let mut target = PathBuf::new();
    for _ in parent.components() {
        target.push("..");
    }
    target.push(BUSYBOX_IN_ROOTFS);
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_are_relative_to_the_link() {
        assert_eq!(link_target(Path::new("bin/sh")), Path::new("busybox"));
        assert_eq!(link_target(Path::new("sbin/ip")), Path::new("../bin/busybox"));
        assert_eq!(link_target(Path::new("usr/bin/wget")), Path::new("../../bin/busybox"));
        assert_eq!(link_target(Path::new("linuxrc")), Path::new("bin/busybox"));
    }

    #[test]
    fn dirs_list_parents_first() {
        for (i, (dir, _)) in DIRS.iter().enumerate() {
            if let Some(parent) = Path::new(dir).parent().filter(|p| !p.as_os_str().is_empty()) {
                assert!(
                    DIRS[..i].iter().any(|(d, _)| Path::new(d) == parent),
                    "{dir} before its parent"
                );
            }
        }
    }

    #[test]
    fn accounts_are_consistent() {
        let users: Vec<Vec<&str>> = PASSWD.lines().map(|l| l.split(':').collect()).collect();
        let shadow: Vec<&str> = SHADOW.lines().map(|l| l.split(':').next().unwrap()).collect();
        for user in &users {
            assert_eq!(user.len(), 7, "{user:?}");
            assert!(shadow.contains(&user[0]), "{} has no shadow entry", user[0]);
            let gid = user[3];
            assert!(
                GROUP.lines().any(|g| g.split(':').nth(2) == Some(gid)),
                "no group {gid}"
            );
        }
        for line in SHADOW.lines() {
            assert_eq!(line.split(':').nth(1), Some("!"), "{line} is not locked");
        }
    }
}
