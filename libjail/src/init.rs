//! The built-in init (`init: builtin`, `jailctl run --init`): a tiny reaper
//! at pid 1, like tini. It forwards every signal it receives to the payload,
//! reaps every zombie re-parented to it, and exits with the payload's status
//! when the payload ends.
//!
//! It stays non-dumpable for its whole life (it never execs), so nothing in
//! the jail can ptrace it or open the runtime binary through
//! `/proc/1/exe`.

use crate::sys;

/// Every signal the reaper handles: all but SIGKILL and SIGSTOP.
pub fn all_signals() -> Vec<libc::c_int> {
    (1..libc::SIGRTMAX())
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
        .collect()
}

/// Run the reaper for `payload` (a pid in this namespace); never returns.
/// The caller blocked [`all_signals`] before forking the payload, so no
/// SIGCHLD can be lost.
pub fn reap(payload: libc::pid_t) -> ! {
    let signals = all_signals();
    let mut status: Option<i32> = None;
    loop {
        let sig = match sys::sigwait(&signals) {
            Ok(sig) => sig,
            Err(_) => sys::exit_now(125),
        };
        if sig == libc::SIGCHLD {
            while let Ok(Some((pid, st))) = sys::waitpid(-1, libc::WNOHANG) {
                if pid == payload {
                    status = Some(if libc::WIFEXITED(st) {
                        libc::WEXITSTATUS(st)
                    } else {
                        128 + libc::WTERMSIG(st)
                    });
                }
            }
            if let Some(code) = status {
                sys::exit_now(code);
            }
        } else {
            let _ = sys::kill(payload, sig);
        }
    }
}
