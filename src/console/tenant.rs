//! One tenant: its connectors and their status, the run-history chart, the recent runs, a
//! held run with the plan it withheld (Approve, Reject), the open conflicts with both sides
//! (link, keep separate, dismiss), Run now and Dry run, and the SCIM token.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::runs_chart;
use super::layout::{fail, page, when, when_naive, Frame};
use super::session::Session;
use super::Console;
use crate::admin::status::{tenant_status, NamedStatus};
use crate::admin::views::{ConflictView, RunView};
use crate::admin::{tenant, AdminError};
use crate::store::overview::UserSummary;

/// Days of history in the chart.
const CHART_DAYS: i64 = 7;
/// Runs in the recent-runs table.
const RECENT: usize = 15;

/// What a form did, shown once after its redirect (a closed set, so the URL says nothing
/// the page does not).
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    done: String,
    #[serde(default)]
    run: Option<i64>,
}

fn flash_text(flash: &Flash) -> Option<String> {
    let run = flash.run.map(|r| format!(" (run {r})")).unwrap_or_default();
    Some(match flash.done.as_str() {
        "approved" => format!("Approved: the next run may pass the deletion guard once{run}."),
        "rejected" => format!("Rejected: the held changes will not apply{run}."),
        "started" => format!("Run started{run}."),
        "linked" => "Conflict settled: linked.".to_owned(),
        "kept_separate" => "Conflict settled: kept separate.".to_owned(),
        "dismissed" => "Conflict dismissed.".to_owned(),
        "revoked" => "SCIM token revoked.".to_owned(),
        "no_token" => "There was no SCIM token to revoke.".to_owned(),
        _ => return None,
    })
}

/// A held run with what it withheld.
struct Held {
    connector: String,
    run: RunView,
    /// Active users the connector owns now.
    base: i64,
}

/// `GET /ui/tenants/{tenant}`.
pub async fn show(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let frame = Frame {
        csrf: console.key.csrf(&session),
        session,
    };
    match render(&console, &frame, &id, &flash).await {
        Ok(body) => page(&format!("Tenant {id}"), Some(&frame), body).into_response(),
        Err(e) => fail(e),
    }
}

async fn render(console: &Console, frame: &Frame, id: &str, flash: &Flash) -> Result<Markup, AdminError> {
    let admin = &console.admin;
    let tenant = tenant::resolve(admin, id).await?;
    let store = &tenant.store;
    let row = admin.store().tenant_row(&tenant.id).await?;
    let status = tenant_status(admin, id).await?;
    let since = Utc::now() - chrono::Duration::days(CHART_DAYS);
    let runs: Vec<RunView> = store
        .runs(None, 500)
        .await?
        .into_iter()
        .map(RunView::from)
        .collect();
    let charted: Vec<RunView> = runs.iter().filter(|r| r.started_at >= since).cloned().collect();
    let conflicts: Vec<ConflictView> = store
        .open_conflicts()
        .await?
        .into_iter()
        .map(ConflictView::from)
        .collect();
    let ids = conflicts
        .iter()
        .flat_map(|c| [c.local_user_id, c.other_user_id])
        .flatten()
        .collect();
    let users: HashMap<i64, UserSummary> = store
        .user_summaries(ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut held = Vec::new();
    for c in &status.connectors {
        let Some(run_id) = c.status.held_run_id else {
            continue;
        };
        let Some(run) = store.run(run_id).await? else {
            continue;
        };
        let base = store.active_owned(&c.name).await?;
        held.push(Held {
            connector: c.name.clone(),
            run: run.into(),
            base,
        });
    }
    let token_since = store.scim_token_since().await?;
    let base = format!("/ui/tenants/{}", tenant.id);
    Ok(html! {
        p.muted { a href="/ui/" { "Tenants" } " / " (tenant.id) }
        h1 { (row.map(|r| r.display_name).unwrap_or_default()) " " span.muted { "(" (tenant.id) ")" } }
        @if let Some(text) = flash_text(flash) { p.flash role="status" { (text) } }
        @for h in &held { (held_section(frame, &base, h)) }
        (connectors_section(frame, &base, &status.connectors))
        section.card #history {
            h2 { "Run history" }
            (runs_chart(&charted, CHART_DAYS))
        }
        (conflicts_section(frame, &base, &conflicts, &users))
        (runs_section(&runs))
        section.card #scim-token {
            h2 { "SCIM token" }
            p { @match token_since {
                Some(t) => { "Active since " (when_naive(Some(t))) "." }
                None => { "No SCIM token: the SCIM endpoint refuses this tenant's clients." }
            } }
            div.toolbar {
                (frame.button(&format!("{base}/scim-token/rotate"), "Rotate token", "primary", &[]))
                @if token_since.is_some() {
                    (frame.button(&format!("{base}/scim-token/revoke"), "Revoke token", "danger", &[]))
                }
            }
            p.muted { "A new token is shown once; the previous one stops working at once." }
        }
        section.card {
            h2 { "Provisioning log" }
            form.toolbar method="get" action={ (base) "/log" } {
                input type="search" name="user" placeholder="UPN, email or user id" aria-label="User";
                button type="submit" { "Find history" }
            }
        }
    })
}

fn held_section(frame: &Frame, base: &str, h: &Held) -> Markup {
    let lines: Vec<&str> = h.run.held_changes.as_deref().unwrap_or("").lines().collect();
    let deactivate = lines.iter().filter(|l| l.starts_with("deactivate ")).count();
    let purge = lines.iter().filter(|l| l.starts_with("purge ")).count();
    let action = |what: &str| format!("{base}/connectors/{}/{what}", h.connector);
    html! {
        section.card.held-box #held-run data-run=(h.run.run_id) {
            h2 { "Held run " (h.run.run_id) " of " (h.connector) }
            p {
                "The deletion guard held back " strong { (deactivate) " deactivations" } " and "
                strong { (purge) " purges" } " of the " (h.base) " active users " (h.connector)
                " owns (" (lines.len()) " changes in all). The rest of the run was applied."
            }
            pre.plan { @for l in lines.iter().take(500) { (l) "\n" } }
            div.toolbar {
                (frame.button(&action("approve"), "Approve", "approve", &[]))
                (frame.button(&action("reject"), "Reject", "danger", &[]))
                span.muted { "Approve lets the next run apply them; Reject keeps them from applying." }
            }
        }
    }
}

fn connectors_section(frame: &Frame, base: &str, connectors: &[NamedStatus]) -> Markup {
    html! {
        section.card #connectors {
            h2 { "Connectors" }
            table {
                thead { tr {
                    th { "Connector" } th { "Last run" } th { "Last success" } th { "Next run" }
                    th { "Failures" } th { "" }
                } }
                tbody {
                    @for c in connectors {
                        @let s = &c.status;
                        @let run = format!("{base}/connectors/{}/run", c.name);
                        tr data-connector=(c.name) {
                            td { strong { (c.name) }
                                @if let Some(problem) = &c.problem { br; span.badge.failed { "cannot run" } " " span.muted { (problem) } } }
                            td { @match &s.last_run {
                                Some(r) => { span class={ "badge " (r.status) } { (r.status) } " " span.muted { "run " (r.run_id) } }
                                None => { span.muted { "not yet" } }
                            } }
                            td { (when(s.last_success_at)) }
                            td { (when(s.next_run_at))
                                @if let Some(q) = s.quarantined_until { br; span.badge.quarantined { "quarantined until " (when(Some(q))) } }
                                @if s.approved { br; span.badge.ok { "next run approved" } } }
                            td.num { (s.consecutive_failures) }
                            td {
                                (frame.button(&run, "Run now", "primary", &[("mode", "run")]))
                                " "
                                (frame.button(&run, "Dry run", "", &[("mode", "dry")]))
                            }
                        }
                    }
                    @if connectors.is_empty() { tr { td colspan="6" .muted { "This tenant has no connector." } } }
                }
            }
        }
    }
}

fn user_side(
    frame: &Frame,
    base: &str,
    conflict: &ConflictView,
    user: Option<&UserSummary>,
    id: Option<i64>,
) -> Markup {
    let Some(id) = id else { return html! {} };
    let resolve = format!("{base}/conflicts/{}/resolve", conflict.id);
    let id_text = id.to_string();
    html! {
        div.side {
            strong { "Local user " (id) }
            @if let Some(u) = user {
                dl.detail {
                    dt { "UPN" } dd { (u.upn) }
                    dt { "Email" } dd { (u.email.as_deref().unwrap_or("—")) }
                    dt { "Name" } dd { (u.display_name.as_deref().unwrap_or("—")) }
                    dt { "Owner" } dd { (u.source.as_deref().unwrap_or("the application")) @if !u.active { " (inactive)" } }
                }
            }
            p { (frame.button(&resolve, "Link to this user", "primary", &[("action", "link"), ("user_id", &id_text)])) }
        }
    }
}

fn conflicts_section(
    frame: &Frame,
    base: &str,
    conflicts: &[ConflictView],
    users: &HashMap<i64, UserSummary>,
) -> Markup {
    html! {
        section.card #conflicts {
            h2 { "Open conflicts " span.muted { "(" (conflicts.len()) ")" } }
            @if conflicts.is_empty() { p.muted { "None: the matcher decided every record." } }
            @for c in conflicts {
                @let resolve = format!("{base}/conflicts/{}/resolve", c.id);
                div.conflict data-conflict=(c.id) {
                    p { strong { "Conflict " (c.id) } " · " (c.connector) " · " span.badge.conflicts { (c.reason) } " · first seen " (when(Some(c.first_seen_at))) }
                    div.grid2 {
                        div.side {
                            strong { "Record in " (c.connector) }
                            dl.detail {
                                dt { "External id" } dd { (c.external_id) }
                                dt { "UPN" } dd { (c.upn.as_deref().unwrap_or("—")) }
                                dt { "Why" } dd { (c.detail) }
                            }
                        }
                        div {
                            (user_side(frame, base, c, c.local_user_id.and_then(|i| users.get(&i)), c.local_user_id))
                            (user_side(frame, base, c, c.other_user_id.and_then(|i| users.get(&i)), c.other_user_id))
                        }
                    }
                    div.toolbar {
                        (frame.button(&resolve, "Keep separate", "", &[("action", "keep_separate")]))
                        (frame.button(&resolve, "Dismiss", "", &[("action", "dismiss")]))
                    }
                    hr;
                }
            }
        }
    }
}

fn runs_section(runs: &[RunView]) -> Markup {
    html! {
        section.card #runs {
            h2 { "Recent runs" }
            table {
                thead { tr {
                    th { "Run" } th { "Connector" } th { "Status" } th { "Started" } th.num { "Seconds" }
                    th.num { "Fetched" } th.num { "Created" } th.num { "Updated" } th.num { "Deactivated" }
                    th.num { "Memberships ±" } th.num { "Conflicts" } th { "Error" }
                } }
                tbody {
                    @for r in runs.iter().take(RECENT) {
                        @let c = &r.counts;
                        tr data-run=(r.run_id) {
                            td { (r.run_id) } td { (r.connector) }
                            td { span class={ "badge " (r.status) } { (r.status) } }
                            td { (when(Some(r.started_at))) }
                            td.num { @if let Some(end) = r.finished_at { (format!("{:.1}", (end - r.started_at).num_milliseconds() as f64 / 1000.0)) } }
                            td.num { (c.fetched_users) } td.num { (c.created) } td.num { (c.updated) }
                            td.num { (c.deactivated + c.purged) }
                            td.num { "+" (c.memberships_added) " −" (c.memberships_removed) }
                            td.num { (c.conflicts) }
                            td { (r.error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}
