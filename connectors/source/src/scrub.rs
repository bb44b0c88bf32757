//! Removing configured secrets from text an upstream sent, before it is logged or stored.
//!
//! An upstream (or a proxy in front of it) may echo the request in an error body: the
//! `Authorization: SSWS` header, or a token request's form with the client secret in it.
//! Connectors copy error bodies into `SourceError` messages, which reach stdout, the logs and
//! `runs.error`; a [`Scrubber`] built from the connector's secrets replaces every occurrence
//! of each, and of the forms a request carries it in, with `***`.

use std::fmt;

use base64::Engine;

use crate::error::SourceError;
use crate::secret::Secret;

/// What a scrubbed secret becomes.
pub const MASK: &str = "***";

/// Replaces a connector's secrets in text. Its `Debug` prints nothing of them.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Every form of every secret, longest first, so a longer form is not half-replaced.
    needles: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} forms)", self.needles.len())
    }
}

impl Scrubber {
    /// A scrubber for these secrets: each one as it is, URL-encoded (as in a form body or a
    /// query), JSON-escaped, and base64-encoded (standard and URL-safe alphabets).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Scrubber {
        let mut needles = Vec::new();
        for secret in secrets {
            let value = secret.expose();
            if value.is_empty() {
                continue;
            }
            needles.push(value.to_owned());
            needles.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
            needles.push(
                url::form_urlencoded::byte_serialize(value.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20"),
            );
            if let Ok(json) = serde_json::to_string(value) {
                needles.push(json.trim_matches('"').to_owned());
            }
            let b64 = base64::engine::general_purpose::STANDARD.encode(value);
            needles.push(b64.trim_end_matches('=').to_owned());
            let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value);
            needles.push(b64url);
        }
        needles.retain(|n| !n.is_empty());
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Scrubber { needles }
    }

    /// `text` with every form of every secret replaced by [`MASK`].
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), MASK);
            }
        }
        text
    }

    /// The error with every text it carries scrubbed.
    pub fn scrub_error(&self, error: SourceError) -> SourceError {
        if self.needles.is_empty() {
            return error;
        }
        match error {
            SourceError::Credentials {
                url,
                status,
                request_id,
                detail,
            } => SourceError::Credentials {
                url: self.scrub(&url),
                status,
                request_id: request_id.map(|id| self.scrub(&id)),
                detail: self.scrub(&detail),
            },
            SourceError::Upstream {
                url,
                status,
                request_id,
                detail,
            } => SourceError::Upstream {
                url: self.scrub(&url),
                status,
                request_id: request_id.map(|id| self.scrub(&id)),
                detail: self.scrub(&detail),
            },
            SourceError::InvalidData { location, detail } => SourceError::InvalidData {
                location: self.scrub(&location),
                detail: self.scrub(&detail),
            },
            SourceError::Config(text) => SourceError::Config(self.scrub(&text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr+t/~ab=cd ef\"gh";

    fn scrubber() -> Scrubber {
        Scrubber::new([&Secret::new(SECRET), &Secret::new("")])
    }

    #[test]
    fn every_form_of_a_secret_is_masked() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
        let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        let json = serde_json::to_string(SECRET).unwrap();
        let text = format!(
            "Authorization: SSWS {SECRET}\nclient_secret={form}&x=1\nbasic {b64}\nurl {b64url}\njson {json}\n\
             query {}",
            form.replace('+', "%20")
        );
        let scrubbed = scrubber().scrub(&text);
        for leak in [
            SECRET,
            &form,
            &b64,
            b64.trim_end_matches('='),
            &b64url,
            &json[1..json.len() - 1],
        ] {
            assert!(!scrubbed.contains(leak), "{leak:?} left in {scrubbed}");
        }
        assert!(
            scrubbed.starts_with("Authorization: SSWS ***\nclient_secret=***&x=1"),
            "{scrubbed}"
        );
        assert_eq!(scrubber().scrub("nothing to hide"), "nothing to hide");
        assert_eq!(Scrubber::default().scrub(SECRET), SECRET);
    }

    #[test]
    fn errors_are_scrubbed_and_debug_shows_nothing() {
        let e = scrubber().scrub_error(SourceError::Upstream {
            url: "https://o.example/api".into(),
            status: Some(500),
            request_id: None,
            detail: format!("echo: SSWS {SECRET}"),
        });
        assert_eq!(e.to_string(), "https://o.example/api: HTTP 500: echo: SSWS ***");
        let e = scrubber().scrub_error(SourceError::Config(format!("bad {SECRET}")));
        assert_eq!(e.to_string(), "configuration: bad ***");
        assert!(!format!("{:?}", scrubber()).contains("s3cr"));
    }
}
