//! Capabilities and securebits of the jail stage (DESIGN §4 steps 12 and
//! 16): the capability mask becomes the bounding set of every jail process
//! and the ambient set of its root; `SECBIT_NOROOT` is locked so uid 0 earns
//! nothing at exec.

use std::io;

use crate::capability::CapMask;
use crate::sys;

/// The securebits every jail process carries: root earns nothing at exec
/// (NOROOT), the setuid fix-up (a uid change away from 0 clears the
/// capability sets) cannot be turned off, keep-caps cannot be turned on.
pub const BASE_SECUREBITS: libc::c_int = libc::SECBIT_NOROOT
    | libc::SECBIT_NOROOT_LOCKED
    | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
    | libc::SECBIT_KEEP_CAPS_LOCKED;

/// [`BASE_SECUREBITS`] plus "the ambient set can never be raised again",
/// locked: set once root's ambient set holds the mask.
pub const FINAL_SECUREBITS: libc::c_int =
    BASE_SECUREBITS | libc::SECBIT_NO_CAP_AMBIENT_RAISE | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

const CAP_SETPCAP: u8 = 8;

/// Step 12: set and lock [`BASE_SECUREBITS`].
pub fn lock_securebits() -> io::Result<()> {
    sys::prctl(libc::PR_SET_SECUREBITS, BASE_SECUREBITS as libc::c_ulong).map(drop)
}

/// Lock [`FINAL_SECUREBITS`] (needs CAP_SETPCAP).
pub fn lock_final_securebits() -> io::Result<()> {
    sys::prctl(libc::PR_SET_SECUREBITS, FINAL_SECUREBITS as libc::c_ulong).map(drop)
}

/// Step 12: drop every capability outside `mask` from the bounding set,
/// up to the kernel's last capability (the table may know fewer).
pub fn drop_bounding_set(mask: CapMask, cap_last_cap: u8) -> io::Result<()> {
    for cap in 0..=cap_last_cap {
        if !mask.contains(cap) {
            sys::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap))?;
        }
    }
    Ok(())
}

/// Step 16 for root: inheritable = permitted = effective = mask, the mask
/// raised into the ambient set, then ambient raising locked off. CAP_SETPCAP
/// is kept just long enough to lock the securebits.
pub fn set_root_capabilities(mask: CapMask) -> io::Result<()> {
    let with_setpcap = mask.with(CAP_SETPCAP).0;
    sys::capset(with_setpcap, with_setpcap, mask.0)?;
    for cap in mask.iter() {
        sys::cap_ambient(libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, libc::c_ulong::from(cap))?;
    }
    lock_final_securebits()?;
    sys::capset(mask.0, mask.0, mask.0)
}

/// Step 16 for any other user: no capability at all.
pub fn clear_capabilities() -> io::Result<()> {
    sys::cap_ambient(libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)?;
    sys::capset(0, 0, 0)
}
