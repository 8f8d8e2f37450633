//! Who is calling: `SO_PEERCRED` of the unix connection. For now only root is served.

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use tokio::net::UnixListener;

use super::error::ApiError;

/// The credentials of the peer of a connection, read once when it is accepted.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The caller's uid; `None` when the kernel did not tell.
    pub uid: Option<u32>,
    /// The caller's gid.
    pub gid: Option<u32>,
    /// The caller's pid.
    pub pid: Option<i32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        match stream.io().peer_cred() {
            Ok(cred) => Peer {
                uid: Some(cred.uid()),
                gid: Some(cred.gid()),
                pid: cred.pid(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "SO_PEERCRED failed: the caller is refused");
                Peer {
                    uid: None,
                    gid: None,
                    pid: None,
                }
            }
        }
    }
}

/// Logs every request with the caller's uid, and refuses every caller but root.
pub async fn authorise(ConnectInfo(peer): ConnectInfo<Peer>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let uid = peer.uid.map_or_else(|| "?".to_string(), |u| u.to_string());
    let pid = peer.pid.map_or_else(|| "?".to_string(), |p| p.to_string());
    if peer.uid != Some(0) {
        tracing::warn!(uid = %uid, pid = %pid, %method, %uri, "refused: not root");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "check the caller",
            format!("uid {uid} may not use jaild: only root (uid 0) is served for now"),
        )
        .hint("run jailctl as root, e.g. with sudo")
        .into_response();
    }
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        uid = %uid,
        pid = %pid,
        %method,
        %uri,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}
