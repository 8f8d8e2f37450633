//! The jaild client: HTTP/1.1 over jaild's unix socket (hyper 1). Each call builds a
//! current-thread tokio runtime and drops it when done, so `jailctl exec` is single-threaded
//! again before it forks into the jail.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use jaild::api::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Exit status of a management command that failed.
pub const EXIT_FAILED: i32 = 1;

/// A call to jaild that failed.
#[derive(Debug)]
pub enum ClientError {
    /// The socket cannot be reached.
    Connect { socket: PathBuf, source: std::io::Error },
    /// HTTP itself failed.
    Http(String),
    /// jaild answered with an error.
    Api { status: StatusCode, body: ErrorBody },
    /// The answer is not what was expected.
    Decode(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { socket, source } => write!(
                f,
                "cannot reach jaild at {}: {source}\n  hint: is jaild running (`systemctl start jaild`)? \
                 --socket or JAILD_SOCKET select another socket",
                socket.display()
            ),
            ClientError::Http(e) => write!(f, "talking to jaild: {e}"),
            ClientError::Api { status, body } => {
                write!(f, "{}: {} (HTTP {})", body.step, body.error, status.as_u16())?;
                if let Some(h) = &body.hint {
                    write!(f, "\n  hint: {h}")?;
                }
                Ok(())
            }
            ClientError::Decode(e) => write!(f, "jaild's answer: {e}"),
        }
    }
}

/// Prints `e` as jailctl's error and returns [`EXIT_FAILED`].
pub fn fail(e: &dyn fmt::Display) -> i32 {
    eprintln!("jailctl: {e}");
    EXIT_FAILED
}

/// Receives the status and each body frame of an answer as it arrives.
type Sink<'a> = &'a mut dyn FnMut(StatusCode, &[u8]) -> Result<(), ClientError>;

/// `name` escaped for a path segment (anything but `[A-Za-z0-9_.-]` percent-encoded).
pub fn segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/v1/jails/NAME` plus `rest`.
pub fn jail_path(name: &str, rest: &str) -> String {
    format!("/v1/jails/{}{rest}", segment(name))
}

/// A client of the jaild at `socket`.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client of the socket at `socket`.
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    fn runtime() -> Result<tokio::runtime::Runtime, ClientError> {
        // I/O and timers only: no signal or process driver to set up.
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| ClientError::Http(format!("start the runtime: {e}")))
    }

    /// Sends a request; hands the response's status and body frames to `sink` as they arrive.
    fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        sink: Sink<'_>,
    ) -> Result<StatusCode, ClientError> {
        let rt = Self::runtime()?;
        let result = rt.block_on(async {
            let stream =
                tokio::net::UnixStream::connect(&self.socket)
                    .await
                    .map_err(|source| ClientError::Connect {
                        socket: self.socket.clone(),
                        source,
                    })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?;
            let conn = tokio::spawn(conn);
            let has_body = body.is_some();
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, "jaild");
            if has_body {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let req = req
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| ClientError::Http(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?;
            let status = resp.status();
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| ClientError::Http(e.to_string()))?;
                if let Some(data) = frame.data_ref() {
                    sink(status, data)?;
                }
            }
            drop(sender);
            conn.abort();
            Ok(status)
        });
        drop(rt);
        result
    }

    /// Sends a request and collects the whole answer; a non-2xx answer is an error.
    pub fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>, ClientError> {
        let mut all = Vec::new();
        let status = self.exchange(method, path, body, &mut |_, data| {
            all.extend_from_slice(data);
            Ok(())
        })?;
        if status.is_success() {
            Ok(all)
        } else {
            Err(api_error(status, &all))
        }
    }

    /// A JSON request with a JSON answer.
    pub fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let bytes = self.call(method, path, body)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET path`, streaming the body into `out` as it arrives (for `logs -f`).
    /// A reader that went away (`jailctl logs -f | head`) ends the stream quietly.
    pub fn stream(&self, path: &str, out: &mut dyn Write) -> Result<(), ClientError> {
        let mut error = Vec::new();
        let mut closed = false;
        let result = self.exchange(Method::GET, path, None, &mut |status, data| {
            if status.is_success() {
                out.write_all(data).and_then(|()| out.flush()).map_err(|e| {
                    closed = e.kind() == std::io::ErrorKind::BrokenPipe;
                    ClientError::Http(format!("write the output: {e}"))
                })
            } else {
                error.extend_from_slice(data);
                Ok(())
            }
        });
        if closed {
            return Ok(());
        }
        let status = result?;
        if status.is_success() {
            Ok(())
        } else {
            Err(api_error(status, &error))
        }
    }
}

/// The error of a non-2xx answer.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => ClientError::Api { status, body },
        Err(_) => ClientError::Api {
            status,
            body: ErrorBody {
                error: String::from_utf8_lossy(body).trim().to_string(),
                step: "jaild".to_string(),
                hint: None,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("web-1.a_b"), "web-1.a_b");
        assert_eq!(segment("a/b"), "a%2Fb");
        assert_eq!(segment("a b?"), "a%20b%3F");
    }
}
