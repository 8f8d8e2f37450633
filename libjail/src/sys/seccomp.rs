//! Seccomp installation (filled in by the seccomp module work).
