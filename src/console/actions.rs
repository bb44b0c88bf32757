//! The console's forms. Each calls the admin API's own function (`approve_as`, `reject_as`,
//! `start_as`, `resolve_as`, `create_as`, `revoke_as`) with the operator as the actor, so a
//! decision made here is the API's decision, recorded as `console:<operator>`. The guard has
//! checked the session, the origin and the CSRF token before any of them runs.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use super::layout::{fail, page, see_other, Frame};
use super::session::Session;
use super::Console;
use crate::admin::history::{resolve_as, ConflictPath, ResolveAction, ResolveRequest};
use crate::admin::runs::{start_as, ConnectorPath, DryRunPlan, RunAnswer, RunRequest};
use crate::admin::scim_token::{create_as, revoke_as};
use crate::admin::status::{approve_as, reject_as};
use crate::admin::AdminError;

fn tenant_url(tenant: &str, query: &str) -> String {
    format!("/ui/tenants/{tenant}?{query}")
}

fn frame(console: &Console, session: Session) -> Frame {
    Frame {
        csrf: console.key.csrf(&session),
        session,
    }
}

fn bad_form(rejection: FormRejection) -> Response {
    fail(AdminError::bad_request(format!(
        "the form is invalid: {}",
        rejection.body_text()
    )))
}

/// `POST .../connectors/{name}/approve`.
pub async fn approve(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path((tenant, name)): Path<(String, String)>,
) -> Response {
    let path = ConnectorPath { tenant, name };
    match approve_as(&console.admin, &path, &session.actor()).await {
        Ok(done) => {
            let run = done.held_run_id.map(|r| format!("&run={r}")).unwrap_or_default();
            see_other(&tenant_url(&path.tenant, &format!("done=approved{run}")))
        }
        Err(e) => fail(e),
    }
}

/// `POST .../connectors/{name}/reject`.
pub async fn reject(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path((tenant, name)): Path<(String, String)>,
) -> Response {
    let path = ConnectorPath { tenant, name };
    match reject_as(&console.admin, &path, &session.actor()).await {
        Ok(done) => see_other(&tenant_url(
            &path.tenant,
            &format!("done=rejected&run={}", done.run_id),
        )),
        Err(e) => fail(e),
    }
}

/// The Run now / Dry run form.
#[derive(Debug, Deserialize)]
pub struct RunForm {
    /// `run`, `full` or `dry`.
    mode: String,
}

/// `POST .../connectors/{name}/run`: a run starts (and the page says which), or a dry run's
/// plan is shown.
pub async fn run(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path((tenant, name)): Path<(String, String)>,
    form: Result<Form<RunForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(e) => return bad_form(e),
    };
    let request = match form.mode.as_str() {
        "run" => RunRequest::default(),
        "full" => RunRequest {
            full: true,
            dry_run: false,
        },
        "dry" => RunRequest {
            full: false,
            dry_run: true,
        },
        other => {
            return fail(AdminError::bad_key(
                "mode",
                format!("mode {other:?}: expected run, full or dry"),
            ))
        }
    };
    let path = ConnectorPath { tenant, name };
    match start_as(&console.admin, &path, &request, &session.actor()).await {
        Ok(RunAnswer::Started(run)) => {
            see_other(&tenant_url(&path.tenant, &format!("done=started&run={run}")))
        }
        Ok(RunAnswer::Plan(plan)) => plan_page(&frame(&console, session), &path, &plan),
        Err(e) => fail(e),
    }
}

fn plan_page(frame: &Frame, path: &ConnectorPath, plan: &DryRunPlan) -> Response {
    let c = &plan.counts;
    let back = format!("/ui/tenants/{}", path.tenant);
    let body = html! {
        p.muted { a href="/ui/" { "Tenants" } " / " a href=(back) { (path.tenant) } " / dry run" }
        h1 { "Dry run of " (plan.connector) }
        section.card #plan {
            p { "Nothing was written. The deletion guard would decide: " strong { (plan.verdict) }
                @if let Some(reason) = &plan.verdict_reason { " — " (reason) } }
            p { (c.created) " created, " (c.updated) " updated, " (c.deactivated) " deactivated, "
                (c.reactivated) " reactivated, " (c.purged) " purged, " (c.memberships_added) " memberships added, "
                (c.memberships_removed) " removed, " (c.conflicts) " conflicts" }
            @if plan.changes.is_empty() { p.muted { "No change." } }
            @else { pre.plan { @for l in &plan.changes { (l) "\n" } } }
            p { a href=(back) { "Back to the tenant" } }
        }
    };
    page("Dry run", Some(frame), body).into_response()
}

/// The conflict form.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    action: ResolveAction,
    #[serde(default)]
    user_id: Option<i64>,
}

/// `POST .../conflicts/{id}/resolve`.
pub async fn resolve(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path((tenant, id)): Path<(String, i64)>,
    form: Result<Form<ResolveForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(e) => return bad_form(e),
    };
    let path = ConflictPath { tenant, id };
    let body = ResolveRequest {
        action: form.action,
        user_id: form.user_id,
    };
    match resolve_as(&console.admin, &path, &body, &session.actor()).await {
        Ok(done) => see_other(&tenant_url(&path.tenant, &format!("done={}", done.status))),
        Err(e) => fail(e),
    }
}

/// `POST .../scim-token/rotate`: the new token, shown on this answer only.
pub async fn rotate_token(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path(tenant): Path<String>,
) -> Response {
    let token = match create_as(&console.admin, &tenant, &session.actor()).await {
        Ok(token) => token,
        Err(e) => return fail(e),
    };
    let back = format!("/ui/tenants/{tenant}");
    let body = html! {
        p.muted { a href="/ui/" { "Tenants" } " / " a href=(back) { (tenant) } " / SCIM token" }
        h1 { "New SCIM token for " (tenant) }
        section.card {
            p { "Copy it into the identity provider's provisioning settings now: it is shown this once and "
                "is not stored (only its SHA-256 is). The previous token no longer works." }
            code.secret #new-token { (token.token) }
            p { a href=(back) { "Back to the tenant" } }
        }
    };
    page("New SCIM token", Some(&frame(&console, session)), body).into_response()
}

/// `POST .../scim-token/revoke`.
pub async fn revoke_token(
    State(console): State<Console>,
    Extension(session): Extension<Session>,
    Path(tenant): Path<String>,
) -> Response {
    match revoke_as(&console.admin, &tenant, false, &session.actor()).await {
        Ok(done) => see_other(&tenant_url(
            &tenant,
            if done.revoked {
                "done=revoked"
            } else {
                "done=no_token"
            },
        )),
        Err(e) => fail(e),
    }
}
