//! Upstream request counters (`idsync_upstream_requests_total`,
//! `idsync_upstream_throttled_total`), labelled with the connector whose run makes them. The
//! supervisor runs each connector inside [`scoped`]; connectors count through [`retry`]
//! (crate::retry) without knowing their own name.

use std::future::Future;

tokio::task_local! {
    static CONNECTOR: String;
}

/// Runs `work` with `connector` as the label of the requests it makes.
pub async fn scoped<F: Future>(connector: String, work: F) -> F::Output {
    CONNECTOR.scope(connector, work).await
}

fn connector() -> String {
    CONNECTOR
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// One request sent upstream.
pub fn upstream_request() {
    metrics::counter!("idsync_upstream_requests_total", "connector" => connector()).increment(1);
}

/// One response that asked us to slow down or come back later (429, 503, 504, a reset).
pub fn upstream_throttled() {
    metrics::counter!("idsync_upstream_throttled_total", "connector" => connector()).increment(1);
}
