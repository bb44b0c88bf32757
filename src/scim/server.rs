//! The HTTP side: the axum router under `/scim/v2`, the connection pool, bearer
//! authentication, body limits and media types, and one log line per request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tracing::{info, warn};

use super::error::{ScimError, SCIM_JSON};
use super::{discovery, groups, tokens, users};
use crate::config::{ScimConfig, ScimDelete};
use crate::store::{self, Db, Store};

/// How long a token check trusts the digest it read (a rotation takes effect within this).
const TOKEN_CACHE: Duration = Duration::from_secs(1);

/// What the handlers share.
#[derive(Clone)]
pub struct ScimState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The daemon's store; its pool is the endpoint's pool.
    store: Store,
    /// At most `pool_size` requests use the database at once; the others wait here, off the
    /// blocking threads, and the connectors' runs keep their share of the pool.
    permits: tokio::sync::Semaphore,
    /// Writes are serialised: each is a short load-plan-apply, and SQLite takes one writer.
    /// A fair (FIFO) lock, so no write waits behind a stream of later ones.
    write: tokio::sync::Mutex<()>,
    token: Mutex<Option<(Instant, Option<String>)>>,
    pub(super) max_body_bytes: usize,
    pub(super) max_results: usize,
    pub(super) delete: ScimDelete,
}

impl std::fmt::Debug for ScimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimState")
            .field("store", &self.inner.store)
            .finish()
    }
}

impl ScimState {
    /// The endpoint's state over `store` (opened with manual checkpoints on SQLite, see
    /// [`Self::checkpoint_loop`]).
    pub fn new(store: Store, config: &ScimConfig) -> Self {
        ScimState {
            inner: Arc::new(Inner {
                store,
                permits: tokio::sync::Semaphore::new(config.pool_size.max(1)),
                write: tokio::sync::Mutex::new(()),
                token: Mutex::new(None),
                max_body_bytes: config.max_body_bytes,
                max_results: config.max_results.max(1),
                delete: config.delete,
            }),
        }
    }

    pub fn max_results(&self) -> usize {
        self.inner.max_results
    }

    pub fn delete_mode(&self) -> ScimDelete {
        self.inner.delete
    }

    /// Runs `f` on one of the store's pooled connections on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ScimError::internal("the connection pool is closed"))?;
        self.inner.store.unit(f).await
    }

    /// Like [`Self::read`], holding the write lock: load, plan and apply see no other write.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let _guard = self.inner.write.lock().await;
        self.read(f).await
    }

    /// Checkpoints SQLite's write-ahead log every 100 ms, off the request path (the pool's
    /// connections do not checkpoint on commit, which would stall the request that happens
    /// to cross the threshold). Often and small: at 2,000 writes a second, a checkpoint per
    /// second copied tens of megabytes at once and pushed POST p99 from ~15 ms to ~25 ms.
    /// Returns at once for PostgreSQL.
    pub async fn checkpoint_loop(self) {
        if !self.inner.store.is_sqlite_file() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let done = match self.inner.permits.acquire().await {
                Ok(_permit) => self.inner.store.checkpoint().await,
                Err(_) => return,
            };
            if let Err(e) = done {
                warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    }

    async fn token_digest(&self) -> Result<Option<String>, ScimError> {
        if let Ok(cache) = self.inner.token.lock() {
            if let Some((at, digest)) = cache.as_ref() {
                if at.elapsed() < TOKEN_CACHE {
                    return Ok(digest.clone());
                }
            }
        }
        let digest = self.read(|db| Ok(store::scim::token_digest(db)?)).await?;
        if let Ok(mut cache) = self.inner.token.lock() {
            *cache = Some((Instant::now(), digest.clone()));
        }
        Ok(digest)
    }
}

/// The SCIM endpoint under `/scim/v2`, to be served with the daemon's other endpoints.
pub fn router(state: ScimState) -> Router {
    let authenticated = Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/.search", post(search_all))
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let scim = Router::new()
        .route("/health", get(health))
        .merge(authenticated)
        .fallback(not_found)
        .with_state(state);
    Router::new()
        .nest("/scim/v2", scim)
        .layer(middleware::from_fn(log_request))
}

/// `POST /.search` (RFC 7644 section 3.4.3): users, then groups, paged as one list.
async fn search_all(
    State(state): State<ScimState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let params = super::search::ListParams::from_body(&body, state.max_results())?;
    let (offset, count) = (params.offset, params.count);
    // Each type's first offset + count matches cover the combined page.
    let wide = super::search::ListParams {
        offset: 0,
        count: offset.saturating_add(count),
        ..params
    };
    let (user_total, users) = users::find(&state, wide.clone(), &headers).await?;
    let (group_total, groups) = groups::find(&state, wide, &headers).await?;
    let page: Vec<Value> = users
        .into_iter()
        .chain(groups)
        .skip(offset as usize)
        .take(count as usize)
        .collect();
    Ok(scim_response(
        StatusCode::OK,
        &super::search::list_response(user_total + group_total, offset, page),
    ))
}

async fn method_not_allowed(method: Method) -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("{method} is not supported on this resource"),
    )
}

async fn not_found() -> ScimError {
    ScimError::not_found("no such endpoint")
}

async fn health(State(state): State<ScimState>) -> Response {
    match state.read(|db| Ok(store::scim::ping(db)?)).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"ok\"}",
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"database unreachable\"}",
        )
            .into_response(),
    }
}

async fn authenticate(State(state): State<ScimState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let stored = match state.token_digest().await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let ok = match (&presented, &stored) {
        (Some(p), Some(s)) => tokens::verify(p, s),
        _ => false,
    };
    if !ok {
        let reason = match (&presented, &stored) {
            (_, None) => "no token is configured (idsync scim-token create)",
            (None, _) => "no bearer token in the request",
            _ => "wrong bearer token",
        };
        warn!(
            method = %request.method(),
            path = %request.uri().path(),
            user_agent = user_agent(request.headers()),
            reason,
            "SCIM authentication failed"
        );
        return ScimError::new(StatusCode::UNAUTHORIZED, None, "a valid bearer token is required")
            .into_response();
    }
    next.run(request).await
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let agent = user_agent(request.headers()).to_owned();
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CONTENT_TYPE) && response.status() != StatusCode::NO_CONTENT {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    }
    let status = response.status().as_u16();
    metrics::counter!("idsync_scim_requests_total", "method" => method.to_string(), "status" => status.to_string())
        .increment(1);
    info!(
        method = %method,
        path = %path,
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        user_agent = %agent,
        "SCIM request"
    );
    response
}

/// The body as JSON: 413 over the limit, 415 for a clearly wrong media type (a missing one is
/// fine), 400 for malformed JSON.
pub async fn json_body(state: &ScimState, headers: &HeaderMap, body: Body) -> Result<Value, ScimError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        let fine =
            essence.is_empty() || essence.contains("json") || essence == "*/*" || essence == "text/plain";
        if !fine {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("Content-Type {essence} is not supported; send application/scim+json"),
            ));
        }
    }
    let limit = state.inner.max_body_bytes;
    let too_large = || {
        ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::bad("invalidSyntax", "the request has no body"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not valid JSON: {e}")))
}

/// The endpoint's base URL as the client reached it, for `Location` and `meta.location`.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}/scim/v2")
}

/// A JSON answer with the SCIM media type.
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}
