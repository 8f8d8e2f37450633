//! One module per subcommand.

pub mod client;
pub mod console;
pub mod create;
pub mod destroy;
pub mod exec;
pub mod inspect;
pub mod jail_args;
pub mod list;
pub mod logs;
pub mod policy;
pub mod ps;
pub mod restart;
pub mod run;
pub mod start;
pub mod stats;
pub mod stop;
