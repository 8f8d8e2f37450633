//! Leaving the jail's tree (chroot-in-chroot) or its network (host loopback).

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use crate::report::{Report, errno};
use crate::sys;

pub fn chroot_escape(marker: Option<&str>) -> i32 {
    let mut r = Report::default();
    if let Some(marker) = marker {
        let attempt = format!("see host marker {marker} without escaping");
        if Path::new(marker).exists() {
            r.escaped(&attempt, "visible");
        } else {
            r.blocked(&attempt, "not visible");
        }
    }
    // The classic escape changes the root of the process that tries it: do it in a child.
    match sys::fork() {
        Err(e) => r.note("fork", errno(&e)),
        Ok(sys::Fork::Child) => {
            let mut child = Report::default();
            escape_attempt(&mut child, marker);
            sys::exit_now(child.exit_code());
        }
        Ok(sys::Fork::Parent(pid)) => match sys::waitpid(pid) {
            Ok(sys::Exit::Code(0)) => {}
            Ok(sys::Exit::Code(_)) => r.absorb_child(true),
            Ok(sys::Exit::Signal(s)) => {
                r.escaped("chroot escape", format!("child killed by signal {s}"));
            }
            Err(e) => r.escaped("chroot escape", format!("waitpid: {}", errno(&e))),
        },
    }
    let _ = fs::remove_dir("/tmp/c");
    r.exit_code()
}

fn escape_attempt(r: &mut Report, marker: Option<&str>) {
    let attempt = "chroot(/tmp/c); chdir(..) x64; chroot(.)";
    let before = match fs::metadata("/") {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) => return r.note("stat /", errno(&e)),
    };
    if let Err(e) = fs::create_dir_all("/tmp/c") {
        return r.note("mkdir /tmp/c", errno(&e));
    }
    if let Err(e) = std::os::unix::fs::chroot("/tmp/c") {
        return r.blocked(attempt, format!("chroot(/tmp/c): {}", errno(&e)));
    }
    // The cwd is still outside the new root: walk up from there.
    for _ in 0..64 {
        if let Err(e) = std::env::set_current_dir("..") {
            return r.blocked(attempt, format!("chdir(..): {}", errno(&e)));
        }
    }
    if let Err(e) = std::os::unix::fs::chroot(".") {
        return r.blocked(attempt, format!("chroot(.): {}", errno(&e)));
    }
    let _ = std::env::set_current_dir("/");
    match fs::metadata("/") {
        Err(e) => r.blocked(attempt, format!("stat / afterwards: {}", errno(&e))),
        Ok(m) if (m.dev(), m.ino()) == before => r.blocked(attempt, "still at the jail's root"),
        Ok(m) => r.escaped(
            attempt,
            format!(
                "reached a directory above the jail root: dev {} ino {} (jail root: dev {} ino {})",
                m.dev(),
                m.ino(),
                before.0,
                before.1
            ),
        ),
    }
    if let Some(marker) = marker {
        let attempt = format!("see host marker {marker} after the escape attempt");
        if Path::new(marker).exists() {
            r.escaped(&attempt, "visible");
        } else {
            r.blocked(&attempt, "not visible");
        }
    }
}

pub fn loopback(port: u16) -> i32 {
    let mut r = Report::default();
    for addr in [
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port)),
    ] {
        let attempt = format!("connect to {addr}");
        let result = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
        r.expect_err(&attempt, result, |s| {
            format!("connected (local address {:?})", s.local_addr().ok())
        });
    }
    r.exit_code()
}
