//! The provisioning log: a user's history (by UPN, email or id) across the tenant's event
//! log: what changed, when, by which run and source, and what the matcher decided. It reads
//! through the admin API's own `events` handler.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{fail, page, when, Frame};
use super::session::Session;
use super::Console;
use crate::admin::history::{events, EventsQuery};
use crate::admin::tenant::TenantPath;
use crate::admin::views::EventView;

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    user: String,
    #[serde(default)]
    since: String,
}

/// `GET /ui/tenants/{tenant}/log`.
pub async fn show(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path(tenant): Path<String>,
    Query(search): Query<Search>,
) -> Response {
    let frame = Frame {
        csrf: console.key.csrf(&session),
        session,
    };
    let query = EventsQuery {
        user: Some(search.user.trim().to_owned()).filter(|u| !u.is_empty()),
        since: Some(search.since.trim().to_owned()).filter(|s| !s.is_empty()),
        connector: None,
        run: None,
        limit: Some(500),
    };
    let path = TenantPath {
        tenant: tenant.clone(),
    };
    let found = events(
        State(console.admin.clone()),
        crate::admin::extract::AdminPath(path),
        crate::admin::extract::AdminQuery(query),
    )
    .await;
    let list = match found {
        Ok(Json(list)) => list.events,
        Err(e) => return fail(e),
    };
    let base = format!("/ui/tenants/{tenant}");
    let body = html! {
        p.muted { a href="/ui/" { "Tenants" } " / " a href=(base) { (tenant) } " / provisioning log" }
        h1 { "Provisioning log" }
        form.toolbar method="get" action={ (base) "/log" } {
            input type="search" name="user" value=(search.user) placeholder="UPN, email or user id" aria-label="User";
            input type="text" name="since" value=(search.since) placeholder="since: 7d or 2026-12-01T00:00:00Z" aria-label="Since";
            button type="submit" { "Search" }
            span.muted { (list.len()) " events" @if list.len() == 500 { " (the newest 500)" } }
        }
        section.card #log {
            table {
                thead { tr { th { "When" } th { "Run" } th { "Source" } th { "Object" } th { "Action" } th { "Details" } } }
                tbody {
                    @for e in list.iter().rev() { (event_row(e)) }
                    @if list.is_empty() { tr { td colspan="6" .muted { "No event matches." } } }
                }
            }
        }
    };
    page("Provisioning log", Some(&frame), body).into_response()
}

fn event_row(e: &EventView) -> Markup {
    let detail: serde_json::Value =
        serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail.clone()));
    html! {
        tr data-event=(e.id) {
            td { (when(Some(e.created_at))) }
            td { @if let Some(r) = e.run_id { (r) } @else { span.muted { "—" } } }
            td { (e.connector) }
            td { (e.object_type) " " (e.object_key) " " span.muted { "#" (e.object_id) } }
            td { strong { (e.action) } }
            td { (details(&detail)) }
        }
    }
}

fn details(value: &serde_json::Value) -> Markup {
    match value {
        serde_json::Value::Object(map) => html! {
            dl.detail { @for (k, v) in map {
                dt { (k) }
                dd { @match v { serde_json::Value::String(s) => { (s) } other => { (other.to_string()) } } }
            } }
        },
        serde_json::Value::String(s) => html! { (s) },
        other => html! { (other.to_string()) },
    }
}
