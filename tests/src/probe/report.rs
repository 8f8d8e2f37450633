//! The probe's output: one line per attempt, and the exit status derived from them.

use std::fmt::Display;
use std::io;

/// Collects the outcome of every attempt of one subcommand, printing each line at once (stdout is
/// line-buffered, so a line is out before any fork).
#[derive(Default)]
pub struct Report {
    blocked: usize,
    escaped: usize,
}

impl Report {
    /// The attempt failed, as it should.
    pub fn blocked(&mut self, attempt: &str, detail: impl Display) {
        self.blocked += 1;
        println!("BLOCKED {attempt}: {detail}");
    }

    /// The attempt worked: the jail is not confining this.
    pub fn escaped(&mut self, attempt: &str, detail: impl Display) {
        self.escaped += 1;
        println!("ESCAPED {attempt}: {detail}");
    }

    /// Context that is neither a success nor a failure of an attack (e.g. a harmless overmount).
    pub fn note(&mut self, attempt: &str, detail: impl Display) {
        println!("NOTE {attempt}: {detail}");
    }

    /// A control: something the jail must still be able to do worked. Not an attack, so it counts
    /// neither way; the test checks for these lines (a filter that denied everything would
    /// otherwise pass).
    pub fn allowed(&mut self, what: &str, detail: impl Display) {
        println!("ALLOWED {what}: {detail}");
    }

    /// A control failed: the jail is over-restricted (a test failure, not an escape).
    pub fn denied(&mut self, what: &str, detail: impl Display) {
        println!("DENIED {what}: {detail}");
    }

    /// Blocked when `result` is an error, escaped (with `worked`'s detail) when it succeeded.
    pub fn expect_err<T>(&mut self, attempt: &str, result: io::Result<T>, worked: impl FnOnce(T) -> String) -> bool {
        match result {
            Err(e) => {
                self.blocked(attempt, errno(&e));
                true
            }
            Ok(v) => {
                let detail = worked(v);
                self.escaped(attempt, detail);
                false
            }
        }
    }

    /// Adds the outcome of a forked child that printed its own lines.
    pub fn absorb_child(&mut self, escaped: bool) {
        if escaped {
            self.escaped += 1;
        } else {
            self.blocked += 1;
        }
    }

    /// 0 when every attempt was blocked, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.escaped > 0)
    }
}

/// `EPERM (Operation not permitted)`-style rendering of an io error.
pub fn errno(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let name = match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENOKEY => "ENOKEY",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ESTALE => "ESTALE",
        libc::EDQUOT => "EDQUOT",
        libc::EUSERS => "EUSERS",
        libc::ETXTBSY => "ETXTBSY",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::EPFNOSUPPORT => "EPFNOSUPPORT",
        _ => return e.to_string(),
    };
    let text = io::Error::from_raw_os_error(code).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
    format!("{name} ({text})")
}

/// True for the errnos a permission check (kernel capability check or seccomp filter) answers.
pub fn is_denial(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES | libc::ENOSYS))
}
