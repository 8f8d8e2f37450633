//! Building, unpacking, shifting and checking jail root filesystems.
//!
//! One module per task (`busybox` now; `unpack`, `shift`, `check`, `debootstrap` later), sharing
//! one error type and a writer ([`tree`]) that never follows a symlink out of the rootfs.

pub mod busybox;
pub mod elf;
mod error;
mod tree;

pub use error::RootfsError;
