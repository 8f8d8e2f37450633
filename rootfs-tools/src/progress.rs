//! Progress bars on stderr: drawn only when asked for and stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` bytes (a spinner with a byte count when the total is unknown).
pub(crate) fn bytes(show: bool, total: Option<u64>, message: &str) -> ProgressBar {
    let template = match total {
        Some(_) => "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        None => "{spinner} {msg} {bytes} ({bytes_per_sec})",
    };
    make(show, total, template, message)
}

/// A spinner counting entries.
pub(crate) fn entries(show: bool, message: &str) -> ProgressBar {
    make(show, None, "{spinner} {msg} {human_pos} entries ({per_sec})", message)
}

/// A spinner showing the last line a helper printed.
pub(crate) fn spinner(show: bool, message: &str) -> ProgressBar {
    make(show, None, "{spinner} [{elapsed}] {msg}", message)
}

fn make(show: bool, total: Option<u64>, template: &str, message: &str) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
