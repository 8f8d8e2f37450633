//! libjail — the core of jaild.
//!
//! Policies and their validation, id maps, mounts, capabilities and
//! securebits, seccomp, and the two-stage spawn sequence (DESIGN §4).
//! Synchronous: no tokio, no clap. All `unsafe` lives in [`sys`].

pub mod capability;
pub mod idmap;
pub mod policy;
pub mod seccomp;
pub mod syscalls;
pub mod sys;
