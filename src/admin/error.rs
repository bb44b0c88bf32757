//! The admin API's one error type: each variant is what the caller should do about it, and
//! each becomes a JSON body `{"error": "..."}` with the fields that help (`path` for a key of
//! a request body or a configuration, `run_id` for the run that is in the way).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use thiserror::Error;
use tracing::error;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum AdminError {
    /// No bearer token, or not the configured one: 401.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The request is wrong: 400. `path` names the key at fault, when one is.
    #[error("{message}")]
    BadRequest { message: String, path: Option<String> },
    /// The tenant, connector, run or conflict does not exist (or belongs to another tenant): 404.
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not with this method: 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request collides with the current state (a run in progress): 409.
    #[error("{message}")]
    Conflict { message: String, run_id: Option<i64> },
    /// The body is larger than `[admin] max_body_bytes`: 413.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The upstream directory failed (a dry run could not fetch): 502.
    #[error("{0}")]
    Upstream(String),
    /// The database failed; the details are in the log, not in the answer: 500.
    #[error("the database failed; see the server's log")]
    Store(#[from] StoreError),
    /// Something on our side went wrong (a task that died): 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub fn bad_request(message: impl Into<String>) -> AdminError {
        AdminError::BadRequest {
            message: message.into(),
            path: None,
        }
    }

    pub fn bad_key(path: impl Into<String>, message: impl Into<String>) -> AdminError {
        AdminError::BadRequest {
            message: message.into(),
            path: Some(path.into()),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Conflict { .. } => StatusCode::CONFLICT,
            AdminError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AdminError::Store(_) | AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// The key at fault (`display_name`, `client_secret`, `connectors.tenant_id`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The run in the way (409 on a run request while the connector runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if let AdminError::Store(e) = &self {
            error!(error = %e, "admin API: database error");
        }
        if let AdminError::Internal(e) = &self {
            error!(error = %e, "admin API: internal error");
        }
        let status = self.status();
        let (path, run_id) = match &self {
            AdminError::BadRequest { path, .. } => (path.clone(), None),
            AdminError::Conflict { run_id, .. } => (None, *run_id),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: self.to_string(),
            path,
            run_id,
        };
        (status, Json(body)).into_response()
    }
}

impl From<PathRejection> for AdminError {
    fn from(rejection: PathRejection) -> AdminError {
        AdminError::bad_request(format!("in the URL path: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for AdminError {
    fn from(rejection: QueryRejection) -> AdminError {
        AdminError::bad_request(format!("in the query string: {}", rejection.body_text()))
    }
}
