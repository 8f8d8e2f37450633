//! `reboot` and `poweroff` inside a jail, as on a VM (DESIGN §4, §9).
//!
//! `reboot(2)` itself can only fail in a jail (its pid namespace belongs to
//! the setup stage), so a tiny seccomp filter, stacked after the main ones,
//! answers `reboot` with `SECCOMP_RET_USER_NOTIF`. The supervisor holds the
//! listener: RESTART becomes a restart of the jail, HALT and POWER_OFF a
//! stop; anything else (Ctrl-Alt-Del switches) gets EPERM. seccompiler has
//! no user-notification action, so the six instructions are written here.

use std::os::fd::{BorrowedFd, OwnedFd};

use crate::seccomp::RawInsn;
use crate::sys;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
const RESTART: u64 = 0x0123_4567;
const RESTART2: u64 = 0xa1b2_c3d4;
const HALT: u64 = 0xcdef_0123;
const POWER_OFF: u64 = 0x4321_fedc;

/// What the jail asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Restart,
    Halt,
}

/// The filter: `reboot` on x86_64 → user notification, everything else
/// allowed (the main filters decide).
pub fn filter() -> Vec<RawInsn> {
    let nr = u32::try_from(libc::SYS_reboot).unwrap_or(169);
    vec![
        RawInsn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 4,
        }, // arch
        RawInsn {
            code: JEQ_K,
            jt: 0,
            jf: 3,
            k: AUDIT_ARCH_X86_64,
        }, // other arch: allow
        RawInsn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        }, // nr
        RawInsn {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: nr,
        }, // not reboot: allow
        RawInsn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_USER_NOTIF,
        },
        RawInsn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ]
}

/// Install the filter on the calling thread; the listener descriptor.
pub fn install() -> std::io::Result<OwnedFd> {
    sys::seccomp::install_listener(sys::seccomp::as_sock_filters(&filter()))
}

/// Take one notification from `fd` and answer it. `Some` when the jail
/// asked to restart or to halt.
pub fn handle(fd: BorrowedFd<'_>) -> Option<Kind> {
    let (id, nr, args) = sys::seccomp::notif_recv(fd).ok()?;
    let kind = if i64::from(nr) == libc::SYS_reboot {
        match args[2] & 0xffff_ffff {
            RESTART | RESTART2 => Some(Kind::Restart),
            HALT | POWER_OFF => Some(Kind::Halt),
            _ => None,
        }
    } else {
        None
    };
    let _ = match kind {
        Some(_) => sys::seccomp::notif_send(fd, id, 0, 0),
        None => sys::seccomp::notif_send(fd, id, 0, -libc::EPERM),
    };
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_notifies_reboot_only() {
        let f = filter();
        assert_eq!(f.len(), 6);
        // Jump targets stay inside the program.
        for (i, insn) in f.iter().enumerate() {
            if insn.code == JEQ_K {
                assert!(i + 1 + usize::from(insn.jf) < f.len() && i + 1 + usize::from(insn.jt) < f.len());
            }
        }
        assert_eq!(f[4].k, libc::SECCOMP_RET_USER_NOTIF);
    }
}
