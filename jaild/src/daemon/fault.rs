//! Fault injection for the fault tests, in debug builds only: with `JAILD_FAULT=STEP` in its
//! environment, jaild sends itself SIGKILL when it reaches the step named STEP, exactly as a
//! `kill -9` from outside at that moment would. Release builds compile every point to nothing.
//!
//! The steps, in the order an operation passes them:
//!
//! | step | where |
//! | --- | --- |
//! | `create.reserved` | the name and root are reserved, nothing is written yet |
//! | `create.written` | `STATE_DIR/jails/.NAME.creating` holds the config, not renamed yet |
//! | `create.renamed` | the jail's directory is in place, the registry does not know it yet |
//! | `start.prepared` | the run directory and `policy.json` are written, no supervisor yet |
//! | `start.launched` | `jail-init supervise` was started, jaild has not seen it report |
//! | `start.running` | the supervisor reported `running`, the reply is not sent yet |
//! | `stop.asked` | the supervisor accepted the stop, jaild has not waited for it |
//! | `stop.stopped` | the jail is stopped, its run directory not yet removed |
//! | `destroy.stopped` | `destroy --force` stopped the jail, its state is still there |
//! | `destroy.renamed` | the state directory is renamed to `.NAME.destroying.*`, not removed |
//! | `destroy.removed` | the state is gone, the registry and address leases not yet updated |

/// Every step a fault can be injected at.
pub const STEPS: &[&str] = &[
    "create.reserved",
    "create.written",
    "create.renamed",
    "start.prepared",
    "start.launched",
    "start.running",
    "stop.asked",
    "stop.stopped",
    "destroy.stopped",
    "destroy.renamed",
    "destroy.removed",
];

/// The environment variable that names the step.
pub const ENV: &str = "JAILD_FAULT";

/// Kills jaild here if `JAILD_FAULT` names `step` (debug builds only).
#[cfg(debug_assertions)]
pub fn point(step: &'static str) {
    debug_assert!(STEPS.contains(&step), "unknown fault step {step}");
    if std::env::var_os(ENV).is_some_and(|v| v == step) {
        tracing::warn!(step, "{ENV}: jaild kills itself here");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Kills jaild here if `JAILD_FAULT` names `step` (debug builds only).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_step: &'static str) {}

#[cfg(test)]
mod tests {
    #[test]
    fn steps_are_unique() {
        let mut s = super::STEPS.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), super::STEPS.len());
    }
}
