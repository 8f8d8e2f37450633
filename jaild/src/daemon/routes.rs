//! The routes of API v1 (`docs/api.md`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::jails::{DEFAULT_STOP_TIMEOUT, Jails};
use super::logs;
use crate::api::{CreateRequest, Version};

type AppState = Arc<Jails>;

/// Every route, under `/v1`.
pub fn router(jails: AppState) -> Router {
    Router::new()
        .route("/v1/version", get(version))
        .route("/v1/jails", get(list).post(create))
        .route("/v1/jails/{name}", get(inspect).delete(destroy))
        .route("/v1/jails/{name}/start", post(start))
        .route("/v1/jails/{name}/stop", post(stop))
        .route("/v1/jails/{name}/restart", post(restart))
        .route("/v1/jails/{name}/logs", get(logs))
        .route("/v1/jails/{name}/stats", get(stats))
        .route("/v1/jails/{name}/ps", get(ps))
        .fallback(no_route)
        .method_not_allowed_fallback(bad_method)
        .with_state(jails)
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route the request", "no such endpoint")
        .hint("the API lives under /v1 (docs/api.md)")
}

async fn bad_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "route the request",
        "method not allowed on this endpoint",
    )
    .hint("docs/api.md lists the methods of each path")
}

/// The jail name of the path.
fn name(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(n)| n)
        .map_err(|e| ApiError::bad_request("parse the path", e.body_text()))
}

/// A query, or a 400 that says what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request("parse the query", e.body_text()))
}

async fn version() -> Json<Version> {
    Json(Version {
        version: env!("CARGO_PKG_VERSION").to_string(),
        api: "v1".to_string(),
        pid: std::process::id(),
    })
}

async fn list(State(jails): State<AppState>) -> Response {
    Json(jails.list().await).into_response()
}

async fn create(State(jails): State<AppState>, body: Bytes) -> ApiResult<Response> {
    if body.is_empty() {
        return Err(ApiError::bad_request("parse the request", "the body is empty")
            .hint("send a JSON object with at least `name` and `root`"));
    }
    let req: CreateRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("parse the request", format!("bad JSON body: {e}"))
            .hint("fields: name, root, policy, sets, hostname, ids, autostart, command, restart, stop_signal")
    })?;
    let summary = jails.create(req).await?;
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

async fn inspect(State(jails): State<AppState>, path: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let name = name(path)?;
    Ok(Json(jails.inspect(&name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestroyQuery {
    #[serde(default)]
    force: bool,
}

async fn destroy(
    State(jails): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    q: Result<Query<DestroyQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let name = name(path)?;
    let q = query(q)?;
    jails.destroy(&name, q.force).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn start(State(jails): State<AppState>, path: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let name = name(path)?;
    Ok(Json(jails.start(&name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopQuery {
    /// Seconds.
    timeout: Option<u64>,
}

impl StopQuery {
    fn timeout(&self) -> ApiResult<Duration> {
        match self.timeout {
            None => Ok(DEFAULT_STOP_TIMEOUT),
            Some(s) if s <= 3600 => Ok(Duration::from_secs(s)),
            Some(s) => Err(ApiError::bad_request(
                "parse the query",
                format!("timeout {s} s is more than an hour"),
            )),
        }
    }
}

async fn stop(
    State(jails): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    q: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let name = name(path)?;
    let timeout = query(q)?.timeout()?;
    Ok(Json(jails.stop(&name, timeout).await?).into_response())
}

async fn restart(
    State(jails): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    q: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let name = name(path)?;
    let timeout = query(q)?.timeout()?;
    Ok(Json(jails.restart(&name, timeout).await?).into_response())
}

async fn stats(State(jails): State<AppState>, path: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let name = name(path)?;
    Ok(Json(jails.stats(&name).await?).into_response())
}

async fn ps(State(jails): State<AppState>, path: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let name = name(path)?;
    Ok(Json(jails.ps(&name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    #[serde(default)]
    follow: bool,
    tail: Option<usize>,
}

async fn logs(
    State(jails): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let name = name(path)?;
    let q = query(q)?;
    logs::logs(jails, &name, q.follow, q.tail).await
}
