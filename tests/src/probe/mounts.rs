//! Mount attacks on the masks (DESIGN §4: the kernel's MNT_LOCKED must stop them even for a jail
//! root holding CAP_SYS_ADMIN), and the admin actions such a root may still perform.

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;

use crate::procfs::write_back;
use crate::report::{Report, errno};
use crate::sys;

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

fn ensure_dir(path: &str) -> Result<(), String> {
    match fs::create_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("mkdir {path}: {}", errno(&e))),
    }
}

/// Unmounts what the probe itself mounted; reports if it cannot (the jail would keep the mount).
fn cleanup_mount(r: &mut Report, target: &str) {
    if let Err(e) = sys::umount2(target, libc::MNT_DETACH) {
        r.note(&format!("umount {target}"), format!("cleanup failed: {}", errno(&e)));
    }
}

pub fn fresh_mounts() -> i32 {
    let mut r = Report::default();
    for (fstype, dir) in [("proc", "/tmp/probe-proc"), ("sysfs", "/tmp/probe-sys")] {
        let attempt = format!("mount a fresh {fstype} on {dir}");
        if let Err(e) = ensure_dir(dir) {
            r.note(&attempt, e);
        }
        match sys::mount(Some(fstype), dir, Some(fstype), 0, None) {
            Err(e) => r.blocked(&attempt, errno(&e)),
            Ok(()) => {
                r.escaped(&attempt, "mounted");
                if fstype == "proc" {
                    let path = format!("{dir}/sys/kernel/core_pattern");
                    write_back(&mut r, &format!("write {path}"), &path);
                } else {
                    let attempt = format!("list {dir}/firmware");
                    match fs::read_dir(format!("{dir}/firmware")) {
                        Ok(d) => {
                            let n = d.count();
                            if n > 0 {
                                r.escaped(&attempt, format!("{n} entries"));
                            } else {
                                r.blocked(&attempt, "empty directory");
                            }
                        }
                        Err(e) => r.blocked(&attempt, errno(&e)),
                    }
                }
                cleanup_mount(&mut r, dir);
            }
        }
        let _ = fs::remove_dir(dir);
        new_mount_api(&mut r, fstype);
    }
    r.exit_code()
}

/// The same through fsopen/fsconfig/fsmount: the detached mount dies with its fd.
fn new_mount_api(r: &mut Report, fstype: &str) {
    let attempt = format!("fsopen/fsmount a fresh {fstype}");
    let fs_fd = match sys::fsopen(fstype) {
        Ok(fd) => fd,
        Err(e) => return r.blocked(&attempt, format!("fsopen: {}", errno(&e))),
    };
    if let Err(e) = sys::fsconfig_create(fs_fd.as_fd()) {
        return r.blocked(&attempt, format!("fsopen worked, fsconfig(CREATE): {}", errno(&e)));
    }
    let mnt = match sys::fsmount(fs_fd.as_fd()) {
        Ok(fd) => fd,
        Err(e) => {
            return r.blocked(&attempt, format!("fsconfig(CREATE) worked, fsmount: {}", errno(&e)));
        }
    };
    r.escaped(&attempt, "got a detached mount");
    if fstype == "proc" {
        let path = format!("/proc/self/fd/{}/sys/kernel/core_pattern", {
            use std::os::fd::AsRawFd;
            mnt.as_raw_fd()
        });
        write_back(r, "write core_pattern through the fsmount fd", &path);
    }
    drop(mnt);
}

pub fn mask_mounts() -> i32 {
    let mut r = Report::default();
    let mut targets = vec!["/proc/sys", "/proc/keys"];
    if Path::new("/proc/kcore").exists() {
        targets.push("/proc/kcore");
    }
    targets.extend(["/sys/firmware", "/proc/sysrq-trigger"]);
    for target in targets {
        for (how, flags) in [("umount", 0), ("umount (MNT_DETACH)", libc::MNT_DETACH)] {
            let attempt = format!("{how} {target}");
            let result = sys::umount2(target, flags);
            r.expect_err(&attempt, result, |()| "unmounted".to_owned());
        }
    }

    let remount = sys::mount(None, "/proc/sys", None, libc::MS_REMOUNT | libc::MS_BIND, None);
    r.expect_err("remount /proc/sys read-write", remount, |()| {
        "remounted without MS_RDONLY".to_owned()
    });

    const MOUNT_ATTR_RDONLY: u64 = 1;
    let cleared = sys::mount_setattr_clear("/proc/sys", MOUNT_ATTR_RDONLY);
    r.expect_err("mount_setattr /proc/sys: clear read-only", cleared, |()| {
        "cleared MOUNT_ATTR_RDONLY".to_owned()
    });

    // A copy of /proc or /sys without its submounts would show what the masks hide: the kernel
    // refuses a non-recursive bind of a mount with locked children.
    for (source, dir) in [("/proc", "/tmp/probe-bind-proc"), ("/sys", "/tmp/probe-bind-sys")] {
        let attempt = format!("bind {source} on {dir} (not recursive)");
        if let Err(e) = ensure_dir(dir) {
            r.note(&attempt, e);
        }
        match sys::mount(Some(source), dir, None, libc::MS_BIND, None) {
            Err(e) => r.blocked(&attempt, errno(&e)),
            Ok(()) => {
                r.escaped(&attempt, "bound without the masks on top");
                if source == "/proc" {
                    let path = format!("{dir}/sys/kernel/core_pattern");
                    write_back(&mut r, &format!("write {path}"), &path);
                }
                cleanup_mount(&mut r, dir);
            }
        }
        let _ = fs::remove_dir(dir);

        let attempt = format!("open_tree({source}, OPEN_TREE_CLONE) (not recursive)");
        match sys::open_tree_clone(source) {
            Err(e) => r.blocked(&attempt, errno(&e)),
            Ok(tree) => {
                r.escaped(&attempt, "cloned without the masks on top");
                if source == "/proc" {
                    let path = format!("/proc/self/fd/{}/sys/kernel/core_pattern", {
                        use std::os::fd::AsRawFd;
                        tree.as_raw_fd()
                    });
                    write_back(&mut r, "write core_pattern through the open_tree fd", &path);
                }
            }
        }
    }

    // Whatever of the above worked, core_pattern must still be out of reach.
    write_back(
        &mut r,
        "write /proc/sys/kernel/core_pattern after the unmounts and remount",
        CORE_PATTERN,
    );

    // Mounting over a locked mount only hides it from the jail (the kernel refuses to reveal what
    // is below), so success is a note, not an escape; the core_pattern write below is the test.
    let attempt = "mount a tmpfs over /proc/sys";
    let over = sys::mount(Some("tmpfs"), "/proc/sys", Some("tmpfs"), 0, Some("size=16k"));
    match &over {
        Err(e) => r.blocked(attempt, errno(e)),
        Ok(()) => r.note(attempt, "mounted (hides /proc/sys from the jail only)"),
    }

    write_back(
        &mut r,
        "write /proc/sys/kernel/core_pattern with the tmpfs attempt",
        CORE_PATTERN,
    );
    if over.is_ok() {
        cleanup_mount(&mut r, "/proc/sys");
    }
    r.exit_code()
}

pub fn caps_admin() -> i32 {
    let line = |what: &str, result: Result<String, String>| match result {
        Ok(d) => println!("ALLOWED {what}: {d}"),
        Err(d) => println!("DENIED {what}: {d}"),
    };

    line(
        "sethostname",
        sys::sethostname("probe-admin")
            .map(|()| format!("hostname is now {}", sys::gethostname().unwrap_or_default()))
            .map_err(|e| errno(&e)),
    );

    let lo = (|| {
        let sock = sys::inet_dgram_socket().map_err(|e| format!("socket: {}", errno(&e)))?;
        let flags = sys::interface_flags(sock.as_fd(), "lo").map_err(|e| format!("SIOCGIFFLAGS: {}", errno(&e)))?;
        sys::set_interface_flags(sock.as_fd(), "lo", flags | libc::IFF_UP as i16)
            .map_err(|e| format!("SIOCSIFFLAGS: {}", errno(&e)))?;
        let now = sys::interface_flags(sock.as_fd(), "lo").map_err(|e| format!("SIOCGIFFLAGS: {}", errno(&e)))?;
        if now & libc::IFF_UP as i16 == 0 {
            return Err("SIOCSIFFLAGS returned 0 but lo is still down".to_owned());
        }
        Ok(format!("lo flags {flags:#x} -> {now:#x}"))
    })();
    line("bring up lo", lo);

    let dir = "/tmp/probe-tmpfs";
    let tmpfs = ensure_dir(dir).and_then(|()| {
        sys::mount(Some("tmpfs"), dir, Some("tmpfs"), 0, Some("size=16k"))
            .map_err(|e| format!("mount: {}", errno(&e)))?;
        let probe = fs::write(format!("{dir}/x"), b"x").map_err(|e| format!("write: {}", errno(&e)));
        sys::umount2(dir, 0).map_err(|e| format!("umount: {}", errno(&e)))?;
        probe.map(|()| format!("mounted, wrote a file and unmounted {dir}"))
    });
    let _ = fs::remove_dir(dir);
    line("mount tmpfs", tmpfs);
    0
}
