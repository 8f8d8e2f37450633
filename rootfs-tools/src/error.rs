//! The crate's one error type: each variant names the task and step that failed and the path.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// An error from building, unpacking, shifting or checking a rootfs.
///
/// Messages are lower-case and complete ("busybox: create /r/etc/passwd: permission denied"), so
/// the io error is part of the message and not repeated as a `source`.
#[derive(Debug, Error)]
pub enum RootfsError {
    /// A filesystem or process step failed.
    #[error("{task}: {step} {}: {}", path.display(), io_message(error))]
    Io {
        /// The task (subcommand) that failed: "busybox".
        task: &'static str,
        /// The step that failed: "create", "mkdir", "chown", "symlink", ...
        step: &'static str,
        /// The path the step worked on.
        path: PathBuf,
        /// What the kernel (or the parser) said.
        error: io::Error,
    },

    /// The target directory holds files and `force` was not given.
    #[error("{task}: {} exists and is not empty (use --force to build over it)", path.display())]
    NotEmpty { task: &'static str, path: PathBuf },

    /// A component of a path is a symlink; the jail runtime refuses those, so we never follow one.
    #[error(
        "{task}: {}: {} is a symlink (a rootfs path must not contain symlinks; the jail runtime refuses them)",
        path.display(),
        symlink.display()
    )]
    SymlinkInPath {
        task: &'static str,
        /// The whole path asked for.
        path: PathBuf,
        /// The component that is a symlink.
        symlink: PathBuf,
    },

    /// The target is the host's own root directory.
    #[error("{task}: {} is the host's root directory; refusing to build over it", path.display())]
    HostRoot { task: &'static str, path: PathBuf },

    /// Something we own a path for is a directory we will not delete.
    #[error("{task}: {} is a directory; refusing to replace it", path.display())]
    IsADirectory { task: &'static str, path: PathBuf },

    /// The busybox binary asked for is dynamically linked and cannot run in a rootfs without libc.
    #[error(
        "busybox: {} is dynamically linked (interpreter {interpreter}) and cannot run in a rootfs without libc; apt-get install busybox-static",
        path.display()
    )]
    DynamicBusybox { path: PathBuf, interpreter: String },

    /// No statically linked busybox in the default places.
    #[error(
        "busybox: no statically linked busybox at {}; apt-get install busybox-static",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
    )]
    NoStaticBusybox { searched: Vec<PathBuf> },

    /// `busybox --list-full` exited with an error.
    #[error("busybox: run {} --list-full: {status}: {}", path.display(), stderr.trim())]
    AppletList {
        path: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },

    /// An archive, layout or input file is malformed (not a hostile entry: those are skipped and
    /// reported, never an error).
    #[error("{task}: {}: {reason}", path.display())]
    Invalid {
        task: &'static str,
        /// The file or directory that is malformed.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A blob of an OCI layout does not have the digest or size its descriptor names.
    #[error("unpack: {}: {what} does not match its descriptor (expected {expected}, found {found})", path.display())]
    DigestMismatch {
        path: PathBuf,
        /// "digest" or "size".
        what: &'static str,
        expected: String,
        found: String,
    },

    /// A bad option value (an id range, an id mode, a source spec).
    #[error("{task}: {reason}")]
    Usage { task: &'static str, reason: String },

    /// `shift` refused: the tree is already shifted, not shifted, or was shifted differently.
    #[error("shift: {}: {reason}", path.display())]
    Shift { path: PathBuf, reason: String },

    /// A helper program (debootstrap, apt-get) failed.
    #[error("{task}: {program} failed ({status}){}", tail_text(output))]
    Command {
        task: &'static str,
        /// The command line, for the message.
        program: String,
        status: std::process::ExitStatus,
        /// Its last lines of output.
        output: Vec<String>,
    },

    /// `busybox --list-full` printed a path that is not a plain relative path.
    #[error("busybox: {} --list-full printed an unsafe applet path {applet:?}", path.display())]
    BadApplet { path: PathBuf, applet: String },
}

/// The last lines of a helper's output, indented below the message (empty when there are none).
fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("; its last output:");
    for line in lines {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}

/// An io error as a lower-case message without the "(os error N)" suffix.
pub(crate) fn io_message(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => &text[..],
    };
    // Lower-case "Permission denied" but not an acronym such as "ELF ...".
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(text[first.len_utf8()..].chars()).collect()
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_messages_are_lower_case_without_errno() {
        let e = io::Error::from_raw_os_error(13);
        assert_eq!(io_message(&e), "permission denied");
        let e = io::Error::new(io::ErrorKind::InvalidData, "ELF header truncated");
        assert_eq!(io_message(&e), "ELF header truncated");
    }

    #[test]
    fn io_error_names_task_step_and_path() {
        let e = RootfsError::Io {
            task: "busybox",
            step: "create",
            path: "/tmp/r/etc/passwd".into(),
            error: io::Error::from_raw_os_error(13),
        };
        assert_eq!(e.to_string(), "busybox: create /tmp/r/etc/passwd: permission denied");
    }
}
