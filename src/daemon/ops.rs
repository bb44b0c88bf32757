//! Operational endpoints: `/healthz` (200 when the database answers, its writes succeed, no
//! connector is quarantined and none's last run died; 503 with the reasons otherwise) and
//! `/metrics` (Prometheus text).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::store::{Store, StoreError};
use crate::supervise::quarantine::Health;
use crate::supervise::Problems;
use crate::tenant::TenantId;

#[derive(Debug, Clone)]
pub struct OpsState {
    pub store: Store,
    /// The file's connectors to report on: (tenant, name). The stored ones are read at each
    /// request, since the admin API adds and removes them while the process runs.
    pub connectors: Vec<(TenantId, String)>,
    pub metrics: PrometheusHandle,
    /// Failing writes and dead runs, as the supervisor saw them.
    pub problems: Problems,
}

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); ours then only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn healthz(State(state): State<OpsState>) -> Response {
    let checked = healths(&state).await;
    let quarantined = checked.map(|healths| {
        let quarantined = healths.into_iter().filter_map(|((tenant, name), health)| {
            let until = health.quarantined_until?;
            let mut entry = json!({
                "connector": name,
                "until": until.and_utc().to_rfc3339(),
                "consecutive_failures": health.consecutive_failures,
            });
            if !tenant.is_default() {
                entry["tenant"] = json!(tenant);
            }
            Some(entry)
        });
        quarantined.collect::<Vec<_>>()
    });
    let problems = state.problems.snapshot();
    let died: Vec<_> = problems
        .died
        .iter()
        .map(|(connector, error)| json!({ "connector": connector, "error": error }))
        .collect();
    let writes = problems.write.clone().unwrap_or_else(|| "ok".to_owned());
    match quarantined {
        Ok(quarantined) if !problems.is_empty() => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "database": "ok", "writes": writes,
                "died": died, "quarantined": quarantined })),
        )
            .into_response(),
        Ok(quarantined) if quarantined.is_empty() => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "ok", "quarantined": [] })),
        )
            .into_response(),
        Ok(quarantined) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "database": "ok", "quarantined": quarantined })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "database": e.to_string(), "quarantined": [] })),
        )
            .into_response(),
    }
}

/// The stored health of every connector, the file's and the stored ones, each read from its
/// tenant's store.
async fn healths(state: &OpsState) -> Result<Vec<((TenantId, String), Health)>, StoreError> {
    let mut connectors = state.connectors.clone();
    for stored in state.store.stored_connectors().await? {
        let key = (stored.tenant, stored.name);
        if !connectors.contains(&key) {
            connectors.push(key);
        }
    }
    let mut out = Vec::with_capacity(connectors.len());
    for (tenant, name) in connectors {
        let health = state.store.for_tenant(tenant.clone()).health(&name).await?;
        out.push(((tenant, name), health));
    }
    Ok(out)
}

async fn metrics_text(State(state): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
