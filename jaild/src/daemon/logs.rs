//! `GET /v1/jails/{name}/logs`: the console log (written and rotated by the supervisor), whole or
//! its last lines, and with `follow` a chunked stream that goes on while the jail runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiResult;
use super::jails::Jails;

/// How often a follower looks for new output.
const POLL: Duration = Duration::from_millis(100);

/// The rotated log beside `log` (`console.log.1`).
fn rotated(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// The last `n` lines of `data`.
fn last_lines(data: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    // A final newline ends the last line; it does not start another.
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

/// A follower of one log file, across rotations.
struct Follower {
    jails: Arc<Jails>,
    name: String,
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    pos: u64,
    first: Option<Vec<u8>>,
    done: bool,
}

impl Follower {
    /// What was appended since the last read; reopens the file when it was rotated (a new
    /// inode) and starts over when it was truncated.
    fn read_new(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(f) = self.file.as_mut() {
            if f.metadata().is_ok_and(|m| m.len() < self.pos) {
                self.pos = 0;
                let _ = f.seek(SeekFrom::Start(0));
            }
            if let Ok(n) = f.read_to_end(&mut out) {
                self.pos += n as u64;
            }
        }
        let current = std::fs::metadata(&self.path).map(|m| m.ino()).ok();
        if current.is_some() && current != Some(self.ino) {
            // Rotated: the old file is read out above; go on with the new one.
            if let Ok(mut f) = File::open(&self.path) {
                self.ino = current.unwrap_or(0);
                self.pos = 0;
                if let Ok(n) = f.read_to_end(&mut out) {
                    self.pos = n as u64;
                }
                self.file = Some(f);
            }
        }
        out
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Follower)> {
        if let Some(first) = self.first.take()
            && !first.is_empty()
        {
            return Some((Ok(Bytes::from(first)), self));
        }
        loop {
            if self.done {
                return None;
            }
            let data = self.read_new();
            if !data.is_empty() {
                return Some((Ok(Bytes::from(data)), self));
            }
            if !self.jails.observe(&self.name).active() {
                // One last read: what the jail wrote before it ended.
                self.done = true;
                let data = self.read_new();
                return (!data.is_empty()).then(|| (Ok(Bytes::from(data)), self));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The answer to a logs request.
pub async fn logs(jails: Arc<Jails>, name: &str, follow: bool, tail: Option<usize>) -> ApiResult<Response> {
    let jail = jails.get(name)?;
    let name = jail.config.name.clone();
    let path = jails.store.console_log(&name);
    let mut data = std::fs::read(rotated(&path)).unwrap_or_default();
    let mut file = File::open(&path).ok();
    let ino = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.ino());
    let mut pos = 0;
    if let Some(f) = file.as_mut() {
        let before = data.len();
        let _ = f.read_to_end(&mut data);
        pos = (data.len() - before) as u64;
    }
    let data = match tail {
        Some(n) => last_lines(&data, n).to_vec(),
        None => data,
    };
    let text_plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !follow {
        return Ok((text_plain, data).into_response());
    }
    let follower = Follower {
        jails,
        name,
        path,
        file,
        ino,
        pos,
        first: Some(data),
        done: false,
    };
    let stream = futures_util::stream::unfold(follower, Follower::next);
    Ok((text_plain, Body::from_stream(stream)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
        assert_eq!(rotated(Path::new("/x/console.log")), PathBuf::from("/x/console.log.1"));
    }
}
