//! The SCIM endpoint against hostile input: request counters with a closed set of labels,
//! `If-Match` that cannot be read, forwarded headers, attribute limits, media types,
//! authentication before routing, and member lists beyond the database's variable limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};

use support::scim::Server;

/// The process's Prometheus recorder, installed once for this test binary.
fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap()
    })
}

#[tokio::test]
async fn request_counters_take_no_label_from_the_request() {
    let handle = metrics();
    let s = Server::sqlite().await;
    for i in 0..3 {
        let method = Method::from_bytes(format!("RANDOM{i}{}", "X".repeat(200)).as_bytes()).unwrap();
        let r = s
            .client
            .request(method, format!("{}/Users", s.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let (st, _) = s.get("/Users").await;
    assert_eq!(st, StatusCode::OK);
    let text = handle.render();
    assert!(!text.contains("RANDOM"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(text.contains("method=\"GET\""), "{text}");
}
