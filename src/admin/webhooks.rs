//! A tenant's webhook endpoints: put (the secret sealed with `[admin] secrets_key`, the
//! endpoint receiving the changes committed after its creation), read (the secret `"***"`),
//! delete, the delivery attempts, and replay from a `seq`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDateTime;
use idsync_source::Secret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{AdminError, ErrorBody};
use super::extract::{AdminJson, AdminPath, AdminQuery};
use super::state::AdminState;
use super::tenant::{self, Tenant, TenantPath};
use crate::config::REDACTED;
use crate::store::webhooks::{AttemptRow, WebhookRow, WebhookSpec};

/// `{tenant}` and `{name}` of a webhook.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The tenant's id.
    pub tenant: String,
    /// The endpoint's name (1-63 characters of `a-z`, `0-9`, `-`, `_`).
    pub name: String,
}

/// `PUT .../webhooks/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPut {
    /// Where the changes are POSTed: an `http://` or `https://` URL.
    pub url: String,
    /// The signing secret, `whsec_` and 24 to 64 bytes of base64; may be left out when
    /// changing an endpoint (the stored one is kept).
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    /// The change types to send; absent or empty: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Changes per request (1 to 1000, default 1); more than 1 sends `batch` messages.
    pub batch_size: Option<i64>,
}

/// A webhook endpoint as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub name: String,
    pub url: String,
    /// Always `"***"`.
    pub secret: String,
    pub types: Vec<String>,
    pub batch_size: i64,
    /// `api` or `file`.
    pub defined_in: String,
    /// The feed's end when it was created: it receives the changes after it.
    pub created_after_seq: i64,
    /// The last `seq` it acknowledged (or did not want).
    pub delivered_seq: i64,
    /// Failed attempts at the next message.
    pub failures: i64,
    pub next_attempt_at: Option<NaiveDateTime>,
    /// Set when the retry schedule was spent; a replay or a PUT enables it again.
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<WebhookRow> for WebhookView {
    fn from(r: WebhookRow) -> Self {
        WebhookView {
            types: r.type_list(),
            name: r.name,
            url: r.url,
            secret: REDACTED.to_owned(),
            batch_size: r.batch_size,
            defined_in: if r.from_config { "file" } else { "api" }.to_owned(),
            created_after_seq: r.created_after_seq,
            delivered_seq: r.delivered_seq,
            failures: r.failures,
            next_attempt_at: r.next_attempt_at,
            disabled_at: r.disabled_at,
            disabled_reason: r.disabled_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `GET .../webhooks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: i64,
    /// The message's `webhook-id`.
    pub webhook_id: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub attempted_at: NaiveDateTime,
    /// The answer's HTTP status; null when none came (timeout, refused, dropped).
    pub status: Option<i64>,
    pub duration_ms: i64,
    /// What went wrong; null for a 2xx.
    pub error: Option<String>,
}

impl From<AttemptRow> for AttemptView {
    fn from(a: AttemptRow) -> Self {
        AttemptView {
            id: a.id,
            webhook_id: a.message_id,
            first_seq: a.first_seq,
            last_seq: a.last_seq,
            attempted_at: a.attempted_at,
            status: a.status,
            duration_ms: a.duration_ms,
            error: a.error,
        }
    }
}

/// `GET .../attempts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptList {
    /// Newest first.
    pub attempts: Vec<AttemptView>,
}

/// `?limit=` of the attempts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    /// The newest this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// `POST .../replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Send again every change with a greater `seq` (0: the whole kept history).
    pub after: i64,
}

/// `DELETE`, and `replay`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDone {
    pub name: String,
    pub done: bool,
}

async fn existing(tenant: &Tenant, name: &str) -> Result<WebhookRow, AdminError> {
    tenant.store.webhook(name).await?.ok_or_else(|| {
        AdminError::NotFound(format!(
            "tenant {:?} has no webhook named {name:?}",
            tenant.id.as_str()
        ))
    })
}

/// The tenant's webhooks.
#[utoipa::path(get, path = "/tenants/{tenant}/webhooks", tag = "webhooks", params(TenantPath),
    responses(
        (status = 200, description = "The endpoints", body = WebhookList),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
) -> Result<Json<WebhookList>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let rows = tenant.store.webhooks().await?;
    Ok(Json(WebhookList {
        webhooks: rows.into_iter().map(WebhookView::from).collect(),
    }))
}

/// Creates (201) or changes (200) a webhook; a running daemon delivers to it at once.
#[utoipa::path(put, path = "/tenants/{tenant}/webhooks/{name}", tag = "webhooks",
    params(WebhookPath), request_body = WebhookPut,
    responses(
        (status = 200, description = "Changed", body = WebhookView),
        (status = 201, description = "Created", body = WebhookView),
        (status = 400, description = "Invalid (`path` names the key), or no `[admin] secrets_key` to seal the secret", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The configuration file defines this webhook", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<WebhookPath>,
    AdminJson(body): AdminJson<WebhookPut>,
) -> Result<(StatusCode, Json<WebhookView>), AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    crate::webhooks::check_name(&path.name).map_err(|m| AdminError::bad_key("name", m))?;
    crate::webhooks::check_url(&body.url).map_err(|m| AdminError::bad_key("url", m))?;
    crate::webhooks::check_types(&body.types).map_err(|m| AdminError::bad_key("types", m))?;
    let batch_size = body.batch_size.unwrap_or(1);
    if !(1..=1000).contains(&batch_size) {
        return Err(AdminError::bad_key(
            "batch_size",
            format!("batch_size={batch_size}: expected 1 to 1000"),
        ));
    }
    let current = tenant.store.webhook(&path.name).await?;
    if current.as_ref().is_some_and(|w| w.from_config) {
        return Err(AdminError::Conflict {
            message: format!(
                "the webhook {:?} is defined in the configuration file; change it there",
                path.name
            ),
            run_id: None,
        });
    }
    let sealed_secret = match &body.secret {
        Some(secret) => {
            crate::webhooks::SigningSecret::parse(secret.expose())
                .map_err(|e| AdminError::bad_key("secret", e.to_string()))?;
            let keyring = state.registry().keyring();
            let sealed = keyring
                .seal(secret)
                .map_err(|e| AdminError::bad_key("secret", e.to_string()))?;
            Some((sealed, keyring.current_id().map(str::to_owned)))
        }
        None if current.is_none() => {
            return Err(AdminError::bad_key(
                "secret",
                "a new webhook needs a secret (whsec_...)",
            ));
        }
        None => None,
    };
    let spec = WebhookSpec {
        url: body.url,
        sealed_secret,
        types: body.types,
        batch_size,
        from_config: false,
    };
    let created = tenant
        .store
        .put_webhook(&path.name, spec, crate::store::now())
        .await?;
    tenant.store.notify_changes();
    let view = existing(&tenant, &path.name).await?.into();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// The webhook, its secret `"***"`, with its delivery position.
#[utoipa::path(get, path = "/tenants/{tenant}/webhooks/{name}", tag = "webhooks", params(WebhookPath),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such tenant or webhook", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<WebhookPath>,
) -> Result<Json<WebhookView>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    Ok(Json(existing(&tenant, &path.name).await?.into()))
}

/// Removes the webhook and its attempts; its delivery stops.
#[utoipa::path(delete, path = "/tenants/{tenant}/webhooks/{name}", tag = "webhooks", params(WebhookPath),
    responses(
        (status = 200, description = "Removed (`done` false: there was none)", body = WebhookDone),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The configuration file defines this webhook", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<WebhookPath>,
) -> Result<Json<WebhookDone>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    if tenant
        .store
        .webhook(&path.name)
        .await?
        .is_some_and(|w| w.from_config)
    {
        return Err(AdminError::Conflict {
            message: format!(
                "the webhook {:?} is defined in the configuration file; remove it there",
                path.name
            ),
            run_id: None,
        });
    }
    let done = tenant.store.delete_webhook(&path.name).await?;
    Ok(Json(WebhookDone {
        name: path.name,
        done,
    }))
}

/// The webhook's delivery attempts, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/webhooks/{name}/attempts", tag = "webhooks",
    params(WebhookPath, AttemptsQuery),
    responses(
        (status = 200, description = "The attempts, newest first", body = AttemptList),
        (status = 404, description = "No such tenant or webhook", body = ErrorBody),
    ))]
pub async fn attempts(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<WebhookPath>,
    AdminQuery(query): AdminQuery<AttemptsQuery>,
) -> Result<Json<AttemptList>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    existing(&tenant, &path.name).await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let rows = tenant.store.webhook_attempts(&path.name, limit).await?;
    Ok(Json(AttemptList {
        attempts: rows.into_iter().map(AttemptView::from).collect(),
    }))
}

/// Sends again every change after `after` (and enables a disabled webhook).
#[utoipa::path(post, path = "/tenants/{tenant}/webhooks/{name}/replay", tag = "webhooks",
    params(WebhookPath), request_body = ReplayBody,
    responses(
        (status = 200, description = "Delivery restarts after `after`", body = WebhookDone),
        (status = 400, description = "`after` is invalid", body = ErrorBody),
        (status = 404, description = "No such tenant or webhook", body = ErrorBody),
    ))]
pub async fn replay(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<WebhookPath>,
    AdminJson(body): AdminJson<ReplayBody>,
) -> Result<Json<WebhookDone>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    if body.after < 0 {
        return Err(AdminError::bad_key(
            "after",
            format!("after={}: a seq is 0 or more", body.after),
        ));
    }
    existing(&tenant, &path.name).await?;
    let done = tenant
        .store
        .replay_webhook(&path.name, body.after, crate::store::now())
        .await?;
    Ok(Json(WebhookDone {
        name: path.name,
        done,
    }))
}
