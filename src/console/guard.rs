//! Who may in: every page needs a signed session cookie; every state-changing request must
//! also come from the console's own origin and carry the session's CSRF token (in the form's
//! `csrf` field or an `X-CSRF-Token` header). Anything else is 403 and changes nothing.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::warn;

use super::session::{self, Session};
use super::{layout, Console};

/// The session a request carries, if any.
pub fn session_of(console: &Console, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get_all(header::COOKIE);
    let now = chrono::Utc::now().timestamp();
    cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(session::from_cookie_header)
        .find_map(|value| console.key.open(value, now))
}

/// Whether a state-changing request comes from the console's own pages: `Sec-Fetch-Site`,
/// when the browser sends it, must be `same-origin`, and `Origin`, when present, must be this
/// host. (Fetch Metadata: <https://www.w3.org/TR/fetch-metadata/>; `Origin`: RFC 6454
/// section 7.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" {
            return false;
        }
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Whether the console is reached over HTTPS (a TLS-terminating proxy in front of the admin
/// listener says so in `X-Forwarded-Proto`): the cookie is then `Secure`.
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn forbidden(reason: &str, request: &Request) -> Response {
    warn!(method = %request.method(), path = request.uri().path(), reason, "console request refused");
    (StatusCode::FORBIDDEN, layout::message_page("Refused", reason)).into_response()
}

/// The middleware on every page but sign-in and the stylesheet.
pub async fn require_session(State(console): State<Console>, request: Request, next: Next) -> Response {
    let session = session_of(&console, request.headers());
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    let Some(session) = session else {
        if reading {
            return Redirect::to("/ui/login").into_response();
        }
        return forbidden("no console session: sign in first", &request);
    };
    let mut request = request;
    if !reading {
        if !same_origin(request.headers()) {
            return forbidden("the request comes from another site", &request);
        }
        request = match checked_csrf(&console, &session, request).await {
            Ok(request) => request,
            Err(request) => return forbidden("the CSRF token is missing or wrong", &request),
        };
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// The request again (its body read and put back) when it carries the session's CSRF token.
async fn checked_csrf(console: &Console, session: &Session, request: Request) -> Result<Request, Request> {
    let in_header = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = request.into_parts();
    let limit = console.admin.max_body_bytes();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return Err(Request::from_parts(parts, Body::empty()));
    };
    let in_form = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    let ok = in_header
        .or(in_form)
        .is_some_and(|token| console.key.csrf_ok(session, &token));
    let request = Request::from_parts(parts, Body::from(bytes));
    if ok {
        Ok(request)
    } else {
        Err(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                v.parse()
                    .unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn origins() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
    }
}
