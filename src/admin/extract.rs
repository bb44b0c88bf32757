//! Extractors whose failures are [`AdminError`]s, so a bad path, query or body gets the same
//! JSON error as everything else: a body's error says where (line, column and key path).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::AdminError;
use super::state::AdminState;

/// A path parameter, rejected as JSON.
#[derive(Debug)]
pub struct AdminPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AdminPath<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(AdminPath(value))
    }
}

/// A query string, rejected as JSON.
#[derive(Debug)]
pub struct AdminQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AdminQuery<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(AdminQuery(value))
    }
}

/// A JSON body within `[admin] max_body_bytes`. An empty body reads as `{}`, so a request
/// whose fields all have defaults may leave it out.
#[derive(Debug)]
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AdminState> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &AdminState) -> Result<Self, AdminError> {
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => AdminError::TooLarge {
                        limit: state.max_body_bytes(),
                    },
                    _ => AdminError::bad_request(format!("reading the body: {}", rejection.body_text())),
                })?;
        parse_body(&bytes).map(AdminJson)
    }
}

/// Parses a JSON body; the error names the key path and the line and column at fault.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON body: {inner}")
        } else {
            format!("invalid body: {inner}")
        };
        if path == "." {
            AdminError::bad_request(message)
        } else {
            AdminError::bad_key(path, message)
        }
    })?;
    deserializer
        .end()
        .map_err(|e| AdminError::bad_request(format!("malformed JSON body: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        count: u32,
    }

    fn error_of(text: &str) -> (String, Option<String>) {
        match parse_body::<Body>(text.as_bytes()) {
            Err(AdminError::BadRequest { message, path }) => (message, path),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_key_and_the_place() {
        let (message, path) = error_of(r#"{"name": "a", "count": "x"}"#);
        assert_eq!(path.as_deref(), Some("count"));
        assert!(message.contains("line 1 column"), "{message}");
        let (message, path) = error_of(r#"{"name": "a", "colour": 1}"#);
        assert!(message.contains("unknown field `colour`"), "{message}");
        assert_eq!(path.as_deref(), Some("colour"));
        let (message, _) = error_of(r#"{"name": "a""#);
        assert!(message.starts_with("malformed JSON body"), "{message}");
        let (message, _) = error_of(r#"{"name": "a"} trailing"#);
        assert!(message.starts_with("malformed JSON body"), "{message}");
    }

    #[test]
    fn an_empty_body_reads_as_an_empty_object() {
        let (message, _) = error_of("  ");
        assert!(message.contains("missing field `name`"), "{message}");
    }
}
