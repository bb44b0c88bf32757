//! Keys of a `kind = "google"` connector, checked while the configuration loads.

use std::path::{Path, PathBuf};

use idsync_source::config::{check_url, problem};
pub use idsync_source::config::{ConfigProblem, MappingOverrides, MappingRule};
use idsync_source::mapping::{Mapping, Scope};
use idsync_source::retry::RetryPolicy;
use idsync_source::{NestedGroups, Secret};
use serde::Deserialize;

use crate::key::ServiceAccountKey;

/// Keys of a `kind = "google"` connector.
///
/// ```toml
/// [[connectors]]
/// name = "google"
/// kind = "google"
/// service_account_key_path = "/etc/idsync/google-key.json"
/// subject = "idsync-admin@example.com"
/// groups = ["engineering@example.com"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    /// The service account's key file, as the Google Cloud console issues it (JSON with
    /// `client_email`, `private_key`, `private_key_id`, `token_uri`). Give this or
    /// `service_account_key`.
    pub service_account_key_path: Option<PathBuf>,
    /// The same key file's JSON text as a secret (`{ env = "..." }`, `{ file = "..." }`).
    pub service_account_key: Option<Secret>,
    /// The admin user the service account impersonates (domain-wide delegation): the JWT's
    /// `sub`. Their admin role bounds what the connector can read.
    pub subject: String,
    /// The Workspace customer (`my_customer` is the subject's own).
    #[serde(default = "default_customer")]
    pub customer_id: String,
    /// Read the users and groups of this one domain of the customer instead of all of them.
    pub domain: Option<String>,
    /// The Directory API's base URL. Plain http is allowed on loopback only (tests).
    #[serde(default = "default_directory_url")]
    pub directory_url: String,
    /// Only these groups (emails or ids) and their members are synced; empty means every
    /// user and every group of the customer.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Whether a group's members include those of the groups nested in it (`flatten`,
    /// cycle-safe) or only its direct user members (`direct`).
    #[serde(default)]
    pub nested_groups: NestedGroups,
    /// Entra-style scoping filters over the Google user resource (`orgUnitPath`,
    /// `customSchemas.HR.costCenter`, ...): clauses AND-ed, filters OR-ed.
    #[serde(default)]
    pub scoping_filters: Scope,
    /// Overrides of the attribute mapping (over the Google user resource), per target field.
    #[serde(default)]
    pub mapping: MappingOverrides,
    /// Member lists read at the same time; Google's quota is per user and per minute, so a
    /// few parallel requests shorten a run without approaching it.
    #[serde(default = "default_parallel")]
    pub parallel_requests: usize,
    /// Retries of throttled (429, 403 rate-limit reasons) and failing (5xx) requests.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Time limit of one HTTP request, in seconds.
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn default_customer() -> String {
    "my_customer".to_owned()
}

fn default_directory_url() -> String {
    "https://admin.googleapis.com".to_owned()
}

fn default_parallel() -> usize {
    4
}

fn default_timeout() -> u64 {
    120
}

/// The default mapping over the Google user resource. `primaryOrganization` (the primary
/// `organizations` entry, else the first) and `preferredLanguage` (the preferred
/// `languages` entry's code, else the first) are derived by the connector.
pub const DEFAULT_MAPPING: [(&str, &str); 8] = [
    ("upn", "[primaryEmail]"),
    ("email", "[primaryEmail]"),
    (
        "display_name",
        concat!(
            r#"IIF(IsNullOrEmpty([name.fullName]), "#,
            r#"Join(" ", [name.givenName], [name.familyName]), [name.fullName])"#
        ),
    ),
    ("given_name", "[name.givenName]"),
    ("family_name", "[name.familyName]"),
    ("job_title", "[primaryOrganization.title]"),
    ("department", "[primaryOrganization.department]"),
    ("preferred_language", "[preferredLanguage]"),
];

impl GoogleConfig {
    /// The mapping in effect: the defaults with the overrides applied.
    pub fn mapping(&self) -> Result<Mapping, ConfigProblem> {
        self.mapping.mapping(&DEFAULT_MAPPING)
    }

    /// Target fields the planner must not update on existing users.
    pub fn create_only_fields(&self) -> Vec<&'static str> {
        self.mapping.create_only_fields(&DEFAULT_MAPPING)
    }

    /// Checks what serde cannot, resolves a relative key path against `base` (the
    /// configuration file's folder) and reads the key once, so a bad file is reported at
    /// start-up.
    pub fn check(&mut self, base: &Path) -> Result<(), ConfigProblem> {
        check_url("directory_url", &self.directory_url)?;
        if let Some(path) = self.service_account_key_path.as_mut().filter(|p| p.is_relative()) {
            *path = base.join(&*path);
        }
        let key = match (&self.service_account_key_path, &self.service_account_key) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    "service_account_key_path",
                    "give service_account_key_path or service_account_key, not both",
                ))
            }
            (None, None) => {
                return Err(problem(
                    "service_account_key_path",
                    "give service_account_key_path or service_account_key",
                ))
            }
            (Some(_), None) => "service_account_key_path",
            (None, Some(_)) => "service_account_key",
        };
        let loaded = self.key().map_err(|e| problem(key, e))?;
        check_url(key, &loaded.token_uri).map_err(|p| problem(key, format!("token_uri: {}", p.message)))?;
        if !self.subject.contains('@') || self.subject.trim() != self.subject {
            return Err(problem(
                "subject",
                format!(
                    "{:?} is not the email of an admin user to impersonate",
                    self.subject
                ),
            ));
        }
        if self.customer_id.trim().is_empty() || self.customer_id.contains(['/', '?', '#', '&', ' ']) {
            return Err(problem(
                "customer_id",
                format!("{:?} is not a customer id", self.customer_id),
            ));
        }
        if let Some(domain) = &self.domain {
            if domain.trim().is_empty() || domain.contains(['/', '?', '#', '&', ' ', '@']) {
                return Err(problem("domain", format!("{domain:?} is not a domain name")));
            }
        }
        if self.groups.iter().any(|g| g.trim().is_empty()) {
            return Err(problem("groups", "a group email or id is empty"));
        }
        if !(1..=32).contains(&self.parallel_requests) {
            return Err(problem("parallel_requests", "must be between 1 and 32"));
        }
        if self.request_timeout_secs == 0 {
            return Err(problem("request_timeout_secs", "must be at least 1"));
        }
        self.retry.validate().map_err(|m| problem("retry", m))?;
        self.mapping()?;
        Ok(())
    }

    /// Reads and parses the service account key.
    pub(crate) fn key(&self) -> Result<ServiceAccountKey, String> {
        match (&self.service_account_key_path, &self.service_account_key) {
            (Some(path), _) => {
                let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                ServiceAccountKey::parse(&text, &path.display().to_string())
            }
            (None, Some(secret)) => ServiceAccountKey::parse(secret.expose().as_bytes(), "the key"),
            (None, None) => Err("no service account key".to_owned()),
        }
    }

    /// `directory_url` without a trailing slash.
    pub fn directory(&self) -> &str {
        self.directory_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GoogleConfig, String> {
        idsync_source::test_support::parse_toml(text)
    }

    fn key_json(token_uri: &str) -> String {
        let pem = include_str!("../../../tests/fakes/keys/test-key.pem");
        serde_json::json!({
            "type": "service_account",
            "client_email": "idsync@project.iam.gserviceaccount.com",
            "private_key_id": "k1",
            "private_key": pem,
            "token_uri": token_uri,
        })
        .to_string()
    }

    fn with_key(extra: &str, token_uri: &str) -> Result<GoogleConfig, ConfigProblem> {
        let text = format!("service_account_key = {:?}\n{extra}", key_json(token_uri));
        let mut config = parse(&text).unwrap();
        config.check(Path::new("/")).map(|()| config)
    }

    #[test]
    fn a_relative_key_path_is_read_from_the_config_folder() {
        let dir = std::env::temp_dir().join(format!("idsync-google-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("key.json"),
            key_json("https://oauth2.googleapis.com/token"),
        )
        .unwrap();
        let mut config =
            parse("service_account_key_path = \"key.json\"\nsubject = \"admin@example.com\"").unwrap();
        let checked = config.check(&dir);
        std::fs::remove_dir_all(&dir).ok();
        checked.unwrap();
        assert_eq!(config.service_account_key_path, Some(dir.join("key.json")));
    }

    #[test]
    fn defaults_and_overrides() {
        let config = with_key(
            concat!(
                "subject = \"admin@example.com\"\n",
                "mapping.email = { expression = \"[emails]\", only_on_create = true }"
            ),
            "https://oauth2.googleapis.com/token",
        )
        .unwrap();
        assert_eq!(config.customer_id, "my_customer");
        assert_eq!(config.directory(), "https://admin.googleapis.com");
        assert_eq!(config.nested_groups, NestedGroups::Flatten);
        assert_eq!(config.create_only_fields(), vec!["email"]);
        let key = config.key().unwrap();
        assert_eq!(key.client_email, "idsync@project.iam.gserviceaccount.com");
    }

    #[test]
    fn problems_name_their_key() {
        let key = |r: Result<GoogleConfig, ConfigProblem>| r.unwrap_err().key;
        assert_eq!(
            key(with_key(
                "subject = \"admin\"",
                "https://oauth2.googleapis.com/token"
            )),
            "subject"
        );
        assert_eq!(
            key(with_key(
                "subject = \"a@example.com\"",
                "http://token.example/token"
            )),
            "service_account_key"
        );
        assert_eq!(
            key(with_key(
                "subject = \"a@example.com\"\ncustomer_id = \"a/b\"",
                "https://oauth2.googleapis.com/token"
            )),
            "customer_id"
        );
        assert_eq!(
            key(with_key(
                "subject = \"a@example.com\"\ngroups = [\" \"]",
                "https://oauth2.googleapis.com/token"
            )),
            "groups"
        );
        let mut config = parse("subject = \"a@example.com\"").unwrap();
        assert_eq!(
            config.check(Path::new("/")).unwrap_err().key,
            "service_account_key_path"
        );
        let mut config = parse("subject = \"a@example.com\"\nservice_account_key = \"{}\"").unwrap();
        let problem = config.check(Path::new("/")).unwrap_err();
        assert_eq!(problem.key, "service_account_key");
        assert!(problem.message.contains("client_email"), "{problem}");
    }
}
