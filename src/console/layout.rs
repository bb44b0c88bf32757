//! The frame of every console page (the top bar with the operator and sign-out) and its one
//! stylesheet, compiled into the binary; error pages.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::session::Session;
use crate::admin::AdminError;

const STYLE: &str = include_str!("style.css");

/// `GET /ui/style.css`.
pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// What a signed-in page needs to draw its frame and forms.
#[derive(Debug, Clone)]
pub struct Frame {
    pub session: Session,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
}

impl Frame {
    /// The hidden field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// A one-button form posting to `action`, with extra hidden fields.
    pub fn button(&self, action: &str, label: &str, class: &str, fields: &[(&str, &str)]) -> Markup {
        html! {
            form.inline method="post" action=(action) {
                (self.csrf_field())
                @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
                button class=(class) type="submit" { (label) }
            }
        }
    }
}

/// A whole page.
pub fn page(title: &str, frame: Option<&Frame>, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · idsync console" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                header.top {
                    a.brand href="/ui/" { "idsync console" }
                    @if let Some(frame) = frame {
                        a href="/ui/" { "Tenants" }
                        span.who { "signed in as " strong { (frame.session.operator) } }
                        form method="post" action="/ui/logout" {
                            (frame.csrf_field())
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// A page that says one thing.
pub fn message_page(title: &str, message: &str) -> Html<String> {
    page(
        title,
        None,
        html! {
            h1 { (title) }
            p.error { (message) }
            p { a href="/ui/" { "Back to the tenants" } }
        },
    )
}

/// An admin error as a page, with its status code.
pub fn error_page(error: &AdminError) -> Response {
    let status = error.status();
    let title = status.canonical_reason().unwrap_or("Error");
    (status, message_page(title, &error.to_string())).into_response()
}

/// Turns an admin error into its page.
pub fn fail(error: AdminError) -> Response {
    error_page(&error)
}

/// `t` for people: `2026-12-01 16:20 UTC`.
pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

/// As [`when`], for a stored time.
pub fn when_naive(t: Option<NaiveDateTime>) -> String {
    when(t.map(|t| t.and_utc()))
}

/// 303 to `to`, after a form.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}
