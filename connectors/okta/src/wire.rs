//! What Okta's responses say besides their data: error bodies, the `Link` page chain and the
//! rate-limit headers.
//!
//! Error bodies follow the "Errors" section of Okta's core API reference
//! (<https://developer.okta.com/docs/reference/core-okta-api/#errors>); OAuth endpoints answer
//! in the RFC 6749 section 5.2 form. Paging follows its "Pagination" and "Link header" sections.
//! `X-Rate-Limit-Reset` is UTC epoch seconds
//! (<https://developer.okta.com/docs/reference/rl2-monitor/>, "Rate limit headers").

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    error_summary: String,
    error_id: Option<String>,
    #[serde(default)]
    error_causes: Vec<ErrorCause>,
    // OAuth endpoints answer in RFC 6749 form.
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorCause {
    #[serde(default)]
    error_summary: String,
}

/// The `errorId` and a one-line description (`E0000047: API call exceeded ...`) of an error
/// body, or the start of the body when it is not Okta's error shape.
pub(crate) fn okta_error(body: &[u8]) -> (Option<String>, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if !e.error_code.is_empty() => {
            let mut detail = format!("{}: {}", e.error_code, e.error_summary);
            for cause in e.error_causes.iter().filter(|c| !c.error_summary.is_empty()) {
                detail.push_str("; ");
                detail.push_str(&cause.error_summary);
            }
            (e.error_id, detail)
        }
        Ok(ErrorBody {
            error: Some(error),
            error_description,
            ..
        }) => (
            None,
            match error_description {
                Some(d) => format!("{error}: {d}"),
                None => error,
            },
        ),
        _ if body.is_empty() => (None, "no body".to_owned()),
        _ => (None, String::from_utf8_lossy(body).chars().take(200).collect()),
    }
}

/// The `rel="next"` target among a response's `Link` headers (one header per relation, or
/// several comma-separated in one).
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for link in text.split(',') {
            let mut parts = link.split(';');
            let target = parts.next().unwrap_or_default().trim();
            let is_next = parts.any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let target = target.trim_start_matches('<').trim_end_matches('>');
                if !target.is_empty() {
                    return Some(target.to_owned());
                }
            }
        }
    }
    None
}

/// The time until `X-Rate-Limit-Reset`, measured against the response's `Date` (or the
/// local clock when it has none).
pub(crate) fn until_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset: u64 = header(headers, "x-rate-limit-reset")?.trim().parse().ok()?;
    let now = header(headers, "date")
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or_else(SystemTime::now);
    let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    Some(reset.duration_since(now).unwrap_or(Duration::ZERO))
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn next_link_is_found_among_links() {
        let mut h = HeaderMap::new();
        h.append(
            "link",
            HeaderValue::from_static("<https://o/api/v1/users?limit=2>; rel=\"self\""),
        );
        h.append(
            "link",
            HeaderValue::from_static("<https://o/api/v1/users?after=00u2&limit=2>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://o/api/v1/users?after=00u2&limit=2")
        );
        let mut h = HeaderMap::new();
        h.append(
            "link",
            HeaderValue::from_static("<https://o/a?x=1>; rel=\"self\", <https://o/a?after=b>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://o/a?after=b"));
        let mut h = HeaderMap::new();
        h.append("link", HeaderValue::from_static("<https://o/a>; rel=\"self\""));
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn reset_is_measured_against_the_date_header() {
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1445412510"));
        assert_eq!(until_reset(&h), Some(Duration::from_secs(30)));
    }

    #[test]
    fn errors_carry_code_summary_and_id() {
        let (id, detail) = okta_error(
            concat!(
                r#"{"errorCode":"E0000047","#,
                r#""errorSummary":"API call exceeded rate limit due to too many requests.","#,
                r#""errorLink":"E0000047","errorId":"oae1","errorCauses":[]}"#,
            )
            .as_bytes(),
        );
        assert_eq!(id.as_deref(), Some("oae1"));
        assert_eq!(
            detail,
            "E0000047: API call exceeded rate limit due to too many requests."
        );
    }
}
