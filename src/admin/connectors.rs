//! A tenant's connectors: put (validated exactly like a `[[connectors]]` entry, inline
//! secrets encrypted, picked up by a running daemon within `[daemon] poll_secs`), read back
//! with every secret `"***"` and the connector's status, and delete (the daemon stops it).
//! Connectors of the configuration file are read here too, but changed only in the file.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value as JsonValue;
use utoipa::ToSchema;

use super::error::{AdminError, ErrorBody};
use super::extract::{parse_body, AdminPath};
use super::runs::ConnectorPath;
use super::state::AdminState;
use super::status::{connector_status, ConnectorStatus};
use super::tenant::{self, Tenant};
use crate::config::ConfigError;
use crate::connectors::{self, Connector};
use crate::registry::{Put, RegistryError};

/// `GET .../connectors/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    /// The keys of its `[[connectors]]` entry, every secret `"***"`; `{}` for a connector of
    /// the configuration file (its settings live there).
    #[schema(value_type = Object)]
    pub settings: JsonValue,
    /// Where it is defined: `api` or `file`.
    pub defined_in: String,
    pub status: ConnectorStatus,
}

/// `DELETE .../connectors/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorDeleted {
    pub name: String,
    pub deleted: bool,
}

/// A registry error as the API answers it.
impl From<RegistryError> for AdminError {
    fn from(e: RegistryError) -> AdminError {
        match e {
            RegistryError::Invalid(ConfigError::Settings { key, message }) if key.is_empty() => {
                AdminError::bad_request(one_line(&message))
            }
            RegistryError::Invalid(ConfigError::Settings { key, message }) => {
                AdminError::bad_key(key.clone(), format!("{key}: {}", one_line(&message)))
            }
            RegistryError::Invalid(other) => AdminError::bad_request(other.to_string()),
            RegistryError::NoSecretsKey { ref key } => AdminError::bad_key(key.clone(), e.to_string()),
            RegistryError::DefinedInFile { .. } => AdminError::Conflict {
                message: e.to_string(),
                run_id: None,
            },
            RegistryError::UnknownTenant(_) => AdminError::NotFound(e.to_string()),
            RegistryError::Store(store) => AdminError::Store(store),
            RegistryError::Sealed { .. } | RegistryError::SealedWebhook { .. } | RegistryError::Keys(_) => {
                AdminError::Internal(e.to_string())
            }
        }
    }
}

/// A parser's message on one line (serde's carry a trailing `in \`key\`` line).
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The connector `name` of `tenant`, from the file or the registry, built to run; 404 when
/// there is none, 500 when stored settings cannot be opened.
pub async fn find(state: &AdminState, tenant: &Tenant, name: &str) -> Result<Arc<Connector>, AdminError> {
    if let Some(connector) = state.connector(&tenant.id, name) {
        return Ok(connector);
    }
    let config = state.registry().connector(&tenant.id, name).await?;
    let config = config.ok_or_else(|| not_found(tenant, name))?;
    Ok(Arc::new(connectors::build(&config)))
}

fn not_found(tenant: &Tenant, name: &str) -> AdminError {
    AdminError::NotFound(format!(
        "tenant {:?} has no connector named {name:?}",
        tenant.id.as_str()
    ))
}

/// Creates (201) or changes (200) a stored connector; a running daemon starts it within
/// `[daemon] poll_secs`.
#[utoipa::path(put, path = "/tenants/{tenant}/connectors/{name}", tag = "connectors",
    params(ConnectorPath),
    request_body(content = Object, description = "The keys of a `[[connectors]]` entry, without `name`"),
    responses(
        (status = 200, description = "Changed", body = ConnectorView),
        (status = 201, description = "Created", body = ConnectorView),
        (status = 400, description = "Invalid settings (`path` names the key), or an inline secret without `[admin] secrets_key`", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The configuration file defines this connector", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConnectorPath>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<ConnectorView>), AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AdminError::TooLarge {
            limit: state.max_body_bytes(),
        },
        _ => AdminError::bad_request(format!("reading the body: {}", r.body_text())),
    })?;
    let settings: JsonValue = parse_body(&body)?;
    let put = state.registry().put(&tenant.id, &path.name, settings).await?;
    let view = view(&state, &tenant, &path.name).await?;
    let status = match put {
        Put::Created => StatusCode::CREATED,
        Put::Updated => StatusCode::OK,
    };
    Ok((status, Json(view)))
}

/// The connector's settings (secrets `"***"`) and status.
#[utoipa::path(get, path = "/tenants/{tenant}/connectors/{name}", tag = "connectors",
    params(ConnectorPath),
    responses(
        (status = 200, description = "The connector", body = ConnectorView),
        (status = 404, description = "No such tenant or connector", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConnectorPath>,
) -> Result<Json<ConnectorView>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    Ok(Json(view(&state, &tenant, &path.name).await?))
}

async fn view(state: &AdminState, tenant: &Tenant, name: &str) -> Result<ConnectorView, AdminError> {
    let (settings, defined_in) = match state.registry().get(&tenant.id, name).await? {
        Some(stored) => (stored.settings, "api"),
        None => (JsonValue::Object(Default::default()), "file"),
    };
    let connector = find(state, tenant, name).await?;
    let status = connector_status(&tenant.store, &connector.config).await?;
    Ok(ConnectorView {
        settings,
        defined_in: defined_in.to_owned(),
        status,
    })
}

/// Removes a stored connector; a running daemon stops it (after a run in progress).
#[utoipa::path(delete, path = "/tenants/{tenant}/connectors/{name}", tag = "connectors",
    params(ConnectorPath),
    responses(
        (status = 200, description = "Removed", body = ConnectorDeleted),
        (status = 404, description = "No such tenant or connector", body = ErrorBody),
        (status = 409, description = "The configuration file defines this connector", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConnectorPath>,
) -> Result<Json<ConnectorDeleted>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    if state.connector(&tenant.id, &path.name).is_some() {
        return Err(AdminError::Conflict {
            message: format!(
                "connector {:?} is defined in the configuration file; remove it there",
                path.name
            ),
            run_id: None,
        });
    }
    if !state.registry().delete(&tenant.id, &path.name).await? {
        return Err(not_found(&tenant, &path.name));
    }
    Ok(Json(ConnectorDeleted {
        name: path.name,
        deleted: true,
    }))
}
