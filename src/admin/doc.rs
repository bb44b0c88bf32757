//! The OpenAPI 3.1 document, generated from the handlers' annotations and the routes that
//! serve them (see `router.rs`), served at `GET /admin/v1/openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::router::{api, BASE_PATH};
use super::state::AdminState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idsync admin API",
        description = "Tenants, connectors, runs, the event log and conflicts of one idsync \
            deployment. Every endpoint but this document needs `Authorization: Bearer <[admin] token>`.",
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
)]
struct Root;

/// The `bearer` security scheme.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let all = OpenApiRouter::<AdminState>::new()
            .routes(utoipa_axum::routes!(openapi_json))
            .merge(api());
        OpenApiRouter::with_openapi(Root::openapi())
            .nest(BASE_PATH, all)
            .into_openapi()
    })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<&'static Document> {
    Json(document())
}
