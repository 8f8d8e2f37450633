//! Error answers: a status code and `{error, step, hint}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::ErrorBody;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, failing `step`.
    pub fn new(status: StatusCode, step: &str, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                step: step.to_string(),
                hint: None,
            },
        }
    }

    /// The same with a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.body.hint = Some(hint.into());
        self
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(step: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, step, error)
    }

    /// 422: well-formed, but the values cannot be used.
    pub fn invalid(step: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, step, error)
    }

    /// 409: the jail is not in a state that allows this.
    pub fn conflict(step: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, step, error)
    }

    /// 500: jaild or the host failed.
    pub fn internal(step: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, step, error)
    }

    /// 404 for jail `name`.
    pub fn no_such_jail(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "find the jail",
            format!("no jail named `{name}`"),
        )
        .hint("`jailctl list` shows the jails; `jailctl create` makes one")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.status, self.body.step, self.body.error)
    }
}

/// A result whose error is an answer.
pub type ApiResult<T> = Result<T, ApiError>;
