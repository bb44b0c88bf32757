//! The tenants overview: one row per tenant with its health at a glance, searched, sorted
//! and paged on the server (one aggregate query per page, see `store/overview.rs`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{fail, page, when, when_naive, Frame};
use super::session::Session;
use super::Console;
use crate::admin::AdminError;
use crate::config::Schedule;
use crate::store::overview::{OverviewQuery, OverviewRow, OverviewSort};
use crate::tenant::TenantId;

/// Rows per page.
pub const PAGE_SIZE: i64 = 50;

/// The overview's query string.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<i64>,
}

fn sort_of(text: &str) -> OverviewSort {
    match text {
        "name" => OverviewSort::Name,
        "health" => OverviewSort::Health,
        "last_success" => OverviewSort::LastSuccess,
        _ => OverviewSort::Id,
    }
}

/// `GET /ui/`.
async fn page_handler(console: &Console, session: Session, params: Params) -> Result<Response, AdminError> {
    let frame = Frame {
        csrf: console.key.csrf(&session),
        session,
    };
    let number = params.page.unwrap_or(1).max(1);
    let query = OverviewQuery {
        search: params.q.clone(),
        sort: sort_of(&params.sort),
        limit: PAGE_SIZE,
        offset: (number - 1) * PAGE_SIZE,
    };
    let body = render(console, &params, number, query).await?;
    Ok(page("Tenants", Some(&frame), body).into_response())
}

/// `GET /ui/`, the route.
pub async fn show(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Query(params): Query<Params>,
) -> Response {
    page_handler(&console, session, params).await.unwrap_or_else(fail)
}

/// The overview's body for one page (also what the benchmark renders).
pub async fn render(
    console: &Console,
    params: &Params,
    number: i64,
    query: OverviewQuery,
) -> Result<Markup, AdminError> {
    let (result, stored) = console.admin.store().overview(query).await?;
    let now = Utc::now();
    let mut next: HashMap<TenantId, DateTime<Utc>> = HashMap::new();
    let mut earliest = |tenant: &TenantId, at: Option<DateTime<Utc>>| {
        if let Some(at) = at {
            let slot = next.entry(tenant.clone()).or_insert(at);
            *slot = (*slot).min(at);
        }
    };
    for row in &result.rows {
        let Ok(tenant) = TenantId::parse(&row.id) else {
            continue;
        };
        for name in console.admin.connector_names(&tenant) {
            if let Some(c) = console.admin.connector(&tenant, &name) {
                earliest(&tenant, c.config.schedule.next_after(now));
            }
        }
    }
    for (tenant, _, settings) in &stored {
        earliest(tenant, stored_schedule(settings).next_after(now));
    }
    let pages = (result.total + PAGE_SIZE - 1) / PAGE_SIZE;
    let link = |page: i64| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &params.q)
            .append_pair("sort", &params.sort)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/ui/?{q}")
    };
    let sort_link = |sort: &str| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &params.q)
            .append_pair("sort", sort)
            .finish();
        format!("/ui/?{q}")
    };
    Ok(html! {
        h1 { "Tenants" }
        form.toolbar method="get" action="/ui/" {
            input type="search" name="q" value=(params.q) placeholder="Search id or name" aria-label="Search tenants";
            select name="sort" aria-label="Sort by" {
                @for (value, label) in [("id", "Id"), ("name", "Name"), ("health", "Needs attention"), ("last_success", "Last success")] {
                    option value=(value) selected[params.sort == value] { (label) }
                }
            }
            button type="submit" { "Search" }
            span.muted { (result.total) " tenants" }
        }
        section.card {
            table #tenants {
                thead { tr {
                    th { a href=(sort_link("id")) { "Tenant" } }
                    th { a href=(sort_link("name")) { "Name" } }
                    th { a href=(sort_link("health")) { "Health" } }
                    th { a href=(sort_link("last_success")) { "Last successful sync" } }
                    th { "Next run" }
                }}
                tbody {
                    @for row in &result.rows {
                        (tenant_row(row, TenantId::parse(&row.id).ok().and_then(|t| next.get(&t).copied())))
                    }
                    @if result.rows.is_empty() { tr { td colspan="5" .muted { "No tenant matches." } } }
                }
            }
            div.pager {
                @if number > 1 { a href=(link(number - 1)) { "← Previous" } }
                span.muted { "Page " (number) " of " (pages.max(1)) }
                @if number < pages { a href=(link(number + 1)) { "Next →" } }
            }
        }
    })
}

/// The health badges of a tenant.
pub fn health(row: &OverviewRow) -> Markup {
    let calm =
        row.quarantined_until.is_none() && row.held == 0 && row.failing == 0 && row.conflicts_open == 0;
    html! {
        @if row.quarantined_until.is_some() { span.badge.quarantined { "quarantined" } }
        @if row.held > 0 { span.badge.held { "held" } }
        @if row.failing > 0 { span.badge.failing { "failing" } }
        @if row.conflicts_open > 0 { span.badge.conflicts { (row.conflicts_open) " conflicts open" } }
        @if calm {
            @if row.last_success_at.is_some() { span.badge.ok { "ok" } } @else { span.badge.idle { "no sync yet" } }
        }
    }
}

fn tenant_row(row: &OverviewRow, next: Option<DateTime<Utc>>) -> Markup {
    let next = match (next, row.quarantined_until) {
        (Some(n), Some(q)) if q.and_utc() > n => Some(q.and_utc()),
        (n, _) => n,
    };
    html! {
        tr data-tenant=(row.id) {
            td { a href={ "/ui/tenants/" (row.id) } { (row.id) } }
            td { (row.display_name) }
            td { (health(row)) }
            td { (when_naive(row.last_success_at)) }
            td { @if next.is_some() { (when(next)) } @else { span.muted { "—" } } }
        }
    }
}

/// A stored connector's schedule, read from its settings as the file's parser reads it
/// (`schedule` as cron, `interval` as a span; the default otherwise).
fn stored_schedule(settings: &str) -> Schedule {
    let settings: serde_json::Value = serde_json::from_str(settings).unwrap_or_default();
    let text = |key: &str| settings.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(expr) = text("schedule") {
        return Schedule::parse_cron(&expr).unwrap_or_default();
    }
    if let Some(span) = text("interval") {
        return Schedule::parse_interval(&span).unwrap_or_default();
    }
    Schedule::default()
}
