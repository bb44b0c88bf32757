//! Keys of a `kind = "okta"` connector, checked while the configuration loads.

use std::path::{Path, PathBuf};

use idsync_source::assertion::{self, Algorithm, EncodingKey};
use idsync_source::config::{check_url, problem};
pub use idsync_source::config::{ConfigProblem, MappingOverrides, MappingRule};
use idsync_source::mapping::{Mapping, Scope};
use idsync_source::retry::RetryPolicy;
use idsync_source::Secret;
use serde::Deserialize;

/// Keys of a `kind = "okta"` connector.
///
/// ```toml
/// [[connectors]]
/// name = "okta"
/// kind = "okta"
/// org_url = "https://example.okta.com"
/// api_token = { env = "OKTA_API_TOKEN" }
/// groups = ["App users"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaConfig {
    /// The org's base URL (`https://example.okta.com`). Plain http is allowed on loopback only.
    pub org_url: String,
    /// An API token, sent as `Authorization: SSWS <token>`. Give this, or `client_id` and
    /// `private_key_path`.
    pub api_token: Option<Secret>,
    /// The client id of an OAuth 2.0 service app (client credentials, `private_key_jwt`).
    pub client_id: Option<String>,
    /// A PEM file with the service app's unencrypted RSA or EC P-256 private key; the client
    /// assertion is signed RS256 or ES256 accordingly.
    pub private_key_path: Option<PathBuf>,
    /// The `kid` of the key registered on the service app, sent in the assertion's header.
    pub key_id: Option<String>,
    /// Only members of these groups (ids or names) are synced, and only these groups; empty
    /// means every user and every OKTA_GROUP and APP_GROUP. BUILT_IN groups (Everyone) are
    /// synced only when listed.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Entra-style scoping filters over the Okta profile: clauses AND-ed, filters OR-ed.
    #[serde(default)]
    pub scoping_filters: Scope,
    /// Overrides of the attribute mapping (over the Okta profile), per target field.
    #[serde(default)]
    pub mapping: MappingOverrides,
    /// Whether STAGED users (created, not activated) are provisioned, enabled.
    #[serde(default = "yes")]
    pub sync_staged_users: bool,
    /// Hours between full reconciles, the only way hard deletions are seen (0: every run).
    #[serde(default = "default_full_sync_hours")]
    pub full_sync_interval_hours: u64,
    /// How far before the last run an incremental query starts, in seconds (Okta's search
    /// is eventually consistent, and clocks drift).
    #[serde(default = "default_overlap")]
    pub overlap_secs: u64,
    /// The share of each rate-limit bucket left for other integrations, in percent: requests
    /// pause until the bucket resets when fewer than this share of requests remain.
    #[serde(default = "default_reserve")]
    pub rate_limit_reserve_percent: u8,
    /// Page size asked for (`limit`); the server may return fewer per page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Retries of throttled (429) requests; `max_wait_secs` caps the waiting.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Time limit of one HTTP request, in seconds.
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn yes() -> bool {
    true
}

fn default_full_sync_hours() -> u64 {
    24
}

fn default_overlap() -> u64 {
    120
}

fn default_reserve() -> u8 {
    50
}

fn default_page_size() -> u32 {
    200
}

fn default_timeout() -> u64 {
    120
}

/// The default mapping over the Okta user profile.
pub const DEFAULT_MAPPING: [(&str, &str); 8] = [
    ("upn", "[login]"),
    ("email", "[email]"),
    (
        "display_name",
        r#"IIF(IsNullOrEmpty([displayName]), Join(" ", [firstName], [lastName]), [displayName])"#,
    ),
    ("given_name", "[firstName]"),
    ("family_name", "[lastName]"),
    ("job_title", "[title]"),
    ("department", "[department]"),
    ("preferred_language", "[preferredLanguage]"),
];

impl OktaConfig {
    /// The mapping in effect: the defaults with the overrides applied.
    pub fn mapping(&self) -> Result<Mapping, ConfigProblem> {
        self.mapping.mapping(&DEFAULT_MAPPING)
    }

    /// Target fields the planner must not update on existing users.
    pub fn create_only_fields(&self) -> Vec<&'static str> {
        self.mapping.create_only_fields(&DEFAULT_MAPPING)
    }

    /// Checks what serde cannot, resolves a relative key path against `base` (the
    /// configuration file's folder) and loads the key once, so a bad file is reported at
    /// start-up.
    pub fn check(&mut self, base: &Path) -> Result<(), ConfigProblem> {
        check_url("org_url", &self.org_url)?;
        if let Some(path) = self.private_key_path.as_mut().filter(|p| p.is_relative()) {
            *path = base.join(&*path);
        }
        match (&self.api_token, &self.client_id, &self.private_key_path) {
            (Some(_), None, None) => {}
            (None, Some(id), Some(_)) => {
                if id.trim().is_empty() || id.contains(['/', '?', '#', ' ']) {
                    return Err(problem("client_id", format!("{id:?} is not a client id")));
                }
                self.private_key().map_err(|e| problem("private_key_path", e))?;
            }
            (Some(_), _, _) => {
                return Err(problem(
                    "api_token",
                    "give api_token, or client_id and private_key_path, not both",
                ))
            }
            (None, Some(_), None) => {
                return Err(problem("private_key_path", "client_id needs private_key_path"))
            }
            (None, None, Some(_)) => return Err(problem("client_id", "private_key_path needs client_id")),
            (None, None, None) => {
                return Err(problem(
                    "api_token",
                    "give api_token, or client_id and private_key_path",
                ))
            }
        }
        if self.rate_limit_reserve_percent >= 100 {
            return Err(problem("rate_limit_reserve_percent", "must be below 100"));
        }
        if self.overlap_secs > 86_400 {
            return Err(problem("overlap_secs", "at most a day (86400)"));
        }
        if self.full_sync_interval_hours > 87_600 {
            return Err(problem("full_sync_interval_hours", "at most ten years (87600)"));
        }
        if self.page_size == 0 {
            return Err(problem("page_size", "must be at least 1"));
        }
        if self.request_timeout_secs == 0 {
            return Err(problem("request_timeout_secs", "must be at least 1"));
        }
        self.retry.validate().map_err(|m| problem("retry", m))?;
        if self.groups.iter().any(|g| g.trim().is_empty()) {
            return Err(problem("groups", "a group id or name is empty"));
        }
        self.mapping()?;
        Ok(())
    }

    /// `org_url` without a trailing slash.
    /// Reads the service app's private key named by `private_key_path`.
    pub(crate) fn private_key(&self) -> Result<(EncodingKey, Algorithm), String> {
        let Some(path) = &self.private_key_path else {
            return Err("no private_key_path".into());
        };
        let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        assertion::load_private_key(&text, &path.display().to_string())
    }

    pub fn org(&self) -> &str {
        self.org_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OktaConfig, String> {
        idsync_source::test_support::parse_toml(text)
    }

    const BASE: &str = r#"
        org_url = "https://example.okta.com/"
        api_token = "00abc"
    "#;

    #[test]
    fn defaults_and_overrides() {
        let mut config = parse(&format!(
            "{BASE}\nmapping.email = {{ expression = \"Coalesce([email], [login])\", only_on_create = true }}"
        ))
        .unwrap();
        config.check(Path::new("/")).unwrap();
        assert_eq!(config.org(), "https://example.okta.com");
        assert!(config.sync_staged_users);
        assert_eq!(config.full_sync_interval_hours, 24);
        assert_eq!(config.rate_limit_reserve_percent, 50);
        assert_eq!(config.create_only_fields(), vec!["email"]);
        let attributes: Vec<String> = config.mapping().unwrap().attributes().into_iter().collect();
        assert_eq!(
            attributes,
            [
                "department",
                "displayName",
                "email",
                "firstName",
                "lastName",
                "login",
                "preferredLanguage",
                "title"
            ]
        );
    }

    #[test]
    fn credentials_and_urls_are_checked() {
        let mut config = parse(&format!("{BASE}\nclient_id = \"0oa1\"")).unwrap();
        assert_eq!(config.check(Path::new("/")).unwrap_err().key, "api_token");
        let mut config = parse("org_url = \"https://x.okta.com\"\nclient_id = \"0oa1\"").unwrap();
        assert_eq!(config.check(Path::new("/")).unwrap_err().key, "private_key_path");
        let mut config = parse("org_url = \"http://x.okta.com\"\napi_token = \"t\"").unwrap();
        assert_eq!(config.check(Path::new("/")).unwrap_err().key, "org_url");
        let mut config = parse("org_url = \"http://127.0.0.1:9\"\napi_token = \"t\"").unwrap();
        config.check(Path::new("/")).unwrap();
        let mut config = parse(&format!("{BASE}\nfull_sync_interval_hours = 100000000")).unwrap();
        assert_eq!(
            config.check(Path::new("/")).unwrap_err().key,
            "full_sync_interval_hours"
        );
        let mut config = parse(&format!("{BASE}\nrate_limit_reserve_percent = 100")).unwrap();
        assert_eq!(
            config.check(Path::new("/")).unwrap_err().key,
            "rate_limit_reserve_percent"
        );
        let err = parse(&format!("{BASE}\nsurprise = 1")).unwrap_err();
        assert!(err.contains("unknown field `surprise`"), "{err}");
    }
}
