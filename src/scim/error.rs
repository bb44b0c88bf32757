//! SCIM errors (RFC 7644 section 3.12): the status as a string, `scimType` where the RFC
//! defines one, and a `detail` that names the attribute or value at fault.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCIM_JSON: &str = "application/scim+json";

/// An error answer.
#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// The database refused the write because of a concurrent one (a unique value taken
    /// meanwhile, a deadlock): the whole unit of work may be tried again.
    race: bool,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            race: false,
        }
    }

    /// Whether a retry of the unit of work may succeed (see [`StoreError::is_race`]).
    pub fn is_race(&self) -> bool {
        self.race
    }

    /// 400 with a `scimType` (`invalidValue`, `invalidFilter`, `invalidPath`, `invalidSyntax`, ...).
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, detail)
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        let race = e.is_race();
        let mut error = if let StoreError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) = &e
        {
            ScimError::uniqueness(format!("a unique value is already taken: {}", info.message()))
        } else {
            if !race {
                tracing::error!(error = %e, "SCIM request failed in the store");
            }
            ScimError::internal("the request failed in the database; see the server log")
        };
        error.race = race;
        error
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_str(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = (self.status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"idsync SCIM\""),
            );
        }
        response
    }
}
