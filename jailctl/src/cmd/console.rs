//! `jailctl console`: attach to a jail's console pty through its supervisor's control socket.
//! Detach with Ctrl-] then `q` (as in telnet); Ctrl-] twice sends one Ctrl-]. End of input
//! detaches too.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use clap::Args;
use hyper::Method;
use jaild::api::JailInspect;
use libjail::sys;

use super::client::{Client, fail, jail_path};

/// Ctrl-].
const ESCAPE: u8 = 0x1d;

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// The jail.
    name: String,
}

/// Puts stdin in raw mode while it lives (when stdin is a terminal).
struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let saved = if sys::isatty(0) { sys::tcgetattr(0).ok() } else { None };
        if let Some(t) = &saved {
            let _ = sys::tcsetattr(0, &sys::make_raw(t));
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = sys::tcsetattr(0, t);
        }
    }
}

/// One request on the control socket; its reply line.
fn control(path: &str, request: &serde_json::Value) -> std::io::Result<(UnixStream, serde_json::Value)> {
    let mut s = UnixStream::connect(path)?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    s.write_all(&line)?;
    // Byte by byte: after an attach reply the stream is raw console bytes.
    let mut reply = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b)? == 0 || b[0] == b'\n' {
            break;
        }
        reply.push(b[0]);
    }
    let v = serde_json::from_slice(&reply)
        .map_err(|e| std::io::Error::other(format!("bad reply {:?}: {e}", String::from_utf8_lossy(&reply))))?;
    Ok((s, v))
}

/// Sends the terminal's size to the pty, when stdin is a terminal; the size sent.
fn send_size(path: &str, last: Option<(u16, u16)>) -> Option<(u16, u16)> {
    let ws = sys::window_size(0).ok()?;
    let size = (ws.ws_row, ws.ws_col);
    if Some(size) != last && size.0 > 0 {
        let _ = control(
            path,
            &serde_json::json!({"op": "resize", "rows": size.0, "cols": size.1}),
        );
    }
    Some(size)
}

/// What the escape state machine makes of input bytes: the bytes to send, and whether to detach.
fn filter(input: &[u8], escaped: &mut bool) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if *escaped {
            *escaped = false;
            match b {
                b'q' | b'Q' | b'.' => return (out, true),
                ESCAPE => out.push(ESCAPE),
                other => out.extend([ESCAPE, other]),
            }
        } else if b == ESCAPE {
            *escaped = true;
        } else {
            out.push(b);
        }
    }
    (out, false)
}

pub fn run(socket: &Path, args: ConsoleArgs) -> i32 {
    let info: JailInspect = match Client::new(socket).json(Method::GET, &jail_path(&args.name, ""), None::<&()>) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    if info.summary.pid.is_none() {
        return fail(&format!(
            "jail `{}` is not running ({})\n  hint: `jailctl start {}` starts it; `jailctl logs {}` shows its last output",
            args.name, info.summary.state, args.name, args.name
        ));
    }
    let path = info.control_socket;
    let mut sock = match control(&path, &serde_json::json!({"op": "attach"})) {
        Ok((s, reply)) if reply.get("ok").and_then(serde_json::Value::as_bool) == Some(true) => s,
        Ok((_, reply)) => return fail(&format!("console: the supervisor refused: {reply}")),
        Err(e) => return fail(&format!("console: {path}: {e}")),
    };
    eprintln!(
        "jailctl: attached to the console of {}; detach with Ctrl-] then q",
        args.name
    );
    let raw = RawMode::enter();
    let tty = raw.saved.is_some();
    let mut size = if tty { send_size(&path, None) } else { None };
    let stdin = std::io::stdin();
    let stdin_fd = stdin.as_fd();
    let mut stdout = std::io::stdout().lock();
    let mut escaped = false;
    let mut buf = [0u8; 8192];
    let outcome = loop {
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&sock),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        match sys::poll(&mut fds, 250) {
            Ok(0) => {
                if tty {
                    size = send_size(&path, size);
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => break Err(format!("poll: {e}")),
        }
        if fds[1].revents != 0 {
            match sock.read(&mut buf) {
                Ok(0) => break Ok("the console closed (the jail stopped)"),
                Ok(n) => {
                    if stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()).is_err() {
                        break Ok("stdout closed");
                    }
                }
                Err(e) => break Err(format!("read the console: {e}")),
            }
        }
        if fds[0].revents != 0 {
            match sys::read(stdin_fd, &mut buf) {
                Ok(0) => break Ok("end of input: detached"),
                Ok(n) => {
                    let (send, detach) = filter(&buf[..n], &mut escaped);
                    if !send.is_empty() && sock.write_all(&send).is_err() {
                        break Ok("the console closed (the jail stopped)");
                    }
                    if detach {
                        break Ok("detached");
                    }
                }
                Err(e) => break Err(format!("read stdin: {e}")),
            }
        }
    };
    drop(raw);
    let _ = sock.shutdown(std::net::Shutdown::Both);
    match outcome {
        Ok(msg) => {
            eprintln!("\r\njailctl: {msg}");
            0
        }
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequence() {
        let mut e = false;
        assert_eq!(filter(b"ls\n", &mut e), (b"ls\n".to_vec(), false));
        assert_eq!(filter(b"a\x1dq", &mut e), (b"a".to_vec(), true));
        let mut e = false;
        assert_eq!(filter(b"\x1d", &mut e), (vec![], false));
        assert!(e);
        assert_eq!(filter(b"x", &mut e), (vec![ESCAPE, b'x'], false));
        assert_eq!(filter(b"\x1d\x1d", &mut e), (vec![ESCAPE], false));
    }
}
