//! Building, unpacking, shifting and checking jail root filesystems.
//!
//! One module per task — [`busybox`], [`debootstrap`], [`unpack`] (tarballs and OCI image
//! layouts), [`shift`], [`check`] — and [`source`] to build a rootfs from any of them
//! ([`build_from`], what `jailctl create --from` calls). They share one error type, a writer
//! ([`tree`]) that never follows a symlink out of the rootfs, fd-relative helpers (`at`) and a
//! parallel fd walker (`walk`).

mod at;
pub mod busybox;
pub mod check;
pub mod debootstrap;
pub mod elf;
mod error;
pub mod ids;
mod oci;
mod progress;
pub mod shift;
pub mod source;
mod tree;
pub mod unpack;
mod walk;
pub mod xattr;

pub use error::RootfsError;
pub use source::{BuildOptions, Report, Source, build_from};
