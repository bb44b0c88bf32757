//! Sign-in with the admin token (and, optionally, the operator's name recorded as who
//! decides), and sign-out. The token is checked as the admin API checks it and never kept:
//! the session cookie carries only a signed session id.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::guard::{over_https, same_origin, session_of};
use super::layout::{page, see_other};
use super::session::{operator_name, set_cookie};
use super::Console;

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    token: String,
    #[serde(default)]
    operator: String,
}

fn form_page(status: StatusCode, error: Option<&str>, operator: &str) -> Response {
    let body = html! {
        section.card.signin {
            h1 { "Sign in" }
            p.muted { "Use the admin token of this idsync (" code { "[admin] token" } ")." }
            @if let Some(error) = error { p.error { (error) } }
            form method="post" action="/ui/login" {
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                label for="operator" { "Your name " span.muted { "(recorded with your decisions)" } }
                input #operator type="text" name="operator" value=(operator) maxlength="64" placeholder="operator";
                p { button.primary type="submit" { "Sign in" } }
            }
        }
    };
    (status, page("Sign in", None, body)).into_response()
}

/// `GET /ui/login`.
pub async fn form(State(console): State<Console>, headers: HeaderMap) -> Response {
    if session_of(&console, &headers).is_some() {
        return Redirect::to("/ui/").into_response();
    }
    form_page(StatusCode::OK, None, "")
}

/// `POST /ui/login`.
pub async fn login(State(console): State<Console>, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    if !same_origin(&headers) {
        warn!("console sign-in refused: the form was posted from another site");
        return form_page(
            StatusCode::FORBIDDEN,
            Some("The sign-in came from another site."),
            "",
        );
    }
    let operator = match operator_name(&form.operator) {
        Ok(name) => name,
        Err(e) => return form_page(StatusCode::BAD_REQUEST, Some(&e), ""),
    };
    let digest = crate::admin::token_digest(form.token.trim());
    if !bool::from(digest.ct_eq(console.admin.token_digest())) {
        warn!(operator = %operator, "console sign-in failed: wrong admin token");
        return form_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token."),
            &operator,
        );
    }
    let session = console.key.start(&operator, chrono::Utc::now().timestamp());
    info!(operator = %operator, "console sign-in");
    let cookie = set_cookie(&console.key.seal(&session), over_https(&headers));
    let mut response = see_other("/ui/");
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /ui/logout`: the cookie is cleared (a copy of it stays valid until it expires or
/// the admin token changes: sessions are not stored).
pub async fn logout(headers: HeaderMap) -> Response {
    let mut response = see_other("/ui/login");
    if let Ok(value) = set_cookie("", over_https(&headers)).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
