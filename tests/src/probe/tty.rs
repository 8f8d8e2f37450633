//! TIOCSTI / TIOCLINUX: pushing input into a terminal, and the high-bits filter bypass
//! (CVE-2019-10063: the kernel compares only the low 32 bits of the request, a naive filter all 64).

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::report::{Report, errno};
use crate::sys;

const HIGH_BIT: u64 = 1 << 32;
/// A space: pushed into an input queue it runs nothing.
const HARMLESS: u8 = b' ';
/// TIOCL_GETFGCONSOLE, a read-only TIOCLINUX subcode.
const TIOCL_GETFGCONSOLE: u8 = 12;

fn try_ioctls(r: &mut Report, fd: BorrowedFd<'_>, what: &str) {
    // x86_64 request numbers, as u64 so the high bit can be added.
    let sti: u64 = 0x5412;
    let linux: u64 = 0x541C;
    for (name, request, byte) in [
        ("TIOCSTI", sti, HARMLESS),
        ("TIOCSTI|1<<32", sti | HIGH_BIT, HARMLESS),
        ("TIOCLINUX", linux, TIOCL_GETFGCONSOLE),
        ("TIOCLINUX|1<<32", linux | HIGH_BIT, TIOCL_GETFGCONSOLE),
    ] {
        let attempt = format!("{name} on {what}");
        let result = sys::ioctl_byte(fd, request, byte);
        r.expect_err(&attempt, result, |_| "the ioctl succeeded".to_owned());
    }
}

pub fn tiocsti() -> i32 {
    let mut r = Report::default();
    let mut any = false;
    for (fd, name) in [
        (std::io::stdin().as_fd(), "fd 0"),
        (std::io::stdout().as_fd(), "fd 1"),
        (std::io::stderr().as_fd(), "fd 2"),
    ] {
        if sys::isatty(fd) {
            any = true;
            try_ioctls(&mut r, fd, &format!("{name} (a tty)"));
        }
    }
    match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/tty")
    {
        Ok(tty) => {
            any = true;
            try_ioctls(&mut r, tty.as_fd(), "/dev/tty");
        }
        Err(e) => r.note("open /dev/tty", errno(&e)),
    }
    if !any {
        r.note("stdio", "no terminal on fds 0-2 or /dev/tty");
    }
    fresh_pty(&mut r);
    r.exit_code()
}

/// In a child: a new session whose controlling terminal is a fresh pty from the jail's own devpts.
/// The kernel lets a process push input into its own controlling terminal, so here only the
/// seccomp filter (or `dev.tty.legacy_tiocsti = 0`) can refuse.
fn fresh_pty(r: &mut Report) {
    match sys::fork() {
        Err(e) => r.note("fork", errno(&e)),
        Ok(sys::Fork::Child) => {
            let mut child = Report::default();
            match own_pty() {
                Ok((master, peer)) => {
                    try_ioctls(&mut child, peer.as_fd(), "a fresh pty (controlling tty)");
                    // Exit with both ends still open: closing the master first would hang up
                    // our controlling terminal and kill us with SIGHUP.
                    let code = child.exit_code();
                    let _keep = (master, peer);
                    sys::exit_now(code);
                }
                Err(why) => {
                    child.note("fresh pty", why);
                    sys::exit_now(0);
                }
            }
        }
        Ok(sys::Fork::Parent(pid)) => match sys::waitpid(pid) {
            Ok(sys::Exit::Code(0)) => {}
            Ok(sys::Exit::Code(_)) => r.absorb_child(true),
            Ok(sys::Exit::Signal(s)) => r.escaped("fresh pty", format!("child killed by signal {s}")),
            Err(e) => r.escaped("fresh pty", format!("waitpid: {}", errno(&e))),
        },
    }
}

fn own_pty() -> Result<(File, File), String> {
    sys::setsid().map_err(|e| format!("setsid: {}", errno(&e)))?;
    let master = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .map_err(|e| format!("open /dev/ptmx: {}", errno(&e)))?;
    sys::unlockpt(master.as_fd()).map_err(|e| format!("unlockpt: {}", errno(&e)))?;
    let peer = sys::pty_peer(master.as_fd(), libc::O_RDWR | libc::O_CLOEXEC)
        .map_err(|e| format!("TIOCGPTPEER: {}", errno(&e)))?;
    sys::set_controlling_tty(peer.as_fd()).map_err(|e| format!("TIOCSCTTY: {}", errno(&e)))?;
    Ok((master, File::from(peer)))
}
