//! libjail — the core of jaild.
//!
//! Policies and their validation, id maps, mounts, capabilities and
//! securebits, seccomp, and the two-stage spawn sequence (DESIGN §4).
//! Synchronous: no tokio, no clap. All `unsafe` lives in [`sys`].

pub mod capability;
pub mod caps;
pub mod cgroup;
pub mod exec;
pub mod idmap;
pub mod init;
pub mod landlock;
pub mod mount;
pub mod net;
pub mod ns;
pub mod plan;
pub mod policy;
pub mod reboot;
pub mod rootfs;
pub mod seccomp;
pub mod spawn;
pub mod supervise;
pub mod sync;
pub mod sys;
pub mod syscalls;
pub mod user;
