//! jaild: the daemon that keeps jails (DESIGN §9), and the types its REST API and its per-jail
//! supervisors speak.
//!
//! - [`api`]: the JSON bodies of the REST API (`docs/api.md`), shared with `jailctl`.
//! - [`state`]: a supervisor's `state.json` and the process checks (pid + start time) that decide
//!   whether a jail is still alive.
//! - [`daemon`]: the server itself — the unix socket, the routes, the state directory, starting,
//!   stopping and re-adopting supervisors.
//!
//! The daemon runs tokio (one event-loop thread and a pool for blocking work), so it is
//! multi-threaded and never forks to set a jail up. It execs a fresh
//! `jail-init supervise` per jail, which owns the jail from then on and outlives the daemon.

pub mod api;
pub mod daemon;
pub mod state;
